"""Time to accuracy: a progressive schedule against training straight at the final size, same wall clock.

The original faceSSD experiments trained at 150x150 and continued the same weights at 360 and 512
because small inputs train faster. This measures whether that buys accuracy sooner, here:

* ``fixed``: ``--final-size`` for the whole budget;
* ``progressive``: ``--first-size`` for ``--first-share`` of the budget, then continued (by
  variable name, global step carried on, its own cosine schedule) at ``--final-size`` for the rest:
  the same ``run_schedule`` that ``facessd train --schedule`` runs, sealing its stages into a
  scratch archive under ``--out``.

Each arm first times a few steps at each of its sizes (``--calibration-steps``, the first one
traced and not counted) and turns the budget into step counts. Both train on the same data with the
same recipe (``--preset``, batch, learning rate) and are evaluated while training on the same
benchmark (``--eval-benchmark``/``--eval-split``, about ``--evals`` times each, at the end of each
stage too); ``eval_history.jsonl`` records the training seconds at each evaluation, evaluations
excluded. By default the two arms run side by side, each pinned to its own CPU core (each
TensorFlow sees one core), so the load of anything else on the machine falls on both alike;
``--sequential`` runs them one after the other on every core instead.

The result: both mAP@.50IOU-versus-training-time curves (``progressive.png``), the figures
(``progressive.json``) and the ratio the issue asked for: the training time the progressive arm
needed to reach the fixed arm's final mAP@.50IOU, over the fixed arm's training time (target <= 0.5).

    .venv/bin/python benchmarks/progressive.py --budget-minutes 30 --out /tmp/progressive
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

from facessd_archive.fileio import atomic_write_json
from facessd_archive.metric_names import METRIC_NAMES

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
MAP, MAP50 = METRIC_NAMES[0], METRIC_NAMES[1]  # "DetectionBoxes_Precision/mAP", ".../mAP@.50IOU"
ARMS = ("fixed", "progressive")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--budget-minutes", type=float, default=30.0, help="training wall time of each arm")
    p.add_argument("--final-size", type=int, default=320)
    p.add_argument("--first-size", type=int, default=160)
    p.add_argument("--first-share", type=float, default=0.5, help="share of the budget spent at --first-size")
    p.add_argument("--preset", default="wider-v2", choices=("facemask", "wider", "wider-v2"))
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--data", type=Path, action="append", default=None,
                   help="training data (repeatable; default: WIDER FACE and facemask train.txt from ../shared)")
    p.add_argument("--split", type=Path, action="append", default=None, help="one split per --data")
    p.add_argument("--eval-benchmark", type=Path, default=None, help="default: WIDER FACE from ../shared")
    p.add_argument("--eval-split", type=Path, default=None, help="default: val.txt")
    p.add_argument("--synthetic", action="store_true",
                   help="train and evaluate on the built-in synthetic sample (a smoke run, not a measurement)")
    p.add_argument("--evals", type=int, default=5, help="evaluations per arm, about evenly spaced")
    p.add_argument("--calibration-steps", type=int, default=6)
    p.add_argument("--sequential", action="store_true", help="run the arms one after the other on all cores")
    p.add_argument("--out", type=Path, required=True, help="folder for both runs and the results")
    p.add_argument("--arm", choices=ARMS, default=None, help=argparse.SUPPRESS)  # a child process's arm
    p.add_argument("--cpu", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.budget_minutes <= 0 or not 0 < args.first_share < 1 or args.evals < 1 or args.calibration_steps < 2:
        p.error("need --budget-minutes > 0, 0 < --first-share < 1, --evals >= 1, --calibration-steps >= 2")
    if not args.synthetic:
        args.data = args.data or [DATA / "wider", DATA / "facemask"]
        args.split = args.split or [Path("train.txt")] * len(args.data)
        args.eval_benchmark = args.eval_benchmark or DATA / "wider"
        args.eval_split = args.eval_split or Path("val.txt")
        if len(args.split) != len(args.data):
            p.error("give one --split per --data")
        missing = [str(d) for d in [*args.data, args.eval_benchmark] if not d.is_dir()]
        if missing:
            p.error(f"not found: {', '.join(missing)} (run beside ../shared, or pass --synthetic)")
    return args


# ---- one arm, in its own process ---------------------------------------------------------------

def run_arm(args: argparse.Namespace) -> dict:
    """Calibrate, train the arm within the budget, return its curve (written to ``OUT/ARM.json``)."""
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})  # before TensorFlow starts: its thread pools follow the affinity
    from facessd_archive.evaluate.evaluation import hardware_description
    from facessd_archive.train.periodic_eval import EvalSpec

    samples = _load_samples(args)
    spec = EvalSpec(None if args.synthetic else args.eval_benchmark,
                    None if args.synthetic else args.eval_benchmark / args.eval_split, every=1)
    sizes = [args.final_size] if args.arm == "fixed" else [args.first_size, args.final_size]
    out = args.out / args.arm
    seconds_per_step = {size: _calibrate_apart(args, samples, size, out / f"calibrate-{size}") for size in sizes}
    budget = args.budget_minutes * 60
    if args.arm == "fixed":
        shares = [1.0]
    else:
        shares = [args.first_share, 1 - args.first_share]
    steps = [max(1, int(budget * share / seconds_per_step[size])) for share, size in zip(shares, sizes)]
    every = max(1, math.ceil(sum(steps) / args.evals))
    spec = EvalSpec(spec.benchmark, spec.split, every=every)
    _say(f"{args.arm}: {' then '.join(f'{n} steps at {s}' for n, s in zip(steps, sizes))} "
         f"(calibrated {', '.join(f'{s}: {t:.2f} s/step' for s, t in seconds_per_step.items())}), "
         f"evaluating every {every} steps")
    t0 = time.perf_counter()
    run_dirs = _train_fixed(args, samples, steps[0], spec, out) if args.arm == "fixed" else \
        _train_progressive(args, samples, sizes, steps, spec, out)
    wall = time.perf_counter() - t0
    curve = _curve(run_dirs, sizes)
    result = {"arm": args.arm, "sizes": sizes, "steps": steps, "seconds_per_step": seconds_per_step,
              "eval_every": every, "process_seconds": wall, "cpu": args.cpu, "hardware": hardware_description(),
              "curve": curve}
    atomic_write_json(args.out / f"{args.arm}.json", result)
    return result


def _load_samples(args: argparse.Namespace) -> list:
    if args.synthetic:
        from facessd_archive.data.synthetic.benchmark import sample_benchmark

        return list(sample_benchmark())
    from facessd_archive.data.readers.formats import load_benchmark

    samples = []
    for root, split in zip(args.data, args.split):
        samples.extend(load_benchmark(root, split=split if split.is_absolute() else root / split).samples)
    return samples


def _options(args: argparse.Namespace, size: int, steps: int):
    from facessd_archive.train.plan import RunOptions

    return RunOptions(preset=args.preset, input_size=size, batch_size=args.batch_size, steps=steps,
                      learning_rate=args.learning_rate, warmup_steps=min(100, max(1, steps // 10)),
                      checkpoint_every=10**9)


def _calibrate_apart(args: argparse.Namespace, samples: list, size: int, run_dir: Path) -> float:
    """``_calibrate`` in a fresh process: each training input pipeline holds its decoded images in
    memory, and three of them in one process (two calibrations, then the run) ran a 24 GB machine
    out of memory on WIDER + facemask."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_calibrate, (args, samples, size, run_dir))


