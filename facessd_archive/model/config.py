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
    """The anchor generator: the OD API's ``multiple_grid_anchor_generator`` or ``multiscale_anchor_generator``.

    ``multiple_grid`` (the zoo's ssd_mobilenet_v1): scales are fractions of the image's shorter
    side. Layer i (0-based, of ``num_layers``) has scale
    ``min_scale + (max_scale - min_scale) * i / (num_layers - 1)``. With
    ``reduce_boxes_in_lowest_layer`` layer 0 has only (lowest_layer_scale, ar 1), (scale_0, ar 2),
    (scale_0, ar 0.5), as in the Object Detection API (which hard-codes 0.1).

    ``multiscale`` (the OD API's FPN configs): anchors in pixels tied to each level's stride, so
    they mean the same at any input shape: at level l (stride 2**l, ``min_level..max_level``) the
    sizes are ``anchor_scale * 2**l * 2**(k / scales_per_octave)`` for k < scales_per_octave, each
    at every aspect ratio. This is what inference at the image's own size needs.
    """

    kind: Literal["multiple_grid", "multiscale"] = "multiple_grid"
    num_layers: int = 6
    min_scale: float = 0.2
    max_scale: float = 0.95
    aspect_ratios: tuple[float, ...] = (1.0, 2.0, 0.5, 3.0, 1.0 / 3.0)
    interpolated_scale_aspect_ratio: float = 1.0
    reduce_boxes_in_lowest_layer: bool = True
    lowest_layer_scale: float = 0.1
    min_level: int = 3
    max_level: int = 7
    anchor_scale: float = 4.0
    scales_per_octave: int = 2

    def __post_init__(self) -> None:
        o = "AnchorConfig"
        _check(self.kind in ("multiple_grid", "multiscale"), o,
               f"kind must be 'multiple_grid' or 'multiscale', got {self.kind!r}")
        least = 2 if self.kind == "multiple_grid" else 1  # multiple_grid interpolates scales over the layers
        _check(self.num_layers >= least, o, f"num_layers must be >= {least}, got {self.num_layers}")
        if self.kind == "multiscale":
            _check(2 <= self.min_level <= self.max_level <= 9, o,
                   f"need 2 <= min_level <= max_level <= 9, got {self.min_level}, {self.max_level}")
            _check(self.num_layers == self.max_level - self.min_level + 1, o,
                   f"num_layers {self.num_layers} must equal max_level - min_level + 1 "
                   f"({self.max_level - self.min_level + 1})")
            _check(self.anchor_scale > 0, o, f"anchor_scale must be > 0, got {self.anchor_scale}")
            _check(self.scales_per_octave >= 1, o, f"scales_per_octave must be >= 1, got {self.scales_per_octave}")
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
class FeatureMapConfig:
    """Which feature maps the box predictor sees (the OD API extractor's feature_map_layout).

    ``taps``: the MobileNetV1 blocks whose ``Conv2d_N_pointwise`` output is used (the zoo model:
    11 and 13, strides 16 and 32; block 5 adds stride 8 for small faces). ``extra_depths``: the
    extra blocks after the last tap, each halving the map. ``fpn_depth`` > 0 adds the OD API's
    top-down FPN over the tapped maps (1x1 projections, nearest upsampling, 3x3 smoothing) with
    that many channels (before the depth multiplier); the extra blocks then start from the top
    FPN level with ``fpn_depth`` channels, as in ``ssd_mobilenet_v1_fpn``.
    """

    taps: tuple[int, ...] = (11, 13)  # MobileNetV1 blocks 1..13; MobileNetV2 layer_1..layer_19 (OD API names)
    extra_depths: tuple[int, ...] = (512, 256, 256, 128)
    fpn_depth: int = 0

    def __post_init__(self) -> None:
        o = "FeatureMapConfig"
        object.__setattr__(self, "taps", tuple(int(t) for t in self.taps))
        object.__setattr__(self, "extra_depths", tuple(int(d) for d in self.extra_depths))
        # The upper bound depends on the feature extractor: ModelConfig checks it.
        _check(len(self.taps) >= 1 and list(self.taps) == sorted(set(self.taps)) and self.taps[0] >= 1, o,
               f"taps must be increasing layer numbers from 1, got {self.taps}")
        _check(all(d > 0 for d in self.extra_depths), o, f"extra_depths must be positive, got {self.extra_depths}")
        _check(self.fpn_depth >= 0, o, f"fpn_depth must be >= 0, got {self.fpn_depth}")

    @property
    def num_maps(self) -> int:
        return len(self.taps) + len(self.extra_depths)


