"""Reading stored matches (`acmnet.evaluate.matches`): the suite's tie order in row blocks, the
`.npz` forms (full, listed, named, compressed), and every refusal naming the file and the row."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from acmnet.evaluate.matches import MatchesError, read_matches, top_k, vprbench_cost

Q, R = 7, 9
QUERIES = [f"query/{i:07d}.jpg" for i in range(Q)]
REFS = [f"ref/{i:07d}.jpg" for i in range(R)]


def tied_scores(seed: int = 0) -> np.ndarray:
    """(Q, R) float32 with many exact ties (values from a few levels)."""
    return np.random.default_rng(seed).integers(0, 4, size=(Q, R)).astype(np.float32) / 4


def suite_order(scores: np.ndarray, k: int) -> np.ndarray:
    """Score descending, then reference index ascending (a stable sort of the negated scores)."""
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def vprbench_file(path: Path, scores: np.ndarray, **changes) -> Path:
    """A file as VPR-Bench's evaluate_vpr_techniques.py writes it (here pickled by Python 3)."""
    parts = {
        "queries": np.arange(len(scores)),
        "top1": np.argmax(scores, axis=1),
        "top1_scores": scores.max(axis=1),
        "matrix": scores,
        "encoding": 0.5,
        "matching": 1e-4,
    }
    parts.update(changes)
    array = np.empty(6, dtype=object)
    array[:] = [parts[k] for k in ("queries", "top1", "top1_scores", "matrix", "encoding", "matching")]
    np.save(path, array, allow_pickle=True)
    return path


@pytest.mark.parametrize("k", [1, 3, R])
def test_top_k_breaks_ties_by_reference_index(k):
    scores = tied_scores()
    indices, values = top_k(scores, k)
    np.testing.assert_array_equal(indices, suite_order(scores, k))
    np.testing.assert_array_equal(values, np.take_along_axis(scores, suite_order(scores, k), 1))


@pytest.mark.parametrize("block", [1, 40, 1 << 20])  # one row (blocks of 1), a few rows, the whole matrix
def test_vprbench_file_in_row_blocks(tmp_path, block):
    scores = tied_scores(1)
    path = vprbench_file(tmp_path / "m.npy", scores)
    found = read_matches(path, QUERIES, REFS, top_k=5, needed=5, block_bytes=block)
    np.testing.assert_array_equal(found.indices, suite_order(scores, 5))
    assert found.scores.dtype == np.float64
    assert found.cost["describe_ms_per_image"] == 500.0 and found.cost["search_ms_per_query"] == pytest.approx(0.9)


@pytest.mark.parametrize("save", [np.savez, np.savez_compressed])
def test_npz_full_matrix_streamed(tmp_path, save):
    scores = tied_scores(2)
    save(tmp_path / "m.npz", scores=scores)
    found = read_matches(tmp_path / "m.npz", QUERIES, REFS, top_k=4, needed=1, block_bytes=R * 4 * 2)
    np.testing.assert_array_equal(found.indices, suite_order(scores, 4))
    assert found.cost["describe_ms_per_image"] is None and "none" in found.cost["device"]


def test_npz_fortran_order_read_whole(tmp_path):
    scores = np.asfortranarray(tied_scores(3))
    np.savez(tmp_path / "m.npz", scores=scores)
    found = read_matches(tmp_path / "m.npz", QUERIES, REFS, top_k=3, needed=1)
    np.testing.assert_array_equal(found.indices, suite_order(np.ascontiguousarray(scores), 3))


def test_npz_named_rows_and_columns_are_put_in_manifest_order(tmp_path):
    scores = tied_scores(4)
    q_perm, r_perm = np.random.default_rng(0).permutation(Q), np.random.default_rng(1).permutation(R)
    shuffled = scores[q_perm][:, r_perm]  # file row i = manifest query q_perm[i], column j = reference r_perm[j]
    np.savez(
        tmp_path / "m.npz",
        scores=shuffled,
        query_names=np.array([QUERIES[i] for i in q_perm]),
        reference_names=np.array(["./" + REFS[j] for j in r_perm]),
    )
    found = read_matches(tmp_path / "m.npz", QUERIES, REFS, top_k=R, needed=1)
    np.testing.assert_array_equal(found.indices, suite_order(scores, R))


def test_npz_listed_form_is_reordered_by_the_tie_order(tmp_path):
    scores = tied_scores(5)
    listed = np.argsort(scores, axis=1, kind="stable")[:, ::-1][:, :6]  # best first, ties by index descending
    np.savez(tmp_path / "m.npz", indices=listed, scores=np.take_along_axis(scores, listed, 1))
    found = read_matches(tmp_path / "m.npz", QUERIES, REFS, top_k=4, needed=4)
    # the kept references are the file's; within them, the suite's order
    expected = [sorted(row, key=lambda r, q=q: (-scores[q, r], r))[:4] for q, row in enumerate(listed)]
    np.testing.assert_array_equal(found.indices, expected)


