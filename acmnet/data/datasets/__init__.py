"""Dataset types: each module turns a dataset on disk into the common manifest.

A dataset type is one module with a module-level ``DATASET`` (`acmnet.data.datasets.base.DatasetType`):
its options, layout check, `prepare`, download sources, scoring and paper table. Adding a type is
one module plus one line in `DATASET_TYPES`; nothing downstream changes.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pandas as pd

from acmnet.config import Config, ConfigError, closest_hint
from acmnet.data.datasets.base import DatasetType, LayoutError

DATASET_TYPES = {
    "alderley": "acmnet.data.datasets.alderley",
    "dbstruct": "acmnet.data.datasets.dbstruct",
    "folder_pair": "acmnet.data.datasets.folder_pair",
    "gardenspoint": "acmnet.data.datasets.gardenspoint",
    "msls_test": "acmnet.data.datasets.msls_test",
    "image_lists": "acmnet.data.datasets.image_lists",
    "msls_val": "acmnet.data.datasets.msls_val",
    "nordland": "acmnet.data.datasets.nordland",
    "nordland64": "acmnet.data.datasets.nordland64",
    "poses_csv": "acmnet.data.datasets.poses_csv",
    "robotcar": "acmnet.data.datasets.robotcar",
    "synthetic": "acmnet.data.datasets.synthetic",
    "utm": "acmnet.data.datasets.utm",
    "vprbench": "acmnet.data.datasets.vprbench",
}

__all__ = ["DATASET_TYPES", "DatasetType", "LayoutError", "dataset_type", "files_read", "prepare_manifest"]


def dataset_type(name: str) -> DatasetType:
    """The registered dataset type `name` (ConfigError naming the closest type when unknown)."""
    if name not in DATASET_TYPES:
        raise ConfigError(
            f"unknown dataset type `{name}`{closest_hint(name, DATASET_TYPES)}; "
            f"known types: {', '.join(sorted(DATASET_TYPES))}"
        )
    return importlib.import_module(DATASET_TYPES[name]).DATASET


def prepare_manifest(cfg: Config, dataset: str) -> pd.DataFrame:
    """The manifest rows of one configured dataset (not yet written)."""
    spec = cfg.dataset(dataset)
    return dataset_type(spec.type).prepare(Path(spec.root), spec.options, dataset)


def files_read(cfg: Config, dataset: str) -> list[Path]:
    """Every file besides the images that `prepare` reads for `dataset`, wherever it lives
    (`DatasetType.files_read`): inputs of `prepare` by content."""
    spec = cfg.dataset(dataset)
    kind = dataset_type(spec.type)
    return [] if kind.files_read is None else kind.files_read(Path(spec.root), spec.options)
