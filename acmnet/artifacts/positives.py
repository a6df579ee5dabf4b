"""The positives file (`positives.npz`, made by `acmnet positives`) as `Positives`, and the step that writes it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from acmnet.artifacts.manifest import Manifest
from acmnet.artifacts.npz import check_rows, load_npz, save_npz
from acmnet.artifacts.provenance import ArtifactError, Provenance, check_made_from, provenance
from acmnet.data import manifest as mf
from acmnet.data.positives import PositiveSets, positives_of


@dataclass
class Positives:
    """Each query's positive references (`acmnet.data.positives.PositiveSets`, queries in manifest
    order), with both sets' manifest rows."""

    sets: PositiveSets
    reference_rows: np.ndarray
    query_rows: np.ndarray
    path: Path
    digest: str
    provenance: Provenance


def save_positives(
    path: Path, sets: PositiveSets, reference_rows: np.ndarray, query_rows: np.ndarray, prov: Provenance
) -> Positives:
    arrays = {
        "indptr": sets.indptr,
        "indices": sets.indices,
        "reference_rows": reference_rows,
        "query_rows": query_rows,
    }
    digest = save_npz(path, arrays, prov)
    return Positives(sets, reference_rows, query_rows, Path(path), digest, prov)


def load_positives(path: Path, manifest: Manifest | None = None) -> Positives:
    """Positives file; with `manifest`, it must have been made from it."""
    arrays, prov, digest = load_npz(path, "positives")
    indptr, indices = arrays["indptr"].astype(np.int64), arrays["indices"].astype(np.int64)
    n_refs, n_queries = len(arrays["reference_rows"]), len(arrays["query_rows"])
    if len(indptr) != n_queries + 1 or indptr[-1] != len(indices) or (len(indices) and indices.max() >= n_refs):
        raise ArtifactError(f"{path} is not a consistent positives file: run `acmnet positives` again")
    sets = PositiveSets(indptr, indices, n_refs)
    out = Positives(sets, arrays["reference_rows"], arrays["query_rows"], Path(path), digest, prov)
    if manifest is not None:
        check_made_from(out, "manifest", manifest)
        check_rows(out, manifest)
    return out


def write_positives(
    manifest: Manifest,
    out: Path,
    ground_truth: str,
    tolerance: int,
    distance: float | None,
    settings: dict,
    angle: float | None = None,
) -> Positives:
    """The `positives` step: every query's positives from a manifest, written to `out` with provenance."""
    try:
        sets = positives_of(manifest.frame, ground_truth, tolerance, distance, angle)
    except (mf.ManifestError, ValueError) as exc:
        raise mf.ManifestError(f"{manifest.path}: {exc}; prepare the dataset again (acmnet prepare)") from exc
    prov = provenance("positives", settings, manifest=manifest)
    return save_positives(out, sets, manifest.rows("reference"), manifest.rows("query"), prov)
