import numpy as np
import pandas as pd
import pytest

from acmnet.artifacts import ArtifactError, ProvenanceError, load_metrics, table_provenance
from acmnet.config import ConfigError
from acmnet.config_loader import config_from_dict
from acmnet.data.positives import from_places
from acmnet.evaluate.metrics import recall_curve, score
from acmnet.evaluate.retrieval import search_streamed
from tests.conftest import write_manifest, write_positives, write_retrieval


def curve(q_places, r_places, indices, tolerance):
    """Recall curve with a place window: the positives' hits, as `score` computes them."""
    return recall_curve(from_places(q_places, r_places, tolerance).hits(indices))


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
    got = curve(q_places, r_places, indices, tolerance)
    assert got.shape == (25,)
    for n in range(1, 26):
        assert got[n - 1] == pytest.approx(brute_force_recall(q_places, r_places, indices, tolerance, n))
    assert np.all(np.diff(got) >= 0)


def test_tolerance_window_edges():
    r_places = np.array([0, 10, 20, 30])
    q_places = np.array([12, 12, 12])
    indices = np.array([[1], [2], [0]])  # retrieved places 10, 20, 0
    assert from_places(q_places, r_places, 2).hits(indices)[:, 0].tolist() == [True, False, False]
    assert curve(q_places, r_places, indices, 2)[0] == pytest.approx(100 / 3)
    assert curve(q_places, r_places, indices, 8)[0] == pytest.approx(200 / 3)


def test_every_query_counts_in_the_denominator():
    r_places = np.array([0, 1, 2])
    q_places = np.array([1, 500])  # the second has no reference within any window
    indices = np.array([[1, 0], [2, 1]])
    assert curve(q_places, r_places, indices, 2).tolist() == [50.0, 50.0]


def test_empty_query_set_is_an_error():
    with pytest.raises(ValueError, match="empty query set"):
        recall_curve(np.zeros((0, 1), dtype=bool))


def _files(tmp_path, frame, reference, query, indices, name="m.csv", method="m"):
    """Manifest, descriptors and retrieval files of `method` made from each other, as the pipeline makes them."""
    manifest = write_manifest(frame, tmp_path / name)
    write_retrieval(tmp_path, manifest, indices, reference, query, name=name, method=method)
    return tmp_path / name, tmp_path / f"{name}.d.npz", tmp_path / f"{name}.npz"


def test_score_writes_one_row_per_query_set_and_refuses_files_of_another_manifest(tmp_path):
    frame = pd.DataFrame(
        {
            "image": [f"{i}.png" for i in range(7)],
            "role": ["reference"] * 3 + ["query"] * 4,
            "place": [0, 5, 10, 0, 6, 10, 20],
            "condition": ["day"] * 3 + ["night", "night", "snow", "snow"],
        }
    )
    cfg = config_from_dict(
        {
            "evaluate": {"top_k": 2, "recall_at": [1, 2]},
            "datasets": {"d": {"type": "folder_pair", "root": ".", "reference": "a", "query": "b", "tolerance": 1}},
        }
    )
    indices = np.array([[0, 1], [0, 1], [2, 0], [0, 1]])
    m, _, r = _files(tmp_path, frame, np.eye(3), np.eye(3)[[0, 1, 2, 0]], indices)
    metrics = score(cfg, "d", "m", m, write_positives(m, 1), r, tmp_path / "out.csv", tmp_path / "curve.csv")
    assert metrics[["queries", "R@1", "R@2"]].values.tolist() == [["night", 50.0, 100.0], ["snow", 50.0, 50.0]]
    assert table_provenance(tmp_path / "out.csv").find("retrieval")[1].path == str(r)
    # Another manifest with the same row counts (places moved): refused by content, naming both files.
    moved = frame.assign(place=[0, 5, 10, 1, 6, 10, 20])
    _m2, _, r2 = _files(tmp_path, moved, np.eye(3), np.eye(3)[[0, 1, 2, 0]], indices, name="other.csv")
    with pytest.raises(
        ProvenanceError, match=r"other\.csv\.npz was made from manifest .*other\.csv.*not from .*m\.csv"
    ):
        score(cfg, "d", "m", m, write_positives(m, 1), r2, tmp_path / "o.csv", tmp_path / "c.csv")
    assert not (tmp_path / "o.csv").exists()


