import os

import pandas as pd
import pytest

from acmnet.config import ConfigError
from acmnet.data import manifest as mf
from acmnet.data.datasets import nordland64 as n64
from acmnet.data.datasets.nordland import LayoutError
from acmnet.data.download import Download

SMALL_FRAMES = list(range(10, 1001, 10))  # fixture trees: the real sample's naming, 100 places


def _name(frame):
    return f"images-{frame:05d}.png"


def _touch(path):
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))


def _tree(root, seasons=("summer", "winter"), frames=SMALL_FRAMES, usable=None):
    for season in seasons:
        (root / season).mkdir(parents=True, exist_ok=True)
        for f in frames:
            _touch(root / season / _name(f))
    if usable is not None:
        pd.DataFrame({"frame": frames, "file": [_name(f) for f in frames], "usable": usable}).to_csv(
            root / "frames.csv", index=False)
    return root


# ---- the real sample -----------------------------------------------------------------------

def test_real_sample_counts_and_places(nordland64_root):
    frames = pd.read_csv(nordland64_root / "frames.csv")
    assert len(frames) == 1788 and (frames["usable"] == 0).sum() == 58
    frame = mf.validate(n64.prepare(nordland64_root, {}))
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


def test_real_sample_without_frames_csv(nordland64_root):
    frame = n64.prepare(nordland64_root, {"frames_csv": None})
    assert (frame["role"] == "query").sum() == 1788
    q = frame[frame["role"] == "query"]
    assert q["place"].tolist() == list(range(1788))
    assert q["image"].iloc[-1] == "winter/images-17880.png"


# ---- fixture trees -------------------------------------------------------------------------

@pytest.fixture
def sample(tmp_path):
    usable = [1] * len(SMALL_FRAMES)
    for i in (0, 1, 50, 99):
        usable[i] = 0
    return _tree(tmp_path / "nordland64", usable=usable)


def test_frames_csv_drops_unusable_and_keeps_spacing(sample):
    frame = n64.prepare(sample, {})
    q = frame[frame["role"] == "query"]
    assert len(q) == 96
    assert q["place"].iloc[0] == 2 and q["image"].iloc[0] == "winter/images-00030.png"
    assert 50 not in set(q["place"]) and q["place"].iloc[-1] == 98


def test_full_release_without_frames_csv(tmp_path):
    _tree(tmp_path, seasons=("spring", "summer", "fall", "winter"), frames=range(1, 41))
    frame = n64.prepare(tmp_path, {"query_seasons": ["winter", "spring", "fall"]})
    assert mf.query_sets(frame) == ["winter", "spring", "fall"]
    assert frame.groupby("role").size().to_dict() == {"train": 40, "reference": 40, "query": 120}
    q = frame[frame["condition"] == "fall"]
    assert q["image"].iloc[9] == "fall/images-00010.png" and q["place"].iloc[9] == 9


def test_missing_season_folder(sample):
    with pytest.raises(LayoutError, match=r"fall is missing \(season folders here: summer, winter\)"):
        n64.prepare(sample, {"query_seasons": ["fall"]})


def test_missing_files_with_frames_csv(sample):
    (sample / "winter" / "images-00500.png").unlink()
    (sample / "winter" / "images-00020.png").unlink()
    with pytest.raises(LayoutError, match=r"winter lacks 2 of its 100 images \(first: images-00020.png, images-00500.png\)"):
        n64.prepare(sample, {})


def test_missing_files_without_frames_csv(tmp_path):
    _tree(tmp_path, frames=range(1, 101))
    (tmp_path / "summer" / "images-00050.png").unlink()  # a gap
    (tmp_path / "winter" / "images-00100.png").unlink()  # a short tail, seen against summer
    with pytest.raises(LayoutError, match=r"summer lacks 1 of its 100 images \(first: images-00050.png\)"):
        n64.prepare(tmp_path, {})
    (tmp_path / "summer" / "images-00050.png").touch()
    with pytest.raises(LayoutError, match=r"winter lacks 1 of its 100 images \(first: images-00100.png\).*frame-synchronised"):
        n64.prepare(tmp_path, {})


def test_extra_files(sample):
    for junk in (".DS_Store", "Thumbs.db", "notes.txt"):
        (sample / "summer" / junk).touch()
    (sample / "README.txt").touch()
    assert len(n64.prepare(sample, {})) == 3 * 96  # unknown non-image files are ignored
    (sample / "summer" / "images-01010.png").touch()
    with pytest.raises(LayoutError, match=r"summer holds 1 image\(s\) not listed in .*frames.csv \(images-01010.png\)"):
        n64.prepare(sample, {})


def test_extra_file_without_frames_csv_is_a_gap(tmp_path):
    _tree(tmp_path, frames=range(10, 101, 10))
    (tmp_path / "summer" / "images-00105.png").touch()
    with pytest.raises(LayoutError, match=r"lacks .* images \(first: images-00015.png"):
        n64.prepare(tmp_path, {})


def test_bad_frames_csv(sample):
    (sample / "frames.csv").write_text("frame,name\n10,images-00010.png\n")
    with pytest.raises(LayoutError, match="lacks column\\(s\\) file, usable"):
        n64.prepare(sample, {})
    with pytest.raises(LayoutError, match="other.csv does not exist"):
        n64.prepare(sample, {"frames_csv": "other.csv"})


def test_wrong_root(sample):
    with pytest.raises(LayoutError, match=rf"one level deeper .*use {sample} as the root"):
        n64.prepare(sample.parent, {})
    with pytest.raises(LayoutError, match=rf"inside a season folder: use {sample} instead"):
        n64.prepare(sample / "summer", {})


def test_options(sample):
    with pytest.raises(ConfigError, match="unknown config key `datasets.n.query_season`"):
        n64.prepare(sample, {"query_season": "winter"}, "n")
    with pytest.raises(ConfigError, match="both the reference and a query season"):
        n64.prepare(sample, {"query_seasons": "summer"})
    frame = n64.prepare(sample, {"reference_season": "winter", "query_seasons": "summer"})
    assert frame.loc[frame["role"] == "reference", "condition"].unique().tolist() == ["winter"]


def test_sources():
    (entry,) = n64.SOURCES
    assert isinstance(entry, Download) and entry.extract
    assert entry.url == "http://www.tu-chemnitz.de/etit/proaut/datasets/nordland/64x32-grayscale-1fps.tar"
