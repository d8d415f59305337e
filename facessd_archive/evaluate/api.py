"""What ``facessd evaluate`` and ``facessd compare`` do, as library calls.

Resolves a detector spec (a stage id, a model folder or checkpoint, or a peer name) and
a benchmark spec (a path in any supported format, or nothing for the built-in synthetic
sample benchmark), runs, and returns ``EvaluationResult``s: the report (COCO metrics, and under
``--protocol wider`` WIDER FACE's own) with the detections it scored.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ContextManager, Sequence

from facessd_archive.data.sample import Sample
from facessd_archive.errors import ConfigError, DataError
from facessd_archive.evaluate.evaluation import (BenchmarkInfo, EvaluationReport, EvaluationResult, evaluate_detector,
                                                 score_detections)
from facessd_archive.evaluate.runner import BatchDetector, load_ssd_batch_detector
from facessd_archive.evaluate.strategy_runtime import StrategyRuntime

if TYPE_CHECKING:
    from facessd_archive.evaluate.wider_protocol import WiderGroundTruth

PEER_NAMES = ("yunet", "blazeface", "blazeface-short", "mtcnn", "haar")  # = peers.PEERS (no import: peers is lazy)
WIDER_EVAL_SUBDIR = Path("eval_tools") / "ground_truth"  # where WIDER FACE's evaluation code keeps its .mat files


@dataclass
class LoadedBenchmark:
    info: BenchmarkInfo
    samples: list[Sample]
    skipped: list[str]
    format: str | None = None  # the reader's format name; None for the synthetic sample benchmark
    root: Path | None = None  # the path the benchmark was loaded from
    notes: list[str] = field(default_factory=list)  # what the reader changed (e.g. faces made ignore regions)


def load_benchmark_spec(path: Path | None, fmt: str | None = None, split: Path | None = None,
                        skip_bad: bool = False, seed: int = 0) -> LoadedBenchmark:
    """A benchmark by path (format detected or ``fmt``), or the synthetic sample benchmark when ``path`` is None."""
    if path is None:
        from facessd_archive.data.synthetic.benchmark import SAMPLE_BENCHMARK_ID, sample_benchmark, sample_benchmark_hash

        samples = sample_benchmark(seed=seed)
        info = BenchmarkInfo(name=f"{SAMPLE_BENCHMARK_ID} (synthetic, seed {seed})", benchmark_id=SAMPLE_BENCHMARK_ID,
                             content_hash=sample_benchmark_hash(samples), num_images=len(samples),
                             num_faces=sum(s.num_faces for s in samples))
        return LoadedBenchmark(info, samples, [])
    from facessd_archive.data.readers.formats import benchmark_hash, load_benchmark

    bench = load_benchmark(Path(path), fmt=fmt, split=split, skip_bad=skip_bad)
    samples, skipped = list(bench.samples), list(bench.skipped)
    if skip_bad:
        samples, unreadable = _drop_unreadable(samples)
        skipped += unreadable
        if not samples:
            raise DataError(f"{path}: no readable images left after skipping {len(skipped)} bad item(s)")
    split_name = Path(split).name if split else None
    content_hash = bench.content_hash if len(samples) == len(bench.samples) else benchmark_hash(samples)
    info = BenchmarkInfo(name=bench.name, benchmark_id=f"{bench.format}:{bench.name}",
                         content_hash=content_hash, num_images=len(samples),
                         num_faces=sum(s.num_faces for s in samples), split=split_name)
    return LoadedBenchmark(info, samples, skipped, format=bench.format, root=Path(path), notes=list(bench.notes))


def _drop_unreadable(samples: list[Sample]) -> tuple[list[Sample], list[str]]:
    """With --skip-bad: decode every image once up front and drop (and name) those that fail,
    so the run and its reports only ever see readable samples."""
    from facessd_archive.data.images import load_sample_image

    kept, skipped = [], []
    for sample in samples:
        try:
            load_sample_image(sample)
        except DataError as e:
            skipped.append(str(e))
        else:
            kept.append(sample)
    return kept, skipped


@dataclass
class ResolvedDetector:
    detector: BatchDetector
    runtime: str
    stage_id: str | None = None  # set when the spec named an archived stage
    recorded: dict | None = None  # the stage's recorded evaluations (manifest entries), if any
    input_size: int | None = None  # the SSD input size, for records


def resolve_detector(spec: str | None, runtime: str = "tf", archive_root: Path | None = None,
                     max_side: int | None = None, original_size: bool = False, strategy=None,
                     batch_size: int = 8, strategy_name: str | None = None,
                     two_scale: bool | None = False, photo_max_side: int | None = None) -> ResolvedDetector:
    """``None`` -> the archive's default stage; a peer name; an existing path; else a stage id.

    ``max_side`` / ``original_size`` override the model's own resizer (``evaluate.resizing``):
    keep the aspect ratio, scale the longer side to at most ``max_side`` or not at all.
    ``strategy`` (a ``tf.distribute.Strategy``) runs the SSD graph on its replicas with static shapes,
    ``batch_size`` images a global batch (``evaluate.strategy_runtime``). ``two_scale`` adds a coarse
    pass for faces larger than the training crops (``evaluate.pyramid``; None: where it applies);
    ``photo_max_side`` caps what would run at original size (``runner.load_ssd_batch_detector``).
    """
    load = functools.partial(load_ssd_batch_detector, runtime=runtime, max_side=max_side,
                             original_size=original_size, strategy=strategy, batch_size=batch_size,
                             strategy_name=strategy_name, two_scale=two_scale, photo_max_side=photo_max_side)
    if spec in PEER_NAMES and two_scale:
        raise ConfigError(f"--two-scale applies to SSD stages, not the peer {spec!r}")
    if spec in PEER_NAMES:
        from facessd_archive.evaluate.peers import make_peer

        if runtime != "tf":
            raise ConfigError(f"--runtime {runtime} applies to SSD models, not the peer {spec!r}")
        if strategy is not None:
            raise ConfigError(f"--strategy applies to SSD models, not the peer {spec!r}")
        return ResolvedDetector(make_peer(spec), runtime="native")
    from facessd_archive.archive import open_archive, stage_weights_folder

    # A stage id wins over a path of the same name: inside a checkout every stage id is also a
    # relative path (the repository root is the archive), and a stage carries recorded figures.
    # Any other existing path is a model folder, and no archive is opened (or seeded) for it.
    if spec is not None and Path(spec).exists() and not (_looks_like_stage_id(spec) and
                                                         open_archive(archive_root).exists(spec)):
        detector, config = load(Path(spec), Path(spec).name)
        return ResolvedDetector(detector, _runtime_label(runtime, detector), input_size=config.input_size)
    archive = open_archive(archive_root)
    stage = archive.default_stage() if spec is None else archive.get(spec)
    folder = stage_weights_folder(stage.stage_id, archive=archive)
    detector, config = load(folder, stage.stage_id)
    return ResolvedDetector(detector, _runtime_label(runtime, detector), stage_id=stage.stage_id,
                            recorded=_recorded_by_benchmark(stage.manifest.evaluations),
                            input_size=config.input_size)


def _looks_like_stage_id(spec: str) -> bool:
    from facessd_archive.archive.paths import check_stage_id
    from facessd_archive.errors import UnsafePathError

    try:
        check_stage_id(spec)
    except UnsafePathError:
        return False
    return True


def _runtime_label(runtime: str, detector) -> str:
    """``tf`` for a squashed square input; ``tf, original size`` / ``tf, longer side at most 640``
    otherwise, so tables and recorded figures say how the image met the network."""
    policy = detector.policy
    if isinstance(detector.runtime, StrategyRuntime):
        runtime = detector.runtime.name  # "tf, --strategy mirrored (2 replicas)": another graph (static NMS)
    label = runtime if policy.kind == "square" else f"{runtime}, {policy.describe()}"
    return label if detector.two_scale is None else f"{label}, {detector.two_scale.describe()}"


def load_wider_protocol(benchmark: LoadedBenchmark, eval_dir: Path | None = None) -> "WiderGroundTruth":
    """The official WIDER val ground truth for ``--protocol wider``, checked against ``benchmark``: it must
    be a WIDER benchmark whose every image is a val image. ``eval_dir`` defaults to the benchmark's
    ``eval_tools/ground_truth``."""
    from facessd_archive.evaluate.wider_protocol import load_wider_ground_truth

    name = benchmark.info.name
    if benchmark.format != "wider":
        kind = f"a {benchmark.format} benchmark" if benchmark.format else "the synthetic sample benchmark"
        raise DataError(f"--protocol wider needs WIDER FACE val (--benchmark WIDER_ROOT --split val.txt); "
                        f"{name} is {kind}")
    if eval_dir is None:
        eval_dir = default_wider_eval_dir(benchmark.root)
    truth = load_wider_ground_truth(eval_dir)
    missing = truth.missing(s.image_id for s in benchmark.samples)
    if missing:
        raise DataError(f"--protocol wider needs WIDER FACE val: {len(missing)} of the {len(benchmark.samples)} "
                        f"images of {name} are not in {eval_dir}/wider_face_val.mat, e.g. {missing[0]!r}")
    return truth


def default_wider_eval_dir(root: Path | None) -> Path:
    """``<root>/eval_tools/ground_truth``; for a gt file (``wider_face_split/x.txt``), the one beside
    its folder or beside the file."""
    root = Path(root) if root is not None else Path(".")
    if root.is_dir():
        return root / WIDER_EVAL_SUBDIR
    candidates = [root.parent.parent / WIDER_EVAL_SUBDIR, root.parent / WIDER_EVAL_SUBDIR]
    return next((c for c in candidates if c.is_dir()), candidates[0])


def evaluate(detector: ResolvedDetector, benchmark: LoadedBenchmark, batch_size: int = 8,
             progress: Callable[[int], None] | None = None,
             wider: "WiderGroundTruth | None" = None) -> EvaluationResult:
    """Run and score one detector; ``wider`` (``load_wider_protocol``) adds WIDER's AP per setting."""
    return evaluate_detector(detector.detector, benchmark.samples, benchmark.info, runtime=detector.runtime,
                             batch_size=batch_size, progress=progress, skipped=benchmark.skipped, wider=wider)


