"""VPR-Bench datasets (Zaffar et al.): GardensPoint, Corridor, 17places, SPEDTest, Living Room,
ESSEX3IN1, CrossSeason, Synthia-NightToFall, Nordland, Pittsburgh, Tokyo247, INRIA Holidays.

Layout under the dataset root (one dataset of VPR-Bench's release per root)::

    ref/0000000.jpg ...        the reference images (the database)
    query/0000000.jpg ...      the query images
    ground_truth_new.npy       NumPy object array (Q, 2): one row [query_index, [reference_index, ...]]

Order contract: the images of each folder (`.jpg`, `.jpeg`, `.png`, any case; hidden and sidecar
files such as `.DS_Store` or `._x.jpg` are skipped) are sorted by file name, and the indices of the
ground truth are positions in those sorted lists. Rows are written in that order: train (the
reference images again: VPR-Bench has no training set, so the reference images are the training
set unless the config's `train_on` names another dataset), reference (condition = the reference
folder's name), query (condition = the query folder's name). `place` is the index within the
folder, informational only. Whether the sorted names are frames of one drive (GardensPoint,
Corridor, Nordland: yes; Pittsburgh, Tokyo247, INRIA Holidays: no) is the option `route_order`,
which sequence matching needs.

Ground truth: each query row's `positives` column holds its sorted, de-duplicated reference
indices joined by single spaces (positions in the reference set, which is exactly the sorted
`ref/` files); a query with no positive keeps its row, with empty positives, and stays in the
recall denominator. A positive list may be a list, tuple or 1-d integer array, of Python or NumPy
integers, or a single integer. The rows of the file may come in any query order.

Name order (option `order`): `plain` (string order) or `natural` (`img2` before `img10`: AnyLoc's
`natsorted`, and VPR-Bench's own `int(name)` order on integer names; its released names are
zero-padded, where both agree); left out, a folder whose two orders differ is refused, naming two
files that sort differently (`acmnet.data.datasets.natural`).

The files as VPR-Bench released them (its repository at commit 77ad30f, `datasets/<name>/`) are
read as VPR-Bench scores them: a retrieval is correct when `retrieved_index in list`
(`performance_comparison.py`), so a listed index that names no reference never matches:

- `-1` means "no positive" (GardensPoint_TN lists its 200 true-negative queries as `[-1]`);
- a listed reference index outside 0..R-1 is dropped: GardensPointWalking (rows 198, 199 list 200
  and 201) and 17places (rows 404, 405 list 406 and 407) did not clamp their +/-2 window at the
  end of the route. `prepare` says how many were dropped and from which rows, and the captions and
  `summary.md` say it in a phrase (`ground_truth_note`).

Refused before anything is returned, each with one message naming the file and the first bad row
(its number, counted from 0, and its shortened content): an array that is not (Q, 2); a query
index that is not an integer or lies outside the query folder; a positive that is not an
integer; a row whose listed references all lie outside the reference folder (a file of another
dataset: a clamped-or-not window always keeps its own query's neighbours); a query listed twice;
a row count different from the number of query images (a query without a row). These raise
`GroundTruthError` (a `LayoutError`); a missing or empty folder or a missing file raises `LayoutError`.

The ground-truth file may live anywhere (`ground_truth`: relative to the root or absolute; one
outside the root is noted): it is an input of `prepare` by content (`files_read`). The image
folders (`reference`, `query`) must lie inside the root. A bad row is shown in at most 80
characters, and showing it costs no more than that (`_pieces`).

Why a restricted loader: an object array is stored as a pickle inside the `.npy`, and
`np.load(..., allow_pickle=True)` would run whatever code a crafted file names. The file is read
with `acmnet.pickled.load_npy`, which rebuilds only NumPy arrays, dtypes, scalars, lists and
integers and refuses anything else (`UnsafePickleError`, raised as is) before calling it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from acmnet.config import ConfigError
from acmnet.data.datasets.base import DatasetType, LayoutError, inside, listing, note
from acmnet.data.datasets.natural import ordered
from acmnet.data.manifest import COLUMNS, POSITIVES_COLUMN
from acmnet.io import list_files, list_folders
from acmnet.pickled import UnsafePickleError, load_npy

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
_SHOWN = 80  # characters of a bad row shown in an error
_FIX = "it does not fit the images: check that the root holds one VPR-Bench dataset and that dataset's own file"
NO_POSITIVE = -1  # VPR-Bench's marker of a query whose place is not in the database


class GroundTruthError(LayoutError):
    """The ground-truth file does not describe the images on disk; the message names the file and row."""


@dataclass
class VprBenchOptions:
    ground_truth: str = "ground_truth_new.npy"  # relative to the root, or absolute (read by content anywhere)
    reference: str = "ref"  # folder of the reference images
    query: str = "query"  # folder of the query images
    route_order: bool = False  # true only when the sorted names are frames of one drive
    order: Literal["plain", "natural"] | None = None  # the folders' name order; None: refused where they differ

    def check(self, where: str) -> None:
        for key in ("ground_truth", "reference", "query"):
            if not str(getattr(self, key)).strip():
                raise ConfigError(f"{where}.{key} is empty: name the file or folder under the dataset root")
        if Path(self.reference) == Path(self.query):
            raise ConfigError(
                f"{where}: `{self.query}` is both the reference and the query folder: a set queried against "
                "itself scores 100 %; use VPR-Bench's `ref` and `query`"
            )


@dataclass
class Tree:
    """The sorted image names of the reference and query folders under `root`."""

    root: Path
    reference: str
    query: str
    references: list[str]
    queries: list[str]


def list_images(root: Path, folder: str) -> list[str]:
    """Image names in `root/folder`, sorted by name; LayoutError when the folder is missing or holds none."""
    path = root / folder
    if not path.is_dir():
        deeper = [f"{root / d}" for d in list_folders(root) if (root / d / folder).is_dir()]
        which = deeper[0] if len(deeper) == 1 else f"one of {listing(deeper)}"
        hint = f" The dataset is one level deeper: use {which} as the root." if deeper else ""
        raise LayoutError(
            f"{path} does not exist (folders in {root}: {listing(list_folders(root)) or 'none'}).{hint} "
            "Point the root at one VPR-Bench dataset, the folder holding ref/, query/ and ground_truth_new.npy"
        )
    names = [n for n in list_files(path) if Path(n).suffix.lower() in IMAGE_SUFFIXES]
    if not names:
        raise LayoutError(
            f"{path} holds no images ({', '.join(IMAGE_SUFFIXES)}): the dataset is incomplete; extract it again"
        )
    return names


def read_tree(root: Path, opts: VprBenchOptions) -> Tree:
    """The folders' sorted image names, after checking the ground-truth file exists (nothing decoded)."""
    root = Path(root)
    for key in ("reference", "query"):  # image folders stay inside the root, which its listing watches
        inside(getattr(opts, key), root, f"the option `{key}`")
    references = ordered(list_images(root, opts.reference), opts.order, root / opts.reference, "order")
    queries = ordered(list_images(root, opts.query), opts.order, root / opts.query, "order")
    path = root / opts.ground_truth
    if not path.resolve().is_relative_to(root.resolve()):
        note(f"{opts.ground_truth}: the ground truth is read from {path}, outside the root (watched by content)")
    if not path.is_file():
        raise LayoutError(
            f"{path} does not exist: VPR-Bench ships each dataset with its ground truth; copy "
            f"{opts.ground_truth} of this dataset into {root}, or set the option `ground_truth`"
        )
    return Tree(root, opts.reference, opts.query, references, queries)


