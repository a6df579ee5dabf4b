"""Image lists as SALAD and CliqueMining evaluate with them (`type: image_lists`).

Their repositories ship, per evaluation set (`datasets/<Name>/`: Nordland, SPED, Pittsburgh),
three files that their loaders (`dataloaders/val/<Name>Dataset.py`) read::

    <lists>/<Name>_dbImages.npy   reference image paths, relative to the dataset root (ref/0000000.jpg)
    <lists>/<Name>_qImages.npy    query image paths (query/0000000.jpg)
    <lists>/<Name>_gt.npy         per query, its positive reference positions: an object array of
                                  integer arrays (Nordland) or a plain (Q, n) integer array (SPED)

Options: `lists`, the folder of the three files (relative to the root, or absolute; default the
root itself); `name`, the `<Name>` prefix (default: the one `*_dbImages.npy` in that folder);
`route_order` (default false; true for a drive such as Nordland: sequence matching and block
resampling need it).

Rows, in the order the loaders stack them (`np.concatenate((dbImages, qImages))`, references
first): train (the references again: these are evaluation sets, so the references are the
training set unless a method's `train_on` names another dataset), reference (condition
`database`), query (condition `queries`, each with its `positives`: the listed positions, sorted,
each once). A query whose positives row is empty has no positive and stays in the recall
denominator, counted as VPR-Bench counts a `-1` row (never correct).

Read with `acmnet.pickled.load_npy` (arrays, lists and integers only). Refused, naming the file and
the first bad entry: a missing file; paths that are not a 1-d array of strings; a path that is
absolute or leaves the root (`..`); a path listed twice; a ground truth whose row count differs
from the queries'; a positive that is not an integer or lies outside the references; a missing
image (the first one, with the count).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from acmnet.config import ConfigError
from acmnet.data.datasets.base import DatasetType, LayoutError, listed_rows, listing, require_images
from acmnet.data.datasets.vprbench import as_indices
from acmnet.data.manifest import COLUMNS, POSITIVES_COLUMN
from acmnet.pickled import UnsafePickleError, load_npy

SUFFIXES = ("_dbImages.npy", "_qImages.npy", "_gt.npy")
SOURCE = "SALAD's or CliqueMining's datasets/<Name>/ (github.com/serizba/salad, serizba/cliquemining)"


class ImageListError(LayoutError):
    """The list files do not describe the images on disk; the message names the file and entry."""


@dataclass
class ImageListsOptions:
    lists: str | None = None  # folder of the three .npy files; relative to the root, or absolute; None: the root
    name: str | None = None  # the <Name> of <Name>_dbImages.npy ...; None: the only one in the folder
    route_order: bool = False  # true only when the lists are frames of one drive (Nordland)

    def check(self, where: str) -> None:
        for key in ("lists", "name"):
            value = getattr(self, key)
            if value is not None and not value.strip():
                raise ConfigError(f"{where}.{key} is empty: give a value, or leave it out")


@dataclass
class ImageLists:
    """The three files, checked: reference and query paths, each query's positives."""

    references: list[str]
    queries: list[str]
    positives: list[list[int]]
    name: str


def _folder(root: Path, opts: ImageListsOptions) -> Path:
    return Path(root) if opts.lists is None else Path(root) / opts.lists


def _name(folder: Path, opts: ImageListsOptions) -> str:
    if opts.name is not None:
        return opts.name
    found = sorted(p.name.removesuffix(SUFFIXES[0]) for p in folder.glob(f"*{SUFFIXES[0]}"))
    if len(found) != 1:
        what = f"{len(found)} lists ({listing(found)})" if found else f"no *{SUFFIXES[0]}"
        raise LayoutError(
            f"{folder} holds {what}: set the option `name` to the <Name> of the three files "
            f"(<Name>{SUFFIXES[0]}, ...), copied from {SOURCE}"
        )
    return found[0]


def files_read(root: Path, opts: ImageListsOptions) -> list[Path]:
    """The three list files (inputs of `prepare` by content, wherever `lists` puts them); none while
    the folder does not name them yet (`prepare` then says what is missing)."""
    folder = _folder(root, opts)
    try:
        name = _name(folder, opts)
    except LayoutError:
        return []
    return [folder / f"{name}{suffix}" for suffix in SUFFIXES]


def _load(path: Path) -> np.ndarray:
    if not path.is_file():
        raise LayoutError(
            f"{path} does not exist: copy the three files of {SOURCE} into {path.parent}, or set the options "
            "`lists` (their folder) and `name`"
        )
    try:
        return load_npy(path)
    except UnsafePickleError:
        raise
    except (ValueError, OSError) as exc:
        raise ImageListError(f"{path} cannot be read as a .npy file ({exc}): copy it again from {SOURCE}") from exc


