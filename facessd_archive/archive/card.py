"""The model card ``README.md`` of a stage, generated from its manifest.

The card is a view of ``stage.json``, never edited by hand: it is rewritten whenever the
manifest changes (seal, a recorded evaluation, a push) and ``verify`` reports a card that no
longer matches. Its YAML header is the Hub's model-card metadata (library, tags, pipeline,
metrics and a ``model-index`` with every evaluation), built with huggingface_hub's own
``ModelCardData`` so the Hub reads it as it reads any model card.
"""

from __future__ import annotations

from facessd_archive.archive.manifest import TOOL_NAME, Evaluation, Manifest
from facessd_archive.metric_names import METRIC_NAMES, WIDER_METRIC_NAMES

TAGS = ("face-detection", "object-detection", "ssd", "mobilenet-v1", "tensorflow", TOOL_NAME)
# feature_extractor -> (name in prose, Hub tag); MobileNetV1 cards read exactly as before.
_EXTRACTORS = {"ssd_mobilenet_v1": ("MobileNetV1", "mobilenet-v1"), "ssd_mobilenet_v2": ("MobileNetV2", "mobilenet-v2")}


def _extractor(m: Manifest) -> tuple[str, str, str]:
    """(prose name, Hub tag, OD API extractor type) of the stage's feature extractor."""
    kind = m.model_config.feature_extractor
    prose, tag = _EXTRACTORS[kind]
    return prose, tag, kind
_SHORT = {name: name.split("/", 1)[1] for name in METRIC_NAMES + WIDER_METRIC_NAMES}  # "mAP@.50IOU", "AP_easy"
_TABLE_METRICS = METRIC_NAMES[:3]


def _table_metrics(evaluations: tuple[Evaluation, ...]) -> tuple[str, ...]:
    """The COCO columns, plus WIDER's three when any evaluation has them (so older cards are unchanged)."""
    wider = any(n in ev.metrics for ev in evaluations for n in WIDER_METRIC_NAMES)
    return _TABLE_METRICS + (WIDER_METRIC_NAMES if wider else ())


def _value(v: float | None) -> str:
    if v is None:
        return "-"
    if v < 0:
        return "n/a"
    return f"{v:.3f}"


def card_metadata(manifest: Manifest) -> str:
    """The YAML header (without the ``---`` fences)."""
    from huggingface_hub import EvalResult, ModelCardData

    results = []
    for ev in manifest.evaluations:
        for name in METRIC_NAMES + WIDER_METRIC_NAMES:
            value = ev.metrics.get(name)
            if value is None or value < 0:
                continue
            suffix = " (reported)" if ev.source == "reported" else ""
            results.append(EvalResult(
                task_type="object-detection", task_name="Face detection",
                dataset_type=ev.benchmark.id, dataset_name=ev.benchmark.id,
                dataset_split=ev.benchmark.split, dataset_revision=ev.benchmark.sha256,
                metric_type=_SHORT[name], metric_name=name + suffix, metric_value=round(float(value), 6),
                verified=False))
    tags = [_extractor(manifest)[1] if t == "mobilenet-v1" else t for t in TAGS]
    data = ModelCardData(library_name=TOOL_NAME, tags=tags, pipeline_tag="object-detection",
                         metrics=["mAP"], model_name=manifest.stage_id, eval_results=results or None)
    return data.to_yaml()


