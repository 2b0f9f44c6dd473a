"""Blurring at reduced resolution: area downsampling, bilinear upsampling, compensated kernels.

A level with a large blur is blurred at 1/s of the resolution (s a power of two): its layer is
area-downsampled by s (the mean of each s x s block), convolved with a low-resolution kernel,
and the composite it joins is upsampled by bilinear x2 steps. Both resampling steps attenuate
frequencies that the low resolution can still carry: at its Nyquist limit the s x s mean keeps
about 0.7 of the amplitude and a bilinear x2 step 0.35. :func:`lowres_kernel` divides the
full-resolution kernel's spectrum by both responses, so that the three steps together come
close to the full-resolution convolution (against an exact full-resolution render, about 10 dB
closer than the low-resolution kernel alone on photos with measured depth).
"""

from __future__ import annotations

import numpy as np

from bokeh.renderers import native

__all__ = [
    "area_downsample",
    "lowres_kernel",
    "lowres_kernels",
    "lowres_width",
    "resampling_response",
    "upsample2",
]

_PAD = 2  # low-resolution taps added on each side for the compensation's ringing


def area_downsample(stack: np.ndarray, s: int) -> np.ndarray:
    """Mean of each s x s block over the last two axes of a (..., h, w) stack; s a power of
    two dividing h and w.

    Returns (..., h/s, w/s) float32 (the input itself when s is 1).
    """
    if s < 1 or s & (s - 1):
        raise ValueError(f"s must be a power of two, got {s}")
    if s == 1:
        return stack
    *lead, h, w = stack.shape
    flat = np.ascontiguousarray(stack, dtype=np.float32).reshape(-1, h, w)
    out = np.empty((flat.shape[0], h // s, w // s), np.float32)
    native.area_mean(flat, s, 0, h, out)  # one compiled pass
    return out.reshape(*lead, h // s, w // s)


def upsample2(stack: np.ndarray) -> np.ndarray:
    """Bilinear x2 upsampling of a (C, h, w) stack (pixel centres aligned as in
    ``F.interpolate(..., align_corners=False)``, edges clamped): (C, 2h, 2w) float32."""
    stack = np.ascontiguousarray(stack, dtype=np.float32)
    c, h, w = stack.shape
    out = np.empty((c, 2 * h, 2 * w), np.float32)
    native.upsample2_rows(stack, 0, h, out)
    return out


def resampling_response(f: np.ndarray, s: int) -> np.ndarray:
    """Amplitude response, at full-resolution frequencies ``f`` (cycles per pixel, any shape),
    of an s x s mean followed by log2(s) bilinear x2 steps, along one axis."""
    f = np.asarray(f, dtype=np.float64)
    sin_f = np.sin(np.pi * f)
    safe = np.where(np.abs(sin_f) < 1e-12, 1.0, sin_f)
    down = np.where(np.abs(sin_f) < 1e-12, 1.0, np.sin(np.pi * f * s) / (s * safe))
    up = np.ones_like(f)
    step = 1
    while step < s:  # one bilinear x2 step on a grid of spacing `step`: taps 3/4, 1/4
        g = f * step
        up *= 0.75 * np.cos(np.pi * g) + 0.25 * np.cos(3 * np.pi * g)
        step *= 2
    return down * up


def lowres_kernel(kernel: np.ndarray, s: int) -> np.ndarray:
    """The low-resolution kernel that, between an s x s mean and bilinear x2 upsampling,
    best reproduces a full-resolution ``kernel``.

    Args:
        kernel: (2R+1, 2R+1) full-resolution convolution kernel.
        s: downsampling factor, a power of two >= 2.

    Returns:
        (2Q+1, 2Q+1) float32 kernel summing to 1, Q = ceil(R / s) + 2: the full-resolution
        kernel's spectrum below the low-resolution Nyquist limit divided by the response of
        the resampling (:func:`resampling_response`), sampled back into space.
    """
    if s < 2 or s & (s - 1):
        raise ValueError(f"s must be a power of two >= 2, got {s}")
    k = np.asarray(kernel, dtype=np.float64)
    r = k.shape[0] // 2
    q = -(-r // s) + _PAD
    f = np.fft.fftfreq(2 * q + 1) / s  # the low-resolution DFT grid, in full-resolution units
    e = np.exp(-2j * np.pi * np.outer(f, np.arange(-r, r + 1)))
    spectrum = e @ k @ e.T
    h = np.maximum(resampling_response(f, s), 0.1)
    low = np.fft.fftshift(np.real(np.fft.ifft2(spectrum / np.outer(h, h))))
    return (low / low.sum()).astype(np.float32)


def lowres_width(width: int, s: int) -> int:
    """The side of :func:`lowres_kernel`'s result for a ``width`` x ``width`` kernel."""
    return 2 * (-(-(width // 2) // s) + _PAD) + 1


def lowres_kernels(kernels: np.ndarray, s: int) -> np.ndarray:
    """:func:`lowres_kernel` of each kernel of a (..., 2R+1, 2R+1) stack, without the
    normalisation: each result keeps its kernel's sum. Returns (..., 2Q+1, 2Q+1) float64."""
    if s < 2 or s & (s - 1):
        raise ValueError(f"s must be a power of two >= 2, got {s}")
    k = np.asarray(kernels, dtype=np.float64)
    r = k.shape[-1] // 2
    q = -(-r // s) + _PAD
    f = np.fft.fftfreq(2 * q + 1) / s
    e = np.exp(-2j * np.pi * np.outer(f, np.arange(-r, r + 1)))
    spectrum = e @ k @ e.T
    h = np.maximum(resampling_response(f, s), 0.1)
    return np.fft.fftshift(np.real(np.fft.ifft2(spectrum / np.outer(h, h))), axes=(-2, -1))
