"""ModelConfig: the single source of truth for one SSD-MobileNetV1 detector.

Everything that changes the graph or its outputs (input size, depth multiplier,
anchors, box coder, matcher, losses, NMS) lives here, frozen, validated in
``__post_init__`` and serialised into ``stage.json``. Change a value with
``dataclasses.replace``; nothing else in the package hard-codes these numbers.

Defaults are the TF Object Detection API's ``ssd_mobilenet_v1_coco`` numbers;
``face_config()`` returns the settings this project trains faces with.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field, fields
from typing import Any, Literal, Mapping, TypeVar

from facessd_archive.errors import ConfigError

MIN_INPUT_SIZE = 33  # the OD API's ssd_mobilenet_v1 extractor refuses smaller inputs (check_min_image_dim(33)).

T = TypeVar("T")


def _check(cond: bool, owner: str, message: str) -> None:
    if not cond:
        raise ConfigError(f"{owner}: {message}")


@dataclass(frozen=True)
class AnchorConfig:
    """multiple_grid_anchor_generator settings (scales are fractions of the image side).

    Layer i (0-based, of ``num_layers``) has scale ``min_scale + (max_scale - min_scale) * i / (num_layers - 1)``.
    With ``reduce_boxes_in_lowest_layer`` layer 0 has only (lowest_layer_scale, ar 1),
    (scale_0, ar 2), (scale_0, ar 0.5), as in the Object Detection API (which hard-codes 0.1).
    """

    num_layers: int = 6
    min_scale: float = 0.2
    max_scale: float = 0.95
    aspect_ratios: tuple[float, ...] = (1.0, 2.0, 0.5, 3.0, 1.0 / 3.0)
    interpolated_scale_aspect_ratio: float = 1.0
    reduce_boxes_in_lowest_layer: bool = True
    lowest_layer_scale: float = 0.1

    def __post_init__(self) -> None:
        o = "AnchorConfig"
        _check(self.num_layers == 6, o, f"num_layers must be 6 (one per SSD feature map), got {self.num_layers}")
        _check(0.0 < self.min_scale <= self.max_scale <= 1.5, o,
               f"need 0 < min_scale <= max_scale <= 1.5, got {self.min_scale}, {self.max_scale}")
        _check(len(self.aspect_ratios) > 0 and all(a > 0 for a in self.aspect_ratios), o,
               f"aspect_ratios must be positive, got {self.aspect_ratios}")
        _check(self.lowest_layer_scale > 0, o, f"lowest_layer_scale must be > 0, got {self.lowest_layer_scale}")
        object.__setattr__(self, "aspect_ratios", tuple(float(a) for a in self.aspect_ratios))

    def scales(self) -> list[float]:
        n = self.num_layers
        return [self.min_scale + (self.max_scale - self.min_scale) * i / (n - 1) for i in range(n)]


@dataclass(frozen=True)
class BoxCoderConfig:
    """faster_rcnn box coder scale factors for [ty, tx, th, tw]."""

    y_scale: float = 10.0
    x_scale: float = 10.0
    height_scale: float = 5.0
    width_scale: float = 5.0

    def __post_init__(self) -> None:
        for f in fields(self):
            _check(getattr(self, f.name) > 0, "BoxCoderConfig", f"{f.name} must be > 0, got {getattr(self, f.name)}")

    def as_tuple(self) -> tuple[float, float, float, float]:
        return (self.y_scale, self.x_scale, self.height_scale, self.width_scale)


@dataclass(frozen=True)
class MatcherConfig:
    """Argmax matcher: IoU >= matched_threshold is positive, < unmatched_threshold negative, between ignored."""

    matched_threshold: float = 0.5
    unmatched_threshold: float = 0.5
    force_match_for_each_row: bool = True

    def __post_init__(self) -> None:
        _check(0.0 <= self.unmatched_threshold <= self.matched_threshold <= 1.0, "MatcherConfig",
               f"need 0 <= unmatched_threshold <= matched_threshold <= 1, got "
               f"{self.unmatched_threshold}, {self.matched_threshold}")


@dataclass(frozen=True)
class HardMinerConfig:
    """Hard example miner: NMS over per-anchor losses, then at most k negatives per positive."""

    num_hard_examples: int = 3000
    iou_threshold: float = 0.99
    max_negatives_per_positive: float = 3.0
    min_negatives_per_image: int = 0

    def __post_init__(self) -> None:
        o = "HardMinerConfig"
        _check(self.num_hard_examples > 0, o, f"num_hard_examples must be > 0, got {self.num_hard_examples}")
        _check(0.0 < self.iou_threshold <= 1.0, o, f"iou_threshold must be in (0, 1], got {self.iou_threshold}")
        _check(self.max_negatives_per_positive > 0, o,
               f"max_negatives_per_positive must be > 0, got {self.max_negatives_per_positive}")
        _check(self.min_negatives_per_image >= 0, o,
               f"min_negatives_per_image must be >= 0, got {self.min_negatives_per_image}")


@dataclass(frozen=True)
class LossConfig:
    """Classification (weighted sigmoid or focal) + smooth-L1 localisation, normalised by matches."""

    classification: Literal["sigmoid", "focal"] = "sigmoid"
    focal_alpha: float = 0.75
    focal_gamma: float = 2.0
    smooth_l1_delta: float = 1.0
    classification_weight: float = 1.0
    localization_weight: float = 1.0
    hard_example_miner: HardMinerConfig | None = field(default_factory=HardMinerConfig)
    normalize_by_num_matches: bool = True
    l2_weight: float = 4e-5

    def __post_init__(self) -> None:
        o = "LossConfig"
        _check(self.classification in ("sigmoid", "focal"), o,
               f"classification must be 'sigmoid' or 'focal', got {self.classification!r}")
        _check(0.0 <= self.focal_alpha <= 1.0, o, f"focal_alpha must be in [0, 1], got {self.focal_alpha}")
        _check(self.focal_gamma >= 0, o, f"focal_gamma must be >= 0, got {self.focal_gamma}")
        _check(self.smooth_l1_delta > 0, o, f"smooth_l1_delta must be > 0, got {self.smooth_l1_delta}")
        _check(self.l2_weight >= 0, o, f"l2_weight must be >= 0, got {self.l2_weight}")


@dataclass(frozen=True)
class PostprocessConfig:
    """Sigmoid scores, background dropped, per-class NMS."""

    score_threshold: float = 1e-8
    iou_threshold: float = 0.6
    max_detections: int = 100

    def __post_init__(self) -> None:
        o = "PostprocessConfig"
        _check(0.0 <= self.score_threshold < 1.0, o, f"score_threshold must be in [0, 1), got {self.score_threshold}")
        _check(0.0 < self.iou_threshold <= 1.0, o, f"iou_threshold must be in (0, 1], got {self.iou_threshold}")
        _check(self.max_detections > 0, o, f"max_detections must be > 0, got {self.max_detections}")


@dataclass(frozen=True)
class ModelConfig:
    """One SSD-MobileNetV1 detector. ``input_size`` is the square side the image is resized to."""

    input_size: int = 300
    num_classes: int = 1
    depth_multiplier: float = 1.0
    min_depth: int = 16
    box_predictor_kernel_size: int = 1
    class_prior_probability: float = 0.0
    batch_norm_momentum: float = 0.9997
    batch_norm_epsilon: float = 0.001
    anchors: AnchorConfig = field(default_factory=AnchorConfig)
    box_coder: BoxCoderConfig = field(default_factory=BoxCoderConfig)
    matcher: MatcherConfig = field(default_factory=MatcherConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    postprocess: PostprocessConfig = field(default_factory=PostprocessConfig)
    class_names: tuple[str, ...] = ("face",)

    def __post_init__(self) -> None:
        o = "ModelConfig"
        _check(self.input_size >= MIN_INPUT_SIZE, o, f"input_size must be >= {MIN_INPUT_SIZE}, got {self.input_size}")
        _check(self.num_classes >= 1, o, f"num_classes must be >= 1, got {self.num_classes}")
        _check(self.depth_multiplier > 0, o, f"depth_multiplier must be > 0, got {self.depth_multiplier}")
        _check(self.min_depth >= 1, o, f"min_depth must be >= 1, got {self.min_depth}")
        _check(self.box_predictor_kernel_size in (1, 3), o,
               f"box_predictor_kernel_size must be 1 or 3, got {self.box_predictor_kernel_size}")
        _check(0.0 <= self.class_prior_probability < 1.0, o,
               f"class_prior_probability must be in [0, 1), got {self.class_prior_probability}")
        _check(0.0 < self.batch_norm_momentum < 1.0, o,
               f"batch_norm_momentum must be in (0, 1), got {self.batch_norm_momentum}")
        object.__setattr__(self, "class_names", tuple(self.class_names))
        _check(len(self.class_names) == self.num_classes, o,
               f"class_names has {len(self.class_names)} names for num_classes={self.num_classes}")

    def depth(self, channels: int) -> int:
        """Channel count after the depth multiplier, never below ``min_depth`` (OD API rule)."""
        return max(int(channels * self.depth_multiplier), self.min_depth)

    # --- serialisation -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ModelConfig":
        return _from_dict(cls, data, "ModelConfig")

    @classmethod
    def from_json(cls, text: str) -> "ModelConfig":
        return cls.from_dict(json.loads(text))


_NESTED: dict[str, type] = {
    "anchors": AnchorConfig,
    "box_coder": BoxCoderConfig,
    "matcher": MatcherConfig,
    "loss": LossConfig,
    "postprocess": PostprocessConfig,
    "hard_example_miner": HardMinerConfig,
}


def _from_dict(cls: type[T], data: Mapping[str, Any], where: str) -> T:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected an object, got {type(data).__name__}")
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {unknown}")
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        nested = _NESTED.get(name)
        if nested is not None and value is not None:
            value = _from_dict(nested, value, f"{where}.{name}")
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[name] = value
    try:
        return cls(**kwargs)
    except TypeError as e:
        raise ConfigError(f"{where}: {e}") from e


def face_config(input_size: int = 300, depth_multiplier: float = 1.0) -> ModelConfig:
    """The settings this project trains faces with.

    Faces are small (median 6% of the image width in facemask), so the anchors start
    at 5% of the side instead of 20%, the lowest layer's extra anchor shrinks with them,
    and elongated ratios 3 and 1/3 (never a face) are dropped. Focal loss (the sync
    configs' alpha 0.75, gamma 2) replaces the hard miner: it trains the many small
    positives faster, with the class logits started at the RetinaNet prior (1% face).
    NMS IoU 0.5 and a faster BN momentum suit short CPU runs.
    """
    return ModelConfig(
        input_size=input_size,
        depth_multiplier=depth_multiplier,
        batch_norm_momentum=0.99,
        class_prior_probability=0.01,
        anchors=AnchorConfig(min_scale=0.05, max_scale=0.8, aspect_ratios=(1.0, 2.0, 0.5),
                             lowest_layer_scale=0.03),
        loss=LossConfig(classification="focal", hard_example_miner=None),
        postprocess=PostprocessConfig(iou_threshold=0.5),
    )


def num_anchors_per_location(anchors: AnchorConfig) -> list[int]:
    """Anchors at each grid cell, per layer (3 on the reduced lowest layer)."""
    extra = 1 if anchors.interpolated_scale_aspect_ratio > 0 else 0
    full = len(anchors.aspect_ratios) + extra
    return [3 if (i == 0 and anchors.reduce_boxes_in_lowest_layer) else full for i in range(anchors.num_layers)]


def feature_map_sizes(input_size: int) -> list[int]:
    """Side of each of the six SSD feature maps for a square input (SAME padding arithmetic).

    MobileNetV1 reaches stride 16 at Conv2d_11 and 32 at Conv2d_13; each extra block halves again.
    The model test checks this against the built network's real output shapes.
    """
    size = input_size
    sizes = []
    for _ in range(4):
        size = math.ceil(size / 2)
    sizes.append(size)  # Conv2d_11_pointwise, stride 16
    for _ in range(5):
        size = math.ceil(size / 2)
        sizes.append(size)
    return sizes