def _facts(m: Manifest) -> list[str]:
    t = m.training
    cfg = m.model_config
    parent = "none (trained from scratch or origin unknown)"
    if m.parent is not None:
        pinned = f" (content `{m.parent.content_hash[:12]}`)" if m.parent.content_hash else " (content hash unknown)"
        parent = f"`{m.parent.stage_id}`{pinned}"
    training = ", ".join(x for x in (
        f"{t.steps:,} steps" if t.steps else "steps unknown",
        f"batch {t.batch_size}" if t.batch_size else "batch size unknown",
        t.optimizer and f"optimizer {t.optimizer}" + (f" (lr {t.learning_rate:g})" if t.learning_rate else ""),
        t.schedule, t.hardware and f"on {t.hardware}") if x)
    dataset = "unknown"
    if t.dataset is not None:
        dataset = f"`{t.dataset.id}`" + (f", split `{t.dataset.split}`" if t.dataset.split else "")
    rows = [
        ("Stage", f"`{m.stage_id}`"),
        ("Parent", parent),
        ("Model", f"SSD-{_extractor(m)[0]}, depth multiplier {cfg.depth_multiplier:g}, "
                  f"{cfg.num_classes} class ({', '.join(cfg.class_names)})"),
        ("Input size", _input_size(cfg)),
        ("Training", training),
        ("Training data", dataset),
        ("Weights", m.weights.describe() + (f" ({m.weights.note})" if m.weights.note else "")),
        ("Content hash", f"`{m.content_hash}`"),
    ]
    return ["| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows]


def _input_size(cfg) -> str:
    if cfg.resizer.kind == "keep_aspect_ratio":
        limit = f"longer side at most {cfg.resizer.max_dimension}" if cfg.resizer.max_dimension else "original size"
        return (f"trained on {cfg.input_size}x{cfg.input_size} crops; runs at any shape ({limit} by default, "
                f"padded to a multiple of {max(cfg.resizer.pad_to_multiple, 32)})")
    return f"{cfg.input_size}x{cfg.input_size}"


def _evaluation_rows(evaluations: tuple[Evaluation, ...]) -> list[str]:
    columns = _table_metrics(evaluations)
    head = "| Benchmark | Source | Date | " + " | ".join(_SHORT[n] for n in columns) + " | Tool |"
    lines = [head, "|" + "---|" * (len(columns) + 4)]
    for ev in evaluations:
        bench = ev.benchmark.id + (f" ({ev.benchmark.split})" if ev.benchmark.split else "")
        tool = (ev.tool.name + (f" {ev.tool.version}" if ev.tool.version else "")) if ev.tool else "-"
        values = " | ".join(_value(ev.metrics.get(n)) for n in columns)
        lines.append(f"| {bench} | {ev.source} | {(ev.date or 'unknown')[:10]} | {values} | {tool} |")
    return lines


_PLOT_TITLES = {"plots/loss.png": "Training losses", "plots/map.png": "mAP while training"}


def _plot_links(m: Manifest) -> list[str]:
    """Markdown image links to the stage's PNG curves (``train/plots.py``), relative to the card."""
    return [f"![{_PLOT_TITLES.get(f.path, f.path)}]({f.path})" for f in m.files
            if f.path.startswith("plots/") and f.path.endswith(".png")]


def render_card(manifest: Manifest) -> str:
    """The full README.md text for ``manifest`` (deterministic: same manifest, same bytes)."""
    m = manifest
    out = ["---", card_metadata(m).rstrip("\n"), "---", "", f"# {m.stage_id}", ""]
    if m.description:
        out += [m.description, ""]
    prose, _, kind = _extractor(m)
    out += [f"A stage of a facessd-archive: an SSD-{prose} face detector (TF Object Detection API "
            f"`{kind}` family). This card is generated from `stage.json`; do not edit it.", ""]
    out += _facts(m) + [""]
    out += ["## Evaluations", ""]
    if m.evaluations:
        out += _evaluation_rows(m.evaluations) + [""]
        out += ["*reported*: copied from the original experiment's notes, not re-run here. "
                "*measured*: computed by facessd-archive (pycocotools, the Object Detection API's metric names).",
                ""]
        notes = [f"- {ev.benchmark.id} ({ev.source}): {ev.note}" for ev in m.evaluations if ev.note]
        out += notes + ([""] if notes else [])
    else:
        out += ["None recorded yet.", ""]
    all_notes = list(m.notes) + list(m.training.notes)
    if all_notes:
        out += ["## Notes", ""] + [f"- {n}" for n in all_notes] + [""]
    plots = _plot_links(m)
    if plots:  # only stages sealed with plots/ get this section: older cards stay byte for byte
        out += ["## Training curves", ""] + plots + [""]
    out += ["## Files", ""]
    if m.files:
        out += ["| File | Bytes | sha256 |", "|---|---|---|"]
        out += [f"| `{f.path}` | {f.size} | `{f.sha256}` |" for f in m.files] + [""]
    else:
        out += ["No files are available for this stage.", ""]
    out += ["## Use", ""]
    if m.weights.available:
        out += ["```", f"facessd pull {m.stage_id}", f"facessd verify {m.stage_id}",
                f"facessd evaluate {m.stage_id}", "```", ""]
    else:
        out += ["No weights are available for this stage: it records the experiment and what is known "
                f"about it (`facessd show {m.stage_id}`, `facessd lineage {m.stage_id}`).", ""]
    return "\n".join(out)
