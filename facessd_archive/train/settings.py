"""TrainSettings: everything about a run that is not the model (recorded in the stage manifest).

``steps`` is the global step a run trains to and ``start_step`` the one it starts at: a run
continued from a stage starts at the parent's cumulative count (``--from``), so a stage's
``steps`` say how many steps its weights have seen, parents included, and ``steps - start_step``
how many were its own. Settings recorded before ``start_step`` existed read as ``start_step = 0``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal, Mapping

from facessd_archive.errors import ConfigError


@dataclass(frozen=True)
class TrainSettings:
    steps: int = 2000
    batch_size: int = 16
    optimizer: Literal["momentum", "adam"] = "adam"
    learning_rate: float = 2e-3
    warmup_steps: int = 100
    warmup_learning_rate: float = 1e-4
    momentum: float = 0.9
    seed: int = 0
    augment: bool = True
    crop: Literal["ssd", "square"] = "ssd"  # train/augment.py: the OD API's ssd_random_crop, or WIDER-style squares
    min_face_size: float = 0.0  # faces smaller than this (pixels at the training input) become ignore regions
    photometric: bool = False  # brightness / contrast / saturation jitter
    pretrained_backbone: str | None = None  # model/pretrained.py: a fresh run's extractor starts from these weights
    checkpoint_every: int = 200
    keep_checkpoints: int = 3
    summary_every: int = 20
    start_step: int = 0  # the global step the run starts at: the parent stage's cumulative count

    def __post_init__(self) -> None:
        def need(cond: bool, msg: str) -> None:
            if not cond:
                raise ConfigError(f"TrainSettings: {msg}")

        need(self.steps > 0, f"steps must be > 0, got {self.steps}")
        need(0 <= self.start_step < self.steps,
             f"start_step must be in [0, steps), got {self.start_step} (steps {self.steps})")
        need(self.batch_size > 0, f"batch_size must be > 0, got {self.batch_size}")
        need(self.optimizer in ("momentum", "adam"), f"optimizer must be 'momentum' or 'adam', got {self.optimizer!r}")
        need(self.learning_rate > 0, f"learning_rate must be > 0, got {self.learning_rate}")
        span = "steps" if self.start_step == 0 else "steps - start_step"
        need(0 <= self.warmup_steps <= self.run_steps, f"warmup_steps must be in [0, {span}], got {self.warmup_steps}")
        need(self.crop in ("ssd", "square"), f"crop must be 'ssd' or 'square', got {self.crop!r}")
        need(self.min_face_size >= 0, f"min_face_size must be >= 0, got {self.min_face_size}")
        need(self.checkpoint_every > 0, f"checkpoint_every must be > 0, got {self.checkpoint_every}")

    @property
    def run_steps(self) -> int:
        """The steps this run itself trains (the learning-rate schedule spans these)."""
        return self.steps - self.start_step

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TrainSettings":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"TrainSettings: unknown field(s) {unknown}")
        return cls(**data)
