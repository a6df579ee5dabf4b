"""`acmnet prune`: run folders that no current method uses are deleted, and nothing else."""

import fcntl
import os

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

import acmnet.train.loop as loop
from acmnet.artifacts import load_checkpoint
from acmnet.cli import main
from acmnet.config_loader import config_from_dict
from acmnet.train import train
from acmnet.train.prune import plan_prune, prune
from tests.conftest import write_cache, write_manifest


def _config(tmp_path, lr=0.001):
    return config_from_dict(
        {
            "image_size": [24, 24],
            "device": "cpu",
            "results_dir": str(tmp_path / "results"),
            "model": {
                "backbone": "test_efficientnet",
                "pretrained": False,
                "projector_hidden": 16,
                "projector_dim": 8,
                "rotation_hidden": 8,
            },
            "train": {"epochs": 1, "batch_size": 4, "lr": lr, "log_every": 0, "channels_last": "off"},
            "datasets": {
                "d": {"type": "folder_pair", "root": str(tmp_path / "images"), "reference": "x", "query": ["y"]}
            },
            "methods": {"acmnet": {"kind": "acmnet"}, "avg": {"kind": "pretrained"}},
        }
    )


def _prepare(tmp_path):
    """The manifest and cache of dataset `d` where the Snakefile puts them."""
    root, exp = tmp_path / "images", tmp_path / "results" / "paper" / "d"
    root.mkdir()
    rng = np.random.default_rng(0)
    for i in range(8):
        Image.fromarray(rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)).save(root / f"{i}.png")
    names = [f"{i}.png" for i in range(8)]
    frame = pd.DataFrame(
        {
            "image": names * 3,
            "role": ["train"] * 8 + ["reference"] * 8 + ["query"] * 8,
            "place": list(range(8)) * 3,
            "condition": ["a"] * 16 + ["b"] * 8,
        }
    )
    manifest = write_manifest(frame, exp / "manifest.csv")
    write_cache(manifest, root, exp / "cache" / "images.npy", (24, 24))
    return exp


def _train(cfg, exp):
    torch.use_deterministic_algorithms(True)
    try:
        path = train(
            cfg,
            "acmnet",
            exp / "manifest.csv",
            exp / "cache" / "images.npy",
            exp / "acmnet",
            runs_dir=exp / "runs",
            progress=False,
        )
    finally:
        torch.use_deterministic_algorithms(False)
    return load_checkpoint(path).info["training_digest"]


def _verdicts(cfg):
    return {run.path.name: run.keep for run in plan_prune(cfg)}


def test_prune_keeps_the_current_and_the_published_run_and_deletes_the_others(tmp_path, monkeypatch, capsys):
    exp = _prepare(tmp_path)
    old_cfg, cfg = _config(tmp_path, lr=0.001), _config(tmp_path, lr=0.01)
    old = _train(old_cfg, exp)
    current = _train(cfg, exp)  # published now
    assert old != current
    stale = exp.parent / "gone" / "runs" / "0123456789abcdef"  # a dataset no longer configured
    stale.mkdir(parents=True)
    (stale / "last.pt").write_bytes(b"x" * 1000)
    half = exp / "runs" / "fedcba9876543210"  # a run of other settings, stopped half-way
    half.mkdir()
    (half / "last.pt").write_bytes(b"x" * 2000)

    # the config with the old settings: its current run is the old one, the published one is kept too
    assert _verdicts(old_cfg) == {old: True, current: True, half.name: False, stale.name: False}
    # dry by default: it lists, with sizes and why, and deletes nothing
    assert main(["prune", "--config", _config_file(cfg, tmp_path / "c.yaml")]) == 0
    out = capsys.readouterr().out
    assert f"keep    {exp / 'runs' / current}" in out and "acmnet: current settings and images" in out
    assert f"delete  {exp / 'runs' / old}" in out and "no current method uses it" in out
    assert f"delete  {stale}" in out and "its dataset is not in the config" in out
    assert "would delete 3 run folder(s)" in out and "--yes" in out
    assert (exp / "runs" / old).is_dir() and stale.is_dir() and half.is_dir()

    assert main(["prune", "--config", str(tmp_path / "c.yaml"), "--yes"]) == 0
    assert "deleted 3 run folder(s)" in capsys.readouterr().out
    assert sorted(p.name for p in (exp / "runs").iterdir()) == [current]
    assert not stale.exists() and (exp / "manifest.csv").is_file() and (exp / "cache" / "images.npy").is_file()
    assert (exp / "acmnet" / "checkpoint.pt").is_file() and (exp.parent / "gone").is_dir()  # only run folders go
    # the model is not lost: the next job publishes it again without training
    monkeypatch.setattr(loop, "step_losses", lambda *a, **k: pytest.fail("trained again"))
    (exp / "acmnet" / "checkpoint.pt").unlink()  # as Snakemake does before a forced train job
    assert _train(cfg, exp) == current


def test_prune_deletes_nothing_it_cannot_judge_or_that_a_training_holds(tmp_path):
    exp = _prepare(tmp_path)
    cfg = _config(tmp_path)
    current = _train(cfg, exp)
    other = exp / "runs" / "fedcba9876543210"
    other.mkdir()
    (other / ".lock").write_text("")
    fd = os.open(other / ".lock", os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # a training process of other settings holds its run
        runs = {run.path.name: run for run in plan_prune(cfg)}
        assert runs[other.name].keep and runs[other.name].why == ["a training process holds it now"]
        assert "deleted 0 run folder(s)" in prune(cfg, delete=True) and other.is_dir()
    finally:
        os.close(fd)
    assert _verdicts(cfg) == {current: True, other.name: False}
    (exp / "cache" / "images.json").unlink()  # the current run cannot be computed: keep everything there
    runs = {run.path.name: run for run in plan_prune(cfg)}
    assert (
        runs[other.name].keep and "cannot be computed without d's manifest and image cache" in runs[other.name].why[0]
    )
    assert "nothing to delete" in prune(cfg) and other.is_dir()


def _config_file(cfg, path):
    from acmnet.config import save_config

    save_config(cfg, path)
    return str(path)
