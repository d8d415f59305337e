"""PNG plots of a run's curves, which a sealed stage carries: what the original experiments could
only show as TensorBoard screenshots.

``plots/loss.png``: the four OD API losses against the global step (``history.jsonl``).
``plots/map.png``: mAP, mAP@.50IOU and AR@100 against the global step (``eval_history.jsonl``),
written only when the run evaluated while training. Matplotlib's Agg canvas: no display needed.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

from facessd_archive.fileio import atomic_write_bytes
from facessd_archive.run_folder import HISTORY_FILE
from facessd_archive.train.periodic_eval import read_eval_history

PLOTS_DIR = "plots"
LOSS_PLOT = "loss.png"
MAP_PLOT = "map.png"
LOSS_NAMES = ("Loss/total_loss", "Loss/classification_loss", "Loss/localization_loss", "Loss/regularization_loss")
MAP_NAMES = ("DetectionBoxes_Precision/mAP@.50IOU", "DetectionBoxes_Precision/mAP", "DetectionBoxes_Recall/AR@100")


def _figure():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.0), dpi=100)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot(1, 1, 1)


def _png(fig) -> bytes:
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})  # no version stamp: same curves, same bytes
    return buffer.getvalue()


def curves_png(rows: list[dict], names: tuple[str, ...], title: str, ylabel: str, markers: bool = False) -> bytes:
    """One line per name present in ``rows`` (``{"step": ..., name: value}``) against the global step."""
    fig, ax = _figure()
    # A resumed run re-trains the steps after its last checkpoint: the later row of a step wins.
    rows = sorted({r["step"]: r for r in rows}.values(), key=lambda r: r["step"])
    for name in names:
        points = [(r["step"], r[name]) for r in rows if name in r and r[name] is not None and r[name] >= 0]
        if points:
            steps, values = zip(*points)
            ax.plot(steps, values, label=name.split("/", 1)[1], linewidth=1.6, marker="o" if markers else None,
                    markersize=3)
    ax.set_xlabel("global step")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    if ax.get_lines():
        ax.legend(fontsize=8)
    return _png(fig)


def write_run_plots(run_dir: Path, out_dir: Path) -> list[str]:
    """Write ``out_dir/plots/loss.png`` (and ``map.png`` when the run evaluated); returns their names."""
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    written = []
    history_path = run_dir / HISTORY_FILE
    history = ([json.loads(line) for line in history_path.read_text().splitlines() if line.strip()]
               if history_path.is_file() else [])
    if history:
        atomic_write_bytes(out_dir / PLOTS_DIR / LOSS_PLOT,
                           curves_png(history, LOSS_NAMES, f"training losses: {run_dir.name}", "loss"))
        written.append(f"{PLOTS_DIR}/{LOSS_PLOT}")
    evaluations = read_eval_history(run_dir)
    if evaluations:
        atomic_write_bytes(out_dir / PLOTS_DIR / MAP_PLOT,
                           curves_png(evaluations, MAP_NAMES, f"evaluation while training: {run_dir.name}",
                                      "COCO figure", markers=True))
        written.append(f"{PLOTS_DIR}/{MAP_PLOT}")
    return written
