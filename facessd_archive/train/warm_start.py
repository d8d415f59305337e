"""Starting a new run from another model's weights, variable by variable, by name and shape.

A stage continued at another input size has exactly the same variables (the network is fully
convolutional; anchors follow the new feature maps), so every one restores. A change that
alters shapes or layers (depth multiplier, anchors per cell, number of classes) leaves some
variables without a source: that is refused with their names, unless ``allow_partial``, which
restores what matches, keeps the fresh initialisation of the rest and says which is which
(``warm_start.json`` in the run folder, sealed with the stage). Never by position: two models
whose variables happen to line up in order but not in meaning must not mix silently.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import keras

from facessd_archive.errors import CheckpointError
from facessd_archive.fileio import atomic_write_json
from facessd_archive.model.checkpoint import load_detector

WARM_START_FILE = "warm_start.json"
_SHOWN = 8  # mismatched variables described with their shapes in a refusal; the rest by name


@dataclass(frozen=True)
class WarmStartPlan:
    """Which of the network's variables take a value from the source, and which cannot.

    ``missing``: in the network, not in the source. ``mismatched``: in both, shapes differ
    (``{path: (source shape, network shape)}``). ``unused``: in the source only.
    """

    source: str
    restored: tuple[str, ...]
    missing: tuple[str, ...]
    mismatched: dict[str, tuple[list[int], list[int]]]
    unused: tuple[str, ...]

    @property
    def reinitialised(self) -> tuple[str, ...]:
        return tuple(sorted(self.missing + tuple(self.mismatched)))

    @property
    def complete(self) -> bool:
        return not self.missing and not self.mismatched

    def refusal(self) -> str:
        """One line naming every variable without a source, and what to do."""
        described = [f"{p} (source {self.mismatched[p][0]}, model {self.mismatched[p][1]})"
                     for p in sorted(self.mismatched)[:_SHOWN]]
        names = described + sorted(self.mismatched)[_SHOWN:] + [f"{p} (not in the source)" for p in self.missing]
        return (f"{self.source}: {len(self.reinitialised)} of {len(self.restored) + len(self.reinitialised)} "
                f"variables have no source of the same name and shape: {', '.join(names)}; pass --allow-partial "
                f"(allow_partial=True) to restore the {len(self.restored)} that match and re-initialise the rest")

    def to_dict(self) -> dict:
        data = asdict(self)
        data["mismatched"] = {p: {"source": s, "model": m} for p, (s, m) in sorted(self.mismatched.items())}
        data["reinitialised"] = list(self.reinitialised)
        return data


def _source_weights(source: Path) -> dict[str, "keras.Variable"]:
    """The source model's variables by Keras path, built from its own config (compact or run folder)."""
    detector = load_detector(Path(source))
    return {v.path: v for v in detector.network.weights}


def plan_warm_start(network: keras.Model, source: Path) -> tuple[WarmStartPlan, dict]:
    """Match ``network``'s variables to ``source``'s by path and shape (nothing is assigned yet)."""
    values = _source_weights(source)
    restored, missing, mismatched = [], [], {}
    for v in network.weights:
        found = values.get(v.path)
        if found is None:
            missing.append(v.path)
        elif list(found.shape) != list(v.shape):
            mismatched[v.path] = (list(found.shape), list(v.shape))
        else:
            restored.append(v.path)
    ours = {v.path for v in network.weights}
    unused = sorted(p for p in values if p not in ours)
    plan = WarmStartPlan(str(source), tuple(restored), tuple(sorted(missing)), mismatched, tuple(unused))
    return plan, values


def warm_start(network: keras.Model, source: Path, allow_partial: bool = False) -> WarmStartPlan:
    """Assign ``source``'s values to ``network`` by variable name and shape; refuse (``CheckpointError``,
    every name listed) when some variable has no source, unless ``allow_partial``."""
    plan, values = plan_warm_start(network, source)
    if not plan.restored:
        raise CheckpointError(f"{source}: no variable of the source matches the model by name and shape "
                              f"(another feature extractor?)")
    if not plan.complete and not allow_partial:
        raise CheckpointError(plan.refusal())
    by_path = {v.path: v for v in network.weights}
    for path in plan.restored:
        by_path[path].assign(values[path])
    return plan


def record_warm_start(run_dir: Path, plan: WarmStartPlan) -> None:
    """``warm_start.json``: what came from where, so a partial start is never mistaken for a whole one."""
    atomic_write_json(Path(run_dir) / WARM_START_FILE, plan.to_dict())
