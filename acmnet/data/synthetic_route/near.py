"""Near layers: ground, verge, ballast and track, near trees, fences, stations and signs."""

from __future__ import annotations

import numpy as np

from acmnet.data.synthetic_route.canvas import _NEAR_BASE, _Canvas, _finish_layer, _Frame, _Layer
from acmnet.data.synthetic_route.materials import (
    _BALLAST,
    _BANK,
    _BUSH,
    _FENCE,
    _GLASS,
    _GRASS,
    _PLATFORM,
    _POLE,
    _RAIL,
    _ROOF,
    _S_GROUND,
    _S_NEAR,
    _SIGN,
    _SLEEPER,
    _WALL,
)
from acmnet.data.synthetic_route.noise import _lattice, _noise1d, _rng, _smooth
from acmnet.data.synthetic_route.objects import (
    _BALLASTS,
    _BUSH_GREENS,
    _FENCES,
    _ROOFS,
    _SIGNS,
    _VERGES,
    _WALLS,
    _conifer,
    _palette,
    _tree,
)


# ------------------------------------------------------------------------- near ground, track
def _verge_and_ballast(frame: _Frame, canvas: _Canvas, verge_top: float, ballast_top: float) -> None:
    """Stretches (60-320 s-px) of lush / dry / worn verge (rows ``verge_top``-``ballast_top``) and of fresh /
    old ballast (rows from ``ballast_top``)."""
    rng = _rng(frame.seed, _S_GROUND)
    x = 0
    while x < canvas.w:
        stretch_w = int(rng.uniform(60, 320) * frame.s)
        columns = slice(x, min(x + stretch_w, canvas.w))
        canvas.albedo[int(verge_top) : int(ballast_top), columns] = _palette(rng, _VERGES)
        canvas.albedo[int(ballast_top) :, columns] = _palette(rng, _BALLASTS)
        x += stretch_w


def _track(frame: _Frame, canvas: _Canvas, rail1_top: float, rail2_top: float) -> None:
    """Sleepers every 7 s-px and two rails with top rows ``rail1_top`` and ``rail2_top``."""
    s, rows = frame.s, frame.rows
    sleeper_pitch, sleeper_w = 7.0 * s, 2.2 * s
    xs = np.arange(canvas.w, dtype=np.float32) + 0.5
    sleeper = ((xs % sleeper_pitch) < sleeper_w)[None, :] & (rows >= rail1_top - 1.5 * s) & (rows < rail2_top + 2.0 * s)
    canvas.mat[sleeper] = _SLEEPER
    canvas.albedo[sleeper] = (0.33, 0.25, 0.18)
    rail_h = max(1.0, 1.3 * s)
    for rail_top in (rail1_top, rail2_top):
        rail = ((rows >= rail_top) & (rows < rail_top + rail_h))[:, 0]
        canvas.mat[rail] = _RAIL
        canvas.albedo[rail] = (0.58, 0.58, 0.62)


def _ground_layer(frame: _Frame, w: int) -> _Layer:
    """Near ground (hp, w): grass strip and a railway track.

    Same parallax (1.0) as the near objects, so that the lamp posts light it at night; ``aux``
    is a uniform lattice (fallen leaves in autumn); haze falls from 0.26 at the verge to 0.06
    at the bottom of the image.
    """
    canvas = _Canvas(frame.hp, w)
    verge_top, ballast_top = frame.y(0.835), frame.y(0.885)
    grass = (frame.rows >= verge_top)[:, 0]
    canvas.alpha[grass] = 1.0
    canvas.mat[grass] = _GRASS
    canvas.albedo[grass] = (0.34, 0.48, 0.22)
    ballast = (frame.rows >= ballast_top)[:, 0]
    canvas.mat[ballast] = _BALLAST
    canvas.albedo[ballast] = (0.47, 0.43, 0.38)
    canvas.aux[:] = _lattice((frame.seed, _S_GROUND, 1), frame.hp, w, chunk=64)
    _verge_and_ballast(frame, canvas, verge_top, ballast_top)
    _track(frame, canvas, frame.y(0.915), frame.y(0.975))
    haze = np.interp(np.arange(frame.hp), [verge_top, frame.y(1.0)], [0.26, 0.06]).astype(np.float32)
    return _finish_layer(frame, "ground", canvas, 1.0, haze, 6, 3 * frame.s)


