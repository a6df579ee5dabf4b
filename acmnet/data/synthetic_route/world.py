"""The route geometry: the world of layer panoramas and the camera model (condition independent)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from acmnet.data.synthetic_route.canvas import _Frame, _Layer
from acmnet.data.synthetic_route.far import _hill_layer, _mountain_layer, _sky_layer
from acmnet.data.synthetic_route.near import _ground_layer, _near_layers
from acmnet.data.synthetic_route.poles import _pole_layer
from acmnet.data.synthetic_route.town import _mid_layers


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
