"""Form 1: a `global_features.pickle` (positional), read only by `acmnet.pickled.load_pickle`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from acmnet.methods.external.matching import _by_position
from acmnet.methods.external.reader import Reader, _exists, _numeric_2d
from acmnet.pickled import load_pickle


def _load_pickle(path: Path) -> tuple[np.ndarray, None]:
    return _numeric_2d(load_pickle(_exists(path)), path, "its pickled object"), None


def _rows(path: str, ref_images: list[str], query_images: list[str]) -> tuple[np.ndarray, np.ndarray]:
    rows, _ = _load_pickle(Path(path))
    return rows, _by_position(len(rows), ref_images, query_images, path)


READER = Reader(files=lambda path: [Path(path)], rows=_rows)
