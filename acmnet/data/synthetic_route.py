"""Deterministic synthetic place-recognition route for an offline demo (no download).

The world is a 1-D side-scrolling procedural landscape (a train-window view) built from a seed:
parallax layers for sky, a far mountain skyline, mid hills, a mid "town" layer (buildings with
roofs and windows, small trees, street lamps), the near ground with a railway track, near trees
(deciduous with separately drawn foliage, conifers), and a front layer of lamp posts and
telegraph poles with wires.

Every layer is rasterised once per world into a panorama (albedo, alpha, material id, per-object
value and a smooth noise field). A *condition* (``day``, ``winter``, ``autumn``, ``night``,
``haze``) re-shades those panoramas structurally and locally (snow on top surfaces and ground,
bare or recoloured/thinned foliage, lamp and window lights with glow falloff, depth-dependent fog),
once per condition, with vectorised numpy. The image of place ``p`` is a window cropped from
each layer at ``parallax * p * place_step`` (plus a per-image viewpoint jitter), composited back
to front, with mild sensor noise.

Everything is a pure function of the arguments: the same arguments give byte-identical images.
Random streams are keyed by position (chunked), so a shorter route is a prefix of a longer one
with the same seed, image size and step.

Units: images are ``(H, W)`` = ``image_size`` pixels; the place step is in near-layer pixels.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from acmnet.io import atomic_path

__all__ = [
    "CONDITIONS",
    "REFERENCE_CONDITION",
    "World",
    "build_world",
    "check_condition",
    "render_condition",
    "render_route",
    "traversal_offsets",
]

CONDITIONS: tuple[str, ...] = ("day", "winter", "autumn", "night", "haze")
REFERENCE_CONDITION = "day"

# --------------------------------------------------------------------------------------------
# materials
# --------------------------------------------------------------------------------------------
_SKY, _MOUNTAIN_FAR, _MOUNTAIN, _HILL, _HILL_TREES, _MEADOW = 1, 2, 3, 4, 5, 6
_WALL, _ROOF, _WINDOW, _DOOR, _TRUNK, _FOLIAGE, _CONIFER, _BUSH = 7, 8, 9, 10, 11, 12, 13, 14
_POLE, _LAMP, _WIRE, _FENCE, _GRASS, _BALLAST, _RAIL, _SLEEPER = 15, 16, 17, 18, 19, 20, 21, 22
_SIGN, _HAY, _GLASS, _WATER, _BANK, _PLATFORM = 23, 24, 25, 26, 27, 28

_SNOW = np.array([0.92, 0.94, 0.97], np.float32)
_FOG = np.array([0.80, 0.81, 0.82], np.float32)
_LAMP_LIGHT = np.array([1.0, 0.86, 0.58], np.float32)
_WINDOW_LIGHT = np.array([1.0, 0.80, 0.45], np.float32)

# stream ids for seeding (never reorder: they define the world)
_S_SKY, _S_MOUNT, _S_HILL, _S_MID, _S_NEAR, _S_POLES, _S_GROUND = 1, 2, 3, 4, 5, 6, 7
_S_NOISE, _S_JITTER, _S_SENSOR = 20, 30, 31


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


# --------------------------------------------------------------------------------------------
# world geometry
# --------------------------------------------------------------------------------------------
class _Canvas:
    """Rasteriser for one layer panorama: albedo (h, w, 3), alpha, material id, object value."""

    def __init__(self, h: int, w: int) -> None:
        self.h, self.w = h, w
        self.albedo = np.zeros((h, w, 3), np.float32)
        self.alpha = np.zeros((h, w), np.float32)
        self.mat = np.zeros((h, w), np.uint8)
        self.aux = np.zeros((h, w), np.float32)

    def draw(
        self,
        box: tuple[float, float, float, float],
        shape: Callable[[np.ndarray, np.ndarray], np.ndarray],
        color: Sequence[float],
        mat: int,
        aux: float | np.ndarray = 0.0,
    ) -> None:
        """Paint pixels of ``box`` = (x0, x1, y0, y1) where ``shape(xx, yy)`` is true.

        ``xx`` (1, w) and ``yy`` (h, 1) are pixel-centre coordinates; ``aux`` may be a scalar or
        an array broadcastable to the box.
        """
        x0, x1, y0, y1 = box
        ix0, ix1 = max(int(np.floor(x0)), 0), min(int(np.ceil(x1)), self.w)
        iy0, iy1 = max(int(np.floor(y0)), 0), min(int(np.ceil(y1)), self.h)
        if ix0 >= ix1 or iy0 >= iy1:
            return
        xx = np.arange(ix0, ix1, dtype=np.float32)[None, :] + 0.5
        yy = np.arange(iy0, iy1, dtype=np.float32)[:, None] + 0.5
        m = np.broadcast_to(shape(xx, yy), (iy1 - iy0, ix1 - ix0))
        sl = (slice(iy0, iy1), slice(ix0, ix1))
        self.albedo[sl][m] = np.asarray(color, np.float32)
        self.alpha[sl][m] = 1.0
        self.mat[sl][m] = mat
        self.aux[sl][m] = np.broadcast_to(np.asarray(aux, np.float32), m.shape)[m]

    # -- primitives (coordinates in canvas px) --
    def rect(
        self,
        x0: float,
        x1: float,
        y0: float,
        y1: float,
        color: Sequence[float],
        mat: int,
        aux: float | np.ndarray = 0.0,
    ) -> None:
        """Axis-aligned rectangle [x0, x1) x [y0, y1)."""
        self.draw((x0, x1, y0, y1), lambda xx, yy: (xx >= x0) & (xx < x1) & (yy >= y0) & (yy < y1), color, mat, aux)

    def ellipse(
        self, cx: float, cy: float, rx: float, ry: float, color: Sequence[float], mat: int, aux: float = 0.0
    ) -> None:
        """Filled ellipse centred at (cx, cy) with radii (rx, ry)."""
        self.draw(
            (cx - rx, cx + rx, cy - ry, cy + ry),
            lambda xx, yy: ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1.0,
            color,
            mat,
            aux,
        )

    def gable(self, cx: float, half: float, y_top: float, y_base: float, color: Sequence[float], mat: int) -> None:
        """Isosceles triangle with apex (cx, y_top) and base half-width ``half`` at y_base."""
        hgt = max(y_base - y_top, 1e-3)
        self.draw(
            (cx - half, cx + half, y_top, y_base),
            lambda xx, yy: (np.abs(xx - cx) <= half * (yy - y_top) / hgt) & (yy < y_base),
            color,
            mat,
        )

    def segment(self, x0: float, y0: float, x1: float, y1: float, r: float, color: Sequence[float], mat: int) -> None:
        """Line segment (x0, y0)-(x1, y1) with round caps, half-thickness ``r``."""
        dx, dy = x1 - x0, y1 - y0
        l2 = dx * dx + dy * dy + 1e-9

        def shape(xx: np.ndarray, yy: np.ndarray) -> np.ndarray:
            t = np.clip(((xx - x0) * dx + (yy - y0) * dy) / l2, 0.0, 1.0)
            return (xx - x0 - t * dx) ** 2 + (yy - y0 - t * dy) ** 2 <= r * r

        self.draw((min(x0, x1) - r, max(x0, x1) + r, min(y0, y1) - r, max(y0, y1) + r), shape, color, mat)


@dataclass(frozen=True, eq=False)
class _Layer:
    """One parallax layer panorama; ``parallax``/``haze`` are per panorama row, shape (Hp,)."""

    name: str
    parallax: np.ndarray
    haze: np.ndarray
    albedo: np.ndarray  # (Hp, Wl, 3) float32 in [0, 1]
    alpha: np.ndarray  # (Hp, Wl) float32 {0, 1}
    mat: np.ndarray  # (Hp, Wl) uint8 material id
    aux: np.ndarray  # (Hp, Wl) float32 per-object random value in [0, 1)
    noise: np.ndarray  # (Hp, Wl) float32 smooth noise in [0, 1]


@dataclass(frozen=True, eq=False)
class World:
    """A procedural route: layer panoramas plus the camera model.

    ``image_size`` is (H, W) px; ``place_step`` is the camera advance per place in near-layer px;
    images are cropped from panorama rows ``margin_y + dy + [0, H)`` and columns
    ``margin_x + round(parallax * (p * place_step + dx_trans) + dx_rot) + [0, W)``.
    """

    seed: int
    places: int
    image_size: tuple[int, int]
    place_step: int
    margin_y: int  # max vertical jitter (px)
    max_trans: int  # max lateral translation jitter (near-layer px, scaled by parallax)
    max_rot: int  # max lateral rotation jitter (px, same for all layers)
    margin_x: int
    layers: tuple[_Layer, ...]


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

_NEAR_BASE = 0.865  # ground line of the near objects and poles (fraction of image height)


@dataclass(frozen=True, eq=False)
class _Frame:
    """Row geometry shared by the layer builders of one world.

    ``hp`` panorama rows = ``h`` image rows + 2 * ``margin_y`` jitter margin rows; ``s`` = h / 96 is the
    object scale (sizes are designed for 96-row images); ``rows`` (hp, 1) float32 pixel-centre
    rows.
    """

    seed: int
    hp: int
    h: int
    s: float
    margin_y: int
    rows: np.ndarray

    def y(self, frac: float) -> float:
        """Panorama row of an image-height fraction (0 = top of an unjittered image)."""
        return self.margin_y + frac * self.h


def _finish_layer(
    frame: _Frame,
    name: str,
    canvas: _Canvas,
    parallax: float | np.ndarray,
    haze: float | np.ndarray,
    key: int,
    cell: float,
) -> _Layer:
    """Freeze a canvas into a layer.

    ``parallax`` and ``haze`` (scalars or per row) become (hp,) float32; ``noise`` (hp, w) is two
    octaves of 2-D value noise from stream ``key``, coarse cell ``cell`` px and fine cell
    ``max(1.5, cell / 2.5)`` px.
    """
    fine = max(1.5, cell / 2.5)
    noise = 0.65 * _noise2d((frame.seed, _S_NOISE, key, 0), frame.hp, canvas.w, cell, cell) + 0.35 * _noise2d(
        (frame.seed, _S_NOISE, key, 1), frame.hp, canvas.w, fine, fine
    )
    return _Layer(
        name,
        np.broadcast_to(np.asarray(parallax, np.float32), (frame.hp,)).copy(),
        np.broadcast_to(np.asarray(haze, np.float32), (frame.hp,)).copy(),
        canvas.albedo,
        canvas.alpha,
        canvas.mat,
        canvas.aux,
        noise.astype(np.float32),
    )


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


# ------------------------------------------------------------------------------- mid ("town")
def _lake(frame: _Frame, canvas: _Canvas, ground_line: np.ndarray, x0: float, x1: float) -> None:
    """A lake between columns ``x0`` and ``x1`` (px): half an ellipse below the ground line."""
    cx, half = (x0 + x1) / 2, (x1 - x0) / 2
    water_line = float(ground_line[int(np.clip(cx, 0, canvas.w - 1))]) + 1.0 * frame.s
    depth = 0.3 * frame.h

    def lake(xx: np.ndarray, yy: np.ndarray) -> np.ndarray:
        return (yy >= water_line) & (((xx - cx) / half) ** 2 + ((yy - water_line) / depth) ** 2 <= 1.0)

    canvas.draw((x0, x1, water_line, water_line + depth), lake, (0.33, 0.48, 0.66), _WATER)


def _street_lamp(canvas: _Canvas, x: float, base: float, s: float) -> None:
    """A street lamp (post and lamp head, about 11 s-px tall) at column ``x`` on row ``base``."""
    canvas.rect(x, x + max(0.6, 0.7 * s), base - 10 * s, base, (0.2, 0.2, 0.2), _POLE)
    canvas.rect(x - 0.6 * s, x + 1.3 * s, base - 11.2 * s, base - 9.8 * s, (0.65, 0.65, 0.6), _LAMP)


def _town_building(frame: _Frame, canvas: _Canvas, rng: np.random.Generator, x: float, base: float) -> float:
    """A town building from column ``x`` on ground row ``base``, sometimes a street lamp in
    front; returns the column where the next object starts (px)."""
    s = frame.s
    width = rng.uniform(12, 34) * s
    height = rng.uniform(12, 40) * s
    kind = rng.choice(["flat", "pitched", "shed", "church"], p=[0.42, 0.4, 0.12, 0.06])
    if kind == "church":
        height = min(height, 22 * s)
    _building(canvas, rng, x, base, width, height, s, str(kind))
    if rng.random() < 0.35:  # street lamp in front
        _street_lamp(canvas, x + width + rng.uniform(0.5, 2.5) * s, base, s)
    x += width + rng.uniform(0, 5) * s
    return x


def _village_house(
    frame: _Frame, canvas: _Canvas, foliage: _Canvas, rng: np.random.Generator, x: float, base: float
) -> float:
    """A small pitched house, often followed by a garden tree; returns the next column (px)."""
    s, h, small = frame.s, frame.h, 0.55 * frame.s
    width = rng.uniform(10, 19) * s
    _building(canvas, rng, x, base, width, rng.uniform(8, 15) * s, s, "pitched")
    x += width + rng.uniform(3, 10) * s
    if rng.random() < 0.7:
        _tree(canvas, foliage, rng, x, base, rng.uniform(0.3, 0.5) * h * 0.6, rng.uniform(0.08, 0.12) * h * 0.6, small)
    x += rng.uniform(4, 20) * s
    return x


def _field_feature(frame: _Frame, canvas: _Canvas, rng: np.random.Generator, x: float, base: float) -> float:
    """Open field: a row of hay bales, a barn or nothing; returns the next column (px)."""
    s = frame.s
    if rng.random() < 0.35:
        for _ in range(int(rng.integers(2, 6))):
            canvas.ellipse(x, base - 1.5 * s, 2.0 * s, 1.6 * s, (0.78, 0.66, 0.35), _HAY)
            x += rng.uniform(5, 10) * s
    elif rng.random() < 0.3:  # barn
        _building(canvas, rng, x, base, rng.uniform(14, 22) * s, rng.uniform(8, 12) * s, s, "pitched")
    x += rng.uniform(15, 40) * s
    return x


def _grove_tree(
    frame: _Frame, canvas: _Canvas, foliage: _Canvas, rng: np.random.Generator, x: float, base: float
) -> float:
    """One deciduous tree or conifer of a grove; returns the next column (px)."""
    s, h, small = frame.s, frame.h, 0.55 * frame.s
    if rng.random() < 0.5:
        _tree(
            canvas, foliage, rng, x, base, rng.uniform(0.45, 0.75) * h * 0.6, rng.uniform(0.08, 0.13) * h * 0.6, small
        )
    else:
        _conifer(canvas, rng, x, base, rng.uniform(0.45, 0.8) * h * 0.6, rng.uniform(0.06, 0.1) * h * 0.6, small)
    x += rng.uniform(3, 9) * s
    return x


def _mid_stretch(
    frame: _Frame, canvas: _Canvas, foliage: _Canvas, rng: np.random.Generator, ground_line: np.ndarray, x: float
) -> float:
    """One stretch of the mid layer from column ``x`` (town, village, field, grove or lake, its
    length drawn from ``rng``) on the ground line ``ground_line`` (w,) rows; returns the next column."""
    s, w = frame.s, canvas.w
    kind = rng.choice(["town", "village", "field", "grove", "lake"], p=[0.32, 0.27, 0.15, 0.16, 0.10])
    seg_end = (
        x
        + {
            "town": rng.uniform(90, 260),
            "village": rng.uniform(70, 200),
            "field": rng.uniform(30, 120),
            "grove": rng.uniform(40, 120),
            "lake": rng.uniform(50, 150),
        }[kind]
        * s
    )
    if kind == "lake":
        _lake(frame, canvas, ground_line, x, seg_end)
        x = seg_end
    while x < seg_end:
        ix = int(np.clip(x, 0, w - 1))
        base = ground_line[ix] + 1.5 * s
        if kind == "town":
            x = _town_building(frame, canvas, rng, x, base)
        elif kind == "village":
            x = _village_house(frame, canvas, foliage, rng, x, base)
        elif kind == "field":
            x = _field_feature(frame, canvas, rng, x, base)
        else:
            x = _grove_tree(frame, canvas, foliage, rng, x, base)
    x += rng.uniform(0, 20) * s
    return x


def _mid_layers(frame: _Frame, w: int) -> tuple[_Layer, _Layer]:
    """Mid layers (hp, w), parallax 0.60: a meadow with towns, villages, fields, groves and lakes
    (``mid``), and the foliage of its deciduous trees (``mid_foliage``)."""
    s = frame.s
    canvas, foliage = _Canvas(frame.hp, w), _Canvas(frame.hp, w)
    rng = _rng(frame.seed, _S_MID)
    ground_line = _ground_profile(frame.seed, _S_MID + 50, w, frame.y(0.71), 0.025 * frame.h, s)
    meadow = frame.rows >= ground_line[None, :]
    canvas.alpha[meadow] = 1.0
    canvas.mat[meadow] = _MEADOW
    canvas.albedo[meadow] = (0.36, 0.52, 0.24)
    x = 0.0
    while x < w:
        x = _mid_stretch(frame, canvas, foliage, rng, ground_line, x)
    return (
        _finish_layer(frame, "mid", canvas, 0.60, 0.45, 4, 3 * s),
        _finish_layer(frame, "mid_foliage", foliage, 0.60, 0.45, 5, 2.5 * s),
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


# --------------------------------------------------------------------------- poles and wires
def _lamp_posts(frame: _Frame, canvas: _Canvas) -> None:
    """Lamp posts along the line, every 55-140 s-px, each with an arm and a lamp head."""
    s, h, near_base = frame.s, frame.h, frame.y(_NEAR_BASE)
    rng = _rng(frame.seed, _S_POLES)
    pole_color = (0.22, 0.22, 0.23)
    x = rng.uniform(0, 60) * s
    while x < canvas.w:
        pole_h = rng.uniform(0.44, 0.56) * h
        top = near_base + s - pole_h
        pole_w = max(1.0, 1.1 * s)
        canvas.rect(x, x + pole_w, top, near_base + s, pole_color, _POLE)
        side = 1 if rng.random() < 0.5 else -1
        arm = rng.uniform(3.5, 6) * s
        arm_x = x + pole_w / 2
        canvas.segment(arm_x, top + 0.5, arm_x + side * arm, top - 1.2 * s, max(0.5, 0.5 * s), pole_color, _POLE)
        head_x = arm_x + side * arm
        canvas.rect(head_x - 1.6 * s, head_x + 1.6 * s, top - 1.6 * s, top, (0.62, 0.62, 0.58), _LAMP)
        x += rng.uniform(55, 140) * s


def _wire(canvas: _Canvas, x_from: float, x_to: float, wire_y: float, sag: float, s: float) -> None:
    """A wire from column ``x_from`` to ``x_to`` hung at row ``wire_y``, sagging parabolically by ``sag``
    px at mid-span."""

    def wire(xx: np.ndarray, yy: np.ndarray) -> np.ndarray:
        t = (xx - x_from) / (x_to - x_from)
        sag_row = wire_y + sag * 4 * t * (1 - t)
        return np.abs(yy - sag_row) <= max(0.5, 0.45 * s)

    canvas.draw((x_from, x_to, wire_y - s, wire_y + sag + s), wire, (0.12, 0.12, 0.12), _WIRE)


def _telegraph_run(frame: _Frame, canvas: _Canvas, rng: np.random.Generator, x: float, run: float) -> None:
    """Telegraph poles with cross arms every 40-55 s-px over ``[x, x + run)``, two wires
    between neighbouring poles."""
    s, near_base = frame.s, frame.y(_NEAR_BASE)
    span = rng.uniform(40, 55) * s
    pole_h = rng.uniform(0.6, 0.68) * frame.h
    pole_xs = np.arange(x, x + run, span)
    for i, pole_x in enumerate(pole_xs):
        top = near_base - pole_h
        canvas.rect(pole_x, pole_x + max(1.0, 1.8 * s), top, near_base + s, (0.36, 0.27, 0.20), _POLE)
        canvas.rect(
            pole_x - 3.5 * s, pole_x + 5.3 * s, top + 2 * s, top + 2 * s + max(1.0, s), (0.36, 0.27, 0.20), _POLE
        )
        if i + 1 < len(pole_xs):
            for wire_y in (top + 1.5 * s, top + 4.5 * s):  # two wires
                _wire(canvas, pole_x, pole_xs[i + 1], wire_y, 3.0 * s, s)


def _pole_layer(frame: _Frame, w: int) -> _Layer:
    """Front layer (hp, w), parallax 1.0: lamp posts, and telegraph poles with sagging wires in
    some stretches (150-500 s-px runs, 40 % of them poled)."""
    canvas = _Canvas(frame.hp, w)
    _lamp_posts(frame, canvas)
    x = 0.0
    rng = _rng(frame.seed, _S_POLES, 1)
    while x < w:  # telegraph stretches
        run = rng.uniform(150, 500) * frame.s
        if rng.random() < 0.4:
            _telegraph_run(frame, canvas, rng, x, run)
        x += run
    return _finish_layer(frame, "poles", canvas, 1.0, 0.10, 9, 2.5 * frame.s)


def _build_layers(
    seed: int,
    hp: int,
    h: int,
    widths: dict[str, int],
    s: float,
    margin_y: int,
) -> list[_Layer]:
    """Rasterise all layers, back to front.

    ``hp`` panorama rows, ``h`` image rows, ``s`` = h / 96 object scale, ``margin_y`` row margin;
    ``widths`` the panorama width (px) of the ``sky``, ``mountains``, ``hills``, ``mid`` and
    ``near`` layers (the ground, near and pole layers share ``near``).
    """
    frame = _Frame(seed, hp, h, s, margin_y, np.arange(hp, dtype=np.float32)[:, None] + 0.5)
    return [
        _sky_layer(frame, widths["sky"]),
        _mountain_layer(frame, widths["mountains"]),
        _hill_layer(frame, widths["hills"]),
        *_mid_layers(frame, widths["mid"]),
        _ground_layer(frame, widths["near"]),
        *_near_layers(frame, widths["near"]),
        _pole_layer(frame, widths["near"]),
    ]


def build_world(
    seed: int = 0, places: int = 300, image_size: tuple[int, int] = (96, 128), place_step: int | None = None
) -> World:
    """Build the route geometry (condition independent).

    Args:
        seed: world seed (structure of the landscape).
        places: number of places along the route (>= 2).
        image_size: (H, W) of rendered images in px (each >= 32).
        place_step: camera advance per place in near-layer px; default ``round(W / 4)``.
    """
    places = int(places)
    if places < 2:
        raise ValueError(f"places must be >= 2, got {places}")
    h, w = (int(v) for v in image_size)
    if h < 32 or w < 32:
        raise ValueError(f"image_size must be at least (32, 32), got {image_size}")
    step = round(0.25 * w) if place_step is None else int(place_step)
    if step < 1:
        raise ValueError(f"place_step must be >= 1, got {place_step}")
    s = h / 96.0
    margin_y = max(1, round(2 * s))
    max_trans, max_rot = max(1, round(4 * s)), max(1, round(2 * s))
    margin_x = max_rot + int(np.ceil(1.3 * max_trans)) + 2
    span = (places - 1) * step + max_trans

    def width(f: float) -> int:
        # + a tail so that objects just beyond the last view are drawn and cast their light
        return 2 * margin_x + int(np.ceil(f * span)) + w + 2 + int(40 * s)

    widths = {
        "sky": width(0.03),
        "mountains": width(0.12),
        "hills": width(0.30),
        "mid": width(0.60),
        "near": width(1.0),
    }
    layers = _build_layers(int(seed), h + 2 * margin_y, h, widths, s, margin_y)
    return World(int(seed), places, (h, w), step, margin_y, max_trans, max_rot, margin_x, tuple(layers))


# --------------------------------------------------------------------------------------------
# conditions
# --------------------------------------------------------------------------------------------
def check_condition(condition: str) -> int:
    """Index of ``condition`` in :data:`CONDITIONS`; ValueError naming the valid ones if unknown."""
    if condition not in CONDITIONS:
        raise ValueError(f"unknown condition {condition!r}; valid conditions: {', '.join(CONDITIONS)}")
    return CONDITIONS.index(condition)


def _sky(layer: _Layer, condition: str, h: int, margin_y: int) -> np.ndarray:
    """Sky colour (Hp, Wl, 3) for a condition: clouds, overcast, fog or a starry night."""
    hp = layer.alpha.shape[0]
    t = np.clip((np.arange(hp, dtype=np.float32) - margin_y) / (0.6 * h), 0, 1)[:, None, None]
    clouds = layer.noise[..., None]
    if condition in ("day", "autumn"):
        top = np.array([0.30, 0.52, 0.86] if condition == "day" else [0.42, 0.56, 0.78], np.float32)
        horizon = np.array([0.72, 0.82, 0.94] if condition == "day" else [0.86, 0.80, 0.70], np.float32)
        rgb = top + (horizon - top) * t
        cover = np.clip((clouds - 0.58) / 0.16, 0, 1) * (1.0 - 0.7 * t)
        cloud = np.array([0.97, 0.97, 0.98], np.float32) - 0.12 * np.clip((clouds - 0.75) / 0.2, 0, 1)
        return rgb + (cloud - rgb) * cover
    if condition == "winter":  # pale overcast, soft cloud texture
        base = np.array([0.78, 0.80, 0.83], np.float32) + 0.08 * t
        return base - 0.07 * (clouds - 0.5)
    if condition == "haze":
        return _FOG + (0.06 * (1 - t)) - 0.02 * (clouds - 0.5)
    # night: dark blue gradient, stars
    top = np.array([0.01, 0.012, 0.035], np.float32)
    horizon = np.array([0.07, 0.085, 0.17], np.float32)
    rgb = top + (horizon - top) * t**1.5
    star = np.clip((layer.aux - 0.9965) / 0.0035, 0, 1)[..., None] * (1 - t)
    return rgb + 0.8 * star


def _lamp_light(world: World) -> tuple[np.ndarray, np.ndarray]:
    """Night light of the lamp posts in near-layer panorama coordinates.

    Returns (pool (Hp, Wl) for near objects: soft falloff around each lamp head, ground (Wl,):
    a light profile along the track under each lamp). Unitless gains.
    """
    poles = next(layer for layer in world.layers if layer.name == "poles")
    s = world.image_size[0] / 96.0
    lamp_heads = (poles.mat == _LAMP).astype(np.float32)
    pool = np.minimum(60.0 * _glow(lamp_heads, max(2, round(8 * s))), 1.6)
    lamp_columns = lamp_heads.max(axis=0)[None, :]
    radius = max(2, round(6 * s))
    one_lamp = np.zeros((1, 8 * radius + 8), np.float32)  # one lamp head, for a route-independent scale
    one_lamp[0, 4 * radius : 4 * radius + max(1, round(3.2 * s))] = 1.0
    ground = np.minimum(1.2 * _glow(lamp_columns, radius)[0] / float(_glow(one_lamp, radius).max()), 1.5)
    return pool, ground


# material groups of the shading
_NATURAL_MATS = [
    _MOUNTAIN_FAR,
    _MOUNTAIN,
    _HILL,
    _HILL_TREES,
    _MEADOW,
    _FOLIAGE,
    _CONIFER,
    _BUSH,
    _GRASS,
    _BALLAST,
    _HAY,
    _BANK,
    _WATER,
]
_LEAFY_MATS = [_FOLIAGE, _CONIFER, _BUSH, _HILL_TREES]
_ROCK_MATS = [_MOUNTAIN_FAR, _MOUNTAIN]
_LAMP_LIT_LAYERS = ("near", "near_foliage", "poles", "ground")

# autumn colours of foliage, picked per tree by its aux value
_AUTUMN_RAMP = np.array(
    [[0.92, 0.62, 0.12], [0.88, 0.38, 0.08], [0.70, 0.16, 0.08], [0.48, 0.28, 0.12], [0.62, 0.62, 0.18]], np.float32
)


def _base_shading(layer: _Layer, s: float) -> tuple[np.ndarray, np.ndarray]:
    """Condition-independent shading: albedo textured by the noise (stronger on natural
    materials) and sunlit top edges of foliage and conifers (cheap volume).

    Returns rgb (Hp, Wl, 3) float32 and the lit top edges (Hp, Wl) bool.
    """
    mat, noise = layer.mat, layer.noise
    natural = np.isin(mat, _NATURAL_MATS)
    texture = np.where(natural, 0.84 + 0.32 * noise, 0.95 + 0.10 * noise)[..., None]
    rgb = layer.albedo * texture
    leafy = np.isin(mat, _LEAFY_MATS)
    lit_top = _top_band(layer.alpha > 0, max(1, round(1.5 * s))) & leafy
    rgb[lit_top] *= 1.25
    return rgb, lit_top


def _day_snowcaps(layer: _Layer, rgb: np.ndarray, rock: np.ndarray) -> None:
    """Day: snow on the highest mountain rock (altitude in ``aux``), in place on rgb."""
    aux, noise = layer.aux, layer.noise
    snowcap = rock & (aux + 0.15 * noise > 0.86)
    rgb[snowcap] = _SNOW * (0.85 + 0.15 * noise[snowcap, None])


def _autumn(layer: _Layer, rgb: np.ndarray, alpha: np.ndarray, lit_top: np.ndarray, rock: np.ndarray) -> None:
    """Autumn, in place on rgb (Hp, Wl, 3) and alpha (Hp, Wl): foliage recoloured per tree and
    thinned (branches show through), yellowed grass, fallen leaves, smaller snow caps."""
    mat, aux, noise = layer.mat, layer.aux, layer.noise
    ramp = _AUTUMN_RAMP
    foliage = mat == _FOLIAGE
    idx = np.minimum((aux * len(ramp)).astype(np.int64), len(ramp) - 1)
    rgb[foliage] = ramp[idx[foliage]] * (0.7 + 0.5 * noise[foliage, None])
    rgb[foliage & lit_top] *= 1.15
    alpha[foliage & (noise < 0.36)] = 0.0  # thinning: branches show through
    yellowed = np.isin(mat, [_MEADOW, _HILL, _GRASS, _BANK])
    rgb[yellowed] = rgb[yellowed] * np.array([1.25, 0.95, 0.55], np.float32)
    hill_trees = mat == _HILL_TREES
    rgb[hill_trees] = ramp[idx[hill_trees]] * 0.7 * (0.8 + 0.4 * noise[hill_trees, None])
    bush = mat == _BUSH
    rgb[bush] = rgb[bush] * np.array([1.9, 1.0, 0.6], np.float32)
    if layer.name == "ground":  # fallen leaves on the grass
        leaves = (mat == _GRASS) & (aux > 0.93)
        rgb[leaves] = ramp[(aux[leaves] * 1e3).astype(np.int64) % len(ramp)]
    snowcap = rock & (aux + 0.15 * noise > 0.9)
    rgb[snowcap] = _SNOW * 0.9


def _winter_snow(layer: _Layer, solid: np.ndarray, rock: np.ndarray, s: float) -> np.ndarray:
    """Where snow lies in winter, (Hp, Wl) bool: ground, fields, top surfaces, patches."""
    mat, aux, noise = layer.mat, layer.aux, layer.noise
    top = _top_band(solid, max(1, round(2 * s)))
    snow = np.isin(mat, [_MEADOW, _HILL, _GRASS, _HAY, _BALLAST, _BANK])
    snow |= (mat == _SLEEPER) & (noise > 0.35)
    snow |= rock & ((aux + 0.6 * noise > 0.5) | top)
    snow |= (mat == _ROOF) & ((noise > 0.2) | top)
    snow |= np.isin(mat, [_CONIFER, _BUSH, _HILL_TREES]) & (top | (noise > 0.68))
    snow |= np.isin(mat, [_TRUNK, _FENCE, _LAMP, _SIGN, _WALL]) & _top_band(solid, 1)
    return snow


def _winter(layer: _Layer, rgb: np.ndarray, alpha: np.ndarray, rock: np.ndarray, s: float) -> np.ndarray:
    """Winter: bare deciduous trees (alpha (Hp, Wl) cleared in place), cool overcast light,
    snow, bare dark rock and iced water. Returns rgb (Hp, Wl, 3)."""
    mat, noise = layer.mat, layer.noise
    alpha[mat == _FOLIAGE] = 0.0  # bare deciduous trees
    snow = _winter_snow(layer, alpha > 0, rock, s)
    rgb = rgb * np.array([0.78, 0.80, 0.86], np.float32)  # overcast, cool
    rgb[snow] = _SNOW * (0.86 + 0.14 * noise[snow, None])
    bare = rock & ~snow
    rgb[bare] = np.array([0.24, 0.26, 0.28], np.float32) * (0.7 + 0.6 * noise[bare, None])
    ice = (mat == _WATER) & ~snow
    rgb[ice] = np.array([0.70, 0.76, 0.82], np.float32) * (0.9 + 0.2 * noise[ice, None])
    rgb[(mat == _WATER) & (noise > 0.58)] = _SNOW * 0.95
    return rgb


def _lamp_light_on(world: World, layer: _Layer, lamp_light: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray | None:
    """Lamp light gain falling on a layer, (Hp, Wl), or None where lamps do not reach.

    Near objects get the pool around the lamp heads; the ground gets the light profile along
    the track, fading with distance below the verge (rows).
    """
    if lamp_light is None or layer.name not in _LAMP_LIT_LAYERS:
        return None
    pool, ground = lamp_light
    if layer.name != "ground":
        return pool
    h = world.image_size[0]
    falloff = np.clip(1.0 - (np.arange(len(layer.parallax)) - world.margin_y - 0.83 * h) / (0.35 * h), 0.3, 1.0).astype(
        np.float32
    )
    return falloff[:, None] * ground[None, :]


def _night(
    world: World,
    layer: _Layer,
    rgb: np.ndarray,
    lamp_light: tuple[np.ndarray, np.ndarray] | None,
    s: float,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Night: dark ambient light plus lamp light, lit windows (aux < 0.5) and lamp heads.

    Returns rgb (Hp, Wl, 3) and the additive glow (Hp, Wl, 2) of windows and lamps (None when
    the layer has neither).
    """
    mat, aux = layer.mat, layer.aux
    ambient = np.array([0.11, 0.13, 0.22], np.float32)
    lit_windows = (mat == _WINDOW) & (aux < 0.5)
    lamp = mat == _LAMP
    light = _lamp_light_on(world, layer, lamp_light)
    rgb = rgb * ambient if light is None else rgb * (ambient + light[..., None] * _LAMP_LIGHT)
    window_emission = np.where(lit_windows, 0.75 + 0.5 * aux, 0.0).astype(np.float32)
    lamp_emission = lamp.astype(np.float32)
    rgb[lit_windows] = _WINDOW_LIGHT * window_emission[lit_windows, None]
    rgb[lamp] = _LAMP_LIGHT * 1.3
    glow = None
    if lit_windows.any() or lamp.any():
        radius_near, radius_far = max(1, round(2.5 * s)), max(2, round(7 * s))
        glow = np.stack(
            [
                0.9 * _glow(window_emission, radius_near) + 1.2 * _glow(window_emission, radius_far),
                1.6 * _glow(lamp_emission, radius_near) + 3.0 * _glow(lamp_emission, radius_far),
            ],
            axis=-1,
        )
    return rgb, glow


