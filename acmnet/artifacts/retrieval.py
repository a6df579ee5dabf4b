"""The retrieval file (`retrieval.npz`, made by `acmnet retrieve`) as a `Retrieval`, with its optional timing."""

from __future__ import annotations

import json
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from acmnet.artifacts.descriptors import Descriptors
from acmnet.artifacts.manifest import Manifest
from acmnet.artifacts.npz import check_rows, load_npz, save_npz
from acmnet.artifacts.provenance import (
    Provenance,
    check_external_sources,
    check_file_sources,
    check_first_stage_source,
    check_made_from,
)
from acmnet.io import atomic_path


@dataclass
class Retrieval:
    """Top-K references per query: `indices` (Q, K) int64 positions in the reference set, best
    first, and `scores` (Q, K) float32 cosine similarities, with both sets' manifest rows."""

    indices: np.ndarray
    scores: np.ndarray
    reference_rows: np.ndarray
    query_rows: np.ndarray
    path: Path
    digest: str
    provenance: Provenance
    timing: dict[str, Any] | None = None  # the retrieve step's wall time (`record_timing`); None if not recorded
    stored_cost: dict[str, Any] | None = None  # times another tool stored with its matches (`kind: matches`)


TIMING_KEY = "timing"  # an optional member of a retrieval.npz: the step's wall time, outside the provenance
# an optional member: {describe_ms_per_image, search_ms_per_query (None: empty), device (label or why empty)}
STORED_COST_KEY = "stored_cost"


def record_json_member(path: Path, key: str, value: dict[str, Any]) -> None:
    """Add `value` to the `.npz` at `path` as its member `key` (JSON), atomically; the arrays and
    the provenance stay as they were."""
    with atomic_path(Path(path)) as tmp:
        shutil.copyfile(path, tmp)
        with zipfile.ZipFile(tmp, "a") as archive, archive.open(f"{key}.npy", "w") as fh:
            np.lib.format.write_array(fh, np.array(json.dumps(value)))


def record_timing(path: Path, seconds: float, items: int, device: str) -> None:
    """Add the wall time of the step that wrote the `.npz` at `path` (`seconds` for `items` queries
    on `device`) to that file, as its `timing` member (JSON)."""
    record_json_member(path, TIMING_KEY, {"seconds": float(seconds), "items": int(items), "device": device})


def _json_member(path: Path, key: str) -> dict[str, Any] | None:
    """The JSON member `key` of an `.npz` (`record_json_member`), or None when it has none."""
    with np.load(path, allow_pickle=False) as data:
        return json.loads(str(data[key])) if key in data.files else None


def save_retrieval(
    path: Path,
    indices: np.ndarray,
    scores: np.ndarray,
    reference_rows: np.ndarray,
    query_rows: np.ndarray,
    prov: Provenance,
) -> Retrieval:
    arrays = {"indices": indices, "scores": scores, "reference_rows": reference_rows, "query_rows": query_rows}
    digest = save_npz(path, arrays, prov)
    return Retrieval(**arrays, path=Path(path), digest=digest, provenance=prov)


def load_retrieval(path: Path, manifest: Manifest | None = None, descriptors: Descriptors | None = None) -> Retrieval:
    """Retrieval file; with `manifest` / `descriptors`, it must have been made from them."""
    arrays, prov, digest = load_npz(path, "retrieval")
    out = Retrieval(
        **arrays, path=Path(path), digest=digest, provenance=prov, timing=_json_member(Path(path), TIMING_KEY)
    )
    out.stored_cost = _json_member(Path(path), STORED_COST_KEY)
    check_external_sources(prov, Path(path))
    check_file_sources(prov, Path(path))
    check_first_stage_source(prov, Path(path))
    if manifest is not None:
        check_made_from(out, "manifest", manifest)
        check_rows(out, manifest)
    if descriptors is not None:
        check_made_from(out, "descriptors", descriptors)
    return out
