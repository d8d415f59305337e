"""Hand-made WIDER FACE evaluation files: the structures ``scipy.io.loadmat`` returns, and real .mat files.

An image is ``(event, name, boxes, settings)``: ``boxes`` [G, 4] ``x, y, w, h`` pixels, ``settings``
maps ``easy`` / ``medium`` / ``hard`` to the 1-based indices of the faces that count there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

SETTINGS = ("easy", "medium", "hard")
WiderImage = tuple[str, str, Sequence[Sequence[float]], dict[str, Sequence[int]]]


def _cell(items: list) -> np.ndarray:
    """A MATLAB cell array as loadmat gives it: an [N, 1] object array."""
    out = np.empty((len(items), 1), dtype=object)
    for i, item in enumerate(items):
        out[i, 0] = item
    return out


def mat_dicts(images: Sequence[WiderImage]) -> tuple[dict, dict[str, dict]]:
    """(``wider_face_val.mat``, {setting: ``wider_<setting>_val.mat``}) as loadmat dictionaries."""
    events: dict[str, list[WiderImage]] = {}
    for image in images:
        events.setdefault(image[0], []).append(image)
    face = {
        "event_list": _cell([np.array([e]) for e in events]),
        "file_list": _cell([_cell([np.array([im[1]]) for im in ims]) for ims in events.values()]),
        "face_bbx_list": _cell([_cell([np.array(im[2], dtype=np.float64).reshape(-1, 4) for im in ims])
                                for ims in events.values()]),
    }
    settings = {s: {"gt_list": _cell([_cell([np.array(im[3].get(s, []), dtype=np.uint16).reshape(-1, 1)
                                             for im in ims]) for ims in events.values()])}
                for s in SETTINGS}
    return face, settings


def write_mats(folder: Path, images: Sequence[WiderImage]) -> Path:
    """The four official file names under ``folder``, written with ``scipy.io.savemat``."""
    from scipy.io import savemat

    folder.mkdir(parents=True, exist_ok=True)
    face, settings = mat_dicts(images)
    savemat(folder / "wider_face_val.mat", face)
    for s, mat in settings.items():
        savemat(folder / f"wider_{s}_val.mat", {**face, **mat})
    return folder
