"""The image cache (`cache/images.npy` + `.json`, made by `acmnet cache`) as an `ImageCache`."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from acmnet.artifacts.manifest import Manifest
from acmnet.artifacts.provenance import ArtifactError, Provenance, ProvenanceError, check_made_from, file_digest
from acmnet.config import digest_of
from acmnet.io import atomic_write_text

# ---- image cache ------------------------------------------------------------------------


@dataclass
class ImageCache:
    """A built cache, memory-mapped: `array[i]` is image `images[i]`, uint8 (H, W, 3).

    `row_digests[i]` is a digest of row i's pixels; `digest` covers every row.
    """

    array: np.ndarray
    images: list[str]
    row_digests: list[str]
    path: Path
    provenance: Provenance

    @property
    def digest(self) -> str:
        return digest_of(self.row_digests)

    def rows_for(self, frame: pd.DataFrame, source: str = "manifest") -> np.ndarray:
        """Cache row of each manifest row, int64 (len(frame),)."""
        index = {p: i for i, p in enumerate(self.images)}
        absent = [p for p in frame["image"] if p not in index]
        if absent:
            raise ProvenanceError(
                f"{len(absent)} image(s) of {source} are not in the image cache {self.path} (first: {absent[0]}): "
                "the cache was built from another manifest; rebuild it (acmnet cache)"
            )
        return np.array([index[p] for p in frame["image"]], dtype=np.int64)

    def rows_digest(self, rows: np.ndarray) -> str:
        """Digest of the pixels of cache rows `rows`, in that order."""
        return digest_of([self.row_digests[int(i)] for i in rows])


def pixel_digest(image: np.ndarray) -> str:
    """Digest of one cached image's pixels (shape and bytes), 16 hex digits."""
    return hashlib.blake2b(str(image.shape).encode() + image.tobytes(), digest_size=8).hexdigest()


def _verify_rows(cache: ImageCache) -> bool:
    """Whether every row holds the pixels the index recorded for it (caches built before the index
    recorded a content digest)."""
    return all(pixel_digest(np.asarray(cache.array[i])) == digest for i, digest in enumerate(cache.row_digests))


def cache_meta_path(cache_path: Path) -> Path:
    return Path(cache_path).with_suffix(".json")


def write_cache_meta(
    out: Path,
    images: list[str],
    image_size: tuple[int, int],
    row_digests: list[str],
    prov: Provenance,
    content_digest: str | None = None,
) -> None:
    """Write the `.json` that completes cache `out` (its rows are `images`, in order); written last,
    with the size of the array it describes and the digest of its bytes (`content_digest`: taken
    by `build_cache` from the array it wrote, before the rename, so a concurrent build's array
    never passes under this index; the file's own digest when not given), so an index never
    passes for another array."""
    meta = {
        "images": list(images),
        "image_size": list(image_size),
        "row_digests": list(row_digests),
        "bytes": Path(out).stat().st_size,
        "content_digest": content_digest or file_digest(out),
        "provenance": json.loads(prov.to_json()),
    }
    atomic_write_text(cache_meta_path(out), json.dumps(meta))


def load_cache(path: Path, manifest: Manifest | None = None) -> ImageCache:
    """Open a built cache (memory-mapped); with `manifest`, it must have been built from it.

    The whole array is verified on every load, not a sample of rows: its size, then the SHA-256 of
    all its bytes (header and every row) against the digest the index recorded when the cache was
    built. Hashing is cheap beside what a step does with the cache: SHA-256 runs at about
    1.5 GB/s (measured: 20 ms for the demo's 15 MB cache; about 3 s for a 4.5 GB cache of 30k
    images at 224x224, which a describe or training step then reads anyway, mostly from the page
    cache the hash just filled). A cheaper key (size and mtime, with the full hash only when they
    change) was not chosen: an in-place edit or a copy that keeps the mtime (`cp -p`, `rsync -a`,
    a restored backup) passes it, a coarse-mtime file system hides a rewrite within its tick, and
    remembering "verified at this mtime" means readers writing beside the cache while parallel
    jobs read it. An index written before content digests is checked row by row against its
    recorded pixel digests instead (every row, as complete, a little slower).
    """
    path, meta_path = Path(path), cache_meta_path(path)
    if not path.is_file() or not meta_path.is_file():
        raise ArtifactError(
            f"image cache {path} is missing or incomplete (no {meta_path.name}): run `acmnet cache` again"
        )
    try:
        meta = json.loads(meta_path.read_text())
        array = np.load(path, mmap_mode="r")
        prov = Provenance.from_json(json.dumps(meta["provenance"]), meta_path)
        cache = ImageCache(array, meta["images"], meta["row_digests"], path, prov)
    except (ValueError, KeyError, OSError) as exc:
        raise ArtifactError(f"image cache {path} cannot be read ({exc}): run `acmnet cache` again") from exc
    content = meta.get("content_digest")
    if (
        meta.get("bytes") != path.stat().st_size
        or array.shape[0] != len(cache.images)
        or len(cache.row_digests) != len(cache.images)
        or (file_digest(path) != content if content else not _verify_rows(cache))
    ):
        raise ArtifactError(
            f"image cache {path} is not the array its index {meta_path.name} describes (an interrupted or "
            "concurrent `acmnet cache`, a file copied over it, or rows changed since it was built): "
            "run `acmnet cache` again"
        )
    if manifest is not None:
        check_made_from(cache, "manifest", manifest)
    return cache
