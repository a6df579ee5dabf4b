"""Descriptors another tool computed, as a row of the results (`kind: external`).

A method of this kind has no describer: `read` takes the global descriptors that another tool
wrote (CosPlace, SALAD, MixVPR, ... run by VPR-methods-evaluation with `--save_descriptors`) and
hands them, in the manifest's order, to the suite's own retrieval, scoring, intervals and paired
tests, so those methods are reported beside ACM-Net on exactly the same queries.

Options: `descriptors` (per dataset a path, or {query set -> path}), `normalize` (default true:
L2-normalised rows) and `label`. Forms: 0, a VPR-methods-evaluation log folder (or either of its
two `.npy` files); 1, a `global_features.pickle`; 2, kapture (`global_features.txt` + `.gfeat`);
3, an `.npz` of `names` and `descriptors`, or an `.npy` with a `.txt` of names. Forms 0 and 1 are
positional: they cannot tell database rows from query rows, so the file must hold the database
rows first, then the query rows, in the dataset's own order; forms 2 and 3 are matched by name.
Pickles are read only by `acmnet.pickled.load_pickle`, which never runs code a file names.

Every form, its order, every refusal and the tool version that writes it: docs/external-descriptors.md
(the one description; keep it in step with `FORMS`, `FILES_READ` and `LOADERS`). Files read, by
content: `FILES_READ` lists, per form, every file its descriptors are read from; that list is the
describe step's Snakemake input, and `entry_digest` (name and sha256 of each file) is recorded in
the describe record, is the describe rule's params and is re-checked wherever the descriptors or a
retrieval made from them are loaded (`acmnet.artifacts.check_external_sources`). A new form joins
by one line in `FILES_READ` (and its loader in `LOADERS`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from acmnet.config import Config, ConfigError, closest_hint, digest_of
from acmnet.data.manifest import query_sets
from acmnet.methods.base import MethodKind
from acmnet.pickled import load_pickle

if TYPE_CHECKING:
    from torch import nn

    from acmnet.artifacts import Checkpoint, Manifest

FORMS = (
    "a VPR-methods-evaluation log folder (or its `database_descriptors.npy` / `queries_descriptors.npy`), "
    "a `global_features.pickle` (`.pickle`/`.pkl`), a kapture `global_features.txt` "
    "or its folder (a name without a suffix, or ending in `/`), an `.npz` with arrays `names` and "
    "`descriptors`, or an `.npy` with a `<same stem>.txt` of names beside it"
)
AGREE_RTOL = 1e-4  # database rows of two files agree when max |a - b| <= this x max |a|


class ExternalDescriptorsError(ValueError):
    """A descriptor file is missing, malformed or does not fit the manifest; the message names it."""


@dataclass
class ExternalOptions:
    """Options of a `kind: external` method (descriptors another tool computed)."""

    descriptors: dict[str, Any] = field(default_factory=dict)  # dataset -> path, or {query set -> path}
    normalize: bool = True  # L2-normalise every row (false: rows as given, inner-product retrieval)
    label: str | None = None  # the row's name in tables

    def check(self, where: str) -> None:
        self.descriptors = {str(k): _checked_entry(v, f"{where}.descriptors.{k}") for k, v in self.descriptors.items()}


def _checked_entry(value: Any, place: str) -> str | dict[str, str]:
    """A dataset's entry: a path, or a non-empty mapping of query set -> path (form known by name)."""
    if isinstance(value, str) and value:
        _form(value, place)
        return value
    if isinstance(value, dict) and value:
        for key, path in value.items():
            if not isinstance(path, str) or not path:
                raise ConfigError(f"{place}.{key} must be a path, got {path!r}")
            _form(path, f"{place}.{key}")
        return {str(k): v for k, v in value.items()}
    raise ConfigError(f"{place} must be a path or a mapping of query set name -> path, got {value!r}")


