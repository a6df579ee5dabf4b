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

Modules, by job: `materials` (ids, colours, stream ids), `noise` (keyed streams, value noise,
filters), `canvas` (rasteriser, layer, row geometry), `objects`, `far`, `town`, `near` and `poles`
(the scene's layers), `world` (building the geometry), `conditions` (re-shading), `camera`
(jitter and compositing), `files` (PNGs and route.csv).
"""

from acmnet.data.synthetic_route.camera import render_condition, traversal_offsets
from acmnet.data.synthetic_route.conditions import CONDITIONS, REFERENCE_CONDITION, check_condition
from acmnet.data.synthetic_route.files import render_route
from acmnet.data.synthetic_route.world import World, build_world

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
