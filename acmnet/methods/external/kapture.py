"""Form 2: kapture's `global_features.txt` and its `.gfeat` files (by name), with the header's dtype checked."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from acmnet.methods.external.matching import _by_name
from acmnet.methods.external.reader import ExternalDescriptorsError, Reader, _exists


def _header(path: str) -> Path:
    """The kapture `global_features.txt` of a kapture path (the txt itself, or its folder)."""
    return Path(path) if Path(path).suffix.lower() == ".txt" else Path(path) / "global_features.txt"


def _kapture_files(path: str) -> list[Path]:
    """A kapture path's `global_features.txt`, then every `.gfeat` below its folder (sorted)."""
    header = _header(path)
    return [header, *sorted(header.parent.rglob("*.gfeat"))]


def _kapture_header(header: Path) -> tuple[np.dtype, int]:
    """(dtype, dim) from the last non-comment line `<name>, <dtype>, <dim>, <metric>`."""
    lines = [s.strip() for s in _exists(header).read_text(encoding="utf-8-sig").splitlines()]
    lines = [s for s in lines if s and not s.startswith("#")]
    parts = [p.strip() for p in lines[-1].split(",")] if lines else []
    try:
        if len(parts) != 4:
            raise ValueError("expected 4 fields")
        dtype, dim = np.dtype(parts[1]), int(parts[2])
        if dtype.kind not in "fiu" or dim <= 0:
            raise ValueError(f"dtype {dtype} is not numeric or dim {dim} is not positive")
    except (ValueError, TypeError) as exc:
        raise ExternalDescriptorsError(
            f"{header}: its last non-comment line must be `<name>, <dtype>, <dim>, <metric>` "
            f"(e.g. `salad, float32, 8448, L2`), got {lines[-1] if lines else 'none'!r} ({exc})"
        ) from None
    return dtype, dim


def _load_kapture(path: Path) -> tuple[np.ndarray, list[str]]:
    header, *files = _kapture_files(str(path))
    dtype, dim = _kapture_header(header)
    folder = header.parent
    if not files:
        raise ExternalDescriptorsError(f"{folder} holds no `.gfeat` files (kapture form, beside {header.name})")
    rows = np.empty((len(files), dim), dtype=dtype)
    for i, file in enumerate(files):
        size = file.stat().st_size
        if size != dim * dtype.itemsize:
            raise ExternalDescriptorsError(
                f"{file} holds {size} bytes, not {dim} {dtype} values ({dim * dtype.itemsize} bytes) as {header} says"
            )
        rows[i] = np.fromfile(file, dtype=dtype, count=dim)
    _check_header_dtype(rows, header, files)
    return rows, [f.relative_to(folder).as_posix()[: -len(".gfeat")] for f in files]


ORDINARY = (1e-8, 1e8)  # |value| of every non-zero element of a descriptor read at its true dtype


def _ordinary(values: np.ndarray) -> bool:
    """Finite, and every non-zero |value| within ORDINARY and not subnormal at its dtype (as descriptors
    hold values; random bits read as floats are not all so, once there are a few dozen of them)."""
    magnitude = np.abs(values[values != 0]).astype(np.float64)
    low = max(ORDINARY[0], float(np.finfo(values.dtype).tiny))
    return bool(np.isfinite(magnitude).all() and ((magnitude >= low) & (magnitude <= ORDINARY[1])).all())


def _check_header_dtype(rows: np.ndarray, header: Path, files: list[Path]) -> None:
    """Refuse `.gfeat` values that show the header's dtype is not the one written: NaN, infinity or
    subnormal values at the header's float dtype, or values outside ORDINARY while the same bytes read
    as another float width (the same byte count, e.g. 16 float32 for 8 float64) are all ordinary."""
    dtype = rows.dtype
    if dtype.kind != "f":
        return
    odd = ~np.isfinite(rows)
    if dtype.itemsize >= 4:  # float16 descriptors may well hold subnormals (below 6.1e-5); wider ones never do
        odd |= (rows != 0) & (np.abs(rows) < np.finfo(dtype).tiny)
    if odd.any():
        row = int(np.flatnonzero(odd.any(axis=1))[0])
        raise ExternalDescriptorsError(
            f"{files[row]}: read as {dtype} (as {header} says), it holds NaN, infinite or subnormal values, which "
            "descriptors do not: the header's dtype may not be the one the tool wrote (check it and fix the "
            "header's line), or the tool wrote broken values"
        )
    if _ordinary(rows):
        return
    widths = [np.dtype(w) for w in (np.float16, np.float32, np.float64) if np.dtype(w) != dtype]
    views = [rows.view(w) for w in widths if rows.nbytes and (rows.shape[1] * dtype.itemsize) % w.itemsize == 0]
    ordinary = [v for v in views if _ordinary(v)]
    if ordinary:  # the one whose magnitudes spread least (random bits read as floats spread over decades)
        view = min(ordinary, key=_spread)
        raise ExternalDescriptorsError(
            f"{header} says {dtype}, {rows.shape[1]}, but read so the `.gfeat` values lie outside "
            f"{ORDINARY[0]:g} .. {ORDINARY[1]:g} in magnitude (e.g. {files[0]}), while the same bytes read as "
            f"{view.shape[1]} {view.dtype} values all lie within it: the header's dtype is probably wrong; fix its "
            f"line to `<name>, {view.dtype}, {view.shape[1]}, <metric>` if so"
        )


def _spread(values: np.ndarray) -> float:
    """Standard deviation of log10 |value| over the non-zero values."""
    magnitude = np.abs(values[values != 0]).astype(np.float64)
    return float(np.log10(magnitude).std()) if magnitude.size else 0.0


def _rows(path: str, ref_images: list[str], query_images: list[str]) -> tuple[np.ndarray, np.ndarray]:
    rows, names = _load_kapture(Path(path))
    return rows, _by_name(names, ref_images, query_images, path)


READER = Reader(files=_kapture_files, rows=_rows)