def test_placeholder_times_are_left_empty_with_the_reason():
    cost = vprbench_cost(1.33, 7e-05, 111)
    assert cost["describe_ms_per_image"] is None and cost["search_ms_per_query"] is None
    assert "placeholders" in cost["device"]


def test_float_indices_accepted_only_when_integral(tmp_path):
    scores = tied_scores(6) + np.arange(R) * 1e-3  # no ties: a unique argmax
    ok = vprbench_file(tmp_path / "ok.npy", scores, queries=np.arange(Q, dtype=np.float64))
    assert read_matches(ok, QUERIES, REFS, 3, 1).indices.shape == (Q, 3)
    bad = vprbench_file(tmp_path / "bad.npy", scores, queries=np.arange(Q) + 0.5)
    with pytest.raises(MatchesError, match=r"bad.npy: element 0 \(query indices\) holds .*0.5.* at position 0"):
        read_matches(bad, QUERIES, REFS, 3, 1)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"matrix": np.zeros((Q, R + 1))}, r"shape \(7, 10\), but the manifest has 7 queries and 9 references"),
        ({"queries": np.array([1, 0, 2, 3, 4, 5, 6])}, r"is not 0..6 in order \(position 0\)"),
        ({"top1": np.array([8, 0, 0, 0, 0, 0, 0])}, r"query 0: the stored top-1 is reference 8, but the row's argmax"),
        ({"matrix": np.full((Q, R), np.nan)}, r"query row 0, reference 0 is nan"),
        ({"encoding": "fast"}, r"element 4 is 'fast', not a number of seconds"),
    ],
)
def test_vprbench_refusals_name_the_file_and_row(tmp_path, changes, message):
    scores = tied_scores(7) + np.arange(R) * 1e-3
    if "matrix" in changes and "top1" not in changes:
        changes.setdefault("top1", np.zeros(Q, dtype=np.int64))
    path = vprbench_file(tmp_path / "m.npy", scores, **changes)
    with pytest.raises(MatchesError, match=message) as err:
        read_matches(path, QUERIES, REFS, 3, 1)
    assert "m.npy" in str(err.value)


def test_a_pickle_naming_code_is_refused(tmp_path):
    import pickle

    class Evil:
        def __reduce__(self):
            return (print, ("ran",))

    path = tmp_path / "m.npy"
    array = np.empty(6, dtype=object)
    array[:] = [Evil(), 0, 0, 0, 0, 0]
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": "|O", "fortran_order": False, "shape": (6,)})
        pickle.dump(array, fh, protocol=2)
    with pytest.raises(MatchesError, match=r"m.npy was refused: it names `(__builtin__|builtins).print`"):
        read_matches(path, QUERIES, REFS, 3, 1)


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"indices": np.zeros((Q, 3), dtype=int)}, r"holds no array `scores`"),
        ({"scores": np.zeros((Q, R - 1))}, r"`scores` has shape \(7, 8\), but the manifest has 7 queries and 9"),
        ({"scores": np.zeros((Q, R), dtype=object)}, r"`scores` is a object array; scores must be numbers"),
        ({"indices": np.full((Q, 3), R), "scores": np.zeros((Q, 3))}, r"query row 0, column 0: index 9 is outside"),
        ({"indices": np.zeros((Q, 3), dtype=int), "scores": np.zeros((Q, 3))}, r"query row 0 lists a reference twice"),
        (
            {"indices": np.tile(np.arange(3), (Q, 1)), "scores": np.zeros((Q, 3))},
            r"ranks 3 references per query, fewer than the R@5",
        ),
        ({"scores": np.zeros((Q, R)), "query_names": np.array(QUERIES, dtype=object)}, r"`query_names` cannot be read"),
        (
            {"scores": np.zeros((Q, R)), "query_names": np.array(["query/x.jpg"] * Q)},
            r"`query_names`\[0\] = 'query/x.jpg'",
        ),
    ],
)
def test_npz_refusals_name_the_file_and_row(tmp_path, arrays, message):
    path = tmp_path / "m.npz"
    np.savez(path, **arrays)
    with pytest.raises(MatchesError, match=message) as err:
        read_matches(path, QUERIES, REFS, top_k=5, needed=5)
    assert "m.npz" in str(err.value)


def test_a_missing_or_foreign_file_is_named(tmp_path):
    with pytest.raises(MatchesError, match="does not exist: check the method's `matches` option"):
        read_matches(tmp_path / "none.npz", QUERIES, REFS, 3, 1)
    (tmp_path / "m.txt").write_text("x")
    with pytest.raises(MatchesError, match="VPR-Bench's `.npy` or an `.npz`"):
        read_matches(tmp_path / "m.txt", QUERIES, REFS, 3, 1)
    (tmp_path / "m.npz").write_bytes(b"not a zip")
    with pytest.raises(MatchesError, match="is not a readable .npz"):
        read_matches(tmp_path / "m.npz", QUERIES, REFS, 3, 1)