def _route(tmp_path, order, name):
    """80 places; queries are noisy copies of the references, recorded in `order` (their time)."""
    rng = np.random.default_rng(0)
    n, d = 80, 32
    base = rng.normal(size=(n, d))
    ref = base / np.linalg.norm(base, axis=1, keepdims=True)
    noisy = base + 3.0 * rng.normal(size=(n, d))
    qry = (noisy / np.linalg.norm(noisy, axis=1, keepdims=True))[order]
    frame = pd.DataFrame(
        {
            "image": [f"r{i}.png" for i in range(n)] + [f"q{i}.png" for i in order],
            "role": ["reference"] * n + ["query"] * n,
            "place": list(range(n)) + list(order),
            "condition": ["day"] * n + ["night"] * n,
        }
    )
    _, idx = search_streamed(ref, qry, 10)
    return _files(tmp_path, frame, ref, qry, idx, name=name)


def test_sequence_rows_follow_recording_order_never_ground_truth_places(tmp_path):
    cfg = config_from_dict(
        {
            "evaluate": {"top_k": 10, "recall_at": [1, 5], "sequence_lengths": [1, 9]},
            "datasets": {"d": {"type": "folder_pair", "root": ".", "reference": "a", "query": "b", "tolerance": 0}},
        }
    )
    in_order = _route(tmp_path, np.arange(80), "ordered.csv")
    metrics = score(
        cfg,
        "d",
        "m",
        in_order[0],
        write_positives(in_order[0], 0),
        in_order[2],
        tmp_path / "o.csv",
        tmp_path / "c.csv",
        in_order[1],
    ).set_index("method")
    assert metrics.loc["m+seq1", "R@1"] == metrics.loc["m", "R@1"]  # length 1 is single-image matching
    assert metrics.loc["m+seq9", "R@1"] > metrics.loc["m", "R@1"] + 30
    # Queries recorded in a shuffled order form no sequence: scoring must not sort them by their
    # ground-truth place, so sequence matching gains nothing here.
    shuffled = _route(tmp_path, np.random.default_rng(1).permutation(80), "shuffled.csv")
    metrics = score(
        cfg,
        "d",
        "m",
        shuffled[0],
        write_positives(shuffled[0], 0),
        shuffled[2],
        tmp_path / "o.csv",
        tmp_path / "c.csv",
        shuffled[1],
    ).set_index("method")
    assert metrics.loc["m+seq9", "R@1"] < metrics.loc["m", "R@1"] + 5
    with pytest.raises(ConfigError, match="needs the descriptors"):
        score(
            cfg,
            "d",
            "m",
            shuffled[0],
            write_positives(shuffled[0], 0),
            shuffled[2],
            tmp_path / "o.csv",
            tmp_path / "c.csv",
        )


def test_recall_at_beyond_the_retrievals_kept_is_refused(tmp_path):
    frame = pd.DataFrame(
        {
            "image": ["a", "b", "c"],
            "role": ["reference", "reference", "query"],
            "place": [0, 1, 0],
            "condition": ["day", "day", "night"],
        }
    )
    m, _, r = _files(tmp_path, frame, np.eye(2), np.eye(2)[:1], np.array([[0, 1]]))
    cfg = config_from_dict(
        {
            "evaluate": {"top_k": 5, "recall_at": [1, 5]},
            "datasets": {"d": {"type": "folder_pair", "root": ".", "reference": "a", "query": "b"}},
        }
    )
    with pytest.raises(ConfigError, match=r"keeps 2 retrievals per query.*up to 5"):
        score(cfg, "d", "m", m, write_positives(m, 2), r, tmp_path / "o.csv", tmp_path / "c.csv")


