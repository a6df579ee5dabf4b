"""Images straight from their files (`acmnet.data.loader`): the cache's pixels, bit for bit."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from acmnet.data.cache import decode_image, image_paths
from acmnet.data.loader import image_batches, manifest_images
from acmnet.io import UnreadableImageError
from tests.conftest import write_cache, write_manifest


def _images(tmp_path, n=9):
    """Images of several kinds and sizes (RGB, grey and 16-bit PNG, JPEG, an EXIF-rotated JPEG) and
    the cache of their manifest at 24x20; (names, cache)."""
    rng = np.random.default_rng(3)
    names = []
    for i in range(n):
        kind = i % 5
        if kind == 0:
            image, name = Image.fromarray(rng.integers(0, 255, (30 + i, 41, 3), dtype=np.uint8)), f"{i}.png"
        elif kind == 1:
            image, name = Image.fromarray(rng.integers(0, 255, (50, 37 + i, 3), dtype=np.uint8)), f"{i}.jpg"
        elif kind == 2:
            image, name = Image.fromarray(rng.integers(0, 255, (24, 20), dtype=np.uint8), "L"), f"{i}.png"
        elif kind == 3:
            image, name = Image.fromarray(rng.integers(0, 65535, (33, 29), dtype=np.uint16)), f"{i}.png"
        else:
            image, name = Image.fromarray(rng.integers(0, 255, (26, 44, 3), dtype=np.uint8)), f"{i}.jpg"
            exif = image.getexif()
            exif[0x0112] = 6  # shown turned by 90 degrees
            image.save(tmp_path / name, exif=exif)
            names.append(name)
            continue
        image.save(tmp_path / name)
        names.append(name)
    roles = ["reference"] * (n - 3) + ["query"] * 3
    frame = pd.DataFrame({"image": names, "role": roles, "place": range(n), "condition": "c"})
    manifest = write_manifest(frame, tmp_path / "m.csv")
    return names, manifest, write_cache(manifest, tmp_path, tmp_path / "c.npy", (24, 20))


@pytest.mark.parametrize("workers", [0, 2])
def test_batches_from_files_hold_the_cached_pixels_bit_for_bit(tmp_path, workers):
    names, _, cache = _images(tmp_path)
    paths = image_paths(tmp_path, names)
    batches = list(image_batches(paths, (24, 20), batch_size=4, workers=workers))
    assert [len(pixels) for pixels, _ in batches] == [4, 4, 1]  # in order, `batch_size` at a time
    pixels = np.concatenate([p.numpy() for p, _ in batches])
    assert pixels.dtype == np.uint8 and pixels.shape == (9, 24, 20, 3)
    assert pixels.tobytes() == np.asarray(cache.array).tobytes()  # the cache's rows, bit for bit
    assert [d for _, found in batches for d in found] == cache.row_digests  # what its index records
    assert list(image_batches([], (24, 20), 4)) == []


def test_an_undecodable_image_is_one_error_naming_it(tmp_path):
    names, _, _ = _images(tmp_path, n=4)
    (tmp_path / "bad.png").write_text("<html>not found</html>")
    paths = image_paths(tmp_path, names) + [tmp_path / "bad.png"]
    with pytest.raises(UnreadableImageError, match=r"bad\.png cannot be decoded: it holds text") as err:
        list(image_batches(paths, (24, 20), batch_size=2, workers=1))
    assert "Traceback" not in str(err.value) and "worker" not in str(err.value)


def test_figures_get_the_same_images_from_files_as_from_the_cache(tmp_path):
    _, manifest, cache = _images(tmp_path)
    from_cache = manifest_images(manifest, cache.path, None, (24, 20))
    from_files = manifest_images(manifest, None, tmp_path, (24, 20))
    rows = np.array([8, 0, 3, 3])
    assert from_files(rows).tobytes() == from_cache(rows).tobytes()
    assert from_files(rows[:1]).tobytes() == decode_image(tmp_path / manifest.frame["image"][8], (24, 20)).tobytes()
    with pytest.raises(ValueError, match="give the image cache, or the dataset"):
        manifest_images(manifest, None, None, (24, 20))
