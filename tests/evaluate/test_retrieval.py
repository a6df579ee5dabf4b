import numpy as np
import pytest

from acmnet.evaluate.retrieval import search


def test_search_matches_brute_force_and_chunking_changes_nothing():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(300, 16)).astype(np.float32)
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    qry = rng.normal(size=(77, 16)).astype(np.float32)
    qry /= np.linalg.norm(qry, axis=1, keepdims=True)
    scores, idx = search(ref, qry, k=10, chunk=1000)
    brute = np.argsort(-(qry @ ref.T), axis=1)[:, :10]
    np.testing.assert_array_equal(idx, brute)
    np.testing.assert_allclose(scores, np.take_along_axis(qry @ ref.T, brute, 1), rtol=1e-5)
    scores2, idx2 = search(ref, qry, k=10, chunk=8)
    np.testing.assert_array_equal(idx, idx2)
    np.testing.assert_array_equal(scores, scores2)


def test_k_is_capped_and_shapes_are_checked():
    ref = np.eye(3, dtype=np.float32)
    _scores, idx = search(ref, ref, k=25)
    assert idx.shape == (3, 3) and idx[:, 0].tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="do not match"):
        search(ref, np.ones((2, 4), dtype=np.float32), k=1)
