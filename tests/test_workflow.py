"""The Snakemake workflow: the DAG, one tiny end-to-end run, single-rule reruns, bad config."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import REPO

SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile")]


def _snakemake(args: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    result = subprocess.run(SNAKEMAKE + args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result


def _tiny_config(tmp_path: Path) -> Path:
    cfg = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    cfg["image_size"] = [32, 32]
    cfg["results_dir"] = str(tmp_path / "results")
    cfg["figures_dir"] = str(tmp_path / "figures")
    cfg["train"].update(epochs=2, batch_size=8)
    cfg["evaluate"].update(top_k=10, batch_size=32)
    cfg["datasets"]["demo_route"].update(
        root=str(tmp_path / "route"), places=24, render_size=[32, 48], query_conditions=["winter", "night"]
    )
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.mark.parametrize("configfile", [None, "config/demo.yaml", "config/nordland64.yaml"])
def test_dry_run_shows_the_whole_dag(configfile, tmp_path):
    args = ["-n", "--cores", "1"] + (["--configfile", str(REPO / configfile)] if configfile else [])
    out = _snakemake(args, cwd=tmp_path).stdout  # a clean working directory: no earlier results
    for rule in (
        "prepare",
        "cache",
        "train",
        "describe",
        "retrieve",
        "score",
        "report",
        "figure_retrievals",
        "paper_tables",
        "gradcam",
    ):
        assert f"\n{rule} " in out or f"rule {rule}:" in out, f"rule {rule} missing from the DAG of {configfile}"


def test_tiny_end_to_end_run_and_single_rule_rerun(tmp_path):
    config = _tiny_config(tmp_path)
    _snakemake(["--cores", "2", "--configfile", str(config)], cwd=tmp_path)
    exp = tmp_path / "results" / "demo"
    metrics = pd.read_csv(exp / "metrics.csv")
    assert {"dataset", "queries", "method", "R@1", "R@5", "R@10"} <= set(metrics.columns)
    assert sorted(zip(metrics["queries"], metrics["method"])) == sorted(
        (q, m) for q in ("winter", "night") for m in ("acmnet", "imagenet_avg")
    )
    assert ((metrics["R@1"] <= metrics["R@5"]) & (metrics["R@5"] <= metrics["R@10"])).all()
    assert (metrics["n_queries"] == 24).all()
    assert "ACM-Net (published)" in (exp / "tables" / "table2.tex").read_text()
    table = (exp / "tables" / "recall.tex").read_text()
    assert r"\toprule" in table and r"\bottomrule" in table and "tf\\_efficientnet\\_lite0" in table
    for fig in (
        "recall_curves.png",
        "recall_curves.pdf",
        "retrievals_demo_route_acmnet.png",
        "retrievals_demo_route_acmnet.pdf",
        "gradcam_demo_route_acmnet.png",
        "gradcam_demo_route_acmnet.pdf",
    ):
        assert (tmp_path / "figures" / "demo" / fig).stat().st_size > 1000
    method_dir = exp / "demo_route" / "acmnet"
    for name in ("checkpoint.pt", "train_log.csv", "descriptors.npz", "retrieval.npz"):
        assert (method_dir / name).is_file()
    assert len(pd.read_csv(method_dir / "train_log.csv")) == 2
    assert (tmp_path / "logs" / "demo" / "train" / "demo_route_acmnet.log").is_file()

    # Rerunning one rule reuses everything upstream of it.
    plan = _snakemake(["-n", "--cores", "2", "--configfile", str(config), "--forcerun", "score"], cwd=tmp_path).stdout
    stats = plan[plan.index("Job stats") :]
    for rule in ("train", "describe", "cache", "prepare", "retrieve"):
        assert f"\n{rule} " not in stats, f"{rule} would rerun:\n{stats}"
    assert "\nscore " in stats and "\nreport " in stats
    before = (method_dir / "checkpoint.pt").stat().st_mtime_ns
    _snakemake(["--cores", "2", "--configfile", str(config), "--forcerun", "score"], cwd=tmp_path)
    assert (method_dir / "checkpoint.pt").stat().st_mtime_ns == before
    nothing = _snakemake(["-n", "--cores", "2", "--configfile", str(config)], cwd=tmp_path).stdout
    assert "Nothing to be done" in nothing
    _snakemake(["--report", str(tmp_path / "report.html"), "--configfile", str(config)], cwd=tmp_path)
    assert (tmp_path / "report.html").stat().st_size > 10_000


def test_mistyped_config_key_stops_the_workflow_naming_it(tmp_path):
    cfg = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    cfg["train"]["epohcs"] = 3
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    result = _snakemake(["-n", "--cores", "1", "--configfile", str(path)], cwd=tmp_path, check=False)
    assert result.returncode != 0
    assert "train.epohcs" in result.stdout + result.stderr and "epochs" in result.stdout + result.stderr


def test_slurm_profile_plans_training_on_a_gpu(tmp_path):
    pytest.importorskip("snakemake_executor_plugin_slurm", reason="the Slurm executor plugin is not installed")
    out = _snakemake(["-n", "--workflow-profile", str(REPO / "workflow" / "profiles" / "slurm")], cwd=tmp_path).stdout
    train_jobs = [block for block in out.split("\n\n") if "rule train:" in block]
    assert train_jobs, out[-2000:]
    for block in train_jobs:
        assert "gpu=1" in block and "mem_mb=32000" in block and "runtime=4320" in block
