"""The frozen ImageNet backbone, untrained, as a baseline row (`kind: pretrained`).

The same weights and input convention as ACM-Net's encoder (`acmnet.methods.backbone`), pooled
globally by averaging (`pool: avg`, timm's own pool) or by GeM (`pool: gem`, exponent `gem_p`,
Radenovic et al. 2018; see `acmnet.methods.pooling`), then L2-normalised.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import torch
import torch.nn.functional as F
from torch import nn

from acmnet.config import Config, ModelConfig, bounded
from acmnet.methods.backbone import check_grid_stage, create_encoder, input_normalization
from acmnet.methods.base import MethodKind
from acmnet.methods.pooling import GeM, feature_map, grid_descriptor

if TYPE_CHECKING:
    from acmnet.artifacts import Checkpoint


class PretrainedDescriber(nn.Module):
    """Frozen backbone, pooled and L2-normalised: float [0, 1] (B, 3, H, W) -> float32 (B, D).

    `pool`: `avg` (timm's global average pool, D = `encoder.num_features`), `gem` (GeM with
    exponent `gem_p` over the last map) or `grid` (the map of stage `grid_stage` averaged over a
    `grid_size` grid, D = channels x cells). `encoder` defaults to `create_encoder(model_cfg)`;
    pass one to share an already built backbone.
    """

    def __init__(
        self,
        model_cfg: ModelConfig,
        pool: Literal["avg", "gem", "grid"] = "avg",
        gem_p: float = 3.0,
        eps: float = 1e-6,
        encoder: nn.Module | None = None,
        grid_stage: int = 2,
        grid_size: tuple[int, int] = (8, 8),
    ):
        super().__init__()
        self.encoder = create_encoder(model_cfg) if encoder is None else encoder
        mean, std = input_normalization(self.encoder)
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)
        self.pool_kind, self.grid_stage, self.grid_size = pool, grid_stage, tuple(grid_size)
        self.pool = GeM(p=gem_p, eps=eps) if pool == "gem" else None

    @property
    def dim(self) -> int:
        return int(self.encoder.num_features)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        normalised = (images - self.mean) / self.std
        if self.pool_kind == "grid":
            return grid_descriptor(self.encoder, normalised, self.grid_stage, self.grid_size)
        if self.pool is None:
            return F.normalize(self.encoder(normalised).float(), dim=-1)
        return F.normalize(self.pool(feature_map(self.encoder, normalised)), dim=-1)


@dataclass
class PretrainedOptions:
    """Options of a `kind: pretrained` method."""

    pool: Literal["avg", "gem", "grid"] = "avg"
    gem_p: float = bounded(3.0, above=0.0)  # GeM exponent (pool: gem)
    grid_stage: int = bounded(2, lo=0)  # pool: grid (beyond the paper): this stage's map ...
    grid_size: tuple[int, int] = bounded((8, 8), lo=1)  # ... averaged over (rows, cols) cells


def _build(cfg: Config, name: str, options: PretrainedOptions, checkpoint: Checkpoint | None) -> nn.Module:
    return PretrainedDescriber(
        cfg.model, options.pool, options.gem_p, grid_stage=options.grid_stage, grid_size=options.grid_size
    ).eval()


def _label(cfg: Config, name: str, options: PretrainedOptions) -> str:
    if options.pool == "grid":
        rows, cols = options.grid_size
        return f"{cfg.model.backbone} ImageNet, frozen, stage {options.grid_stage} features on a {rows}x{cols} grid"
    pool = "average" if options.pool == "avg" else f"GeM (p={options.gem_p:g})"
    return f"{cfg.model.backbone} ImageNet, frozen, {pool}-pooled"


def _check(cfg: Config, name: str, options: PretrainedOptions) -> None:
    if options.pool == "grid":
        check_grid_stage(options.grid_stage, cfg.model.backbone, f"methods.{name}.grid_stage")


METHOD = MethodKind(kind="pretrained", options=PretrainedOptions, build=_build, label=_label, check=_check)
