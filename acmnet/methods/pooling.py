"""Pooling of backbone feature maps: generalised mean (GeM; Radenović, Tolias and Chum, TPAMI 2018) and grids.

GeM over the spatial positions of a feature map ``x`` (B, C, H, W), per channel::

    f_c = ( mean_{h,w} max(x_chw, eps) ** p ) ** (1 / p)

``p = 1`` is average pooling, ``p -> inf`` tends to max pooling; the paper's off-the-shelf value
is ``p = 3`` (learnable when fine-tuned). The frozen-backbone method (`acmnet.methods.pretrained`,
``pool: gem``) pools the backbone's last feature map (``feature_map``) with it.

Grid pooling (``grid_pool``, beyond the paper): the feature map of one stage of the backbone
(``stage_map``) averaged over a small grid of cells and flattened, so the descriptor keeps the
image layout; a descriptor source for every backbone method (``descriptor: grid`` / ``pool: grid``).
"""

from __future__ import annotations

import torch
from torch import nn


def gem(x: torch.Tensor, p: float | torch.Tensor = 3.0, eps: float = 1e-6) -> torch.Tensor:
    """GeM over the last two axes: (B, C, H, W) -> (B, C), computed in float32 (also under autocast).

    Inputs are clamped at ``eps`` first (GeM is defined for non-negative activations, and the
    clamp keeps the gradient of ``x ** (1/p)`` finite at zero).
    """
    if x.ndim != 4:
        raise ValueError(f"gem expects a (B, C, H, W) feature map, got shape {tuple(x.shape)}")
    x = x.float().clamp(min=eps)
    p = p.float() if isinstance(p, torch.Tensor) else float(p)
    return x.pow(p).mean(dim=(-2, -1)).pow(1.0 / p)


class GeM(nn.Module):
    """GeM pooling as a module: (B, C, H, W) -> (B, C). ``p`` is a parameter when ``learn_p``."""

    def __init__(self, p: float = 3.0, eps: float = 1e-6, learn_p: bool = False):
        super().__init__()
        if p <= 0:
            raise ValueError(f"GeM needs p > 0, got {p}")
        self.eps = eps
        if learn_p:
            self.p = nn.Parameter(torch.tensor(float(p)))
        else:
            self.register_buffer("p", torch.tensor(float(p)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return gem(x, self.p, self.eps)

    def extra_repr(self) -> str:
        return f"p={float(self.p):.4g}, eps={self.eps}, learn_p={isinstance(self.p, nn.Parameter)}"


def feature_map(encoder: nn.Module, normalised: torch.Tensor) -> torch.Tensor:
    """The unpooled last feature map of a timm backbone, as (B, C, H, W)."""
    x = encoder.forward_features(normalised)
    if x.ndim != 4:
        raise ValueError(
            f"{type(encoder).__name__}.forward_features returned shape {tuple(x.shape)}, not a (B, C, H, W) map: "
            "GeM pooling needs a convolutional backbone"
        )
    if getattr(encoder, "output_fmt", "NCHW") == "NHWC":  # a few timm models (e.g. swin) emit channels last
        x = x.permute(0, 3, 1, 2)
    return x


def stage_map(encoder: nn.Module, normalised: torch.Tensor, stage: int) -> torch.Tensor:
    """The feature map of the backbone's stage `stage` (an index into `encoder.feature_info`:
    0 is stride 2, ..., the last the final stage), as (B, C, H, W); later stages are not run."""
    stages = len(encoder.feature_info)
    if not 0 <= stage < stages:
        raise ValueError(f"{type(encoder).__name__} has feature stages 0..{stages - 1}, not {stage}")
    (x,) = encoder.forward_intermediates(normalised, indices=[stage], intermediates_only=True, stop_early=True)
    return x


def grid_pool(x: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """A feature map (B, C, H, W) averaged over a `grid` = (rows, cols) of cells and flattened:
    (B, C * rows * cols), float32. Unlike a global pool it keeps where in the image a feature is."""
    return torch.nn.functional.adaptive_avg_pool2d(x.float(), grid).flatten(1)


def grid_descriptor(encoder: nn.Module, normalised: torch.Tensor, stage: int, grid: tuple[int, int]) -> torch.Tensor:
    """The `grid` descriptor: stage `stage`'s map (`stage_map`) grid-pooled (`grid_pool`) and
    L2-normalised, float32 (B, C * rows * cols)."""
    return torch.nn.functional.normalize(grid_pool(stage_map(encoder, normalised, stage), grid), dim=-1)
