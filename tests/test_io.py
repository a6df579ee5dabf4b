import os
import stat

import numpy as np
import pytest
from PIL import Image

from acmnet.io import atomic_path, atomic_write_text, load_rgb


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.csv"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_replaces_and_uses_normal_permissions(tmp_path):
    target = tmp_path / "a" / "b.txt"
    atomic_write_text(target, "one")
    atomic_write_text(target, "two")
    assert target.read_text() == "two"
    mode = stat.S_IMODE(os.stat(target).st_mode)
    assert mode & stat.S_IRGRP, "outputs must not stay 0600 like mkstemp's temporary files"


def test_load_rgb_resizes_grey_to_rgb(tmp_path):
    path = tmp_path / "g.png"
    Image.fromarray(np.full((32, 64), 200, dtype=np.uint8)).save(path)
    img = load_rgb(path, (16, 16))
    assert img.shape == (16, 16, 3) and img.dtype == np.uint8
    assert int(img.mean()) == 200


def test_load_rgb_names_missing_and_corrupt_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.png"):
        load_rgb(tmp_path / "nope.png")
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image at all")
    with pytest.raises(ValueError, match="bad.jpg.*cannot be decoded"):
        load_rgb(bad)
