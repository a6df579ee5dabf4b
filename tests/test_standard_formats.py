"""The field's two standard layouts end to end through Snakemake, with another tool's descriptors as
a row: every R@N of every row is recomputed here by brute force (numpy cosine ranking against
positives found from the file names and the ground-truth file, independently of the suite)."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from acmnet.artifacts import load_descriptors
from acmnet.cli import main
from tests.conftest import REPO
from tests.test_workflow import _snakemake

UTM_DB = [(10.0 * i, 0.0) for i in range(12)]  # a street, one image every 10 m
UTM_SETS = {
    "queries": [(3.0, 1.0), (47.0, -2.0), (110.0, 0.0), (500.0, 0.0), (25.0, 0.0), (135.0, 0.0)],
    "queries_night": [(61.0, 0.0), (900.0, 900.0), (15.0, 20.0), (80.0, 5.0)],
}
VPR_GT = [[0, 1], [3], [], [6, 7], [2, 3, 4]]  # 5 queries over 8 references; query 2 has no positive
D = 16


def utm_name(x: float, y: float, k: int) -> str:
    return f"@{x:.2f}@{y:.2f}@17@T@40.4{k:02d}@-79.9{k:02d}@@@@@@@@.jpg"


def _image(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, size=(24, 32, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


def utm_tree(root: Path) -> dict[str, list[str]]:
    """images/test/{database,queries,queries_night} and images/train/database; image paths by set."""
    paths: dict[str, list[str]] = {"database": [], "queries": [], "queries_night": []}
    for k, (x, y) in enumerate(UTM_DB):
        paths["database"].append(f"images/test/database/{utm_name(x, y, k)}")
    for name, points in UTM_SETS.items():
        paths[name] = [f"images/test/{name}/{utm_name(x, y, k)}" for k, (x, y) in enumerate(points)]
    train = [f"images/train/database/{utm_name(7.0 * k, 3.0, k)}" for k in range(8)]
    for seed, rel in enumerate(paths["database"] + paths["queries"] + paths["queries_night"] + train):
        _image(root / rel, seed)
    return {k: sorted(v) for k, v in paths.items()}


def vprbench_tree(root: Path) -> None:
    for k in range(8):
        _image(root / "ref" / f"{k:07d}.png", 100 + k)
    for k in range(5):
        _image(root / "query" / f"{k:07d}.png", 200 + k)
    rows = np.empty((5, 2), dtype=object)
    for q, positives in enumerate(VPR_GT):
        rows[q, 0], rows[q, 1] = q, list(positives)
    np.save(root / "ground_truth_new.npy", rows, allow_pickle=True)  # as VPR-Bench writes it


def external_descriptors(tmp_path: Path, utm: dict[str, list[str]]) -> dict[str, np.ndarray]:
    """Another tool's descriptors: a pickle per utm query set (database rows first, sorted paths) and
    a kapture folder for the vprbench set; the raw vectors by image path relative to each root."""
    rng = np.random.default_rng(7)
    vectors = {p: rng.normal(size=D).astype(np.float32) for paths in utm.values() for p in paths}
    for name in UTM_SETS:
        rows = np.stack([vectors[p] for p in utm["database"] + utm[name]])
        with open(tmp_path / f"utm_{name}.pickle", "wb") as fh:
            pickle.dump(rows, fh)
    kapture = tmp_path / "kapture"
    kapture.mkdir()
    (kapture / "global_features.txt").write_text(f"# kapture format: 1.1\nsalad, float32, {D}, L2\n")
    for folder, count in (("ref", 8), ("query", 5)):
        for k in range(count):
            image = f"{folder}/{k:07d}.png"
            vectors[image] = rng.normal(size=D).astype(np.float32)
            (kapture / folder).mkdir(exist_ok=True)
            vectors[image].tofile(kapture / f"{image}.gfeat")
    return vectors


def config(tmp_path: Path) -> Path:
    cfg = yaml.safe_load((REPO / "config" / "standard_formats.yaml").read_text())
    cfg.update(image_size=[32, 32], results_dir=str(tmp_path / "results"), figures_dir=str(tmp_path / "figures"))
    cfg["model"] = {"backbone": "test_efficientnet", "pretrained": False}
    cfg["train"].update(epochs=1, batch_size=4, encoder_bn="frozen")
    cfg["evaluate"].update(top_k=5, recall_at=[1, 5], batch_size=8, bootstrap_resamples=200)
    cfg["methods"]["pixels_ssd"].update(pixel_size=[16, 16], pixel_patch=8)
    cfg["methods"]["salad"]["descriptors"] = {
        "pitts30k": {name: str(tmp_path / f"utm_{name}.pickle") for name in UTM_SETS},
        "gardenspoint": str(tmp_path / "kapture"),
    }
    cfg["datasets"]["pitts30k"]["root"] = str(tmp_path / "pitts")
    cfg["datasets"]["gardenspoint"]["root"] = str(tmp_path / "vprbench")
    path = tmp_path / "formats.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def brute_recall(reference: np.ndarray, query: np.ndarray, positives: list[set[int]], n: int) -> float:
    """Recall@n in percent: cosine ranking by a full similarity matrix, every query counted."""
    ref = reference / np.linalg.norm(reference, axis=1, keepdims=True)
    qry = query / np.linalg.norm(query, axis=1, keepdims=True)
    top = np.argsort(-(qry @ ref.T), axis=1, kind="stable")[:, :n]
    return 100.0 * np.mean([bool(set(row) & pos) for row, pos in zip(top, positives)])


def utm_positives(database: list[str], queries: list[str]) -> list[set[int]]:
    """Within 25 m, from the numbers in the file names (a regex, not the suite's parser)."""
    xy = lambda p: np.array(re.search(r"@([-\d.]+)@([-\d.]+)@", p).groups(), dtype=float)
    db = np.stack([xy(p) for p in database])
    return [set(np.flatnonzero(np.linalg.norm(db - xy(q), axis=1) <= 25.0).tolist()) for q in queries]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("formats")
    utm = utm_tree(tmp_path / "pitts")
    vprbench_tree(tmp_path / "vprbench")
    vectors = external_descriptors(tmp_path, utm)
    _snakemake(["--cores", "2", "--configfile", str(config(tmp_path))], cwd=tmp_path)
    return tmp_path, utm, vectors


@pytest.mark.e2e
def test_every_recall_matches_brute_force(run):
    tmp_path, utm, vectors = run
    exp = tmp_path / "results" / "standard_formats"
    metrics = pd.read_csv(exp / "metrics.csv")
    assert set(metrics["method"]) == {"acmnet", "imagenet_avg", "pixels_ssd", "salad"}
    truth = {("pitts30k", name): utm_positives(utm["database"], utm[name]) for name in UTM_SETS}
    truth[("gardenspoint", "query")] = [set(p) for p in VPR_GT]
    checked = 0
    for _, row in metrics.iterrows():
        dataset, queries, method = row["dataset"], row["queries"], row["method"]
        d = load_descriptors(exp / dataset / method / "descriptors")
        manifest = pd.read_csv(exp / dataset / "manifest.csv")
        chosen = (manifest["condition"].to_numpy()[d.query_rows]) == queries
        reference, query = d.reference, d.query[chosen]
        if method == "salad":  # the other tool's own vectors, in the manifest's order
            images = manifest["image"].to_numpy()
            expected = np.stack([vectors[images[r]] for r in d.reference_rows])
            np.testing.assert_allclose(reference, expected / np.linalg.norm(expected, axis=1, keepdims=True), rtol=1e-6)
        for n in (1, 5):
            assert row[f"R@{n}"] == pytest.approx(
                brute_recall(reference, query, truth[(dataset, queries)], n), abs=0.01
            )
            checked += 1
    assert checked == 4 * 3 * 2  # 4 methods x (2 utm query sets + 1 vprbench set) x 2 N


@pytest.mark.e2e
def test_pr_numbers_costs_and_tolerance_curve_of_every_row(run):
    """Every row's PR numbers equal both anchors' code on a brute-force cosine ranking (VPR-Bench's
    labels and scores, VPR_Tutorial's createPR on the full similarity matrix); the cost columns are
    filled but for the external row's describe time; recall vs distance is computed for the utm set,
    and the shipped-list dataset is skipped with its reason printed once."""
    from tests.evaluate.test_precision import anchors

    tmp_path, utm, _ = run
    exp = tmp_path / "results" / "standard_formats"
    metrics = pd.read_csv(exp / "metrics.csv")
    truth = {("pitts30k", name): utm_positives(utm["database"], utm[name]) for name in UTM_SETS}
    truth[("gardenspoint", "query")] = [set(p) for p in VPR_GT]
    checked = 0
    for _, row in metrics.iterrows():
        dataset, queries, method = row["dataset"], row["queries"], row["method"]
        d = load_descriptors(exp / dataset / method / "descriptors")
        manifest = pd.read_csv(exp / dataset / "manifest.csv")
        chosen = (manifest["condition"].to_numpy()[d.query_rows]) == queries
        positives = truth[(dataset, queries)]
        S = d.reference.astype(np.float64) @ d.query[chosen].astype(np.float64).T  # references x queries
        GT = np.zeros(S.shape, dtype=bool)
        for q, found in enumerate(positives):
            GT[sorted(found), q] = True
        columns = ["AUC-PR", "EP", "R@100P", "AUC-PR_tutorial", "R@100P_tutorial"]
        labels = GT[np.argmax(S, axis=0), np.arange(S.shape[1])]
        if labels.all() or not labels.any():  # degenerate: the anchors print made-up numbers, we print none
            assert row[columns].isna().all() and "every top-1 is" in row["pr_note"], row
        else:
            want = anchors(S, GT)
            for column in columns:
                assert row[column] == pytest.approx(want[column], abs=1e-4), (dataset, queries, method, column)
            checked += 1
        assert row["dim"] == D if method == "salad" else row["dim"] > 0
        assert row["bytes_per_image"] == 4 * row["dim"] and row["search_ms_per_query"] > 0
        assert np.isnan(row["describe_ms_per_image"]) if method == "salad" else row["describe_ms_per_image"] > 0
    assert checked >= 6, f"only {checked} of the 12 rows have a curve to check"
    summary = (exp / "summary.md").read_text()
    assert "descriptors another tool computed (external rows)" in summary
    tolerance = pd.read_csv(exp / "recall_vs_tolerance.csv")
    assert set(tolerance["dataset"]) == {"pitts30k"} and (tolerance["unit"] == "m").all()
    assert set(tolerance.loc[tolerance["configured"], "tolerance"]) == {25.0}
    at_25 = tolerance[tolerance["configured"]].set_index(["queries", "method"])["R@1"]
    pitts = metrics[metrics["dataset"] == "pitts30k"].set_index(["queries", "method"])["R@1"]
    assert at_25.to_dict() == pytest.approx(pitts.to_dict(), abs=0.01)
    log = (tmp_path / "logs" / "standard_formats" / "recall_vs_tolerance.log").read_text()
    assert log.count("gardenspoint skipped: its ground truth is the list the dataset ships") == 1
    for fig in ("pr_curves.png", "pr_curves.pdf", "recall_vs_tolerance.png", "recall_vs_tolerance.pdf"):
        assert (tmp_path / "figures" / "standard_formats" / fig).stat().st_size > 1000


@pytest.mark.e2e
def test_counts_and_ground_truth_are_stated(run):
    tmp_path, _, _ = run
    exp = tmp_path / "results" / "standard_formats"
    metrics = pd.read_csv(exp / "metrics.csv").set_index(["dataset", "queries", "method"])
    assert metrics.loc[("pitts30k", "queries", "salad"), "n_queries"] == 6
    assert metrics.loc[("pitts30k", "queries_night", "salad"), "n_references"] == 12
    summary = (exp / "summary.md").read_text()
    assert "pitts30k within 25 m" in summary and "gardenspoint as the dataset's ground-truth file lists them" in summary
    # queries 500 m and 135 m away (the latter 25 m from the last image: inclusive) and the night one 900 m away
    assert "pitts30k/queries 1 of 6" in summary and "pitts30k/queries_night 1 of 4" in summary
    assert "gardenspoint/query 1 of 5" in summary
    table = (exp / "tables" / "recall.tex").read_text()
    assert "pitts30k/queries 1 of 6" in table.replace(r"\_", "_")
    manifest = pd.read_csv(exp / "pitts30k" / "manifest.csv")
    assert (manifest["role"] == "train").sum() == 8  # images/train/database, by default
    assert not (exp / "pitts30k" / "salad" / "cache").exists()


def test_prepare_prints_the_counts(tmp_path, capsys):
    utm_tree(tmp_path / "pitts")
    assert main(["prepare", "utm", "--root", str(tmp_path / "pitts"), "--out", str(tmp_path / "m.csv")]) == 0
    out = capsys.readouterr().out
    assert "references 12" in out
    assert "queries queries 6 (1 without a positive), queries queries_night 4 (1 without a positive)" in out


def test_sequence_matching_is_refused_where_there_is_no_route(tmp_path, capsys):
    cfg = yaml.safe_load(config(tmp_path).read_text())
    cfg["evaluate"]["sequence_lengths"] = [5]
    path = tmp_path / "seq.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["check-config", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "datasets.pitts30k (type `utm`) has no route order" in err
