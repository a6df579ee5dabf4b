"""Files a dataset type reads outside its root (issue 33 item 1): MixVPR's msls_val index folder
lives in MixVPR's repository, NetVLAD's `.mat` in NetVLAD's. Rewritten under their old size and
modification time, `snakemake -n` plans `prepare` again (the rule's params hold their content)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import yaml

from acmnet.artifacts import load_manifest
from acmnet.data.listing import files_read_digests
from tests.conftest import REPO
from tests.data.datasets.test_msls_val import msls_tree
from tests.test_workflow import _snakemake

pytestmark = pytest.mark.e2e  # Snakemake runs


def _config(tmp_path: Path, index: Path) -> tuple[Path, str]:
    cfg = yaml.safe_load((REPO / "config" / "standard_formats.yaml").read_text())
    cfg.update(results_dir="results", figures_dir="figures")
    cfg["evaluate"].update(top_k=3, recall_at=[1])
    cfg["methods"] = {"imagenet_avg": {"kind": "pretrained", "pool": "avg"}}
    cfg["datasets"] = {"msls": {"type": "msls_val", "root": str(tmp_path / "msls"), "index": str(index)}}
    config = tmp_path / "msls.yaml"
    config.write_text(yaml.safe_dump(cfg))
    return config, f"results/{cfg['experiment']}/msls/manifest.csv"


def test_an_index_file_outside_the_root_rewritten_under_its_old_time_reruns_prepare(tmp_path):
    index = tmp_path / "MixVPR/datasets/msls_val"
    _, _, scored, _ = msls_tree(tmp_path / "msls", index=index)
    config, target = _config(tmp_path, index)
    run = [target, "--cores", "1", "--configfile", str(config)]
    _snakemake(run, cwd=tmp_path)
    assert "Nothing to be done" in _snakemake([*run, "-n"], cwd=tmp_path).stdout
    # other positives (every query's positive is database image 0), the same size and time
    pidx = index / "msls_val_pIdx.npy"
    before = pidx.stat()
    old = np.load(pidx, allow_pickle=True)
    rows = np.empty(len(scored), dtype=object)
    for i in range(len(scored)):
        rows[i] = np.zeros_like(old[i])  # the same lengths: the same size, other values
    np.save(pidx, rows, allow_pickle=True)
    os.utime(pidx, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert pidx.stat().st_size == before.st_size and pidx.stat().st_mtime_ns == before.st_mtime_ns
    plan = _snakemake([*run, "-n"], cwd=tmp_path).stdout
    assert "prepare" in plan and "Nothing to be done" not in plan
    _snakemake(run, cwd=tmp_path)
    manifest = load_manifest(tmp_path / target)
    assert set(manifest.frame.loc[manifest.frame["role"] == "query", "positives"]) == {"0"}
    assert manifest.provenance.sources["read3"].path == str(pidx)  # recorded by content
    assert manifest.provenance.sources["read3"].digest == files_read_digests([pidx])[str(pidx)]
