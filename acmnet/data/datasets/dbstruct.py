"""NetVLAD's dbStruct `.mat` files (Arandjelovic et al.): Pittsburgh 30k/250k and Tokyo 24/7 as
NetVLAD, its PyTorch ports (e.g. Nanne/pytorch-NetVlad), Patch-NetVLAD and MixVPR score them::

    <root>/<dbImage>                     the database images (e.g. 000/000000_pitch1_yaw1.jpg)
    <root>/queries_real/<qImage>         the query images (option `queries`)
    <root>/datasets/pitts30k_test.mat    the struct (option `mat`: pitts250k_test.mat, tokyo247.mat, ...;
                                         relative to the root, or absolute)

The ports (`parse_dbStruct`) read `scipy.io.loadmat(mat)["dbStruct"].item()` BY POSITION: 0 whichSet,
1 dbImage (a cell of paths), 2 utmDb (2, numDb), 3 qImage, 4 utmQ (2, numQ), 5 numDb, 6 numQ,
7 posDistThr (metres, 25), 8 posDistSqThr, 9 nonTrivPosDistSqThr. NetVLAD's own files store those
names, and scipy keeps them: we read the fields BY NAME where the file stores names (a struct whose
fields sit in another order is read right, where the ports would swap them), by position only
where it does not (a cell of 10 values); the caption says which. A 1x2 struct, a struct without
one of the first eight fields, a cell of another length, an empty, cut or v7.3 file: one line
naming the file.

Rows, in the ports' order (`images = dbImage + qImage`): train (the database images again: the
test struct has no training set, so its database is the training set unless a method's
`train_on` names another dataset), reference (condition `database`), query (condition `queries`),
each with its UTM `x`, `y`. A positional descriptor pair (database rows, then queries) lines up
with these rows. No route order (a city).

Ground truth (`listed`, written by `prepare`): a query's positives are the database images within
posDistThr metres of it (Euclidean in UTM, inclusive, as sklearn's `radius_neighbors` in the
ports' `getPositives`); a query without one stays in the denominator.

Refused, each naming the file and what to do: a missing `.mat`; a file without `dbStruct` or with
another number of fields; counts that disagree (numDb, the dbImage cell and utmDb's columns; the
same for queries); coordinates that are not finite numbers (the first bad image); a posDistThr
that is not a positive number; a missing image (the first one, with the count); an image path
(or the option `queries`) that is absolute or leaves the root (`base.inside`). The `.mat` is an input
of `prepare` by content wherever `mat` puts it (`files_read`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from acmnet.config import ConfigError
from acmnet.data.datasets.base import DatasetType, LayoutError, inside, require_images
from acmnet.data.manifest import COLUMNS, POSITION_COLUMNS, POSITIVES_COLUMN
from acmnet.data.positives import from_positions

FIELDS = (
    "whichSet",
    "dbImage",
    "utmDb",
    "qImage",
    "utmQ",
    "numDb",
    "numQ",
    "posDistThr",
    "posDistSqThr",
    "nonTrivPosDistSqThr",
)


class DbStructError(LayoutError):
    """The `.mat` file is not a NetVLAD dbStruct that fits the images; the message names the file."""


@dataclass
class DbStructOptions:
    mat: str = "datasets/pitts30k_test.mat"  # the struct file; relative to the root, or absolute
    queries: str = "queries_real"  # folder of the query images under the root

    def check(self, where: str) -> None:
        for key in ("mat", "queries"):
            if not str(getattr(self, key)).strip():
                raise ConfigError(f"{where}.{key} is empty: name the file or folder (default {key} of NetVLAD)")


@dataclass
class DbStruct:
    """The struct's fields that scoring needs, checked."""

    which_set: str
    database: list[str]
    database_xy: np.ndarray  # (numDb, 2) UTM metres
    queries: list[str]
    query_xy: np.ndarray  # (numQ, 2)
    positive_distance: float  # posDistThr, metres
    read: str = "by name"  # how the fields were found: `by name` (the file's names) or `by position`


def mat_path(root: Path, opts: DbStructOptions) -> Path:
    return Path(root) / opts.mat


def _paths(cell: Any, path: Path, field: str) -> list[str]:
    """A cell of paths as the ports read it: `[f[0].item() for f in cell]`."""
    try:
        out = [f[0].item() for f in cell]
    except (TypeError, IndexError, ValueError, AttributeError) as exc:
        raise DbStructError(
            f"{path}: dbStruct field {FIELDS.index(field)} ({field}) is not a cell of paths ({exc})"
        ) from None
    bad = next((i for i, p in enumerate(out) if not isinstance(p, str)), None)
    if bad is not None:
        raise DbStructError(f"{path}: {field} entry {bad} is {out[bad]!r}, not a path")
    return out


