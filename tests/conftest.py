"""Shared fixtures. Tests never touch the network: the hub is forced offline."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import torch

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
