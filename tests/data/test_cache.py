import numpy as np
import pandas as pd
import pytest
from PIL import Image

from acmnet.artifacts import ArtifactError, ProvenanceError, file_digest, load_cache
from acmnet.data.cache import build_cache
from tests.conftest import write_cache, write_manifest


def _manifest(tmp_path, names, name="m.csv"):
    roles = ["reference"] * (len(names) - 1) + ["query"]
    frame = pd.DataFrame({"image": names, "role": roles, "place": range(len(names)), "condition": "c"})
    return write_manifest(frame, tmp_path / name)


def _images(tmp_path, n=3, shape=(20, 40, 3)):
    for i in range(n):
        Image.fromarray(np.full(shape, 50 * i, dtype=np.uint8)).save(tmp_path / f"{i}.png")


def test_cache_holds_resized_images_in_manifest_order(tmp_path):
    _images(tmp_path)
    manifest = _manifest(tmp_path, ["2.png", "0.png", "1.png", "0.png"])  # duplicates are cached once
    cache = write_cache(manifest, tmp_path, tmp_path / "cache" / "images.npy", (8, 8))
    assert cache.array.shape == (3, 8, 8, 3) and cache.array.dtype == np.uint8
    assert isinstance(cache.array, np.memmap)
    assert [int(cache.array[i].mean()) for i in range(3)] == [100, 0, 50]
    assert cache.rows_for(manifest.frame).tolist() == [0, 1, 2, 1]


def test_row_digests_follow_the_pixels(tmp_path):
    _images(tmp_path)
    manifest = _manifest(tmp_path, ["0.png", "1.png", "2.png"])
    first = write_cache(manifest, tmp_path, tmp_path / "a.npy", (8, 8))
    assert len(set(first.row_digests)) == 3
    Image.fromarray(np.full((20, 40, 3), 7, dtype=np.uint8)).save(tmp_path / "1.png")  # same name, new pixels
    second = write_cache(manifest, tmp_path, tmp_path / "b.npy", (8, 8))
    assert first.row_digests[0] == second.row_digests[0] and first.row_digests[1] != second.row_digests[1]
    assert first.rows_digest(np.array([0, 2])) == second.rows_digest(np.array([0, 2]))
    assert first.digest != second.digest


def test_a_cache_of_another_manifest_is_refused_naming_both(tmp_path):
    _images(tmp_path)
    manifest = _manifest(tmp_path, ["0.png", "1.png", "2.png"])
    other = _manifest(tmp_path, ["0.png", "1.png"], name="other.csv")
    write_cache(manifest, tmp_path, tmp_path / "c.npy", (8, 8))
    with pytest.raises(ProvenanceError, match=r"c\.npy was made from manifest .*m\.csv.*not from .*other\.csv"):
        load_cache(tmp_path / "c.npy", other)


def test_missing_images_are_listed_and_nothing_is_written(tmp_path):
    Image.fromarray(np.zeros((4, 4, 3), dtype=np.uint8)).save(tmp_path / "ok.png")
    manifest = _manifest(tmp_path, ["ok.png", "gone1.png", "gone2.png"])
    with pytest.raises(FileNotFoundError, match=r"2 image\(s\).*gone1.png"):
        build_cache(manifest, tmp_path, tmp_path / "c.npy", (4, 4), {}, progress=False)
    assert not (tmp_path / "c.npy").exists() and not (tmp_path / "c.json").exists()


def test_every_undecodable_image_is_named_in_one_message_and_nothing_remains(tmp_path):
    Image.fromarray(np.zeros((4, 4, 3), dtype=np.uint8)).save(tmp_path / "ok.png")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    (tmp_path / "empty.png").write_bytes(b"")
    manifest = _manifest(tmp_path, ["ok.png", "broken.jpg", "empty.png"])
    with pytest.raises(ValueError, match=r"2 of 3 images cannot be decoded.*broken\.jpg.*empty\.png"):
        build_cache(manifest, tmp_path, tmp_path / "c.npy", (4, 4), {}, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["broken.jpg", "empty.png", "ok.png", "m.csv", "m.provenance.json"]
    )


def test_incomplete_cache_is_refused(tmp_path):
    np.save(tmp_path / "c.npy", np.zeros((1, 2, 2, 3), dtype=np.uint8))
    with pytest.raises(ArtifactError, match="incomplete"):
        load_cache(tmp_path / "c.npy")


def test_an_index_never_passes_for_another_array(tmp_path):
    _images(tmp_path)
    manifest = _manifest(tmp_path, ["0.png", "1.png", "2.png"])
    write_cache(manifest, tmp_path, tmp_path / "c.npy", (8, 8))
    np.save(tmp_path / "c.npy", np.zeros((3, 8, 8, 3), np.uint8))  # same shape, other pixels, old index
    with pytest.raises(ArtifactError, match="not the array its index c.json describes"):
        load_cache(tmp_path / "c.npy", manifest)


def test_every_row_is_verified_not_a_sample(tmp_path):
    """Issue 18: one changed pixel in any row (here one a spot check of 8 rows never looked at) is
    refused; the index records a digest of the whole array, taken when the cache was built."""
    import json

    for i in range(20):
        Image.fromarray(np.full((8, 8, 3), 10 * i, dtype=np.uint8)).save(tmp_path / f"{i}.png")
    manifest = _manifest(tmp_path, [f"{i}.png" for i in range(20)])
    write_cache(manifest, tmp_path, tmp_path / "c.npy", (8, 8))
    meta = json.loads((tmp_path / "c.json").read_text())
    assert meta["content_digest"] == file_digest(tmp_path / "c.npy")
    array = np.load(tmp_path / "c.npy", mmap_mode="r+")
    array[1, 3, 3, 0] ^= 1  # in place: same size, same header
    array.flush()
    del array
    with pytest.raises(ArtifactError, match=r"c\.npy is not the array its index c\.json describes.*acmnet cache"):
        load_cache(tmp_path / "c.npy", manifest)


