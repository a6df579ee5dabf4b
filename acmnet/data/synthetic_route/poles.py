"""The front layer: lamp posts and telegraph poles with wires."""

from __future__ import annotations

import numpy as np

from acmnet.data.synthetic_route.canvas import _NEAR_BASE, _Canvas, _finish_layer, _Frame, _Layer
from acmnet.data.synthetic_route.materials import _LAMP, _POLE, _S_POLES, _WIRE
from acmnet.data.synthetic_route.noise import _rng


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
