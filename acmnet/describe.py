"""Descriptors of the reference and query images of a manifest, for one method.

Output `descriptors.npz`: `reference` (R, D) and `query` (Q, D) float32, L2-normalised, with
`reference_rows` / `query_rows` (int64 row numbers in the manifest) and `manifest` (the
manifest's path), so scoring can check that descriptors and manifest belong together.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from acmnet.cache import ImageCache
from acmnet.config import Config, ModelConfig
from acmnet.datasets import manifest as mf
from acmnet.io import atomic_path
from acmnet.model import AcmNet, build_model, create_encoder, input_normalization
from acmnet.pixels import PixelDescriber
from acmnet.pooling import GemDescriber
from acmnet.train import resolve_device, to_float_images


def load_trained(checkpoint: Path, device: torch.device) -> AcmNet:
    """Rebuild ACM-Net from a checkpoint written by `acmnet train` (no weight download)."""
    state = torch.load(checkpoint, map_location=device, weights_only=False)
    model_cfg = ModelConfig(**{**state["model_config"], "pretrained": False, "weights": None})
    model = build_model(model_cfg)
    model.load_state_dict(state["model"])
    return model.to(device).eval()


class PretrainedDescriber(torch.nn.Module):
    """Frozen ImageNet backbone, globally average-pooled and L2-normalised: (B,3,H,W) -> (B,D)."""

    def __init__(self, model_cfg: ModelConfig):
        super().__init__()
        self.encoder = create_encoder(model_cfg)
        mean, std = input_normalization(self.encoder)
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.encoder((images - self.mean) / self.std).float(), dim=-1)


@torch.no_grad()
def embed(describer, array: np.ndarray, rows: np.ndarray, device: torch.device, batch_size: int, desc: str,
          channels_last: bool = True, progress: bool = True) -> np.ndarray:
    """Descriptors of cache rows `rows`: float32 (len(rows), D)."""
    out = []
    for start in tqdm(range(0, len(rows), batch_size), desc=desc, unit="batch", disable=not progress):
        images = to_float_images(array[rows[start : start + batch_size]], device, channels_last)
        out.append(describer(images).cpu().numpy().astype(np.float32))
    return np.concatenate(out)


def describe(
    cfg: Config,
    method: str,
    manifest_path: Path,
    cache_path: Path,
    out: Path,
    checkpoint: Path | None = None,
    progress: bool = True,
) -> Path:
    frame = mf.read(manifest_path)
    cache = ImageCache.open(cache_path)
    device = resolve_device(cfg.device)
    spec = cfg.method(method)
    if spec.kind == "acmnet":
        if checkpoint is None:
            raise ValueError(f"method `{method}` is trained: give its checkpoint (acmnet describe --checkpoint)")
        net = load_trained(Path(checkpoint), device)
        describer = net.descriptors
    elif spec.kind == "pixels":
        net = describer = PixelDescriber(spec.pixel_size, spec.pixel_patch).to(device).eval()
    elif spec.pool == "gem":
        net = describer = GemDescriber(cfg.model, p=spec.gem_p).to(device).eval()
    else:
        net = describer = PretrainedDescriber(cfg.model).to(device).eval()
    channels_last = cfg.train.channels_last == "on"
    if channels_last:
        net.to(memory_format=torch.channels_last)
    arrays = {"manifest": np.array(str(manifest_path))}
    for role in ("reference", "query"):
        rows = np.flatnonzero(frame["role"].to_numpy() == role)
        cache_rows = cache.rows_for(frame.iloc[rows], str(manifest_path))
        arrays[role] = embed(describer, cache.array, cache_rows, device, cfg.evaluate.batch_size, f"describe {role}",
                               channels_last, progress)
        arrays[f"{role}_rows"] = rows.astype(np.int64)
    with atomic_path(Path(out)) as tmp:
        np.savez(tmp, **arrays)
    return Path(out)
