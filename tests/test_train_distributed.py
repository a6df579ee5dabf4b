"""Training under DistributedDataParallel: 2 CPU processes on gloo, as torchrun would start them."""

from __future__ import annotations

import os

import pandas as pd
import torch
import torch.multiprocessing as mp

from tests.conftest import free_port
from tests.test_train import _setup


def _worker(rank: int, port: int, cfg, root: str) -> None:
    from pathlib import Path

    from acmnet.train import train

    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    try:
        train(cfg, "acmnet", Path(root) / "manifest.csv", Path(root) / "cache.npy", Path(root) / "ddp", progress=False)
    finally:
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def test_two_processes_train_one_model(tmp_path):
    cfg = _setup(tmp_path)
    cfg.train.log_every = 1
    # raises if a worker fails, e.g. when the ranks end with different weights (checked in train)
    mp.start_processes(_worker, args=(free_port(), cfg, str(tmp_path)), nprocs=2, start_method="spawn")
    state = torch.load(tmp_path / "ddp" / "checkpoint.pt", weights_only=False)
    assert state["world_size"] == 2 and state["steps"] == 6  # 12 images, global batch 4: 3 steps x 2 epochs
    log = pd.read_csv(tmp_path / "ddp" / "train_log.csv")
    assert log["epoch"].tolist() == [1, 2]
    steps = pd.read_csv(tmp_path / "ddp" / "train_steps.csv")
    assert steps["step"].tolist() == list(range(1, 7))
    assert ((steps["rotation_accuracy"] >= 0) & (steps["rotation_accuracy"] <= 1)).all()