def _form(path: str, place: str) -> str:
    """`pair`, `pickle`, `npz`, `npy` or `kapture`, from the path's name (ConfigError for any other
    name); a folder holding a VPR-methods-evaluation pair is `pair`, any other folder `kapture`."""
    if pair_folder(path) is not None:
        return "pair"
    suffix = Path(path).suffix.lower()
    if suffix in (".pickle", ".pkl"):
        return "pickle"
    if suffix in (".npz", ".npy"):
        return suffix[1:]
    if suffix == ".txt" or not suffix or path.endswith(("/", "\\")):
        return "kapture"
    raise ConfigError(f"{place}: `{path}` is not a known form of descriptors; accepted: {FORMS}")


# ---- config ------------------------------------------------------------------------------


def _check(cfg: Config, name: str, options: ExternalOptions) -> None:
    """Every configured dataset has an entry, and every entry is a configured dataset."""
    where = f"methods.{name}.descriptors"
    for dataset in cfg.datasets:
        if dataset not in options.descriptors:
            raise ConfigError(
                f"{where} has no entry for dataset `{dataset}`: add `{where}.{dataset}: <path>` (a file "
                "of descriptors, or a mapping of query set -> file), or leave the dataset out of this run"
            )
    for key in options.descriptors:
        if key not in cfg.datasets:
            raise ConfigError(
                f"{where}.{key}: `{key}` is not a configured dataset{closest_hint(key, cfg.datasets)}; "
                f"configured: {', '.join(cfg.datasets)}"
            )


def _paths(options: ExternalOptions) -> list[str]:
    """Every path of `descriptors`, in config order, each once."""
    paths = [p for e in options.descriptors.values() for p in ([e] if isinstance(e, str) else e.values())]
    return list(dict.fromkeys(paths))


def _label(cfg: Config, name: str, options: ExternalOptions) -> str:
    label = options.label or f"external descriptors ({', '.join(_paths(options))})"
    return label if options.normalize else f"{label}; not normalised, inner-product retrieval"


def _build(cfg: Config, name: str, options: ExternalOptions, checkpoint: Checkpoint | None) -> nn.Module:
    raise ConfigError(f"methods.{name} reads descriptors another tool computed; it has no describer (no Grad-CAM)")


def _entry(options: ExternalOptions, dataset: str, name: str = "<method>") -> str | dict[str, str]:
    if dataset not in options.descriptors:
        raise ConfigError(
            f"methods.{name}.descriptors has no entry for dataset `{dataset}`"
            f"{closest_hint(dataset, options.descriptors)}: add `methods.{name}.descriptors.{dataset}: <path>`"
        )
    return options.descriptors[dataset]


def _header(path: str) -> Path:
    """The kapture `global_features.txt` of a kapture path (the txt itself, or its folder)."""
    return Path(path) if Path(path).suffix.lower() == ".txt" else Path(path) / "global_features.txt"


# ---- the files a form reads: the describe step's inputs, the record's digests, re-checked by readers ----


def _kapture_files(path: str) -> list[Path]:
    """A kapture path's `global_features.txt`, then every `.gfeat` below its folder (sorted)."""
    header = _header(path)
    return [header, *sorted(header.parent.rglob("*.gfeat"))]


# form -> the files its descriptors are read from. A new form adds its line here (and its loader to
# LOADERS): the describe step then takes those files as inputs, records their content digest and every
# reader of the descriptors re-checks it, so a file replaced under its old time is never scored.
FILES_READ: dict[str, Callable[[str], list[Path]]] = {
    "pickle": lambda path: [Path(path)],
    "npz": lambda path: [Path(path)],
    "npy": lambda path: [Path(path), Path(path).with_suffix(".txt")],
    "kapture": _kapture_files,
    "pair": lambda path: [pair_folder(path) / name for name in PAIR],
}


def files_read(path: str) -> list[Path]:
    """Every file the descriptors at `path` (a configured path) are read from, in a fixed order."""
    return FILES_READ[_form(path, path)](path)


