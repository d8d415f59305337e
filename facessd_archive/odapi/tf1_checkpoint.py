"""TF1 name-based Object Detection API checkpoints -> the Keras SSD network, by name and shape.

facessd's layer names are the TF1 scopes with ``/`` replaced by ``_`` (``model/mobilenet_v1.py``),
so each Keras weight has exactly one OD API name:

    Conv2d_0/kernel                          FeatureExtractor/MobilenetV1/Conv2d_0/weights
    Conv2d_1_depthwise/kernel                FeatureExtractor/MobilenetV1/Conv2d_1_depthwise/depthwise_weights
    Conv2d_0_BatchNorm/gamma                 FeatureExtractor/MobilenetV1/Conv2d_0/BatchNorm/gamma
    BoxPredictor_0_ClassPredictor/kernel     BoxPredictor_0/ClassPredictor/weights  (and /biases)

Kernels have the same layout in both ([kh, kw, in, out]; depthwise [kh, kw, in, 1]), and the
class predictor's ``num_classes + 1`` logits per anchor keep the OD API's order, background at
index 0 (post-processing applies the sigmoid and drops that column, as the OD API does), so
values are copied unchanged. Optimizer slots (``/RMSProp``, ``/RMSProp_1``, ``/Momentum``,
``/Adam``...), ``global_step`` and Adam's ``beta*_power`` are skipped; with
``use_moving_averages`` each variable takes its ``/ExponentialMovingAverage`` value where the
checkpoint has one, as the OD API's exporter restores them. Any other variable left over on
either side is an error that names it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from facessd_archive.errors import CheckpointError
from facessd_archive.model.detector import SSDDetector

SCOPE = "FeatureExtractor/MobilenetV1"
EMA_SUFFIX = "ExponentialMovingAverage"
SLOT_SUFFIXES = ("RMSProp", "RMSProp_1", "Momentum", "Adam", "Adam_1", "Adagrad", "Ftrl", "Ftrl_1", EMA_SUFFIX)
NON_MODEL = ("global_step", "beta1_power", "beta2_power")
_WEIGHT_NAMES = {"kernel": "weights", "bias": "biases"}


@dataclass(frozen=True)
class LoadReport:
    """What an import read: the step the weights had trained for, and what it used and skipped."""

    global_step: int | None
    mapped: int
    skipped: int
    moving_averages: int  # variables that took their ExponentialMovingAverage value


def odapi_name(layer: tf.Module, weight: str) -> str:
    """The OD API checkpoint name of ``layer``'s weight ``weight`` (``kernel``, ``bias``, ``gamma``...)."""
    import keras

    name = layer.name
    if name.startswith("BoxPredictor_"):
        index, _, head = name[len("BoxPredictor_"):].partition("_")
        if head in ("BoxEncodingPredictor", "ClassPredictor") and weight in _WEIGHT_NAMES:
            return f"BoxPredictor_{index}/{head}/{_WEIGHT_NAMES[weight]}"
    elif name.endswith("_BatchNorm") and weight in ("gamma", "beta", "moving_mean", "moving_variance"):
        return f"{SCOPE}/{name[:-len('_BatchNorm')]}/BatchNorm/{weight}"
    elif name.startswith("Conv2d_"):
        if isinstance(layer, keras.layers.DepthwiseConv2D) and weight == "kernel":
            return f"{SCOPE}/{name}/depthwise_weights"
        if weight in _WEIGHT_NAMES:
            return f"{SCOPE}/{name}/{_WEIGHT_NAMES[weight]}"
    raise CheckpointError(f"layer {name!r} ({type(layer).__name__}) weight {weight!r} has no Object Detection API "
                          f"ssd_mobilenet_v1 name (an FPN or another feature extractor?)")