def evaluate_predictions(folder: Path, benchmark: LoadedBenchmark,
                         wider: "WiderGroundTruth | None" = None) -> EvaluationResult:
    """Score detections read from a WIDER-layout predictions folder (``--predictions DIR``, made by
    ``--save-predictions`` or any WIDER tool) on ``benchmark``; every benchmark image needs a file,
    files for other images are not read into the figures. No speed: nothing was run."""
    from facessd_archive.data.images import image_size
    from facessd_archive.evaluate.prediction_files import detections_for, read_predictions

    detections = detections_for([s.image_id for s in benchmark.samples], read_predictions(folder), folder)
    sizes = []
    for s in benchmark.samples:
        width, height = (s.width, s.height) if s.width is not None else image_size(s.image_path, benchmark.info.name)
        sizes.append((height, width))
    report = score_detections(benchmark.samples, detections, sizes, benchmark.info, detector=Path(folder).name,
                              runtime="predictions", skipped=benchmark.skipped, wider=wider)
    return EvaluationResult(report, detections)


def save_predictions(out_dir: Path, benchmark: LoadedBenchmark, result: EvaluationResult) -> list[Path]:
    """``result``'s detections in WIDER's submission layout (``out_dir/<event>/<name>.txt``)."""
    from facessd_archive.evaluate.prediction_files import write_predictions

    return write_predictions(out_dir, [s.image_id for s in benchmark.samples], result.detections)


