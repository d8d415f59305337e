"""What inference at an image's own size costs: images/s and memory per input shape, one model.

For one model folder or stage (default: the archive's default stage), each setting runs in a
fresh subprocess (so peak memory is its own): the same 1024x768 photo (a real WIDER FACE
picture when ``../shared`` is present, else a synthetic scene) at its original size, the same with
a second pass at the training input size (``--two-scale``), at a 640-pixel maximum side, and
squashed to the model's square training input. Prints, per
setting, the network input shape, images/s (median of rounds, batch 1, model + NMS + resize),
peak resident memory, and the ratio to the square setting measured in the same command.

    .venv/bin/python benchmarks/inference_shapes.py [--model FOLDER_OR_STAGE] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WIDER_PHOTO = ROOT.parent / "shared" / "data" / "wider" / "WIDER_val" / "images" / "0--Parade"
SETTINGS = {"original": {"original_size": True}, "two-scale": {"original_size": True, "two_scale": True},
            "max-side-640": {"max_side": 640}, "square": {}}
# "two-scale": original size plus a pass at the training input size for large faces (evaluate/pyramid.py).
# "square": the model's square training input (input_size x input_size), squashing the photo.


def _photo() -> "object":
    import numpy as np

    from facessd_archive.data.images import load_rgb

    candidates = sorted(WIDER_PHOTO.glob("*.jpg")) if WIDER_PHOTO.is_dir() else []
    for path in candidates:
        image = load_rgb(path)
        if image.shape[1] == 1024:
            out = np.zeros((768, 1024, 3), np.uint8)
            h = min(768, image.shape[0])
            out[:h] = image[:h]
            return out
    from facessd_archive.data.synthetic.benchmark import sample_benchmark

    scene = load_rgb(sample_benchmark(num_images=1)[0].image_path)
    return np.resize(scene, (768, 1024, 3))


def _child(model: str, setting: str, rounds: int) -> dict:
    from facessd_archive.archive.location import open_archive
    from facessd_archive.archive.weights import stage_weights_folder
    from facessd_archive.evaluate.runner import load_ssd_batch_detector

    folder = Path(model) if model and Path(model).exists() else None
    if folder is None:
        archive = open_archive()
        stage_id = model or archive.default_stage_id()
        folder = stage_weights_folder(stage_id, archive=archive)
    image = _photo()
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    detector, config = load_ssd_batch_detector(folder, "bench", **SETTINGS[setting])
    if setting == "square" and detector.policy.kind != "square":
        # A keep-aspect model squashed to its square training input (its dynamic graph takes any shape).
        from facessd_archive.evaluate.resizing import ResizePolicy

        detector.policy = ResizePolicy("square", config.input_size)
    detector.detect_batch([image])  # trace
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        detector.detect_batch([image])
        times.append(time.perf_counter() - t0)
    _, _, ph, pw = detector.policy.input_shape(768, 1024)
    shape = f"{pw}x{ph}"
    if detector.coarse_policy is not None:
        _, _, ch, cw = detector.coarse_policy.input_shape(768, 1024)
        shape += f"+{cw}x{ch}"
    return {"setting": setting, "input": shape, "images_per_second": 1.0 / statistics.median(times),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "model_rss_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base_rss) / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="", help="model folder or stage id (default: the default stage)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.model, args.child, args.rounds)))
        return
    rows = []
    for setting in SETTINGS:
        out = subprocess.run([sys.executable, __file__, "--model", args.model, "--rounds", str(args.rounds),
                              "--child", setting], capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    from facessd_archive.evaluate.evaluation import hardware_description

    square = next(r for r in rows if r["setting"] == "square")
    print(f"{hardware_description()}; model: {args.model or 'default stage'}")
    for r in rows:
        r["speed_vs_square"] = r["images_per_second"] / square["images_per_second"]
        print(f"{r['setting']:>13}  input {r['input']:>17}  {r['images_per_second']:6.2f} img/s "
              f"({r['speed_vs_square']:.2f}x square)  peak RSS {r['peak_rss_mb']:.0f} MB")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
