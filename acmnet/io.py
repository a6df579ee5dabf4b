"""Small I/O helpers shared by every step: atomic writes, folder listing and image decoding.

* `atomic_path` / `atomic_write_text`: outputs appear under their final name only when complete.
* `list_files` / `list_folders`: what a dataset folder holds, without sidecar and hidden entries
  (`._*` AppleDouble files, `.DS_Store`, `Thumbs.db`, `desktop.ini`, any name starting with a
  dot): every dataset module lists folders through them, so such files are never taken for images.
* `load_rgb`: any image as RGB uint8, turned upright as its EXIF orientation says (as a viewer
  shows it); 16-bit and other high-bit-depth images are scaled to 8 bit by the range of their type
  (65535 -> 255), never clipped. A path that is not a readable image file (a broken link, a
  folder, a device, text under an image name) is an error naming it, never skipped.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import sys
import tempfile
import threading
import warnings
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

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


# ---- room on disk ---------------------------------------------------------------------------


class NoSpaceError(OSError):
    """A file system has no room for a file about to be written; the message names the folder."""


def reserve(path: Path, nbytes: int, what: str) -> None:
    """Allocate `nbytes` for the existing file `path` now, before it is written through a memory map
    (where a full disk is a `Bus error` that kills the process, leaving its temporaries behind):
    the free space is checked first, then the blocks are allocated (`posix_fallocate`, where the
    file system supports it). No room: NoSpaceError "no space left on <folder>" naming `what`."""
    folder = Path(path).parent
    free = shutil.disk_usage(folder).free
    if nbytes > free + os.stat(path).st_blocks * 512:  # the blocks it holds already count as room
        raise NoSpaceError(
            errno.ENOSPC,
            f"no space left on {folder}: {what} need {nbytes:,} bytes and {free:,} are free; free some space "
            "or write the results elsewhere (results_dir)",
        )
    if not hasattr(os, "posix_fallocate") or nbytes == 0:
        return
    fd = os.open(path, os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, nbytes)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise NoSpaceError(
                errno.ENOSPC, f"no space left on {folder}: {what} need {nbytes:,} bytes; free some space"
            ) from None
        if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
            raise
    finally:
        os.close(fd)


# ---- reading .npz files -------------------------------------------------------------------


class UnreadableFileError(ValueError):
    """A file cut short, or not of the format its reader expects; the message names it (one line)."""


NPZ_READ_ERRORS = (zipfile.BadZipFile, EOFError, zlib.error, OSError, ValueError)
"""What numpy raises for an `.npz` that is cut short (`BadZipFile`, `EOFError`, `zlib.error`),
unreadable (`OSError`) or holds object arrays (`ValueError`)."""


def read_npz(path: Path, fix: str) -> dict[str, np.ndarray]:
    """Every array of an `.npz`, read whole (no pickles): a file cut short shows at once, not at the
    first member read. Any failure is an UnreadableFileError naming the file, what numpy said and
    `fix` (what to do)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except NPZ_READ_ERRORS as exc:
        raise UnreadableFileError(
            f"{path} cannot be read as an .npz ({type(exc).__name__}: {exc}): it is cut short or not an .npz; {fix}"
        ) from None


# ---- listing dataset folders ---------------------------------------------------------------

SIDECAR_NAMES = frozenset({"thumbs.db", "ehthumbs.db", "desktop.ini"})
"""Names (lower case) of files that operating systems drop into folders; never images."""


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp")
"""File name extensions (lower case) of images: an entry named so must be a readable image file."""


class UnreadableImageError(ValueError):
    """A path named as an image is not a readable image file; the message names it and what to do."""


def image_file_problem(path: Path) -> str | None:
    """Why `path` cannot be read as an image file (a sentence naming it and what to do), or None."""
    path = Path(path)
    if path.is_symlink() and not path.exists():
        return (
            f"image {path} is a broken symbolic link (to {os.readlink(path)}, which does not exist): "
            "restore the file it points to, or remove the link"
        )
    if not path.exists():
        return f"image {path} does not exist"
    if path.is_dir():
        return f"image {path} is a folder, not an image file: move it out of the image folder, or rename it"
    if not path.is_file():
        return (
            f"image {path} is not a regular file (a device, pipe or socket): replace it with the image "
            "file, or remove it"
        )
    return None


def is_sidecar(name: str) -> bool:
    """True for hidden and sidecar entries: a leading dot (`.DS_Store`, `._x.jpg`), `Thumbs.db`, ..."""
    return name.startswith(".") or name.lower() in SIDECAR_NAMES


