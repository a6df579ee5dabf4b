"""Keyed random streams, value noise and the blur/glow filters of the renderer."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _rng(*key: int) -> np.random.Generator:
    """A generator seeded from an integer key (same stream on every run)."""
    return np.random.default_rng(np.random.SeedSequence([int(k) & 0xFFFFFFFF for k in key]))


def _smooth(t: np.ndarray) -> np.ndarray:
    """Smoothstep 3t^2 - 2t^3 of t in [0, 1] (same shape)."""
    return t * t * (3.0 - 2.0 * t)


def _lattice(key: tuple[int, ...], rows: int, cols: int, chunk: int = 16) -> np.ndarray:
    """Uniform lattice values (rows, cols); column chunks have their own stream (prefix-stable)."""
    n = cols // chunk + 1
    lat = np.concatenate([_rng(*key, k).random((rows, chunk)) for k in range(n)], axis=1)
    return lat[:, :cols].astype(np.float32)


def _noise1d(key: tuple[int, ...], width: int, periods: Sequence[float], amps: Sequence[float]) -> np.ndarray:
    """Smooth 1-D value noise in [0, 1], shape (width,), sum of octaves with given periods (px)."""
    out = np.zeros(width, np.float32)
    xs = np.arange(width, dtype=np.float64)
    for i, (per, amp) in enumerate(zip(periods, amps)):
        lat = _lattice((*key, 100 + i), 1, int(width / per) + 3)[0]
        u = xs / per
        iu = u.astype(np.int64)
        t = _smooth(u - iu)
        out += amp * (lat[iu] + (lat[iu + 1] - lat[iu]) * t).astype(np.float32)
    return out / float(sum(amps))


def _noise2d(key: tuple[int, ...], h: int, w: int, cell_y: float, cell_x: float) -> np.ndarray:
    """Smooth 2-D value noise in [0, 1], shape (h, w), lattice cell (cell_y, cell_x) px."""
    lat = _lattice(key, int(h / cell_y) + 3, int(w / cell_x) + 3)
    ys = np.arange(h) / cell_y
    xs = np.arange(w) / cell_x
    iy, ix = ys.astype(np.int64), xs.astype(np.int64)
    fy = _smooth(ys - iy).astype(np.float32)[:, None]
    fx = _smooth(xs - ix).astype(np.float32)[None, :]
    l00, l01 = lat[np.ix_(iy, ix)], lat[np.ix_(iy, ix + 1)]
    l10, l11 = lat[np.ix_(iy + 1, ix)], lat[np.ix_(iy + 1, ix + 1)]
    top = l00 + (l01 - l00) * fx
    bot = l10 + (l11 - l10) * fx
    return top + (bot - top) * fy


def _box_blur(a: np.ndarray, ry: int, rx: int) -> np.ndarray:
    """Separable box blur (edge-clamped) over the first two axes, radius (ry, rx) px."""
    out = a.astype(np.float32)
    for axis, r in ((0, ry), (1, rx)):
        if r <= 0:
            continue
        pad = [(0, 0)] * out.ndim
        pad[axis] = (r + 1, r)
        c = np.cumsum(np.pad(out, pad, mode="edge"), axis=axis, dtype=np.float64)
        n = out.shape[axis]
        hi = np.take(c, np.arange(2 * r + 1, 2 * r + 1 + n), axis=axis)
        lo = np.take(c, np.arange(0, n), axis=axis)
        out = ((hi - lo) / (2 * r + 1)).astype(np.float32)
    return out


def _glow(a: np.ndarray, r: int) -> np.ndarray:
    """Soft, roughly Gaussian falloff of an emission map (H, W): three box blurs of radius r.

    Only the band of rows that can receive light is blurred (emitters are sparse).
    """
    out = np.zeros(a.shape, np.float32)
    hit = np.flatnonzero(a.any(axis=1))
    if hit.size == 0:
        return out
    y0, y1 = max(int(hit[0]) - 3 * r - 1, 0), min(int(hit[-1]) + 3 * r + 2, a.shape[0])
    band = a[y0:y1]
    for _ in range(3):
        band = _box_blur(band, r, r)
    out[y0:y1] = band
    return out


def _top_band(solid: np.ndarray, k: int) -> np.ndarray:
    """Solid pixels with an empty pixel within ``k`` rows above (top surfaces), (H, W) bool."""
    band = np.zeros_like(solid)
    for i in range(1, k + 1):
        above = np.zeros_like(solid)
        above[i:] = solid[:-i]
        band |= solid & ~above
    return band
