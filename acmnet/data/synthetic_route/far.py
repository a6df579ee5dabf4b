"""Far layers of the scene: sky, mountain skyline and hills."""

from __future__ import annotations

import numpy as np

from acmnet.data.synthetic_route.canvas import _Canvas, _finish_layer, _Frame, _Layer
from acmnet.data.synthetic_route.materials import (
    _HILL,
    _HILL_TREES,
    _MOUNTAIN,
    _MOUNTAIN_FAR,
    _S_HILL,
    _S_MOUNT,
    _S_SKY,
    _SKY,
)
from acmnet.data.synthetic_route.noise import _lattice, _noise1d, _noise2d, _rng, _smooth
from acmnet.data.synthetic_route.objects import _CLUMP_GREENS, _FIELD_GREENS, _palette


# ---------------------------------------------------------------------------------------- sky
def _sky_layer(frame: _Frame, w: int) -> _Layer:
    """Sky panorama (hp, w), opaque: cloud texture in ``noise`` (cells stretched 7 x 30 and
    3 x 11 s-px), a uniform lattice in ``aux`` (stars where it is near 1)."""
    s = frame.s
    canvas = _Canvas(frame.hp, w)
    canvas.alpha[:] = 1.0
    canvas.mat[:] = _SKY
    canvas.aux[:] = _lattice((frame.seed, _S_SKY, 1), frame.hp, w, chunk=64)
    clouds = 0.6 * _noise2d((frame.seed, _S_SKY, 2), frame.hp, w, 7 * s, 30 * s) + 0.4 * _noise2d(
        (frame.seed, _S_SKY, 3), frame.hp, w, 3 * s, 11 * s
    )
    return _Layer(
        "sky",
        np.full(frame.hp, 0.03, np.float32),
        np.ones(frame.hp, np.float32),
        canvas.albedo,
        canvas.alpha,
        canvas.mat,
        canvas.aux,
        clouds.astype(np.float32),
    )


# ---------------------------------------------------------------------------------- mountains
def _peak_series(frame: _Frame, k: int, w: int) -> np.ndarray:
    """Sharp peaks of mountain range ``k`` (0 back, 1 front): height above the range, (w,) px."""
    s, h = frame.s, frame.h
    xs = np.arange(w, dtype=np.float32)
    rng = _rng(frame.seed, _S_MOUNT, 10 + k)
    bumps = np.zeros(w, np.float32)
    x = 0.0
    while x < w:
        x += rng.uniform(50, 190) * s
        half_w, peak_h = rng.uniform(12, 40) * s, rng.uniform(0.03, 0.15) * h
        lo, hi = max(int(x - half_w), 0), min(int(x + half_w) + 2, w)
        bumps[lo:hi] = np.maximum(bumps[lo:hi], peak_h * np.clip(1 - np.abs(xs[lo:hi] - x) / half_w, 0, 1) ** 1.3)
    return bumps


def _mountain_layer(frame: _Frame, w: int) -> _Layer:
    """Far mountains (hp, w), parallax 0.12: a lighter back range and a darker front range.

    A slow envelope gives stretches of high ranges and stretches with no mountains in view;
    ``aux`` holds the altitude in [0, 1] (snow caps).
    """
    s, h, rows = frame.s, frame.h, frame.rows
    canvas = _Canvas(frame.hp, w)
    peaks = [_peak_series(frame, k, w) for k in range(2)]
    envelope = _smooth(np.clip((_noise1d((frame.seed, _S_MOUNT, 3), w, (240 * s,), (1.0,)) - 0.25) / 0.5, 0, 1))
    back = frame.y(0.52) - envelope * (
        0.08 * h
        + 0.26 * h * _noise1d((frame.seed, _S_MOUNT, 1), w, (160 * s, 55 * s, 18 * s), (1.0, 0.5, 0.2))
        + 0.7 * peaks[0]
    )
    front = frame.y(0.55) - envelope * (
        0.05 * h
        + 0.2 * h * _noise1d((frame.seed, _S_MOUNT, 2), w, (110 * s, 40 * s, 12 * s), (1.0, 0.45, 0.2))
        + 0.5 * peaks[1]
    )
    altitude = np.clip((frame.y(0.52) - rows) / (0.36 * h), 0, 1) * np.ones((1, w), np.float32)
    behind_back = rows >= back[None, :]
    canvas.albedo[behind_back] = (0.52, 0.57, 0.68)
    canvas.mat[behind_back] = _MOUNTAIN_FAR
    behind_front = rows >= front[None, :]
    canvas.albedo[behind_front] = (0.36, 0.41, 0.50)
    canvas.mat[behind_front] = _MOUNTAIN
    canvas.alpha[behind_back | behind_front] = 1.0
    canvas.aux[:] = altitude
    return _finish_layer(frame, "mountains", canvas, 0.12, 0.85, 2, 5 * s)


