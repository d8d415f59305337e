"""``facessd import``: an Object Detection API run (folder or archive) -> a sealed stage.

The stage holds the float32 weights as the compact checkpoint every stage ships (``weights.*``,
values unchanged), ``model_config.json`` from ``pipeline.config``, and the ``pipeline.config``
itself. Its manifest's ``training`` records the global step (``steps``), what ``train_config``
says (batch size, optimizer, schedule) and, under ``settings.odapi``, the source: what was given,
the checkpoint read, and the size and sha256 of every source file.

Importing into a stage already recorded without weights (the six original experiments) fills
it as a new version (``NAME-v2``) that keeps the record's description, notes, reported figures,
parent and training facts, so the weights join the experiment they belong to.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from facessd_archive.archive.manifest import Training
from facessd_archive.archive.sealing import Archive
from facessd_archive.archive.store import Stage
from facessd_archive.errors import ConfigError, StageExistsError
from facessd_archive.model.checkpoint import export_compact
from facessd_archive.model.detector import SSDDetector
from facessd_archive.odapi.pipeline_config import ImportedPipeline, read_pipeline_config
from facessd_archive.odapi.sources import DEFAULT_MAX_EXTRACT_BYTES, PIPELINE_CONFIG, ODAPISource, open_source
from facessd_archive.odapi.tf1_checkpoint import LoadReport, load_tf1_weights


@dataclass(frozen=True)
class ImportResult:
    stage: Stage
    source: ODAPISource
    report: LoadReport
    filled_record: str | None  # the weightless stage this one fills, if any


def import_odapi(archive: Archive, path: str | Path, stage_id: str, *, step: int | None = None,
                 use_moving_averages: bool = False, password: str | None = None,
                 max_extract_bytes: int = DEFAULT_MAX_EXTRACT_BYTES, new_version: bool = False,
                 description: str | None = None, set_default: bool = False) -> ImportResult:
    """Import the OD API run at ``path`` as ``stage_id`` (see the module docstring)."""
    record = archive.get(stage_id) if archive.exists(stage_id) else None
    fills = record is not None and not record.manifest.weights.files
    if record is not None and not fills and not new_version:
        raise StageExistsError(f"{stage_id} is sealed with weights; use --new-version to import a sibling stage")
    with open_source(path, step, max_bytes=max_extract_bytes, password=password) as source:
        pipeline = read_pipeline_config(source.pipeline_config)
        if fills:
            assert record is not None
            _check_record_size(record, pipeline)
        detector = SSDDetector(pipeline.model_config)
        report = load_tf1_weights(detector, str(source.prefix), use_moving_averages=use_moving_averages)
        training = _training(pipeline, source, report, use_moving_averages)
        kwargs: dict = {"description": description, "notes": pipeline.notes}
        if fills:
            assert record is not None
            training, kwargs = _fill_record(record, pipeline, training, kwargs)
        with tempfile.TemporaryDirectory(prefix=".facessd-import-stage-") as tmp:
            folder = Path(tmp)
            export_compact(detector, folder, dtype="float32")
            shutil.copyfile(source.pipeline_config, folder / PIPELINE_CONFIG)
            stage = archive.seal(stage_id, folder, pipeline.model_config, training,
                                 new_version=new_version or fills, set_default=set_default, **kwargs)
    return ImportResult(stage, source, report, stage_id if fills else None)


def _training(pipeline: ImportedPipeline, source: ODAPISource, report: LoadReport,
              use_moving_averages: bool) -> Training:
    t = pipeline.training
    settings = {"odapi": {
        **t.to_dict(),
        "source": {"given": Path(source.origin).name, "checkpoint": source.prefix.name, "global_step": report.global_step,
                   "use_moving_averages": use_moving_averages,
                   "files": [{"path": name, "size": size, "sha256": digest}
                             for name, (size, digest) in sorted(source.files.items())]},
    }}
    notes = [f"Imported from a TF Object Detection API checkpoint ({source.prefix.name}, global step "
             f"{report.global_step if report.global_step is not None else 'unknown'})"
             + (", moving averages of the weights" if use_moving_averages else "") + "."]
    return Training(input_size=pipeline.model_config.input_size, steps=report.global_step or None,
                    batch_size=t.batch_size, optimizer=t.optimizer, learning_rate=t.learning_rate,
                    schedule=t.schedule, settings=settings, notes=tuple(notes))


def _check_record_size(record: Stage, pipeline: ImportedPipeline) -> None:
    """A checkpoint of another input size is not the recorded experiment's (checked before any work)."""
    recorded = record.manifest.training.input_size
    size = pipeline.model_config.input_size
    if recorded is not None and recorded != size:
        raise ConfigError(f"pipeline.config resizes to {size}x{size}, but {record.stage_id} was recorded at "
                          f"{recorded}; is this the right checkpoint?")


def _fill_record(record: Stage, pipeline: ImportedPipeline, training: Training, kwargs: dict) -> tuple[Training,
                                                                                                         dict]:
    """Carry a weightless record's facts into the stage that brings its weights."""
    m = record.manifest
    recorded = m.training
    notes = list(recorded.notes) + list(training.notes)
    if recorded.steps is not None and training.steps is not None and recorded.steps != training.steps:
        notes.append(f"The record said {recorded.steps} steps; the checkpoint's global step is {training.steps}.")
    training = dataclasses.replace(
        training, hardware=recorded.hardware, dataset=recorded.dataset,
        batch_size=training.batch_size if training.batch_size is not None else recorded.batch_size,
        notes=tuple(notes))
    record_notes = tuple(n for n in m.notes if "pipeline.config is not available" not in n)
    kwargs = {**kwargs, "description": kwargs["description"] or m.description,
              "notes": record_notes + tuple(kwargs["notes"]) +
              (f"Fills the weightless record {record.stage_id} with the weights of its original checkpoint.",),
              "evaluations": m.evaluations, "reference_benchmark": m.reference_benchmark, "parent": m.parent}
    return training, kwargs
