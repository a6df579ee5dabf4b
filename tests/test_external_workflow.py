"""Another tool's descriptors through Snakemake: a file replaced under its old modification time
(`cp -p`, `rsync -t`) is noticed by a rerun, and refused by a forced `score` that does not redescribe."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.conftest import REPO
from tests.test_workflow import _snakemake

pytestmark = pytest.mark.e2e  # a Snakemake pipeline run

DATABASE = [(100.0 * i, 0.0) for i in range(10)]  # places 100 m apart: one positive per query
QUERIES = [(100.0 * i + 3.0, 0.0) for i in range(10)]


def _name(x: float, y: float, k: int) -> str:
    return f"@{500000 + x:.2f}@{4000000 + y:.2f}@17@T@40.4{k:02d}@-79.9{k:02d}@@@@@@@@.jpg"


def _setup(tmp_path: Path) -> tuple[Path, Path, str]:
    """A `utm` tree of empty images (nothing is decoded), a pickle whose rows put every query's true
    place first, and a config with that one external row; (config, pickle, metrics target)."""
    names = {"database": [_name(x, y, k) for k, (x, y) in enumerate(DATABASE)]}
    names["queries"] = [_name(x, y, k) for k, (x, y) in enumerate(QUERIES)]
    for folder, files in names.items():
        (tmp_path / "pitts/images/test" / folder).mkdir(parents=True)
        for file in files:
            (tmp_path / "pitts/images/test" / folder / file).touch()
    database = np.eye(len(DATABASE), 16, dtype=np.float32)  # one axis per place (sorted names: place order)
    queries = database + 0.01
    with open(tmp_path / "salad.pickle", "wb") as fh:
        pickle.dump(np.concatenate([database, queries]), fh)
    cfg = yaml.safe_load((REPO / "config" / "standard_formats.yaml").read_text())
    cfg.update(results_dir="results", figures_dir="figures")  # relative to the working directory, tmp_path
    cfg["evaluate"].update(top_k=3, recall_at=[1], bootstrap_resamples=100)
    cfg["methods"] = {"salad": {"kind": "external", "descriptors": {"pitts": str(tmp_path / "salad.pickle")}}}
    cfg["datasets"] = {"pitts": {"type": "utm", "root": str(tmp_path / "pitts")}}
    config = tmp_path / "external.yaml"
    config.write_text(yaml.safe_dump(cfg))
    return config, tmp_path / "salad.pickle", f"results/{cfg['experiment']}/pitts/salad/metrics.csv"


def _recall(tmp_path: Path, target: str) -> float:
    return float(pd.read_csv(tmp_path / target)["R@1"].iloc[0])


def test_a_descriptor_file_replaced_under_its_old_time_is_described_again(tmp_path):
    config, pickled, target = _setup(tmp_path)
    run = [target, "--cores", "1", "--configfile", str(config)]
    _snakemake(run, cwd=tmp_path)
    assert _recall(tmp_path, target) == 100.0
    assert "Nothing to be done" in _snakemake([*run, "-n"], cwd=tmp_path).stdout
    # other rows (the database reversed), the same size, the old modification time: `cp -p`
    rows = pickle.loads(pickled.read_bytes())
    rows[: len(DATABASE)] = rows[: len(DATABASE)][::-1].copy()
    before = pickled.stat()
    pickled.write_bytes(pickle.dumps(rows))
    os.utime(pickled, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert pickled.stat().st_size == before.st_size and pickled.stat().st_mtime_ns == before.st_mtime_ns
    # a forced `score` that does not describe again (params trigger off) is refused by the re-check
    forced = _snakemake([*run, "--rerun-triggers", "mtime", "--forcerun", "score"], cwd=tmp_path, check=False)
    assert forced.returncode != 0
    assert "salad.pickle with content digest" in forced.stdout + forced.stderr + _log(tmp_path, "score")
    # a plain rerun describes again (its params hold the digest) and scores the new rows
    plan = _snakemake([*run, "-n"], cwd=tmp_path).stdout
    assert "describe" in plan and "Nothing to be done" not in plan
    _snakemake(run, cwd=tmp_path)
    assert _recall(tmp_path, target) < 100.0


def _log(tmp_path: Path, rule: str) -> str:
    return "".join(p.read_text() for p in (tmp_path / "logs").rglob(f"{rule}/**/*.log"))