def test_intervals_of_a_route_use_moving_blocks_and_the_rows_record_their_length(tmp_path):
    """Hits and misses in stretches of 20 queries along a route: the interval is read from moving
    blocks (length from the data, or the one configured), wider than the iid one."""
    q = 200
    frame = pd.DataFrame(
        {
            "image": [f"{i}.png" for i in range(2 * q)],
            "role": ["reference"] * q + ["query"] * q,
            "place": list(range(q)) * 2,
            "condition": ["day"] * q + ["night"] * q,
        }
    )
    found = np.repeat(np.random.default_rng(0).random(q // 20) < 0.5, 20)
    indices = np.where(found, np.arange(q), (np.arange(q) + q // 2) % q)[:, None]
    m, _, r = _files(tmp_path, frame, None, None, indices)
    rows = {}
    for block in (None, 1, 5):
        cfg = config_from_dict(
            {
                "evaluate": {"top_k": 1, "recall_at": [1], "bootstrap_block": block},
                "datasets": {"d": {"type": "folder_pair", "root": ".", "reference": "a", "query": "b", "tolerance": 0}},
            }
        )
        out = tmp_path / f"metrics{block}.csv"
        rows[block] = score(cfg, "d", "m", m, write_positives(m, 0), r, out, tmp_path / "c.csv").iloc[0]
        assert load_metrics([out])["bootstrap_block"].tolist() == [rows[block]["bootstrap_block"]]  # still read
    assert rows[1]["bootstrap_block"] == 1 and rows[5]["bootstrap_block"] == 5
    assert 5 < rows[None]["bootstrap_block"] <= q // 4
    width = {b: row["R@1_hi"] - row["R@1_lo"] for b, row in rows.items()}
    assert width[None] > 2 * width[1] and rows[None]["R@1"] == rows[1]["R@1"] == 100 * found.mean()


def test_another_methods_retrieval_or_descriptors_are_refused_never_scored_as_this_methods_rows(tmp_path):
    """Issue 18: method A scored with method B's retrieval (same dataset, same manifest) is an
    error naming both methods, and nothing is written."""
    frame = pd.DataFrame(
        {"image": ["a", "b", "c"], "role": ["reference", "reference", "query"], "place": [0, 1, 0], "condition": "n"}
    )
    cfg = config_from_dict(
        {
            "evaluate": {"top_k": 2, "recall_at": [1, 2], "sequence_lengths": [1]},
            "datasets": {"d": {"type": "folder_pair", "root": ".", "reference": "a", "query": "b", "tolerance": 0}},
        }
    )
    m, d_b, r_b = _files(tmp_path, frame, np.eye(2), np.eye(2)[:1], np.array([[0, 1]]), method="b")
    positives = write_positives(m, 0)
    out, curve = tmp_path / "o.csv", tmp_path / "c.csv"
    with pytest.raises(
        ProvenanceError, match=r"m\.csv\.npz was made for method b, not a: .*acmnet retrieve --method a"
    ):
        score(cfg, "d", "a", m, positives, r_b, out, curve, d_b)
    # the descriptors are checked too: a's retrieval beside b's descriptors
    from acmnet.artifacts import load_descriptors, load_manifest, provenance, save_retrieval

    desc_b, manifest = load_descriptors(d_b), load_manifest(m)
    r_a = save_retrieval(
        tmp_path / "a.npz",
        np.array([[0, 1]]),
        np.zeros((1, 2), np.float32),
        manifest.rows("reference"),
        manifest.rows("query"),
        provenance("retrieve", {"method_name": "a"}, descriptors=desc_b),
    ).path
    with pytest.raises(ProvenanceError, match=r"m\.csv\.d\.npz was made for method b, not a"):
        score(cfg, "d", "a", m, positives, r_a, out, curve, d_b)
    assert not out.exists() and not curve.exists()
    metrics = score(cfg, "d", "b", m, positives, r_b, out, curve, d_b)
    assert metrics["method"].tolist() == ["b", "b+seq1"]
    assert table_provenance(out).settings["method_name"] == "b"


def test_an_edited_metrics_file_is_refused_naming_the_step_to_rerun(tmp_path):
    """Issue 18: a metrics.csv changed after `acmnet score` wrote it is an error, not a hand-made file."""
    frame = pd.DataFrame(
        {"image": ["a", "b", "c"], "role": ["reference", "reference", "query"], "place": [0, 1, 0], "condition": "n"}
    )
    cfg = config_from_dict(
        {
            "evaluate": {"top_k": 2, "recall_at": [1, 2]},
            "datasets": {"d": {"type": "folder_pair", "root": ".", "reference": "a", "query": "b", "tolerance": 0}},
        }
    )
    m, _, r = _files(tmp_path, frame, np.eye(2), np.eye(2)[:1], np.array([[1, 0]]))
    out = tmp_path / "metrics.csv"
    score(cfg, "d", "m", m, write_positives(m, 0), r, out, tmp_path / "curve.csv")
    out.write_text(out.read_text().replace(",0.0,", ",100.0,", 1))  # R@1 0 -> 100 by hand
    for read in (lambda: load_metrics([out]), lambda: table_provenance(out)):
        with pytest.raises(
            ArtifactError, match=r"metrics\.csv was changed after `acmnet score` wrote it .*run `acmnet score` again"
        ):
            read()
    # its provenance record removed: a hand-made file, read as such (values checked)
    (tmp_path / "metrics.provenance.json").unlink()
    assert load_metrics([out])["R@1"].tolist() == [100.0]


def test_a_manifest_with_a_row_deleted_or_without_its_record_is_refused(tmp_path):
    """Issue 18: a manifest edited after `acmnet prepare` wrote it is an error naming the file and
    the step to rerun; so is one without a provenance record (no step wrote it)."""
    from acmnet.artifacts import load_manifest

    frame = pd.DataFrame(
        {"image": list("abcd"), "role": ["reference"] * 2 + ["query"] * 2, "place": [0, 1, 0, 1], "condition": "n"}
    )
    path = tmp_path / "manifest.csv"
    write_manifest(frame, path)
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-1]))  # the last query deleted
    with pytest.raises(
        ArtifactError, match=r"manifest\.csv was changed after `acmnet prepare` wrote it .*run `acmnet prepare` again"
    ):
        load_manifest(path)
    (tmp_path / "manifest.provenance.json").unlink()
    with pytest.raises(
        ArtifactError, match=r"manifest\.csv has no provenance record \(manifest\.provenance\.json\) beside it"
    ):
        load_manifest(path)


def test_one_query_gets_no_interval_not_a_zero_width_one(tmp_path):
    """Issue 26 item 8: with one query every resample is that query: no interval is written."""
    frame = pd.DataFrame(
        {"image": ["a", "b", "c"], "role": ["reference", "reference", "query"], "place": [0, 1, 0], "condition": "n"}
    )
    cfg = config_from_dict(
        {
            "evaluate": {"top_k": 2, "recall_at": [1, 2]},
            "datasets": {"d": {"type": "folder_pair", "root": ".", "reference": "a", "query": "b", "tolerance": 0}},
        }
    )
    m, _, r = _files(tmp_path, frame, np.eye(2), np.eye(2)[:1], np.array([[0, 1]]))
    out, curve = tmp_path / "metrics.csv", tmp_path / "curve.csv"
    metrics = score(cfg, "d", "m", m, write_positives(m, 0), r, out, curve)
    assert metrics["R@1"].tolist() == [100.0] and metrics[["R@1_lo", "R@1_hi", "R@2_lo"]].isna().all().all()
    assert load_metrics([out])["R@1_lo"].isna().all()  # read back as empty, not refused
    from acmnet.artifacts import load_curves

    assert load_curves([curve])["lo"].isna().all()


def test_score_adds_pr_columns_from_the_top1_scores_and_leaves_degenerate_sets_empty(tmp_path):
    from acmnet.artifacts import load_retrieval, save_retrieval
    from acmnet.evaluate.precision import pr_numbers

    frame = pd.DataFrame(
        {
            "image": [f"{i}.png" for i in range(10)],
            "role": ["reference"] * 4 + ["query"] * 6,
            "place": [0, 10, 20, 30, 0, 10, 21, 40, 0, 20],
            "condition": ["day"] * 4 + ["night"] * 4 + ["snow"] * 2,
        }
    )
    indices = np.array([[0, 1], [2, 0], [2, 3], [3, 1], [0, 2], [2, 1]])  # night: right, wrong, right, wrong
    m, _, r = _files(tmp_path, frame, np.eye(4), np.eye(4)[[0, 1, 2, 3, 0, 2]], indices)
    made = load_retrieval(r)
    scores = np.array([[0.9, 0.1], [0.8, 0.1], [0.7, 0.1], [0.9, 0.1], [0.5, 0.1], [0.6, 0.1]], np.float32)
    save_retrieval(r, indices, scores, made.reference_rows, made.query_rows, made.provenance)
    datasets = {"d": {"type": "folder_pair", "root": ".", "reference": "a", "query": "b", "tolerance": 1}}
    cfg = config_from_dict({"evaluate": {"top_k": 2, "recall_at": [1, 2]}, "datasets": datasets})
    ranks_out = tmp_path / "ranks.csv"
    metrics = score(cfg, "d", "m", m, write_positives(m, 1), r, tmp_path / "o.csv", tmp_path / "c.csv", None, ranks_out)
    night, snow = metrics.set_index("queries").loc["night"], metrics.set_index("queries").loc["snow"]
    has_positive = np.array([True, True, True, False])  # place 40 is 10 places from every reference
    want = pr_numbers(np.array([True, False, True, False]), scores[:4, 0].astype(np.float64), has_positive)
    for column, value in want.items():
        assert night[column] == pytest.approx(round(value, 4)), column
    assert night["pr_note"] == "" and snow["pr_note"].startswith("every top-1 is right")
    assert np.isnan(snow[["AUC-PR", "EP", "R@100P", "AUC-PR_tutorial", "R@100P_tutorial"]].astype(float)).all()
    ranks = pd.read_csv(ranks_out)
    np.testing.assert_allclose(ranks["top1_score"], scores[:, 0], rtol=1e-7)
    off = config_from_dict({"evaluate": {"top_k": 2, "recall_at": [1, 2], "pr": False}, "datasets": datasets})
    plain = score(off, "d", "m", m, write_positives(m, 1), r, tmp_path / "p.csv", tmp_path / "pc.csv")
    assert "AUC-PR" not in plain.columns and "pr_note" not in plain.columns
    pd.testing.assert_frame_equal(plain[["R@1", "R@2"]], metrics[["R@1", "R@2"]])
