"""MSLS-val as MixVPR, SALAD, BoQ and OpenVPRLab score it (Mapillary Street-Level Sequences,
validation cities Copenhagen and San Francisco), from the four index files MixVPR ships in
`datasets/msls_val/` and its `dataloaders/MapillaryDataset.py` reads::

    <root>/train_val/<city>/database/images/...   MSLS's own folders (only train_val/ is needed)
    <index>/msls_val_dbImages.npy                  database image paths, relative to the root
    <index>/msls_val_qImages.npy                   query image paths (747), relative to the root
    <index>/msls_val_qIdx.npy                      the queries scored: positions in qImages (740)
    <index>/msls_val_pIdx.npy                      per scored query, its positive database rows (an
                                                   object array of integer arrays: a pickle in .npy)

Options: `index`, the folder of the four files (relative to the root, or absolute; default the
root itself).

Rows, in MixVPR's order (`np.concatenate((dbImages, qImages[qIdx]))`): train (the database images
again: MSLS-val is an evaluation set, so its database is the training set unless a method's
`train_on` names another dataset), reference (condition `database`), query (condition `queries`:
`qImages[qIdx]`, the scored queries only, in qIdx order, each with its `positives`, the pIdx list
of the same position). A positional descriptor pair (database rows, then the scored queries) lines
up with these rows. The 7 queries that qIdx leaves out are not rows: the caption says how many of
qImages are scored (`ground_truth_note`, "740 of 747 queries"). No route order (several cities).

Read with `acmnet.pickled.load_npy` (arrays, lists and integers only; a crafted file cannot run
code). Refused, naming the file and the first bad entry: a missing file; paths that are not a 1-d
array of strings; a qIdx that is not 1-d integers, lies outside qImages or repeats a query; a pIdx
whose length differs from qIdx's; a positive that is not an integer or lies outside the database;
a missing image (the first one, with the count); an image path that is absolute or leaves the root
(`../`), or is listed twice in one file (`base.inside`; the file and the entry). A 2-d integer pIdx
(every query with as many positives) is read row by row, as MixVPR's `pIdx[q]` reads it. The four
files are inputs of `prepare` by content wherever `index` puts them (`files_read`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from acmnet.config import ConfigError
from acmnet.data.datasets.base import DatasetType, LayoutError, inside, listed_rows, require_images
from acmnet.data.datasets.vprbench import as_indices
from acmnet.data.manifest import COLUMNS, POSITIVES_COLUMN
from acmnet.pickled import UnsafePickleError, load_npy

FILES = ("msls_val_dbImages.npy", "msls_val_qImages.npy", "msls_val_qIdx.npy", "msls_val_pIdx.npy")
SOURCE = "MixVPR's datasets/msls_val/ (github.com/amaralibey/MixVPR)"


class MslsIndexError(LayoutError):
    """The index files do not describe the images on disk; the message names the file and entry."""


@dataclass
class MslsValOptions:
    index: str | None = None  # folder of the four .npy files; relative to the root, or absolute; None: the root

    def check(self, where: str) -> None:
        if self.index is not None and not self.index.strip():
            raise ConfigError(f"{where}.index is empty: name the folder holding {FILES[0]} ..., or leave it out")


@dataclass
class MslsVal:
    """The index files, checked: database and scored query paths, each scored query's positives."""

    database: list[str]
    queries: list[str]  # qImages[qIdx]
    positives: list[list[int]]
    n_listed: int  # len(qImages)


def _folder(root: Path, opts: MslsValOptions) -> Path:
    return Path(root) if opts.index is None else Path(root) / opts.index


def _load(path: Path) -> np.ndarray:
    if not path.is_file():
        raise LayoutError(
            f"{path} does not exist: copy the four msls_val_*.npy files of {SOURCE} into {path.parent}, "
            "or set the option `index` to their folder"
        )
    try:
        return load_npy(path)
    except UnsafePickleError:
        raise
    except (ValueError, OSError) as exc:
        raise MslsIndexError(f"{path} cannot be read as a .npy file ({exc}): copy it again from {SOURCE}") from exc


def _paths(path: Path, root: Path) -> list[str]:
    """The file's image paths, each inside `root` (`base.inside`) and listed once."""
    array = _load(path)
    if array.ndim != 1 or array.dtype.kind not in "US" or not len(array):
        raise MslsIndexError(f"{path} holds a {array.dtype} array of shape {array.shape}, not a 1-d array of paths")
    paths = [p.decode() if isinstance(p, bytes) else str(p) for p in array.tolist()]
    seen: dict[str, int] = {}
    for i, entry in enumerate(paths):
        image = inside(entry, Path(root), f"{path}, entry {i}")
        if image in seen:
            raise MslsIndexError(
                f"{path}, entry {i}: {entry} is listed again (first at entry {seen[image]}): one image would be two "
                "rows, and no descriptor file of another tool fits them; list each image once"
            )
        seen[image] = i
    return list(seen)


