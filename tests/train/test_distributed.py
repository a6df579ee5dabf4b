"""Training under DistributedDataParallel: 2 CPU processes on gloo, as torchrun would start them."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from acmnet.artifacts import load_checkpoint
from tests.conftest import rank_environment, spawn_ranks
from tests.train.test_loop import _run_dir, _setup

pytestmark = pytest.mark.e2e  # two spawned training processes


def _worker(rank: int, port: int, cfg, root: str, out: str = "ddp", dies_at: int = 0) -> None:
    """One rank of a 2-process run into `root/out`; with `dies_at`, both ranks stop (as if killed)
    when their `dies_at`-th step begins."""
    from pathlib import Path

    import acmnet.train.loop as train_module
    from acmnet.train import train

    rank_environment(rank, port)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    if dies_at:
        real_step, calls = train_module.step_losses, {"n": 0}

        def dies(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == dies_at:
                raise KeyboardInterrupt
            return real_step(*args, **kwargs)

        train_module.step_losses = dies
    try:
        train(cfg, "acmnet", Path(root) / "manifest.csv", Path(root) / "cache.npy", Path(root) / out, progress=False)
    except KeyboardInterrupt:
        if not dies_at:
            raise
    assert not torch.distributed.is_initialized()  # train leaves the process group it joined


def _spawn(cfg, root, out: str, dies_at: int = 0) -> None:
    spawn_ranks(_worker, (cfg, str(root), out, dies_at))


def test_two_processes_train_one_model(tmp_path):
    cfg = _setup(tmp_path)
    cfg.train.log_every = 1
    # raises if a worker fails, e.g. when the ranks end with different weights (checked in train)
    _spawn(cfg, tmp_path, "ddp")
    info = load_checkpoint(tmp_path / "ddp" / "checkpoint.pt").info
    assert info["world_size"] == 2 and info["steps"] == 6  # 12 images, global batch 4: 3 steps x 2 epochs
    log = pd.read_csv(tmp_path / "ddp" / "train_log.csv")
    assert log["epoch"].tolist() == [1, 2]
    steps = pd.read_csv(tmp_path / "ddp" / "train_steps.csv")
    assert steps["step"].tolist() == list(range(1, 7))
    assert ((steps["rotation_accuracy"] >= 0) & (steps["rotation_accuracy"] <= 1)).all()


def test_two_processes_resume_to_the_same_weights(tmp_path):
    """Killed inside the second epoch, the 2-process rerun ends with the same weights as an
    uninterrupted one: each rank gets back its own random state (its augmentations differ)."""
    cfg = _setup(tmp_path)
    cfg.train.checkpoint_every_steps = 1
    _spawn(cfg, tmp_path, "straight")
    _spawn(cfg, tmp_path, "resumed", dies_at=5)
    state = torch.load(_run_dir(tmp_path / "resumed") / "last.pt", weights_only=False)
    assert (state["progress"]["epoch"], state["progress"]["batch"]) == (1, 1) and len(state["rng"]) == 2
    assert not torch.equal(state["rng"][0]["torch"], state["rng"][1]["torch"])
    _spawn(cfg, tmp_path, "resumed")
    straight = load_checkpoint(tmp_path / "straight" / "checkpoint.pt").model_state
    resumed = load_checkpoint(tmp_path / "resumed" / "checkpoint.pt").model_state
    for key, value in straight.items():
        torch.testing.assert_close(resumed[key], value, msg=key)
