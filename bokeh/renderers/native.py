"""Compiled loops of the lens renderer's fine stage (numba, ``nogil``: they run in parallel on
the renderer's worker threads).

The fine stage (:meth:`bokeh.renderers.levels.Levels.composite_fine`) blurs each full-resolution
level on the 16 x 16 blocks it reaches: building the level's premultiplied layer on each block
with its halo, convolving it, and compositing the blurred blocks into the accumulator used to
be a dozen numpy passes each, with fancy indexing copies. Each is one pass here. A level with
one kernel is built and blurred in one pass (:func:`blurred_runs`, by column sums: a few taps
per column for an aperture); kernels per block or per channel go through ``torch.conv2d``.

Compiled on first use and cached on disk (``cache=True``): the first render on a new machine
waits a few seconds.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from bokeh.renderers import fill_native

MODES = {"over": 0, "under": 1, "add": 2}


def compiled_loops() -> dict[str, int]:
    """How many compiled versions each loop of this module and of
    :mod:`bokeh.renderers.fill_native` has in this process (numba compiles or loads one per set
    of argument types, on first use; see :func:`bokeh.renderers.lens.warm_up`)."""
    loops = {**vars(fill_native), **globals()}
    return {name: len(f.signatures) for name, f in loops.items() if hasattr(f, "signatures")}


@njit(nogil=True, cache=True)
def layer_windows(src, by, bx, origin, size, block, lo, mid, hi):  # pragma: no cover (compiled)
    """Level layers on blocks, channels first, with their halos.

    Args:
        src: (H', W', C) float32 channels-last source (r, g, b, coc[, coverage]) with a halo.
        by, bx: (N,) int64 block rows and columns (blocks of ``block`` px).
        origin: ``src`` row and column of the first window's top-left corner for block (0, 0)
            (the source's halo minus the kernel radius).
        size: window side (``block`` + 2 x kernel radius).
        lo, mid, hi: the level's CoC and its neighbours' (-inf / inf where there is none):
            the tent weight is 1 at ``mid``, 0 at ``lo`` and ``hi`` and linear between
            (:func:`_tent`).

    Returns:
        (N, 4, size, size) float32: (r w, g w, b w, w) with w the tent weight (times the
        coverage channel when there is one).
    """
    n = by.shape[0]
    out = np.empty((n, 4, size, size), np.float32)
    lines = _tent_lines(lo, mid, hi)
    cover = src.shape[2] > 4
    for i in range(n):
        y0 = by[i] * block + origin
        x0 = bx[i] * block + origin
        for y in range(size):
            weight = out[i, 3, y]
            for x in range(size):
                q = src[y0 + y, x0 + x, 3]
                weight[x] = _tent(q, lines)
            if cover:
                for x in range(size):
                    weight[x] *= src[y0 + y, x0 + x, 4]
            for x in range(size):
                out[i, 0, y, x] = src[y0 + y, x0 + x, 0] * weight[x]
                out[i, 1, y, x] = src[y0 + y, x0 + x, 1] * weight[x]
                out[i, 2, y, x] = src[y0 + y, x0 + x, 2] * weight[x]
    return out


@njit(nogil=True, cache=True, error_model="numpy", fastmath={"contract"})
def blurred_runs(
    src, runs, origin, block, radius, lo, mid, hi, taps, weights, out
):  # pragma: no cover (compiled)
    """A level's layer built and blurred on runs of blocks, by column sums: for kernels that
    are flat inside, whose vertical differences have few taps
    (:func:`bokeh.renderers.levels.column_taps`).

    Args:
        src, origin, lo, mid, hi: as in :func:`layer_windows` (``origin`` for a kernel of
            ``radius``).
        runs: (R, 3) int64 runs of blocks: ``runs[i, 2]`` blocks of ``block`` px from block
            row ``runs[i, 0]``, column ``runs[i, 1]``, to the right.
        taps, weights: (T, 2) int64 row and column offsets (rows 0..2 radius + 1) and (T,)
            float32 weights, T a multiple of 4.
        out: (N, 4, block, block) float32, N the runs' blocks: the blurred blocks, run by run,
            left to right; as :func:`layer_windows` then a convolution with the kernel.

    With P the column sums of the layer's window (P[y] = rows 0..y-1 summed), the convolution
    at (y, x) is the sum over taps of ``weight * P[y + row, x + column]``; negative sums
    (rounding, where the layer is zero) are clipped to 0.
    """
    lines = _tent_lines(lo, mid, hi)
    cover = src.shape[2] > 4
    zero = np.float32(0.0)
    rows = block + 2 * radius
    widest = runs[:, 2].max() * block
    sums = np.empty((4, rows + 1, widest + 2 * radius), np.float32)
    acc = np.empty(widest, np.float32)
    first = 0
    for i in range(runs.shape[0]):
        width = runs[i, 2] * block
        y0, x0 = runs[i, 0] * block + origin, runs[i, 1] * block + origin
        sums[:, 0] = zero
        for y in range(rows):
            for x in range(width + 2 * radius):
                px = src[y0 + y, x0 + x]
                w = _tent(px[3], lines)
                if cover:
                    w *= px[4]
                sums[0, y + 1, x] = sums[0, y, x] + px[0] * w
                sums[1, y + 1, x] = sums[1, y, x] + px[1] * w
                sums[2, y + 1, x] = sums[2, y, x] + px[2] * w
                sums[3, y + 1, x] = sums[3, y, x] + w
        n = np.uint64(width)  # unsigned offsets: no negative-index test, so the loop vectorises
        for c in range(4):
            for y in range(block):
                acc[:width] = zero
                for t in range(0, weights.shape[0], 4):  # four taps per pass over the row
                    a, b = sums[c, y + taps[t, 0]], sums[c, y + taps[t + 1, 0]]
                    d, e = sums[c, y + taps[t + 2, 0]], sums[c, y + taps[t + 3, 0]]
                    ja, jb = np.uint64(taps[t, 1]), np.uint64(taps[t + 1, 1])
                    jd, je = np.uint64(taps[t + 2, 1]), np.uint64(taps[t + 3, 1])
                    wa, wb, wd, we = weights[t], weights[t + 1], weights[t + 2], weights[t + 3]
                    for x in range(n):
                        acc[x] += wa * a[ja + x] + wb * b[jb + x] + wd * d[jd + x] + we * e[je + x]
                for j in range(runs[i, 2]):
                    for x in range(block):
                        out[first + j, c, y, x] = max(acc[j * block + x], zero)
        first += runs[i, 2]


@njit(nogil=True, cache=True, inline="always")
def _tent(q, lines):  # pragma: no cover (compiled)
    """The tent weight of CoC ``q`` for a level's :func:`_tent_lines`, in [0, 1]."""
    fall_a, fall_b, rise_a, rise_b = lines
    w = min(fall_a * q + fall_b, rise_a * q + rise_b)
    return min(max(w, np.float32(0.0)), np.float32(1.0))


@njit(nogil=True, cache=True)
def _tent_lines(lo, mid, hi):  # pragma: no cover (compiled)
    """The tent weight of a level as min(fall_a q + fall_b, rise_a q + rise_b) clipped to
    [0, 1], q the CoC: (fall_a, fall_b, rise_a, rise_b) float32 (a side without a neighbour
    is the constant 1)."""
    zero, one = np.float32(0.0), np.float32(1.0)
    fall_a, fall_b, rise_a, rise_b = zero, one, zero, one
    if np.isfinite(hi):  # 1 at mid, 0 at hi
        fall_a = np.float32(-1.0 / (hi - mid))
        fall_b = np.float32(hi / (hi - mid))
    if np.isfinite(lo):  # 0 at lo, 1 at mid
        rise_a = np.float32(1.0 / (mid - lo))
        rise_b = np.float32(-lo / (mid - lo))
    return fall_a, fall_b, rise_a, rise_b


@njit(nogil=True, cache=True)
def composite_blocks(rgba, sums, layer, by, bx, mode):  # pragma: no cover (compiled)
    """Composite (N, 4, b, b) premultiplied blocks into the (4, H, W) accumulator ``rgba`` at
    blocks (``by``, ``bx``), in place, as :func:`bokeh.renderers.composite.combine` does
    (``mode`` from :data:`MODES`); in "under" mode also add their alpha to (H, W) ``sums``."""
    n, _, b, _ = layer.shape
    one, zero = np.float32(1.0), np.float32(0.0)
    keep = np.empty(b, np.float32)  # what the accumulator keeps (over) or lets show (under)
    for i in range(n):
        y0, x0 = by[i] * b, bx[i] * b
        for y in range(b):
            if mode == 0:
                for x in range(b):
                    keep[x] = one - layer[i, 3, y, x]
            elif mode == 1:
                for x in range(b):
                    keep[x] = one - min(max(rgba[3, y0 + y, x0 + x], zero), one)
                    sums[y0 + y, x0 + x] += layer[i, 3, y, x]
            else:
                keep[:] = one
            for c in range(4):
                if mode == 0:
                    for x in range(b):
                        rgba[c, y0 + y, x0 + x] = (
                            rgba[c, y0 + y, x0 + x] * keep[x] + layer[i, c, y, x]
                        )
                else:
                    for x in range(b):
                        rgba[c, y0 + y, x0 + x] += layer[i, c, y, x] * keep[x]


@njit(nogil=True, cache=True)
def boost_highlights(lin, image, coc, boost):  # pragma: no cover (compiled)
    """Multiply (H, W, 3) linear light ``lin`` in place by 1 + ``boost`` x s(max(r, g, b) of
    the (H, W, 3) display ``image``; 0.75, 1) x s(|coc|; 0.5, 2), s the smoothstep between
    its two bounds: bright pixels out of focus (``coc`` (H, W) in px) are boosted."""
    h, w = coc.shape
    zero, one = np.float32(0.0), np.float32(1.0)
    gain = np.float32(boost)
    for y in range(h):
        for x in range(w):
            t = max(image[y, x, 0], image[y, x, 1], image[y, x, 2])
            t = min(max((t - np.float32(0.75)) * np.float32(4.0), zero), one)
            u = min(max((abs(coc[y, x]) - np.float32(0.5)) / np.float32(1.5), zero), one)
            g = one + gain * (t * t * (np.float32(3.0) - np.float32(2.0) * t)) * (
                u * u * (np.float32(3.0) - np.float32(2.0) * u)
            )
            lin[y, x, 0] *= g
            lin[y, x, 1] *= g
            lin[y, x, 2] *= g


@njit(nogil=True, cache=True)
def finish_rows(behind, front, coverage, extra, s, tau, y0, out):  # pragma: no cover
    """Rows y0.. of the output in linear light, clipped to [0, 1]: the accumulated background
    (premultiplied (4, H, W) ``behind``, normalised by max(alpha, ``tau``)) under the
    normalised foreground (``front``, (4, H, W)) with weight clip(``coverage``, 0, 1) ((H,
    W)). Where alpha < ``tau`` (when ``s`` > 0) the background gains the fill: ``extra``
    ((3, h, w) colour at 1/s, :func:`bokeh.renderers.lens._extrapolated`) upsampled
    bilinearly (:func:`bokeh.renderers.fill_native._upsampled_at`) times (tau - alpha) /
    max(alpha, tau), as :func:`bokeh.renderers.fill_native.fill_rows` adds it.
    Writes all of ``out`` (h, W', 3), W' <= W."""
    zero, one = np.float32(0.0), np.float32(1.0)
    tiny = np.float32(1e-6)
    eh, ew = extra.shape[1], extra.shape[2]
    for y in range(out.shape[0]):
        for x in range(out.shape[1]):
            a = behind[3, y0 + y, x]
            inv = one / max(a, tau)
            cover = min(max(coverage[y0 + y, x], zero), one)
            inv_front = one / max(front[3, y0 + y, x], tiny)
            lacks = s > 0 and a < tau
            if lacks:  # as fill_native.fill_rows
                lack = (tau - a) / max(a, tau)
                rows = fill_native._upsampled_at(eh, s, y0 + y)
                cols = fill_native._upsampled_at(ew, s, x)
            for c in range(3):
                v = behind[c, y0 + y, x] * inv
                if lacks:
                    v += fill_native._bilinear(extra, c, rows, cols) * lack
                if cover > zero:
                    v += (front[c, y0 + y, x] * inv_front - v) * cover
                out[y, x, c] = min(max(v, zero), one)


@njit(nogil=True, cache=True)
def downsampled_layer(src, origin, ty, tx, tile, s, lo, mid, hi, out):  # pragma: no cover
    """A level's premultiplied layer on tiles, area-downsampled by ``s``, into ``out``.

    Args:
        src: (H', W', C) float32 channels-last source (r, g, b, coc[, coverage]); tile
            (i, j) starts at ``src[origin[0] + i * tile, origin[1] + j * tile]``.
        ty, tx: (N,) int64 tile rows and columns (tiles of ``tile`` px) to compute.
        s: downsampling factor (a power of two dividing ``tile``).
        lo, mid, hi: the level's tent (see :func:`layer_windows`).
        out: (4, h, w) float32 at 1/s, whose tile (i, j) is the full-resolution tile
            (i, j) relative to ``origin``; only the tiles listed are written.
    """
    lines = _tent_lines(lo, mid, hi)
    zero = np.float32(0.0)
    scale = np.float32(1.0 / (s * s))
    cover = src.shape[2] > 4
    t = tile // s
    for i in range(ty.shape[0]):
        for yl in range(t):
            for xl in range(t):
                r = g = b = a = zero
                for dy in range(s):
                    y = origin[0] + ty[i] * tile + yl * s + dy
                    for dx in range(s):
                        x = origin[1] + tx[i] * tile + xl * s + dx
                        q = src[y, x, 3]
                        w = _tent(q, lines)
                        if cover:
                            w *= src[y, x, 4]
                        r += src[y, x, 0] * w
                        g += src[y, x, 1] * w
                        b += src[y, x, 2] * w
                        a += w
                oy, ox = ty[i] * t + yl, tx[i] * t + xl
                out[0, oy, ox] = r * scale
                out[1, oy, ox] = g * scale
                out[2, oy, ox] = b * scale
                out[3, oy, ox] = a * scale


@njit(nogil=True, cache=True)
def area_mean(src, s, y0, y1, out):  # pragma: no cover (compiled)
    """Rows y0 // s .. y1 // s of ``out`` (C, H // s, W // s): the means of the s x s blocks of
    (C, H, W) ``src`` (whole blocks only); y0 and y1 multiples of s. One pass over the rows
    (:func:`bokeh.renderers.resample.area_downsample`, and the fill's bands)."""
    c, w = out.shape[0], out.shape[2]
    scale = np.float32(1.0 / (s * s))
    acc = np.empty(w * s, np.float32)
    for ch in range(c):
        for oy in range(y0 // s, y1 // s):
            first = src[ch, oy * s, : w * s]
            for x in range(w * s):
                acc[x] = first[x]
            for dy in range(1, s):
                line = src[ch, oy * s + dy, : w * s]
                for x in range(w * s):
                    acc[x] += line[x]
            for ox in range(w):
                total = acc[ox * s]
                for dx in range(1, s):
                    total += acc[ox * s + dx]
                out[ch, oy, ox] = total * scale


@njit(nogil=True, cache=True)
def upsample2_rows(src, y0, y1, out):  # pragma: no cover (compiled)
    """Rows 2 y0 .. 2 y1 of the bilinear x2 upsampling of (C, h, w) ``src`` (pixel centres as
    ``F.interpolate(..., align_corners=False)``: taps 3/4 and 1/4, edges clamped), written
    into the same rows of ``out`` (C, 2 h, 2 w). Whole arrays, not row slices: a slice of a
    (C, ...) array with C > 1 is not contiguous, and numba compiled a second, slower loop."""
    c, h, w = src.shape
    near, far = np.float32(0.75), np.float32(0.25)
    row = np.empty(w, np.float32)
    for ch in range(c):
        for yy in range(2 * y0, 2 * y1):
            y = yy // 2
            other = max(y - 1, 0) if yy % 2 == 0 else min(y + 1, h - 1)
            for x in range(w):
                row[x] = src[ch, y, x] * near + src[ch, other, x] * far
            for x in range(w):
                left, right = row[max(x - 1, 0)], row[min(x + 1, w - 1)]
                out[ch, yy, 2 * x] = row[x] * near + left * far
                out[ch, yy, 2 * x + 1] = row[x] * near + right * far


@njit(nogil=True, cache=True)
def fill_source(lin, coc, coverage, src, halo, y0, y1):  # pragma: no cover (compiled)
    """Rows y0..y1 of the channels-last source: ``src[halo + y, halo + x]`` = (r, g, b, coc
    [, coverage]) from (H, W, 3) ``lin``, (H, W) ``coc`` and, when ``src`` has 5 channels,
    (H, W) ``coverage``."""
    w = coc.shape[1]
    cover = src.shape[2] > 4
    for y in range(y0, y1):
        for x in range(w):
            px = src[halo + y, halo + x]
            px[0] = lin[y, x, 0]
            px[1] = lin[y, x, 1]
            px[2] = lin[y, x, 2]
            px[3] = coc[y, x]
            if cover:
                px[4] = coverage[y, x]


@njit(nogil=True, cache=True)
def bright_points(stack):  # pragma: no cover (compiled)
    """Pixels of a (C >= 3, h, w) stack with some colour (its first 3 channels) above 1:
    ((n,) int64 rows, (n,) int64 columns), row-major."""
    h, w = stack.shape[1], stack.shape[2]
    one = np.float32(1.0)
    n = 0
    for y in range(h):
        for x in range(w):
            if stack[0, y, x] > one or stack[1, y, x] > one or stack[2, y, x] > one:
                n += 1
    ys, xs = np.empty(n, np.int64), np.empty(n, np.int64)
    i = 0
    for y in range(h):
        for x in range(w):
            if stack[0, y, x] > one or stack[1, y, x] > one or stack[2, y, x] > one:
                ys[i], xs[i] = y, x
                i += 1
    return ys, xs


@njit(nogil=True, cache=True, inline="always")
def _mirror_images(p, n, r, out):  # pragma: no cover (compiled)
    """Positions within [-r, n - 1 + r] that a frame of n mirrored at its edges (symmetric:
    edge pixels repeated, period 2n) fills from position p, into ``out``; their count."""
    period = 2 * n
    count = 0
    for base in (p, period - 1 - p):
        q = base - ((base + r) // period) * period  # the first image >= -r
        while q <= n - 1 + r:
            out[count] = q
            count += 1
            q += period
    return count


@njit(nogil=True, cache=True, error_model="numpy", fastmath={"contract"})
def scatter_points(ys, xs, values, kernels, h, w, y0, out):  # pragma: no cover (compiled)
    """Add to ``out`` (m, w C) rows y0..y0+m of the convolution of an (h, w) frame that is
    zero but for points (``ys``, ``xs``; (n,) int64) of (n, C) ``values``, with one (k, k)
    kernel per channel; ``out`` and ``kernels`` (k, k C) hold the channels interleaved (tap
    (i, j) of channel c at [i, j C + c]; k odd). The frame is mirrored at its edges
    (symmetric, as :func:`bokeh.renderers.levels.blur_same`): each point spreads its value
    over the kernel around it and around its mirror images."""
    k, c = kernels.shape[0], values.shape[1]
    r = k // 2
    m = out.shape[0]
    rows = np.empty(2 * ((2 * r + h) // (2 * h) + 2), np.int64)
    cols = np.empty(2 * ((2 * r + w) // (2 * w) + 2), np.int64)
    value = np.empty(k * c, np.float32)  # the point's values repeated along a kernel row
    for i in range(ys.shape[0]):
        for j in range(k):
            for ch in range(c):
                value[j * c + ch] = values[i, ch]
        nr = _mirror_images(ys[i], h, r, rows)
        nc = _mirror_images(xs[i], w, r, cols)
        for a in range(nr):
            top = rows[a] - r - y0  # out row of the kernel's first row
            for b in range(nc):
                left = (cols[b] - r) * c  # out column of the kernel's first tap
                t0, t1 = max(0, -left), min(k * c, w * c - left)
                part = value[t0:t1]
                for ky in range(max(0, -top), min(k, m - top)):
                    line = out[top + ky, left + t0 : left + t1]  # slices: vectorised
                    taps = kernels[ky, t0:t1]
                    for t in range(t1 - t0):
                        line[t] += part[t] * taps[t]


@njit(nogil=True, cache=True)
def darkest_channel(image, out):  # pragma: no cover (compiled)
    """(H, W) float32 ``out`` = the smallest of the 3 channels of (H, W, 3) float32 ``image``
    (NaN if any is NaN, as ``np.minimum``), in one pass (numpy's strided channel views took
    several); returns its largest value, NaN left out (-inf when there is none)."""
    top = -np.inf
    for y in range(image.shape[0]):
        for x in range(image.shape[1]):
            m = image[y, x, 0]
            for c in (1, 2):
                v = image[y, x, c]
                if v < m or v != v:
                    m = v
            out[y, x] = m
            if m > top:
                top = m
    return top
