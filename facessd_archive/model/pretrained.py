"""Pretrained backbones that ship inside the package, and how a fresh network starts from one.

``imagenet_mobilenet_v2``: torchvision's ImageNet MobileNetV2 (BSD-3-Clause), converted once by
``scripts/convert_mobilenet_v2_imagenet.py`` into this project's Keras weight paths. The OD
API's own configs start every SSD from ImageNet weights the same way (``fine_tune_checkpoint``
of type ``classification``): on a data set of a thousand photos it is the strongest lever.
Only the extractor's layers are taken; the FPN, extra layers and box predictor start fresh.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from facessd_archive.errors import CheckpointError
from facessd_archive.model.config import ModelConfig

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
PRETRAINED_BACKBONES: dict[str, tuple[str, Path]] = {
    # name: (feature extractor it fits, file)
    "imagenet_mobilenet_v2": ("ssd_mobilenet_v2", WEIGHTS_DIR / "mobilenet_v2_imagenet.npz"),
}


def check_backbone_fits(name: str, config: ModelConfig) -> None:
    """Refuse, in one line, a backbone that does not fit the config (before any training starts)."""
    if name not in PRETRAINED_BACKBONES:
        raise CheckpointError(f"unknown pretrained backbone {name!r}; known: {sorted(PRETRAINED_BACKBONES)}")
    extractor, _ = PRETRAINED_BACKBONES[name]
    if config.feature_extractor != extractor or config.depth_multiplier != 1.0:
        raise CheckpointError(f"pretrained backbone {name!r} fits {extractor} at depth multiplier 1.0, not "
                              f"{config.feature_extractor} at {config.depth_multiplier}")
    if name == "imagenet_mobilenet_v2" and config.input_normalization != "imagenet":
        raise CheckpointError(f"pretrained backbone {name!r} expects input_normalization 'imagenet'")


def load_pretrained_backbone(network: keras.Model, name: str) -> int:
    """Assign the backbone's weights to ``network``'s layers of the same name; returns how many
    variables were set. Every backbone layer the network has must match in shape; layers past the
    network's last tap are simply absent from it (skipped)."""
    _, path = PRETRAINED_BACKBONES[name]
    try:
        stored = np.load(path)
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{path}: cannot read the pretrained backbone ({e})") from None
    by_path = {v.path: v for v in network.weights}
    assigned = 0
    with stored:
        for key in stored.files:
            if key.startswith("__"):
                continue
            variable = by_path.get(key)
            if variable is None:
                continue
            value = stored[key]
            if tuple(variable.shape) != value.shape:
                raise CheckpointError(f"{path}: {key} has shape {value.shape}, the network's is "
                                      f"{tuple(variable.shape)}")
            variable.assign(value)
            assigned += 1
    if assigned == 0:
        raise CheckpointError(f"{path}: no variable of {name!r} matches the network (another extractor?)")
    return assigned
