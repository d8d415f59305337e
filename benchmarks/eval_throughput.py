"""TF vs TFLite (and MTCNN for reference): images/s, latency and agreement, in one process.
With --stage: a stage's float vs int8 TFLite, model-only vs end to end, against the peers.

    .venv/bin/python benchmarks/eval_throughput.py                      # random-weight face model
    .venv/bin/python benchmarks/eval_throughput.py --model runs/x --out results/throughput.json
    .venv/bin/python benchmarks/eval_throughput.py --stage              # the default stage vs the peers
    .venv/bin/python benchmarks/eval_throughput.py --stage keypoints/v1/NAME --max-side 416 --benchmark synthetic

``--stage [STAGE]`` (no value: the archive's default stage) measures, in one process on the same
images (facemask ``val.txt``, or ``--benchmark synthetic``): the stage under the float and the
int8 TFLite runtimes at a fixed ``--max-side`` square, model-only (prepared inputs in memory, one
image a call: graph, decode and NMS) and end to end (``run_detector`` at batch 1: decode, resize,
model, boxes to pixels; with the background decode/resize pipeline, and without it for
reference), the peers end to end (YuNet at 1 and 2 OpenMP threads, BlazeFace full and short
range, MTCNN, Haar), and every detector's COCO figures. NMS keeps at most ``--max-detections``
(default 100, what COCO's mAP reads) per photo in both TFLite runtimes; where the stage's own cap
differs (750 on the WIDER presets) both runtimes are measured at that cap too. Each detector runs
a group of ``--group`` images, then the next detector the same group, so a change in background
load hits all alike; ``--rounds`` passes over all images, and a figure is the median pass.

What it does, on the same decoded images:
1. builds the detector (``--model`` folder, else ``face_config(300, 1.0)`` with He-normal random
   weights so that scores and boxes actually vary with the image);
2. resizes every image once to the input size (the runner's bilinear ``tf.image.resize``);
3. times the TF runtime and the TFLite runtime (parallel, batch loop and resized-input modes) at each
   batch size; every group of (largest batch) images goes through all variants before the
   next group, so a change of background load hits every variant alike; ``--rounds`` passes
   over all images, a variant's figure is its median pass (and its best, the least disturbed);
4. compares TF and TFLite detections (max box and score difference, detection counts) and,
   when the images have ground truth, the COCO metrics of both;
5. runs MTCNN once over the original images for reference (``--no-mtcnn`` skips it).

Images: ``../shared/data/facemask`` val split when present, else
``facessd_archive.data.synthetic.benchmark.sample_benchmark()`` when that exists, else random noise
(speed only, no mAP). Model time is the runtime call alone: resized float32 batch in,
post-processed detections out (graph, decode and NMS), as in ``run_detector``'s model time.
CPU ms per image (process CPU time, all threads) is printed too: it moves far less than wall time
when another process shares the cores.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FACEMASK = ROOT.parent / "shared" / "data" / "facemask"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, help="model folder (model_config.json + weights); default: random weights")
    p.add_argument("--input-size", type=int, default=None,
                   help="default: the model's own size with --model, else 300")
    p.add_argument("--depth-multiplier", type=float, default=1.0, help="for the random model only")
    p.add_argument("--images", type=int, default=48,
                   help="how many benchmark images (default 48), rounded down to whole batches of the largest size")
    p.add_argument("--batch-sizes", default="1,8")
    p.add_argument("--rounds", type=int, default=3, help="timed passes over the images per variant")
    p.add_argument("--threads", type=int, default=2, help="TFLite threads")
    p.add_argument("--no-mtcnn", action="store_true")
    p.add_argument("--tf-frozen", action="store_true",
                   help="also time the TF graph with its variables frozen to constants (a possible TF speed-up)")
    p.add_argument("--out", type=Path, help="write the result as JSON here")
    p.add_argument("--seed", type=int, default=0)
    stage = p.add_argument_group("stage mode (--stage)")
    stage.add_argument("--stage", nargs="?", const="default", default=None, metavar="STAGE",
                       help="benchmark an archived stage (no value: the archive's default stage) against the peers")
    stage.add_argument("--max-side", type=int, default=416,
                       help="keep-aspect stages: the fixed padded square the TFLite runtimes run (default 416: "
                            "facemask photos are 400 px wide, so they pass unscaled); 0: the stage's own resizer "
                            "(a square stage is squashed to its input)")
    stage.add_argument("--benchmark", choices=("facemask", "synthetic"), default=None,
                       help="facemask val.txt (default when ../shared is present) or the synthetic sample benchmark")
    stage.add_argument("--peers", default="yunet,yunet-2threads,blazeface,blazeface-short,mtcnn,haar",
                       help="comma-separated peers to run end to end ('' for none)")
    stage.add_argument("--calibration-images", type=int, default=300, help="int8 calibration set size")
    stage.add_argument("--max-detections", type=int, default=100,
                       help="detections NMS keeps per photo in the TFLite runtimes (default 100: COCO's mAP and "
                            "AR@100 read each photo's 100 best); 0: the stage's own cap. Where it differs from the "
                            "stage's own, both runtimes are also measured at the stage's own cap")
    stage.add_argument("--group", type=int, default=24,
                       help="images each detector runs in turn before the next takes them (interleaving)")
    return p.parse_args(argv)


# --- inputs --------------------------------------------------------------------------------------
def load_inputs(n: int, seed: int):
    """(images uint8 list, samples or None, source description)."""
    from facessd_archive.data.images import load_rgb

    if (FACEMASK / "annotations").is_dir() and (FACEMASK / "val.txt").is_file():
        from facessd_archive.data.readers.formats import load_benchmark

        bench = load_benchmark(FACEMASK, split="val.txt")
        samples = bench.samples[:n]
        return [load_rgb(s.image_path) for s in samples], samples, f"facemask val ({len(samples)} images)"
    try:
        from facessd_archive.data.synthetic.benchmark import sample_benchmark  # type: ignore[attr-defined]

        bench = sample_benchmark()
        samples = list(getattr(bench, "samples", bench))[:n]
        return [load_rgb(s.image_path) for s in samples], samples, f"synthetic sample benchmark ({len(samples)} images)"
    except (ImportError, AttributeError):
        pass
    rng = np.random.default_rng(seed)
    images = [rng.integers(0, 256, (int(rng.integers(240, 480)), int(rng.integers(240, 480)), 3), dtype=np.uint8)
              for _ in range(n)]
    return images, None, f"random noise ({n} images, no ground truth)"


def randomise_weights(detector, seed: int) -> None:
    """He-normal kernels everywhere (fan-in of each conv), so random features do not vanish."""
    rng = np.random.default_rng(seed)
    for v in detector.network.weights:
        if v.path.endswith("kernel"):
            shape = tuple(v.shape)
            fan_in = int(np.prod(shape[:2])) if "depthwise" in v.path else int(np.prod(shape[:-1]))
            v.assign(rng.normal(0.0, np.sqrt(2.0 / fan_in), shape).astype(np.float32))


def build_detector(args):
    if args.model is not None:
        from facessd_archive.model.checkpoint import load_detector

        detector = load_detector(args.model, input_size=args.input_size)  # None keeps the model's size
        return detector, f"{args.model} at {detector.config.input_size}x{detector.config.input_size}"
    from facessd_archive.model.config import face_config
    from facessd_archive.model.detector import SSDDetector

    size = args.input_size or 300
    detector = SSDDetector(face_config(input_size=size, depth_multiplier=args.depth_multiplier))
    randomise_weights(detector, args.seed)
    return detector, f"random He-normal weights, face_config({size}, {args.depth_multiplier})"


class FrozenTFRuntime:
    """TFRuntime's graph with its variables frozen into constants: a possible TF speed-up, measured only."""

    name = "tf-frozen"

    def __init__(self, detector):
        import tensorflow as tf
        from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

        from facessd_archive.evaluate.runtime import RawDetections

        self._raw = RawDetections
        self.input_size = s = detector.config.input_size

        @tf.function(input_signature=[tf.TensorSpec([None, s, s, 3], tf.float32)])
        def detect(images):
            d = detector.detect(images)
            return d.boxes, d.scores, d.num_detections

        self._fn = convert_variables_to_constants_v2(detect.get_concrete_function())
        self._tf = tf

    def __call__(self, images):
        boxes, scores, num = self._fn(self._tf.convert_to_tensor(images, self._tf.float32))
        return self._raw(boxes.numpy(), scores.numpy(), num.numpy())


