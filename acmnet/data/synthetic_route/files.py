"""Writing a route to disk: PNG images and the route.csv index."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from acmnet.data.synthetic_route.camera import render_condition
from acmnet.data.synthetic_route.conditions import CONDITIONS, check_condition
from acmnet.data.synthetic_route.world import build_world
from acmnet.io import atomic_path


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