@dataclass(frozen=True)
class ResizerConfig:
    """How an image becomes the network's input at inference (the OD API's ``image_resizer``).

    ``fixed_shape``: squashed to ``input_size`` x ``input_size`` (the zoo model). ``keep_aspect_ratio``:
    scaled so the shorter side is ``min_dimension`` unless the longer would pass ``max_dimension``
    (0 for either: no limit, so 0/0 is the original size), then zero-padded at the bottom and right
    to a multiple of ``pad_to_multiple`` (the largest stride the feature maps need divided evenly).
    Training always uses square ``input_size`` crops; anchors follow the real feature maps.
    """

    kind: Literal["fixed_shape", "keep_aspect_ratio"] = "fixed_shape"
    min_dimension: int = 0
    max_dimension: int = 0
    pad_to_multiple: int = 32

    def __post_init__(self) -> None:
        o = "ResizerConfig"
        _check(self.kind in ("fixed_shape", "keep_aspect_ratio"), o,
               f"kind must be 'fixed_shape' or 'keep_aspect_ratio', got {self.kind!r}")
        _check(self.min_dimension >= 0 and self.max_dimension >= 0, o,
               f"dimensions must be >= 0, got {self.min_dimension}, {self.max_dimension}")
        _check(self.pad_to_multiple >= 1, o, f"pad_to_multiple must be >= 1, got {self.pad_to_multiple}")


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
    max_detections: int = 100  # after NMS; crowds (WIDER images hold hundreds of faces) need several hundred

    def __post_init__(self) -> None:
        o = "PostprocessConfig"
        _check(0.0 <= self.score_threshold < 1.0, o, f"score_threshold must be in [0, 1), got {self.score_threshold}")
        _check(0.0 < self.iou_threshold <= 1.0, o, f"iou_threshold must be in (0, 1], got {self.iou_threshold}")
        _check(self.max_detections > 0, o, f"max_detections must be > 0, got {self.max_detections}")


FeatureExtractor = Literal["ssd_mobilenet_v1", "ssd_mobilenet_v2"]
InputNormalization = Literal["minus_one_to_one", "imagenet"]
FEATURE_EXTRACTORS: tuple[str, ...] = ("ssd_mobilenet_v1", "ssd_mobilenet_v2")


