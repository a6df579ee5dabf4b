"""Recall against tolerance from the retrievals on disk, and what a row costs (timings, sizes)."""

import numpy as np
import pandas as pd
import pytest

from acmnet.artifacts import (
    ArtifactError,
    ProvenanceError,
    descriptor_cost,
    descriptor_part_writer,
    load_retrieval,
    provenance,
    record_timing,
)
from acmnet.config_loader import config_from_dict
from acmnet.data.positives import from_places, from_positions
from acmnet.evaluate.metrics import recall_curve
from acmnet.evaluate.tolerance import grid, recall_vs_tolerance, skipped, write_recall_vs_tolerance
from tests.conftest import write_manifest, write_retrieval

CFG = config_from_dict(
    {
        "datasets": {
            "route": {"type": "folder_pair", "root": ".", "reference": "a", "query": "b", "tolerance": 2},
            "city": {"type": "utm", "root": ".", "positive_distance": 25},
            "bench": {"type": "vprbench", "root": "."},
        }
    }
)


def _frame(rng, n_ref=50, n_query=40, positions=False):
    frame = pd.DataFrame(
        {
            "image": [f"{i}.png" for i in range(n_ref + n_query)],
            "role": ["reference"] * n_ref + ["query"] * n_query,
            "place": np.r_[np.arange(n_ref), rng.integers(0, n_ref + 8, n_query)],
            "condition": ["day"] * n_ref + ["night", "snow"] * (n_query // 2),
        }
    )
    if positions:
        frame["x"] = np.r_[np.arange(n_ref) * 10.0, rng.uniform(-20, 10 * n_ref + 100, n_query)]
        frame["y"] = np.r_[np.zeros(n_ref), rng.uniform(-30, 30, n_query)]
    return frame


def test_places_windows_count_as_the_positives_at_that_window(tmp_path):
    rng = np.random.default_rng(0)
    frame = _frame(rng)
    manifest = write_manifest(frame, tmp_path / "m.csv")
    indices = np.stack([rng.permutation(50)[:5] for _ in range(40)])
    retrieval = write_retrieval(tmp_path, manifest, indices)
    table = recall_vs_tolerance(CFG, "route", manifest, retrieval)
    assert sorted(set(table["tolerance"])) == list(range(11)) and set(table["unit"]) == {"places"}
    assert set(table.loc[table["configured"], "tolerance"]) == {2.0}
    places = frame["place"].to_numpy()
    for queries in ("night", "snow"):
        chosen = frame["condition"].to_numpy()[manifest.rows("query")] == queries
        for t in range(11):
            truth = from_places(places[manifest.rows("query")][chosen], places[:50], t)
            want = recall_curve(truth.hits(indices[chosen]))[0]
            got = table[(table["queries"] == queries) & (table["tolerance"] == t)]["R@1"].item()
            assert got == pytest.approx(want)
    assert table.groupby("queries")["R@1"].apply(lambda r: r.is_monotonic_increasing).all()


def test_distances_count_as_the_positives_within_that_distance(tmp_path):
    rng = np.random.default_rng(1)
    frame = _frame(rng, positions=True)
    manifest = write_manifest(frame, tmp_path / "m.csv")
    indices = np.stack([rng.permutation(50)[:3] for _ in range(40)])
    table = recall_vs_tolerance(CFG, "city", manifest, write_retrieval(tmp_path, manifest, indices))
    assert set(table["unit"]) == {"m"} and set(table.loc[table["configured"], "tolerance"]) == {25.0}
    assert min(table["tolerance"]) == 5.0 and max(table["tolerance"]) == 100.0
    xy = frame[["x", "y"]].to_numpy()
    queries = manifest.rows("query")
    for t in sorted(set(table["tolerance"])):
        chosen = frame["condition"].to_numpy()[queries] == "night"
        truth = from_positions(xy[queries][chosen], xy[:50], t)
        got = table[(table["queries"] == "night") & (table["tolerance"] == t)]["R@1"].item()
        assert got == pytest.approx(recall_curve(truth.hits(indices[chosen]))[0])


def test_a_shipped_list_is_skipped_with_its_reason_and_foreign_retrievals_refused(tmp_path, capsys):
    assert grid(CFG, "bench") is None
    assert skipped(CFG, ["route", "bench"]) == [
        "recall vs tolerance: bench skipped: its ground truth is the list the dataset ships or that prepare "
        "fixed (`vprbench`: ground_truth_new.npy), which has no tolerance to vary"
    ]
    rng = np.random.default_rng(2)
    manifest = write_manifest(_frame(rng), tmp_path / "m.csv")
    other = write_manifest(_frame(rng).assign(place=lambda f: f["place"] + 1), tmp_path / "o.csv")
    mine = write_retrieval(tmp_path, manifest, np.zeros((40, 2), int), name="mine")
    foreign = write_retrieval(tmp_path, other, np.zeros((40, 2), int), name="foreign")
    out, figures = tmp_path / "t.csv", [tmp_path / "t.png"]
    table = write_recall_vs_tolerance(CFG, ["route"], [manifest.path], [mine.path], out, figures)
    assert len(table) == 2 * 11 and out.is_file() and figures[0].stat().st_size > 1000
    assert capsys.readouterr().out.count("bench skipped") == 1
    with pytest.raises(ArtifactError, match=r"foreign\.npz was made from none of the manifests given"):
        write_recall_vs_tolerance(CFG, ["route"], [manifest.path], [foreign.path], out, figures)


def _part(folder, shard, shards, dim, rows, timing):
    with descriptor_part_writer(folder, shard, shards) as writer:
        writer.array("reference", rows, dim)[:] = 1.0
        writer.array("query", rows, dim)[:] = 1.0
        starts = {"reference": shard * rows, "query": shard * rows}
        ids = np.arange(shard * rows, (shard + 1) * rows)
        writer.finish(ids, ids + 100, provenance("describe", {"method_name": "m"}), starts, None, timing)
    return writer.part


def test_descriptor_cost_sums_the_parts_and_checks_the_retrieval(tmp_path):
    device = "CPU (2 threads)"
    parts = [_part(tmp_path / "d", s, 2, 8, 3, {"seconds": 1.5 + s, "images": 6, "device": device}) for s in range(2)]
    cost = descriptor_cost(tmp_path / "d")
    assert (cost.dim, cost.bytes_per_image, cost.seconds, cost.images, cost.device) == (8, 32, 4.0, 12, device)
    assert descriptor_cost([p.path for p in parts]) == cost
    _part(tmp_path / "e", 0, 1, 4, 2, None)  # another tool's: not timed
    assert descriptor_cost(tmp_path / "e").seconds is None
    manifest = write_manifest(_frame(np.random.default_rng(3)), tmp_path / "m.csv")
    retrieval = write_retrieval(tmp_path, manifest, np.zeros((40, 2), int))
    with pytest.raises(ProvenanceError, match="was not made from the descriptor parts"):
        descriptor_cost(tmp_path / "d", retrieval)


def test_record_timing_keeps_the_arrays_and_provenance(tmp_path):
    manifest = write_manifest(_frame(np.random.default_rng(4)), tmp_path / "m.csv")
    before = write_retrieval(tmp_path, manifest, np.arange(80).reshape(40, 2) % 50)
    assert load_retrieval(before.path).timing is None
    record_timing(before.path, 0.8, 40, "CPU (faiss, 2 threads)")
    after = load_retrieval(before.path, manifest)
    assert after.timing == {"seconds": 0.8, "items": 40, "device": "CPU (faiss, 2 threads)"}
    np.testing.assert_array_equal(after.indices, before.indices)
    assert after.provenance == before.provenance


def test_places_windows_never_cross_a_join_between_separate_stretches(tmp_path):
    """With a `segment` column (Nordland's sections) a window stops at a join, as the positives do."""
    rng = np.random.default_rng(4)
    frame = _frame(rng)
    frame["segment"] = (frame["place"] >= 25).astype(int)  # two stretches: places 0..24 and 25..
    manifest = write_manifest(frame, tmp_path / "m.csv")
    indices = np.stack([rng.permutation(50)[:5] for _ in range(40)])
    table = recall_vs_tolerance(CFG, "route", manifest, write_retrieval(tmp_path, manifest, indices))
    places, segments = frame["place"].to_numpy(), frame["segment"].to_numpy()
    queries = manifest.rows("query")
    crossing = 0
    for t in range(11):
        truth = from_places(places[queries], places[:50], t, segments[queries], segments[:50])
        want = recall_curve(truth.hits(indices))[0]
        plain = recall_curve(from_places(places[queries], places[:50], t).hits(indices))[0]
        crossing += want != plain
        got = table[table["tolerance"] == t].groupby("queries")["R@1"].apply(lambda r: r.item())
        counts = table[table["tolerance"] == t].set_index("queries")["n_queries"]
        assert (got * counts).sum() / counts.sum() == pytest.approx(want)
    assert crossing > 0  # the fixture has top-1 matches across the join that a plain window would count


POSES_CFG = config_from_dict(
    {"datasets": {"own": {"type": "poses_csv", "root": ".", "positive_distance": 10, "positive_angle": 30}}}
)


def test_poses_curves_vary_distance_at_the_yaw_limit_and_yaw_at_the_distance(tmp_path):
    from acmnet.data.positives import from_poses

    rng = np.random.default_rng(2)
    frame = _frame(rng, positions=True)
    frame["z"] = rng.uniform(-5, 5, len(frame))
    frame["yaw"] = rng.uniform(-180, 540, len(frame))
    manifest = write_manifest(frame, tmp_path / "m.csv")
    indices = np.stack([rng.permutation(50)[:3] for _ in range(40)])
    table = recall_vs_tolerance(POSES_CFG, "own", manifest, write_retrieval(tmp_path, manifest, indices))
    assert set(table["unit"]) == {"m", "deg"} and set(table["ground_truth"]) == {"poses"}
    marked = table[table["configured"]]
    assert sorted(zip(marked["unit"], marked["tolerance"])) == [("deg", 30.0), ("deg", 30.0), ("m", 10.0), ("m", 10.0)]
    xyz, yaw, queries = frame[["x", "y", "z"]].to_numpy(), frame["yaw"].to_numpy(), manifest.rows("query")
    chosen = frame["condition"].to_numpy()[queries] == "snow"
    q, qy = xyz[queries][chosen], yaw[queries][chosen]
    for unit, t, d, a in [("m", 40.0, 40.0, 30.0), ("deg", 90.0, 10.0, 90.0), ("deg", 180.0, 10.0, 180.0)]:
        truth = from_poses(q, xyz[:50], d, qy, yaw[:50], a)
        got = table[(table["queries"] == "snow") & (table["unit"] == unit) & (table["tolerance"] == t)]["R@1"].item()
        assert got == pytest.approx(recall_curve(truth.hits(indices[chosen]))[0])


def test_frame_windows_count_as_the_frame_positives_at_that_window(tmp_path):
    from acmnet.data.positives import from_frames

    cfg = config_from_dict({"datasets": {"nl": {"type": "utm", "root": ".", "positive_frames": 2}}})
    rng = np.random.default_rng(3)
    frame = _frame(rng)
    frame["x"] = frame["y"] = frame["place"].astype(float)  # Olid's Nordland as (i, i) names
    manifest = write_manifest(frame, tmp_path / "m.csv")
    indices = np.stack([rng.permutation(50)[:3] for _ in range(40)])
    table = recall_vs_tolerance(cfg, "nl", manifest, write_retrieval(tmp_path, manifest, indices))
    assert set(table["unit"]) == {"frames"} and set(table.loc[table["configured"], "tolerance"]) == {2.0}
    xy, queries = frame[["x", "y"]].to_numpy(), manifest.rows("query")
    chosen = frame["condition"].to_numpy()[queries] == "night"
    for t in (0, 2, 7):
        truth = from_frames(xy[queries][chosen], xy[:50], t)
        got = table[(table["queries"] == "night") & (table["tolerance"] == t)]["R@1"].item()
        assert got == pytest.approx(recall_curve(truth.hits(indices[chosen]))[0])