def test_an_index_without_a_content_digest_is_verified_row_by_row(tmp_path):
    """A cache built before the index recorded a content digest: every row against its pixel digest."""
    import json

    for i in range(20):
        Image.fromarray(np.full((8, 8, 3), 10 * i, dtype=np.uint8)).save(tmp_path / f"{i}.png")
    manifest = _manifest(tmp_path, [f"{i}.png" for i in range(20)])
    write_cache(manifest, tmp_path, tmp_path / "c.npy", (8, 8))
    meta = json.loads((tmp_path / "c.json").read_text())
    del meta["content_digest"]
    (tmp_path / "c.json").write_text(json.dumps(meta))
    assert load_cache(tmp_path / "c.npy", manifest).array.shape == (20, 8, 8, 3)
    array = np.load(tmp_path / "c.npy", mmap_mode="r+")
    array[11, 0, 0, 2] ^= 1
    array.flush()
    del array
    with pytest.raises(ArtifactError, match="not the array its index c.json describes"):
        load_cache(tmp_path / "c.npy", manifest)


def test_a_stop_during_caching_leaves_no_temporary_file(tmp_path, monkeypatch):
    """SIGTERM while images are decoded: the step stops at once (pending decodes dropped), exits
    143 and removes its full-size temporary array."""
    import os
    import signal
    import time

    import acmnet.data.cache as cache_module
    from acmnet.cli import main

    names = [f"{i}.png" for i in range(200)]
    for name in names:
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / name)
    _manifest(tmp_path, names)
    real, calls = cache_module._decode, []

    def slow(path, size):
        calls.append(path)
        if len(calls) == 20:
            os.kill(os.getpid(), signal.SIGTERM)  # a preempted job, part way through
        time.sleep(0.02)
        return real(path, size)

    monkeypatch.setattr(cache_module, "_decode", slow)
    dataset = f"{{type: folder_pair, root: {tmp_path}, reference: a, query: b}}"
    (tmp_path / "c.yaml").write_text(f"datasets: {{d: {dataset}}}")
    out = tmp_path / "cache" / "c.npy"
    code = main(
        [
            "cache",
            "--config",
            str(tmp_path / "c.yaml"),
            "--dataset",
            "d",
            "--manifest",
            str(tmp_path / "m.csv"),
            "--out",
            str(out),
            "--workers",
            "2",
        ]
    )
    assert code == 143 and len(calls) < 100  # stopped, pending decodes dropped rather than waited for
    assert out.parent.is_dir() and not list(out.parent.iterdir())  # no hidden .c.*.tmp.npy left behind


def test_manifest_entries_that_are_not_image_files_are_each_named_and_nothing_is_written(tmp_path):
    """A broken link, a folder or a device under an image name is an error naming it, never a
    smaller set of queries or references (issue 18)."""
    import os

    Image.fromarray(np.zeros((4, 4, 3), dtype=np.uint8)).save(tmp_path / "ok.png")
    (tmp_path / "link.png").symlink_to(tmp_path / "moved.png")
    (tmp_path / "dir.png").mkdir()
    os.mkfifo(tmp_path / "pipe.png")
    manifest = _manifest(tmp_path, ["ok.png", "link.png", "dir.png", "pipe.png"])
    with pytest.raises(ValueError) as err:
        build_cache(manifest, tmp_path, tmp_path / "c.npy", (4, 4), {}, progress=False)
    message = str(err.value)
    assert "3 of 4 images of the manifest are not image files; nothing was cached" in message
    assert "link.png is a broken symbolic link" in message and "moved.png" in message
    assert "dir.png is a folder" in message and "pipe.png is not a regular file" in message
    assert "\n" not in message and not (tmp_path / "c.npy").exists()


def test_text_saved_under_an_image_name_is_named_as_text(tmp_path):
    Image.fromarray(np.zeros((4, 4, 3), dtype=np.uint8)).save(tmp_path / "ok.jpg")
    (tmp_path / "page.jpg").write_text("<!DOCTYPE html><title>Access denied</title>")
    manifest = _manifest(tmp_path, ["ok.jpg", "page.jpg"])
    text = r"1 of 2 images cannot be decoded.*page\.jpg cannot be decoded: it holds text"
    with pytest.raises(ValueError, match=text):
        build_cache(manifest, tmp_path, tmp_path / "c.npy", (4, 4), {}, progress=False)
    assert not (tmp_path / "c.npy").exists()


def test_a_full_disk_is_no_space_left_naming_the_folder(tmp_path, monkeypatch):
    """Issue 33 item 7 for the cache, written through a memory map as the descriptor parts are."""
    import shutil

    from acmnet import io

    _images(tmp_path, n=2)
    manifest = _manifest(tmp_path, ["0.png", "1.png"])
    monkeypatch.setattr(io.shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**9, 10**9 - 10, 10))
    out = tmp_path / "cache" / "c.npy"
    with pytest.raises(io.NoSpaceError, match=rf"no space left on {out.parent}: the image cache \(2 images of 64x64\)"):
        build_cache(manifest, tmp_path, out, (64, 64), {}, progress=False)
    assert list(out.parent.iterdir()) == []