# --- timing ------------------------------------------------------------------------------------
def timed_round(runtimes: dict, variants: list[tuple[str, int]], resized: np.ndarray, group: int):
    """One pass over all images for every variant, interleaved by groups of ``group`` images.

    Each group of images goes through every variant before the next group starts, so a
    change in background load lands on all variants alike. Returns, per variant, its outputs
    (boxes, scores, counts for all images), per-call wall seconds and process CPU seconds.
    """
    calls: dict = {v: [] for v in variants}
    cpu: dict = {v: 0.0 for v in variants}
    outs: dict = {v: [] for v in variants}
    for g in range(0, len(resized), group):
        images = resized[g:g + group]
        for name, batch in variants:
            runtime = runtimes[name]
            c0 = time.process_time()
            for start in range(0, len(images), batch):
                t0 = time.perf_counter()
                raw = runtime(images[start:start + batch])
                calls[(name, batch)].append(time.perf_counter() - t0)
                outs[(name, batch)].append(raw)
            cpu[(name, batch)] += time.process_time() - c0
    result = {}
    for v in variants:
        raw = outs[v]
        merged = (np.concatenate([o.boxes for o in raw]), np.concatenate([o.scores for o in raw]),
                  np.concatenate([o.num_detections for o in raw]))
        result[v] = (merged, calls[v], cpu[v])
    return result


