"""nordland64: the real development sample, and fixture trees shaped like the public tar
(`64x32-grayscale-1fps/{spring,summer,fall,winter}/images-NNNNN.png`, numbered from 00001)."""

import io
import os
import shutil
import tarfile

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from acmnet.config import ConfigError
from acmnet.data import download as dl
from acmnet.data import manifest as mf
from acmnet.data.datasets import nordland64 as n64
from acmnet.data.datasets.base import LayoutError

SMALL_FRAMES = list(range(10, 1001, 10))  # fixture trees: the real sample's naming, 100 places
SAMPLE = {"frames_csv": None, "frame_step": 10, "frame_range": [10, 17880]}  # the sample's protocol on the tar


def prepare(root, options=None, name=None):
    return n64.DATASET.prepare_manifest(root, options or {}, name)


def _touch(path):
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))


def _tree(root, seasons=("summer", "winter"), frames=SMALL_FRAMES, usable=None):
    """Empty files with the real names (enough for everything that decodes nothing)."""
    for season in seasons:
        (root / season).mkdir(parents=True, exist_ok=True)
        for f in frames:
            _touch(root / season / n64.image_name(f))
    if usable is not None:
        pd.DataFrame({"frame": frames, "file": [n64.image_name(f) for f in frames], "usable": usable}).to_csv(
            root / "frames.csv", index=False
        )
    return root


def _png(level=None, seed=0, std=None):
    """A 64x32 grey frame stored as RGB (as the release does): noise, or flat +/- `std`."""
    rng = np.random.default_rng(seed)
    if std is None:
        grey = rng.integers(0, 256, (32, 64))
    else:
        grey = np.clip(np.rint(level + rng.choice([-std, std], (32, 64))), 0, 255)
    buf = io.BytesIO()
    Image.fromarray(np.repeat(grey.astype(np.uint8)[..., None], 3, axis=2)).save(buf, format="PNG")
    return buf.getvalue()


def tar_tree(root, frames=60, seasons=n64.SEASONS):
    """The tar's tree under `root`: frames 1..`frames` of every season, real PNGs. In winter, frame
    20 is blank, 30 near-blank (std 3) and 40 and 41 byte-identical; in summer frame 50 has std 6."""
    special = {
        ("winter", 20): _png(0, std=0),
        ("winter", 30): _png(120, std=3),
        ("summer", 50): _png(100, std=6),
        ("winter", 40): _png(seed=999),
        ("winter", 41): _png(seed=999),
    }
    for s, season in enumerate(seasons):
        folder = root / n64.TOP / season
        folder.mkdir(parents=True)
        for f in range(1, frames + 1):
            (folder / n64.image_name(f)).write_bytes(special.get((season, f)) or _png(seed=1000 * s + f))
    return root


# ---- the real sample -----------------------------------------------------------------------


