"""Descriptors of the reference and query images of a manifest, for one method, in parts.

The method's kind (`acmnet.methods`) builds the describer, from a checkpoint when it is trained.
Describe job `shard` of `shards` (`evaluate.describe_shards`, one by default) describes the
shard-th contiguous slice of the reference rows and of the query rows (`acmnet.artifacts.shard_slice`)
into its own part (`acmnet.artifacts.DescriptorPart`): `part-<s>-of-<K>.reference.npy` and
`.query.npy` (float32, L2-normalised, written as they are computed, never held whole in memory)
and the record `part-<s>-of-<K>.json`, written last, with each row's manifest row, the digest of
the pixels described and the provenance (manifest, checkpoint or the other tool's files,
settings, and the method's name as `method_name`). Nothing gathers the parts: retrieval reads them
as they are, memory-mapped (`acmnet.artifacts.load_descriptors`).

The pixels come from the uint8 image cache when one is given and the dataset has at most
`evaluate.cache_images_max` distinct images; otherwise straight from the image files, decoded in
`workers` processes by the cache's own decoding (`acmnet.data.loader`): the same pixels, bit for
bit, so the same descriptors. A kind whose descriptors another tool computed (`external`) reads
them from its files instead, matched to the manifest by image name. A trained method's
checkpoint must be its own, trained with the settings the config gives it now
(`acmnet.artifacts.check_trained_for`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from acmnet.artifacts import (
    ROLES,
    DescriptorPart,
    ExternalFile,
    ImageCache,
    Manifest,
    check_trained_for,
    descriptor_part_writer,
    load_cache,
    load_checkpoint,
    load_manifest,
    part_files,
    provenance,
    save_descriptor_part,
    shard_slice,
)
from acmnet.config import Config, ConfigError, digest_of
from acmnet.data import manifest as mf
from acmnet.device import device_name, resolve_device, to_float_images
from acmnet.methods import method_of


@torch.no_grad()
def embed_batches(
    describer: torch.nn.Module,
    batches: Iterable[np.ndarray | torch.Tensor],
    n: int,
    device: torch.device,
    channels_last: bool = True,
    out: Callable[[int], np.ndarray] | None = None,
    desc: str = "describe",
    progress: bool = True,
) -> np.ndarray:
    """Descriptors of `n` images given as uint8 (B, H, W, 3) batches, in order: float32 (n, D), written
    into `out(D)` (an array opened once D is known: a memory-mapped part) or into memory."""
    result, at = None, 0
    with tqdm(total=n, desc=desc, unit="img", disable=not progress) as bar:
        for batch in batches:
            described = describer(to_float_images(batch, device, channels_last)).cpu().numpy().astype(np.float32)
            if result is None:
                dim = described.shape[1]
                result = out(dim) if out is not None else np.empty((n, dim), dtype=np.float32)
            result[at : at + len(described)] = described
            at += len(described)
            bar.update(len(described))
    if at != n:
        raise RuntimeError(f"described {at} images of {n}")
    if result is None:
        result = out(0) if out is not None else np.zeros((0, 0), dtype=np.float32)
    return result


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
    batches = (array[rows[start : start + batch_size]] for start in range(0, len(rows), batch_size))
    return embed_batches(describer, batches, len(rows), device, channels_last, desc=desc, progress=progress)


def describe(
    cfg: Config,
    method: str,
    manifest_path: Path,
    cache_path: Path | None,
    out: Path,
    checkpoint: Path | None = None,
    progress: bool = True,
    dataset: str | None = None,
    *,
    shard: int = 0,
    shards: int = 1,
    workers: int = 0,
    root: Path | None = None,
) -> DescriptorPart:
    """Describe part `shard` of `shards` of the manifest's reference and query images with `method`
    into the folder `out` (`part-<s>-of-<K>.*`); the part written.

    The images come from the cache (`cache_path`) when one is given and the dataset has at most
    `evaluate.cache_images_max` distinct images, else from the files under `root` (default: the
    root of `dataset` in the config), decoded by `workers` processes. A kind that reads
    descriptors another tool computed (`MethodKind.read`) needs `dataset` and no images. The part's
    record holds the step's wall time from here to the record (`timing`: loading the model, reading
    and decoding the images, the forward passes, writing), but not for another tool's descriptors.
    """
    started = time.perf_counter()
    part_files(Path(out), shard, shards)  # a shard that exists
    manifest = load_manifest(manifest_path)
    if method_of(cfg, method).read is not None:
        part = _read_external(cfg, method, dataset, manifest, Path(out), shard, shards)
    else:
        part = _describe_images(
            cfg,
            method,
            manifest,
            cache_path,
            Path(out),
            checkpoint,
            progress,
            dataset,
            shard,
            shards,
            workers,
            root,
            started,
        )
    print(f"wrote {part.path}: {len(part.reference_rows)} reference and {len(part.query_rows)} query descriptors")
    return part


def build_describer(
    cfg: Config, method: str, checkpoint: Path | None
) -> tuple[torch.nn.Module, torch.device, bool, object | None]:
    """(the method's describer on the configured device in eval mode, that device, whether it runs
    channels-last, the checkpoint it was built from or None): what `describe` runs. A trained
    method's checkpoint must be its own, trained with the settings the config gives it now."""
    kind = method_of(cfg, method)
    trained = kind.trains_with(cfg.method(method).options)
    if trained and checkpoint is None:
        raise ConfigError(f"method `{method}` is trained: give its checkpoint (--checkpoint)")
    model = load_checkpoint(Path(checkpoint)) if trained else None
    if model is not None:  # the method's own checkpoint, trained with the settings it has now
        check_trained_for(model, method, cfg.settings("train", method=method))
    device = resolve_device(cfg.device)
    describer = kind.build(cfg, method, cfg.method(method).options, model).to(device).eval()
    channels_last = cfg.train.channels_last == "on"
    if channels_last:
        describer.to(memory_format=torch.channels_last)
    return describer, device, channels_last, model


