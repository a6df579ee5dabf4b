"""Positives (the ground truth of every query) against brute force, and their file."""

import numpy as np
import pandas as pd
import pytest

from acmnet.artifacts import ProvenanceError, load_manifest, load_positives, write_positives
from acmnet.data.manifest import ManifestError
from acmnet.data.positives import (
    PositiveSets,
    describe_counts,
    from_lists,
    from_places,
    from_positions,
    positives_of,
)
from tests.conftest import write_manifest


def brute_sets(q, r, close) -> list[list[int]]:
    """Every query's positives by comparing it with every reference (the Q x R way)."""
    return [[j for j in range(len(r)) if close(qi, r[j])] for qi in q]


def as_lists(sets: PositiveSets) -> list[list[int]]:
    return [sets.of(i).tolist() for i in range(sets.n_queries)]


@pytest.mark.parametrize("tolerance", [0, 1, 3])
def test_place_windows_match_brute_force_with_repeated_and_unsorted_places(tolerance):
    rng = np.random.default_rng(tolerance)
    r_places = rng.integers(0, 40, size=60)  # unsorted, repeated (two traversals' worth)
    q_places = rng.integers(-5, 50, size=30)  # some beyond the route: no positive
    sets = from_places(q_places, r_places, tolerance)
    assert as_lists(sets) == brute_sets(q_places, r_places, lambda a, b: abs(a - b) <= tolerance)
    found = rng.integers(0, 60, size=(30, 8))
    assert (sets.hits(found) == (np.abs(r_places[found] - q_places[:, None]) <= tolerance)).all()


def test_positions_within_the_distance_inclusive_match_brute_force():
    rng = np.random.default_rng(0)
    r_xy = rng.uniform(0, 200, size=(300, 2))
    q_xy = np.concatenate([rng.uniform(0, 200, size=(40, 2)), [[5000.0, 5000.0]]])  # the last: far from all
    sets = from_positions(q_xy, r_xy, 25.0)
    assert as_lists(sets) == brute_sets(q_xy, r_xy, lambda a, b: np.hypot(*(a - b)) <= 25.0)
    assert sets.counts()[-1] == 0
    # exactly 25 m (a 15-20-25 triangle) counts; a millimetre more does not
    edge = from_positions(np.array([[0.0, 0.0]]), np.array([[15.0, 20.0], [15.0, 20.001], [-25.0, 0.0]]), 25.0)
    assert edge.of(0).tolist() == [0, 2]


def test_hits_select_and_negative_positions():
    sets = from_lists(["0 2", "", "1"], 3, "test")
    found = np.array([[2, 0], [0, 1], [-1, 1]])
    assert sets.hits(found).tolist() == [[True, True], [False, False], [False, True]]
    picked = sets.select(np.array([False, True, True]))
    assert as_lists(picked) == [[], [1]]
    assert picked.hits(found[1:]).tolist() == [[False, False], [False, True]]
    assert as_lists(sets.select(np.array([2, 0]))) == [[1], [0, 2]]
    nothing = from_lists(["", ""], 3, "test")
    assert not nothing.hits(np.array([[0], [1]])).any()
    with pytest.raises(ValueError, match="2 queries retrieved, but the positives hold 3"):
        sets.hits(found[:2])


def test_listed_positives_are_checked():
    assert as_lists(from_lists(["3 1", "0"], 4, "f")) == [[1, 3], [0]]
    with pytest.raises(ValueError, match="query 1 lists reference 4 of only 4"):
        from_lists(["0", "4"], 4, "f")
    with pytest.raises(ValueError, match="twice"):
        from_lists(["1 1"], 4, "f")


def _frame(**extra):
    frame = pd.DataFrame(
        {
            "image": ["r0", "r1", "r2", "q0", "q1", "q2"],
            "role": ["reference"] * 3 + ["query"] * 3,
            "place": [0, 1, 2, 0, 1, 2],
            "condition": ["db"] * 3 + ["night", "night", "snow"],
        }
    )
    return frame.assign(**extra)