def _calibrate(args: argparse.Namespace, samples: list, size: int, run_dir: Path) -> float:
    """Seconds per training step at ``size`` (median over the steps after the first, which traces)."""
    import dataclasses
    import shutil
    import statistics

    from facessd_archive.train.plan import model_config_for, train_settings_for
    from facessd_archive.train.trainer import train

    shutil.rmtree(run_dir, ignore_errors=True)
    options = _options(args, size, args.calibration_steps)
    config = model_config_for(options, None)
    settings = dataclasses.replace(train_settings_for(options, config), summary_every=1)
    result = train(config, settings, samples, run_dir, progress=False)
    rates = [row["images_per_second"] for row in result.history[1:]]
    shutil.rmtree(run_dir, ignore_errors=True)
    return args.batch_size / statistics.median(rates)


def _train_fixed(args: argparse.Namespace, samples: list, steps: int, spec, out: Path) -> list[Path]:
    from facessd_archive.train.plan import model_config_for, train_settings_for
    from facessd_archive.train.trainer import train

    options = _options(args, args.final_size, steps)
    config = model_config_for(options, None)
    run_dir = out / "run"
    train(config, train_settings_for(options, config), samples, run_dir, evaluation=spec, progress=True)
    return [run_dir]


def _train_progressive(args: argparse.Namespace, samples: list, sizes: list[int], steps: list[int], spec,
                       out: Path) -> list[Path]:
    from facessd_archive.archive import open_archive
    from facessd_archive.train.progressive import ScheduleStage, run_schedule

    stages = [ScheduleStage(size, n) for size, n in zip(sizes, steps)]
    (out / "archive").mkdir(parents=True, exist_ok=True)
    run_schedule(open_archive(out / "archive"), stages, "keypoints/v1/progressive_benchmark",
                 _options(args, sizes[0], steps[0]), samples, out / "runs", evaluation=spec, progress=True)
    return [out / "runs" / f"{i + 1}-{stage.input_size}" for i, stage in enumerate(stages)]


def _curve(run_dirs: list[Path], sizes: list[int]) -> list[dict]:
    """Evaluations of the arm's runs on one clock: a later stage's training seconds follow the earlier ones'."""
    from facessd_archive.train.periodic_eval import read_eval_history

    curve, offset = [], 0.0
    for run_dir, size in zip(run_dirs, sizes):
        rows = read_eval_history(run_dir)
        for row in rows:
            curve.append({"step": row["step"], "size": size, "train_seconds": offset + row["train_seconds"],
                          MAP50: row[MAP50], MAP: row[MAP]})
        offset += rows[-1]["train_seconds"] if rows else 0.0
    return curve