def summarise(n_images: int, batch: int, rounds: list[tuple[list[float], float]]) -> dict:
    per_round = [n_images / sum(calls) for calls, _ in rounds]
    calls = np.concatenate([c for c, _ in rounds])
    return {
        "batch_size": batch,
        "images_per_second_median": float(np.median(per_round)),
        "images_per_second_best": float(max(per_round)),
        "images_per_second_rounds": [round(x, 2) for x in per_round],
        "call_latency_ms_median": float(np.median(calls) * 1e3),
        "call_latency_ms_p90": float(np.percentile(calls, 90) * 1e3),
        "ms_per_image_median": float(np.median(calls) * 1e3 / batch),
        "cpu_ms_per_image_median": float(np.median([cpu for _, cpu in rounds]) * 1e3 / n_images),
    }


# --- agreement ---------------------------------------------------------------------------------
def to_pixels(raw, sizes):
    from facessd_archive.evaluate.coco_metrics import ImageDetections

    boxes, scores, num = raw
    out = []
    for i, (h, w) in enumerate(sizes):
        n = int(num[i])
        b = boxes[i, :n]
        px = np.stack([b[:, 1] * w, b[:, 0] * h, b[:, 3] * w, b[:, 2] * h], axis=-1)
        out.append(ImageDetections(px.astype(np.float32), scores[i, :n].astype(np.float32)))
    return out


def agreement(a, b) -> dict:
    """Same-rank and nearest-box differences between two runtimes' normalised detections."""
    boxes_a, scores_a, num_a = a
    boxes_b, scores_b, num_b = b
    same_rank, nearest, score_diff = 0.0, 0.0, 0.0
    for i in range(len(num_a)):
        n = min(int(num_a[i]), int(num_b[i]))
        if n == 0:
            continue
        same_rank = max(same_rank, float(np.abs(boxes_a[i, :n] - boxes_b[i, :n]).max()))
        score_diff = max(score_diff, float(np.abs(scores_a[i, :n] - scores_b[i, :n]).max()))
        diff = np.abs(boxes_a[i, :n, None, :] - boxes_b[i, None, :n, :]).max(-1)  # [n, n]
        nearest = max(nearest, float(diff.min(1).max()))
    return {"images_with_same_count": int((num_a == num_b).sum()), "images": int(len(num_a)),
            "max_box_diff_same_rank": same_rank, "max_box_diff_nearest": nearest,
            "max_score_diff_same_rank": score_diff}