def _describe_images(
    cfg: Config,
    method: str,
    manifest: Manifest,
    cache_path: Path | None,
    folder: Path,
    checkpoint: Path | None,
    progress: bool,
    dataset: str | None,
    shard: int,
    shards: int,
    workers: int,
    root: Path | None,
    started: float,
) -> DescriptorPart:
    kind = method_of(cfg, method)
    trained = kind.trains_with(cfg.method(method).options)
    if trained and checkpoint is None:
        raise ConfigError(f"method `{method}` is trained: give its checkpoint (acmnet describe --checkpoint)")
    cache, root = _image_source(cfg, method, manifest, cache_path, dataset, root)
    describer, device, channels_last, model = build_describer(cfg, method, checkpoint)
    every = {role: manifest.rows(role) for role in ROLES}
    mine = {role: shard_slice(len(every[role]), shard, shards) for role in ROLES}
    source = "the image cache" if cache is not None else f"the image files under {root} ({workers} workers)"
    print(
        f"describe {method}, part {shard + 1} of {shards}: "
        + ", ".join(f"{role} {mine[role].start}..{mine[role].stop} of {len(every[role])}" for role in ROLES)
        + f", from {source}"
    )
    batch_size, pixels = cfg.evaluate.batch_size, {}
    with descriptor_part_writer(folder, shard, shards) as writer:
        for role in ROLES:
            rows = every[role][mine[role]]
            if not len(rows):  # a slice of no rows: an empty array of the other role's width
                pixels[role] = digest_of([])
                continue
            frame = manifest.frame.iloc[rows]
            if cache is not None:
                cache_rows = cache.rows_for(frame, str(manifest.path))
                batches = (cache.array[cache_rows[a : a + batch_size]] for a in range(0, len(rows), batch_size))
                pixels[role] = cache.rows_digest(cache_rows)
            else:
                batches, digests = _from_files(frame, root, cfg.image_size, batch_size, workers, device)
            embed_batches(
                describer,
                batches,
                len(rows),
                device,
                channels_last,
                out=partial(writer.array, role, len(rows)),
                desc=f"part {shard + 1}/{shards} {role}",
                progress=progress,
            )
            if cache is None:
                pixels[role] = digest_of(digests)
        settings = {**cfg.settings("describe", method=method), "method_name": method}
        released = kind.digests(cfg.method(method).options, dataset) if kind.digests and not kind.read else {}
        files = {f"released{i}": ExternalFile(Path(p), d) for i, (p, d) in enumerate(released.items())}
        prov = provenance("describe", settings, manifest=manifest, checkpoint=model, **files)
        starts = {role: mine[role].start for role in ROLES}
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        images = sum(len(every[role][mine[role]]) for role in ROLES)
        timing = {"seconds": time.perf_counter() - started, "images": images, "device": device_name(device)}
        writer.finish(
            every["reference"][mine["reference"]], every["query"][mine["query"]], prov, starts, pixels, timing
        )
    return writer.part


