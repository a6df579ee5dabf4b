"""Training health measures, computed on the projector outputs a step already has (no extra pass).

- `collapse_measure`: lightly's `std_of_l2_normalized` (lightly/utils/debug.py: the mean over
  dimensions of the standard deviation, over the batch, of the L2-normalised outputs; Chen and He
  2021, SimSiam) times sqrt(d). 0 when every output is the same vector (collapse); about 1 for
  outputs spread like a zero-mean isotropic Gaussian.
- `alignment` and `uniformity`: Wang and Isola 2020, "Understanding Contrastive Representation
  Learning through Alignment and Uniformity on the Hypersphere", their reference code
  (github.com/SsnL/align_uniform, `align_loss` with alpha = 2, `uniform_loss` with t = 2) on the
  L2-normalised outputs. Alignment: mean ||x - y||^alpha over positive pairs (0 is perfect, 4 the
  most); uniformity: log of the mean of exp(-t ||x_i - x_j||^2) over distinct pairs (lower is more
  uniform, 0 when collapsed).

`collapse_warning` is the log's warning for a flagged epoch; `collapse_markdown` the report's paragraph
on every run whose `train_log.csv` flags an epoch (`collapsed` = 1).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import torch
import torch.nn.functional as F

ALPHA = 2  # Wang and Isola's align_loss default
T = 2  # Wang and Isola's uniform_loss default


def _check_2d(z: torch.Tensor) -> None:
    if z.dim() != 2:
        raise ValueError(f"expected outputs of shape (batch, dimension), got {tuple(z.shape)}")


@torch.no_grad()
def std_of_l2_normalized(z: torch.Tensor) -> torch.Tensor:
    """lightly's measure: z (N, d) -> mean over d of the (unbiased) std over N of normalize(z). Scalar."""
    _check_2d(z)
    return torch.std(F.normalize(z.float(), dim=1), dim=0).mean()


@torch.no_grad()
def collapse_measure(z: torch.Tensor) -> torch.Tensor:
    """`std_of_l2_normalized(z) * sqrt(d)`: 0 at collapse, about 1 when healthy. z (N, d); scalar float32."""
    return std_of_l2_normalized(z) * math.sqrt(z.shape[1])


@torch.no_grad()
def alignment(x: torch.Tensor, y: torch.Tensor, alpha: float = ALPHA) -> torch.Tensor:
    """Wang and Isola's align_loss on normalised positive pairs x[i], y[i] (N, d). Scalar in [0, 2^alpha]."""
    _check_2d(x)
    x, y = F.normalize(x.float(), dim=1), F.normalize(y.float(), dim=1)
    return (x - y).norm(p=2, dim=1).pow(alpha).mean()


@torch.no_grad()
def uniformity(x: torch.Tensor, t: float = T) -> torch.Tensor:
    """Wang and Isola's uniform_loss on normalised x (N, d), N >= 2. Scalar in [-4t, 0]."""
    _check_2d(x)
    if len(x) < 2:
        raise ValueError(f"uniformity needs at least 2 outputs, got {len(x)}")
    x = F.normalize(x.float(), dim=1)
    return torch.pdist(x, p=2).pow(2).mul(-t).exp().mean().log()


def collapse_warning(measure: float, threshold: float, epoch: int, where: str) -> str | None:
    """The warning for an epoch whose mean collapse measure fell below `threshold`, or None."""
    if not measure < threshold:  # NaN (not measured: no contrastive branch) is no warning
        return None
    return (
        f"WARNING: {where}: the outputs may have collapsed at epoch {epoch}: collapse measure (std of the "
        f"L2-normalised projector outputs times sqrt(d); ~1 healthy, 0 collapsed) is {measure:.4f}, below "
        f"train.collapse_threshold = {threshold:g}. Lower train.lr, raise train.tau or check the augmentations"
    )


def collapse_markdown(train_logs: list[Path]) -> str:
    """A warning paragraph naming each train log with flagged epochs (first, last, lowest measure), or ''."""
    lines = []
    for path in train_logs:
        with open(path, newline="") as fh:
            flagged = [row for row in csv.DictReader(fh) if row.get("collapsed") == "1"]
        if flagged:
            low = min(flagged, key=lambda r: float(r["collapse_std"]))
            lines.append(
                f"- {path}: {len(flagged)} epoch(s) flagged, {flagged[0]['epoch']} to {flagged[-1]['epoch']}; lowest "
                f"collapse measure {float(low['collapse_std']):.4f} at epoch {low['epoch']}"
            )
    if not lines:
        return ""
    return (
        "**Warning: training may have collapsed** (the std of the L2-normalised projector outputs times sqrt(d) fell "
        "below train.collapse_threshold; ~1 is healthy, 0 is one output for every image): the rows of these runs "
        "may measure a collapsed model.\n" + "\n".join(lines)
    )
