"""Form 0: VPR-methods-evaluation's master output, a log folder's database/queries pair (positional)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from acmnet.methods.external.matching import _by_position
from acmnet.methods.external.reader import ExternalDescriptorsError, Reader, _numeric_2d

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


READER = Reader(files=lambda path: [pair_folder(path) / name for name in PAIR], rows=read_pair)
