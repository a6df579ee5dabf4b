"""Batch norm over the global batch: 2 CPU processes on gloo against one process on the whole batch."""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist

from acmnet.methods.acmnet import build_model
from acmnet.train.batchnorm import GlobalBatchNorm, to_global_batchnorm
from tests.conftest import TINY, leave_group, rank_environment, spawn_ranks

WORLD, N = 2, 3


def _model_and_batch():
    torch.manual_seed(0)
    model = build_model(TINY).train()
    g = torch.Generator().manual_seed(1)
    images = torch.rand(WORLD * N, 3, 32, 32, generator=g)
    weights = torch.randn(WORLD * N, TINY.projector_dim, generator=g)
    return model, images, weights


def _forward(model, images, weights):
    """Projector outputs and a loss that is a sum over images, so per-rank losses add up to it."""
    z = model.projector(model.features(images))
    return z, (z * weights).sum()


def _worker(rank: int, port: int, out: str) -> None:
    rank_environment(rank, port, WORLD)
    dist.init_process_group("gloo")
    torch.set_num_threads(1)
    try:
        result = {}
        for mode in ("global", "per-rank"):
            model, images, weights = _model_and_batch()
            if mode == "global":
                model = to_global_batchnorm(model, torch.device("cpu"))
            mine = slice(rank * N, (rank + 1) * N)
            z, loss = _forward(model, images[mine], weights[mine])
            loss.backward()
            result[mode] = {
                "z": z.detach(),
                "grads": {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None},
                "buffers": {k: b.clone() for k, b in model.named_buffers() if "running" in k},
            }
        torch.save(result, f"{out}.{rank}")
    finally:
        leave_group()


@pytest.mark.e2e
def test_two_ranks_normalise_like_one_process_on_the_whole_batch(tmp_path):
    out = str(tmp_path / "result")
    spawn_ranks(_worker, (out,), WORLD)
    parts = [torch.load(f"{out}.{r}") for r in range(WORLD)]

    model, images, weights = _model_and_batch()
    z, loss = _forward(model, images, weights)
    loss.backward()

    ranks = [p["global"] for p in parts]
    torch.testing.assert_close(torch.cat([r["z"] for r in ranks]), z.detach(), rtol=1e-4, atol=1e-5)
    grads = {name: p.grad for name, p in model.named_parameters() if p.grad is not None}
    scale = max(g.abs().max().item() for g in grads.values())  # float32 sums in another order
    for name, grad in grads.items():  # DDP would average these; the losses add up
        torch.testing.assert_close(
            ranks[0]["grads"][name] + ranks[1]["grads"][name], grad, rtol=1e-4, atol=1e-5 * scale, msg=name
        )
    for name, buffer in model.named_buffers():
        if "running" in name:
            for r in ranks:
                torch.testing.assert_close(r["buffers"][name], buffer, rtol=1e-4, atol=1e-6, msg=name)
    # without it, each rank's statistics are its own and the outputs differ
    per_rank = torch.cat([p["per-rank"]["z"] for p in parts])
    assert not torch.allclose(per_rank, z.detach(), rtol=1e-3, atol=1e-4)


def test_one_process_keeps_plain_batch_norm_and_the_state_dict_keys():
    model, images, weights = _model_and_batch()
    plain_z, _ = _forward(model, images, weights)
    converted, _, _ = _model_and_batch()
    keys = list(converted.state_dict())
    converted = to_global_batchnorm(converted, torch.device("cpu"))
    layers = [m for m in converted.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert layers and all(isinstance(m, GlobalBatchNorm) for m in layers)
    assert list(converted.state_dict()) == keys
    torch.testing.assert_close(_forward(converted, images, weights)[0], plain_z)
    build_model(TINY).load_state_dict(converted.state_dict())