def variable_map(detector: SSDDetector) -> dict[str, tf.Variable]:
    """OD API name -> the Keras variable it loads into, for every weight of the network."""
    out: dict[str, tf.Variable] = {}
    for layer in detector.network.layers:
        for v in layer.weights:
            name = odapi_name(layer, v.path.rsplit("/", 1)[-1])
            if name in out:
                raise CheckpointError(f"two Keras weights map to {name!r}")
            out[name] = v
    return out


def _is_skipped(name: str) -> bool:
    last = name.rsplit("/", 1)[-1]
    return name in NON_MODEL or last in SLOT_SUFFIXES


def _listing(names: list[str], limit: int = 6) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def open_reader(prefix: str):
    """``tf.train.load_checkpoint`` with a one-line error naming the checkpoint."""
    try:
        return tf.train.load_checkpoint(prefix)
    except (tf.errors.OpError, ValueError) as e:
        first = (str(getattr(e, "message", e)).strip().splitlines() or [type(e).__name__])[0][:200]
        raise CheckpointError(f"{prefix}: unreadable TF1 checkpoint ({first}); the .index or .data file "
                              f"truncated or missing?") from None


def load_tf1_weights(detector: SSDDetector, prefix: str, use_moving_averages: bool = False) -> LoadReport:
    """Assign every network weight from the OD API checkpoint ``prefix`` (``.../model.ckpt-N``).

    All checks run before any variable is assigned, so a mismatch leaves the detector untouched.
    """
    reader = open_reader(prefix)
    shapes = reader.get_variable_to_shape_map()
    dtypes = reader.get_variable_to_dtype_map()
    targets = variable_map(detector)
    missing = sorted(n for n in targets if n not in shapes)
    if missing:
        raise CheckpointError(f"{prefix}: the checkpoint lacks {len(missing)} variable(s) the model needs: "
                              f"{_listing(missing)} (another feature extractor, or a different num_layers?)")
    extra = sorted(n for n in shapes if n not in targets and not _is_skipped(n))
    if extra:
        raise CheckpointError(f"{prefix}: {len(extra)} checkpoint variable(s) map to nothing in the model: "
                              f"{_listing(extra)}")
    ema_names = {n for n in shapes if n.endswith("/" + EMA_SUFFIX)}
    if use_moving_averages and not any(f"{n}/{EMA_SUFFIX}" in ema_names for n in targets):
        raise CheckpointError(f"{prefix}: --use-moving-averages, but the checkpoint holds no "
                              f"ExponentialMovingAverage variables (trained without use_moving_average)")
    values: dict[str, np.ndarray] = {}
    averaged = 0
    for name, var in targets.items():
        source = name
        if use_moving_averages and f"{name}/{EMA_SUFFIX}" in ema_names:
            source = f"{name}/{EMA_SUFFIX}"
            averaged += 1
        if list(shapes[source]) != list(var.shape):
            raise CheckpointError(f"{prefix}: {source} has shape {list(shapes[source])} in the checkpoint but "
                                  f"{list(var.shape)} in the model ({var.path}); depth_multiplier, num_classes "
                                  f"or anchors differ from pipeline.config?")
        if not dtypes[source].is_floating:
            raise CheckpointError(f"{prefix}: {source} is {dtypes[source].name}, not a float tensor")
        try:
            values[name] = np.asarray(reader.get_tensor(source)).astype(np.float32)
        except (tf.errors.OpError, IndexError, ValueError) as e:
            first = (str(getattr(e, "message", e)).strip().splitlines() or [type(e).__name__])[0][:160]
            raise CheckpointError(f"{prefix}: cannot read {source} ({first}); the .data file truncated?") from None
    for name, var in targets.items():
        var.assign(values[name])
    step = None
    if "global_step" in shapes:
        try:
            step = int(reader.get_tensor("global_step"))
        except (tf.errors.OpError, IndexError, ValueError, TypeError):
            raise CheckpointError(f"{prefix}: cannot read global_step; the .data file truncated?") from None
    return LoadReport(global_step=step, mapped=len(targets), skipped=len(shapes) - len(targets),
                      moving_averages=averaged)
