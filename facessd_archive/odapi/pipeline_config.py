"""An Object Detection API ``pipeline.config`` -> this project's ``ModelConfig`` and training settings.

Only what facessd can build exactly is accepted: ``ssd`` with the ``ssd_mobilenet_v1`` feature
extractor, a square ``fixed_shape_resizer``, the ``ssd_anchor_generator``, the faster_rcnn box
coder, the argmax matcher on IoU, sigmoid or focal classification with smooth-L1 localisation
(and the classification hard example miner), sigmoid scores with batch NMS. Every field of
``model`` is read or named as irrelevant here (initializers: they only start a training run); any
other field, or a value facessd cannot represent, is one ``ConfigError`` naming the file, the
line and the field (``pipeline.config:12: model.ssd.feature_extractor.type 'ssd_mobilenet_v2' ...``),
never a silent approximation. ``train_config`` is recorded, not enforced: facessd trains with its
own loop, and the manifest keeps what the OD API run used.

``ssd_mobilenet_v1_fpn`` does not map: its OD API form has single 3x3 bottom-up layers and a
weight-shared box predictor, where facessd's FPN has 1x1+3x3 extra blocks and per-level heads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from facessd_archive.errors import ConfigError
from facessd_archive.model.config import (AnchorConfig, BoxCoderConfig, FeatureMapConfig, HardMinerConfig,
                                          LossConfig, MatcherConfig, ModelConfig, PostprocessConfig)
from facessd_archive.odapi.textproto import Message, parse_text_proto

SUPPORTED_EXTRACTORS = ("ssd_mobilenet_v1",)
# The extra blocks of ssd_mobilenet_v1 after Conv2d_11/13_pointwise (layer_depth 512, 256, 256, 128).
_V1_EXTRA_DEPTHS = (512, 256, 256, 128)


@dataclass(frozen=True)
class ODAPITraining:
    """What ``train_config`` says about the run (recorded in the manifest; facessd's loop differs)."""

    batch_size: int | None = None
    num_steps: int | None = None
    optimizer: str | None = None
    learning_rate: float | None = None
    schedule: str | None = None
    use_moving_average: bool = False
    fine_tune_checkpoint: str | None = None
    fine_tune_checkpoint_type: str | None = None
    data_augmentation: tuple[str, ...] = ()
    train_config: dict[str, Any] = field(default_factory=dict)  # every field, as plain JSON

    def to_dict(self) -> dict[str, Any]:
        return {"batch_size": self.batch_size, "num_steps": self.num_steps, "optimizer": self.optimizer,
                "learning_rate": self.learning_rate, "schedule": self.schedule,
                "use_moving_average": self.use_moving_average, "fine_tune_checkpoint": self.fine_tune_checkpoint,
                "fine_tune_checkpoint_type": self.fine_tune_checkpoint_type,
                "data_augmentation": list(self.data_augmentation), "train_config": self.train_config}


@dataclass(frozen=True)
class ImportedPipeline:
    """A parsed pipeline.config: the model, the training record, and notes on what does not carry over."""

    model_config: ModelConfig
    training: ODAPITraining
    notes: tuple[str, ...] = ()


def read_pipeline_config(path: str | Path) -> ImportedPipeline:
    """Read and map ``path`` (a ``pipeline.config``); every error names the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text (is it a pipeline.config?)") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror})") from None
    return parse_pipeline_config(text, str(path))


def parse_pipeline_config(text: str, source: str = "pipeline.config") -> ImportedPipeline:
    root = parse_text_proto(text, source)
    model = root.message("model", required=True)
    assert model is not None
    kind, ssd = model.oneof(("ssd",), "model")
    notes: list[str] = []
    config = _ssd(ssd, notes)
    model.finish()
    train = root.message("train_config")
    training = _training(train) if train is not None else ODAPITraining()
    root.ignore("train_input_reader", "eval_config", "eval_input_reader", "graph_rewriter")
    if root.has("graph_rewriter"):
        raise ConfigError(f"{root.where('graph_rewriter', root.line_of('graph_rewriter'))}: quantization-aware "
                          f"training graphs are not supported by facessd")
    root.finish()
    return ImportedPipeline(config, training, tuple(notes))


# --- model.ssd ------------------------------------------------------------------------------------
def _ssd(ssd: Message, notes: list[str]) -> ModelConfig:
    num_classes = ssd.int("num_classes", 0)
    if num_classes < 1:
        raise ConfigError(f"{ssd.where('num_classes', ssd.line_of('num_classes'))} must be >= 1, got {num_classes}")
    for name, want in (("add_background_class", True), ("encode_background_as_zeros", False),
                       ("explicit_background_class", False), ("normalize_loc_loss_by_codesize", False),
                       ("use_confidences_as_targets", False),
                       ("use_expected_classification_loss_under_sampling", False)):
        _require(ssd, name, want, ssd.bool(name, want))
    normalize = ssd.bool("normalize_loss_by_num_matches", True)
    ssd.ignore("inplace_batchnorm_update", "freeze_batchnorm", "add_summaries", "implicit_example_weight",
               "return_raw_detections_during_predict", "minimum_negative_sampling",
               "desired_negative_sampling_ratio")

    input_size = _resizer(ssd.message("image_resizer", required=True))  # type: ignore[arg-type]
    fe = _feature_extractor(ssd.message("feature_extractor", required=True))  # type: ignore[arg-type]
    kernel, predictor_l2 = _box_predictor(ssd.message("box_predictor", required=True), notes)  # type: ignore[arg-type]
    if predictor_l2 is not None and fe["l2"] is not None and predictor_l2 != fe["l2"]:
        raise ConfigError(f"{ssd.where('box_predictor', ssd.line_of('box_predictor'))}: l2_regularizer weight "
                          f"{predictor_l2} differs from the feature extractor's {fe['l2']}; facessd has one weight")
    anchors = _anchors(ssd.message("anchor_generator", required=True), fe["num_layers"])  # type: ignore[arg-type]
    box_coder = _box_coder(ssd.message("box_coder", required=True))  # type: ignore[arg-type]
    matcher = _matcher(ssd.message("matcher", required=True))  # type: ignore[arg-type]
    sim = ssd.message("similarity_calculator")
    if sim is not None:
        sim.oneof(("iou_similarity",), "similarity_calculator")[1].finish()
        sim.finish()
    loss = _loss(ssd.message("loss", required=True), normalize, fe["l2"] or 0.0)  # type: ignore[arg-type]
    post = _postprocess(ssd.message("post_processing", required=True), num_classes)  # type: ignore[arg-type]
    ssd.finish()
    names = ("face",) if num_classes == 1 else tuple(f"class_{i}" for i in range(1, num_classes + 1))
    notes.append(f"class names are not in pipeline.config (the label map is a separate file); named "
                 f"{', '.join(names[:3])}{'...' if num_classes > 3 else ''}")
    notes.append("facessd's L2 regulariser also covers depthwise kernels (the OD API's covers them only with "
                 "regularize_depthwise); weight initializers of the OD API run are not carried over")
    return ModelConfig(
        input_size=input_size, num_classes=num_classes, depth_multiplier=fe["depth_multiplier"],
        min_depth=fe["min_depth"], box_predictor_kernel_size=kernel, class_prior_probability=0.0,
        batch_norm_momentum=fe["decay"], batch_norm_epsilon=fe["epsilon"], anchors=anchors,
        feature_maps=FeatureMapConfig(taps=(11, 13), extra_depths=_V1_EXTRA_DEPTHS[:fe["num_layers"] - 2]),
        box_coder=box_coder, matcher=matcher, loss=loss, postprocess=post, class_names=names)


def _require(msg: Message, name: str, want: Any, got: Any) -> None:
    if got != want:
        raise ConfigError(f"{msg.where(name, msg.line_of(name))}: {_show(got)} is not supported by facessd "
                          f"(only {_show(want)})")


def _show(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else repr(value)


def _resizer(msg: Message) -> int:
    kind, r = msg.oneof(("fixed_shape_resizer",), "image_resizer")
    height, width = r.int("height", 300), r.int("width", 300)
    if height != width:
        raise ConfigError(f"{r.where()}: {height}x{width} is not square; facessd resizes ssd_mobilenet_v1 "
                          f"models to a square")
    _require(r, "resize_method", "BILINEAR", r.str("resize_method", "BILINEAR"))
    _require(r, "convert_to_grayscale", False, r.bool("convert_to_grayscale", False))
    r.finish()
    msg.finish()
    return height


def _feature_extractor(fe: Message) -> dict[str, Any]:
    kind = fe.str("type", "")
    if kind.endswith("_fpn") or fe.has("fpn"):
        field_name = "fpn" if fe.has("fpn") and not kind.endswith("_fpn") else "type"
        raise ConfigError(f"{fe.where(field_name, fe.line_of(field_name))} {kind!r} is not supported by facessd "
                          f"import: the OD API's FPN (single 3x3 bottom-up layers, a weight-shared box "
                          f"predictor) has no equivalent in facessd")
    if kind not in SUPPORTED_EXTRACTORS:
        raise ConfigError(f"{fe.where('type', fe.line_of('type'))} {kind!r} is not supported by facessd import "
                          f"(supported: {', '.join(SUPPORTED_EXTRACTORS)})")
    multiplier = fe.float("depth_multiplier", 1.0)
    min_depth = fe.int("min_depth", 0)
    pad = fe.int("pad_to_multiple", 1)
    if pad != 1:
        _require(fe, "pad_to_multiple", 1, pad)
    for name in ("use_explicit_padding", "use_depthwise", "replace_preprocessor_with_placeholder"):
        _require(fe, name, False, fe.bool(name, False))
    num_layers = fe.int("num_layers", 6)
    if not 2 <= num_layers <= 6:
        raise ConfigError(f"{fe.where('num_layers', fe.line_of('num_layers'))} must be 2..6 for ssd_mobilenet_v1, "
                          f"got {num_layers}")
    fe.ignore("override_base_feature_extractor_hyperparams", "batch_norm_trainable")
    hp = _conv_hyperparams(fe.message("conv_hyperparams", required=True))  # type: ignore[arg-type]
    fe.finish()
    # The OD API's depth rule is max(int(d * multiplier), min_depth); with min_depth 0 every depth it
    # builds is >= 1 (or the graph is broken), so facessd's min_depth 1 gives the same channels.
    return {"depth_multiplier": multiplier, "min_depth": max(min_depth, 1), "num_layers": num_layers, **hp}


def _conv_hyperparams(hp: Message) -> dict[str, Any]:
    """The feature extractor's conv settings: ReLU6, an L2 weight, batch norm with scale and center."""
    _require(hp, "activation", "RELU_6", hp.str("activation", "NONE"))
    l2 = _l2_weight(hp)
    hp.ignore("initializer", "regularize_depthwise", "op", "force_use_bias")
    for name in ("group_norm", "sync_batch_norm"):
        if hp.has(name):
            raise ConfigError(f"{hp.where(name, hp.line_of(name))} is not supported by facessd")
    bn = hp.message("batch_norm")
    if bn is None:
        raise ConfigError(f"{hp.where('batch_norm')} is missing: facessd's MobileNetV1 has batch norm")
    decay, epsilon = bn.float("decay", 0.999), bn.float("epsilon", 0.001)
    _require(bn, "scale", True, bn.bool("scale", False))
    _require(bn, "center", True, bn.bool("center", True))
    bn.ignore("train")
    bn.finish()
    hp.finish()
    return {"l2": l2, "decay": decay, "epsilon": epsilon}


def _l2_weight(hp: Message) -> float | None:
    reg = hp.message("regularizer")
    if reg is None:
        return None
    kind, r = reg.oneof(("l2_regularizer",), "regularizer")
    weight = r.float("weight", 1.0)
    r.finish()
    reg.finish()
    return weight


def _box_predictor(msg: Message, notes: list[str]) -> tuple[int, float | None]:
    kind, p = msg.oneof(("convolutional_box_predictor",), "box_predictor")
    _require(p, "num_layers_before_predictor", 0, p.int("num_layers_before_predictor", 0))
    _require(p, "use_dropout", False, p.bool("use_dropout", True))
    _require(p, "box_code_size", 4, p.int("box_code_size", 4))
    _require(p, "apply_sigmoid_to_scores", False, p.bool("apply_sigmoid_to_scores", False))
    _require(p, "use_depthwise", False, p.bool("use_depthwise", False))
    kernel = p.int("kernel_size", 1)
    if kernel not in (1, 3):
        raise ConfigError(f"{p.where('kernel_size', p.line_of('kernel_size'))} must be 1 or 3 in facessd, "
                          f"got {kernel}")
    bias_init = p.float("class_prediction_bias_init", 0.0)
    if bias_init:
        notes.append(f"class_prediction_bias_init {bias_init} (the OD API's start value for every class logit) "
                     f"is not carried over: it only starts a training run")
    p.ignore("min_depth", "max_depth", "dropout_keep_probability")
    hp = p.message("conv_hyperparams")
    # With no layers before the predictor, only the L2 weight of these settings reaches a layer.
    l2 = _l2_weight(hp) if hp is not None else None
    p.finish()
    msg.finish()
    return kernel, l2


def _anchors(msg: Message, num_maps: int) -> AnchorConfig:
    kind, a = msg.oneof(("ssd_anchor_generator",), "anchor_generator")
    num_layers = a.int("num_layers", 6)
    if num_layers != num_maps:
        raise ConfigError(f"{a.where('num_layers', a.line_of('num_layers'))} {num_layers} must equal the feature "
                          f"extractor's num_layers ({num_maps})")
    for name in ("scales", "height_stride", "width_stride", "height_offset", "width_offset"):
        if a.has(name):
            raise ConfigError(f"{a.where(name, a.line_of(name))} is not supported by facessd (scales follow "
                              f"min_scale..max_scale, strides and offsets the feature maps)")
    for name in ("base_anchor_height", "base_anchor_width"):
        _require(a, name, 1.0, a.float(name, 1.0))
    if not a.floats("aspect_ratios"):
        raise ConfigError(f"{a.where('aspect_ratios')} is missing (the OD API needs at least one)")
    cfg = AnchorConfig(kind="multiple_grid", num_layers=num_layers, min_scale=a.float("min_scale", 0.2),
                       max_scale=a.float("max_scale", 0.95), aspect_ratios=tuple(a.floats("aspect_ratios")),
                       interpolated_scale_aspect_ratio=a.float("interpolated_scale_aspect_ratio", 1.0),
                       reduce_boxes_in_lowest_layer=a.bool("reduce_boxes_in_lowest_layer", True),
                       lowest_layer_scale=0.1)
    a.finish()
    msg.finish()
    return cfg


def _box_coder(msg: Message) -> BoxCoderConfig:
    kind, c = msg.oneof(("faster_rcnn_box_coder",), "box_coder")
    cfg = BoxCoderConfig(c.float("y_scale", 10.0), c.float("x_scale", 10.0), c.float("height_scale", 5.0),
                         c.float("width_scale", 5.0))
    c.finish()
    msg.finish()
    return cfg


def _matcher(msg: Message) -> MatcherConfig:
    kind, m = msg.oneof(("argmax_matcher",), "matcher")
    _require(m, "ignore_thresholds", False, m.bool("ignore_thresholds", False))
    _require(m, "negatives_lower_than_unmatched", True, m.bool("negatives_lower_than_unmatched", True))
    m.ignore("use_matmul_gather")
    cfg = MatcherConfig(m.float("matched_threshold", 0.5), m.float("unmatched_threshold", 0.5),
                        m.bool("force_match_for_each_row", False))
    m.finish()
    msg.finish()
    return cfg


def _loss(loss: Message, normalize: bool, l2: float) -> LossConfig:
    cls_kind, cls = loss.message("classification_loss", required=True).oneof(  # type: ignore[union-attr]
        ("weighted_sigmoid", "sigmoid_focal"), "classification_loss")
    loss.message("classification_loss").finish()  # type: ignore[union-attr]
    alpha, gamma = 0.75, 2.0
    if cls_kind == "sigmoid_focal":
        if not cls.has("alpha"):
            raise ConfigError(f"{cls.where('alpha')} is missing: facessd's focal loss always weights by alpha "
                              f"(the OD API's focal loss without alpha has no equivalent)")
        alpha, gamma = cls.float("alpha", 0.25), cls.float("gamma", 2.0)
    cls.ignore("anchorwise_output")
    cls.finish()
    loc_kind, loc = loss.message("localization_loss", required=True).oneof(  # type: ignore[union-attr]
        ("weighted_smooth_l1",), "localization_loss")
    loss.message("localization_loss").finish()  # type: ignore[union-attr]
    delta = loc.float("delta", 1.0)
    loc.ignore("anchorwise_output")
    loc.finish()
    miner = None
    m = loss.message("hard_example_miner")
    if m is not None:
        _require(m, "loss_type", "CLASSIFICATION", m.str("loss_type", "BOTH"))
        per_positive = m.float("max_negatives_per_positive", 0.0)
        if per_positive <= 0:
            raise ConfigError(f"{m.where('max_negatives_per_positive', m.line_of('max_negatives_per_positive'))} "
                              f"must be > 0 in facessd (0, no limit, has no equivalent)")
        miner = HardMinerConfig(num_hard_examples=m.int("num_hard_examples", 64),
                                iou_threshold=m.float("iou_threshold", 0.7),
                                max_negatives_per_positive=per_positive,
                                min_negatives_per_image=m.int("min_negatives_per_image", 0))
        m.finish()
    for name in ("random_example_sampler", "equalization_loss"):
        if loss.has(name):
            raise ConfigError(f"{loss.where(name, loss.line_of(name))} is not supported by facessd")
    _require(loss, "expected_loss_weights", "NONE", loss.str("expected_loss_weights", "NONE"))
    loss.ignore("min_num_negative_samples", "desired_negative_sampling_ratio")
    cfg = LossConfig(classification="focal" if cls_kind == "sigmoid_focal" else "sigmoid", focal_alpha=alpha,
                     focal_gamma=gamma, smooth_l1_delta=delta,
                     classification_weight=loss.float("classification_weight", 1.0),
                     localization_weight=loss.float("localization_weight", 1.0), hard_example_miner=miner,
                     normalize_by_num_matches=normalize, l2_weight=l2)
    loss.finish()
    return cfg


def _postprocess(msg: Message, num_classes: int) -> PostprocessConfig:
    _require(msg, "score_converter", "SIGMOID", msg.str("score_converter", "IDENTITY"))
    _require(msg, "logit_scale", 1.0, msg.float("logit_scale", 1.0))
    nms = msg.message("batch_non_max_suppression", required=True)
    assert nms is not None
    per_class = nms.int("max_detections_per_class", 100)
    total = nms.int("max_total_detections", 100)
    if num_classes > 1 and per_class != total:
        raise ConfigError(f"{nms.where()}: max_detections_per_class {per_class} != max_total_detections {total}; "
                          f"facessd keeps one number for both")
    _require(nms, "soft_nms_sigma", 0.0, nms.float("soft_nms_sigma", 0.0))
    if num_classes > 1:
        _require(nms, "use_class_agnostic_nms", False, nms.bool("use_class_agnostic_nms", False))
    else:
        nms.ignore("use_class_agnostic_nms", "max_classes_per_detection")  # one class: the same NMS
    nms.ignore("use_static_shapes", "use_combined_nms", "change_coordinate_frame", "use_partitioned_nms",
               "use_hard_nms", "max_classes_per_detection")
    cfg = PostprocessConfig(score_threshold=nms.float("score_threshold", 0.0),
                            iou_threshold=nms.float("iou_threshold", 0.6), max_detections=min(per_class, total))
    nms.finish()
    msg.ignore("calibration_config")
    if msg.has("calibration_config"):
        raise ConfigError(f"{msg.where('calibration_config', msg.line_of('calibration_config'))} is not supported "
                          f"by facessd")
    msg.finish()
    return cfg


# --- train_config ---------------------------------------------------------------------------------
_OPTIMIZERS = {"rms_prop_optimizer": "rmsprop", "momentum_optimizer": "momentum", "adam_optimizer": "adam"}


def _training(train: Message) -> ODAPITraining:
    optimizer = rate = schedule = None
    opt = train.message("optimizer")
    if opt is not None:
        names = [n for n in opt.names() if n in _OPTIMIZERS]
        if names:
            body = opt.message(names[0])
            optimizer = _OPTIMIZERS[names[0]]
            lr = body.message("learning_rate") if body is not None else None
            if lr is not None:
                rate, schedule = _schedule(lr)
        elif opt.names():
            optimizer = [n for n in opt.names() if n.endswith("_optimizer")][:1] or None
            optimizer = optimizer[0] if optimizer else None
        use_ema = opt.bool("use_moving_average", False)
    else:
        use_ema = False
    augment = tuple(name for m in train.messages("data_augmentation_options") for name in m.names())
    return ODAPITraining(
        batch_size=train.int("batch_size", 32), num_steps=train.int("num_steps", 0) or None, optimizer=optimizer,
        learning_rate=rate, schedule=schedule, use_moving_average=use_ema,
        fine_tune_checkpoint=train.str("fine_tune_checkpoint", "") or None,
        fine_tune_checkpoint_type=train.str("fine_tune_checkpoint_type", "") or None,
        data_augmentation=augment, train_config=train.to_dict())


def _schedule(lr: Message) -> tuple[float | None, str | None]:
    """(starting learning rate, one line describing the schedule) as the OD API defines them."""
    if not lr.names():
        return None, None
    kind = lr.names()[0]
    s = lr.message(kind)
    if s is None:
        return None, kind
    if kind == "constant_learning_rate":
        return s.float("learning_rate", 0.002), "constant"
    if kind == "exponential_decay_learning_rate":
        start = s.float("initial_learning_rate", 0.002)
        return start, (f"exponential decay by {s.float('decay_factor', 0.95)} every {s.int('decay_steps', 4000000)} "
                       f"steps{' (staircase)' if s.bool('staircase', True) else ''}")
    if kind == "manual_step_learning_rate":
        start = s.float("initial_learning_rate", 0.002)
        steps = ", ".join(f"{m.float('learning_rate', 0.002)} from step {m.int('step', 0)}"
                          for m in s.messages("schedule"))
        return start, f"manual steps: {start} then {steps}" if steps else "manual steps"
    if kind == "cosine_decay_learning_rate":
        base = s.float("learning_rate_base", 0.002)
        return base, (f"cosine decay over {s.int('total_steps', 4000000)} steps with "
                      f"{s.int('warmup_steps', 0)} warmup steps from {s.float('warmup_learning_rate', 0.0002)}")
    return None, kind