def metrics_for(samples, detections, sizes) -> dict | None:
    if samples is None:
        return None
    from facessd_archive.evaluate.coco_metrics import compute_coco_metrics

    return compute_coco_metrics(samples, detections, sizes).metrics


# --- main --------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.stage is not None:
        return stage_main(args)
    import tensorflow as tf

    from facessd_archive import __version__
    from facessd_archive.evaluate.tf_runtime import TFRuntime
    from facessd_archive.evaluate.tflite_runtime import TFLiteRuntime, convert_to_tflite

    load_start = os.getloadavg()
    batch_sizes = [int(b) for b in args.batch_sizes.split(",") if b.strip()]
    largest = max(batch_sizes)
    count = max(largest, args.images // largest * largest)  # whole batches only: no odd-sized last call
    images, samples, source = load_inputs(count, args.seed)
    sizes = [im.shape[:2] for im in images]
    detector, model_desc = build_detector(args)
    s = detector.config.input_size
    resized = np.stack([tf.image.resize(im, [s, s]).numpy() for im in images]).astype(np.float32)

    t0 = time.perf_counter()
    convert_to_tflite(detector)  # timed alone: what a cold cache costs
    convert_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    lite_loop = TFLiteRuntime(detector, num_threads=args.threads)  # the default batch mode ('parallel')
    prepare_s = time.perf_counter() - t0
    runtimes = {"tf": TFRuntime(detector), "tflite": lite_loop}
    variants = [(name, b) for name in runtimes for b in batch_sizes]
    for b in batch_sizes:
        if b > 1:  # at batch 1 every mode is the same call; one interpreter per batch size, as a run with one size has
            for mode in ("loop", "resize"):
                runtimes[f"tflite-{mode}{b}"] = TFLiteRuntime(detector, num_threads=args.threads, batch_mode=mode)
                variants.append((f"tflite-{mode}{b}", b))
    if args.tf_frozen:
        runtimes["tf-frozen"] = FrozenTFRuntime(detector)
        variants += [("tf-frozen", b) for b in batch_sizes]
    for name, b in variants:  # warm-up: tracing, allocation, first-call costs
        runtimes[name](resized[:b])

    timings: dict[tuple[str, int], list] = {v: [] for v in variants}
    outputs: dict[tuple[str, int], tuple] = {}
    for _ in range(args.rounds):
        for v, (out, calls, cpu) in timed_round(runtimes, variants, resized, largest).items():
            timings[v].append((calls, cpu))
            outputs.setdefault(v, out)

    n = len(images)
    label = {v: f"{v[0].rstrip('0123456789')}@{v[1]}" for v in variants}
    speed = {label[v]: summarise(n, v[1], timings[v]) for v in variants}
    ratios = {}
    for b in batch_sizes:
        tf_s, lite_s = speed[f"tf@{b}"], speed[f"tflite@{b}"]
        ratios[f"batch {b}"] = {
            "median": lite_s["images_per_second_median"] / tf_s["images_per_second_median"],
            "best": lite_s["images_per_second_best"] / tf_s["images_per_second_best"],
            "cpu_time": tf_s["cpu_ms_per_image_median"] / lite_s["cpu_ms_per_image_median"],
        }
    best_tf = max(speed[f"tf@{b}"]["images_per_second_median"] for b in batch_sizes)
    best_lite = max(speed[f"tflite@{b}"]["images_per_second_median"] for b in batch_sizes)
    ratios["best batch each"] = {"median": best_lite / best_tf}

    bmax = max(batch_sizes)
    tf_out, lite_out = outputs[("tf", bmax)], outputs[("tflite", bmax)]
    agree = agreement(tf_out, lite_out)
    if ("tflite-resize" + str(bmax), bmax) in outputs:
        agree["tflite_resize_vs_tf"] = agreement(tf_out, outputs[(f"tflite-resize{bmax}", bmax)])
    agree["tf_batch1_vs_batch_max"] = agreement(outputs[("tf", min(batch_sizes))], tf_out)
    metrics = {"tf": metrics_for(samples, to_pixels(tf_out, sizes), sizes),
               "tflite": metrics_for(samples, to_pixels(lite_out, sizes), sizes)}

    if metrics["tf"] is not None:
        agree["max_metric_diff"] = max(abs(metrics["tf"][k] - metrics["tflite"][k]) for k in metrics["tf"])

    mtcnn = None
    if not args.no_mtcnn:
        from facessd_archive.errors import ConfigError
        from facessd_archive.evaluate.peers import MTCNNDetector

        try:
            peer = MTCNNDetector()
        except ConfigError as e:
            print(f"MTCNN skipped: {e}", file=sys.stderr)
        else:
            peer.detect_batch(images[:1])
            cpu0 = time.process_time()
            dets, calls = [], []
            for im in images:
                d, secs = peer.detect_batch([im])
                dets += d
                calls.append(secs)
            cpu = time.process_time() - cpu0
            mtcnn = summarise(n, 1, [(calls, cpu)])
            metrics["mtcnn"] = metrics_for(samples, dets, sizes)

    from facessd_archive.evaluate.evaluation import hardware_description

    result = {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "tool_version": __version__,
        "tensorflow": tf.__version__,
        "tflite_backend": lite_loop.backend,
        "xnnpack": lite_loop.xnnpack,
        "tflite_threads": args.threads,
        "tflite_model_bytes": lite_loop.model_size_bytes,
        "tflite_conversion_seconds": convert_s,
        "tflite_runtime_init_seconds": prepare_s,
        "hardware": hardware_description(),
        "load_average_start": load_start,
        "load_average_end": os.getloadavg(),
        "model": model_desc,
        "input_size": s,
        "images": source,
        "rounds": args.rounds,
        "speed": speed,
        "mtcnn_speed": mtcnn,
        "ratio_tflite_over_tf": ratios,
        "agreement": agree,
        "metrics": metrics,
    }
    return report(result, print_table, args.out)


def report(result: dict, printer, out: Path | None) -> dict:
    """Print ``result`` with ``printer`` and write it as JSON to ``out`` (when given)."""
    printer(result)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2, default=float) + "\n")
        print(f"wrote {out}")
    return result


