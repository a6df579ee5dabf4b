"""NT-Xent and eq. 10 across processes: negatives gathered from every rank (gloo, 2 CPU processes)."""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist

from acmnet.train.losses import eq10, nt_xent
from tests.conftest import leave_group, rank_environment, spawn_ranks

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
