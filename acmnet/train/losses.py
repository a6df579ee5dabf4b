"""Losses of ACM-Net (paper section 3.4), as pure functions.

Contrastive loss L_C over N positive pairs (z0[i], z1[i]) with cosine similarities s / tau:
- `nt_xent`: SimCLR's NT-Xent (Chen et al. 2020): for each of the 2N views, cross-entropy of its
  positive against all 2N - 1 other views (positive included in the denominator).
- `eq10`: eq. 10 as printed: the denominator sums over the views of the other places only
  (k != i), which drops the positive pair ("decoupled" contrastive loss, Yeh et al. 2022).
Both average over the 2N anchors (eq. 9). At tau = 0.01 the logits reach 100, so everything is
computed in float32 as log-sum-exp over logits, never with `exp` directly, also inside an autocast
region (mixed precision is switched off for the similarity matmul: in bf16 it would be off by up to
about 0.5 in the logits at tau = 0.01).

Rotation loss L_P (eq. 11): cross-entropy over the 4 rotation classes, mean (default) or sum.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
import torch.nn.functional as F


def full_precision(loss: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    """Run `loss` with autocast switched off, on float32 copies of its tensor arguments."""

    @functools.wraps(loss)
    def wrapped(*args, **kwargs):
        device = next(a.device.type for a in args if isinstance(a, torch.Tensor))
        args = [a.float() if isinstance(a, torch.Tensor) and a.is_floating_point() else a for a in args]
        with torch.autocast(device_type=device, enabled=False):
            return loss(*args, **kwargs)

    return wrapped


def gather_views(z0: torch.Tensor, z1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
    """All ranks' views, concatenated in rank order, with gradients flowing back to each rank.

    z0, z1: (N, D) on this rank -> (N * W, D), (N * W, D) and this rank's row offset. Without an
    initialised process group (one process) the views come back unchanged with offset 0.
    """
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return z0, z1, 0
    from torch.distributed.nn.functional import all_gather

    rank = torch.distributed.get_rank()
    return torch.cat(all_gather(z0)), torch.cat(all_gather(z1)), rank * len(z0)


def _logits_and_targets(
    z0: torch.Tensor, z1: torch.Tensor, tau: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Logits of this rank's 2N anchors [z0; z1] against every view of the (global) batch.

    Returns float32 logits (2N, 2M) with each anchor's own position set to -inf, the column of
    each anchor's positive (i <-> i + M), and the rows, where M = N * world size. The candidate
    order is [z0 of all ranks; z1 of all ranks], the same as one process on the whole batch.
    """
    all0, all1, offset = gather_views(z0, z1)
    n, m = len(z0), len(all0)
    anchors = F.normalize(torch.cat([z0, z1]).float(), dim=-1)
    candidates = F.normalize(torch.cat([all0, all1]).float(), dim=-1)
    logits = anchors @ candidates.T / tau
    local = torch.arange(n, device=logits.device) + offset
    own = torch.cat([local, local + m])
    positive = torch.cat([local + m, local])
    rows = torch.arange(2 * n, device=logits.device)
    logits = logits.index_put((rows, own), torch.tensor(float("-inf"), device=logits.device))
    return logits, positive, rows


@full_precision
def nt_xent(z0: torch.Tensor, z1: torch.Tensor, tau: float) -> torch.Tensor:
    """SimCLR NT-Xent. z0, z1: (N, D) projections of the two views (any norm). Scalar, float32.

    Under torch.distributed the negatives come from every rank; the mean over this rank's anchors,
    averaged over ranks (as DDP averages gradients), equals the loss of one process on the
    concatenated batch, gradients included.
    """
    logits, positive, _ = _logits_and_targets(z0, z1, tau)
    return F.cross_entropy(logits, positive)


@full_precision
def eq10(z0: torch.Tensor, z1: torch.Tensor, tau: float) -> torch.Tensor:
    """Eq. 10 as printed: positive over the 2M - 2 views of other places. Scalar, float32."""
    logits, positive, rows = _logits_and_targets(z0, z1, tau)
    pos_logit = logits[rows, positive]
    negatives = logits.index_put((rows, positive), torch.tensor(float("-inf"), device=logits.device))
    return (torch.logsumexp(negatives, dim=1) - pos_logit).mean()


CONTRASTIVE_LOSSES = {"ntxent": nt_xent, "eq10": eq10}


def contrastive_loss(name: str, z0: torch.Tensor, z1: torch.Tensor, tau: float) -> torch.Tensor:
    return CONTRASTIVE_LOSSES[name](z0, z1, tau)


@full_precision
def rotation_loss(logits: torch.Tensor, labels: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy of rotation logits (M, 4) against labels (M,) in {0, 1, 2, 3}; float32.

    `mean` over this rank's views: DDP's average over ranks is the mean over the global batch.
    `sum` (eq. 11 literally): under torch.distributed each rank's sum is scaled by the world size,
    so DDP's average over ranks (of the losses and of their gradients) is the sum over the global
    batch, as one process on the whole batch computes it; unscaled, lambda would shrink by 1/W.
    """
    loss = F.cross_entropy(logits.float(), labels, reduction=reduction)
    if reduction == "sum" and torch.distributed.is_available() and torch.distributed.is_initialized():
        loss = loss * torch.distributed.get_world_size()
    return loss


@full_precision
def positive_alignment(z0: torch.Tensor, z1: torch.Tensor) -> torch.Tensor:
    """Mean cosine similarity of the positive pairs (a training diagnostic), float32 scalar."""
    return F.cosine_similarity(z0.float(), z1.float(), dim=-1).mean()
