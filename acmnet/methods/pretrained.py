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
from acmnet.methods.backbone import create_encoder, input_normalization
from acmnet.methods.base import MethodKind
from acmnet.methods.pooling import GeM, feature_map

if TYPE_CHECKING:
    from acmnet.artifacts import Checkpoint


class PretrainedDescriber(nn.Module):
    """Frozen backbone, pooled and L2-normalised: float [0, 1] (B, 3, H, W) -> float32 (B, D).

    `encoder` defaults to `create_encoder(model_cfg)`; pass one to share an already built backbone.
    D = `encoder.num_features`.
    """

    def __init__(
        self,
        model_cfg: ModelConfig,
        pool: Literal["avg", "gem"] = "avg",
        gem_p: float = 3.0,
        eps: float = 1e-6,
        encoder: nn.Module | None = None,
    ):
        super().__init__()
        self.encoder = create_encoder(model_cfg) if encoder is None else encoder
        mean, std = input_normalization(self.encoder)
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)
        self.pool = GeM(p=gem_p, eps=eps) if pool == "gem" else None

    @property
    def dim(self) -> int:
        return int(self.encoder.num_features)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        normalised = (images - self.mean) / self.std
        if self.pool is None:
            return F.normalize(self.encoder(normalised).float(), dim=-1)
        return F.normalize(self.pool(feature_map(self.encoder, normalised)), dim=-1)


@dataclass
class PretrainedOptions:
    """Options of a `kind: pretrained` method."""

    pool: Literal["avg", "gem"] = "avg"
    gem_p: float = bounded(3.0, above=0.0)  # GeM exponent (pool: gem)


def _build(cfg: Config, name: str, options: PretrainedOptions, checkpoint: Checkpoint | None) -> nn.Module:
    return PretrainedDescriber(cfg.model, options.pool, options.gem_p).eval()


def _label(cfg: Config, name: str, options: PretrainedOptions) -> str:
    pool = "average" if options.pool == "avg" else f"GeM (p={options.gem_p:g})"
    return f"{cfg.model.backbone} ImageNet, frozen, {pool}-pooled"


METHOD = MethodKind(kind="pretrained", options=PretrainedOptions, build=_build, label=_label)