@cache
def _file_digest(path: str, size: int, mtime_ns: int, ctime_ns: int, inode: int) -> str:
    """sha256 of a file's bytes, once per process for one state of the file (the change time, which
    no copy can set back, is part of the key)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()[:16]


def _contents(path: str) -> list[tuple[str, str]]:
    """(name relative to the path's folder, sha256 of its bytes) of every file `files_read` lists;
    ExternalDescriptorsError naming the first missing file."""
    out = []
    for file in files_read(path):
        try:
            stat = os.stat(file)
        except OSError:
            raise ExternalDescriptorsError(
                f"descriptor file {file} (read for `{path}`) does not exist: check the path in methods.*.descriptors"
            ) from None
        state = (stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)
        out.append((Path(os.path.relpath(file, Path(path).parent)).as_posix(), _file_digest(str(file), *state)))
    return out


def entry_digest(path: str) -> str:
    """Content digest of the descriptors at `path`: the name and bytes of every file they are read from."""
    return digest_of(_contents(path))


def _files(options: ExternalOptions, dataset: str) -> list[str]:
    """Every file `read` takes for `dataset` (the describe step's inputs)."""
    return [str(file) for path in _entry_paths(_entry(options, dataset)) for file in files_read(path)]


def _digests(options: ExternalOptions, dataset: str) -> dict[str, str]:
    """{configured path: `entry_digest`} of `dataset`'s entry (the describe record's sources)."""
    return {path: entry_digest(path) for path in _entry_paths(_entry(options, dataset))}


def _entry_paths(entry: str | dict[str, str]) -> list[str]:
    return list(dict.fromkeys([entry] if isinstance(entry, str) else entry.values()))


# ---- loading: (rows (N, D), names or None) ------------------------------------------------------


def _numeric_2d(obj: Any, path: Path, what: str) -> np.ndarray:
    """`obj` as a 2-d numeric array with at least one column, or refused naming `path`."""
    if not isinstance(obj, np.ndarray):
        raise ExternalDescriptorsError(f"{path}: {what} is a {type(obj).__name__}, not a 2-d array of descriptors")
    if obj.dtype.kind not in "fiu" or obj.ndim != 2 or obj.shape[1] == 0:
        raise ExternalDescriptorsError(
            f"{path}: {what} is a {obj.dtype} array of shape {obj.shape}, not a 2-d numeric array (rows, D)"
        )
    return obj


def _exists(path: Path) -> Path:
    if not path.exists():
        raise ExternalDescriptorsError(
            f"descriptor file {path} does not exist (check the path in methods.*.descriptors)"
        )
    return path


def _load_pickle(path: Path) -> tuple[np.ndarray, None]:
    return _numeric_2d(load_pickle(_exists(path)), path, "its pickled object"), None


def _load_npz(path: Path) -> tuple[np.ndarray, list[str]]:
    with np.load(_exists(path), allow_pickle=False) as arrays:
        missing = [k for k in ("names", "descriptors") if k not in arrays.files]
        if missing:
            raise ExternalDescriptorsError(
                f"{path} lacks array(s) {', '.join(missing)} (has {', '.join(arrays.files) or 'none'}); "
                "it needs `names` (one string per row) and `descriptors` (N, D)"
            )
        try:
            names, rows = arrays["names"], arrays["descriptors"]
        except ValueError as exc:  # an object array would need a pickle
            raise ExternalDescriptorsError(f"{path}: {exc}; save `names` as strings, not objects") from None
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


def _with_names(rows: np.ndarray, names: list[str], path: Path) -> tuple[np.ndarray, list[str]]:
    if len(names) != len(rows):
        raise ExternalDescriptorsError(f"{path} gives {len(names)} names for {len(rows)} descriptor rows")
    return rows, names


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
    header, *files = files_read(str(path))
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


LOADERS = {"pickle": _load_pickle, "npz": _load_npz, "npy": _load_npy, "kapture": _load_kapture}


# ---- VPR-methods-evaluation's master output: a log folder's database/queries pair ----------------

PAIR = ("database_descriptors.npy", "queries_descriptors.npy")  # main.py, --save_descriptors


def pair_folder(path: str) -> Path | None:
    """The log folder of a VPR-methods-evaluation pair that `path` names (either file of the pair,
    or a folder holding one of them); None for any other path."""
    candidate = Path(path)
    if candidate.name in PAIR:
        return candidate.parent
    return candidate if any((candidate / name).is_file() for name in PAIR) else None


def _load_pair_array(folder: Path, name: str) -> np.ndarray:
    path = folder / name
    if not path.is_file():
        other = PAIR[1 - PAIR.index(name)]
        raise ExternalDescriptorsError(
            f"{folder} holds {other} but not {name}: VPR-methods-evaluation's --save_descriptors writes both "
            "into the run's log folder; give that folder"
        )
    try:
        rows = np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise ExternalDescriptorsError(f"{path} is not a plain numeric .npy ({exc})") from None
    return _numeric_2d(rows, path, "its array")


def read_pair(path: str, ref_images: list[str], query_images: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(rows (R + Q, D), file row of each of `ref_images + query_images`) from a log folder's pair:
    the database rows then the query rows, by position; each block's count must be the manifest's."""
    folder = pair_folder(path)
    database, queries = (_load_pair_array(folder, name) for name in PAIR)
    n_refs, n_queries = len(dict.fromkeys(ref_images)), len(dict.fromkeys(query_images))
    if (len(database), len(queries)) != (n_refs, n_queries):
        raise ExternalDescriptorsError(
            f"{folder}: {PAIR[0]} holds {len(database)} rows and {PAIR[1]} {len(queries)}, but the manifest has "
            f"{n_refs} database and {n_queries} query images: the log folder belongs to another dataset or "
            "query folder (VPR-methods-evaluation writes one per run, one query folder each)"
        )
    if database.shape[1] != queries.shape[1]:
        raise ExternalDescriptorsError(
            f"{folder}: {PAIR[0]} has {database.shape[1]} columns and {PAIR[1]} {queries.shape[1]}: not one model's"
        )
    rows = np.concatenate([database, queries])
    return rows, _by_position(len(rows), ref_images, query_images, str(folder))


# ---- matching: file rows for the manifest's rows -----------------------------------------------


def _by_position(count: int, ref_images: list[str], query_images: list[str], path: str) -> np.ndarray:
    """File rows of a VPR-methods-evaluation pickle: the distinct references, then the distinct
    queries, each in manifest order (the order the `utm` and `vprbench` types share with that tool)."""
    refs, queries = list(dict.fromkeys(ref_images)), list(dict.fromkeys(query_images))
    if count != len(refs) + len(queries):
        raise ExternalDescriptorsError(
            f"{path} holds {count} rows, but the manifest has {len(refs)} reference and {len(queries)} query "
            f"images ({len(refs) + len(queries)} rows): the file belongs to another dataset or query set"
        )
    at = {im: i for i, im in enumerate(refs)}
    at_query = {im: len(refs) + j for j, im in enumerate(queries)}
    return np.array([at[im] for im in ref_images] + [at_query[im] for im in query_images], dtype=np.int64)


def _suffixes(path: str) -> list[str]:
    """`a/b/c.jpg` -> [`a/b/c.jpg`, `b/c.jpg`, `c.jpg`] (separators as `/`)."""
    parts = path.replace("\\", "/").split("/")
    return ["/".join(parts[k:]) for k in range(len(parts)) if parts[k:] != [""]]


def _matches(name: str, index: dict[str, list[str]], wanted: dict[str, str]) -> list[str]:
    """The images `name` matches: an image equal to it or ending with `/` + it, or one it ends with."""
    key = name.replace("\\", "/").removeprefix("./")
    hits = list(index.get(key, []))
    hits += [wanted[s] for s in _suffixes(key)[1:] if s in wanted]
    return list(dict.fromkeys(hits))


def _suffix_index(images: list[str]) -> dict[str, list[str]]:
    """Every ending (after a `/`) of every image path -> the images that end so."""
    index: dict[str, list[str]] = {}
    for im in images:
        for suffix in _suffixes(im):
            index.setdefault(suffix, []).append(im)
    return index


def _by_name(names: list[str], ref_images: list[str], query_images: list[str], path: str) -> np.ndarray:
    """File rows of named descriptors: every image exactly one row, every name exactly one image."""
    order = list(dict.fromkeys(ref_images + query_images))
    wanted = {im.replace("\\", "/"): im for im in order}
    index = _suffix_index(order)
    row_of: dict[str, int] = {}
    for i, name in enumerate(names):
        hits = _matches(name, index, wanted)
        if len(hits) != 1:
            what = "matches no" if not hits else f"matches {len(hits)} ({', '.join(hits[:3])})"
            raise ExternalDescriptorsError(
                f"{path}: `{name}` {what} reference or query image of the manifest; a name must equal an "
                f"image path or be its end after a `/` (e.g. `{order[0]}`), and name one image only"
            )
        if hits[0] in row_of:
            raise ExternalDescriptorsError(
                f"{path}: image {hits[0]} gets two rows (`{names[row_of[hits[0]]]}` and `{name}`)"
            )
        row_of[hits[0]] = i
    missing = next((im for im in order if im not in row_of), None)
    if missing is not None:
        raise ExternalDescriptorsError(
            f"{path} has no row for image {missing} ({len(names)} rows for {len(order)} reference and query images)"
        )
    return np.array([row_of[im] for im in ref_images + query_images], dtype=np.int64)


# ---- reading -----------------------------------------------------------------------------------


FLOAT32_MAX = float(np.finfo(np.float32).max)


def _power_of_two(largest: np.ndarray) -> np.ndarray:
    """Per row, the power of two dividing its values into [0.5, 1) in magnitude (1 for a zero row):
    dividing by it is exact, and no square of the result overflows or underflows float64."""
    return np.ldexp(1.0, np.frexp(largest)[1])


def _checked_rows(rows: np.ndarray, picks: np.ndarray, images: list[str], path: str, normalize: bool) -> np.ndarray:
    """rows[picks] as float32, L2-normalised in float64 when asked (each row scaled by `_power_of_two`
    first, so a finite row of any magnitude keeps its direction, bit for bit as without the scaling);
    refused, naming the first such row: non-finite values; with `normalize` an all-zero row; without
    it a value beyond float32's range, a non-zero row whose float32 values are all zero, or a norm
    whose square (the largest inner product) exceeds float32's range."""
    image_of = dict(zip(picks.tolist(), images))  # file row -> image

    def refuse(bad: np.ndarray, what: str) -> None:  # `{largest}`: that row's largest |value|
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ExternalDescriptorsError(f"{path}: row {row} ({image_of[row]}) " + what.format(largest=largest[row]))

    values = rows.astype(np.float64)
    largest = np.abs(values).max(axis=1)
    refuse(~np.isfinite(values).all(axis=1), "holds non-finite values")
    scale = _power_of_two(largest)
    if normalize:
        refuse(
            largest == 0,
            "is all zeros and cannot be L2-normalised (set the method's `normalize: false` to use the rows as given)",
        )
        scaled = values / scale[:, None]
        return (scaled / np.linalg.norm(scaled, axis=1, keepdims=True))[picks].astype(np.float32)
    as_given = "with `normalize: false` the rows are used as given, in float32: scale them, or set `normalize: true`"
    refuse(
        largest > FLOAT32_MAX,
        "holds a value beyond float32's range (|value| up to {largest:.3g}, float32 "
        f"ends at {FLOAT32_MAX:.3g}); {as_given}",
    )
    out = values.astype(np.float32)
    refuse(
        (largest > 0) & (np.abs(out).max(axis=1) == 0),
        "is all zeros in float32 (every |value| is below float32's smallest, 1.4e-45; its largest is "
        "{largest:.3g}); " + as_given,
    )
    norms = np.linalg.norm(values / scale[:, None], axis=1) * scale
    refuse(
        norms**2 > FLOAT32_MAX,
        f"has a norm whose square exceeds float32's range, so its inner products overflow; {as_given}",
    )
    return out[picks]


def read_file(
    path: str, ref_images: list[str], query_images: list[str], normalize: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """(reference, query) float32 rows from one file, in the order of `ref_images` and `query_images`."""
    if _form(path, path) == "pair":
        rows, picks = read_pair(path, ref_images, query_images)
    else:
        rows, names = LOADERS[_form(path, path)](Path(path))
        if names is None:
            picks = _by_position(len(rows), ref_images, query_images, path)
        else:
            picks = _by_name(names, ref_images, query_images, path)
    out = _checked_rows(rows, picks, ref_images + query_images, path, normalize)
    return out[: len(ref_images)], out[len(ref_images) :]


def _plan(entry: str | dict[str, str], frame: Any, query_rows: np.ndarray, where: str) -> list[tuple[str, np.ndarray]]:
    """(path, its query rows in manifest order) for each file of a dataset."""
    if isinstance(entry, str):
        return [(entry, query_rows)]
    sets = query_sets(frame)
    for key in entry:
        if key not in sets:
            raise ExternalDescriptorsError(
                f"{where}.{key}: the manifest has no query set `{key}`{closest_hint(key, sets)}; "
                f"its query sets: {', '.join(sets)}"
            )
    missing = [s for s in sets if s not in entry]
    if missing:
        raise ExternalDescriptorsError(
            f"{where} names no file for query set `{missing[0]}`: add `{where}.{missing[0]}: <path>`"
        )
    _distinct_files(entry, where)
    condition = frame["condition"].to_numpy()
    return [(entry[s], query_rows[condition[query_rows] == s]) for s in sets]


def _distinct_files(entry: dict[str, str], where: str) -> None:
    """Each query set's descriptors must differ from every other set's in their bytes: one file (or
    a copy of it) named for two sets would score the second set with the first set's rows."""
    first: dict[tuple[str, ...], str] = {}
    for query_set, path in entry.items():
        key = tuple(digest for _, digest in _contents(path))
        if key in first:
            other = first[key]
            same = "is the same file as" if path == entry[other] else "holds the same bytes as"
            raise ExternalDescriptorsError(
                f"{where}.{query_set}: {path} {same} {where}.{other} ({entry[other]}): each query set needs the "
                "descriptors of its own queries; give each set the file the tool wrote for it"
            )
        first[key] = query_set


def _same_database(first: np.ndarray, other: np.ndarray, first_path: str, other_path: str) -> None:
    """The database rows of two files of one dataset must agree (up to float noise)."""
    if first.shape != other.shape:
        raise ExternalDescriptorsError(
            f"{first_path} and {other_path} have database rows of different shapes ({first.shape} vs {other.shape})"
        )
    diff = float(np.abs(first - other).max()) if first.size else 0.0
    if diff > AGREE_RTOL * float(np.abs(first).max()):
        raise ExternalDescriptorsError(
            f"{first_path} and {other_path} hold different database rows (max difference {diff:.3g}): "
            "they were not made by the same model on the same database"
        )


def _read(
    cfg: Config, name: str, options: ExternalOptions, dataset: str, manifest: Manifest
) -> tuple[np.ndarray, np.ndarray]:
    """(reference (R, D), query (Q, D)) float32, in the manifest's order of reference and query rows."""
    frame = manifest.frame
    images = frame["image"].astype(str).tolist()
    ref_rows, query_rows = manifest.rows("reference"), manifest.rows("query")
    ref_images = [images[i] for i in ref_rows]
    plan = _plan(_entry(options, dataset, name), frame, query_rows, f"methods.{name}.descriptors.{dataset}")
    reference, first_path, query = None, "", None
    for path, rows in plan:
        ref, part = read_file(path, ref_images, [images[i] for i in rows], options.normalize)
        if reference is None:
            reference, first_path = ref, path
            query = np.empty((len(query_rows), ref.shape[1]), dtype=np.float32)
        else:
            _same_database(reference, ref, first_path, path)
        query[np.isin(query_rows, rows)] = part
    return reference, query


METHOD = MethodKind(
    kind="external",
    options=ExternalOptions,
    build=_build,
    label=_label,
    trains=False,
    uses_gpu=False,
    check=_check,
    read=_read,
    files=_files,
    digests=_digests,
)
