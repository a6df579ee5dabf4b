"""VPR-methods-evaluation's master output as a row: a log folder's `database_descriptors.npy` and
`queries_descriptors.npy` (its main.py, --save_descriptors), one folder per query folder. R@N through
the suite's steps equals the tool's own computation (main.py: faiss.IndexFlatL2 on the same arrays,
positives within 25 m by sklearn's radius_neighbors, transcribed below)."""

from __future__ import annotations

import os
from pathlib import Path

import faiss
import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.neighbors import NearestNeighbors

from acmnet.cli import main
from acmnet.methods.external import ExternalDescriptorsError, ExternalOptions, _files, _form, read_file

D = 16
RNG = np.random.default_rng(5)
DB_XY = [(10.0 * i, 0.0) for i in range(30)]
QUERY_XY = {
    "queries": [(10.0 * i + RNG.uniform(-8, 8), RNG.uniform(-8, 8)) for i in range(0, 30, 2)] + [(900.0, 0.0)],
    "queries_night": [(10.0 * i + RNG.uniform(-8, 8), 5.0) for i in range(1, 30, 3)],
}


def _name(x: float, y: float, k: int) -> str:
    return f"@{x:.2f}@{y:.2f}@17@T@40.{k:03d}@-79.{k:03d}@.jpg"


def _touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))


def utm_tree(root: Path) -> dict[str, list[Path]]:
    """images/test/{database,queries,queries_night} of zero-byte images; each folder's paths as
    VPR-methods-evaluation's read_images_paths lists them (sorted glob, recursive)."""
    split = root / "images" / "test"
    paths = {"database": [split / "database" / f"sub{k % 3}" / _name(x, y, k) for k, (x, y) in enumerate(DB_XY)]}
    for name, points in QUERY_XY.items():
        paths[name] = [split / name / _name(x, y, k) for k, (x, y) in enumerate(points)]
    for path in (p for group in paths.values() for p in group):
        _touch(path)
    return {name: sorted(group, key=str) for name, group in paths.items()}


def tool_run(log_dir: Path, database: np.ndarray, queries: np.ndarray) -> Path:
    """What main.py's --save_descriptors leaves in logs/<log_dir>/<timestamp>/."""
    log_dir.mkdir(parents=True)
    np.save(log_dir / "queries_descriptors.npy", queries)
    np.save(log_dir / "database_descriptors.npy", database)
    return log_dir


def tool_recalls(
    database_paths: list[Path], queries_paths: list[Path], database: np.ndarray, queries: np.ndarray, values: list[int]
) -> np.ndarray:
    """VPR-methods-evaluation main.py (master), transcribed: positives within 25 m of the UTM in the
    paths, faiss.IndexFlatL2 top max(values), recalls in percent."""
    database_utms = np.array([(str(p).split("@")[1], str(p).split("@")[2]) for p in database_paths]).astype(float)
    queries_utms = np.array([(str(p).split("@")[1], str(p).split("@")[2]) for p in queries_paths]).astype(float)
    knn = NearestNeighbors(n_jobs=-1)
    knn.fit(database_utms)
    positives_per_query = knn.radius_neighbors(queries_utms, radius=25, return_distance=False)
    faiss_index = faiss.IndexFlatL2(D)
    faiss_index.add(database)
    _, predictions = faiss_index.search(queries, max(values))
    recalls = np.zeros(len(values))
    for query_index, preds in enumerate(predictions):
        for i, n in enumerate(values):
            if np.any(np.isin(preds[:n], positives_per_query[query_index])):
                recalls[i:] += 1
                break
    return recalls / len(queries) * 100