def test_the_ground_truth_each_type_declares():
    frame = _frame(x=[0.0, 30, 100, 1, 50, 1000], y=[0.0] * 6, positives=["", "", "", "2", "", "0 1"])
    assert as_lists(positives_of(frame, "places", 1, None)) == [[0, 1], [0, 1, 2], [1, 2]]
    assert as_lists(positives_of(frame, "positions", 0, 25.0)) == [[0], [1], []]
    assert as_lists(positives_of(frame, "listed", 0, None)) == [[2], [], [0, 1]]
    with pytest.raises(ManifestError, match="position column"):
        positives_of(_frame(), "positions", 0, 25.0)
    with pytest.raises(ManifestError, match="positives"):
        positives_of(_frame(), "listed", 0, None)


def test_a_configured_dataset_names_its_ground_truth_and_counts():
    from acmnet.config_loader import config_from_dict
    from acmnet.data.positives import count_positives, ground_truth_of

    pair = {"type": "folder_pair", "root": "/unused", "reference": "db", "query": ["night"], "tolerance": 1}
    spec = config_from_dict({"datasets": {"pair": pair}}).dataset("pair")
    assert ground_truth_of(spec) == ("places", 1, None)
    counts = count_positives(spec, _frame(place=[0, 1, 2, 0, 5, 2]))
    assert counts == "references 3, queries night 2 (1 without a positive), queries snow 1 (0 without a positive)"


def test_positives_file_round_trip_and_provenance(tmp_path):
    manifest = write_manifest(_frame(x=[0.0, 30, 100, 1, 50, 1000], y=[0.0] * 6), tmp_path / "m.csv")
    written = write_positives(manifest, tmp_path / "p.npz", "positions", 0, 25.0, {"distance": 25.0})
    loaded = load_positives(tmp_path / "p.npz", load_manifest(tmp_path / "m.csv"))
    assert as_lists(loaded.sets) == as_lists(written.sets) == [[0], [1], []]
    assert loaded.query_rows.tolist() == [3, 4, 5] and loaded.provenance.settings == {"distance": 25.0}
    assert describe_counts(manifest.frame, loaded.sets) == (
        "references 3, queries night 2 (0 without a positive), queries snow 1 (1 without a positive)"
    )
    other = write_manifest(_frame(x=[0.0, 30, 100, 1, 50, 2000], y=[0.0] * 6), tmp_path / "other.csv")
    with pytest.raises(ProvenanceError, match=r"p\.npz was made from manifest .*m\.csv.*not from .*other\.csv"):
        load_positives(tmp_path / "p.npz", other)


def test_poses_distance_is_3d_and_inclusive_and_yaw_wraps_around():
    from acmnet.data.positives import from_poses, yaw_gap

    assert yaw_gap(np.array([359.0, 1.0, -179.0, 90.0]), np.array([1.0, 359.0, 179.0, 270.0])).tolist() == [
        2,
        2,
        2,
        180,
    ]
    refs = np.array([[3.0, 4.0, 0.0], [0.0, 0.0, 5.0], [0.0, 0.0, 5.1], [0.0, 0.0, 0.0]])
    query = np.zeros((1, 3))
    assert from_poses(query, refs, 5.0).of(0).tolist() == [0, 1, 3]  # 3-D: (0, 0, 5.1) is out
    assert from_poses(query[:, :2], refs[:, :2], 5.0).of(0).tolist() == [0, 1, 2, 3]  # 2-D: z ignored
    yaws = np.array([350.0, 20.0, 0.0, -170.0])
    # yaw 10 against 350 (20 apart with wrap-around; AnyLoc's |a - b| would say 340) and 20 (10 apart)
    assert from_poses(query, refs, 5.0, np.array([10.0]), yaws, 20.0).of(0).tolist() == [0, 1]
    with pytest.raises(ValueError, match="needs the yaw"):
        from_poses(query, refs, 5.0, angle=20.0)


def test_boundary_pairs_count_the_pairs_at_the_radius():
    """Frame numbers (i, i) and a radius of 2*sqrt(2): the 16 pairs two frames apart sit on the boundary."""
    import math

    from acmnet.data.positives import boundary_pairs

    xy = np.array([[i, i] for i in range(10)], float)
    count, (q, r, gap) = boundary_pairs(xy, xy, 2 * math.sqrt(2))
    assert count == 16 and abs(q - r) == 2 and gap == pytest.approx(2 * math.sqrt(2))
    assert boundary_pairs(xy, xy, 2.5) == (0, None)
    assert boundary_pairs(xy * 10.37, xy * 10.37, 25.0) == (0, None)
