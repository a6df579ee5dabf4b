"""ACM-Net (paper section 3.3): encoder E, appearance projector P_A and rotation head P_G.

The method kind `acmnet` is trained here (`acmnet train`); its descriptor is
normalize(P_A(E(x))) as in the paper (`descriptor: projector`), or the pooled encoder output
normalize(E(x)) (`descriptor: encoder`), a row of its own for the same model. Its `train:`
option overrides the top-level `train` section for ablations (e.g. `{rotation_weight: 0.0}`). With
`exported: DIR` (a folder `acmnet export` wrote) the row describes with that released model and is not
trained here; `load_exported` reads such a folder (also for `hubconf.py`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from acmnet.config import Config, ConfigError, ModelConfig, TrainConfig, bounded, closest_hint
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
    # A folder written by `acmnet export`: the row describes with that released model and is not trained here.
    exported: str | None = None


def load_model(checkpoint: Checkpoint) -> AcmNet:
    """The AcmNet of a checkpoint written by `acmnet train` (no weight download), eval mode, CPU."""
    model_cfg = ModelConfig(**{**checkpoint.model_config, "pretrained": False, "weights": None})
    model = build_model(model_cfg)
    model.load_state_dict(checkpoint.model_state)
    return model.eval()


# ---- a released model (`acmnet export`, acmnet/export.py): read back for rows with `exported` and torch.hub ----

FORMAT = "acmnet-export"  # config.json's `format`
VERSION = 1
WEIGHTS, CONFIG = "model.safetensors", "config.json"


class ExportError(ValueError):
    """A checkpoint that cannot be exported, or an export folder that cannot be loaded; names the file."""


def sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, 64 hex digits (what config.json records of model.safetensors)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def read_export_config(folder: Path) -> dict[str, Any]:
    """config.json of an export folder (ExportError naming the file when it is missing or not an export's)."""
    path = Path(folder) / CONFIG
    if not path.is_file():
        raise ExportError(
            f"{path} does not exist: give a folder written by `acmnet export` (model.safetensors, config.json)"
        )
    try:
        config = json.loads(path.read_text())
    except ValueError as exc:
        raise ExportError(f"{path} is not JSON ({exc}): export the checkpoint again") from exc
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ExportError(f"{path} is not the config.json of an `acmnet export` folder (format {FORMAT!r})")
    return config


def load_exported(folder: Path) -> tuple[AcmNet, dict[str, Any]]:
    """(the AcmNet of an export folder, eval mode, CPU; its config.json). The weights must be the file
    config.json names (its SHA-256): ExportError otherwise."""
    from safetensors.torch import load_file

    folder = Path(folder)
    config = read_export_config(folder)
    weights = folder / WEIGHTS
    if not weights.is_file():
        raise ExportError(f"{weights} does not exist: export the checkpoint again (acmnet export)")
    if sha256(weights) != config["weights_sha256"]:
        raise ExportError(
            f"{weights} is not the file {folder / CONFIG} was written with (its SHA-256 differs): a replaced or "
            "damaged weights file; export the checkpoint again"
        )
    fields = {f.name for f in dataclasses.fields(ModelConfig)}
    model = build_model(ModelConfig(**{k: v for k, v in config["model"].items() if k in fields}))
    model.load_state_dict(load_file(str(weights)))
    return model.eval(), config


def train_config_of(config: dict[str, Any]) -> TrainConfig:
    """The training settings an export records (keys of newer versions left out)."""
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in config["training"]["train"].items() if k in fields})


def _build(cfg: Config, name: str, options: AcmNetOptions, checkpoint: Checkpoint | None) -> nn.Module:
    if options.exported:
        return AcmNetDescriber(load_exported(Path(options.exported))[0], options).eval()
    if checkpoint is None:
        raise ConfigError(f"method `{name}` is trained: give its checkpoint (acmnet describe --checkpoint)")
    return AcmNetDescriber(load_model(checkpoint), options).eval()


def _label(cfg: Config, name: str, options: AcmNetOptions) -> str:
    if options.descriptor == "grid":
        rows, cols = options.grid_size
        return f"ACM-Net, stage {options.grid_stage} features on a {rows}x{cols} grid"
    return "ACM-Net" if options.descriptor == "projector" else "ACM-Net encoder E(x)"


def _check_validation(cfg: Config, name: str, options: AcmNetOptions, tcfg: TrainConfig) -> None:
    """The validation slice (`train.validate_*`, train images) must not be a reported query set: refused for a
    training dataset whose `train` images are query images (`train_on_queries`); the loop checks each image."""
    if not tcfg.validate_every:
        return
    trained_on = [options.train_on] if options.train_on else list(cfg.datasets)
    for dataset in trained_on:
        if getattr(cfg.datasets[dataset].options, "train_on_queries", False):
            raise ConfigError(
                f"methods.{name} validates on the `train` images of datasets.{dataset} (train.validate_every), but "
                f"that dataset trains on its query images (train_on_queries): the validation slice would be a "
                "reported query set; set train.validate_every: 0 or train on other images"
            )


def _check_exported(cfg: Config, name: str, options: AcmNetOptions) -> None:
    """A released model's row: its folder is an export's, and no training option is set for it."""
    try:
        config = read_export_config(Path(options.exported))
    except ExportError as exc:
        raise ConfigError(f"methods.{name}.exported: {exc}") from exc
    set_here = [key for key in ("train", "model", "train_on") if getattr(options, key)]
    if set_here:
        raise ConfigError(
            f"methods.{name} describes with the released model {options.exported} (exported), which is not trained "
            f"here: remove methods.{name}.{set_here[0]}"
        )
    if train_config_of(config).contrastive_weight == 0 and options.descriptor == "projector":
        raise ConfigError(
            f"methods.{name}: the released model {options.exported} was trained without the contrastive loss, so its "
            f"P_A is untrained: set methods.{name}.descriptor: encoder (or grid)"
        )
    if options.descriptor == "grid":
        check_grid_stage(options.grid_stage, config["model"]["backbone"], f"methods.{name}.grid_stage")


def _check(cfg: Config, name: str, options: AcmNetOptions) -> None:
    if options.exported:
        _check_exported(cfg, name, options)
        return
    tcfg = cfg.train_for(name)
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
    _check_validation(cfg, name, options, tcfg)
    if options.descriptor == "grid":  # before any training: the stage must exist in the backbone
        check_grid_stage(options.grid_stage, cfg.model_for(name).backbone, f"methods.{name}.grid_stage")


def _released_files(options: AcmNetOptions, dataset: str) -> list[str]:
    """The files of a released model's row (its describe step's inputs); none for a row trained here."""
    if not options.exported:
        return []
    return [str(Path(options.exported) / WEIGHTS), str(Path(options.exported) / CONFIG)]


def _released_digests(options: AcmNetOptions, dataset: str) -> dict[str, str]:
    """{file: content digest} of a released model's files (describe's record and rerun trigger)."""
    from acmnet.artifacts import file_digest

    return {path: file_digest(Path(path)) for path in _released_files(options, dataset)}


METHOD = MethodKind(
    kind="acmnet",
    options=AcmNetOptions,
    build=_build,
    label=_label,
    trains=True,
    check=_check,
    files=_released_files,
    digests=_released_digests,
    untrained=lambda options: bool(options.exported),
)
