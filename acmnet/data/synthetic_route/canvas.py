"""The rasteriser of one layer panorama, the frozen layer and the builders' row geometry."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from acmnet.data.synthetic_route.materials import _S_NOISE
from acmnet.data.synthetic_route.noise import _noise2d


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