def _image_source(
    cfg: Config, method: str, manifest: Manifest, cache_path: Path | None, dataset: str | None, root: Path | None
) -> tuple[ImageCache | None, Path | None]:
    """(the image cache, or None; the image root, or None): the cache when given and it holds at most
    `evaluate.cache_images_max` images, else the files under `root` (default: the dataset's root)."""
    n_images = len(mf.unique_images(manifest.frame))
    cached = cache_path is not None and n_images <= cfg.evaluate.cache_images_max
    if cache_path is not None and not cached:
        print(
            f"{manifest.path}: {n_images} images, more than evaluate.cache_images_max = "
            f"{cfg.evaluate.cache_images_max}: describing from the image files, not from the cache {cache_path}"
        )
    if not cached and root is None:
        if dataset is None:
            raise ConfigError(
                f"method `{method}` describes images: give the image cache (acmnet describe --cache) or the "
                "dataset (--dataset), whose image files are then read"
            )
        root = Path(cfg.dataset(dataset).root)
    return (load_cache(cache_path, manifest) if cached else None), root


def _from_files(frame, root: Path, size, batch_size: int, workers: int, device: torch.device):
    """uint8 batches of the images of `frame`'s rows decoded from their files, and the list their
    pixel digests are appended to as the batches are read."""
    from acmnet.data.cache import image_paths
    from acmnet.data.loader import image_batches

    paths = image_paths(Path(root), list(frame["image"])) if len(frame) else []
    digests: list[str] = []

    def batches():
        for pixels, found in image_batches(paths, tuple(size), batch_size, workers, device.type == "cuda"):
            digests.extend(found)
            yield pixels

    return batches(), digests


def _read_external(
    cfg: Config, method: str, dataset: str | None, manifest: Manifest, folder: Path, shard: int, shards: int
) -> DescriptorPart:
    """Descriptors another tool computed, matched to the manifest (this shard's slice of them); the
    content digest of every file they were read from in the provenance (`external<i>`)."""
    if dataset is None:
        raise ConfigError(f"method `{method}` reads descriptors per dataset: give the dataset (--dataset)")
    kind, options = method_of(cfg, method), cfg.method(method).options
    digests = kind.digests(options, dataset)  # before reading: a file replaced meanwhile fails the re-check
    reference, query = kind.read(cfg, method, options, dataset, manifest)
    files = {f"external{i}": ExternalFile(Path(p), digest) for i, (p, digest) in enumerate(digests.items())}
    settings = {**cfg.settings("describe", method=method), "method_name": method, "dataset": dataset}
    prov = provenance("describe", settings, manifest=manifest, **files)
    ref_slice, query_slice = shard_slice(len(reference), shard, shards), shard_slice(len(query), shard, shards)
    return save_descriptor_part(
        folder,
        shard,
        shards,
        reference[ref_slice],
        query[query_slice],
        manifest.rows("reference")[ref_slice],
        manifest.rows("query")[query_slice],
        prov,
        starts={"reference": ref_slice.start, "query": query_slice.start},
    )
