"""Descriptors of the reference and query images of a manifest, for one method.

The method's kind (`acmnet.methods`) builds the describer, from a checkpoint when it is trained;
the images come from the uint8 cache. A kind whose descriptors another tool computed (`external`)
reads them from its files instead, matched to the manifest by image name. Output:
`descriptors.npz` (`acmnet.artifacts.Descriptors`): `reference` (R, D) and `query` (Q, D)
float32, L2-normalised, with each row's manifest row and the provenance (manifest, cache,
checkpoint or the other tool's files, settings, and the method's name as `method_name`). A trained
method's checkpoint must be its own, trained with the settings the config gives it now
(`acmnet.artifacts.check_trained_for`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from acmnet.artifacts import (
    Descriptors,
    Manifest,
    check_trained_for,
    external_file,
    load_cache,
    load_checkpoint,
    load_manifest,
    provenance,
    save_descriptors,
)
from acmnet.config import Config, ConfigError
from acmnet.device import resolve_device, to_float_images
from acmnet.methods import method_of


@torch.no_grad()
def embed(
    describer: torch.nn.Module,
    array: np.ndarray,
    rows: np.ndarray,
    device: torch.device,
    batch_size: int,
    desc: str,
    channels_last: bool = True,
    progress: bool = True,
) -> np.ndarray:
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
    cache_path: Path | None,
    out: Path,
    checkpoint: Path | None = None,
    progress: bool = True,
    dataset: str | None = None,
) -> Descriptors:
    """Describe every reference and query image of the manifest with `method`; write `out`.

    A kind that reads descriptors another tool computed (`MethodKind.read`) needs `dataset` and no
    cache: its files are read, matched to the manifest and recorded in the provenance.
    """
    kind = method_of(cfg, method)
    manifest = load_manifest(manifest_path)
    if kind.read is not None:
        return _read_external(cfg, method, dataset, manifest, Path(out))
    if kind.trains and checkpoint is None:
        raise ConfigError(f"method `{method}` is trained: give its checkpoint (acmnet describe --checkpoint)")
    if cache_path is None:
        raise ConfigError(f"method `{method}` describes images: give the image cache (acmnet describe --cache)")
    cache = load_cache(cache_path, manifest)
    model = load_checkpoint(Path(checkpoint)) if kind.trains else None
    if model is not None:  # the method's own checkpoint, trained with the settings it has now
        check_trained_for(model, method, cfg.settings("train", method=method))
    device = resolve_device(cfg.device)
    describer = kind.build(cfg, method, cfg.method(method).options, model).to(device).eval()
    channels_last = cfg.train.channels_last == "on"
    if channels_last:
        describer.to(memory_format=torch.channels_last)
    arrays = {}
    for role in ("reference", "query"):
        rows = manifest.rows(role)
        cache_rows = cache.rows_for(manifest.frame.iloc[rows], str(manifest_path))
        arrays[role] = embed(
            describer,
            cache.array,
            cache_rows,
            device,
            cfg.evaluate.batch_size,
            f"describe {role}",
            channels_last,
            progress,
        )
        arrays[f"{role}_rows"] = rows
    settings = {**cfg.settings("describe", method=method), "method_name": method}
    prov = provenance("describe", settings, manifest=manifest, cache=cache, checkpoint=model)
    return save_descriptors(Path(out), prov=prov, **arrays)


def _read_external(cfg: Config, method: str, dataset: str | None, manifest: Manifest, out: Path) -> Descriptors:
    """Descriptors another tool computed, matched to the manifest; their files in the provenance."""
    if dataset is None:
        raise ConfigError(f"method `{method}` reads descriptors per dataset: give the dataset (--dataset)")
    kind, options = method_of(cfg, method), cfg.method(method).options
    reference, query = kind.read(cfg, method, options, dataset, manifest)
    files = {f"external{i}": external_file(Path(p)) for i, p in enumerate(kind.files(options, dataset))}
    settings = {**cfg.settings("describe", method=method), "method_name": method, "dataset": dataset}
    prov = provenance("describe", settings, manifest=manifest, **files)
    return save_descriptors(out, reference, query, manifest.rows("reference"), manifest.rows("query"), prov=prov)
