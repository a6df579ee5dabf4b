import numpy as np
import pytest

from acmnet.evaluate.metrics import hits, recall_curve


def brute_force_recall(q_places, r_places, indices, tolerance, n):
    found = 0
    for q, row in zip(q_places, indices):
        if any(abs(r_places[j] - q) <= tolerance for j in row[:n]):
            found += 1
    return 100.0 * found / len(q_places)


@pytest.mark.parametrize("tolerance", [0, 1, 2, 5])
def test_recall_curve_matches_brute_force(tolerance):
    rng = np.random.default_rng(tolerance)
    r_places = rng.integers(0, 200, size=150)
    q_places = rng.integers(0, 220, size=90)  # some queries have no reference near them at all
    indices = np.stack([rng.permutation(150)[:25] for _ in range(90)])
    curve = recall_curve(q_places, r_places, indices, tolerance)
    assert curve.shape == (25,)
    for n in range(1, 26):
        assert curve[n - 1] == pytest.approx(brute_force_recall(q_places, r_places, indices, tolerance, n))
    assert np.all(np.diff(curve) >= 0)


def test_tolerance_window_edges():
    r_places = np.array([0, 10, 20, 30])
    q_places = np.array([12, 12, 12])
    indices = np.array([[1], [2], [0]])  # retrieved places 10, 20, 0
    assert hits(q_places, r_places, indices, 2)[:, 0].tolist() == [True, False, False]
    assert recall_curve(q_places, r_places, indices, 2)[0] == pytest.approx(100 / 3)
    assert recall_curve(q_places, r_places, indices, 8)[0] == pytest.approx(200 / 3)


def test_every_query_counts_in_the_denominator():
    r_places = np.array([0, 1, 2])
    q_places = np.array([1, 500])  # the second has no reference within any window
    indices = np.array([[1, 0], [2, 1]])
    assert recall_curve(q_places, r_places, indices, 2).tolist() == [50.0, 50.0]


def test_empty_query_set_is_an_error():
    with pytest.raises(ValueError, match="empty query set"):
        recall_curve(np.array([], dtype=int), np.array([1]), np.zeros((0, 1), dtype=int), 2)


def test_score_writes_one_row_per_query_set_and_refuses_mismatched_files(tmp_path):
    import pandas as pd

    from acmnet.config import config_from_dict
    from acmnet.data import manifest as mf
    from acmnet.evaluate.metrics import score

    frame = pd.DataFrame({
        "image": [f"{i}.png" for i in range(7)],
        "role": ["reference"] * 3 + ["query"] * 4,
        "place": [0, 5, 10, 0, 6, 10, 20],
        "condition": ["day"] * 3 + ["night", "night", "snow", "snow"],
    })
    mf.write(frame, tmp_path / "m.csv")
    cfg = config_from_dict({"evaluate": {"top_k": 2, "recall_at": [1, 2]},
                            "datasets": {"d": {"type": "folder_pair", "root": ".", "tolerance": 1}}})
    indices = np.array([[0, 1], [0, 1], [2, 0], [0, 1]])
    np.savez(tmp_path / "r.npz", indices=indices, reference_rows=np.arange(3), query_rows=np.arange(3, 7))
    metrics = score(cfg, "d", "m", tmp_path / "m.csv", tmp_path / "r.npz", tmp_path / "out.csv", tmp_path / "curve.csv")
    assert metrics[["queries", "R@1", "R@2"]].values.tolist() == [["night", 50.0, 100.0], ["snow", 50.0, 50.0]]
    np.savez(tmp_path / "bad.npz", indices=indices[:3], reference_rows=np.arange(3), query_rows=np.arange(3, 6))
    with pytest.raises(ValueError, match=r"bad.npz does not match .*m.csv"):
        score(cfg, "d", "m", tmp_path / "m.csv", tmp_path / "bad.npz", tmp_path / "o.csv", tmp_path / "c.csv")


def test_sequence_rows_use_place_order_and_beat_noisy_single_images(tmp_path):
    import pandas as pd

    from acmnet.config import config_from_dict
    from acmnet.data import manifest as mf
    from acmnet.evaluate.metrics import score
    from acmnet.evaluate.retrieval import search

    rng = np.random.default_rng(0)
    n, d = 80, 32
    base = rng.normal(size=(n, d))
    ref = base / np.linalg.norm(base, axis=1, keepdims=True)
    noisy = base + 3.0 * rng.normal(size=(n, d))
    qry = noisy / np.linalg.norm(noisy, axis=1, keepdims=True)
    shuffled = rng.permutation(n)  # queries stored out of route order: scoring must sort by place
    frame = pd.DataFrame({
        "image": [f"r{i}.png" for i in range(n)] + [f"q{i}.png" for i in shuffled],
        "role": ["reference"] * n + ["query"] * n,
        "place": list(range(n)) + list(shuffled),
        "condition": ["day"] * n + ["night"] * n,
    })
    mf.write(frame, tmp_path / "m.csv")
    qry = qry[shuffled]
    np.savez(tmp_path / "d.npz", reference=ref.astype(np.float32), query=qry.astype(np.float32),
             reference_rows=np.arange(n), query_rows=np.arange(n, 2 * n))
    _, idx = search(ref, qry, 10)
    np.savez(tmp_path / "r.npz", indices=idx, reference_rows=np.arange(n), query_rows=np.arange(n, 2 * n))
    cfg = config_from_dict({"evaluate": {"top_k": 10, "recall_at": [1, 5], "sequence_lengths": [1, 9]},
                            "datasets": {"d": {"type": "folder_pair", "root": ".", "tolerance": 0}}})
    metrics = score(cfg, "d", "m", tmp_path / "m.csv", tmp_path / "r.npz", tmp_path / "o.csv", tmp_path / "c.csv",
                    tmp_path / "d.npz").set_index("method")
    assert metrics.loc["m+seq1", "R@1"] == metrics.loc["m", "R@1"]  # length 1 is single-image matching
    assert metrics.loc["m+seq9", "R@1"] > metrics.loc["m", "R@1"] + 30
    with pytest.raises(ValueError, match="needs the descriptors"):
        score(cfg, "d", "m", tmp_path / "m.csv", tmp_path / "r.npz", tmp_path / "o.csv", tmp_path / "c.csv")
