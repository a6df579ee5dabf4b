"""Batch norm over the global batch when training runs in several processes.

One process on the whole batch normalises each batch-norm layer with the statistics of all its
images; with G processes each layer would see only its rank's slice (1/G of the views, for the
projector only 2N/G). `to_global_batchnorm` makes the chosen layers use the statistics of every
rank's slice, so G processes train like one on the whole batch (`train.sync_batchnorm`).

On CUDA this is PyTorch's `SyncBatchNorm` (timm's conversion, which also keeps the activation
of timm's `BatchNormAct2d`); on CPUs, where `SyncBatchNorm` does not run, the layers switch to
`GlobalBatchNorm`, which all-reduces sums with autograd-aware collectives. Parameter and buffer
names do not change, so checkpoints load into the plain model.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


def _distributed() -> bool:
    return (
        torch.distributed.is_available()
        and torch.distributed.is_initialized()
        and torch.distributed.get_world_size() > 1
    )


def global_batch_norm(bn: _BatchNorm, x: torch.Tensor) -> torch.Tensor:
    """Training-mode batch norm of this rank's `x` (B, C, ...) with the mean and biased variance
    of every rank's batch (two all-reduces), gradients flowing to every rank; updates `bn`'s
    running statistics as one process would (unbiased variance over the global count)."""
    from torch.distributed.nn.functional import all_reduce

    dims = [0, *range(2, x.dim())]
    shape = [1, -1] + [1] * (x.dim() - 2)
    xf = x.float()
    local_count = xf.new_tensor([x.numel() / x.shape[1]])
    sums = all_reduce(torch.cat([xf.sum(dims), local_count]))  # the count travels with the sums
    total = sums[-1].detach()
    mean = sums[:-1] / total
    centred = xf - mean.view(shape)
    var = all_reduce(centred.square().sum(dims)) / total
    if bn.track_running_stats:
        bn.num_batches_tracked.add_(1)
        factor = 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else bn.momentum
        with torch.no_grad():
            bn.running_mean.lerp_(mean.detach().to(bn.running_mean.dtype), factor)
            unbiased = var.detach() * (total / (total - 1.0).clamp(min=1.0))
            bn.running_var.lerp_(unbiased.to(bn.running_var.dtype), factor)
    y = centred * torch.rsqrt(var + bn.eps).view(shape)
    if bn.affine:
        y = y * bn.weight.view(shape) + bn.bias.view(shape)
    return y.to(x.dtype)


class GlobalBatchNorm:
    """Mixin for a batch-norm class: in training mode under torch.distributed, statistics of the
    global batch (`global_batch_norm`); otherwise the class's own forward. For timm's
    `BatchNormAct2d` the layer's dropout and activation follow, as in its own forward."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and _distributed()):
            return super().forward(x)
        y = global_batch_norm(self, x)
        if hasattr(self, "act"):
            y = self.act(self.drop(y))
        return y


_GLOBAL_CLASSES: dict[type, type] = {}


def _global_class(cls: type) -> type:
    if cls not in _GLOBAL_CLASSES:
        _GLOBAL_CLASSES[cls] = type(f"Global{cls.__name__}", (GlobalBatchNorm, cls), {})
    return _GLOBAL_CLASSES[cls]


def to_global_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """`module` with every batch-norm layer normalising over the global batch. Returns the module
    to use in its place (a new one on CUDA, the same one, changed in place, on CPUs)."""
    if device.type == "cuda":
        from timm.layers import convert_sync_batchnorm

        return convert_sync_batchnorm(module)
    for layer in module.modules():
        if isinstance(layer, _BatchNorm) and not isinstance(layer, GlobalBatchNorm):
            layer.__class__ = _global_class(type(layer))
    return module
