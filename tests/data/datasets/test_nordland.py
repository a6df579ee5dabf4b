"""Partitioned Nordland on fixture trees with the real layouts: the low-res archive's top folder
above Dataset_images/, and the full-resolution release's per-season zip folders."""

import csv
import os
import zipfile

import pytest

from acmnet.config import ConfigError
from acmnet.data import download as dl
from acmnet.data import manifest as mf
from acmnet.data.datasets import nordland
from acmnet.data.datasets.base import LayoutError
from tests.conftest import SHARED_DATA

TOP = nordland.LOWRES_TOP
QUERY_1150 = "Dataset_images/test/winter_images_test/section2/1150.png"


def _reference_list(split):
    path = SHARED_DATA / "reference" / f"pr_nordland_{split}_list.csv"
    if not path.is_file():
        pytest.skip(f"{path} not found (only present on the development machines)")
    with open(path) as fh:
        return [tuple(row) for row in csv.reader(fh)]


def _touch(path):
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))


def _season(folder, split):
    for section, indices in nordland.SECTIONS[split].items():
        (folder / section).mkdir(parents=True)
        base = str(folder / section)
        for i in indices:
            _touch(f"{base}/{i}.png")


def lowres_tree(root, seasons=(("test", "summer"), ("test", "winter"), ("train", "summer"))):
    """The low-res archive as extracted into `root`: TOP/Dataset_images/{split}/{season}_images_{split}/..."""
    for split, season in seasons:
        _season(root / TOP / "Dataset_images" / split / f"{season}_images_{split}", split)
    return root


def per_season_tree(root, seasons=(("test", "summer"), ("test", "winter"), ("train", "summer")), like=None):
    """The full-resolution zips {season}_images_{split}.zip extracted into `root` (each folder a
    link to the same season folder of the low-res tree `like`, to save writing 31 000 files again)."""
    root.mkdir(parents=True, exist_ok=True)
    for split, season in seasons:
        name = f"{season}_images_{split}"
        if like is None:
            _season(root / name, split)
        else:
            (root / name).symlink_to(like / TOP / "Dataset_images" / split / name, target_is_directory=True)
    return root


def test_expected_names_match_the_olid_file_lists():
    for split in ("test", "train"):
        listed = _reference_list(split)
        assert [(s, f"{i}.png") for s, i in nordland.expected_files(split)] == listed


@pytest.fixture(scope="module")
def lowres(tmp_path_factory):
    """Read-only: the low-res archive extracted into its root (top folder included)."""
    return lowres_tree(tmp_path_factory.mktemp("lowres") / "nordland")


def _check_protocol(frame):
    frame = mf.validate(frame)
    counts = frame.groupby(["role", "condition"]).size().to_dict()
    assert counts == {("train", "summer"): 24570, ("reference", "summer"): 3450, ("query", "winter"): 3450}
    q = frame[frame["role"] == "query"]
    assert q.iloc[1150]["place"] == 1150
    assert q["place"].tolist() == list(range(3450))  # index order: recording order
    return q.iloc[1150]["image"]


def test_root_holding_the_archives_top_folder(lowres, capsys):
    frame = nordland.DATASET.prepare_manifest(lowres, {})
    assert _check_protocol(frame) == f"{TOP}/{QUERY_1150}"
    assert (lowres / frame["image"].iloc[-1]).is_file()  # paths stay relative to the configured root
    assert f"reading {lowres / TOP}" in capsys.readouterr().err
    nordland.DATASET.check_layout(lowres, nordland.NordlandOptions())


def test_root_at_the_top_folder(lowres):
    frame = nordland.DATASET.prepare_manifest(lowres / TOP, {})
    assert _check_protocol(frame) == QUERY_1150


def test_full_resolution_per_season_folders(lowres, tmp_path, capsys):
    root = per_season_tree(tmp_path / "full", like=lowres)
    frame = nordland.DATASET.prepare_manifest(root, {})
    assert _check_protocol(frame) == "winter_images_test/section2/1150.png"
    assert frame[frame["role"] == "train"]["image"].iloc[-1] == "summer_images_train/section2/24569.png"
    assert "per-season folders" in capsys.readouterr().err
    nordland.DATASET.check_layout(root, nordland.NordlandOptions())
    above = nordland.DATASET.prepare_manifest(tmp_path, {})  # the zips extracted into one top folder
    assert above["image"].tolist() == ["full/" + i for i in frame["image"]]
    with pytest.raises(
        LayoutError,
        match=r"fall_images_test is missing \(season folders here: summer_images_test, "
        r"summer_images_train, winter_images_test\): extract fall_images_test.zip",
    ):
        nordland.DATASET.prepare_manifest(root, {"query_seasons": ["fall"]})


