"""Scene objects drawn on a canvas: trees, conifers, buildings, ground lines and palettes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from acmnet.data.synthetic_route.canvas import _Canvas
from acmnet.data.synthetic_route.materials import _CONIFER, _DOOR, _FOLIAGE, _ROOF, _TRUNK, _WALL, _WINDOW
from acmnet.data.synthetic_route.noise import _noise1d


def _palette(
    rng: np.random.Generator,
    colors: Sequence[Sequence[float]],
    spread: float = 0.06,
) -> np.ndarray:
    """One colour of ``colors`` (RGB in [0, 1]), brightness varied by up to +-``spread``; (3,)."""
    color = np.asarray(colors[int(rng.integers(len(colors)))], np.float32)
    return np.clip(color * (1.0 + spread * (2.0 * rng.random() - 1.0)), 0.0, 1.0)


_GREENS = [(0.22, 0.42, 0.15), (0.30, 0.50, 0.18), (0.18, 0.36, 0.13), (0.34, 0.47, 0.19), (0.26, 0.45, 0.22)]
_CONIFER_GREENS = [(0.09, 0.24, 0.14), (0.12, 0.28, 0.16), (0.08, 0.20, 0.12)]
_WALLS = [
    (0.74, 0.64, 0.50),
    (0.62, 0.30, 0.24),
    (0.84, 0.82, 0.76),
    (0.56, 0.56, 0.60),
    (0.82, 0.70, 0.40),
    (0.46, 0.54, 0.62),
    (0.60, 0.47, 0.38),
    (0.70, 0.42, 0.30),
]
_ROOFS = [(0.47, 0.18, 0.13), (0.30, 0.31, 0.34), (0.40, 0.29, 0.21), (0.24, 0.38, 0.33), (0.55, 0.26, 0.16)]
_SIGNS = [(0.10, 0.30, 0.70), (0.10, 0.50, 0.25), (0.75, 0.15, 0.12), (0.90, 0.75, 0.10)]


def _tree(
    canvas: _Canvas,
    foliage: _Canvas,
    rng: np.random.Generator,
    cx: float,
    base: float,
    height: float,
    crown: float,
    scale: float,
) -> None:
    """Deciduous tree: trunk and branches on ``canvas``, foliage blobs on ``foliage`` (bare in winter)."""
    rx = crown * (0.8 + 0.4 * rng.random())
    ry = crown * (0.9 + 0.5 * rng.random())
    cy = base - height + ry
    trunk = (0.30, 0.22, 0.15)
    trunk_w = max(1.0, 1.7 * scale)
    canvas.rect(cx - trunk_w / 2, cx + trunk_w / 2, cy, base, trunk, _TRUNK)
    for _ in range(int(rng.integers(3, 6))):
        y_from = cy + ry * (0.5 * rng.random() - 0.1)
        reach = rng.uniform(-1.0, 1.0)
        tip_x = cx + rx * 0.85 * reach
        tip_y = cy - ry * (0.85 - 0.6 * abs(reach)) * (0.6 + 0.4 * rng.random())
        canvas.segment(cx, y_from, tip_x, tip_y, max(0.5, 0.55 * scale), trunk, _TRUNK)
        if rng.random() < 0.6:
            mid_x, mid_y = (cx + tip_x) / 2, (y_from + tip_y) / 2
            canvas.segment(
                mid_x,
                mid_y,
                mid_x + (tip_x - cx) * 0.4 + rng.uniform(-2, 2) * scale,
                mid_y - ry * 0.35,
                max(0.5, 0.4 * scale),
                trunk,
                _TRUNK,
            )
    green = _palette(rng, _GREENS)
    hue = float(rng.random())  # autumn colour of this tree
    for _ in range(int(rng.integers(4, 8))):
        ox, oy = rng.uniform(-0.5, 0.5) * rx, rng.uniform(-0.45, 0.45) * ry
        foliage.ellipse(
            cx + ox,
            cy + oy,
            rx * rng.uniform(0.5, 0.75),
            ry * rng.uniform(0.5, 0.75),
            np.clip(green * rng.uniform(0.9, 1.1), 0, 1),
            _FOLIAGE,
            hue,
        )


def _conifer(
    canvas: _Canvas, rng: np.random.Generator, cx: float, base: float, height: float, half: float, scale: float
) -> None:
    """Conifer: short trunk and a tiered (sawtooth) silhouette; evergreen in every condition."""
    y_top, y_bot = base - height, base - 0.12 * height
    tiers = int(rng.integers(3, 7))
    canvas.rect(
        cx - max(0.5, 0.8 * scale), cx + max(0.5, 0.8 * scale), y_bot - 2 * scale, base, (0.28, 0.20, 0.14), _TRUNK
    )
    lean = rng.uniform(-0.06, 0.06)

    def shape(xx: np.ndarray, yy: np.ndarray) -> np.ndarray:
        t = np.clip((yy - y_top) / (y_bot - y_top), 0.0, 1.0)
        phase = (t * tiers) % 1.0
        half_w = half * (0.12 + 0.88 * t) * (0.5 + 0.5 * phase)
        return (np.abs(xx - cx - lean * (y_bot - yy)) <= half_w) & (yy >= y_top) & (yy < y_bot)

    canvas.draw((cx - half - 2, cx + half + 2, y_top, y_bot), shape, _palette(rng, _CONIFER_GREENS), _CONIFER)


def _building(
    canvas: _Canvas, rng: np.random.Generator, x0: float, base: float, w: float, h: float, s: float, kind: str
) -> None:
    """House/block/shed/church with roof, windows (per-window lit value in aux) and a door."""
    wall = _palette(rng, _WALLS)
    roof = _palette(rng, _ROOFS)
    top = base - h
    canvas.rect(x0, x0 + w, top, base, wall, _WALL)
    if kind == "church":
        tower_w = max(3.0, 0.3 * w)
        tower_x = x0 + rng.uniform(0.05, 0.6) * w
        tower_top = top - rng.uniform(0.6, 1.0) * h
        canvas.rect(tower_x, tower_x + tower_w, tower_top, top, wall * 0.92, _WALL)
        canvas.gable(
            tower_x + tower_w / 2,
            tower_w / 2 + 0.6 * s,
            tower_top - rng.uniform(2.5, 4.0) * tower_w,
            tower_top,
            roof,
            _ROOF,
        )
        canvas.gable(x0 + w / 2, w / 2 + s, top - 0.35 * w, top, roof, _ROOF)
        canvas.ellipse(
            tower_x + tower_w / 2, tower_top + 0.4 * tower_w, 0.25 * tower_w, 0.25 * tower_w, (0.95, 0.92, 0.8), _WALL
        )
    elif kind == "shed":  # industrial, sawtooth roof, few windows
        teeth = max(1, int(w / (7 * s)))
        tooth_w = w / teeth
        for i in range(teeth):
            tooth_x = x0 + i * tooth_w
            tooth_h = 0.45 * tooth_w

            def saw(xx: np.ndarray, yy: np.ndarray, tooth_x: float = tooth_x, tooth_h: float = tooth_h) -> np.ndarray:
                return (yy >= top - tooth_h * (xx - tooth_x) / tooth_w) & (yy < top)

            canvas.draw((tooth_x, tooth_x + tooth_w, top - tooth_h, top), saw, roof, _ROOF)
    elif kind == "flat":
        canvas.rect(x0 - 0.5 * s, x0 + w + 0.5 * s, top - 1.5 * s, top, roof * 0.8, _ROOF)
    else:  # pitched
        canvas.gable(x0 + w / 2, w / 2 + 1.2 * s, top - rng.uniform(0.3, 0.55) * w, top, roof, _ROOF)
        if rng.random() < 0.5:
            chimney_x = x0 + rng.uniform(0.2, 0.8) * w
            canvas.rect(chimney_x, chimney_x + 1.6 * s, top - 0.35 * w, top - 1, (0.45, 0.3, 0.25), _WALL)
    # windows: a grid; aux holds each window's own random value (lit at night if < 0.5)
    win_w, win_h = max(1.0, 2.4 * s), max(2.0, 3.2 * s)
    pitch_x = win_w + rng.uniform(2.0, 4.5) * s
    pitch_y = win_h + rng.uniform(2.5, 4.0) * s
    inset = 2.0 * s
    ncols = int((w - 2 * inset + (pitch_x - win_w)) / pitch_x)
    nrows = int((h - 2 * inset - 4 * s + (pitch_y - win_h)) / pitch_y)
    if kind == "shed":
        nrows = min(nrows, 1)
    if ncols >= 1 and nrows >= 1:
        grid_x0 = x0 + (w - (ncols * pitch_x - (pitch_x - win_w))) / 2
        lit = rng.random((nrows, ncols)).astype(np.float32)
        glass = (0.16, 0.19, 0.24) if rng.random() < 0.7 else (0.35, 0.42, 0.50)

        def window(xx: np.ndarray, yy: np.ndarray) -> np.ndarray:
            u, v = (xx - grid_x0) / pitch_x, (yy - top - inset) / pitch_y
            return (
                ((u % 1.0) * pitch_x < win_w)
                & ((v % 1.0) * pitch_y < win_h)
                & (u >= 0)
                & (v >= 0)
                & (u < ncols)
                & (v < nrows)
            )

        box = (grid_x0, grid_x0 + ncols * pitch_x, top + inset, top + inset + nrows * pitch_y)
        ix0 = max(int(np.floor(box[0])), 0)
        iy0 = max(int(np.floor(box[2])), 0)
        ix1, iy1 = min(int(np.ceil(box[1])), canvas.w), min(int(np.ceil(box[3])), canvas.h)
        if ix1 > ix0 and iy1 > iy0:
            win_col = ((np.arange(ix0, ix1) + 0.5 - grid_x0) // pitch_x).astype(np.int64).clip(0, ncols - 1)
            win_row = ((np.arange(iy0, iy1) + 0.5 - top - inset) // pitch_y).astype(np.int64).clip(0, nrows - 1)
            canvas.draw(box, window, glass, _WINDOW, lit[np.ix_(win_row, win_col)])
    if kind in ("pitched", "flat") and w > 9 * s and rng.random() < 0.6:
        door_x = x0 + rng.uniform(0.15, 0.75) * w
        canvas.rect(door_x, door_x + 2.6 * s, base - 4.5 * s, base, (0.30, 0.20, 0.14), _DOOR)


def _ground_profile(seed: int, key: int, w: int, y: float, amp: float, s: float) -> np.ndarray:
    """Ground line (w,) in panorama rows: ``y`` raised by up to ``amp`` px of smooth noise."""
    return y - amp * _noise1d((seed, key), w, (90 * s, 30 * s), (1.0, 0.4))


# palettes of the layer builders (RGB in [0, 1])
_FIELD_GREENS = [(0.38, 0.55, 0.28), (0.46, 0.58, 0.30), (0.32, 0.48, 0.25), (0.55, 0.58, 0.32), (0.42, 0.50, 0.22)]
_CLUMP_GREENS = [(0.17, 0.30, 0.14), (0.13, 0.25, 0.12)]
_BUSH_GREENS = [(0.20, 0.36, 0.15), (0.26, 0.40, 0.18)]
_VERGES = [(0.34, 0.48, 0.22), (0.46, 0.50, 0.26), (0.42, 0.36, 0.24), (0.28, 0.42, 0.20)]
_BALLASTS = [(0.47, 0.43, 0.38), (0.55, 0.54, 0.52), (0.40, 0.33, 0.28)]
_FENCES = [(0.45, 0.35, 0.25), (0.6, 0.6, 0.58)]
