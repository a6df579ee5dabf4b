"""The camera: per-image viewpoint jitter and the compositing of a traversal's images."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from acmnet.data.synthetic_route.canvas import _Layer
from acmnet.data.synthetic_route.conditions import _lamp_light, _shade, check_condition
from acmnet.data.synthetic_route.materials import _LAMP_LIGHT, _S_JITTER, _S_SENSOR, _WINDOW_LIGHT
from acmnet.data.synthetic_route.noise import _rng
from acmnet.data.synthetic_route.world import World


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
