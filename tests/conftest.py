"""Shared fixtures. Tests never touch the network: the hub is forced offline."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def nordland64_root() -> Path:
    root = SHARED_DATA / "nordland64"
    if not (root / "frames.csv").is_file():
        pytest.skip(f"real-data sample not found at {root} (only present on the development machines)")
    return root
