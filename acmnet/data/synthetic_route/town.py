"""The mid ("town") layers: buildings, villages, fields, lakes, groves and street lamps."""

from __future__ import annotations

import numpy as np

from acmnet.data.synthetic_route.canvas import _Canvas, _finish_layer, _Frame, _Layer
from acmnet.data.synthetic_route.materials import _HAY, _LAMP, _MEADOW, _POLE, _S_MID, _WATER
from acmnet.data.synthetic_route.noise import _rng
from acmnet.data.synthetic_route.objects import _building, _conifer, _ground_profile, _tree


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
