"""Shared fixtures. Tests never touch the network: the hub is forced offline."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pandas as pd
import pytest
import torch

from acmnet.artifacts import ImageCache, Manifest, load_cache, provenance, save_manifest
from acmnet.config import ModelConfig

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS for the GPU resume test

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def nordland64_root() -> Path:
    root = SHARED_DATA / "nordland64"
    if not (root / "frames.csv").is_file():
        pytest.skip(f"real-data sample not found at {root} (only present on the development machines)")
    return root


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (for the process group of multi-process tests)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# A tiny random backbone with small heads: fast model tests without weights.
TINY = ModelConfig(
    backbone="test_efficientnet", pretrained=False, projector_hidden=32, projector_dim=16, rotation_hidden=8
)


def write_manifest(frame: pd.DataFrame, path: Path) -> Manifest:
    """A manifest file as `acmnet prepare` writes it (validated, with its provenance)."""
    return save_manifest(frame, Path(path), provenance("prepare", {"test": True}))


def write_cache(manifest: Manifest, root: Path, out: Path, size: tuple[int, int]) -> ImageCache:
    """The image cache of `manifest` (images under `root`), as `acmnet cache` writes it."""
    from acmnet.data.cache import build_cache

    build_cache(manifest, Path(root), Path(out), size, {"image_size": list(size)}, progress=False)
    return load_cache(Path(out), manifest)


def write_retrieval(
    folder: Path, manifest: Manifest, indices, reference=None, query=None, name: str = "r", checkpoint=None
):
    """Descriptors (`<name>.d.npz`, identity vectors unless given) and retrieval (`<name>.npz`) files
    made from `manifest` (and `checkpoint`, a loaded Checkpoint), as describe and retrieve make them;
    returns the retrieval."""
    import numpy as np

    from acmnet.artifacts import provenance, save_descriptors, save_retrieval

    rows = {r: manifest.rows(r) for r in ("reference", "query")}
    dim = max(len(rows["reference"]), 1)
    reference = np.eye(dim, dtype=np.float32)[: len(rows["reference"])] if reference is None else reference
    query = np.zeros((len(rows["query"]), reference.shape[1]), np.float32) if query is None else query
    desc = save_descriptors(
        Path(folder) / f"{name}.d.npz",
        np.asarray(reference, np.float32),
        np.asarray(query, np.float32),
        rows["reference"],
        rows["query"],
        provenance("describe", {}, manifest=manifest, checkpoint=checkpoint),
    )
    indices = np.asarray(indices, dtype=np.int64)
    return save_retrieval(
        Path(folder) / f"{name}.npz",
        indices,
        np.zeros(indices.shape, np.float32),
        rows["reference"],
        rows["query"],
        provenance("retrieve", {}, descriptors=desc),
    )
