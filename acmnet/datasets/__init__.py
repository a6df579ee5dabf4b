"""Dataset modules: each turns a dataset on disk into the common manifest (see manifest.py).

A dataset type is a module with `prepare(root, options, name) -> DataFrame`; add a new one to
`DATASET_TYPES` and nothing downstream changes.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pandas as pd

from acmnet.config import Config, ConfigError

DATASET_TYPES = {
    "alderley": "acmnet.datasets.alderley",
    "folder_pair": "acmnet.datasets.folder_pair",
    "gardenspoint": "acmnet.datasets.gardenspoint",
    "nordland": "acmnet.datasets.nordland",
    "nordland64": "acmnet.datasets.nordland64",
    "robotcar": "acmnet.datasets.robotcar",
    "synthetic": "acmnet.datasets.synthetic",
}


def dataset_module(type_name: str):
    if type_name not in DATASET_TYPES:
        raise ConfigError(
            f"unknown dataset type `{type_name}`; known types: {', '.join(sorted(DATASET_TYPES))}"
        )
    return importlib.import_module(DATASET_TYPES[type_name])


def prepare_manifest(cfg: Config, dataset: str) -> pd.DataFrame:
    """The manifest rows of one configured dataset (not yet written)."""
    spec = cfg.dataset(dataset)
    return dataset_module(spec.type).prepare(Path(spec.root), spec.options, dataset)