def files_read(root: Path, opts: VprBenchOptions) -> list[Path]:
    """The ground-truth file (an input of `prepare` by content, wherever `ground_truth` puts it)."""
    return [Path(root) / opts.ground_truth]


def check_layout(root: Path, opts: VprBenchOptions) -> None:
    """Both folders exist and hold images, and the ground-truth file exists; nothing is decoded."""
    read_tree(root, opts)


def _pieces(value: Any, budget: list[int]):
    """The text of `value` (NumPy arrays and scalars as lists and Python numbers), piece by piece,
    until `budget[0]` characters are spent: the work is bounded, not only the length (a row of
    nested lists that share one list is small on disk and astronomically long as text)."""
    if budget[0] <= 0:
        return
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (list, tuple, np.ndarray)):
        yield "["
        budget[0] -= 1
        for i, item in enumerate(value):
            if budget[0] <= 0:
                return
            if i:
                yield ", "
                budget[0] -= 2
            yield from _pieces(item, budget)
        yield "]"
        budget[0] -= 1
        return
    text = repr(value)[: budget[0] + 1]
    budget[0] -= len(text)
    yield text


def _show(row: Any) -> str:
    text = "".join(_pieces(row, [_SHOWN + 1]))
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def as_index(value: Any) -> int | None:
    """`value` as an int when it is a Python or NumPy integer (not a bool), else None."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        return None
    return int(value)


def as_indices(value: Any) -> list[int] | None:
    """A positive list (list, tuple, 1-d array or single integer) as ints; None when malformed."""
    if as_index(value) is not None:
        return [as_index(value)]
    if isinstance(value, np.ndarray):
        if value.ndim != 1:
            return None
        if value.size == 0:
            return []  # an empty list saved as an array is float64: no element to check
        value = value.tolist() if value.dtype.kind in "iu" else list(value)
    if not isinstance(value, (list, tuple)):
        return None
    indices = [as_index(v) for v in value]
    return None if any(i is None for i in indices) else indices


def _row_error(path: Path, r: int, row: Any, problem: str) -> GroundTruthError:
    return GroundTruthError(f"{path}, row {r} {_show(row)}: {problem}; {_FIX}")


def load_ground_truth(path: Path) -> np.ndarray:
    """The file's (Q, 2) array, read with the restricted loader (UnsafePickleError raised as is)."""
    try:
        array = load_npy(path)
    except UnsafePickleError:
        raise
    except (ValueError, OSError) as exc:
        raise GroundTruthError(f"{path} cannot be read as a .npy file ({exc}); {_FIX}") from exc
    if array.ndim != 2 or array.shape[1] != 2:
        raise GroundTruthError(
            f"{path} holds an array of shape {array.shape} ({array.dtype}), not (Q, 2) with one row "
            f"[query_index, [reference_index, ...]] per query; {_FIX}"
        )
    return array


