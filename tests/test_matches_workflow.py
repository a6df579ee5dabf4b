"""VPR-Bench's stored matches of ten methods on Corridor and SPEDTEST through `snakemake --cores
all --configfile <config>` (no code but the suite in the loop): every row's metrics.csv holds
VPR-Bench's own numbers (its functions transcribed in tests/methods/test_matches.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from tests.methods.test_matches import METHODS, SIZES, dataset_root, stored, vprbench_reference
from tests.test_workflow import REPO, _snakemake


def _decodable(root: Path) -> None:
    """SPEDTEST's zero-byte stand-ins made small decodable images (the retrieval figures draw them)."""
    for k, path in enumerate(sorted(root.rglob("*.jpg"))):
        Image.fromarray(np.full((12, 16, 3), k % 256, dtype=np.uint8)).save(path)


@pytest.mark.e2e
def test_twenty_rows_through_snakemake(tmp_path):
    datasets = {d: {"type": "vprbench", "root": str(dataset_root(tmp_path, d))} for d in SIZES}
    _decodable(tmp_path / "SPEDTEST")
    cfg = {
        "experiment": "vprbench_matches",
        "results_dir": str(tmp_path / "results"),
        "figures_dir": str(tmp_path / "figures"),
        "datasets": datasets,
        "methods": {m: {"kind": "matches", "matches": {d: str(stored(d, m)) for d in SIZES}} for m in METHODS},
        "evaluate": {"top_k": 10, "recall_at": [1, 5, 10], "bootstrap_resamples": 100, "pr": True},
    }
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(cfg))
    _snakemake(["--cores", "all", "--configfile", str(config)], REPO)
    metrics = pd.read_csv(tmp_path / "results" / "vprbench_matches" / "metrics.csv", comment="#")
    assert len(metrics) == 20
    for _, row in metrics.iterrows():
        expected = vprbench_reference(row["dataset"], row["method"])
        for n in (1, 5, 10):
            assert row[f"R@{n}"] == round(100 * expected[f"R@{n}"], 2), (row["dataset"], row["method"], n)
        for key in ("AUC-PR", "EP", "R@100P"):
            assert row[key] == round(expected[key], 4), (row["dataset"], row["method"], key)
    summary = (tmp_path / "results" / "vprbench_matches" / "summary.md").read_text()
    assert all(m in summary for m in METHODS)