def test_real_sample_counts_and_places(nordland64_root):
    frames = pd.read_csv(nordland64_root / "frames.csv")
    assert len(frames) == 1788 and (frames["usable"] == 0).sum() == 58
    frame = mf.validate(prepare(nordland64_root))
    counts = frame.groupby(["role", "condition"]).size().to_dict()
    assert counts == {("train", "summer"): 1730, ("reference", "summer"): 1730, ("query", "winter"): 1730}
    # place = rank of the file in frame order over all 1788 listed files: frame / 10 - 1
    numbers = frame["image"].str.extract(r"images-(\d{5})\.png")[0].astype(int)
    assert (frame["place"] == numbers // 10 - 1).all()
    unusable = set(frames.loc[frames["usable"] == 0, "file"])
    assert not set(frame["image"].str.split("/").str[1]) & unusable
    q = frame[frame["role"] == "query"].set_index("place")["image"].str.split("/").str[1]
    r = frame[frame["role"] == "reference"].set_index("place")["image"].str.split("/").str[1]
    assert q.equals(r)  # winter X matches summer X
    assert (nordland64_root / frame["image"].iloc[0]).is_file()


def test_real_sample_unusable_frames_from_the_images_equal_the_csv(nordland64_root):
    """frames.csv ignored: std < 5 or byte-identical, in either season, marks exactly its 58 frames,
    and places (rank among all kept frames) agree with the csv's."""
    frames = pd.read_csv(nordland64_root / "frames.csv")
    opts = n64.DATASET.parse_options(SAMPLE, "datasets.nordland64")
    cat = n64.catalogue(nordland64_root, opts)
    assert cat.usable is None and len(cat.order) == 1788 and cat.order == frames["file"].tolist()
    why = n64.unusable_frames(cat.base, cat.order, opts.seasons(), opts)
    assert set(why) == set(frames.loc[frames["usable"] == 0, "file"])
    assert why["images-00010.png"].startswith("summer: pixel std 3.01")
    computed = prepare(nordland64_root, SAMPLE)
    assert computed.equals(prepare(nordland64_root))  # same rows, same places as with frames.csv
    # the duplicate rule alone: frames 10..170 are byte-identical in both seasons (all also near-blank)
    dup_opts = n64.DATASET.parse_options({**SAMPLE, "drop_blank_std": None}, "datasets.nordland64")
    dups = n64.unusable_frames(cat.base, cat.order, opts.seasons(), dup_opts)
    assert sorted(dups) == [n64.image_name(f) for f in range(10, 171, 10)]


def test_real_sample_without_frames_csv_and_frame_step_1_says_what_to_set(nordland64_root):
    with pytest.raises(
        LayoutError, match=r"summer lacks 16083 of its 17871 images .*every 10th frame on purpose, set frame_step: 10"
    ):
        prepare(nordland64_root, {"frames_csv": None})


# ---- the public tar ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tar_root(tmp_path_factory):
    return tar_tree(tmp_path_factory.mktemp("tar") / "nordland64")


def test_tar_tree_every_frame(tar_root, capsys):
    frame = mf.validate(prepare(tar_root, {"query_seasons": ["winter", "spring", "fall"]}))
    assert f"reading {tar_root / n64.TOP}" in capsys.readouterr().err
    assert mf.query_sets(frame) == ["winter", "spring", "fall"]
    q = frame[frame["condition"] == "winter"]
    left_out = {20, 30, 40, 41}  # winter: blank, near-blank, a byte-identical pair; summer 50 (std 6) is kept
    assert q["place"].tolist() == [f - 1 for f in range(1, 61) if f not in left_out]
    assert q["image"].iloc[0] == f"{n64.TOP}/winter/images-00001.png"
    assert frame.groupby("role").size().to_dict() == {"train": 56, "reference": 56, "query": 168}
    assert (tar_root / q["image"].iloc[-1]).is_file()
    # the same tree read with the top folder as the root
    top = prepare(tar_root / n64.TOP, {"query_seasons": ["winter", "spring", "fall"]})
    assert top["image"].tolist() == [i.removeprefix(f"{n64.TOP}/") for i in frame["image"]]


def test_tar_tree_step_range_and_drop_options(tar_root):
    frame = prepare(tar_root, {"frame_step": 10, "frame_range": [10, 50]})
    q = frame[frame["role"] == "query"]
    assert q["image"].str[-9:-4].astype(int).tolist() == [10, 40, 50]  # 20 blank, 30 near-blank (winter)
    assert q["place"].tolist() == [0, 3, 4]  # rank among ALL kept frames (10, 20, 30, 40, 50)
    kept = prepare(tar_root, {"frame_step": 10, "frame_range": [10, 50], "drop_blank_std": None})
    assert kept.loc[kept["role"] == "query", "place"].tolist() == [0, 1, 2, 3, 4]  # 40 alone is no duplicate
    strict = prepare(tar_root, {"frame_range": [45, 55], "drop_blank_std": 7.0})
    assert 50 - 45 not in strict["place"].tolist()  # summer 50: std 6 < 7
    dups = prepare(tar_root, {"frame_range": [35, 45], "drop_blank_std": None})
    assert dups.loc[dups["role"] == "query", "place"].tolist() == [0, 1, 2, 3, 4, 7, 8, 9, 10]
    both = prepare(tar_root, {"frame_range": [35, 45], "drop_blank_std": None, "drop_duplicates": False})
    assert len(both) == 3 * 11


def test_tar_frame_range_past_the_last_frame(tar_root):
    with pytest.raises(
        LayoutError,
        match=r"lacks 4 of its 10 images \(first: images-00070.png.*frame_range ends at 100; the last frame here is 60",
    ):
        prepare(tar_root, {"frame_step": 10, "frame_range": [10, 100]})


def test_download_then_prepare(tar_root, tmp_path, monkeypatch):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(tar_root / n64.TOP, arcname=n64.TOP)
    fetched = []

    def fake_download(url, dest, **kwargs):
        fetched.append(url)
        dest.write_bytes(buf.getvalue())
        return dest

    monkeypatch.setattr(dl, "download", fake_download)
    root = tmp_path / "nordland64"
    assert dl.fetch_dataset("nordland64", root, progress=False) == root
    assert fetched == [n64.URL] and (root / n64.TOP / "winter" / "images-00060.png").is_file()
    frame = prepare(root, {"frame_step": 10})
    assert frame["image"].iloc[0] == f"{n64.TOP}/summer/images-00010.png"
    assert (frame["role"] == "query").sum() == 4  # 10, 40, 50, 60
    dl.fetch_dataset("nordland64", root, progress=False)
    assert len(fetched) == 1  # done: not fetched again


# ---- fixture trees (layout checks decode nothing) ------------------------------------------


@pytest.fixture
def sample(tmp_path):
    usable = [1] * len(SMALL_FRAMES)
    for i in (0, 1, 50, 99):
        usable[i] = 0
    return _tree(tmp_path / "nordland64", usable=usable)


def test_frames_csv_drops_unusable_and_keeps_spacing(sample):
    frame = prepare(sample)
    q = frame[frame["role"] == "query"]
    assert len(q) == 96
    assert q["place"].iloc[0] == 2 and q["image"].iloc[0] == "winter/images-00030.png"
    assert 50 not in set(q["place"]) and q["place"].iloc[-1] == 98
    stepped = prepare(sample, {"frame_step": 20})  # the csv filtered by step: places among kept rows
    q = stepped[stepped["role"] == "query"]
    assert q["image"].iloc[0] == "winter/images-00040.png" and q["place"].iloc[0] == 1  # 20: usable=0
    assert q["place"].iloc[-1] == 48 and "winter/images-01000.png" not in set(q["image"])


def test_missing_season_folder(sample):
    with pytest.raises(LayoutError, match=r"fall is missing \(season folders here: summer, winter\)"):
        prepare(sample, {"query_seasons": ["fall"]})


def test_missing_files_with_frames_csv(sample):
    (sample / "winter" / "images-00500.png").unlink()
    (sample / "winter" / "images-00020.png").rename(sample / "winter" / "._images-00020.png")
    with pytest.raises(
        LayoutError, match=r"winter lacks 2 of its 100 images \(first: images-00020.png, images-00500.png\)"
    ):
        prepare(sample)


def test_missing_files_without_frames_csv(tmp_path):
    _tree(tmp_path, frames=range(1, 101))
    (tmp_path / "summer" / "images-00050.png").unlink()  # a gap
    (tmp_path / "winter" / "images-00100.png").unlink()  # a short tail, seen against summer
    with pytest.raises(LayoutError, match=r"summer lacks 1 of its 100 images \(first: images-00050.png\)"):
        n64.DATASET.check_layout(tmp_path, n64.Nordland64Options())
    (tmp_path / "summer" / "images-00050.png").touch()
    with pytest.raises(
        LayoutError, match=r"winter lacks 1 of its 100 images \(first: images-00100.png\).*frame-synchronised"
    ):
        n64.DATASET.check_layout(tmp_path, n64.Nordland64Options())


def test_undecodable_frame_names_the_file_and_the_option(tmp_path):
    _tree(tmp_path, frames=range(1, 4))
    with pytest.raises(LayoutError, match=r"images-00001.png cannot be decoded.*datasets.n.drop_blank_std: null"):
        prepare(tmp_path, {}, "n")


def test_extra_files(sample):
    for junk in (".DS_Store", "Thumbs.db", "notes.txt", "._images-01010.png"):
        (sample / "summer" / junk).touch()
    (sample / "README.txt").touch()
    assert len(prepare(sample)) == 3 * 96  # unknown, hidden and sidecar files are ignored
    (sample / "summer" / "images-01010.png").touch()
    with pytest.raises(LayoutError, match=r"summer holds 1 image\(s\) not listed in .*frames.csv \(images-01010.png\)"):
        prepare(sample)
    assert len(prepare(sample, {"frame_range": [10, 1000]})) == 3 * 96  # outside the range: not kept


def test_bad_frames_csv(sample):
    (sample / "frames.csv").write_text("frame,name\n10,images-00010.png\n")
    with pytest.raises(LayoutError, match="lacks column\\(s\\) file, usable"):
        prepare(sample)
    (sample / "frames.csv").write_text("frame,file,usable\n10,images-00010.png,yes\n")
    with pytest.raises(LayoutError, match="data row 1: `usable` is 'yes', not a number"):
        prepare(sample)
    (sample / "frames.csv").write_text("frame,file,usable\n20,images-00010.png,1\n")
    with pytest.raises(LayoutError, match="frame 20 is listed with file images-00010.png"):
        prepare(sample)
    with pytest.raises(LayoutError, match="other.csv does not exist"):
        prepare(sample, {"frames_csv": "other.csv"})


def test_wrong_root(sample, tmp_path):
    nested = tmp_path / "deep" / "a"
    nested.mkdir(parents=True)
    shutil.move(str(sample), str(nested / "nordland64"))
    with pytest.raises(LayoutError, match=rf"two levels deeper: use {nested / 'nordland64'} as the root"):
        prepare(tmp_path / "deep")
    with pytest.raises(LayoutError, match=rf"inside a season folder: use {nested / 'nordland64'} instead"):
        prepare(nested / "nordland64" / "summer")
    empty = tmp_path / "empty"
    empty.mkdir()
    _touch(empty / f"{n64.TOP}.tar")
    with pytest.raises(LayoutError, match=r"64x32-grayscale-1fps.tar is here but not extracted"):
        prepare(empty)


def test_options(sample):
    with pytest.raises(ConfigError, match="unknown config key `datasets.n.query_season`"):
        prepare(sample, {"query_season": "winter"}, "n")
    with pytest.raises(ConfigError, match="both the reference and a query season"):
        prepare(sample, {"query_seasons": "summer"})
    with pytest.raises(ConfigError, match=r"datasets.n.frame_range must be \[first, last\] with 1 <= first <= last"):
        prepare(sample, {"frame_range": [30, 10]}, "n")
    with pytest.raises(ConfigError, match=r"datasets.n.frame_step must be at least 1"):
        prepare(sample, {"frame_step": 0}, "n")
    with pytest.raises(ConfigError, match=r"datasets.n.frame_range must be a list of 2 values"):
        prepare(sample, {"frame_range": 10}, "n")
    frame = prepare(sample, {"reference_season": "winter", "query_seasons": "summer"})
    assert frame.loc[frame["role"] == "reference", "condition"].unique().tolist() == ["winter"]


def test_sources():
    (entry,) = n64.SOURCES
    assert isinstance(entry, dl.Download) and entry.extract
    assert entry.url == "http://www.tu-chemnitz.de/etit/proaut/datasets/nordland/64x32-grayscale-1fps.tar"


def test_parts_split_the_kept_frames_into_disjoint_stretches(nordland64_root):
    first = mf.validate(n64.DATASET.prepare_manifest(nordland64_root, {"part": [0.0, 0.5]}))
    second = mf.validate(n64.DATASET.prepare_manifest(nordland64_root, {"part": [0.5, 1.0]}))
    whole = mf.validate(n64.DATASET.prepare_manifest(nordland64_root, {}))
    a, b = (set(f.loc[f["role"] == "query", "place"]) for f in (first, second))
    assert not a & b and a | b == set(whole.loc[whole["role"] == "query", "place"])
    assert max(a) < min(b)  # the first half of the route, then the second
    with pytest.raises(ConfigError, match=r"part must be \[start, end\] fractions with start < end"):
        n64.DATASET.parse_options({"part": [0.5, 0.5]}, "datasets.n")


def test_protocol_names_the_frames_kept_and_the_stretch():
    from acmnet.data.datasets.nordland64 import Nordland64Options, protocol

    text = protocol(Nordland64Options(frame_step=10, part=(0.5, 1.0), frames_csv=None))
    assert "every 10th frame" in text and "[0.5, 1.0]" in text and "byte-identical" in text
    assert "summer references, winter queries" in text
    assert "one unbroken stretch of the 1 fps release (no join" in text  # issue 24 item 5: no join inside a part
    whole = protocol(Nordland64Options(drop_blank_std=None, drop_duplicates=False, frames_csv=None))
    assert "whole route" in whole and "every frame kept" in whole
    assert "frames.csv's usable column" in protocol(Nordland64Options())