def _paths(path: Path) -> list[str]:
    """A 1-d array of relative paths, each inside the root and listed once."""
    array = _load(path)
    if array.ndim != 1 or array.dtype.kind not in "US" or not len(array):
        raise ImageListError(f"{path} holds a {array.dtype} array of shape {array.shape}, not a 1-d array of paths")
    paths = [p.decode() if isinstance(p, bytes) else str(p) for p in array.tolist()]
    seen: dict[str, int] = {}
    for i, p in enumerate(paths):
        normal = posixpath.normpath(p.replace("\\", "/"))
        if p.startswith(("/", "\\")) or (len(p) > 1 and p[1] == ":") or normal == ".." or normal.startswith("../"):
            raise ImageListError(
                f"{path}, entry {i}: {p!r} is not a path inside the dataset root (absolute, or leaving it by '..'); "
                "the lists name images relative to the root"
            )
        if p in seen:
            raise ImageListError(f"{path}, entries {seen[p]} and {i}: {p!r} is listed twice")
        seen[p] = i
    return paths


def _positives(path: Path, n_queries: int, n_references: int) -> list[list[int]]:
    """Per query, its positive reference positions (sorted, each once; empty: no positive)."""
    array = _load(path)
    if array.ndim not in (1, 2) or len(array) != n_queries:
        raise ImageListError(
            f"{path} holds {array.shape} rows for the {n_queries} queries of the query list: one positives row per "
            "query is needed; the files are of different releases"
        )
    out = []
    for i, entry in enumerate(array):
        indices = as_indices(entry)
        if indices is None:
            raise ImageListError(f"{path}, row {i}: the positives are not an integer or a list of integers")
        bad = next((p for p in indices if not 0 <= p < n_references), None)
        if bad is not None:
            raise ImageListError(
                f"{path}, row {i}: positive {bad} is outside the {n_references} references (0..{n_references - 1})"
            )
        out.append(sorted(set(indices)))
    return out


def read_lists(root: Path, opts: ImageListsOptions) -> ImageLists:
    """The three files, checked against each other and against the images under `root`."""
    folder = _folder(root, opts)
    name = _name(folder, opts)
    references = _paths(folder / f"{name}{SUFFIXES[0]}")
    queries = _paths(folder / f"{name}{SUFFIXES[1]}")
    positives = _positives(folder / f"{name}{SUFFIXES[2]}", len(queries), len(references))
    require_images(Path(root), references, str(folder / f"{name}{SUFFIXES[0]}"))
    require_images(Path(root), queries, str(folder / f"{name}{SUFFIXES[1]}"))
    return ImageLists(references, queries, positives, name)


def check_layout(root: Path, opts: ImageListsOptions) -> None:
    """The three files are there and agree, and every image they list is under the root."""
    read_lists(root, opts)


def prepare(root: Path, opts: ImageListsOptions, name: str = "image_lists") -> pd.DataFrame:
    """Manifest rows: train (= references), reference, then the queries with their positives."""
    lists = read_lists(root, opts)
    rows = (
        listed_rows(lists.references, "train", "database")
        + listed_rows(lists.references, "reference", "database")
        + listed_rows(lists.queries, "query", "queries", lists.positives)
    )
    return pd.DataFrame(rows, columns=[*COLUMNS, POSITIVES_COLUMN])


def ground_truth_note(root: Path, opts: ImageListsOptions) -> str | None:
    """`positives as listed in SPED_gt.npy (2 queries without one)`; None without the files."""
    try:
        folder = _folder(root, opts)
        name = _name(folder, opts)
        gt = _load(folder / f"{name}{SUFFIXES[2]}")
    except LayoutError:
        return None
    empty = sum(1 for entry in gt if not as_indices(entry))
    return f"positives as listed in {name}{SUFFIXES[2]}" + (f" ({empty} queries without one)" if empty else "")


def protocol(opts: ImageListsOptions) -> str:
    return (
        "references, queries and positives as SALAD/CliqueMining list them (<Name>_dbImages, _qImages, "
        "_gt .npy); references double as the training set"
    )


def train_set(opts: ImageListsOptions) -> str:
    """What a trained row trains on (the manifest's `train` rows)."""
    return "the database images of the lists, the references themselves (the places evaluated are trained on)"


DATASET = DatasetType(
    name="image_lists",
    options=ImageListsOptions,
    prepare=prepare,
    check_layout=check_layout,
    scoring="recall",
    protocol=protocol,
    train_set=train_set,
    files_read=files_read,
    ground_truth="listed",
    route_order=lambda o: o.route_order,
    ground_truth_note=ground_truth_note,
)