def _fog(layer: _Layer, rgb: np.ndarray) -> np.ndarray:
    """Haze: blend rgb (Hp, Wl, 3) towards the fog colour by the layer's per-row haze."""
    haze = layer.haze[:, None, None]
    return rgb * (1 - haze) + _FOG * haze


def _shade(
    world: World,
    layer: _Layer,
    condition: str,
    lamp_light: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Shade a layer panorama for a condition.

    Returns rgb (Hp, Wl, 3), alpha (Hp, Wl) and an optional additive glow (Hp, Wl, 2): window
    and lamp light intensity, coloured at composite time.
    """
    h = world.image_size[0]
    s = h / 96.0
    if layer.name == "sky":
        return _sky(layer, condition, h, world.margin_y).astype(np.float32), layer.alpha, None
    alpha = layer.alpha.copy()
    rgb, lit_top = _base_shading(layer, s)
    glow = None
    rock = np.isin(layer.mat, _ROCK_MATS)
    if condition == "day":
        _day_snowcaps(layer, rgb, rock)
    elif condition == "autumn":
        _autumn(layer, rgb, alpha, lit_top, rock)
    elif condition == "winter":
        rgb = _winter(layer, rgb, alpha, rock, s)
    elif condition == "night":
        rgb, glow = _night(world, layer, rgb, lamp_light, s)
    elif condition == "haze":
        rgb = rgb * np.array([0.92, 0.93, 0.95], np.float32)
    else:  # pragma: no cover - validated by the callers
        raise ValueError(condition)
    rgb = np.clip(rgb, 0, 1.5)
    if condition == "haze":
        rgb = _fog(layer, rgb)
    return rgb.astype(np.float32), alpha, glow


# --------------------------------------------------------------------------------------------
# camera and rendering
# --------------------------------------------------------------------------------------------
def traversal_offsets(
    world: World,
    condition: str,
    places: Sequence[int] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-image viewpoint jitter of a traversal: (dx_trans, dx_rot, dy), int arrays (n,).

    ``dx_trans`` (near-layer px, scaled by each layer's parallax), ``dx_rot`` (px, all layers)
    and ``dy`` (px, all layers) are drawn per (seed, condition, place).
    """
    condition_index = check_condition(condition)
    ids = np.arange(world.places) if places is None else np.asarray(places, np.int64)
    out = np.zeros((3, len(ids)), np.int64)
    for j, p in enumerate(ids):
        jitter_rng = _rng(world.seed, _S_JITTER, condition_index, int(p))
        out[:, j] = (
            jitter_rng.integers(-world.max_trans, world.max_trans + 1),
            jitter_rng.integers(-world.max_rot, world.max_rot + 1),
            jitter_rng.integers(-world.margin_y, world.margin_y + 1),
        )
    return out[0], out[1], out[2]


def _flat_index(
    layer: _Layer, wl: int, pos: np.ndarray, dx_rot: np.ndarray, rows: np.ndarray, margin_x: int, w: int
) -> np.ndarray:
    """Flat panorama index of every image pixel, (n, H, W) int64; ``rows`` (n, H) pano rows."""
    off = margin_x + np.rint(layer.parallax[rows] * pos[:, None] + dx_rot[:, None]).astype(np.int64)
    return (rows * wl + off)[:, :, None] + np.arange(w)[None, None, :]


def render_condition(
    world: World,
    condition: str,
    places: Sequence[int] | None = None,
    *,
    jitter: bool = True,
    noise: bool = True,
    chunk: int = 64,
) -> np.ndarray:
    """Render one traversal in memory.

    Args:
        world: from :func:`build_world`.
        condition: one of :data:`CONDITIONS`.
        places: place indices to render (default: all ``world.places``).
        jitter: apply the per-image viewpoint jitter (see :func:`traversal_offsets`).
        noise: add per-image sensor noise.
        chunk: places composited per batch (memory bound).

    Returns:
        uint8 array (n, H, W, 3), RGB.
    """
    condition_index = check_condition(condition)
    ids = np.arange(world.places) if places is None else np.asarray(places, np.int64)
    if ids.size and (ids.min() < 0 or ids.max() >= world.places):
        raise ValueError(f"place indices must be in [0, {world.places}), got {ids.tolist()}")
    h, w = world.image_size
    lamp_light = _lamp_light(world) if condition == "night" else None
    # shade every layer panorama once and stack them into one table of pixels; alpha is
    # binary, so an image pixel shows the pixel of its frontmost opaque layer
    rgbs, alphas, glows, base = [], [], [], [0]
    for layer in world.layers:
        rgb, alpha, glow = _shade(world, layer, condition, lamp_light)
        rgbs.append(rgb.reshape(-1, 3))
        alphas.append((alpha > 0.5).ravel())
        glows.append(None if glow is None else glow.reshape(-1, 2))
        base.append(base[-1] + alpha.size)
    table, opaque = np.concatenate(rgbs), np.concatenate(alphas)
    del rgbs, alphas
    dx_trans, dx_rot, dy = traversal_offsets(world, condition, ids)
    if not jitter:
        dx_trans, dx_rot, dy = np.zeros_like(dx_trans), np.zeros_like(dx_rot), np.zeros_like(dy)
    sigma = {"night": 0.022, "haze": 0.012}.get(condition, 0.010)
    out = np.empty((len(ids), h, w, 3), np.uint8)
    for first in range(0, len(ids), chunk):
        sl = slice(first, first + chunk)
        pos = (ids[sl] * world.place_step + dx_trans[sl]).astype(np.float64)
        rows = world.margin_y + dy[sl, None] + np.arange(h)[None, :]
        pick = front = None  # table index of the visible pixel, index of its layer
        flats = []
        for k, layer in enumerate(world.layers):
            flat = base[k] + _flat_index(layer, layer.alpha.shape[1], pos, dx_rot[sl], rows, world.margin_x, w)
            flats.append(flat)
            if pick is None:  # the sky is opaque everywhere
                pick, front = flat.copy(), np.zeros(flat.shape, np.int8)
            else:
                hit = opaque[flat]
                np.copyto(pick, flat, where=hit)
                np.copyto(front, np.int8(k), where=hit)
        img = table.take(pick.ravel(), axis=0).reshape(*pick.shape, 3)
        for k, flat in enumerate(flats):  # additive light, hidden behind nearer layers
            if glows[k] is not None:
                light = glows[k][flat - base[k]] * (front <= k)[..., None]
                if condition == "haze":
                    light *= (1 - world.layers[k].haze[rows])[..., None, None]
                img += light[..., 0:1] * _WINDOW_LIGHT + light[..., 1:2] * _LAMP_LIGHT
        if noise:
            for j, p in enumerate(ids[sl]):
                sensor_rng = _rng(world.seed, _S_SENSOR, condition_index, int(p))
                img[j] += sigma * sensor_rng.standard_normal((h, w, 3), dtype=np.float32)
        out[sl] = np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return out


# --------------------------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------------------------
def _write_png(path: Path, image: np.ndarray) -> None:
    """Write an (H, W, 3) uint8 RGB image to ``path`` as PNG, atomically."""
    with atomic_path(path) as tmp:
        Image.fromarray(image, "RGB").save(tmp, format="PNG", compress_level=1)


def render_route(
    out_dir: Path,
    places: int,
    conditions: Sequence[str],
    seed: int = 0,
    image_size: tuple[int, int] = (96, 128),
    place_step: int | None = None,
) -> pd.DataFrame:
    """Render a route to disk and index it.

    Writes ``out_dir/<condition>/<place:05d>.png`` (RGB uint8, H x W = ``image_size``) for every
    condition and place, then ``out_dir/route.csv`` (columns ``image`` relative to ``out_dir``,
    ``place`` 0-based int, ``condition``), condition-major in the given order. Each file is
    written atomically; an existing route.csv is removed first and the new one written last, so
    an interrupted run never leaves a route.csv pointing at incomplete images.

    Returns:
        The route.csv frame.
    """
    if isinstance(conditions, str):
        conditions = [conditions]
    conditions = list(conditions)
    if not conditions:
        raise ValueError(f"no conditions given; valid conditions: {', '.join(CONDITIONS)}")
    for c in conditions:
        check_condition(c)
    if len(set(conditions)) != len(conditions):
        raise ValueError(f"duplicate conditions in {conditions}")
    world = build_world(seed, places, image_size, place_step)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv = out_dir / "route.csv"
    csv.unlink(missing_ok=True)
    rows = []
    for c in conditions:
        (out_dir / c).mkdir(exist_ok=True)
        images = render_condition(world, c)
        for p in range(world.places):
            rel = f"{c}/{p:05d}.png"
            _write_png(out_dir / rel, images[p])
            rows.append((rel, p, c))
    frame = pd.DataFrame(rows, columns=["image", "place", "condition"])
    frame["place"] = frame["place"].astype(np.int64)
    with atomic_path(csv) as tmp:
        frame.to_csv(tmp, index=False, lineterminator="\n")
    return frame