def _query_of(path: Path, r: int, row: np.ndarray, tree: Tree) -> int:
    """The row's query index, checked against the query folder."""
    query = as_index(row[0])
    if query is None:
        raise _row_error(path, r, row, f"the query index {_show(row[0])} is not an integer")
    n = len(tree.queries)
    if not 0 <= query < n:
        raise _row_error(
            path, r, row, f"query index {query} is out of range: {tree.root / tree.query} holds {n} images (0..{n - 1})"
        )
    return query


@dataclass
class Dropped:
    """What `read_positives` dropped as VPR-Bench's `in` rule reads it: listed indices naming no
    reference (file row -> those indices) and the rows listing only `-1` (no positive)."""

    outside: dict[int, list[int]] = field(default_factory=dict)
    no_positive_rows: list[int] = field(default_factory=list)
    n_references: int = 0

    @property
    def n_outside(self) -> int:
        return sum(len(v) for v in self.outside.values())

    def phrase(self) -> str | None:
        """A short phrase for captions, e.g. `3 listed indices outside 0..199 dropped (rows 198, 199)`."""
        if not self.outside:
            return None
        rows = listing([str(r) for r in self.outside], 4)
        return f"{self.n_outside} listed indices outside 0..{self.n_references - 1} dropped (rows {rows})"


def _positives_of(path: Path, r: int, row: np.ndarray, tree: Tree, dropped: Dropped) -> list[int]:
    """The row's reference indices within the reference folder; `-1` and indices naming no reference
    are left out (recorded in `dropped`), as VPR-Bench's `retrieved_index in list` never matches them."""
    indices = as_indices(row[1])
    if indices is None:
        raise _row_error(
            path, r, row, f"the positives {_show(row[1])} are not an integer or a list of integers (reference indices)"
        )
    n = len(tree.references)
    kept = [i for i in indices if 0 <= i < n]
    outside = [i for i in indices if i != NO_POSITIVE and not 0 <= i < n]
    if outside and not kept:
        raise _row_error(
            path,
            r,
            row,
            f"every listed reference ({listing([str(i) for i in outside])}) is outside "
            f"{tree.root / tree.reference}'s {n} images (0..{n - 1})",
        )
    if outside:
        dropped.outside[r] = outside
    if indices and not kept:
        dropped.no_positive_rows.append(r)
    return kept