# -------------------------------------------------------------------------------------- hills
def _hill_fields(frame: _Frame, canvas: _Canvas, ground: np.ndarray) -> None:
    """Colour the hill pixels ``ground`` (hp, w) bool in column bands (fields 20-80 s-px wide);
    ``aux`` holds each field's random value."""
    rng = _rng(frame.seed, _S_HILL)
    x = 0
    while x < canvas.w:  # fields: column bands, slanted boundaries
        field_w = int(rng.uniform(20, 80) * frame.s)
        color = _palette(rng, _FIELD_GREENS, 0.08)
        columns = slice(x, min(x + field_w, canvas.w))
        in_field = ground[:, columns]
        canvas.albedo[:, columns][in_field] = color
        canvas.aux[:, columns][in_field] = rng.random()
        x += field_w


def _hill_tree_clumps(frame: _Frame, canvas: _Canvas, ridge: np.ndarray) -> None:
    """Dark tree clumps and hedgerows along and just below the ridge line ``ridge`` (w,) rows."""
    s, w = frame.s, canvas.w
    x = 0.0
    rng = _rng(frame.seed, _S_HILL, 1)  # own stream: a shorter route stays a prefix of a longer one
    while x < w:
        x += rng.uniform(8, 45) * s
        trees = int(rng.integers(2, 9))
        base_dy = rng.uniform(0, 0.07) * frame.h
        for _ in range(trees):
            cx = x + rng.uniform(0, 3.0 * trees) * s
            ix = int(np.clip(cx, 0, w - 1))
            radius = rng.uniform(1.3, 3.0) * s
            canvas.ellipse(
                cx,
                ridge[ix] + base_dy,
                radius,
                radius * rng.uniform(0.8, 1.3),
                _palette(rng, _CLUMP_GREENS),
                _HILL_TREES,
                rng.random(),
            )
        x += 3.0 * trees * s


def _hill_layer(frame: _Frame, w: int) -> _Layer:
    """Hills (hp, w), parallax 0.30: fields of varying greens below a ridge, tree clumps."""
    s, h = frame.s, frame.h
    canvas = _Canvas(frame.hp, w)
    envelope = _smooth(np.clip((_noise1d((frame.seed, _S_HILL, 2), w, (260 * s,), (1.0,)) - 0.2) / 0.6, 0, 1))
    ridge = frame.y(0.60) - h * (0.04 + 0.22 * envelope) * _noise1d(
        (frame.seed, _S_HILL, 1), w, (120 * s, 45 * s, 15 * s), (1.0, 0.4, 0.15)
    )
    hill = frame.rows >= ridge[None, :]
    canvas.alpha[hill] = 1.0
    canvas.mat[hill] = _HILL
    _hill_fields(frame, canvas, hill)
    _hill_tree_clumps(frame, canvas, ridge)
    return _finish_layer(frame, "hills", canvas, 0.30, 0.66, 3, 4 * s)
