"""The kernels the lens renderer blurs each level with (:class:`LevelKernels`).

``kernels(k, s)`` is level k's kernel at downsampling factor s (compensated for the resampling,
:func:`bokeh.renderers.resample.lowres_kernel`), in one of three forms that
:mod:`bokeh.renderers.levels` blurs with:

- a (K, K) array, one kernel for every channel: the plain aperture (the default, cached as it
  always was), or a bubble or ring spot;
- a (4, K, K) array, one kernel per channel (red, green, blue, alpha): chromatic aberration;
- a :class:`KernelField`, kernels that depend on the position in the frame (cat-eye), given
  per block of the image by :meth:`KernelField.at`.

A :class:`KernelField` block kernel is a *gather* kernel that reproduces scattering: the tap at
offset o of the block centred at c holds the spot of the point at c - o, where the light it
brings comes from, ``pupil(o; c - o) / norm(c - o)`` (:func:`bokeh.renderers.character.pupil`),
so that every point's light still sums to 1. ``norm`` (a spot's total before normalisation,
smooth in the position) comes from a table over the frame, interpolated bilinearly.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from bokeh.renderers.aperture import aperture_kernel
from bokeh.renderers.character import (
    CA_SPREAD,
    CAT_EYE_SHIFT,
    PLAIN,
    Character,
    character_kernel,
    frame_position,
    half_diagonal,
    half_width,
    outer_radius,
    pupil,
)
from bokeh.renderers.resample import lowres_kernel, lowres_kernels, lowres_width

_TABLE_REACH = 1.5  # the norm table covers frame positions |u| <= this (padding included)
_TABLE_STEP_PX = 2.0  # ... on a grid whose step moves the barrel's disc by about this much
_TABLE_MAX = 33  # ... of at most this many points per axis
_CHUNK_TAPS = 1 << 22  # spots evaluated at once (memory)


def trimmed(kernel: np.ndarray) -> np.ndarray:
    """``kernel`` ((K, K) or (C, K, K)) without the all-zero outer rings its channels share
    (a soft disc's outermost ring is always empty): the same convolution, fewer taps."""
    while kernel.shape[-1] > 1 and not (
        kernel[..., [0, -1], :].any() or kernel[..., :, [0, -1]].any()
    ):
        kernel = kernel[..., 1:-1, 1:-1]
    return kernel


@lru_cache(maxsize=512)
def plain_kernel(radius: float, s: int, blades: int, rotation: float) -> np.ndarray:
    """The aperture's kernel of ``radius`` at downsampling factor s (cached)."""
    kernel = trimmed(aperture_kernel(radius, blades=blades, rotation=rotation, softness=1.0))
    return kernel if s == 1 else lowres_kernel(kernel, s)


@lru_cache(maxsize=256)
def _spot_kernels(radius: float, s: int, blades: int, rotation: float, character: Character,
                  front: bool) -> np.ndarray:  # fmt: skip
    """A position-independent character's kernel at factor s: (K, K), or (4, K, K) per
    channel with chromatic aberration."""
    scales = character.channel_scales(front=front)
    lens = {"blades": blades, "rotation": rotation, "character": character, "front": front}
    if not character.chromatic_aberration:
        kernel = trimmed(character_kernel(radius, **lens))
        return kernel if s == 1 else lowres_kernel(kernel, s)
    half = half_width(radius * max(scales), blades) if radius * max(scales) >= 0.5 else 0
    red, green, blue = (character_kernel(radius * f, half=half, **lens) for f in scales)
    stack = trimmed(np.stack([red, green, blue, green]))
    if s == 1:
        return stack
    return np.stack([lowres_kernel(kernel, s) for kernel in stack])


class _NormTable:
    """A spot's total (before normalisation) over frame positions, interpolated bilinearly."""

    def __init__(self, radius: float, half: int, lens: dict):
        shift = CAT_EYE_SHIFT * lens["character"].cat_eye * outer_radius(radius, lens["blades"])
        n = int(min(_TABLE_MAX, max(5, math.ceil(2 * _TABLE_REACH * shift / _TABLE_STEP_PX) + 1)))
        self.grid = np.linspace(-_TABLE_REACH, _TABLE_REACH, n)
        oy, ox = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float64)
        uy, ux = (a.ravel() for a in np.meshgrid(self.grid, self.grid, indexing="ij"))
        per = max(1, _CHUNK_TAPS // ox.size)
        sums = [
            pupil(ox, oy, radius=radius, ux=ux[i : i + per, None, None],
                  uy=uy[i : i + per, None, None], **lens).sum(axis=(1, 2))
            for i in range(0, len(ux), per)
        ]  # fmt: skip
        self.values = np.maximum(np.concatenate(sums).reshape(n, n), 1e-12)

    def __call__(self, uy: np.ndarray, ux: np.ndarray) -> np.ndarray:
        n = len(self.grid)
        scale = (n - 1) / (2 * _TABLE_REACH)
        fy = np.clip((uy + _TABLE_REACH) * scale, 0, n - 1)
        fx = np.clip((ux + _TABLE_REACH) * scale, 0, n - 1)
        iy, ix = np.minimum(fy.astype(np.int64), n - 2), np.minimum(fx.astype(np.int64), n - 2)
        ty, tx = fy - iy, fx - ix
        v = self.values
        top = v[iy, ix] * (1 - tx) + v[iy, ix + 1] * tx
        bottom = v[iy + 1, ix] * (1 - tx) + v[iy + 1, ix + 1] * tx
        return top * (1 - ty) + bottom * ty


class KernelField:
    """Level kernels that depend on the position in the frame (a cat-eye): see the module
    docstring. ``width(s)`` is their side at factor s; ``at(centres, s)`` the kernels of the
    blocks centred at ``centres``."""

    def __init__(self, radius: float, *, blades: int, rotation: float, character: Character,
                 front: bool, frame: tuple[int, int]):  # fmt: skip
        self.radius, self.frame = radius, frame
        self.scales = character.channel_scales(front=front)
        self.lens = {"blades": blades, "rotation": rotation, "character": character,
                     "front": front}  # fmt: skip
        self.half = half_width(radius * max(self.scales), blades)
        self._norms: dict[float, _NormTable] = {}

    def width(self, s: int) -> int:
        return 2 * self.half + 1 if s == 1 else lowres_width(2 * self.half + 1, s)

    def _norm(self, scale: float) -> _NormTable:
        if scale not in self._norms:  # a race computes it twice: harmless
            self._norms[scale] = _NormTable(self.radius * scale, self.half, self.lens)
        return self._norms[scale]

    def at(self, centres: np.ndarray, s: int) -> np.ndarray:
        """(N, 4, k, k) float32 kernels (red, green, blue, alpha) of the blocks centred at
        ``centres`` ((N, 2) rows and columns, full-resolution pixels), at factor s."""
        centres = np.asarray(centres, np.float64).reshape(-1, 2)
        h = self.half
        oy, ox = np.mgrid[-h : h + 1, -h : h + 1].astype(np.float32)
        # the tap at offset o brings light from c - o: its frame position, per block and tap
        uy0, ux0 = frame_position(centres[:, 0], centres[:, 1], self.frame)
        step = 1.0 / half_diagonal(self.frame)  # one pixel in frame-position units
        uy = uy0.astype(np.float32)[:, None, None] - np.float32(step) * oy
        ux = ux0.astype(np.float32)[:, None, None] - np.float32(step) * ox
        by_scale = {}
        for scale in dict.fromkeys(self.scales):
            radius = self.radius * scale
            if radius < 0.5:  # the point itself
                spot = np.zeros((len(centres), 2 * h + 1, 2 * h + 1), np.float32)
                spot[:, h, h] = 1.0
            else:
                spot = pupil(ox, oy, radius=radius, ux=ux, uy=uy, **self.lens)
                spot /= self._norm_near(scale, uy0, ux0, step, oy, ox)
            by_scale[scale] = spot if s == 1 else lowres_kernels(spot, s)
        r, g, b = (by_scale[f] for f in self.scales)
        return np.stack([r, g, b, g], axis=1).astype(np.float32, copy=False)

    def _norm_near(self, scale, uy0, ux0, step, oy, ox) -> np.ndarray:
        """The norm at c - o for every block centre c and tap o, to first order around c
        (the norm changes slowly over a spot's width): (N, k, k) float32."""
        table, e = self._norm(scale), 1e-2
        n0 = table(uy0, ux0)
        gy = (table(uy0 + e, ux0) - table(uy0 - e, ux0)) / (2 * e) * step
        gx = (table(uy0, ux0 + e) - table(uy0, ux0 - e)) / (2 * e) * step
        f32 = np.float32
        return (n0.astype(f32)[:, None, None] - gy.astype(f32)[:, None, None] * oy
                - gx.astype(f32)[:, None, None] * ox)  # fmt: skip


class LevelKernels:
    """``kernels(k, s)``: the kernel of level k (signed radius ``levels[k]``) at factor s, for
    an aperture (``blades``, ``rotation``) with a ``character`` on a frame of ``frame`` (H, W).

    ``spread``: the largest channel radius over the level's radius (chromatic aberration).
    """

    def __init__(self, levels: np.ndarray, *, blades: int, rotation: float,
                 character: Character = PLAIN, frame: tuple[int, int]):  # fmt: skip
        self.levels, self.blades, self.rotation = levels, int(blades), round(float(rotation), 4)
        self.character, self.frame = character, frame
        self.spread = 1.0 + CA_SPREAD * character.chromatic_aberration
        self._fields: dict[int, KernelField] = {}

    def __call__(self, k: int, s: int):
        level = float(self.levels[k])
        radius, front = round(abs(level), 4), level > 0
        if self.character.plain:
            kernel = plain_kernel(radius, s, self.blades, self.rotation)
            # in front of the focal plane the spot is turned by 180 degrees
            return kernel[::-1, ::-1] if front and self.blades % 2 else kernel
        if not self.character.varies:
            return _spot_kernels(radius, s, self.blades, self.rotation, self.character, front)
        if k not in self._fields:
            self._fields[k] = KernelField(radius, blades=self.blades, rotation=self.rotation,
                                          character=self.character, front=front,
                                          frame=self.frame)  # fmt: skip
        return self._fields[k]


def kernel_width(kernel) -> int:
    """The side of a kernel as :class:`LevelKernels` gives it (array or field), at factor 1."""
    return kernel.width(1) if isinstance(kernel, KernelField) else kernel.shape[-1]


__all__ = ["KernelField", "LevelKernels", "kernel_width", "plain_kernel", "trimmed"]
