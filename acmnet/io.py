"""Small I/O helpers shared by every step: atomic writes, folder listing and image decoding.

* `atomic_path` / `atomic_write_text`: outputs appear under their final name only when complete.
* `list_files` / `list_folders`: what a dataset folder holds, without sidecar and hidden entries
  (`._*` AppleDouble files, `.DS_Store`, `Thumbs.db`, `desktop.ini`, any name starting with a
  dot): every dataset module lists folders through them, so such files are never taken for images.
* `load_rgb`: any image as RGB uint8; 16-bit and other high-bit-depth images are scaled to 8 bit
  by the range of their type (65535 -> 255), never clipped.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.

    The temporary name keeps the suffix, so writers that pick a format from it (numpy, PIL,
    matplotlib) still work. A failure removes the temporary file, so nothing half-written is
    ever left under the final name.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder: give the path of the file to write")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; outputs are ordinary files
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def atomic_write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


# ---- listing dataset folders ---------------------------------------------------------------

SIDECAR_NAMES = frozenset({"thumbs.db", "ehthumbs.db", "desktop.ini"})
"""Names (lower case) of files that operating systems drop into folders; never images."""


def is_sidecar(name: str) -> bool:
    """True for hidden and sidecar entries: a leading dot (`.DS_Store`, `._x.jpg`), `Thumbs.db`, ..."""
    return name.startswith(".") or name.lower() in SIDECAR_NAMES


def list_files(folder: Path) -> list[str]:
    """Names of the regular files directly inside `folder`, sorted, sidecar and hidden ones left out.

    The one way dataset modules list a folder of images. Raises NotADirectoryError naming the
    folder when it does not exist.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder} is not a folder")
    with os.scandir(folder) as entries:
        return sorted(e.name for e in entries if not is_sidecar(e.name) and e.is_file())


def list_folders(folder: Path) -> list[str]:
    """Names of the subfolders directly inside `folder`, sorted, hidden ones left out."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    with os.scandir(folder) as entries:
        return sorted(e.name for e in entries if not is_sidecar(e.name) and e.is_dir())


# ---- decoding images -------------------------------------------------------------------------

_HIGH_DEPTH_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")


def _declared_bits(img: Image.Image) -> int | None:
    """Bits per sample the file declares for an `I`-mode image (PNG: at most 16; TIFF: its tag)."""
    if img.format == "PNG":
        return 16
    tags = getattr(img, "tag_v2", None)
    bits = tags.get(258) if tags is not None else None
    if isinstance(bits, tuple):
        bits = bits[0] if bits else None
    return int(bits) if bits else None


def _full_scale(img: Image.Image, values: np.ndarray, path: Path) -> float:
    """The value that maps to 255: the top of the sample type's range."""
    if img.mode.startswith("I;16"):
        return 65535.0
    if img.mode == "F":
        top = float(np.nanmax(values)) if values.size else 0.0
        if top <= 1.0:
            return 1.0
        if top <= 255.0:
            return 255.0
        raise ValueError(
            f"image {path} holds floating-point values up to {top:g} (expected 0..1 or 0..255): "
            "convert it to an 8- or 16-bit image"
        )
    bits = _declared_bits(img)
    if bits is None:
        bits = 16 if values.size == 0 or int(values.max()) <= 65535 else 32
    return float(2 ** (bits - 1) - 1 if bits == 32 else 2**bits - 1)


def to_8bit(img: Image.Image, path: Path) -> Image.Image:
    """`img` with 16-bit, 32-bit integer and float samples scaled to 8 bit (grey, mode L).

    Scaling is by the type's range (65535 -> 255 for 16 bit), rounded, clipped at 0; other modes
    are returned as they are (PIL already gives 8-bit samples for 16-bit RGB PNGs).
    """
    if img.mode not in _HIGH_DEPTH_MODES:
        return img
    values = np.asarray(img).astype(np.float64)
    scale = 255.0 / _full_scale(img, values, path)
    grey = np.clip(np.rint(np.nan_to_num(values) * scale), 0, 255).astype(np.uint8)
    return Image.fromarray(grey, "L")


def load_rgb(path: Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """Decode an image as RGB uint8, shape (H, W, 3); resized (no crop) to `size` = (H, W).

    High-bit-depth images (16-bit PNG `I;16`/`I;16B`, `I`, float `F`) are scaled to 8 bit by
    their type's range (`to_8bit`). Raises FileNotFoundError / ValueError naming the file when it
    is missing, undecodable, or larger than Pillow's decompression-bomb limit.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image {path} does not exist")
    try:
        with Image.open(path) as img:
            img = to_8bit(img, path).convert("RGB")
            if size is not None and img.size != (size[1], size[0]):
                img = img.resize((size[1], size[0]), Image.BILINEAR, reducing_gap=3.0)
            return np.asarray(img, dtype=np.uint8)
    except Image.DecompressionBombError as exc:
        raise ValueError(
            f"image {path} is refused by Pillow as a possible decompression bomb ({exc}); if it is a genuine "
            "image, shrink it below that size, or remove it"
        ) from exc
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ValueError(f"image {path} cannot be decoded ({exc}); replace or remove it") from exc
