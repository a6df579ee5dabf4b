"""Several processes per training job from the workflow (workflow/rules/train.smk): the train rule
starts them with torchrun, and its model is the one the hand-started `torchrun` path trains."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from acmnet.artifacts import load_checkpoint
from tests.conftest import REPO

pytestmark = pytest.mark.e2e  # Snakemake runs and torchrun

SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile")]


def _env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}


def _run(command: list[str], cwd: Path) -> str:
    result = subprocess.run(command, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, f"{' '.join(command)}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout + result.stderr


def _config(tmp_path: Path, **resources) -> Path:
    cfg = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    cfg["image_size"] = [32, 32]
    cfg["train"].update(epochs=1, batch_size=8, processes=2)
    cfg["evaluate"].update(top_k=10)
    cfg["resources"].update(resources)
    cfg["datasets"]["demo_route"].update(
        root=str(tmp_path / "route"), places=24, render_size=[32, 48], query_conditions=["winter"]
    )
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(cfg))
    return tmp_path / "tiny.yaml"


def test_the_train_rule_starts_one_process_per_gpu(tmp_path):
    config = _config(tmp_path, train_gpu=4)
    plan = _run(
        [*SNAKEMAKE, "-n", "-p", "--cores", "8", "--configfile", str(config), "--config", "train={processes: 1}"],
        tmp_path,
    )
    assert "torchrun --standalone --nnodes 1 --nproc-per-node 4 -m acmnet.cli train" in plan
    refused = subprocess.run(
        [*SNAKEMAKE, "-n", "--cores", "1", "--configfile", str(config), "--config", "train={processes: 3}"],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
    )
    assert refused.returncode != 0
    assert "train.processes is 3 for acmnet but resources.train_gpu is 4" in refused.stdout + refused.stderr


def test_two_cpu_processes_from_the_workflow_train_the_hand_started_torchrun_model(tmp_path):
    config = _config(tmp_path)
    exp = tmp_path / "results" / "demo" / "demo_route"
    target = "results/demo/demo_route/acmnet/checkpoint.pt"  # before --configfile, which takes every word after
    out = _run([*SNAKEMAKE, target, "-p", "--cores", "2", "--configfile", str(config)], tmp_path)
    shares = " ".join(f"{v}=1" for v in ("OMP_NUM_THREADS", "GOTO_NUM_THREADS", "OPENBLAS_NUM_THREADS"))
    assert f"{shares} MKL_NUM_THREADS=1" in out  # 2 threads: one each
    assert "torchrun --standalone --nnodes 1 --nproc-per-node 2 -m acmnet.cli train" in out
    info = load_checkpoint(exp / "acmnet" / "checkpoint.pt").info
    assert info["world_size"] == 2 and info["steps"] == 24 // 8  # the global batch of 8: 3 steps in one epoch
    hand = tmp_path / "hand"
    _run(
        ["torchrun", "--standalone", "--nproc-per-node", "2", "-m", "acmnet.cli", "train", "--config", str(config),
         "--method", "acmnet", "--manifest", str(exp / "manifest.csv"), "--cache", str(exp / "cache" / "images.npy"),
         "--out-dir", str(hand), "--runs-dir", str(hand / "runs")],
        tmp_path,
    )  # fmt: skip
    by_hand = load_checkpoint(hand / "checkpoint.pt")
    assert by_hand.info["world_size"] == 2 and by_hand.info["steps"] == info["steps"]
    ours = load_checkpoint(exp / "acmnet" / "checkpoint.pt").model_state
    for key, value in by_hand.model_state.items():
        assert torch.equal(value, ours[key]), key  # the same arithmetic: bit for bit
