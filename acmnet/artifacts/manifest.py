"""The manifest file (`manifest.csv`, made by `acmnet prepare`) as a `Manifest`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from acmnet.artifacts.provenance import Provenance, read_sidecar, write_csv

# ---- manifest ----------------------------------------------------------------------------


@dataclass
class Manifest:
    """A dataset's manifest (see `acmnet.data.manifest`): `frame` and the CSV's digest."""

    frame: pd.DataFrame
    path: Path
    digest: str
    provenance: Provenance

    def rows(self, role: str) -> np.ndarray:
        """Row numbers (int64) of `role` (train / reference / query), in manifest order."""
        return np.flatnonzero(self.frame["role"].to_numpy() == role).astype(np.int64)


def save_manifest(frame: pd.DataFrame, path: Path, prov: Provenance) -> Manifest:
    from acmnet.data import manifest as mf

    frame = mf.validate(frame, str(path))
    digest = write_csv(frame, Path(path), prov)
    return Manifest(frame, Path(path), digest, prov)


def load_manifest(path: Path) -> Manifest:
    from acmnet.data import manifest as mf

    path = Path(path)
    if not path.is_file():
        mf.read(path)  # names the file and `acmnet prepare`
    prov, digest = read_sidecar(path, "acmnet prepare")
    return Manifest(mf.read(path), path, digest, prov)