def test_download_then_prepare(tmp_path, monkeypatch):
    monkeypatch.setattr(
        nordland,
        "SECTIONS",
        {"test": {"section1": range(0, 4), "section2": range(4, 7)}, "train": {"section1": range(0, 5)}},
    )
    root = tmp_path / "nordland"
    with pytest.raises(dl.ManualDownloadRequired) as info:
        dl.fetch_dataset("nordland", root, progress=False)
    steps = str(info.value)
    assert "https://webdiis.unizar.es/~jmfacil/pr-nordland/#download-dataset" in steps
    assert "1SmrDOeUgBnJbpW187VFWxGjS7XdbZK5t" in steps and "drive.google.com" in steps
    source = lowres_tree(tmp_path / "unzipped")
    root.mkdir()
    with zipfile.ZipFile(root / f"{TOP}.zip", "w") as zf:
        for path in sorted((source / TOP).rglob("*.png")):
            zf.writestr(str(path.relative_to(source)), b"")
    dl.fetch_dataset("nordland", root, progress=False)
    frame = nordland.DATASET.prepare_manifest(root, {})
    assert frame["image"].iloc[0] == f"{TOP}/Dataset_images/train/summer_images_train/section1/0.png"
    assert (frame["role"] == "query").sum() == 7
    assert dl.fetch_dataset("nordland", root, progress=False) == root  # done: nothing to do


def test_missing_images_are_counted_and_named(tmp_path):
    root = lowres_tree(tmp_path / "nordland", seasons=[("test", "winter")])
    winter = root / TOP / "Dataset_images/test/winter_images_test"
    (winter / "section3" / "3000.png").unlink()
    (winter / "section1" / "5.png").rename(winter / "section1" / "._5.png")  # a sidecar is not the image
    _touch(winter / "section1" / ".DS_Store")
    with pytest.raises(LayoutError, match=r"lacks 2 of its 3450 images \(first: section1/5.png, section3/3000.png\)"):
        nordland.check_split(nordland.locate(root), "test", "winter")


def test_wrong_root_is_explained(lowres, tmp_path):
    inside = lowres / TOP / "Dataset_images"
    with pytest.raises(LayoutError, match="points inside Dataset_images: use"):
        nordland.DATASET.prepare_manifest(inside, {})
    with pytest.raises(LayoutError, match=rf"points inside Dataset_images/test: use {lowres / TOP} instead"):
        nordland.DATASET.prepare_manifest(inside / "test", {})
    with pytest.raises(LayoutError, match=rf"points inside a season folder: use {lowres / TOP} instead"):
        nordland.DATASET.prepare_manifest(inside / "test" / "winter_images_test", {})
    with pytest.raises(LayoutError, match=rf"two levels deeper: use {lowres / TOP} as the root"):
        nordland.DATASET.prepare_manifest(lowres.parent, {})
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(LayoutError, match=r"holds neither Dataset_images/.*Download it from https://webdiis"):
        nordland.DATASET.prepare_manifest(empty, {})
    _touch(empty / f"{TOP}.zip")
    with pytest.raises(LayoutError, match=r"Partitioned_Nordland_Dataset_lowres.zip is here but not extracted"):
        nordland.DATASET.prepare_manifest(empty, {})


def test_two_copies_are_refused(tmp_path):
    for top in (TOP, "copy"):
        (tmp_path / top / "Dataset_images").mkdir(parents=True)
    with pytest.raises(
        LayoutError,
        match=rf"{tmp_path} holds 2 copies of partitioned Nordland \(Partitioned_Nordland_Dataset_lowres, copy\)",
    ):
        nordland.DATASET.prepare_manifest(tmp_path, {})


def test_missing_season_and_bad_season(lowres):
    with pytest.raises(
        LayoutError, match=r"fall_images_test is missing \(found summer_images_test, winter_images_test"
    ):
        nordland.DATASET.prepare_manifest(lowres, {"query_seasons": ["fall"]})
    with pytest.raises(ConfigError, match="datasets.n.query_seasons: unknown season `autumn`; seasons are"):
        nordland.DATASET.prepare_manifest(lowres, {"query_seasons": ["autumn"]}, "n")


def test_sources():
    (entry,) = nordland.SOURCES
    assert isinstance(entry, dl.ManualDownload) and entry.extract
    assert entry.page.startswith("https://") and "1SmrDOeUgBnJbpW187VFWxGjS7XdbZK5t" in entry.instructions


def test_the_sections_are_separate_stretches_no_window_crosses_a_join(lowres):
    """Issue 24 item 5: Olid et al. left frames out between sections, so query 1149 (the last of
    test section 1) has no positive in section 2, and the caption says so."""
    from acmnet.config_loader import config_from_dict
    from acmnet.data.positives import positives_of
    from acmnet.report.captions import choices

    frame = mf.validate(nordland.prepare(lowres, nordland.NordlandOptions()))
    q = frame[frame["role"] == "query"]
    assert q["segment"].tolist() == [2] * 1150 + [3] * 1150 + [4] * 1150
    train = frame[frame["role"] == "train"]
    assert train["segment"].tolist() == [0] * 12837 + [1] * 11733
    sets = positives_of(frame, "places", 2, None)
    assert sets.of(1149).tolist() == [1147, 1148, 1149] and sets.of(1150).tolist() == [1150, 1151, 1152]
    assert sets.of(2299).tolist() == [2297, 2298, 2299] and sets.of(1000).tolist() == [998, 999, 1000, 1001, 1002]
    no_segments = positives_of(frame.drop(columns="segment"), "places", 2, None)
    assert no_segments.of(1149).tolist() == [1147, 1148, 1149, 1150, 1151]  # what the window did before
    cfg = config_from_dict({"datasets": {"nordland": {"type": "nordland", "root": "."}}})
    assert "neither the place window nor a sequence crosses a join (1149|1150, 2299|2300)" in "; ".join(choices(cfg))