# ---- the comparison ----------------------------------------------------------------------------

def compare(fixed: dict, progressive: dict, target_ratio: float = 0.5) -> dict:
    """The progressive arm's training time to reach the fixed arm's final mAP@.50IOU, and the ratio."""
    final = fixed["curve"][-1]
    reached = next((p for p in progressive["curve"] if p[MAP50] >= final[MAP50]), None)
    ratio = reached["train_seconds"] / final["train_seconds"] if reached else None
    return {"fixed_final_map50": final[MAP50], "fixed_final_map": final[MAP],
            "fixed_train_seconds": final["train_seconds"],
            "progressive_final_map50": progressive["curve"][-1][MAP50],
            "progressive_final_map": progressive["curve"][-1][MAP],
            "progressive_train_seconds": progressive["curve"][-1]["train_seconds"],
            "progressive_seconds_to_fixed_final": reached["train_seconds"] if reached else None,
            "time_ratio": ratio, "target_ratio": target_ratio,
            "target_met": ratio is not None and ratio <= target_ratio}


def plot(fixed: dict, progressive: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for arm, style in ((fixed, "o-"), (progressive, "s-")):
        minutes = [p["train_seconds"] / 60 for p in arm["curve"]]
        label = arm["arm"] + " (" + " -> ".join(str(s) for s in arm["sizes"]) + ")"
        ax.plot(minutes, [p[MAP50] for p in arm["curve"]], style, label=label)
    ax.set_xlabel("training wall time, minutes (evaluations excluded)")
    ax.set_ylabel("mAP@.50IOU")
    ax.set_title("Time to accuracy: progressive resizing vs fixed size")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(path)


def format_report(fixed: dict, progressive: dict, summary: dict) -> str:
    lines = [f"{'arm':<12} {'sizes':<12} {'steps':<12} {'s/step':<14} {'train min':>9} {'mAP@.50':>8} {'mAP':>7}"]
    for arm in (fixed, progressive):
        last = arm["curve"][-1]
        lines.append(f"{arm['arm']:<12} {'->'.join(map(str, arm['sizes'])):<12} "
                     f"{'+'.join(map(str, arm['steps'])):<12} "
                     f"{'/'.join(f'{t:.2f}' for t in arm['seconds_per_step'].values()):<14} "
                     f"{last['train_seconds'] / 60:>9.1f} {last[MAP50]:>8.3f} {last[MAP]:>7.3f}")
    if summary["time_ratio"] is None:
        lines.append(f"progressive never reached the fixed arm's final mAP@.50IOU {summary['fixed_final_map50']:.3f}")
    else:
        lines.append(f"progressive reached {summary['fixed_final_map50']:.3f} after "
                     f"{summary['progressive_seconds_to_fixed_final'] / 60:.1f} min: {summary['time_ratio']:.2f}x "
                     f"the fixed arm's time (target <= {summary['target_ratio']})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.arm is not None:
        run_arm(args)
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    forwarded = list(argv if argv is not None else sys.argv[1:])  # each arm gets the same options
    cpus = sorted(os.sched_getaffinity(0))
    parallel = not args.sequential and len(cpus) >= 2
    procs = []
    load_before = os.getloadavg()
    for i, arm in enumerate(ARMS):
        command = [sys.executable, str(Path(__file__).resolve()), *forwarded, "--arm", arm]
        if parallel:
            command += ["--cpu", str(cpus[i])]
        log = open(args.out / f"{arm}.log", "w")
        procs.append((arm, subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT), log))
        if not parallel:
            procs[-1][1].wait()
    failed = []
    for arm, proc, log in procs:
        if proc.wait() != 0:
            failed.append(f"{arm} (exit {proc.returncode}, see {args.out / (arm + '.log')})")
        log.close()
    if failed:
        print(f"progressive.py: arm(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    fixed, progressive = (json.loads((args.out / f"{arm}.json").read_text()) for arm in ARMS)
    summary = compare(fixed, progressive)
    plot(fixed, progressive, args.out / "progressive.png")
    result = {"fixed": fixed, "progressive": progressive, "summary": summary,
              "mode": "parallel, one core each" if parallel else "sequential", "budget_minutes": args.budget_minutes,
              "load_before": load_before, "load_after": os.getloadavg()}
    atomic_write_json(args.out / "progressive.json", result)
    print(format_report(fixed, progressive, summary))
    print(f"({result['mode']}; {fixed['hardware']}; load {load_before[0]:.1f} -> {result['load_after'][0]:.1f}; "
          f"figures in {args.out / 'progressive.json'}, curves in {args.out / 'progressive.png'})")
    return 0


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
