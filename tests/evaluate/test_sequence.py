import numpy as np
import pytest

from acmnet.data.positives import from_places
from acmnet.evaluate.metrics import recall_curve
from acmnet.evaluate.retrieval import search_streamed
from acmnet.evaluate.sequence import (
    DescriptorSimilarity,
    contrast_enhance,
    query_offsets,
    sequence_scores,
    sequence_topk,
    topk_rows,
)


def place_recall(q_places, r_places, indices, tolerance):
    """Recall curve with a +/- `tolerance` place window."""
    return recall_curve(from_places(q_places, r_places, tolerance).hits(indices))


def contrast_reference(s: np.ndarray, window: int) -> np.ndarray:
    out = np.zeros_like(s, dtype=np.float64)
    half = window // 2
    for i in range(s.shape[0]):
        for j in range(s.shape[1]):
            v = s[i, max(0, j - half) : j + half + 1].astype(np.float64)
            std = v.std(ddof=1)
            out[i, j] = 0.0 if std == 0 else (s[i, j] - v.mean()) / std
    return out


def sequence_reference(s, length, velocities, window="centred", contrast_window=None, min_overlap=0.5):
    """Slow loop over every query, reference, velocity and line point."""
    e = contrast_reference(s, contrast_window) if contrast_window else s.astype(np.float64)
    q, r = s.shape
    first = -(length // 2) if window == "centred" else -(length - 1)
    offsets = range(first, first + length)
    out = np.empty((q, r))
    for i in range(q):
        for j in range(r):
            best = -np.inf
            for v in velocities:
                in_queries = [k for k in offsets if 0 <= i + k < q]
                values = [e[i + k, j + int(np.rint(v * k))] for k in in_queries if 0 <= j + int(np.rint(v * k)) < r]
                if len(values) >= min_overlap * len(in_queries):
                    best = max(best, np.mean(values))
            out[i, j] = best
    return out


@pytest.mark.parametrize("window", ["centred", "trailing"])
@pytest.mark.parametrize(
    "length,velocities,contrast,overlap",
    [
        (5, (0.8, 1.0, 1.25), None, 0.5),
        (4, (1.0, 1.5, -1.0), None, 0.0),
        (7, (0.8, 1.0, 1.2), 6, 0.5),
        (30, (1.0, 2.0), 5, 0.0),
        (9, (0.5, 1.0, 3.0), None, 1.0),
    ],
)
def test_matches_loop_reference_on_a_small_random_matrix(window, length, velocities, contrast, overlap):
    s = np.random.default_rng(0).normal(size=(17, 23)).astype(np.float32)
    expected = sequence_reference(s, length, velocities, window, contrast, overlap)
    for chunk in (None, 1, 5):
        got = sequence_scores(
            s, length, velocities, window=window, contrast_window=contrast, min_overlap=overlap, chunk=chunk
        )
        assert got.shape == s.shape and got.dtype == np.float32
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_offsets():
    assert query_offsets(5).tolist() == [-2, -1, 0, 1, 2]
    assert query_offsets(4).tolist() == [-2, -1, 0, 1]
    assert query_offsets(3, "trailing").tolist() == [-2, -1, 0]
    assert query_offsets(1, "trailing").tolist() == [0]
    with pytest.raises(ValueError):
        query_offsets(0)
    with pytest.raises(ValueError):
        query_offsets(3, "forward")


def test_contrast_enhancement_matches_reference_and_zeroes_flat_windows():
    s = np.random.default_rng(1).normal(size=(4, 40)).astype(np.float32)
    s[2] = 0.7  # a constant row
    s[3, 10:25] = -0.3  # a constant stretch
    got = contrast_enhance(s, 10)
    np.testing.assert_allclose(got, contrast_reference(s, 10), rtol=1e-5, atol=1e-5)
    assert np.all(got[2] == 0) and np.all(got[3, 15:20] == 0)
    with pytest.raises(ValueError):
        contrast_enhance(s, 1)


def test_length_one_is_single_image_ranking():
    rng = np.random.default_rng(2)
    ref, qry = rng.normal(size=(60, 16)), rng.normal(size=(45, 16))
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    qry /= np.linalg.norm(qry, axis=1, keepdims=True)
    s = (qry @ ref.T).astype(np.float32)
    np.testing.assert_array_equal(sequence_scores(s, 1), s)
    for window in ("centred", "trailing"):
        scores, idx = sequence_topk(s, 10, 1, window=window)
        np.testing.assert_array_equal(idx, np.argsort(-s, axis=1, kind="stable")[:, :10])
        np.testing.assert_array_equal(scores, np.take_along_axis(s, idx, axis=1))
    faiss_scores, faiss_idx = search_streamed(ref.astype(np.float32), qry.astype(np.float32), 10)
    scores, idx = sequence_topk(DescriptorSimilarity(ref, qry), 10, 1, chunk=7)
    np.testing.assert_array_equal(idx, faiss_idx)
    np.testing.assert_allclose(scores, faiss_scores, atol=1e-5)


def noisy_band(n_query, n_ref, velocity, signal, seed, width=0.3):
    """Unit noise everywhere, plus a band of height `signal` and width `width` (references) along the
    true matches, reference velocity * i + 10 for query i (adjacent frames look alike: width ~ 1)."""
    rng = np.random.default_rng(seed)
    s = rng.normal(size=(n_query, n_ref)).astype(np.float32)
    position = velocity * np.arange(n_query) + 10
    s += signal * np.exp(-0.5 * ((np.arange(n_ref)[None, :] - position[:, None]) / width) ** 2)
    return s, np.rint(position).astype(np.int64)


@pytest.mark.parametrize(
    "velocity,width,window,tolerance",
    [(1.0, 0.3, "centred", 0), (1.0, 0.3, "trailing", 0), (1.25, 1.0, "centred", 1), (1.25, 1.0, "trailing", 1)],
)
def test_sequences_recover_the_band_that_single_images_miss(velocity, width, window, tolerance):
    s, truth = noisy_band(200, 280, velocity, signal=1.5, seed=3, width=width)
    ref_places = np.arange(280)
    _, single = sequence_topk(s, 5, 1)
    _, seq = sequence_topk(s, 5, 11, (0.8, 1.0, 1.25), window=window, chunk=64)
    single_r1 = place_recall(truth, ref_places, single, tolerance)[0]
    seq_r1 = place_recall(truth, ref_places, seq, tolerance)[0]
    assert single_r1 < 30.0 and seq_r1 > 85.0, (single_r1, seq_r1)


def test_documented_reordering_recipe_round_trips():
    s, _truth = noisy_band(80, 100, 1.0, signal=1.5, seed=9)
    rng = np.random.default_rng(10)
    q_perm, r_perm = rng.permutation(80), rng.permutation(100)  # sets stored out of route order
    shuffled, query_places, reference_places = s[q_perm][:, r_perm], np.arange(80)[q_perm], np.arange(100)[r_perm]
    q_order, r_order = np.argsort(query_places, kind="stable"), np.argsort(reference_places, kind="stable")
    scores, idx = sequence_topk(shuffled[q_order][:, r_order], 5, 7)
    idx = r_order[idx]
    scores[q_order], idx[q_order] = scores.copy(), idx.copy()
    expected_scores, expected_idx = sequence_topk(s, 5, 7)
    np.testing.assert_array_equal(reference_places[idx], expected_idx[query_places])
    np.testing.assert_array_equal(scores, expected_scores[query_places])


def test_contrast_enhancement_defeats_a_stretch_of_references_similar_to_everything():
    s, truth = noisy_band(200, 280, 1.0, signal=1.5, seed=4)
    s[:, 100:160] += 2.0  # e.g. a featureless stretch: high similarity to every query
    ref_places = np.arange(280)
    plain = place_recall(truth, ref_places, sequence_topk(s, 1, 11)[1], 0)[0]
    enhanced = place_recall(truth, ref_places, sequence_topk(s, 1, 11, contrast_window=10)[1], 0)[0]
    assert plain < 50.0 and enhanced > 80.0, (plain, enhanced)


def test_borders_first_and_last_queries_and_references():
    s, truth = noisy_band(60, 80, 1.0, signal=3.0, seed=4)
    s[:, :10] = np.random.default_rng(5).normal(size=(60, 10))  # first references unmatched
    s[0, 10] += 1.0
    _, idx = sequence_topk(s, 1, 9)
    assert idx[0, 0] == truth[0] == 10 and idx[-1, 0] == truth[-1]
    # a trailing line through reference 0 (v > 0) leaves the matrix at every k < 0: only (i, 0) remains;
    # kept with min_overlap 0, dropped by the border guard unless the query window is as short
    seq = sequence_scores(s, 6, (1.0,), window="trailing", min_overlap=0.0)
    np.testing.assert_allclose(seq[:, 0], s[:, 0])
    seq = sequence_scores(s, 6, (1.0,), window="trailing")
    assert seq[0, 0] == s[0, 0] and np.all(np.isneginf(seq[3:, 0])) and np.isfinite(seq[:, 3:]).all()
    _, idx = sequence_topk(s, 80, 6, (1.0,), window="trailing")
    assert set(idx[10, -2:].tolist()) == {0, 1}  # lines with 1 or 2 of 6 points: guarded, ranked last
    # ... and a centred one at query 0 has no earlier queries: mean of the k >= 0 points only
    seq = sequence_scores(s, 5, (1.0,))
    np.testing.assert_allclose(seq[0, 40], s[[0, 1, 2], [40, 41, 42]].mean(), rtol=1e-6)
    np.testing.assert_allclose(seq[59, 79], s[[57, 58, 59], [77, 78, 79]].mean(), rtol=1e-6)


def test_sequence_longer_than_the_query_set_and_single_query():
    s = np.random.default_rng(6).normal(size=(3, 9)).astype(np.float32)
    np.testing.assert_allclose(sequence_scores(s, 20, (1.0,)), sequence_reference(s, 20, (1.0,)), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(sequence_scores(s[:1], 5), s[:1])  # one query: nothing to add


def test_topk_caps_k_orders_best_first_and_breaks_ties_by_index():
    scores, idx = topk_rows(np.array([[0.5, 0.9, 0.5, 0.1]], dtype=np.float32), 10)
    assert idx.tolist() == [[1, 0, 2, 3]] and scores[0].tolist() == pytest.approx([0.9, 0.5, 0.5, 0.1])
    s = np.random.default_rng(7).normal(size=(5, 8)).astype(np.float32)
    scores, idx = sequence_topk(s, 20, 3)
    assert scores.shape == idx.shape == (5, 8) and idx.dtype == np.int64
    assert np.all(np.diff(scores, axis=1) <= 0)


def test_memmap_input_and_argument_checks(tmp_path):
    s = np.random.default_rng(8).normal(size=(20, 30)).astype(np.float32)
    mm = np.lib.format.open_memmap(tmp_path / "s.npy", mode="w+", dtype=np.float32, shape=s.shape)
    mm[:] = s
    np.testing.assert_array_equal(sequence_topk(mm, 4, 5, chunk=3)[1], sequence_topk(s, 4, 5)[1])
    with pytest.raises(ValueError, match="velocities"):
        sequence_scores(s, 3, ())
    with pytest.raises(ValueError, match="k must"):
        sequence_topk(s, 0, 3)
    with pytest.raises(ValueError, match=r"\(Q, R\)"):
        sequence_scores(s[0], 3)
    with pytest.raises(ValueError, match="min_overlap"):
        sequence_scores(s, 3, min_overlap=1.5)
    with pytest.raises(ValueError, match="descriptor shapes"):
        DescriptorSimilarity(np.zeros((4, 3)), np.zeros((2, 5)))


def joined_reference(s, length, velocities, q_seg, r_seg, min_overlap=0.5):
    """Slow loop as `sequence_reference`, with every point outside its query's or reference's segment dropped."""
    q, r = s.shape
    offsets = range(-(length // 2), length - length // 2)
    out = np.empty((q, r))
    for i in range(q):
        for j in range(r):
            best = -np.inf
            for v in velocities:
                in_queries = [k for k in offsets if 0 <= i + k < q and q_seg[i + k] == q_seg[i]]
                points = [(i + k, j + int(np.rint(v * k))) for k in in_queries]
                values = [s[a, b] for a, b in points if 0 <= b < r and r_seg[b] == r_seg[j]]
                if len(values) >= min_overlap * len(in_queries):
                    best = max(best, np.mean(values))
            out[i, j] = best
    return out


def test_no_line_crosses_a_join_between_separate_stretches():
    """Issue 24 item 5: Olid et al.'s Nordland sections are separate stretches; a sequence window
    treats each join like the end of the route, on the query and the reference axis."""
    rng = np.random.default_rng(4)
    s = rng.normal(size=(24, 30)).astype(np.float32)
    q_seg, r_seg = np.repeat([0, 1, 2], 8), np.repeat([0, 1, 2], 10)
    got = sequence_scores(s, 5, (0.8, 1.0, 1.25), query_segments=q_seg, reference_segments=r_seg)
    np.testing.assert_allclose(got, joined_reference(s, 5, (0.8, 1.0, 1.25), q_seg, r_seg), rtol=1e-5, atol=1e-5)
    # one segment is no join: the same numbers, bit for bit, as without segments
    plain = sequence_scores(s, 5, (0.8, 1.0, 1.25))
    same = sequence_scores(s, 5, (0.8, 1.0, 1.25), query_segments=np.zeros(24), reference_segments=np.zeros(30))
    assert np.array_equal(plain, same) and not np.allclose(plain, got)
    # the last query of a stretch, at the join, sees only its own stretch's queries: at velocity 1,
    # (7, 9) is the mean of queries 5..7 against references 7..9, never of query 8 or reference 10
    unit = sequence_scores(s, 5, (1.0,), query_segments=q_seg, reference_segments=r_seg)
    assert unit[7, 9] == pytest.approx(np.mean([s[5, 7], s[6, 8], s[7, 9]]), rel=1e-6)
    assert unit[8, 10] == pytest.approx(np.mean([s[8, 10], s[9, 11], s[10, 12]]), rel=1e-6)
    _, idx = sequence_topk(s, 3, 5, (1.0,), query_segments=q_seg, reference_segments=r_seg, chunk=5)
    full = sequence_scores(s, 5, (1.0,), query_segments=q_seg, reference_segments=r_seg)
    np.testing.assert_array_equal(idx, topk_rows(full, 3)[1])  # chunked top-k agrees with the whole matrix
