"""MSLS-test, the Mapillary challenge set: image lists as SALAD releases them, no public ground truth.

SALAD ships two object arrays in `datasets/msls_test/` (its `dataloaders/val/MapillaryTestDataset.py`
reads them with `np.load(..., allow_pickle=True)`)::

    <root>/test/<city>/database/images/<key>.jpg   MSLS's own folders (only test/ is needed)
    <index>/msls_test_dbImages.npy                 database image paths, relative to the root (36,565
                                                   in six cities: athens, bengaluru, buenosaires,
                                                   kampala, miami, stockholm)
    <index>/msls_test_qImages.npy                  query image paths, relative to the root (1,135)

Option `index`: the folder of the two files (relative to the root, or absolute; default the root).

Rows, in SALAD's order (`np.concatenate((dbImages, qImages))`): train (the database images again,
as for `msls_val`), reference (condition `database`), query (condition `queries`), each in its
file's order. There is no ground truth: MSLS keeps the test positives private and scores a file of
predictions on its challenge server. So the type's `scoring` is `submission`: no positives, no
recall, no figure that needs positives; `acmnet export-msls` writes, per method, the file the
server takes (`acmnet.evaluate.msls_submission`), and the report says that no recall is computed
and why. Its key of an image is the file name without its extension (`Path(p).stem`, as SALAD's
`save_predictions` writes it), so a key must name one image: repeated keys are refused.

Read with `acmnet.pickled.load_npy` (arrays, lists and strings only; a crafted file cannot run
code). Refused, naming the file and the first bad entry: a missing file; an array that is not 1-d
paths; an empty path or one holding white space (the submission is space-separated); a key (file
name stem) given twice; a missing image (the first one, with the count).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from acmnet.config import ConfigError
from acmnet.data.datasets.base import DatasetType, LayoutError, require_images
from acmnet.data.manifest import COLUMNS
from acmnet.pickled import UnsafePickleError, load_npy

FILES = ("msls_test_dbImages.npy", "msls_test_qImages.npy")
SOURCE = "SALAD's datasets/msls_test/ (github.com/serizba/salad)"


class MslsTestError(LayoutError):
    """An image list does not describe MSLS-test; the message names the file and entry."""


@dataclass
class MslsTestOptions:
    index: str | None = None  # folder of the two .npy files; relative to the root, or absolute; None: the root

    def check(self, where: str) -> None:
        if self.index is not None and not self.index.strip():
            raise ConfigError(f"{where}.index is empty: name the folder holding {FILES[0]}, or leave it out")


def _folder(root: Path, opts: MslsTestOptions) -> Path:
    return Path(root) if opts.index is None else Path(root) / opts.index


def files_read(root: Path, opts: MslsTestOptions) -> list[Path]:
    """The two list files (inputs of `prepare` by content, wherever `index` puts them)."""
    return [_folder(root, opts) / name for name in FILES]


def key_of(path: str) -> str:
    """An image's MSLS key: its file name without the extension (SALAD's `Path(p).stem`)."""
    return PurePosixPath(path).stem


def read_paths(path: Path) -> list[str]:
    """One list file's image paths, checked (see the module docstring)."""
    if not path.is_file():
        raise LayoutError(
            f"{path} does not exist: copy {FILES[0]} and {FILES[1]} of {SOURCE} into {path.parent}, or set the "
            "option `index` to their folder"
        )
    try:
        array = load_npy(path)
    except UnsafePickleError:
        raise
    except (ValueError, OSError) as exc:
        raise MslsTestError(f"{path} cannot be read as a .npy file ({exc}): copy it again from {SOURCE}") from exc
    if array.ndim != 1 or not len(array):
        raise MslsTestError(f"{path} holds a {array.dtype} array of shape {array.shape}, not a 1-d array of paths")
    paths, seen = [], {}
    for i, entry in enumerate(array.tolist()):
        text = entry.decode() if isinstance(entry, bytes) else entry
        if not isinstance(text, str) or not text.strip() or any(c.isspace() for c in text):
            raise MslsTestError(f"{path}, entry {i}: {entry!r} is not an image path without white space")
        key = key_of(text)
        if key in seen:
            raise MslsTestError(
                f"{path}, entry {i}: key {key} (of {text}) is the key of entry {seen[key]} too: the submission names "
                "images by key, so each must name one image"
            )
        seen[key] = i
        paths.append(text)
    return paths


@dataclass
class MslsTest:
    database: list[str]
    queries: list[str]


def read_index(root: Path, opts: MslsTestOptions) -> MslsTest:
    """The two lists, checked, and every image they name under `root`."""
    folder = _folder(root, opts)
    database, queries = read_paths(folder / FILES[0]), read_paths(folder / FILES[1])
    require_images(Path(root), database, str(folder / FILES[0]))
    require_images(Path(root), queries, str(folder / FILES[1]))
    return MslsTest(database, queries)


def check_layout(root: Path, opts: MslsTestOptions) -> None:
    """Both lists are there and sound, and every image they name is under the root."""
    read_index(root, opts)


def _rows(images: list[str], role: str, condition: str) -> pd.DataFrame:
    return pd.DataFrame({"image": images, "role": role, "place": np.arange(len(images)), "condition": condition})


def prepare(root: Path, opts: MslsTestOptions, name: str = "msls_test") -> pd.DataFrame:
    """Manifest rows: train (= database), reference, then the queries; no ground-truth column."""
    index = read_index(root, opts)
    frames = [
        _rows(index.database, "train", "database"),
        _rows(index.database, "reference", "database"),
        _rows(index.queries, "query", "queries"),
    ]
    return pd.concat(frames, ignore_index=True)[COLUMNS]


def protocol(opts: MslsTestOptions) -> str:
    return (
        "no recall: MSLS-test's ground truth is not public; each method's top-K database keys per query are "
        "written for the MSLS challenge server (evaluate.export_msls)"
    )


def train_set(opts: MslsTestOptions) -> str:
    """What a trained row trains on (the manifest's `train` rows)."""
    return "the database images of the six cities, the references themselves"


DATASET = DatasetType(
    name="msls_test",
    options=MslsTestOptions,
    prepare=prepare,
    check_layout=check_layout,
    scoring="submission",
    protocol=protocol,
    train_set=train_set,
    files_read=files_read,
    ground_truth="none",
    route_order=lambda o: False,
)
