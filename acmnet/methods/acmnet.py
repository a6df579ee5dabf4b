"""ACM-Net (paper section 3.3): encoder E, appearance projector P_A and rotation head P_G.

The method kind `acmnet` is trained here (`acmnet train`); its descriptor is
normalize(P_A(E(x))) as in the paper (`descriptor: projector`), or the pooled encoder output
normalize(E(x)) (`descriptor: encoder`), a row of its own for the same model. Its `train:`
option overrides the top-level `train` section for ablations (e.g. `{rotation_weight: 0.0}`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from acmnet.config import Config, ConfigError, ModelConfig, bounded, closest_hint
from acmnet.methods.backbone import check_grid_stage, create_encoder, input_normalization
from acmnet.methods.base import MethodKind
from acmnet.methods.pooling import grid_descriptor

if TYPE_CHECKING:
    from acmnet.artifacts import Checkpoint


def projector(width: int, cfg: ModelConfig) -> nn.Sequential:
    """P_A, "a 1-layer perceptron with batch norm and ReLU" to `projector_dim` (paper section 3.3).

    `projector_layers: 2` (our reading, config/README.md): Linear(width, hidden) -> BN -> ReLU -> Linear(hidden, dim);
    `projector_layers: 1` (the literal reading): Linear(width, dim) -> BN -> ReLU.
    """
    if cfg.projector_layers == 1:
        dim = cfg.projector_dim
        return nn.Sequential(nn.Linear(width, dim), nn.BatchNorm1d(dim), nn.ReLU(inplace=True))
    return nn.Sequential(
        nn.Linear(width, cfg.projector_hidden),
        nn.BatchNorm1d(cfg.projector_hidden),
        nn.ReLU(inplace=True),
        nn.Linear(cfg.projector_hidden, cfg.projector_dim),
    )


def rotation_head(width: int, cfg: ModelConfig) -> nn.Sequential:
    """P_G, "a 1-layer perceptron with layer normalization and ReLU" to 4 rotation logits (section 3.3).

    `rotation_layers: 2` (our reading, config/README.md): Linear(width, hidden) -> LN -> ReLU -> Linear(hidden, 4);
    `rotation_layers: 1` (the literal reading): Linear(width, 4) -> LN -> ReLU, whose logits are
    then non-negative.
    """
    if cfg.rotation_layers == 1:
        return nn.Sequential(nn.Linear(width, 4), nn.LayerNorm(4), nn.ReLU(inplace=True))
    return nn.Sequential(
        nn.Linear(width, cfg.rotation_hidden),
        nn.LayerNorm(cfg.rotation_hidden),
        nn.ReLU(inplace=True),
        nn.Linear(cfg.rotation_hidden, 4),
    )


class AcmNet(nn.Module):
    """Shared encoder with the appearance projector P_A and the rotation classifier P_G."""

    def __init__(self, encoder: nn.Module, cfg: ModelConfig):
        super().__init__()
        self.encoder = encoder
        width = encoder.num_features
        mean, std = input_normalization(encoder)
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)
        self.projector = projector(width, cfg)
        self.rotation_head = rotation_head(width, cfg)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """E(x): images in [0, 1], (B, 3, H, W) -> pooled features (B, D)."""
        return self.encoder((images - self.mean) / self.std)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """The encoder pass (what DistributedDataParallel wraps); the heads are applied after it."""
        return self.features(images)

    def descriptors(self, images: torch.Tensor) -> torch.Tensor:
        """Test-time descriptor normalize(P_A(E(x))): (B, 3, H, W) -> (B, projector_dim), unit norm."""
        return F.normalize(self.projector(self.features(images)).float(), dim=-1)


def build_model(cfg: ModelConfig) -> AcmNet:
    return AcmNet(create_encoder(cfg), cfg)


class AcmNetDescriber(nn.Module):
    """A trained AcmNet as a describer: normalize(P_A(E(x))) (`projector`, the paper's),
    normalize(E(x)) (`encoder`) or the grid-pooled map of one encoder stage (`grid`)."""

    def __init__(self, model: AcmNet, options: AcmNetOptions):
        super().__init__()
        self.model, self.options = model, options
        self.encoder = model.encoder

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.options.descriptor == "projector":
            return self.model.descriptors(images)
        if self.options.descriptor == "encoder":
            return F.normalize(self.model.features(images).float(), dim=-1)
        normalised = (images - self.model.mean) / self.model.std
        return grid_descriptor(self.encoder, normalised, self.options.grid_stage, self.options.grid_size)


@dataclass
class AcmNetOptions:
    """Options of a `kind: acmnet` method."""

    train: dict[str, Any] = field(default_factory=dict)  # overrides of the top-level `train` section
    model: dict[str, Any] = field(default_factory=dict)  # overrides of the top-level `model` section
    # The dataset whose `train` images train the model (its checkpoint then describes every dataset:
    # places it never saw, other routes); None: each dataset trains its own model.
    train_on: str | None = None
    # The paper's normalize(P_A(E(x))); E(x) itself; or (beyond the paper) the map of encoder stage
    # `grid_stage` averaged over a grid of `grid_size` cells (rows, cols), which keeps the image layout.
    descriptor: Literal["projector", "encoder", "grid"] = "projector"
    grid_stage: int = bounded(2, lo=0)
    grid_size: tuple[int, int] = bounded((8, 8), lo=1)


def load_model(checkpoint: Checkpoint) -> AcmNet:
    """The AcmNet of a checkpoint written by `acmnet train` (no weight download), eval mode, CPU."""
    model_cfg = ModelConfig(**{**checkpoint.model_config, "pretrained": False, "weights": None})
    model = build_model(model_cfg)
    model.load_state_dict(checkpoint.model_state)
    return model.eval()


def _build(cfg: Config, name: str, options: AcmNetOptions, checkpoint: Checkpoint | None) -> nn.Module:
    if checkpoint is None:
        raise ConfigError(f"method `{name}` is trained: give its checkpoint (acmnet describe --checkpoint)")
    return AcmNetDescriber(load_model(checkpoint), options).eval()


def _label(cfg: Config, name: str, options: AcmNetOptions) -> str:
    if options.descriptor == "grid":
        rows, cols = options.grid_size
        return f"ACM-Net, stage {options.grid_stage} features on a {rows}x{cols} grid"
    return "ACM-Net" if options.descriptor == "projector" else "ACM-Net encoder E(x)"


def _check(cfg: Config, name: str, options: AcmNetOptions) -> None:
    tcfg = cfg.train_for(name)  # validates the overrides now, not at training time
    cfg.model_for(name)
    if options.train_on is not None and options.train_on not in cfg.datasets:
        raise ConfigError(
            f"methods.{name}.train_on names `{options.train_on}`, which is not a dataset of this "
            f"config{closest_hint(options.train_on, cfg.datasets)}; datasets: {', '.join(cfg.datasets)}"
        )
    if tcfg.contrastive_weight == 0 and options.descriptor == "projector":
        raise ConfigError(
            f"methods.{name} trains without the contrastive loss (contrastive_weight 0), so P_A keeps its "
            "initial weights and batch-norm statistics: its projector descriptor would measure a random "
            f"projection; set methods.{name}.descriptor: encoder (or grid)"
        )
    height, width = cfg.image_size
    if tcfg.rotation_weight > 0 and height != width:
        raise ConfigError(
            f"image_size {list(cfg.image_size)} is not square, but methods.{name} trains the rotation branch, "
            "which rotates images by 90 degrees in one batch: set image_size to [S, S] (the paper prints no input "
            "size; the paper preset uses 224)"
        )
    if options.descriptor == "grid":  # before any training: the stage must exist in the backbone
        check_grid_stage(options.grid_stage, cfg.model_for(name).backbone, f"methods.{name}.grid_stage")


METHOD = MethodKind(kind="acmnet", options=AcmNetOptions, build=_build, label=_label, trains=True, check=_check)
