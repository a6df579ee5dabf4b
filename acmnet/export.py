"""A trained ACM-Net released as the field loads it (`acmnet export`), and loaded back.

`export(checkpoint, out)` writes a Hugging Face model folder:
- `model.safetensors`: the AcmNet state dict (encoder, P_A, P_G, the backbone's input mean and
  std), weights only: nothing in it runs code when loaded;
- `config.json`: what builds the model again (model settings, descriptor, image size, input
  convention) and how it was made (training settings, seed, epochs, the digests of its training
  images and checkpoint, the SHA-256 of model.safetensors, checked on load);
- `README.md`: the model card (YAML front matter, then training data, settings, R@N with intervals
  of the run's report when one is given, the departures from the paper).

`load_exported(folder)` (kept with the method, `acmnet.methods.acmnet`, which reads it for rows with
`exported`) builds the AcmNet again (no weight download); `ImageNetDescriber` wraps it
in VPR-methods-evaluation's contract (github.com/gmberton/VPR-methods-evaluation, main.py and
test_dataset.py: ImageNet-normalised (B, 3, H, W) in, (B, D) descriptors out), which `hubconf.py`
returns to `torch.hub.load`.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from acmnet.artifacts import ArtifactError, Checkpoint, load_checkpoint
from acmnet.io import atomic_path, atomic_write_text
from acmnet.methods.acmnet import (
    CONFIG,
    FORMAT,
    VERSION,
    WEIGHTS,
    AcmNet,
    ExportError,
    load_exported,
    read_export_config,
    sha256,
    train_config_of,
)

__all__ = ["ExportError", "ImageNetDescriber", "export", "load_exported", "read_export_config", "train_config_of"]

CARD = "README.md"
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # VPR-methods-evaluation's Normalize
DESCRIPTORS = ("projector", "encoder")


def acmnet_checkpoint(path: Path) -> Checkpoint:
    """The checkpoint at `path` when `acmnet train` wrote it for a `kind: acmnet` row; ExportError naming the
    file otherwise (another tool's weights, a resumable last.pt, another method kind)."""
    try:
        checkpoint = load_checkpoint(Path(path))
    except ArtifactError as exc:
        raise ExportError(
            f"acmnet export takes the checkpoint.pt that `acmnet train` wrote for an ACM-Net row; {exc}. Weights of "
            "another method (another tool's .ckpt or .pth) are not an ACM-Net: release them with their own tool"
        ) from exc
    kind = checkpoint.provenance.settings.get("method.kind")
    if kind != "acmnet" or not {"encoder", "projector"} <= {k.split(".")[0] for k in checkpoint.model_state}:
        raise ExportError(
            f"{path} holds a model of method kind `{kind}` (method {checkpoint.info.get('method')}), not an ACM-Net "
            "(`kind: acmnet`): acmnet export releases ACM-Net models only"
        )
    return checkpoint


def _model_config(checkpoint: Checkpoint) -> dict[str, Any]:
    """The checkpoint's model settings, built without downloading weights (they come from model.safetensors)."""
    return {**checkpoint.model_config, "pretrained": False, "weights": None}


def export_config(checkpoint: Checkpoint, descriptor: str, weights_sha256: str) -> dict[str, Any]:
    """config.json's content: how to build and feed the model, and how it was made."""
    settings = checkpoint.provenance.settings
    manifest = checkpoint.provenance.sources.get("manifest")
    model = _model_config(checkpoint)
    return {
        "format": FORMAT,
        "version": VERSION,
        "architecture": "ACM-Net (Musallam et al., arXiv 2303.02370): timm encoder E, projector P_A, rotation head P_G",
        "model": model,
        "descriptor": descriptor,
        "descriptor_dim": model["projector_dim"] if descriptor == "projector" else None,
        "image_size": settings.get("image_size"),
        "input": {
            "acmnet": "float RGB in [0, 1], (B, 3, H, W), at image_size; the model applies its backbone's own "
            "mean and std (buffers `mean`, `std` of the weights)",
            "hub": "ImageNet-normalised RGB (B, 3, H, W), as VPR-methods-evaluation feeds it",
            "imagenet_mean": list(IMAGENET_MEAN),
            "imagenet_std": list(IMAGENET_STD),
        },
        "training": {
            "method": checkpoint.info.get("method"),
            "seed": settings.get("method.seed"),
            "epochs": checkpoint.info.get("epochs"),
            "steps": checkpoint.info.get("steps"),
            "world_size": checkpoint.info.get("world_size"),
            "training_digest": checkpoint.info.get("training_digest"),
            "train_images_digest": settings.get("train_images"),
            "manifest": dataclasses.asdict(manifest) if manifest else None,
            "train": checkpoint.train_config,
            "augment": settings.get("augment"),
        },
        "checkpoint": {"path": str(checkpoint.path), "digest": checkpoint.digest},
        "weights_sha256": weights_sha256,
    }


def export(checkpoint_path: Path, out: Path, report: Path | None = None, descriptor: str = "projector") -> Path:
    """Write `out`/model.safetensors, config.json and README.md from an ACM-Net checkpoint; with `report`
    (an experiment's results folder, e.g. results/demo), the card gives the R@N of the rows this checkpoint
    described. Returns `out`."""
    from safetensors.torch import save_file

    from acmnet.report.model_card import model_card

    if descriptor not in DESCRIPTORS:
        raise ExportError(f"--descriptor must be one of {', '.join(DESCRIPTORS)}, got {descriptor!r}")
    checkpoint = acmnet_checkpoint(checkpoint_path)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.contiguous() for k, v in checkpoint.model_state.items()}
    with atomic_path(out / WEIGHTS) as tmp:
        save_file(state, str(tmp), metadata={"format": "pt", "producer": FORMAT})
    config = export_config(checkpoint, descriptor, sha256(out / WEIGHTS))
    atomic_write_text(out / CONFIG, json.dumps(config, indent=2, sort_keys=False) + "\n")
    atomic_write_text(out / CARD, model_card(config, checkpoint, report))
    return out


class ImageNetDescriber(nn.Module):
    """VPR-methods-evaluation's model contract: ImageNet-normalised images (B, 3, H, W) -> L2-normalised
    float32 descriptors (B, D). The images are taken back to [0, 1] and given to the model, which applies
    its backbone's own normalisation, as `acmnet describe` does; no resizing (feed `image_size` images to
    get `acmnet describe`'s descriptors)."""

    def __init__(self, model: AcmNet, descriptor: str = "projector"):
        super().__init__()
        if descriptor not in DESCRIPTORS:
            raise ValueError(f"descriptor must be one of {', '.join(DESCRIPTORS)}, got {descriptor!r}")
        self.model, self.descriptor = model, descriptor
        self.register_buffer("imagenet_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("imagenet_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        unit = images * self.imagenet_std + self.imagenet_mean
        if self.descriptor == "projector":
            return self.model.descriptors(unit)
        return F.normalize(self.model.features(unit).float(), dim=-1)