def _inside(images: list[str], folder: Path, path: Path, field: str) -> list[str]:
    """Every path of a cell inside `folder` (`base.inside`: not absolute, no `../` out of it)."""
    return [inside(image, folder, f"{path}, {field} entry {i}") for i, image in enumerate(images)]


def _count(value: Any, path: Path, field: str) -> int:
    try:
        return int(np.asarray(value).item())
    except (TypeError, ValueError) as exc:
        raise DbStructError(f"{path}: {field} is {value!r}, not a count ({exc})") from None


def _coordinates(value: Any, images: list[str], count: int, path: Path, field: str) -> np.ndarray:
    """(count, 2) UTM metres from a (2, count) field, as the ports' `.T`; refused when not finite numbers."""
    array = np.asarray(value)
    if array.dtype.kind not in "fiu":
        raise DbStructError(f"{path}: {field} holds {array.dtype} values, not UTM coordinates in metres")
    if array.shape != (2, count):
        raise DbStructError(
            f"{path}: {field} has shape {array.shape}, but {len(images)} images need (2, {count}) "
            "(easting and northing per image): the counts disagree"
        )
    xy = array.T.astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(xy).all(axis=1))
    if bad.size:
        raise DbStructError(f"{path}: {field} column {bad[0]} ({images[bad[0]]}) is {xy[bad[0]].tolist()}, not numbers")
    return xy


def _loadmat(path: Path) -> dict[str, Any]:
    """scipy.io.loadmat of `path`; every way a file fails to parse (empty, cut, v7.3, not a .mat) is
    one DbStructError naming the file."""
    from scipy.io import loadmat

    if not path.is_file():
        raise LayoutError(
            f"{path} does not exist: copy NetVLAD's dbStruct file (pitts30k_test.mat, pitts250k_test.mat, "
            "tokyo247.mat) there, or set the option `mat`"
        )
    try:
        return loadmat(path)
    except NotImplementedError:  # scipy's answer to a MATLAB v7.3 file, which is HDF5 inside
        raise DbStructError(
            f"{path} is a MATLAB v7.3 (HDF5) file, which scipy.io.loadmat cannot read: NetVLAD's dbStruct files "
            "are v5; save it again with MATLAB's `save(..., '-v7')`"
        ) from None
    except Exception as exc:  # a parser of any bytes: empty, cut or foreign files fail in many ways
        raise DbStructError(
            f"{path} cannot be read by scipy.io.loadmat ({type(exc).__name__}: {exc}): the file is empty, cut "
            "short or not a MATLAB .mat; copy it again"
        ) from None


def _fields(path: Path) -> tuple[dict[str, Any], str]:
    """({field name: value}, `by name` or `by position`): by the names the file stores where scipy
    keeps them (a MATLAB struct, 1x1), else by NetVLAD's positions (a cell of 10 values, no names)."""
    mat = _loadmat(path)
    if "dbStruct" not in mat:
        keys = [k for k in mat if not k.startswith("__")]
        raise DbStructError(f"{path} holds no `dbStruct` (variables: {', '.join(keys) or 'none'}): not a NetVLAD file")
    struct = mat["dbStruct"]
    names = getattr(getattr(struct, "dtype", None), "names", None)
    if names is not None:
        if struct.size != 1:
            shape = "x".join(map(str, struct.shape))
            raise DbStructError(
                f"{path}: dbStruct is a {shape} struct array, not one struct: NetVLAD's files hold one 1x1 dbStruct"
            )
        missing = [f for f in FIELDS[:8] if f not in names]
        if missing:
            raise DbStructError(
                f"{path}: dbStruct has no field {', '.join(missing)} (its fields: {', '.join(names)}): not a "
                f"NetVLAD dbStruct ({', '.join(FIELDS)})"
            )
        return {f: struct[f].item() for f in names}, "by name"
    fields = tuple(struct.ravel()) if isinstance(struct, np.ndarray) and struct.dtype == object else None
    if fields is None or len(fields) != len(FIELDS):
        n = len(fields) if fields is not None else "no"
        raise DbStructError(
            f"{path}: dbStruct has {n} fields, not NetVLAD's {len(FIELDS)} ({', '.join(FIELDS)}), read by position"
        )
    return dict(zip(FIELDS, fields)), "by position"


