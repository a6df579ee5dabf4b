"""Conditions: the structural and local re-shading of every layer (snow, autumn, night, haze)."""

from __future__ import annotations

import numpy as np

from acmnet.data.synthetic_route.canvas import _Layer
from acmnet.data.synthetic_route.materials import (
    _BALLAST,
    _BANK,
    _BUSH,
    _CONIFER,
    _FENCE,
    _FOG,
    _FOLIAGE,
    _GRASS,
    _HAY,
    _HILL,
    _HILL_TREES,
    _LAMP,
    _LAMP_LIGHT,
    _MEADOW,
    _MOUNTAIN,
    _MOUNTAIN_FAR,
    _ROOF,
    _SIGN,
    _SLEEPER,
    _SNOW,
    _TRUNK,
    _WALL,
    _WATER,
    _WINDOW,
    _WINDOW_LIGHT,
)
from acmnet.data.synthetic_route.noise import _glow, _top_band
from acmnet.data.synthetic_route.world import World

CONDITIONS: tuple[str, ...] = ("day", "winter", "autumn", "night", "haze")
REFERENCE_CONDITION = "day"


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