# --------------------------------------------------------------------------------- near trees
def _cutting_bank(frame: _Frame, canvas: _Canvas, rng: np.random.Generator, x0: float, x1: float) -> None:
    """A grassy cutting bank between columns ``x0`` and ``x1`` (ramps of 25 s-px at both ends,
    0.3-0.5 h tall) that hides the landscape behind."""
    near_base = frame.y(_NEAR_BASE)
    bank_top = near_base - rng.uniform(0.3, 0.5) * frame.h
    ramp = 25 * frame.s
    profile = _noise1d((frame.seed, _S_NEAR, 50, int(x0)), int(x1 - x0) + 2, (30 * frame.s, 9 * frame.s), (1.0, 0.4))

    def bank(xx: np.ndarray, yy: np.ndarray) -> np.ndarray:
        column = np.clip(xx - x0, 0, len(profile) - 1).astype(np.int64)
        ramp_in = np.clip(np.minimum(xx - x0, x1 - xx) / ramp, 0, 1)
        top_row = near_base - (near_base - bank_top) * _smooth(ramp_in) * (0.75 + 0.5 * profile[column])
        return yy >= top_row

    canvas.draw(
        (x0, x1, bank_top - 0.3 * frame.h, near_base + 2 * frame.s), bank, (0.30, 0.42, 0.20), _BANK, rng.random()
    )


def _fence(frame: _Frame, canvas: _Canvas, rng: np.random.Generator, x0: float, x1: float) -> None:
    """A two-rail fence with posts every 6 s-px between columns ``x0`` and ``x1``."""
    s, near_base = frame.s, frame.y(_NEAR_BASE)
    fence_top = near_base - 0.09 * frame.h
    fence_color = _palette(rng, _FENCES)
    for rail_top in (fence_top, fence_top + 0.04 * frame.h):
        canvas.rect(x0, x1, rail_top, rail_top + max(1.0, s), fence_color, _FENCE)
    for post_x in np.arange(x0, x1, 6 * s):
        canvas.rect(post_x, post_x + max(1.0, 1.2 * s), fence_top - s, near_base, fence_color, _FENCE)


def _near_tree(
    frame: _Frame,
    canvas: _Canvas,
    foliage: _Canvas,
    rng: np.random.Generator,
    x: float,
    base: float,
    conifer_frac: float,
    tree_scale: float,
    dense: bool,
) -> float:
    """A near conifer (probability ``conifer_frac``) or deciduous tree, size scaled by
    ``tree_scale``, on row ``base``; returns the next column (px; closer when ``dense``)."""
    s, h = frame.s, frame.h
    if rng.random() < conifer_frac:
        _conifer(
            canvas, rng, x, base, rng.uniform(0.4, 0.78) * h * tree_scale, rng.uniform(0.06, 0.11) * h * tree_scale, s
        )
    else:
        _tree(
            canvas,
            foliage,
            rng,
            x,
            base,
            rng.uniform(0.38, 0.66) * h * tree_scale,
            rng.uniform(0.08, 0.14) * h * tree_scale,
            s,
        )
    x += (rng.uniform(9, 24) if dense else rng.uniform(28, 75)) * s
    return x


def _shelter(frame: _Frame, canvas: _Canvas, rng: np.random.Generator, x: float) -> float:
    """A platform shelter (glass front, flat roof) from column ``x``; returns the next column."""
    s, near_base = frame.s, frame.y(_NEAR_BASE)
    width = rng.uniform(22, 34) * s
    top = near_base - rng.uniform(0.2, 0.26) * frame.h
    wall = _palette(rng, _WALLS)
    canvas.rect(x, x + width, top, near_base, wall, _WALL)
    canvas.rect(x + 2 * s, x + width - 2 * s, top + 2 * s, near_base - 3 * s, (0.42, 0.52, 0.58), _GLASS)
    canvas.rect(x - s, x + width + s, top - 2 * s, top, _palette(rng, _ROOFS), _ROOF)
    x += width + rng.uniform(6, 20) * s
    return x


def _sign_board(frame: _Frame, canvas: _Canvas, rng: np.random.Generator, x: float) -> float:
    """A station sign board on two posts from column ``x``; returns the next column (px)."""
    s, h, near_base = frame.s, frame.h, frame.y(_NEAR_BASE)
    width = rng.uniform(10, 18) * s
    top = near_base - rng.uniform(0.25, 0.35) * h
    canvas.rect(x + s, x + 2 * s, top, near_base, (0.3, 0.3, 0.3), _POLE)
    canvas.rect(x + width - 2 * s, x + width - s, top, near_base, (0.3, 0.3, 0.3), _POLE)
    canvas.rect(x, x + width, top, top + 0.07 * h, _palette(rng, _SIGNS), _SIGN)
    canvas.rect(x + 2 * s, x + width - 2 * s, top + 0.03 * h, top + 0.04 * h, (0.95, 0.95, 0.95), _SIGN)
    x += width + rng.uniform(8, 25) * s
    return x