def read_struct(path: Path) -> DbStruct:
    """The struct at `path`, by name (or by position), with every refusal of the module docstring but the images'."""
    fields, read = _fields(path)
    database, queries = _paths(fields["dbImage"], path, "dbImage"), _paths(fields["qImage"], path, "qImage")
    num_db, num_q = _count(fields["numDb"], path, "numDb"), _count(fields["numQ"], path, "numQ")
    for images, count, name in ((database, num_db, "dbImage"), (queries, num_q, "qImage")):
        if len(images) != count:
            raise DbStructError(
                f"{path}: {name} lists {len(images)} images but {FIELDS[5 + (name == 'qImage')]} "
                f"says {count}: the counts disagree"
            )
    threshold = np.asarray(fields["posDistThr"])
    if threshold.dtype.kind not in "fiu" or threshold.size != 1 or not np.isfinite(threshold).all() or threshold <= 0:
        raise DbStructError(f"{path}: posDistThr is {threshold.squeeze().tolist()!r}, not a positive number of metres")
    return DbStruct(
        str(np.asarray(fields["whichSet"]).squeeze()),
        database,
        _coordinates(fields["utmDb"], database, num_db, path, "utmDb"),
        queries,
        _coordinates(fields["utmQ"], queries, num_q, path, "utmQ"),
        float(threshold.item()),
        read,
    )


def _read(root: Path, opts: DbStructOptions) -> tuple[DbStruct, list[str]]:
    """The struct and the query paths relative to the root, every image checked."""
    path = mat_path(root, opts)
    struct = read_struct(path)
    query_folder = inside(opts.queries, Path(root), f"the option `queries` of {path.name}")
    struct.database = _inside(struct.database, Path(root), path, "dbImage")
    queries = [f"{query_folder}/{q}" for q in _inside(struct.queries, Path(root) / query_folder, path, "qImage")]
    require_images(Path(root), struct.database, f"{path} (dbImage)")
    require_images(Path(root), queries, f"{path} (qImage, under {opts.queries}/)")
    return struct, queries


def files_read(root: Path, opts: DbStructOptions) -> list[Path]:
    """The `.mat` (an input of `prepare` by content, wherever `mat` puts it)."""
    return [mat_path(root, opts)]


def check_layout(root: Path, opts: DbStructOptions) -> None:
    _read(root, opts)


def _rows(images: list[str], xy: np.ndarray, role: str, condition: str, positives: list[str] | None) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "image": images,
            "role": role,
            "place": np.arange(len(images)),
            "condition": condition,
            "x": xy[:, 0],
            "y": xy[:, 1],
            POSITIVES_COLUMN: positives if positives is not None else "",
        }
    )


def prepare(root: Path, opts: DbStructOptions, name: str = "dbstruct") -> pd.DataFrame:
    """Manifest rows: train (= database), reference, then queries with their positives within posDistThr."""
    struct, queries = _read(root, opts)
    sets = from_positions(struct.query_xy, struct.database_xy, struct.positive_distance)
    positives = [" ".join(map(str, sets.of(q).tolist())) for q in range(sets.n_queries)]
    parts = [
        _rows(struct.database, struct.database_xy, "train", "database", None),
        _rows(struct.database, struct.database_xy, "reference", "database", None),
        _rows(queries, struct.query_xy, "query", "queries", positives),
    ]
    return pd.concat(parts, ignore_index=True)[[*COLUMNS, *POSITION_COLUMNS, POSITIVES_COLUMN]]


def ground_truth_note(root: Path, opts: DbStructOptions) -> str | None:
    """`within posDistThr = 25 m of pitts30k_test.mat`; None without the file."""
    path = mat_path(root, opts)
    if not path.is_file():
        return None
    struct = read_struct(path)
    return (
        f"within posDistThr = {struct.positive_distance:g} m of {path.name} (NetVLAD's dbStruct, fields read "
        f"{struct.read})"
    )


def protocol(opts: DbStructOptions) -> str:
    return (
        f"positives: database images within {Path(opts.mat).name}'s posDistThr of the query (UTM, inclusive), "
        "as NetVLAD's ports count them; database images double as the training set"
    )


def train_set(opts: DbStructOptions) -> str:
    """What a trained row trains on: the database images, which are the references themselves."""
    return "the database images, the references themselves (the places evaluated are the places trained on)"


DATASET = DatasetType(
    name="dbstruct",
    options=DbStructOptions,
    prepare=prepare,
    check_layout=check_layout,
    scoring="recall",
    protocol=protocol,
    train_set=train_set,
    ground_truth="listed",
    route_order=lambda o: False,
    ground_truth_note=ground_truth_note,
    files_read=files_read,
)