@dataclass(frozen=True)
class ModelConfig:
    """One SSD-MobileNet detector. ``input_size`` is the square side the image is resized to.

    ``feature_extractor`` names the OD API extractor type: ``ssd_mobilenet_v1`` (the zoo model)
    or ``ssd_mobilenet_v2`` (inverted residuals; built with the OD API's ``use_explicit_padding``,
    which pads stride-2 convolutions symmetrically as torchvision does, so ImageNet weights
    converted from torchvision give the same features). ``input_normalization``: the OD API's
    ``(2 / 255) x - 1``, or ImageNet's per-channel mean and std (what torchvision weights expect).
    """

    input_size: int = 300
    num_classes: int = 1
    depth_multiplier: float = 1.0
    min_depth: int = 16
    box_predictor_kernel_size: int = 1
    class_prior_probability: float = 0.0
    batch_norm_momentum: float = 0.9997
    batch_norm_epsilon: float = 0.001
    anchors: AnchorConfig = field(default_factory=AnchorConfig)
    feature_maps: FeatureMapConfig = field(default_factory=FeatureMapConfig)
    resizer: ResizerConfig = field(default_factory=ResizerConfig)
    box_coder: BoxCoderConfig = field(default_factory=BoxCoderConfig)
    matcher: MatcherConfig = field(default_factory=MatcherConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    postprocess: PostprocessConfig = field(default_factory=PostprocessConfig)
    class_names: tuple[str, ...] = ("face",)
    feature_extractor: FeatureExtractor = "ssd_mobilenet_v1"
    input_normalization: InputNormalization = "minus_one_to_one"

    def __post_init__(self) -> None:
        o = "ModelConfig"
        _check(self.feature_extractor in FEATURE_EXTRACTORS, o,
               f"feature_extractor must be one of {list(FEATURE_EXTRACTORS)}, got {self.feature_extractor!r}")
        _check(self.input_normalization in ("minus_one_to_one", "imagenet"), o,
               f"input_normalization must be 'minus_one_to_one' or 'imagenet', got {self.input_normalization!r}")
        layers = extractor_layers(self.feature_extractor)
        _check(self.feature_maps.taps[-1] <= len(layers), o,
               f"feature_maps.taps {self.feature_maps.taps} go past the {len(layers)} layers of "
               f"{self.feature_extractor}")
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
        _check(self.anchors.num_layers == self.feature_maps.num_maps, o,
               f"anchors.num_layers ({self.anchors.num_layers}) must equal the number of feature maps "
               f"({self.feature_maps.num_maps}: taps {self.feature_maps.taps} + "
               f"{len(self.feature_maps.extra_depths)} extra blocks)")
        if self.anchors.kind == "multiscale":
            first = tap_stride(self.feature_maps.taps[0], self.feature_extractor)
            _check(first == 2 ** self.anchors.min_level, o,
                   f"anchors.min_level {self.anchors.min_level} needs the first feature map at stride "
                   f"{2 ** self.anchors.min_level}, but tap {self.feature_maps.taps[0]} is at stride {first}")
            strides = feature_map_strides(self.feature_maps, self.feature_extractor)
            _check(strides == [2 ** level for level in range(self.anchors.min_level, self.anchors.max_level + 1)], o,
                   f"multiscale anchors need one feature map per level (strides {strides})")
        object.__setattr__(self, "class_names", tuple(self.class_names))
        _check(len(self.class_names) == self.num_classes, o,
               f"class_names has {len(self.class_names)} names for num_classes={self.num_classes}")

    def depth(self, channels: int) -> int:
        """Channel count after the depth multiplier, never below ``min_depth`` (OD API rule)."""
        return max(int(channels * self.depth_multiplier), self.min_depth)

    def depth_divisible(self, channels: int, divisor: int = 8) -> int:
        """MobileNetV2's channel rule (slim's ``_make_divisible``): the multiplied count rounded to a
        multiple of ``divisor``, never more than 10% below it, never below ``min_depth``."""
        scaled = channels * self.depth_multiplier
        rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
        if rounded < 0.9 * scaled:
            rounded += divisor
        return max(rounded, self.min_depth)

    def with_max_detections(self, max_detections: int) -> "ModelConfig":
        """This config with NMS keeping at most ``max_detections`` boxes (a runtime's or an export's
        cap below the stage's own; NMS keeps boxes best first, so the cap keeps the same best boxes)."""
        if max_detections == self.postprocess.max_detections:
            return self
        return dataclasses.replace(self, postprocess=dataclasses.replace(self.postprocess,
                                                                         max_detections=int(max_detections)))

    # --- serialisation -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values. Settings added after stages were sealed are left out while they
        hold their defaults, so an older stage's ``model_config`` (and its content hash) reads and
        writes back unchanged; ``from_dict`` fills them in again."""
        data = dataclasses.asdict(self)
        for name, default in _ADDED_LATER.items():
            if data[name] == (dataclasses.asdict(default) if dataclasses.is_dataclass(default) else default):
                del data[name]
        if self.anchors.kind == "multiple_grid":
            for key, value in _MULTISCALE_ANCHOR_DEFAULTS.items():
                if data["anchors"][key] == value:
                    del data["anchors"][key]
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ModelConfig":
        return _from_dict(cls, data, "ModelConfig")

    @classmethod
    def from_json(cls, text: str) -> "ModelConfig":
        return cls.from_dict(json.loads(text))


# Fields added after the first stages were sealed (left out of to_dict at their defaults).
_ADDED_LATER: dict[str, Any] = {"feature_maps": FeatureMapConfig(), "resizer": ResizerConfig(),
                                 "feature_extractor": "ssd_mobilenet_v1", "input_normalization": "minus_one_to_one"}
_MULTISCALE_ANCHOR_DEFAULTS: dict[str, Any] = {
    f.name: f.default for f in fields(AnchorConfig)
    if f.name in ("kind", "min_level", "max_level", "anchor_scale", "scales_per_octave")}

_NESTED: dict[str, type] = {
    "anchors": AnchorConfig,
    "feature_maps": FeatureMapConfig,
    "resizer": ResizerConfig,
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


def wider_face_config(input_size: int = 512, depth_multiplier: float = 0.5) -> ModelConfig:
    """A detector for faces in the wild (WIDER FACE): small faces, crowds, any image shape.

    What light WIDER-trained detectors share (YuNet, RetinaFace-mobile, SCRFD): a stride-8
    level (MobileNetV1 block 5) with ~12 px anchors, a top-down FPN so that level sees context,
    anchors in pixels tied to the stride (``multiscale``, levels 3-7: 12 px to 272 px), one
    aspect ratio (faces are near square), a lower match threshold for tiny faces (S3FD's 0.35),
    focal loss, and several hundred detections kept per image. Inference keeps the aspect ratio
    (original size by default); training uses square ``input_size`` crops.
    """
    return ModelConfig(
        input_size=input_size,
        depth_multiplier=depth_multiplier,
        batch_norm_momentum=0.99,
        class_prior_probability=0.01,
        box_predictor_kernel_size=3,
        anchors=AnchorConfig(kind="multiscale", num_layers=5, min_level=3, max_level=7, anchor_scale=1.5,
                             scales_per_octave=2, aspect_ratios=(1.0,)),
        feature_maps=FeatureMapConfig(taps=(5, 11, 13), extra_depths=(256, 256), fpn_depth=128),
        resizer=ResizerConfig(kind="keep_aspect_ratio", min_dimension=0, max_dimension=0, pad_to_multiple=32),
        matcher=MatcherConfig(matched_threshold=0.35, unmatched_threshold=0.35),
        loss=LossConfig(classification="focal", focal_alpha=0.25, hard_example_miner=None),
        postprocess=PostprocessConfig(score_threshold=0.01, iou_threshold=0.4, max_detections=750),
    )


def wider_face_v2_config(input_size: int = 384) -> ModelConfig:
    """``wider_face_config`` on MobileNetV2 (depth 1.0), built to start from ImageNet weights.

    The OD API's ``ssd_mobilenet_v2_fpn`` taps (layers 7, 14, 19: strides 8, 16, 32), explicit
    padding and ImageNet normalisation so torchvision's pretrained weights apply unchanged
    (``model/pretrained.py``), their batch-norm epsilon (1e-5); heads, anchors, matcher, loss and
    NMS as in ``wider_face_config``.
    """
    base = wider_face_config(input_size, 1.0)
    return dataclasses.replace(
        base, feature_extractor="ssd_mobilenet_v2", input_normalization="imagenet", batch_norm_epsilon=1e-5,
        feature_maps=FeatureMapConfig(taps=(7, 14, 19), extra_depths=(256, 256), fpn_depth=128))


def num_anchors_per_location(anchors: AnchorConfig) -> list[int]:
    """Anchors at each grid cell, per layer (3 on the reduced lowest layer of ``multiple_grid``)."""
    if anchors.kind == "multiscale":
        return [len(anchors.aspect_ratios) * anchors.scales_per_octave] * anchors.num_layers
    extra = 1 if anchors.interpolated_scale_aspect_ratio > 0 else 0
    full = len(anchors.aspect_ratios) + extra
    return [3 if (i == 0 and anchors.reduce_boxes_in_lowest_layer) else full for i in range(anchors.num_layers)]


# (pointwise depth, stride) of the 13 depthwise-separable MobileNetV1 blocks after Conv2d_0 (32, stride 2).
MOBILENET_V1_BLOCKS: tuple[tuple[int, int], ...] = (
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1),
)


# (output depth, stride, expansion) of MobileNetV2's layer_1 .. layer_19 (the OD API's names; torchvision's
# features[0..18]): layer_1 is the stride-2 3x3 stem, layer_2..18 the inverted residual blocks, layer_19 the 1x1
# convolution to 1280 channels. Layer 7 ends stride 8, layer 14 stride 16, layer 19 stride 32.
MOBILENET_V2_LAYERS: tuple[tuple[int, int, int], ...] = (
    (32, 2, 0), (16, 1, 1), (24, 2, 6), (24, 1, 6), (32, 2, 6), (32, 1, 6), (32, 1, 6),
    (64, 2, 6), (64, 1, 6), (64, 1, 6), (64, 1, 6), (96, 1, 6), (96, 1, 6), (96, 1, 6),
    (160, 2, 6), (160, 1, 6), (160, 1, 6), (320, 1, 6), (1280, 1, 0),
)


def extractor_layers(feature_extractor: str = "ssd_mobilenet_v1") -> list[int]:
    """The stride of each tappable layer (index 0 is tap 1) of the feature extractor."""
    if feature_extractor == "ssd_mobilenet_v2":
        return [s for _, s, _ in MOBILENET_V2_LAYERS]
    # MobileNetV1: Conv2d_0 (stride 2) comes before the 13 tappable blocks.
    return [s * (2 if i == 0 else 1) for i, (_, s) in enumerate(MOBILENET_V1_BLOCKS)]


def tap_stride(tap: int, feature_extractor: str = "ssd_mobilenet_v1") -> int:
    """Output stride of tap ``tap``: MobileNetV1's ``Conv2d_<tap>_pointwise`` or MobileNetV2's ``layer_<tap>``."""
    return math.prod(extractor_layers(feature_extractor)[:tap])


def feature_map_strides(feature_maps: FeatureMapConfig, feature_extractor: str = "ssd_mobilenet_v1") -> list[int]:
    strides = [tap_stride(t, feature_extractor) for t in feature_maps.taps]
    for _ in feature_maps.extra_depths:
        strides.append(strides[-1] * 2)
    return strides


def feature_map_shapes(height: int, width: int, feature_maps: FeatureMapConfig | None = None,
                       feature_extractor: str = "ssd_mobilenet_v1") -> list[tuple[int, int]]:
    """(rows, cols) of each feature map for an input of ``height`` x ``width`` (SAME padding arithmetic:
    every stride-2 layer gives ceil(n / 2)). The model test checks this against the built network."""
    feature_maps = feature_maps or FeatureMapConfig()
    shapes = []
    h, w = height, width
    done = 1
    for tap in feature_maps.taps:
        target = int(math.log2(tap_stride(tap, feature_extractor)))
        while done <= target:
            h, w = math.ceil(h / 2), math.ceil(w / 2)
            done += 1
        shapes.append((h, w))
    for _ in feature_maps.extra_depths:
        h, w = math.ceil(h / 2), math.ceil(w / 2)
        shapes.append((h, w))
    return shapes


def feature_map_sizes(input_size: int, feature_maps: FeatureMapConfig | None = None) -> list[int]:
    """Side of each SSD feature map for a square input (the zoo model: 19, 10, 5, 3, 2, 1 at 300)."""
    return [h for h, _ in feature_map_shapes(input_size, input_size, feature_maps)]
