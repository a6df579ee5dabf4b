"""Form 3: an `.npz` of `names` and `descriptors`, or an `.npy` with a `<same stem>.txt` of names (by name)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from acmnet.io import read_npz
from acmnet.methods.external.matching import _by_name
from acmnet.methods.external.reader import ExternalDescriptorsError, Reader, _exists, _numeric_2d, _with_names


def _load_npz(path: Path) -> tuple[np.ndarray, list[str]]:
    arrays = read_npz(_exists(path), "save `names` as strings (not objects) and `descriptors` as numbers")
    missing = [k for k in ("names", "descriptors") if k not in arrays]
    if missing:
        raise ExternalDescriptorsError(
            f"{path} lacks array(s) {', '.join(missing)} (has {', '.join(arrays) or 'none'}); "
            "it needs `names` (one string per row) and `descriptors` (N, D)"
        )
    names, rows = arrays["names"], arrays["descriptors"]
    if names.dtype.kind not in "US" or names.ndim != 1:
        raise ExternalDescriptorsError(
            f"{path}: `names` must be a 1-d array of strings, got {names.dtype} {names.shape}"
        )
    names_list = [n.decode() if isinstance(n, bytes) else str(n) for n in names.tolist()]
    return _with_names(_numeric_2d(rows, path, "`descriptors`"), names_list, path)


def _load_npy(path: Path) -> tuple[np.ndarray, list[str]]:
    names_path = path.with_suffix(".txt")
    try:
        rows = np.load(_exists(path), allow_pickle=False)
    except ValueError as exc:
        raise ExternalDescriptorsError(f"{path} is not a plain numeric .npy ({exc})") from None
    if not names_path.is_file():
        raise ExternalDescriptorsError(f"{path} needs {names_path} beside it, listing one image name per row")
    names = [line.strip() for line in names_path.read_text(encoding="utf-8-sig").splitlines() if line.strip()]
    return _with_names(_numeric_2d(rows, path, "its array"), names, names_path)


def _named(load: Callable[[Path], tuple[np.ndarray, list[str]]]) -> Callable[..., tuple[np.ndarray, np.ndarray]]:
    def rows(path: str, ref_images: list[str], query_images: list[str]) -> tuple[np.ndarray, np.ndarray]:
        values, names = load(Path(path))
        return values, _by_name(names, ref_images, query_images, path)

    return rows


NPZ_READER = Reader(files=lambda path: [Path(path)], rows=_named(_load_npz))
NPY_READER = Reader(files=lambda path: [Path(path), Path(path).with_suffix(".txt")], rows=_named(_load_npy))
