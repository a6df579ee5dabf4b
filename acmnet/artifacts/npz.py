"""The `.npz` files (retrieval, positives): arrays plus a provenance member, and the check of their manifest rows."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from acmnet.artifacts.manifest import Manifest
from acmnet.artifacts.provenance import ArtifactError, Provenance, ProvenanceError, file_digest
from acmnet.io import atomic_path

_NPZ_FIELDS = {
    "retrieval": ("indices", "scores", "reference_rows", "query_rows"),
    "positives": ("indptr", "indices", "reference_rows", "query_rows"),
}
_MADE_BY = {"retrieval": "acmnet retrieve", "positives": "acmnet positives"}


def save_npz(path: Path, arrays: dict[str, np.ndarray], prov: Provenance) -> str:
    with atomic_path(Path(path)) as tmp:
        np.savez(tmp, provenance=np.array(prov.to_json()), **arrays)
        return file_digest(tmp)


def load_npz(path: Path, kind: str) -> tuple[dict[str, np.ndarray], Provenance, str]:
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{kind} file {path} does not exist: run `{_MADE_BY[kind]}` first")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in (*_NPZ_FIELDS[kind], "provenance")}
    except KeyError as exc:
        raise ArtifactError(f"{path} is not a {kind} file (it lacks {exc}): run `{_MADE_BY[kind]}` again") from exc
    except (zipfile.BadZipFile, EOFError, ValueError, OSError) as exc:
        raise ArtifactError(f"{path} is truncated or not a {kind} file ({exc}): run `{_MADE_BY[kind]}` again") from exc
    prov = Provenance.from_json(str(arrays.pop("provenance")), path)
    return arrays, prov, file_digest(path)


def check_rows(artifact: Any, manifest: Manifest) -> None:
    """The artifact's row numbers must be the manifest's reference and query rows."""
    for role in ("reference", "query"):
        rows = getattr(artifact, f"{role}_rows")
        if not np.array_equal(rows, manifest.rows(role)):
            raise ProvenanceError(
                f"{artifact.path} holds {len(rows)} {role} rows that are not the {role} rows of "
                f"{manifest.path}: rerun describe and retrieve for this manifest"
            )
