"""The listing of a dataset's folder: `prepare`'s rerun trigger for changed raw data."""

import os
import time

import numpy as np
from PIL import Image

from acmnet.data.listing import folder_listing


def _image(path, value):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8, 3), value, dtype=np.uint8)).save(path)


def _later(path):
    """Give `path` a modification time one second later (file systems with coarse times)."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def test_every_change_of_the_images_changes_the_listing_and_nothing_else_does(tmp_path):
    root = tmp_path / "pair"
    for folder in ("day", "night"):
        for i in range(3):
            _image(root / folder / f"{i}.png", 10 * i)
    first = folder_listing(root)
    assert first.startswith("6 files, ") and folder_listing(root) == first  # stable
    seen = {first}

    _image(root / "night" / "1.png", 200)  # the same name, other pixels
    _later(root / "night" / "1.png")
    seen.add(folder_listing(root))
    _image(root / "night" / "3.png", 5)  # added
    seen.add(folder_listing(root))
    (root / "day" / "0.png").unlink()  # removed
    seen.add(folder_listing(root))
    (root / "day" / "1.png").rename(root / "day" / "9.png")  # renamed
    seen.add(folder_listing(root))
    assert len(seen) == 5

    now = folder_listing(root)
    (root / ".DS_Store").write_bytes(b"x")  # hidden and sidecar entries are not data
    (root / "night" / "Thumbs.db").write_bytes(b"x")
    (root / "night" / ".2.tmp.png").write_bytes(b"x")
    assert folder_listing(root) == now


def test_a_root_not_there_yet_a_dangling_link_and_a_linked_loop(tmp_path):
    assert folder_listing(tmp_path / "to_download") == "absent"  # not an error: Snakemake plans before downloads
    root = tmp_path / "root"
    _image(root / "a" / "0.png", 1)
    before = folder_listing(root)
    (root / "a" / "1.png").symlink_to(tmp_path / "missing.png")
    (root / "a" / "loop").symlink_to(root, target_is_directory=True)
    started = time.perf_counter()
    listing = folder_listing(root)
    assert listing != before and listing.startswith("2 files, ") and time.perf_counter() - started < 5


def test_a_file_read_outside_the_root_changes_the_trigger_by_content(tmp_path):
    """Issue 33 item 1: an index file outside the root, rewritten under its old size and time."""
    from acmnet.data.listing import prepare_trigger

    root, index = tmp_path / "root", tmp_path / "elsewhere" / "pIdx.npy"
    _image(root / "a.png", 1)
    index.parent.mkdir()
    index.write_bytes(b"0123")
    first = prepare_trigger(root, [index])
    assert prepare_trigger(root, [index]) == first and first.startswith(folder_listing(root))
    st = index.stat()
    index.write_bytes(b"3210")
    os.utime(index, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert prepare_trigger(root, [index]) != first
    index.unlink()
    assert prepare_trigger(root, [index]) not in (first, folder_listing(root))