def print_table(r: dict) -> None:
    from tabulate import tabulate

    print(f"\n{r['model']}; {r['images']}; {r['hardware']}")
    print(f"TF {r['tensorflow']}, TFLite via {r['tflite_backend']} (XNNPACK: {r['xnnpack']}, "
          f"{r['tflite_threads']} threads; conversion {r['tflite_conversion_seconds']:.1f} s, "
          f"runtime init {r['tflite_runtime_init_seconds']:.1f} s); "
          f"load average {r['load_average_start'][0]:.1f} -> {r['load_average_end'][0]:.1f}")
    rows = []
    for key, v in list(r["speed"].items()) + ([("mtcnn@1 (orig. size)", r["mtcnn_speed"])] if r["mtcnn_speed"] else []):
        rows.append([key, f"{v['images_per_second_median']:.1f}", f"{v['images_per_second_best']:.1f}",
                     f"{v['call_latency_ms_median']:.1f}", f"{v['call_latency_ms_p90']:.1f}",
                     f"{v['ms_per_image_median']:.1f}", f"{v['cpu_ms_per_image_median']:.1f}"])
    print(tabulate(rows, headers=["runtime@batch", "img/s (median)", "img/s (best)", "call ms (median)",
                                  "call ms (p90)", "ms/image", "CPU ms/image"], tablefmt="github"))
    print("\nTFLite / TF images/s: " + "; ".join(
        f"{k}: {v['median']:.2f}x"
        + (f" (best rounds {v['best']:.2f}x, CPU time {v['cpu_time']:.2f}x)" if "best" in v else "")
        for k, v in r["ratio_tflite_over_tf"].items()))
    a = r["agreement"]
    print(f"agreement TF vs TFLite: same count on {a['images_with_same_count']}/{a['images']} images, "
          f"max box diff {a['max_box_diff_same_rank']:.2e} (same rank), {a['max_box_diff_nearest']:.2e} (nearest), "
          f"max score diff {a['max_score_diff_same_rank']:.2e}"
          + (f", max COCO metric diff {a['max_metric_diff']:.1e}" if "max_metric_diff" in a else ""))
    if r["metrics"]["tf"] is not None:
        keys = ("DetectionBoxes_Precision/mAP", "DetectionBoxes_Precision/mAP@.50IOU")
        rows = [[name] + [f"{m[k]:.4f}" for k in keys]
                for name, m in r["metrics"].items() if m is not None]
        print(tabulate(rows, headers=["detector", "mAP", "mAP@.50"], tablefmt="github"))


