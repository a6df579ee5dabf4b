"""Image cache: every image of a manifest decoded and resized once, as one uint8 array on disk.

`images.npy` has shape (N, H, W, 3), uint8, rows in `manifest.unique_images` order, and is read
memory-mapped, so training never decodes JPEG/PNG and never holds the dataset in RAM.
`images.json` beside it records the image list and size; it is written last, so a cache without
it is incomplete.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from acmnet.datasets import manifest as mf
from acmnet.io import atomic_path, atomic_write_text, load_rgb


def _meta_path(cache_path: Path) -> Path:
    return Path(cache_path).with_suffix(".json")


def build_cache(
    frame: pd.DataFrame,
    root: Path,
    out: Path,
    image_size: tuple[int, int],
    workers: int = 2,
    progress: bool = True,
) -> Path:
    """Decode and resize every distinct image of `frame` into `out` (.npy), streaming.

    Memory stays bounded: images are decoded a few at a time (threads; PIL releases the GIL)
    and written straight into the memory-mapped output.
    """
    images = mf.unique_images(frame)
    height, width = image_size
    root = Path(root)
    paths = [Path(p) if Path(p).is_absolute() else root / p for p in images]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        listed = ", ".join(str(p) for p in missing[:5])
        raise FileNotFoundError(
            f"{len(missing)} image(s) of the manifest are missing under {root} (first: {listed}); "
            "check the dataset root, or prepare the manifest again"
        )
    out = Path(out)
    with atomic_path(out) as tmp:
        array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(paths), height, width, 3))
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            decoded = pool.map(lambda p: load_rgb(p, (height, width)), paths)
            for i, img in enumerate(tqdm(decoded, total=len(paths), desc="cache", unit="img", disable=not progress)):
                array[i] = img
        array.flush()
        del array
    write_cache_meta(out, images, image_size, root)
    return out


def write_cache_meta(out: Path, images: list[str], image_size: tuple[int, int], root: Path) -> None:
    """Write the `.json` that completes cache `out` (its rows are `images`, in order)."""
    meta = {"images": list(images), "image_size": list(image_size), "root": str(root)}
    atomic_write_text(_meta_path(Path(out)), json.dumps(meta))


@dataclass
class ImageCache:
    """A built cache, memory-mapped: `array[i]` is image `images[i]`, uint8 (H, W, 3)."""

    array: np.ndarray
    images: list[str]

    @classmethod
    def open(cls, path: Path) -> "ImageCache":
        path = Path(path)
        meta_path = _meta_path(path)
        if not path.is_file() or not meta_path.is_file():
            raise FileNotFoundError(f"image cache {path} is missing or incomplete: run `acmnet cache` again")
        meta = json.loads(meta_path.read_text())
        array = np.load(path, mmap_mode="r")
        if array.shape[0] != len(meta["images"]):
            raise ValueError(f"image cache {path} holds {array.shape[0]} images but {meta_path} lists {len(meta['images'])}: rebuild it")
        return cls(array=array, images=meta["images"])

    def rows_for(self, frame: pd.DataFrame, source: str = "manifest") -> np.ndarray:
        """Cache row of each manifest row, int64 (len(frame),)."""
        index = {p: i for i, p in enumerate(self.images)}
        absent = [p for p in frame["image"] if p not in index]
        if absent:
            raise ValueError(
                f"{len(absent)} image(s) of {source} are not in the image cache (first: {absent[0]}): "
                "the cache was built from another manifest; rebuild it"
            )
        return np.array([index[p] for p in frame["image"]], dtype=np.int64)
