"""``--report DIR``: an evaluation written as files a person can open.

``write_report_dir`` writes, each file atomically (temp file + rename):

- ``metrics.json``: ``{"format": REPORT_FORMAT, "reports": [EvaluationReport.to_dict(), ...]}``;
- ``summary.md``: the benchmark (name, id, content hash), date, tool version and hardware,
  then one Markdown table: the twelve COCO metrics (and WIDER's AP per setting under
  ``--protocol wider``) and the speed rows, one column per detector;
- ``pr_curve.png``: precision against recall at IoU 0.5 (all areas, 100 detections), one line
  per detector, its mAP@.50 in the legend;
- ``wider_pr_curves.png`` (``--protocol wider`` only): WIDER's protocol curves, one panel per
  setting (Easy, Medium, Hard), one line per detector, its AP in the legend;
- ``examples/NN_IMAGEID.png``: a few benchmark images drawn as the OD API's TensorBoard image
  panel does: detections (score >= ``score_threshold``, with scores) on the left, one panel per
  detector, the ground truth on the right, ignored regions dashed grey.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from facessd_archive.data.images import load_rgb
from facessd_archive.data.sample import Sample
from facessd_archive.evaluate.coco_metrics import ImageDetections
from facessd_archive.evaluate.evaluation import EvaluationReport
from facessd_archive.evaluate.table import SPEED_ROWS, format_metric, format_speed, metric_rows
from facessd_archive.metric_names import WIDER_METRIC_NAMES, WIDER_SETTINGS
from facessd_archive.fileio import atomic_write_bytes, atomic_write_json, atomic_write_text

REPORT_FORMAT = "facessd-evaluation-report-v1"
PANEL_SIZE = 512  # the longer side of each example panel, in pixels
HEADER_HEIGHT = 28  # title strip above each panel
PANEL_GAP = 8
DETECTION_COLOUR = (0, 220, 80)
TRUTH_COLOUR = (255, 200, 0)
IGNORE_COLOUR = (170, 170, 170)


def write_report_dir(out_dir: str | Path, reports: Sequence[EvaluationReport], samples: Sequence[Sample],
                     detections_per_report: Sequence[Sequence[ImageDetections]], num_examples: int = 4,
                     score_threshold: float = 0.3) -> Path:
    """Write the report files for ``reports`` (all on the same ``samples``) into ``out_dir``.

    ``detections_per_report[i][j]`` are report i's detections on ``samples[j]`` (pixels xyxy): an
    ``EvaluationResult``'s ``detections``. Returns ``out_dir``.
    """
    if not reports:
        raise ValueError("write_report_dir: no reports to write")
    if len(detections_per_report) != len(reports):
        raise ValueError(f"write_report_dir: {len(reports)} reports but {len(detections_per_report)} detection lists")
    for report, dets in zip(reports, detections_per_report):
        if len(dets) != len(samples):
            raise ValueError(f"write_report_dir: {report.detector} has detections for {len(dets)} images, "
                             f"the benchmark has {len(samples)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "metrics.json", {"format": REPORT_FORMAT, "reports": [r.to_dict() for r in reports]})
    atomic_write_text(out / "summary.md", summary_markdown(reports))
    atomic_write_bytes(out / "pr_curve.png", pr_curve_png(reports))
    if any(r.wider_pr for r in reports):
        atomic_write_bytes(out / "wider_pr_curves.png", wider_pr_curves_png(reports))
    for k in example_indices(len(samples), num_examples):
        sample = samples[k]
        panels = [(f"{r.detector} [{r.runtime}]", dets[k]) for r, dets in zip(reports, detections_per_report)]
        image = example_image(load_rgb(sample.image_path), sample, panels, score_threshold)
        atomic_write_bytes(out / "examples" / f"{k:03d}_{_safe_name(sample.image_id)}.png", _png(image))
    return out


# --- summary.md ----------------------------------------------------------------------------------
def summary_markdown(reports: Sequence[EvaluationReport]) -> str:
    first = reports[0]
    b = first.benchmark
    lines = [
        f"# Evaluation on {b.name}",
        "",
        f"- benchmark: `{b.name}`" + (f" (split `{b.split}`)" if b.split else "")
        + f", {b.num_images} images, {b.num_faces} faces",
        f"- benchmark id: `{b.benchmark_id}`; content hash: `{b.content_hash}`",
        f"- date: {first.date or 'n/a'}",
        f"- tool version: facessd-archive {first.tool_version}",
        f"- hardware: {first.hardware or 'n/a'}",
    ]
    others = sorted({r.benchmark.content_hash for r in reports[1:]} - {b.content_hash})
    if others:
        lines.append(f"- WARNING: some columns were measured on other benchmark contents: {', '.join(others)}")
    lines += ["", _markdown_table(reports), "",
              "COCO metrics from pycocotools (`n/a`: no ground truth in that size bucket). "
              "Speed: model alone (resized input to detections) and end to end (decode, resize, model, "
              "conversion), images per second and per-image latency."
              + (" `WIDER/AP_*`: WIDER FACE's own protocol (official val `.mat` files, Easy / Medium / Hard)."
                 if any(r.wider_pr for r in reports) else ""), ""]
    skipped = [s for r in reports for s in r.skipped]
    if skipped:
        lines += [f"{len(skipped)} item(s) skipped as bad:", ""] + [f"- {s}" for s in skipped[:20]] + [""]
    return "\n".join(lines)


def _markdown_table(reports: Sequence[EvaluationReport]) -> str:
    header = ["metric"] + [f"{_cell(r.detector)} [{_cell(r.runtime)}]" for r in reports]
    rows = [[name] + [format_metric(r.metrics.get(name)) for r in reports] for name in metric_rows(reports)]
    rows += [[label] + [format_speed(r, key, fmt) for r in reports] for key, label, fmt in SPEED_ROWS]
    out = ["| " + " | ".join(header) + " |", "|" + "|".join([" --- "] + [" ---: "] * len(reports)) + "|"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(out)


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|")


# --- pr_curve.png --------------------------------------------------------------------------------
def pr_curve_png(reports: Sequence[EvaluationReport]) -> bytes:
    """Precision vs recall at IoU 0.5, one line per report (Agg canvas: no display, no pyplot state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.8), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for r in reports:
        recall = np.asarray(r.pr_recall, dtype=float)
        precision = np.asarray(r.pr_precision, dtype=float)
        n = min(len(recall), len(precision))
        recall, precision = recall[:n], precision[:n]
        defined = precision >= 0  # -1: no ground truth
        reached = np.flatnonzero(precision > 0)  # pycocotools leaves 0 past the highest recall reached
        defined &= np.arange(n) <= (reached[-1] if len(reached) else -1)
        label = f"{r.detector} [{r.runtime}] (mAP@.50 = {format_metric(r.map50)})"
        ax.plot(recall[defined], precision[defined], label=label, linewidth=1.8)
    b = reports[0].benchmark
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(f"precision-recall at IoU 0.5: {b.name} ({b.num_images} images, {b.num_faces} faces)", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def wider_pr_curves_png(reports: Sequence[EvaluationReport]) -> bytes:
    """WIDER's protocol curves: one panel per setting, one line per report that has them."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12.8, 4.4), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(WIDER_SETTINGS), sharey=True)
    for ax, setting, metric in zip(axes, WIDER_SETTINGS, WIDER_METRIC_NAMES):
        for r in reports:
            curve = r.wider_pr.get(setting)
            if curve is None:
                continue
            label = f"{r.detector} [{r.runtime}] (AP = {format_metric(r.metrics.get(metric))})"
            ax.plot(curve["recall"], curve["precision"], label=label, linewidth=1.8)
        ax.set_xlim(0.0, 1.0)
        ax.set_ylim(0.0, 1.02)
        ax.set_xlabel("recall")
        ax.set_title(f"WIDER {setting}", fontsize=10)
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="lower left", fontsize=8)
    axes[0].set_ylabel("precision")
    b = reports[0].benchmark
    fig.suptitle(f"WIDER FACE protocol: {b.name} ({b.num_images} images)", fontsize=10)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


# --- examples/*.png ------------------------------------------------------------------------------
def example_indices(num_samples: int, num_examples: int) -> list[int]:
    """``num_examples`` indices spread evenly over the benchmark (first and last included)."""
    n = max(0, min(num_examples, num_samples))
    if n == 0:
        return []
    return sorted({int(round(i)) for i in np.linspace(0, num_samples - 1, n)})


def panel_size(height: int, width: int, size: int = PANEL_SIZE) -> tuple[int, int]:
    """(height, width) of one panel: the image scaled so its longer side is ``size``."""
    scale = size / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def example_size(height: int, width: int, num_detectors: int, size: int = PANEL_SIZE) -> tuple[int, int]:
    """(width, height) of an example PNG: ``num_detectors`` detection panels plus the ground truth."""
    ph, pw = panel_size(height, width, size)
    n = num_detectors + 1
    return n * pw + (n - 1) * PANEL_GAP, ph + HEADER_HEIGHT


def example_image(image: np.ndarray, sample: Sample, detections: Sequence[tuple[str, ImageDetections]],
                  score_threshold: float = 0.3, size: int = PANEL_SIZE) -> Image.Image:
    """Panels side by side: each detector's boxes with score >= ``score_threshold``, then the ground truth."""
    h, w = image.shape[:2]
    ph, pw = panel_size(h, w, size)
    scale = pw / w, ph / h
    base = Image.fromarray(np.asarray(image, np.uint8)).resize((pw, ph), Image.Resampling.BILINEAR)
    font = _font(14)
    label_font = _font(11)
    panels = []
    for title, det in detections:
        panel = base.copy()
        draw = ImageDraw.Draw(panel)
        scores = np.asarray(det.scores, dtype=float).reshape(-1)
        boxes = np.asarray(det.boxes, dtype=float).reshape(-1, 4)
        keep = np.flatnonzero(scores >= score_threshold)
        for i in keep[np.argsort(scores[keep])]:  # highest score drawn last, on top
            box = _scaled(boxes[i], scale)
            draw.rectangle(box, outline=DETECTION_COLOUR, width=2)
            _label(draw, box, f"{scores[i]:.2f}", DETECTION_COLOUR, label_font)
        panels.append((f"{title}: {len(keep)} with score >= {score_threshold:g}", panel))
    truth = base.copy()
    draw = ImageDraw.Draw(truth)
    for box, ignore in zip(sample.boxes, sample.ignore):
        xy = _scaled(box, scale)
        if ignore:
            _dashed_rectangle(draw, xy, IGNORE_COLOUR)
        else:
            draw.rectangle(xy, outline=TRUTH_COLOUR, width=2)
    n_ignored = int(sample.ignore.sum())
    faces = f"{sample.num_faces} face" + ("" if sample.num_faces == 1 else "s")
    panels.append((f"ground truth: {faces}" + (f", {n_ignored} ignored" if n_ignored else ""), truth))

    width, height = example_size(h, w, len(detections), size)
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    title_draw = ImageDraw.Draw(canvas)
    for j, (title, panel) in enumerate(panels):
        x = j * (pw + PANEL_GAP)
        canvas.paste(panel, (x, HEADER_HEIGHT))
        title_draw.text((x + 4, 6), _fit(title_draw, title, font, pw - 8), fill=(0, 0, 0), font=font)
    return canvas


def _scaled(box: np.ndarray, scale: tuple[float, float]) -> list[float]:
    sx, sy = scale
    x0, y0, x1, y1 = (float(v) for v in box)
    return [x0 * sx, y0 * sy, max(x1 * sx, x0 * sx + 1), max(y1 * sy, y0 * sy + 1)]


def _label(draw: ImageDraw.ImageDraw, box: list[float], text: str, colour, font) -> None:
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    tw, th = right - left + 4, bottom - top + 4
    x, y = box[0], box[1] - th if box[1] >= th else box[1]
    draw.rectangle([x, y, x + tw, y + th], fill=colour)
    draw.text((x + 2 - left, y + 2 - top), text, fill=(0, 0, 0), font=font)


def _dashed_rectangle(draw: ImageDraw.ImageDraw, box: list[float], colour, dash: float = 6.0) -> None:
    x0, y0, x1, y1 = box
    for (ax, ay), (bx, by) in (((x0, y0), (x1, y0)), ((x1, y0), (x1, y1)), ((x1, y1), (x0, y1)), ((x0, y1), (x0, y0))):
        length = float(np.hypot(bx - ax, by - ay))
        steps = max(1, int(length // dash))
        for s in range(0, steps, 2):
            t0, t1 = s / steps, min(1.0, (s + 1) / steps)
            draw.line([ax + (bx - ax) * t0, ay + (by - ay) * t0, ax + (bx - ax) * t1, ay + (by - ay) * t1],
                      fill=colour, width=2)


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)  # Pillow >= 10.1 with FreeType: a scalable font
    except (TypeError, OSError, ImportError):
        return ImageFont.load_default()


def _fit(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> str:
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "...", font=font) > width:
        text = text[:-1]
    return text + "..."


def _safe_name(image_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(image_id)).strip("._") or "image"


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
