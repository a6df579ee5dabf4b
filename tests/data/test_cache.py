import numpy as np
import pandas as pd
import pytest
from PIL import Image

from acmnet.data.cache import ImageCache, build_cache


def _frame(names):
    return pd.DataFrame({"image": names, "role": "reference", "place": range(len(names)), "condition": "c"})


def test_cache_holds_resized_images_in_manifest_order(tmp_path):
    for i in range(3):
        Image.fromarray(np.full((20, 40, 3), 50 * i, dtype=np.uint8)).save(tmp_path / f"{i}.png")
    frame = _frame(["2.png", "0.png", "1.png", "0.png"])  # duplicates are cached once
    out = build_cache(frame, tmp_path, tmp_path / "cache" / "images.npy", (8, 8), progress=False)
    cache = ImageCache.open(out)
    assert cache.array.shape == (3, 8, 8, 3) and cache.array.dtype == np.uint8
    assert isinstance(cache.array, np.memmap)
    assert [int(cache.array[i].mean()) for i in range(3)] == [100, 0, 50]
    assert cache.rows_for(frame).tolist() == [0, 1, 2, 1]


def test_missing_images_are_listed_and_nothing_is_written(tmp_path):
    Image.fromarray(np.zeros((4, 4, 3), dtype=np.uint8)).save(tmp_path / "ok.png")
    with pytest.raises(FileNotFoundError, match=r"2 image\(s\).*gone1.png"):
        build_cache(_frame(["ok.png", "gone1.png", "gone2.png"]), tmp_path, tmp_path / "c.npy", (4, 4), progress=False)
    assert not (tmp_path / "c.npy").exists() and not (tmp_path / "c.json").exists()


def test_undecodable_image_is_named_and_no_partial_cache_remains(tmp_path):
    Image.fromarray(np.zeros((4, 4, 3), dtype=np.uint8)).save(tmp_path / "ok.png")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    with pytest.raises(ValueError, match="broken.jpg"):
        build_cache(_frame(["ok.png", "broken.jpg"]), tmp_path, tmp_path / "c.npy", (4, 4), progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.jpg", "ok.png"]


def test_incomplete_cache_is_refused(tmp_path):
    np.save(tmp_path / "c.npy", np.zeros((1, 2, 2, 3), dtype=np.uint8))
    with pytest.raises(FileNotFoundError, match="incomplete"):
        ImageCache.open(tmp_path / "c.npy")