def _model(points: np.ndarray, seed: int) -> np.ndarray:
    """Descriptors a VPR model would give: a noisy function of the place, L2-normalised, float32."""
    rng = np.random.default_rng(seed)
    basis = np.random.default_rng(0).normal(size=(2, D))
    rows = np.sin(points / 40.0 @ basis * 3) + rng.normal(scale=1.2, size=(len(points), D))
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("vme")
    paths = utm_tree(tmp / "pitts")
    xy = lambda group: np.array([[float(f) for f in p.name.split("@")[1:3]] for p in group])
    database = _model(xy(paths["database"]), 1)
    logs = {}
    for k, name in enumerate(QUERY_XY):
        logs[name] = tool_run(tmp / "logs" / name / "2024-05-01_12-00-0{k}", database, _model(xy(paths[name]), 2 + k))
    cfg = {
        "experiment": "vme",
        "results_dir": str(tmp / "results"),
        "datasets": {"pitts": {"type": "utm", "root": str(tmp / "pitts")}},
        "methods": {
            "vme": {
                "kind": "external",
                # one log folder per query folder; the second named by one file of its pair
                "descriptors": {
                    "pitts": {
                        "queries": str(logs["queries"]),
                        "queries_night": str(logs["queries_night"] / "queries_descriptors.npy"),
                    }
                },
            }
        },
        "evaluate": {"top_k": 10, "recall_at": [1, 5, 10], "bootstrap_resamples": 100},
    }
    config = tmp / "vme.yaml"
    config.write_text(yaml.safe_dump(cfg))
    exp = tmp / "results" / "vme" / "pitts"
    common = ["--config", str(config)]
    steps = [
        ["prepare", *common, "--dataset", "pitts", "--out", str(exp / "manifest.csv")],
        ["positives", *common, "--dataset", "pitts", "--manifest", str(exp / "manifest.csv")],
        ["describe", *common, "--dataset", "pitts", "--method", "vme", "--manifest", str(exp / "manifest.csv")],
        ["retrieve", *common, "--method", "vme", "--descriptors", str(exp / "vme" / "descriptors")],
        ["score", *common, "--dataset", "pitts", "--method", "vme", "--manifest", str(exp / "manifest.csv")],
    ]
    extra = [
        [],
        ["--out", str(exp / "positives.npz")],
        ["--out", str(exp / "vme" / "descriptors"), "--no-progress"],
        ["--out", str(exp / "vme" / "retrieval.npz")],
        [
            "--positives",
            str(exp / "positives.npz"),
            "--retrieval",
            str(exp / "vme" / "retrieval.npz"),
            "--out",
            str(exp / "vme" / "metrics.csv"),
            "--curve-out",
            str(exp / "vme" / "curve.csv"),
        ],
    ]
    for step, more in zip(steps, extra):
        assert main(step + more) == 0, step
    return tmp, paths, logs, pd.read_csv(exp / "vme" / "metrics.csv")


def test_log_folders_score_as_the_tool_does(run):
    _, paths, logs, metrics = run
    values = [1, 5, 10]
    for name in QUERY_XY:
        database = np.load(logs[name] / "database_descriptors.npy")
        queries = np.load(logs[name] / "queries_descriptors.npy")
        expected = tool_recalls(paths["database"], paths[name], database, queries, values)
        row = metrics.set_index("queries").loc[name]
        assert [row[f"R@{n}"] for n in values] == pytest.approx(expected.round(2).tolist(), abs=1e-9)
        assert row["n_queries"] == len(QUERY_XY[name]) and row["n_references"] == len(DB_XY)
        assert 0 < expected[0] < expected[-1]  # neither all right nor all wrong: the order matters


def test_forms_and_snakemake_inputs(run):
    _, _, logs, _ = run
    folder = logs["queries"]
    for path in (str(folder), str(folder / "database_descriptors.npy"), str(folder / "queries_descriptors.npy")):
        assert _form(path, "x") == "pair"
    assert _form(str(folder.parent / "kapture"), "x") == "kapture"  # a folder without the pair
    options = ExternalOptions(descriptors={"pitts": str(folder)})
    assert _files(options, "pitts") == [
        str(folder / "database_descriptors.npy"),
        str(folder / "queries_descriptors.npy"),
    ]


def test_counts_that_disagree_name_both_and_the_folder(run):
    _, paths, logs, _ = run
    refs = [str(p) for p in paths["database"]]
    wrong = [str(p) for p in paths["queries"][:-1]]  # one query fewer than the folder's file holds
    with pytest.raises(ExternalDescriptorsError) as info:
        read_file(str(logs["queries"]), refs, wrong)
    message = str(info.value)
    assert str(logs["queries"]) in message
    assert "database_descriptors.npy holds 30 rows and queries_descriptors.npy 16" in message
    assert "the manifest has 30 database and 15 query images" in message


def test_half_a_pair_is_refused(tmp_path):
    np.save(tmp_path / "queries_descriptors.npy", np.ones((2, D), np.float32))
    with pytest.raises(ExternalDescriptorsError, match="holds queries_descriptors.npy but not database_descriptors"):
        read_file(str(tmp_path), ["a.jpg"], ["b.jpg", "c.jpg"])