def read_positives(path: Path, tree: Tree) -> tuple[list[list[int]], Dropped]:
    """Per query image (sorted name order): its sorted, de-duplicated positive reference indices,
    with what was dropped (`Dropped`)."""
    array = load_ground_truth(path)
    found: dict[int, list[int]] = {}
    row_of: dict[int, int] = {}
    dropped = Dropped(n_references=len(tree.references))
    for r, row in enumerate(array):
        query = _query_of(path, r, row, tree)
        if query in row_of:
            raise _row_error(path, r, row, f"query {query} is listed twice (rows {row_of[query]} and {r})")
        row_of[query] = r
        found[query] = _positives_of(path, r, row, tree, dropped)
    n = len(tree.queries)
    if len(found) != n:
        missing = next(q for q in range(n) if q not in found)
        raise GroundTruthError(
            f"{path} holds {len(array)} rows for the {n} images of {tree.root / tree.query}: query {missing} "
            f"({tree.query}/{tree.queries[missing]}) has no row; {_FIX}"
        )
    return [sorted(set(found[q])) for q in range(n)], dropped


def _rows(folder: str, names: list[str], role: str, positives: list[list[int]] | None = None) -> list[dict]:
    return [
        {
            "image": f"{folder}/{name}",
            "role": role,
            "place": i,
            "condition": folder,
            POSITIVES_COLUMN: " ".join(map(str, positives[i])) if positives is not None else "",
        }
        for i, name in enumerate(names)
    ]


def prepare(root: Path, opts: VprBenchOptions, name: str = "vprbench") -> pd.DataFrame:
    """Manifest rows: train (= reference images), reference, then query rows with their positives."""
    tree = read_tree(root, opts)
    positives, dropped = read_positives(tree.root / opts.ground_truth, tree)
    if dropped.outside:
        shown = "; ".join(f"row {r}: {listing([str(i) for i in v])}" for r, v in list(dropped.outside.items())[:4])
        note(
            f"{name}: {opts.ground_truth} lists {dropped.n_outside} reference indices outside "
            f"0..{len(tree.references) - 1} in rows {listing([str(r) for r in dropped.outside], 10)} ({shown}): "
            "dropped, as VPR-Bench's `in` rule never matches them"
        )
    if dropped.no_positive_rows:
        note(f"{name}: {len(dropped.no_positive_rows)} rows of {opts.ground_truth} list only -1 (no positive)")
    empty = sum(not p for p in positives)
    if empty:
        note(f"{name}: {empty} of {len(positives)} queries have no positive in {opts.ground_truth} (counted as misses)")
    rows = (
        _rows(tree.reference, tree.references, "train")
        + _rows(tree.reference, tree.references, "reference")
        + _rows(tree.query, tree.queries, "query", positives)
    )
    return pd.DataFrame(rows, columns=[*COLUMNS, POSITIVES_COLUMN])


def protocol(opts: VprBenchOptions) -> str:
    return (
        f"positives: VPR-Bench's {opts.ground_truth} lists (a query without one counts as a miss); "
        "reference images double as the training set"
    )


def ground_truth_note(root: Path, opts: VprBenchOptions) -> str | None:
    """The caption's phrase on what `prepare` dropped from the file (None: nothing, or no file to read)."""
    try:
        tree = read_tree(Path(root), opts)
    except LayoutError:
        return None
    return read_positives(tree.root / opts.ground_truth, tree)[1].phrase()


def train_set(opts: VprBenchOptions) -> str:
    """What a trained row trains on: the reference images, which are the references themselves."""
    return "the reference images, the references themselves (the places evaluated are the places trained on)"


DATASET = DatasetType(
    name="vprbench",
    options=VprBenchOptions,
    prepare=prepare,
    check_layout=check_layout,
    scoring="recall",
    protocol=protocol,
    train_set=train_set,
    ground_truth="listed",
    route_order=lambda o: o.route_order,
    ground_truth_note=ground_truth_note,
    files_read=files_read,
)
