"""Middlebury 2003 stereo scenes with measured disparity (Scharstein & Szeliski, CVPR 2003), read
in place from a folder laid out as ``ROOT/<scene>/image.png`` + ``ROOT/<scene>/disp2.png``
(disparity in pixels times a scale; 0 = unknown), plus scikit-image's motorcycle.

Each scene comes with a subject point (a "click") used by the real-photo benchmark: cones, the
mask; teddy, the green frog; motorcycle, the fuel tank.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from bokeh.data.synth import RealDepthSample, motorcycle_sample
from bokeh.depth.files import read_depth_map
from bokeh.errors import DatasetNotFoundError

__all__ = ["SCENES", "load_middlebury"]

# scene -> subject point (x, y) in the stored image
SCENES = {"cones": (620.0, 460.0), "teddy": (170.0, 300.0), "motorcycle": None}


def load_middlebury(root: str | os.PathLike | None, scene: str) -> RealDepthSample:
    """A scene as :class:`~bokeh.data.synth.RealDepthSample`: float32 image in [0, 1],
    normalised disparity (unknown pixels filled from their nearest known neighbours), the mask
    of measured pixels and the subject point. ``motorcycle`` needs no ``root``.

    Raises :class:`~bokeh.errors.DatasetNotFoundError` for an unknown scene or missing files.
    """
    if scene not in SCENES:
        raise DatasetNotFoundError(f"Unknown scene {scene!r}; known: {', '.join(SCENES)}.")
    if scene == "motorcycle":
        return motorcycle_sample()
    folder = Path(root or "") / scene
    image_path, disp_path = folder / "image.png", folder / "disp2.png"
    if not (image_path.is_file() and disp_path.is_file()):
        raise DatasetNotFoundError(f"{folder} needs image.png and disp2.png.")
    with Image.open(image_path) as im:
        image = np.asarray(im.convert("RGB"), dtype=np.float32) / np.float32(255)
    with Image.open(disp_path) as im:
        raw = np.asarray(im)
    read = read_depth_map(raw, kind="disparity", invalid=0)
    if read.disparity.shape != image.shape[:2]:
        raise DatasetNotFoundError(f"{disp_path} does not match the size of {image_path}.")
    return RealDepthSample(
        name=scene,
        image=image,
        disparity=read.disparity,
        valid=raw > 0,
        focus=SCENES[scene],
        source=f"Middlebury 2003 {scene!r} ({folder}), measured disparity, 0 = unknown",
    )