def compare_with_recorded(report: EvaluationReport, recorded_metrics: dict[str, float],
                          tolerance: float = 0.005) -> list[str]:
    """Names of metrics that differ from the recorded figures by more than ``tolerance``."""
    return [name for name, value in report.metrics.items()
            if name in recorded_metrics and abs(value - recorded_metrics[name]) > tolerance]


def recorded_verdict(detector: ResolvedDetector, report: EvaluationReport, tolerance: float = 0.005) -> str | None:
    """One line saying whether ``report`` matches the figures the stage recorded on the same
    benchmark (same id and content hash); None when the detector is not an archived stage."""
    if detector.recorded is None:
        return None
    b = report.benchmark
    entries = detector.recorded.get(b.benchmark_id, [])
    if not entries:
        return f"no figures recorded for {detector.stage_id} on {b.benchmark_id}"
    same_runtime = [e for e in entries if recorded_runtime(e) in (None, report.runtime)]
    if not same_runtime:
        return (f"the figures recorded for {detector.stage_id} on {b.benchmark_id} were measured with runtime "
                f"{recorded_runtime(entries[-1])}, this run with {report.runtime}: not compared")
    entry = same_runtime[-1]
    if entry.benchmark_hash != b.content_hash:
        return (f"the figures recorded for {detector.stage_id} were measured on another version of "
                f"{b.benchmark_id} (content hash differs): not compared")
    differing = compare_with_recorded(report, entry.metrics, tolerance)
    if differing:
        return (f"DIFFERS from the figures recorded for {detector.stage_id} ({entry.date}): "
                + ", ".join(f"{n} {report.metrics[n]:.4f} vs {entry.metrics[n]:.4f}" for n in differing))
    return f"matches the figures recorded for {detector.stage_id} ({entry.date}) within {tolerance}"


