"""NT-Xent and eq. 10 across processes: negatives gathered from every rank (gloo, 2 CPU processes)."""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist

from acmnet.train.losses import eq10, nt_xent, rotation_loss
from tests.conftest import leave_group, rank_environment, spawn_ranks

pytestmark = pytest.mark.e2e  # two spawned processes on gloo

WORLD = 2
N, D, TAU = 3, 8, 0.1


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(WORLD * N, D, generator=g), torch.randn(WORLD * N, D, generator=g)


def _worker(rank: int, port: int, name: str, out: str) -> None:
    rank_environment(rank, port, WORLD)
    dist.init_process_group("gloo")
    try:
        z0, z1 = _batch()
        mine0 = z0[rank * N : (rank + 1) * N].clone().requires_grad_(True)
        mine1 = z1[rank * N : (rank + 1) * N].clone().requires_grad_(True)
        loss = {"ntxent": nt_xent, "eq10": eq10}[name](mine0, mine1, TAU)
        loss.backward()
        torch.save({"loss": loss.detach(), "g0": mine0.grad, "g1": mine1.grad}, f"{out}.{rank}")
    finally:
        leave_group()


@pytest.mark.parametrize("name, loss_fn", [("ntxent", nt_xent), ("eq10", eq10)])
def test_gathered_loss_and_gradients_equal_one_process_on_the_whole_batch(tmp_path, name, loss_fn):
    out = str(tmp_path / "result")
    spawn_ranks(_worker, (name, out), WORLD)
    parts = [torch.load(f"{out}.{r}") for r in range(WORLD)]

    z0, z1 = _batch()
    z0.requires_grad_(True)
    z1.requires_grad_(True)
    whole = loss_fn(z0, z1, TAU)
    whole.backward()

    # DDP averages over ranks: the mean of the per-rank losses and of their gradients.
    torch.testing.assert_close(torch.stack([p["loss"] for p in parts]).mean(), whole.detach())
    for r, p in enumerate(parts):
        torch.testing.assert_close(p["g0"] / WORLD, z0.grad[r * N : (r + 1) * N])
        torch.testing.assert_close(p["g1"] / WORLD, z1.grad[r * N : (r + 1) * N])


def _rotation_batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.randn(WORLD * 4 * N, 4, generator=g), torch.randint(0, 4, (WORLD * 4 * N,), generator=g)


def _rotation_worker(rank: int, port: int, reduction: str, out: str) -> None:
    rank_environment(rank, port, WORLD)
    dist.init_process_group("gloo")
    try:
        logits, labels = _rotation_batch()
        rows = slice(rank * 4 * N, (rank + 1) * 4 * N)
        mine = logits[rows].clone().requires_grad_(True)
        loss = rotation_loss(mine, labels[rows], reduction)
        loss.backward()
        torch.save({"loss": loss.detach(), "grad": mine.grad}, f"{out}.{rank}")
    finally:
        leave_group()


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_rotation_loss_over_ranks_equals_one_process_on_the_whole_batch(tmp_path, reduction):
    """DDP averages the ranks' losses and gradients: with `sum` that average must still be the sum
    over the global batch (lambda unchanged by the number of processes), with `mean` the mean."""
    out = str(tmp_path / "rotation")
    spawn_ranks(_rotation_worker, (reduction, out), WORLD)
    parts = [torch.load(f"{out}.{r}") for r in range(WORLD)]
    logits, labels = _rotation_batch()
    logits.requires_grad_(True)
    whole = rotation_loss(logits, labels, reduction)
    whole.backward()
    torch.testing.assert_close(torch.stack([p["loss"] for p in parts]).mean(), whole.detach())
    for r, p in enumerate(parts):
        torch.testing.assert_close(p["grad"] / WORLD, logits.grad[r * 4 * N : (r + 1) * 4 * N])