def _station_feature(
    frame: _Frame, canvas: _Canvas, rng: np.random.Generator, x: float, seg_start: float, seg_end: float
) -> float:
    """One object of a station stretch ``[seg_start, seg_end)`` (the platform with a painted edge
    is drawn with the first): a shelter, a sign board or a gap; returns the next column (px)."""
    s = frame.s
    if x == seg_start:  # platform with a painted edge along the whole segment
        canvas.rect(x, seg_end, frame.y(0.83), frame.y(0.885), (0.62, 0.61, 0.58), _PLATFORM)
        canvas.rect(x, seg_end, frame.y(0.83), frame.y(0.83) + max(1.0, 1.2 * s), (0.9, 0.8, 0.2), _SIGN)
    pick = rng.random()
    if pick < 0.4:  # shelter: glass front, flat roof
        return _shelter(frame, canvas, rng, x)
    if pick < 0.75:  # sign board on two posts
        return _sign_board(frame, canvas, rng, x)
    x += rng.uniform(10, 30) * s
    return x


def _verge_feature(
    frame: _Frame, canvas: _Canvas, foliage: _Canvas, rng: np.random.Generator, x: float, base: float
) -> float:
    """Open / sparse filler on row ``base``: a group of bushes or an occasional lone tree; returns
    the next column (px)."""
    s, h = frame.s, frame.h
    if rng.random() < 0.6:
        bush_x = x
        for _ in range(int(rng.integers(2, 5))):
            radius = rng.uniform(3, 6) * s
            canvas.ellipse(
                bush_x, base - 0.6 * radius, radius * 1.2, radius, _palette(rng, _BUSH_GREENS), _BUSH, rng.random()
            )
            bush_x += radius * 1.3
    elif rng.random() < 0.3:
        _tree(canvas, foliage, rng, x, base, rng.uniform(0.5, 0.7) * h, 0.15 * h, s)
    x += rng.uniform(25, 70) * s
    return x


def _near_stretch(frame: _Frame, canvas: _Canvas, foliage: _Canvas, rng: np.random.Generator, x: float) -> float:
    """One stretch of the near layer from column ``x`` (forest, sparse, open, station or cutting,
    its length drawn from ``rng``); returns the column where the next stretch starts."""
    s, near_base = frame.s, frame.y(_NEAR_BASE)
    kind = rng.choice(["forest", "sparse", "open", "station", "cutting"], p=[0.32, 0.28, 0.2, 0.12, 0.08])
    seg_end = (
        x
        + {
            "forest": rng.uniform(120, 420),
            "sparse": rng.uniform(100, 300),
            "open": rng.uniform(60, 220),
            "station": rng.uniform(80, 160),
            "cutting": rng.uniform(100, 260),
        }[kind]
        * s
    )
    seg_start = x
    if kind == "cutting":  # grassy bank with rock outcrops hides the landscape
        _cutting_bank(frame, canvas, rng, x, seg_end)
        x = seg_end
    conifer_frac = float(rng.choice([0.05, 0.5, 0.95]))
    tree_scale = rng.uniform(0.8, 1.2)
    if kind == "open" and rng.random() < 0.6:  # fence along the segment
        _fence(frame, canvas, rng, x, seg_end)
    while x < seg_end:
        base = near_base + rng.uniform(-1, 1) * s
        if kind == "forest" or (kind == "sparse" and rng.random() < 0.75):
            x = _near_tree(frame, canvas, foliage, rng, x, base, conifer_frac, tree_scale, kind == "forest")
        elif kind == "station":
            x = _station_feature(frame, canvas, rng, x, seg_start, seg_end)
        else:
            x = _verge_feature(frame, canvas, foliage, rng, x, base)
    return max(x, seg_end) + rng.uniform(0, 15) * s


def _near_layers(frame: _Frame, w: int) -> tuple[_Layer, _Layer]:
    """Near layers (hp, w), parallax 1.0: trees, conifers, bushes, fences, cuttings, station
    shelters and signs (``near``), and the foliage of the deciduous trees (``near_foliage``)."""
    canvas, foliage = _Canvas(frame.hp, w), _Canvas(frame.hp, w)
    rng = _rng(frame.seed, _S_NEAR)
    x = 0.0
    while x < w:
        x = _near_stretch(frame, canvas, foliage, rng, x)
    return (
        _finish_layer(frame, "near", canvas, 1.0, 0.16, 7, 2.5 * frame.s),
        _finish_layer(frame, "near_foliage", foliage, 1.0, 0.16, 8, 2.2 * frame.s),
    )
