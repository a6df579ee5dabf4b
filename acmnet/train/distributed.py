"""Several training processes (torchrun): joining the process group and agreeing across ranks.

Started by `torchrun --nproc-per-node G -m acmnet.cli train ...` (WORLD_SIZE > 1), each rank takes
its slice of every global batch, the encoder is wrapped in DistributedDataParallel, the
contrastive loss gathers negatives from every rank (`acmnet.train.losses`), batch norm uses the
statistics of every rank's slice (`acmnet.train.batchnorm`), each rank draws its own
augmentations, and only rank 0 writes logs and checkpoints, which keep every rank's random state.
With one process every function here is a no-op.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from acmnet.config import Config, ConfigError
from acmnet.device import resolve_device
from acmnet.train.step import TrainingError


@dataclass(frozen=True)
class Group:
    """This process's place: `rank` of `world` processes, training on `device`."""

    rank: int
    world: int
    device: torch.device
    owned: bool = False  # this process group was started by `join` (and is left by `leave`)

    @property
    def main(self) -> bool:
        """Rank 0 writes logs and checkpoints."""
        return self.rank == 0


def processes_for(cfg: Config, method: str) -> int:
    """Processes one training job of `method` starts (the workflow's `torchrun --nproc-per-node`):
    one per GPU when resources.train_gpu is above 1, else train.processes (gloo on the CPU). The
    global batch (train.batch_size) is split evenly between them, so it must divide."""
    gpus, tcfg = cfg.resources.train_gpu, cfg.train_for(method)
    if gpus > 1 and tcfg.processes not in (1, gpus):
        raise ConfigError(
            f"train.processes is {tcfg.processes} for {method} but resources.train_gpu is {gpus}: a job on "
            f"{gpus} GPUs starts one process per GPU; leave train.processes at 1 (or {gpus})"
        )
    processes = gpus if gpus > 1 else tcfg.processes
    if tcfg.batch_size % processes:
        raise ConfigError(
            f"train.batch_size ({tcfg.batch_size}) of {method} must be divisible by the {processes} training "
            "processes (resources.train_gpu or train.processes): each takes an equal slice of every batch"
        )
    return processes


def join(device_name: str) -> Group:
    """This process's group. Under `torchrun` (WORLD_SIZE > 1) this joins the process group:
    NCCL with one GPU per process (LOCAL_RANK) on CUDA, gloo on CPUs."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    device = resolve_device(device_name)
    if world == 1:
        return Group(0, 1, device)
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    owned = not torch.distributed.is_initialized()
    if owned:
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Group(torch.distributed.get_rank(), world, device, owned)


def leave(group: Group, wait: bool = True) -> None:
    """End a process group that `join` started. With `wait`, every rank first waits for the
    others, so none tears down its connections while another still uses them (a rank torn down
    mid-collective aborts the others); after an error there is nobody to wait for."""
    if group.owned and torch.distributed.is_initialized():
        if wait:
            torch.distributed.barrier()
        torch.distributed.destroy_process_group()


def mean_loss_and_stop(loss: torch.Tensor, stop: bool, group: Group) -> tuple[float, bool]:
    """The loss averaged over ranks, and whether any rank was asked to stop, read back to the host
    once (one all-reduce with several processes), so every rank stops together on a non-finite
    loss or a preemption signal."""
    both = torch.cat([loss.detach().float().reshape(1), loss.new_tensor([float(stop)], dtype=torch.float32)])
    if group.world > 1:
        torch.distributed.all_reduce(both)
    value, stops = both.tolist()
    return value / group.world, stops > 0


def gather(obj: object, group: Group) -> list:
    """Every rank's `obj`, in rank order (a one-element list with one process)."""
    if group.world == 1:
        return [obj]
    out: list = [None] * group.world
    torch.distributed.all_gather_object(out, obj)
    return out


def check_replicas_agree(model: torch.nn.Module, group: Group) -> None:
    """After distributed training every rank must hold the same weights; stop if they do not."""
    if group.world == 1:
        return
    checksum = torch.stack([p.detach().double().sum() for p in model.parameters()]).sum().reshape(1)
    low, high = checksum.clone(), checksum.clone()
    torch.distributed.all_reduce(low, op=torch.distributed.ReduceOp.MIN)
    torch.distributed.all_reduce(high, op=torch.distributed.ReduceOp.MAX)
    if not torch.allclose(low, high, rtol=1e-9, atol=1e-9):
        raise TrainingError(f"the ranks ended with different weights (checksums {low.item()} .. {high.item()})")


def barrier(group: Group) -> None:
    if group.world > 1:
        torch.distributed.barrier()
