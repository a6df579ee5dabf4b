"""Losses of ACM-Net (paper section 3.4), as pure functions.

Contrastive loss L_C over N positive pairs (z0[i], z1[i]) with cosine similarities s / tau:
- `nt_xent`: SimCLR's NT-Xent (Chen et al. 2020): for each of the 2N views, cross-entropy of its
  positive against all 2N - 1 other views (positive included in the denominator).
- `eq10`: eq. 10 as printed: the denominator sums over the views of the other places only
  (k != i), which drops the positive pair ("decoupled" contrastive loss, Yeh et al. 2022).
Both average over the 2N anchors (eq. 9). At tau = 0.01 the logits reach 100, so everything is
computed in float32 as log-sum-exp over logits, never with `exp` directly.

Rotation loss L_P (eq. 11): cross-entropy over the 4 rotation classes, mean (default) or sum.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _similarity_logits(z0: torch.Tensor, z1: torch.Tensor, tau: float) -> torch.Tensor:
    """Cosine similarities / tau of the 2N views [z0; z1], float32 (2N, 2N), self-pairs -inf."""
    z = F.normalize(torch.cat([z0, z1]).float(), dim=-1)
    logits = z @ z.T / tau
    eye = torch.eye(len(z), dtype=torch.bool, device=z.device)
    return logits.masked_fill(eye, float("-inf"))


def _positive_index(n: int, device: torch.device) -> torch.Tensor:
    """Index of each view's positive in [z0; z1]: i <-> i + N."""
    idx = torch.arange(n, device=device)
    return torch.cat([idx + n, idx])


def nt_xent(z0: torch.Tensor, z1: torch.Tensor, tau: float) -> torch.Tensor:
    """SimCLR NT-Xent. z0, z1: (N, D) projections of the two views (any norm). Scalar, float32."""
    logits = _similarity_logits(z0, z1, tau)
    return F.cross_entropy(logits, _positive_index(len(z0), logits.device))


def eq10(z0: torch.Tensor, z1: torch.Tensor, tau: float) -> torch.Tensor:
    """Eq. 10 as printed: positive over the 2N - 2 views of other places. Scalar, float32."""
    n = len(z0)
    logits = _similarity_logits(z0, z1, tau)
    pos_idx = _positive_index(n, logits.device)
    rows = torch.arange(2 * n, device=logits.device)
    positive = logits[rows, pos_idx]
    negatives = logits.index_put((rows, pos_idx), torch.tensor(float("-inf"), device=logits.device))
    return (torch.logsumexp(negatives, dim=1) - positive).mean()


CONTRASTIVE_LOSSES = {"ntxent": nt_xent, "eq10": eq10}


def contrastive_loss(name: str, z0: torch.Tensor, z1: torch.Tensor, tau: float) -> torch.Tensor:
    return CONTRASTIVE_LOSSES[name](z0, z1, tau)


def rotation_loss(logits: torch.Tensor, labels: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy of rotation logits (M, 4) against labels (M,) in {0, 1, 2, 3}; float32."""
    return F.cross_entropy(logits.float(), labels, reduction=reduction)


def positive_alignment(z0: torch.Tensor, z1: torch.Tensor) -> torch.Tensor:
    """Mean cosine similarity of the positive pairs (a training diagnostic), float32 scalar."""
    return F.cosine_similarity(z0.float(), z1.float(), dim=-1).mean()