# --- stage mode --------------------------------------------------------------------------------
TABLE_KEYS = ("DetectionBoxes_Precision/mAP", "DetectionBoxes_Precision/mAP@.50IOU")


def stage_samples(which: str | None, limit: int | None):
    """(samples, description): facemask val.txt, else the synthetic sample benchmark."""
    if which in (None, "facemask") and (FACEMASK / "val.txt").is_file():
        from facessd_archive.data.readers.formats import load_benchmark

        samples = list(load_benchmark(FACEMASK, split="val.txt").samples)[:limit]
        return samples, f"facemask val.txt ({len(samples)} images)"
    if which == "facemask":
        raise SystemExit(f"facemask not found at {FACEMASK}")
    from facessd_archive.data.synthetic.benchmark import sample_benchmark

    samples = sample_benchmark()[:limit]
    return samples, f"synthetic sample benchmark ({len(samples)} images)"


def peer_size_bytes(name: str, peer) -> int | None:
    """What the peer ships as its model: BlazeFace's .tflite, YuNet's library (weights compiled in),
    MTCNN's weight files, Haar's cascade XML."""
    from pathlib import Path as P

    if name.startswith("blazeface"):
        return P(peer._model.model_path).stat().st_size
    if name.startswith("yunet"):
        import yuface

        libs = sorted(P(yuface.__file__).parent.glob("libfacedetection.so*"))
        return libs[0].stat().st_size if libs else None
    if name == "mtcnn":
        import mtcnn

        return sum(f.stat().st_size for f in (P(mtcnn.__file__).parent / "assets").rglob("*") if f.is_file())
    if name == "haar":
        import cv2

        return (P(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml").stat().st_size
    return None


def stage_main(args: argparse.Namespace) -> dict:
    os.environ["FACESSD_INT8_CALIBRATION"] = str(args.calibration_images)
    from facessd_archive import __version__
    from facessd_archive.archive import open_archive, stage_weights_folder
    from facessd_archive.evaluate.coco_metrics import compute_coco_metrics
    from facessd_archive.evaluate.decoding import decode_sample
    from facessd_archive.evaluate.evaluation import cpu_name, hardware_description
    from facessd_archive.evaluate.peers import make_peer
    from facessd_archive.evaluate.runner import load_ssd_batch_detector, run_detector

    load_start = os.getloadavg()
    samples, source = stage_samples(args.benchmark, None if args.images == 48 else args.images)
    archive = open_archive(ROOT)
    stage = archive.default_stage() if args.stage == "default" else archive.get(args.stage)
    folder = stage_weights_folder(stage.stage_id, archive=archive)
    name = stage.stage_id.rsplit("/", 1)[-1]

    ssd, init_seconds = {}, {}
    for runtime in ("tflite", "tflite-int8"):
        t0 = time.perf_counter()
        ssd[runtime], _ = load_ssd_batch_detector(folder, f"{name} [{runtime}]", runtime,
                                                  max_side=args.max_side or None)
        init_seconds[runtime] = time.perf_counter() - t0
    policy = ssd["tflite"].policy
    own_cap = ssd["tflite"].runtime.max_detections  # the stage's own postprocess.max_detections
    cap = args.max_detections or own_cap
    for runtime in ("tflite", "tflite-int8"):
        ssd[runtime].runtime.max_detections = cap
        if cap != own_cap:  # the same runtime at the stage's own cap, for comparison (models from the cache)
            ssd[f"{runtime}, NMS {own_cap}"], _ = load_ssd_batch_detector(
                folder, f"{name} [{runtime}, NMS {own_cap}]", runtime, max_side=args.max_side or None)
    peers = {}
    for peer in [p for p in args.peers.split(",") if p.strip()]:
        options = {"num_threads": 2} if peer == "yunet-2threads" else {}
        try:
            peers[peer] = make_peer("yunet" if peer == "yunet-2threads" else peer, **options)
        except Exception as e:  # a missing package: say so, measure the rest
            print(f"{peer} skipped: {e}", file=sys.stderr)

    # Model only: every image prepared once, then one runtime call per image.
    prepared = []
    for sample in samples:
        pixels, hw = decode_sample(sample)
        prepared.append(ssd["tflite"].prepare([pixels], [hw]).inputs[0][None])
    for detector in ssd.values():
        detector.runtime(prepared[0])  # warm-up: tracing of decode + NMS, allocation
    model_rounds: dict[str, list[float]] = {k: [] for k in ssd}
    e2e_rounds: dict[str, list[float]] = {}
    first_dets: dict[str, list] = {}
    contestants = [(f"{k} pipelined", ssd[k], True) for k in ssd]
    contestants += [(f"{k} sequential", ssd[k], False) for k in ("tflite", "tflite-int8")]
    contestants += [(k, p, True) for k, p in peers.items()]
    for _, detector, _ in contestants:
        run_detector(detector, samples[:2], batch_size=1, pipeline=False)  # warm-up: tracing, allocation
    group = args.group
    for r in range(args.rounds):
        model_s = {k: 0.0 for k in ssd}
        wall_s = {key: 0.0 for key, _, _ in contestants}
        for g in range(0, len(samples), group):  # every detector takes each group in turn: load hits all alike
            for key, detector in ssd.items():
                for x in prepared[g:g + group]:
                    t0 = time.perf_counter()
                    detector.runtime(x)
                    model_s[key] += time.perf_counter() - t0
            for key, detector, pipeline in contestants:
                run = run_detector(detector, samples[g:g + group], batch_size=1, warmup=False, pipeline=pipeline)
                wall_s[key] += run.wall_seconds
                if r == 0:
                    first_dets.setdefault(key, []).extend(run.detections)
        for key in ssd:
            model_rounds[key].append(len(samples) / model_s[key])
        for key in wall_s:
            e2e_rounds.setdefault(key, []).append(len(samples) / wall_s[key])
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)

    sizes = [(s.height, s.width) if s.width is not None else decode_sample(s)[1] for s in samples]
    metrics = {}
    for key, dets in first_dets.items():
        if key.endswith("sequential"):
            continue
        m = compute_coco_metrics(samples, dets, sizes).metrics
        metrics[key] = {k: m[k] for k in TABLE_KEYS}
    med = lambda xs: float(np.median(xs))  # noqa: E731
    rows = {}
    for key, detector in ssd.items():
        rows[f"{name} [{key}]"] = {
            "end_to_end_images_per_second": med(e2e_rounds[f"{key} pipelined"]),
            **({"end_to_end_sequential_images_per_second": med(e2e_rounds[f"{key} sequential"])}
               if f"{key} sequential" in e2e_rounds else {}),
            "model_images_per_second": med(model_rounds[key]),
            "rounds_end_to_end": [round(v, 1) for v in e2e_rounds[f"{key} pipelined"]],
            "model_bytes": detector.runtime.model_size_bytes,
            "input": policy.describe(),
            "max_detections": detector.runtime.max_detections,
            **metrics[f"{key} pipelined"]}
    for key, peer in peers.items():
        rows[key] = {"end_to_end_images_per_second": med(e2e_rounds[key]),
                     "rounds_end_to_end": [round(v, 1) for v in e2e_rounds[key]],
                     "model_bytes": peer_size_bytes(key, peer), "input": "its own", **metrics[key]}
    float_row, int8_row = rows[f"{name} [tflite]"], rows[f"{name} [tflite-int8]"]
    e2e = "end_to_end_images_per_second"
    ratios = {
        "int8_over_float_end_to_end": int8_row[e2e] / float_row[e2e],
        "int8_over_float_model": int8_row["model_images_per_second"] / float_row["model_images_per_second"],
        "end_to_end_over_model_float": float_row["end_to_end_images_per_second"] / float_row["model_images_per_second"],
        "end_to_end_over_model_int8": int8_row["end_to_end_images_per_second"] / int8_row["model_images_per_second"],
        "int8_minus_float_mAP": int8_row[TABLE_KEYS[0]] - float_row[TABLE_KEYS[0]],
        "int8_minus_float_mAP50": int8_row[TABLE_KEYS[1]] - float_row[TABLE_KEYS[1]],
    }
    if cap != own_cap:  # the same ratios with the stage's own NMS cap
        own_float, own_int8 = rows[f"{name} [tflite, NMS {own_cap}]"], rows[f"{name} [tflite-int8, NMS {own_cap}]"]
        ratios[f"int8_over_float_end_to_end_nms_{own_cap}"] = own_int8[e2e] / own_float[e2e]
        ratios[f"int8_over_float_model_nms_{own_cap}"] = (own_int8["model_images_per_second"]
                                                         / own_float["model_images_per_second"])
    yunets = [k for k in rows if k.startswith("yunet")]
    if yunets:
        best = max(yunets, key=lambda k: rows[k]["end_to_end_images_per_second"])
        ratios["int8_over_fastest_yunet_end_to_end"] = (int8_row["end_to_end_images_per_second"]
                                                        / rows[best]["end_to_end_images_per_second"])
        ratios["int8_minus_yunet_mAP50"] = int8_row[TABLE_KEYS[1]] - rows[best][TABLE_KEYS[1]]
    result = {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "tool_version": __version__, "stage": stage.stage_id, "images": source, "cpu": cpu_name(),
        "hardware": hardware_description(), "load_average_start": load_start, "load_average_end": os.getloadavg(),
        "rounds": args.rounds, "calibration_images": args.calibration_images,
        "max_detections": cap, "stage_max_detections": own_cap,
        "runtime_init_seconds": init_seconds, "rows": rows, "ratios": ratios,
    }
    return report(result, print_stage_table, args.out)


def print_stage_table(r: dict) -> None:
    from tabulate import tabulate

    print(f"\n{r['stage']} on {r['images']}; {r['hardware']}; load average "
          f"{r['load_average_start'][0]:.1f} -> {r['load_average_end'][0]:.1f}; {r['rounds']} rounds, median; "
          f"NMS keeps up to {r['max_detections']} a photo (the stage's own: {r['stage_max_detections']})")
    rows = []
    for key, v in r["rows"].items():
        size = f"{v['model_bytes'] / 1e6:.2f} MB" if v.get("model_bytes") else "-"
        model = f"{v['model_images_per_second']:.1f}" if "model_images_per_second" in v else "-"
        seq = (f"{v['end_to_end_sequential_images_per_second']:.1f}"
               if "end_to_end_sequential_images_per_second" in v else "-")
        rows.append([key, v["input"], v.get("max_detections", "-"), f"{v[TABLE_KEYS[1]]:.3f}",
                     f"{v[TABLE_KEYS[0]]:.3f}", f"{v['end_to_end_images_per_second']:.1f}", seq, model, size])
    print(tabulate(rows, headers=["detector", "input", "NMS keeps", "mAP@.50IOU", "mAP", "end-to-end img/s",
                                  "sequential img/s", "model-only img/s", "model size"], tablefmt="github"))
    print("; ".join(f"{k} {v:.3f}" for k, v in r["ratios"].items()))


if __name__ == "__main__":
    main()