def list_files(folder: Path) -> list[str]:
    """Names of the regular files directly inside `folder`, sorted, sidecar and hidden ones left out.

    The one way dataset modules list a folder of images. Raises NotADirectoryError naming the
    folder when it does not exist, and UnreadableImageError naming an entry with an image
    extension that is not a regular file (a broken link, a folder, a device): never a silently
    smaller set of images.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder} is not a folder")
    with os.scandir(folder) as entries:
        kept = [(e.name, e.is_file()) for e in entries if not is_sidecar(e.name)]
    bad = sorted(name for name, regular in kept if not regular and Path(name).suffix.lower() in IMAGE_SUFFIXES)
    if bad:
        more = f" ({len(bad) - 1} more such entries in {folder})" if len(bad) > 1 else ""
        raise UnreadableImageError(f"{image_file_problem(folder / bad[0])}{more}")
    return sorted(name for name, regular in kept if regular)


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


def _full_scale(img: Image.Image, values: np.ndarray, path: Path, source: Image.Image) -> float:
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
    bits = _declared_bits(source)
    if bits is None:
        bits = 16 if values.size == 0 or int(values.max()) <= 65535 else 32
    return float(2 ** (bits - 1) - 1 if bits == 32 else 2**bits - 1)


def to_8bit(img: Image.Image, path: Path, source: Image.Image | None = None) -> Image.Image:
    """`img` with 16-bit, 32-bit integer and float samples scaled to 8 bit (grey, mode L).

    Scaling is by the type's range (65535 -> 255 for 16 bit), rounded, clipped at 0; other modes
    are returned as they are (PIL already gives 8-bit samples for 16-bit RGB PNGs). `source`: the
    opened file whose format and tags declare the bit depth, when `img` is a copy of it.
    """
    if img.mode not in _HIGH_DEPTH_MODES:
        return img
    values = np.asarray(img).astype(np.float64)
    scale = 255.0 / _full_scale(img, values, path, source or img)
    grey = np.clip(np.rint(np.nan_to_num(values) * scale), 0, 255).astype(np.uint8)
    return Image.fromarray(grey, "L")


_ORIENTATION = 0x0112  # EXIF tag: how the stored pixels turn to show the image upright
_OPEN_LOCK = threading.Lock()  # warning filters are process-wide: one thread changes them at a time
_TOLD_LARGE: set[str] = set()


def _open(path: Path) -> Image.Image:
    """`Image.open` with Pillow's DecompressionBombWarning replaced by one plain line per file."""
    with _OPEN_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        img = Image.open(path)
        limit, (width, height) = Image.MAX_IMAGE_PIXELS, img.size
        tell = limit is not None and width * height > limit and str(path) not in _TOLD_LARGE
        if tell:
            _TOLD_LARGE.add(str(path))
    if tell:
        print(
            f"warning: image {path} is {width}x{height} pixels ({width * height / 1e6:.0f} megapixels), more "
            f"than the {limit / 1e6:.0f} megapixels Pillow expects of an image: decoding it takes much memory; "
            "if it is not meant to be this large, shrink it",
            file=sys.stderr,
        )
    return img


def _upright(img: Image.Image) -> Image.Image:
    """`img` turned as its EXIF orientation tag says, as a viewer shows it (no copy when upright)."""
    if img.getexif().get(_ORIENTATION, 1) in (1, None):
        return img
    return ImageOps.exif_transpose(img)


def _undecodable(path: Path, exc: BaseException) -> str:
    """Why `path` cannot be decoded, in words: an empty file, text under an image name, or Pillow's reason."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
    except OSError:
        return f"image {path} cannot be read ({exc}); check its permissions, or replace or remove it"
    if not head:
        return f"image {path} cannot be decoded: the file is empty (0 bytes); replace it with the image, or remove it"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    if text and all(c.isprintable() or c.isspace() for c in text):
        return (
            f"image {path} cannot be decoded: it holds text, not an image (it starts {text.strip()[:24]!r}; "
            "an error page saved under an image name?); replace it with the image file, or remove it"
        )
    return f"image {path} cannot be decoded ({exc}); replace or remove it"


def load_rgb(path: Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """Decode an image as RGB uint8, shape (H, W, 3); resized (no crop) to `size` = (H, W).

    The image is first turned upright as its EXIF orientation says (as a viewer shows it).
    High-bit-depth images (16-bit PNG `I;16`/`I;16B`, `I`, float `F`) are scaled to 8 bit by
    their type's range (`to_8bit`). Raises FileNotFoundError naming a missing file, and
    ValueError naming a file that is not a readable image (a broken link, a folder, a device,
    text), undecodable, or over twice Pillow's decompression-bomb limit; over the limit itself it
    prints one plain warning line per file instead of Pillow's DecompressionBombWarning.
    """
    path = Path(path)
    problem = image_file_problem(path)
    if problem is not None:
        missing = not path.exists() and not path.is_symlink()
        raise (FileNotFoundError if missing else UnreadableImageError)(problem)
    try:
        with _open(path) as opened:
            img = to_8bit(_upright(opened), path, opened).convert("RGB")
            if size is not None and img.size != (size[1], size[0]):
                img = img.resize((size[1], size[0]), Image.BILINEAR, reducing_gap=3.0)
            return np.asarray(img, dtype=np.uint8)
    except Image.DecompressionBombError as exc:
        raise ValueError(
            f"image {path} is refused by Pillow as a possible decompression bomb ({exc}); if it is a genuine "
            "image, shrink it below that size, or remove it"
        ) from exc
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ValueError(_undecodable(path, exc)) from exc
