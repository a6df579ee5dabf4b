"""The one reader interface of a foreign form of descriptors, and the checks every form shares.

A form is a `Reader`: `files(path)` lists every file its descriptors are read from (a fixed order:
the describe step's inputs and the record's content digest), and `rows(path, ref_images,
query_images)` gives (rows (N, D) as the file holds them, file row of each of `ref_images +
query_images`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


class ExternalDescriptorsError(ValueError):
    """A descriptor file is missing, malformed or does not fit the manifest; the message names it."""


@dataclass(frozen=True)
class Reader:
    """One foreign form of descriptors (a module per form; `acmnet.methods.external.forms.READERS`)."""

    files: Callable[[str], list[Path]]  # configured path -> every file read, in a fixed order
    rows: Callable[[str, list[str], list[str]], tuple[np.ndarray, np.ndarray]]  # -> (rows (N, D), file row per image)


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


def _with_names(rows: np.ndarray, names: list[str], path: Path) -> tuple[np.ndarray, list[str]]:
    if len(names) != len(rows):
        raise ExternalDescriptorsError(f"{path} gives {len(names)} names for {len(rows)} descriptor rows")
    return rows, names