RUNTIME_NOTE = "; runtime "


def recorded_runtime(evaluation) -> str | None:
    """The runtime label a measured evaluation was recorded with (the end of its note), if it says."""
    note = evaluation.note or ""
    return note.rsplit(RUNTIME_NOTE, 1)[1] if RUNTIME_NOTE in note else None


def _recorded_by_benchmark(evaluations) -> dict[str, list]:
    """Measured evaluations by benchmark id, oldest first (a stage may record one per runtime)."""
    out: dict[str, list] = {}
    for e in evaluations:
        if e.source == "measured":
            out.setdefault(e.benchmark_id, []).append(e)
    return out


def record_evaluation(report: EvaluationReport, stage_id: str, input_size: int | None,
                      archive_root: Path | None = None) -> None:
    """Append ``report``'s metrics (the twelve COCO numbers, plus WIDER's three under ``--protocol wider``)
    to the stage's manifest as a measured evaluation."""
    from facessd_archive.archive.records import DatasetRef, Evaluation
    from facessd_archive.archive import open_archive

    b = report.benchmark
    evaluation = Evaluation.measured(DatasetRef(b.benchmark_id, split=b.split, sha256=b.content_hash),
                                     report.metrics, input_size=input_size,
                                     note=f"{b.num_images} images, {b.num_faces} faces{RUNTIME_NOTE}{report.runtime}")
    open_archive(archive_root).record_evaluation(stage_id, evaluation)


def evaluate_many(specs: Sequence[str], benchmark: LoadedBenchmark, runtime: str = "tf", batch_size: int = 8,
                  archive_root: Path | None = None, wider: "WiderGroundTruth | None" = None,
                  progress_bar: Callable[[str, int], ContextManager[Any]] | None = None,
                  max_side: int | None = None, original_size: bool = False,
                  two_scale: bool = False) -> list[EvaluationResult]:
    """Evaluate each detector spec on ``benchmark`` (peers always run natively; ``two_scale`` applies to
    the SSD stages). ``progress_bar(label, length)``, when given, makes a context manager whose
    ``update(n)`` is called as images are done."""
    results = []
    for spec in specs:
        peer = spec in PEER_NAMES
        resolved = resolve_detector(spec, runtime if not peer else "tf", archive_root,
                                    max_side=None if peer else max_side, original_size=not peer and original_size,
                                    two_scale=not peer and two_scale)
        if progress_bar is None:
            results.append(evaluate(resolved, benchmark, batch_size, wider=wider))
            continue
        with progress_bar(resolved.detector.name, len(benchmark.samples)) as bar:
            results.append(evaluate(resolved, benchmark, batch_size, progress=bar.update, wider=wider))
    return results
