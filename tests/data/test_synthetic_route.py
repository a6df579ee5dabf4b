"""Tests of the deterministic synthetic route (acmnet.data.synthetic_route) and its dataset type."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from acmnet.data import synthetic_route
from acmnet.data.synthetic_route import (
    CONDITIONS,
    build_world,
    render_condition,
    render_route,
    traversal_offsets,
)

PLACES = 120  # in-memory world: enough for p vs p + 50 comparisons, fast to render
SIZE = (96, 128)


@pytest.fixture(scope="module")
def world() -> synthetic_route.World:
    return build_world(seed=0, places=PLACES, image_size=SIZE)


@pytest.fixture(scope="module")
def traversals(world: synthetic_route.World) -> dict[str, np.ndarray]:
    return {c: render_condition(world, c) for c in CONDITIONS}


ROUTE_PLACES = 70  # more than one render chunk (64 places); the demo's 300 are timed by bench.synthetic_route_speed


@pytest.fixture(scope="module")
def full_route(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    """The demo's conditions at the demo's image size (96x128), rendered to disk once."""
    out = tmp_path_factory.mktemp("route")
    frame = render_route(out, ROUTE_PLACES, ["day", "winter", "night", "haze"], seed=0, image_size=SIZE)
    return out, frame


def _gray(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float32).mean(axis=-1)


# ---------------------------------------------------------------------------- API and shapes
def test_conditions_api() -> None:
    assert CONDITIONS == ("day", "winter", "autumn", "night", "haze")
    assert synthetic_route.REFERENCE_CONDITION == "day"


def test_render_condition_shape_dtype(world: synthetic_route.World, traversals: dict[str, np.ndarray]) -> None:
    for c, imgs in traversals.items():
        assert imgs.shape == (PLACES, *SIZE, 3), c
        assert imgs.dtype == np.uint8, c
        assert imgs.std() > 10, c  # not blank
    sub = render_condition(world, "day", [5, 0, 7])
    assert sub.shape == (3, *SIZE, 3)
    np.testing.assert_array_equal(sub, traversals["day"][[5, 0, 7]])


def test_other_image_size_and_step() -> None:
    w = build_world(seed=3, places=4, image_size=(64, 80), place_step=16)
    assert w.place_step == 16
    imgs = render_condition(w, "night")
    assert imgs.shape == (4, 64, 80, 3) and imgs.dtype == np.uint8
    assert build_world(seed=3, places=4, image_size=(64, 80)).place_step == 20  # W / 4


# ------------------------------------------------------------------------------ determinism
def test_same_seed_identical() -> None:
    a = build_world(seed=2, places=30, image_size=SIZE)
    b = build_world(seed=2, places=30, image_size=SIZE)
    for c in ("day", "night"):
        np.testing.assert_array_equal(render_condition(a, c), render_condition(b, c))


def test_different_seed_differs(traversals: dict[str, np.ndarray]) -> None:
    other = render_condition(build_world(seed=1, places=30, image_size=SIZE), "day")
    diff = np.abs(other.astype(np.int16) - traversals["day"][:30]).mean(axis=(1, 2, 3))
    assert (diff > 10).mean() > 0.9  # a different route, not a re-noised one


def test_shorter_route_is_prefix(traversals: dict[str, np.ndarray]) -> None:
    short = build_world(seed=0, places=10, image_size=SIZE)
    for c in ("day", "night"):
        np.testing.assert_array_equal(render_condition(short, c), traversals[c][:10])


# ------------------------------------------------------------------------- route structure
def test_neighbours_more_similar_than_distant(traversals: dict[str, np.ndarray]) -> None:
    for c in ("day", "autumn"):
        x = traversals[c].astype(np.float32)
        near = np.abs(x[:-50] - x[1:-49]).mean(axis=(1, 2, 3))
        far = np.abs(x[:-50] - x[50:]).mean(axis=(1, 2, 3))
        assert near.mean() < 0.85 * far.mean(), c
        assert (near < far).mean() > 0.8, c
        # coarse appearance (8x8 block means): neighbours clearly closer
        b = x.reshape(len(x), 12, 8, 16, 8, 3).mean(axis=(2, 4))
        near_b = np.abs(b[:-50] - b[1:-49]).mean(axis=(1, 2, 3))
        far_b = np.abs(b[:-50] - b[50:]).mean(axis=(1, 2, 3))
        assert near_b.mean() < 0.8 * far_b.mean(), c
        assert (near_b < far_b).mean() > 0.9, c


def test_places_distinct(traversals: dict[str, np.ndarray]) -> None:
    # no two places of a traversal are near-duplicates (beyond the neighbour overlap)
    x = _gray(traversals["day"]).reshape(PLACES, 12, 8, 16, 8).mean(axis=(2, 4))
    x = x.reshape(PLACES, -1)
    x = x - x.mean(axis=1, keepdims=True)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    sim = x @ x.T
    idx = np.arange(PLACES)
    sim[np.abs(idx[:, None] - idx[None, :]) <= 2] = -1.0
    assert sim.max(axis=1).mean() < 0.9


# ---------------------------------------------------------------------------- conditions
def test_night_dark_with_local_lights(traversals: dict[str, np.ndarray]) -> None:
    day, night = _gray(traversals["day"]), _gray(traversals["night"])
    assert night.mean() < 0.3 * day.mean()
    per_img_max = night.reshape(PLACES, -1).max(axis=1)
    per_img_mean = night.reshape(PLACES, -1).mean(axis=1)
    assert np.mean(per_img_max > per_img_mean + 120) > 0.9  # bright local spots
    assert np.mean(per_img_max > 200) > 0.9
    # not a global brightness scale: the bright pixels are few and local
    assert np.mean(night > 150) < 0.02


def test_winter_snow_in_lower_half(traversals: dict[str, np.ndarray]) -> None:
    def near_white(x: np.ndarray) -> float:
        lower = x[:, SIZE[0] // 2 :].astype(np.int16)
        return float((lower.min(axis=-1) > 200).mean())

    assert near_white(traversals["winter"]) > 0.3
    assert near_white(traversals["winter"]) > 10 * near_white(traversals["day"]) + 0.1


def test_haze_fades_far_more_than_near(traversals: dict[str, np.ndarray]) -> None:
    def contrast(x: np.ndarray, rows: slice) -> float:
        return float(_gray(x[:, rows]).std(axis=(1, 2)).mean())

    top, bottom = slice(0, 30), slice(66, 96)
    day, haze = traversals["day"], traversals["haze"]
    top_ratio = contrast(haze, top) / contrast(day, top)
    bottom_ratio = contrast(haze, bottom) / contrast(day, bottom)
    assert top_ratio < 0.8
    assert top_ratio < bottom_ratio - 0.1


def test_autumn_recolours_foliage(traversals: dict[str, np.ndarray]) -> None:
    def orange_red(x: np.ndarray) -> float:
        r, g, b = (x[..., i].astype(np.int16) for i in range(3))
        return float(((r > g + 40) & (r > b + 60)).mean())

    # day has some (brick walls, red roofs); autumn adds the foliage
    assert orange_red(traversals["autumn"]) > 2 * orange_red(traversals["day"]) + 0.01
    assert orange_red(traversals["autumn"]) - orange_red(traversals["day"]) > 0.03


def test_conditions_differ_but_share_structure(traversals: dict[str, np.ndarray]) -> None:
    day = _gray(traversals["day"])
    for c in ("winter", "autumn", "night", "haze"):
        assert np.abs(_gray(traversals[c]) - day).mean() > 8, c


# ------------------------------------------------------------------------------ viewpoint
def test_jitter_offsets_per_traversal(world: synthetic_route.World) -> None:
    d = np.stack(traversal_offsets(world, "day"))
    w = np.stack(traversal_offsets(world, "winter"))
    assert d.shape == (3, PLACES) and d.dtype.kind == "i"
    assert np.abs(d[:2]).max() > 0 and np.abs(d[2]).max() > 0
    assert np.abs(d[0]).max() <= world.max_trans and np.abs(d[1]).max() <= world.max_rot
    assert np.abs(d[2]).max() <= world.margin_y
    assert np.mean(np.any(d != w, axis=0)) > 0.9  # day and winter never share a viewpoint


def test_jitter_applied_to_images(world: synthetic_route.World) -> None:
    ids = list(range(40))
    jit = render_condition(world, "day", ids, noise=False)
    ref = render_condition(world, "day", ids, jitter=False, noise=False)
    dxt, dxr, dy = traversal_offsets(world, "day", ids)
    moved = (dxt != 0) | (dxr != 0) | (dy != 0)
    diff = np.abs(jit.astype(np.int16) - ref).reshape(len(ids), -1).mean(axis=1)
    assert moved.sum() >= 30
    assert np.all(diff[moved] > 1.0)
    assert np.all(diff[~moved] == 0.0)


def test_day_and_winter_not_pixel_aligned(world: synthetic_route.World) -> None:
    # the rails are dark lines in both conditions: their rows move with the vertical jitter
    ids = np.arange(PLACES)
    _, _, dy_day = traversal_offsets(world, "day")
    _, _, dy_win = traversal_offsets(world, "winter")
    assert np.mean(dy_day != dy_win) > 0.5
    day = render_condition(world, "day", ids, noise=False)
    ref = render_condition(world, "day", ids, jitter=False, noise=False)
    assert not np.array_equal(day, ref)


def test_sensor_noise(world: synthetic_route.World) -> None:
    clean = render_condition(world, "day", [3], noise=False).astype(np.int16)
    noisy = render_condition(world, "day", [3]).astype(np.int16)
    d = noisy - clean
    assert 1.0 < d.std() < 6.0
    assert abs(d.mean()) < 0.5


# ---------------------------------------------------------------------------------- errors
def test_bad_condition_raises(world: synthetic_route.World, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="summer") as err:
        render_condition(world, "summer")
    for c in CONDITIONS:
        assert c in str(err.value)
    with pytest.raises(ValueError, match="fog.*day"):
        render_route(tmp_path / "r", 5, ["day", "fog"])
    assert not (tmp_path / "r").exists()  # validated before anything is written
    with pytest.raises(ValueError):
        render_route(tmp_path / "r", 5, [])
    with pytest.raises(ValueError):
        render_route(tmp_path / "r", 5, ["day", "day"])


@pytest.mark.parametrize("places", [1, 0, -3])
def test_bad_places_raises(places: int, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="places"):
        render_route(tmp_path / "r", places, ["day"])
    with pytest.raises(ValueError, match="places"):
        build_world(0, places)
    assert not (tmp_path / "r").exists()


def test_bad_place_index_raises(world: synthetic_route.World) -> None:
    with pytest.raises(ValueError):
        render_condition(world, "day", [PLACES])
    with pytest.raises(ValueError):
        render_condition(world, "day", [-1])


# ---------------------------------------------------------------------------------- on disk
def test_route_files_and_csv(tmp_path: Path) -> None:
    out = tmp_path / "route"
    frame = render_route(out, 6, ["night", "day"], seed=4, image_size=(64, 96))
    assert list(frame.columns) == ["image", "place", "condition"]
    assert len(frame) == 12
    assert frame["image"].tolist()[:2] == ["night/00000.png", "night/00001.png"]
    assert frame["image"].iloc[6] == "day/00000.png"
    assert frame["place"].tolist() == list(range(6)) * 2
    assert frame["condition"].tolist() == ["night"] * 6 + ["day"] * 6
    on_disk = pd.read_csv(out / "route.csv")
    pd.testing.assert_frame_equal(on_disk, frame)
    for rel in frame["image"]:
        with Image.open(out / rel) as im:
            assert im.format == "PNG" and im.mode == "RGB" and im.size == (96, 64)
    # the files hold exactly the in-memory rendering
    w = build_world(seed=4, places=6, image_size=(64, 96))
    mem = render_condition(w, "day")
    np.testing.assert_array_equal(np.asarray(Image.open(out / "day/00004.png")), mem[4])
    # nothing but images and the index, no temporary files left behind
    names = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert names == sorted(frame["image"].tolist() + ["route.csv"])


def test_route_byte_identical_and_seed_dependent(tmp_path: Path) -> None:
    a = render_route(tmp_path / "a", 4, ["day", "haze"], seed=7)
    render_route(tmp_path / "b", 4, ["day", "haze"], seed=7)
    render_route(tmp_path / "c", 4, ["day", "haze"], seed=8)
    for rel in a["image"]:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
    assert (tmp_path / "a/route.csv").read_bytes() == (tmp_path / "b/route.csv").read_bytes()
    assert (tmp_path / "a/day/00000.png").read_bytes() != (tmp_path / "c/day/00000.png").read_bytes()


def test_interrupted_run_leaves_no_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "route"
    render_route(out, 3, ["day"])  # a complete earlier run: its route.csv exists
    assert (out / "route.csv").exists()
    calls = {"n": 0}
    real = synthetic_route.files._write_png

    def failing(path: Path, image: np.ndarray) -> None:
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        real(path, image)

    monkeypatch.setattr(synthetic_route.files, "_write_png", failing)
    with pytest.raises(KeyboardInterrupt):
        render_route(out, 3, ["day", "winter"], seed=5)
    assert not (out / "route.csv").exists()
    assert not [p for p in out.rglob("*") if ".tmp" in p.name]


# Recorded from the renderer as of the split of `_build_layers` / `_shade` into per-layer and
# per-condition functions (identical before and after it): SHA-256 of the uint8 RGB pixels of
# every image of a condition, in place order, read back from the PNG files.
_PINNED_ROUTE_SHA256 = {
    "day": "9a9767f99ae49540a65fb48f6fb94d75ac520d0a0a56f013df09827158cbd4c5",
    "winter": "a4c69b7b2aedd8c100294bc37ddea23775e820e8919bf8d1e576f42528a91b0e",
    "autumn": "597784661c41a5dd54970c5f319fc05d98954f1866b1913f92b52a17b7718a41",
    "night": "0b23601c82b099b1e71125d3dfe7a76ad1639c196d0e95c24767b3c36ebd7c15",
    "haze": "aaa20588f9019cb6395748a2b8f84ae9a4a95840c8f9062f066f3c7439c5d087",
}


def test_rendered_route_pinned(tmp_path: Path) -> None:
    """The rendered images are pinned: any change to the renderer that alters a pixel fails here.

    The demo's published numbers are computed on these images, so a change of the world, the
    shading, the camera jitter, the sensor noise or of the order or arguments of any random draw
    must be deliberate: if it is, re-record the digests below (and the demo's numbers); if it is
    not (a refactor), the change is a bug. A small route: seed 0, 4 places, every condition, at
    the demo's image size.
    """
    frame = render_route(tmp_path, 4, list(CONDITIONS), seed=0, image_size=SIZE)
    got = {}
    for c in CONDITIONS:
        digest = hashlib.sha256()
        for rel in frame.loc[frame["condition"] == c, "image"]:
            with Image.open(tmp_path / rel) as im:
                digest.update(np.asarray(im).tobytes())
        got[c] = digest.hexdigest()
    assert got == _PINNED_ROUTE_SHA256


def test_full_route_content(full_route: tuple[Path, pd.DataFrame]) -> None:
    out, frame = full_route
    n = ROUTE_PLACES
    assert len(frame) == 4 * n
    assert frame.groupby("condition").size().to_dict() == {"day": n, "winter": n, "night": n, "haze": n}
    assert list(frame["condition"].drop_duplicates()) == ["day", "winter", "night", "haze"]  # condition-major
    assert (frame.groupby("condition")["place"].apply(list) == [list(range(n))] * 4).all()
    pngs = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert pngs == sorted(frame["image"])
    with Image.open(out / f"night/{n - 1:05d}.png") as im:
        assert im.size == (128, 96) and im.mode == "RGB"
    # the files hold what render_condition renders, on both sides of the render chunk boundary
    places = [0, 63, 64, n - 1]
    expected = render_condition(build_world(seed=0, places=n, image_size=SIZE), "night", places)
    for place, image in zip(places, expected):
        with Image.open(out / f"night/{place:05d}.png") as im:
            np.testing.assert_array_equal(np.asarray(im), image, err_msg=f"night/{place:05d}.png")