def _scored(path: Path, n_listed: int) -> list[int]:
    """qIdx: positions in qImages, each once."""
    array = _load(path)
    indices = as_indices(array) if array.ndim == 1 else None
    if indices is None:
        raise MslsIndexError(f"{path} holds a {array.dtype} array of shape {array.shape}, not 1-d query positions")
    seen: dict[int, int] = {}
    for i, q in enumerate(indices):
        if not 0 <= q < n_listed:
            raise MslsIndexError(
                f"{path}, entry {i}: query {q} is outside qImages' {n_listed} paths (0..{n_listed - 1})"
            )
        if q in seen:
            raise MslsIndexError(f"{path}, entry {i}: query {q} is scored twice (entries {seen[q]} and {i})")
        seen[q] = i
    return indices


def _positives(path: Path, n_scored: int, n_database: int) -> list[list[int]]:
    """pIdx: per scored query, its positive database rows (sorted, each once)."""
    array = _load(path)
    if array.ndim not in (1, 2) or (array.ndim == 2 and array.dtype.kind not in "iu"):
        raise MslsIndexError(
            f"{path} holds a {array.dtype} array of shape {array.shape}: not one positive list per scored query "
            "(a 1-d array of lists, or a 2-d integer array with one row per query)"
        )
    if len(array) != n_scored:
        raise MslsIndexError(
            f"{path} holds {len(array)} positive lists for the {n_scored} queries of {FILES[2]}: one per scored "
            "query is needed; the files are of different releases"
        )
    out = []
    for i, entry in enumerate(array):  # a 2-d integer pIdx (as many positives each): MixVPR's pIdx[q] is a row
        indices = as_indices(entry)
        if indices is None:
            raise MslsIndexError(f"{path}, entry {i}: the positives are not an integer or a list of integers")
        bad = next((p for p in indices if not 0 <= p < n_database), None)
        if bad is not None:
            raise MslsIndexError(
                f"{path}, entry {i}: positive {bad} is outside {FILES[0]}'s {n_database} database images "
                f"(0..{n_database - 1})"
            )
        out.append(sorted(set(indices)))
    return out


def read_index(root: Path, opts: MslsValOptions) -> MslsVal:
    """The four files, checked against each other and against the images under `root`."""
    folder = _folder(root, opts)
    database = _paths(folder / FILES[0], root)
    listed = _paths(folder / FILES[1], root)
    scored = _scored(folder / FILES[2], len(listed))
    positives = _positives(folder / FILES[3], len(scored), len(database))
    queries = [listed[q] for q in scored]
    require_images(Path(root), database, str(folder / FILES[0]))
    require_images(Path(root), queries, f"{folder / FILES[1]} (at {FILES[2]})")
    return MslsVal(database, queries, positives, len(listed))


def files_read(root: Path, opts: MslsValOptions) -> list[Path]:
    """The four index files (an input of `prepare` by content, wherever `index` puts them)."""
    return [_folder(root, opts) / name for name in FILES]


def check_layout(root: Path, opts: MslsValOptions) -> None:
    """The four index files are there and agree, and every image they list is under the root."""
    read_index(root, opts)


def prepare(root: Path, opts: MslsValOptions, name: str = "msls_val") -> pd.DataFrame:
    """Manifest rows: train (= database), reference, then the scored queries with their positives."""
    index = read_index(root, opts)
    rows = (
        listed_rows(index.database, "train", "database")
        + listed_rows(index.database, "reference", "database")
        + listed_rows(index.queries, "query", "queries", index.positives)
    )
    return pd.DataFrame(rows, columns=[*COLUMNS, POSITIVES_COLUMN])


def ground_truth_note(root: Path, opts: MslsValOptions) -> str | None:
    """`740 of 747 queries scored (msls_val_qIdx.npy, as MixVPR scores MSLS-val)`; None without the files."""
    folder = _folder(root, opts)
    try:
        listed = _paths(folder / FILES[1], root)
        scored = _load(folder / FILES[2])
    except LayoutError:
        return None
    return f"{len(scored)} of {len(listed)} queries scored ({FILES[2]}, as MixVPR scores MSLS-val)"


def protocol(opts: MslsValOptions) -> str:
    return (
        "positives: msls_val_pIdx.npy's lists, queries: msls_val_qIdx.npy's (as MixVPR, SALAD and BoQ score "
        "MSLS-val); database images double as the training set"
    )


def train_set(opts: MslsValOptions) -> str:
    """What a trained row trains on: the database images, which are the references themselves."""
    return "the database images, the references themselves (the places evaluated are the places trained on)"


DATASET = DatasetType(
    name="msls_val",
    options=MslsValOptions,
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
