"""Image cache: every image of a manifest decoded and resized once, as one uint8 array on disk.

`images.npy` has shape (N, H, W, 3), uint8, rows in `manifest.unique_images` order, and is read
memory-mapped (`acmnet.artifacts.load_cache`), so training never decodes JPEG/PNG and never holds
the dataset in RAM. `images.json` beside it records the image list, the size, a digest of each
row's pixels, a digest of the whole array file (checked on every load) and the manifest it was
built from; it is written last, so a cache without it is incomplete.

`decode_image` is the one decoding of the suite: the cache stores its pixels, and describing
straight from the image files (`acmnet.data.loader`, for datasets that are not cached) calls it
too, so both give the same pixels, bit for bit.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from acmnet.artifacts import Manifest, file_digest, pixel_digest, provenance, write_cache_meta
from acmnet.data import manifest as mf
from acmnet.io import UnreadableImageError, atomic_path, image_file_problem, load_rgb, reserve


def image_paths(root: Path, images: list[str]) -> list[Path]:
    """Absolute paths of the manifest's images; every missing or unreadable one is named in one error."""
    paths = [Path(p) if Path(p).is_absolute() else root / p for p in images]
    missing = [p for p in paths if not p.exists() and not p.is_symlink()]
    if missing:
        listed = ", ".join(str(p) for p in missing[:5])
        raise FileNotFoundError(
            f"{len(missing)} image(s) of the manifest are missing under {root} (first: {listed}); "
            "check the dataset root, or prepare the manifest again"
        )
    problems = [problem for p in paths if (problem := image_file_problem(p)) is not None]
    if problems:
        raise UnreadableImageError(
            f"{len(problems)} of {len(paths)} images of the manifest are not image files; nothing was cached. "
            + "; ".join(problems[:5])
            + ("; ..." if len(problems) > 5 else "")
        )
    return paths


def decode_image(path: Path, size: tuple[int, int]) -> np.ndarray:
    """Image `path` as the cache stores it: RGB uint8 (H, W, 3), upright, resized (no crop) to `size`
    = (H, W) (`acmnet.io.load_rgb`). ValueError naming a file that cannot be decoded."""
    return load_rgb(path, size)


def _decode(path: Path, size: tuple[int, int]) -> np.ndarray | str:
    """The resized image, or the reason it cannot be decoded (collected, not raised, so that every
    unreadable file is reported together)."""
    try:
        return decode_image(path, size)
    except ValueError as exc:
        return str(exc)


def build_cache(
    manifest: Manifest,
    root: Path,
    out: Path,
    image_size: tuple[int, int],
    settings: dict[str, Any],
    workers: int = 2,
    progress: bool = True,
) -> Path:
    """Decode and resize every distinct image of `manifest` into `out` (.npy), streaming.

    Memory stays bounded: images are decoded a few at a time (threads; PIL releases the GIL)
    and written straight into the memory-mapped output. Files that cannot be decoded are all
    listed in one ValueError, and nothing is written then.
    """
    images = mf.unique_images(manifest.frame)
    height, width = image_size
    paths = image_paths(Path(root), images)
    out, digests, broken = Path(out), [], []
    with atomic_path(out) as tmp:
        array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(paths), height, width, 3))
        reserve(tmp, os.path.getsize(tmp), f"the image cache ({len(paths)} images of {height}x{width})")
        pool = ThreadPoolExecutor(max_workers=max(1, workers))
        try:  # on an error or a stop signal the images not yet decoded are dropped, not waited for
            decoded = pool.map(lambda p: _decode(p, (height, width)), paths)
            for i, img in enumerate(tqdm(decoded, total=len(paths), desc="cache", unit="img", disable=not progress)):
                if isinstance(img, str):
                    broken.append(img)
                    continue
                array[i] = img
                digests.append(pixel_digest(img))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        array.flush()
        del array
        if broken:
            raise ValueError(
                f"{len(broken)} of {len(paths)} images cannot be decoded; nothing was cached. "
                + "; ".join(broken[:10])
                + ("; ..." if len(broken) > 10 else "")
            )
        content = file_digest(tmp)  # of the array this build wrote, recorded in its index
    write_cache_meta(out, images, image_size, digests, provenance("cache", settings, manifest=manifest), content)
    return out
