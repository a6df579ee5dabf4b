"""docs/extending.md's "Adding a dataset type" example, run as written: one module and one registry line,
and the manifest, positives, scores and captions pick it up."""

import sys

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import acmnet.data.datasets as datasets
from acmnet.artifacts import load_manifest, load_positives
from acmnet.cli import main
from acmnet.config_loader import config_from_dict
from acmnet.data.datasets.base import LayoutError
from tests.conftest import doc_module


def _readme_module():
    return doc_module("## Adding a dataset type", "acmnet.data.datasets.csv_positions")


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(sys.modules, "acmnet.data.datasets.csv_positions", _readme_module())
    monkeypatch.setitem(datasets.DATASET_TYPES, "csv_positions", "acmnet.data.datasets.csv_positions")


def _campus(root):
    rows = [("r0.png", "reference", 0.0, 0.0), ("r1.png", "reference", 30.0, 0.0), ("r2.png", "reference", 60.0, 0)]
    rows += [("q0.png", "query", 2.0, 1.0), ("q1.png", "query", 58.0, 0.0), ("q2.png", "query", 500.0, 0.0)]
    root.mkdir()
    for k, (image, *_) in enumerate(rows):
        Image.fromarray(np.full((8, 8, 3), 20 * k, np.uint8)).save(root / image)
    pd.DataFrame(rows, columns=["image", "set", "x", "y"]).to_csv(root / "images.csv", index=False)


def test_the_readme_example_is_a_working_dataset_type(registered, tmp_path, capsys):
    _campus(tmp_path / "campus")
    cfg = config_from_dict({"datasets": {"campus": {"type": "csv_positions", "root": str(tmp_path / "campus")}}})
    frame = datasets.prepare_manifest(cfg, "campus")
    assert frame["role"].tolist() == ["train"] * 3 + ["reference"] * 3 + ["query"] * 3
    config = tmp_path / "c.yaml"
    config.write_text(
        f"datasets: {{campus: {{type: csv_positions, root: {tmp_path / 'campus'}}}}}\n"
        "evaluate: {top_k: 3, recall_at: [1, 3]}\n"  # 3 references
    )
    args = ["--config", str(config), "--dataset", "campus"]
    assert main(["prepare", *args, "--out", str(tmp_path / "m.csv")]) == 0
    assert "queries query 3 (1 without a positive)" in capsys.readouterr().out
    manifest = tmp_path / "m.csv"
    assert main(["positives", *args, "--manifest", str(manifest), "--out", str(tmp_path / "p.npz")]) == 0

    positives = load_positives(tmp_path / "p.npz", load_manifest(manifest))
    assert [positives.sets.of(q).tolist() for q in range(3)] == [[0], [2], []]  # 25 m: q0 -> r0, q1 -> r2


def test_the_readme_example_refuses_a_missing_listing(registered, tmp_path):
    (tmp_path / "empty").mkdir()
    kind = datasets.dataset_type("csv_positions")
    with pytest.raises(LayoutError, match=r"images\.csv is missing"):
        kind.prepare_manifest(tmp_path / "empty", {})
