"""Images straight from their files, for datasets that are not cached: a multi-worker loader.

`image_batches(paths, size, batch_size, workers, pin_memory)` yields `(pixels, digests)` per batch
of consecutive images: `pixels` a uint8 (B, H, W, 3) tensor (in pinned memory when it goes to a
GPU), `digests` each image's pixel digest (`acmnet.artifacts.pixel_digest`, what a cache index
records per row). The images are decoded and resized in `workers` processes (a torch DataLoader;
0: in this process) by `acmnet.data.cache.decode_image`, the very function the cache is built with,
so a batch holds the pixels the cache would hold, bit for bit (tests/data/test_loader.py). An
image that cannot be decoded stops the loop with one error naming it (every unreadable image of
its batch), never a worker's traceback.

`manifest_images` gives a few images by manifest row (figures, Grad-CAM): from the cache when the
dataset has one, else decoded from the files the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, default_collate

from acmnet.artifacts import Manifest, load_cache, pixel_digest
from acmnet.data.cache import decode_image, image_paths
from acmnet.io import UnreadableImageError


class ImageFiles(Dataset):
    """Image `i` of `paths`, decoded as the cache decodes it: (uint8 tensor (H, W, 3), pixel digest),
    or the reason it cannot be decoded (a string)."""

    def __init__(self, paths: Sequence[Path], size: tuple[int, int]):
        self.paths = [Path(p) for p in paths]
        self.size = (int(size[0]), int(size[1]))

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, str] | str:
        try:
            pixels = decode_image(self.paths[i], self.size)
        except (ValueError, FileNotFoundError) as exc:
            return str(exc)
        digest = pixel_digest(pixels)
        return torch.from_numpy(pixels if pixels.flags.writeable else pixels.copy()), digest


def _collate(items: list) -> tuple[torch.Tensor, list[str]] | list[str]:
    """A batch (stacked as the default collation does, into shared memory in a worker), or the
    reasons its unreadable images cannot be decoded."""
    broken = [item for item in items if isinstance(item, str)]
    if broken:
        return broken
    return default_collate([pixels for pixels, _ in items]), [digest for _, digest in items]


def image_batches(
    paths: Sequence[Path],
    size: tuple[int, int],
    batch_size: int,
    workers: int = 0,
    pin_memory: bool = False,
) -> Iterator[tuple[torch.Tensor, list[str]]]:
    """(uint8 (B, H, W, 3) pixels, their pixel digests) of `paths` in order, `batch_size` at a time."""
    if len(paths) == 0:
        return
    loader = DataLoader(
        ImageFiles(paths, size),
        batch_size=batch_size,
        shuffle=False,
        num_workers=max(0, int(workers)),
        collate_fn=_collate,
        pin_memory=pin_memory,
        prefetch_factor=4 if workers > 0 else None,
    )
    for batch in loader:
        if isinstance(batch, list):
            more = f" (and {len(batch) - 1} more in the same batch)" if len(batch) > 1 else ""
            raise UnreadableImageError(f"{batch[0]}{more}")
        yield batch


def stack_images(paths: Sequence[Path], size: tuple[int, int]) -> np.ndarray:
    """A few images (figures), decoded as the cache decodes them: uint8 (N, H, W, 3)."""
    if not len(paths):
        return np.zeros((0, *size, 3), dtype=np.uint8)
    return np.stack([decode_image(p, size) for p in paths])


def manifest_images(
    manifest: Manifest, cache_path: Path | None, root: Path | None, size: tuple[int, int]
) -> Callable[[Sequence[int]], np.ndarray]:
    """A function from manifest rows to their images, uint8 (n, H, W, 3): rows of the cache when one
    is given (it must have been built from `manifest`), else decoded from the files under `root` as
    the cache decodes them (figures of datasets that are not cached: a few images each)."""
    if cache_path is not None:
        cache = load_cache(Path(cache_path), manifest)
        cache_row = cache.rows_for(manifest.frame, str(manifest.path))
        return lambda rows: np.asarray(cache.array[cache_row[np.asarray(rows, dtype=np.int64)]])
    if root is None:
        raise ValueError(f"the images of {manifest.path}: give the image cache, or the dataset whose files to read")
    names = manifest.frame["image"].to_numpy()
    return lambda rows: stack_images(image_paths(Path(root), [names[int(r)] for r in rows]), size)
