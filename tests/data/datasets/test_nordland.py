import csv

import pytest

from acmnet.data import manifest as mf
from acmnet.data.datasets import nordland
from tests.conftest import SHARED_DATA


def _reference_list(split):
    path = SHARED_DATA / "reference" / f"pr_nordland_{split}_list.csv"
    if not path.is_file():
        pytest.skip(f"{path} not found (only present on the development machines)")
    with open(path) as fh:
        return [tuple(row) for row in csv.reader(fh)]


def _tree(root, split, season, files):
    base = nordland.split_dir(root, split, season)
    for section, name in files:
        (base / section).mkdir(parents=True, exist_ok=True)
        (base / section / name).touch()


def test_expected_names_match_the_olid_file_lists():
    for split in ("test", "train"):
        listed = _reference_list(split)
        assert [(s, f"{i}.png") for s, i in nordland.expected_files(split)] == listed


@pytest.fixture
def olid_tree(tmp_path):
    test = [(s, f"{i}.png") for s, i in nordland.expected_files("test")]
    train = [(s, f"{i}.png") for s, i in nordland.expected_files("train")]
    _tree(tmp_path, "test", "summer", test)
    _tree(tmp_path, "test", "winter", test)
    _tree(tmp_path, "train", "summer", train)
    return tmp_path


def test_protocol_counts_and_places(olid_tree):
    frame = mf.validate(nordland.prepare(olid_tree, {}))
    counts = frame.groupby(["role", "condition"]).size().to_dict()
    assert counts == {("train", "summer"): 24570, ("reference", "summer"): 3450, ("query", "winter"): 3450}
    q = frame[frame["role"] == "query"]
    assert q.iloc[1150]["image"] == "Dataset_images/test/winter_images_test/section2/1150.png"
    assert q.iloc[1150]["place"] == 1150


def test_missing_images_are_counted_and_named(olid_tree):
    (nordland.split_dir(olid_tree, "test", "winter") / "section3" / "3000.png").unlink()
    (nordland.split_dir(olid_tree, "test", "winter") / "section1" / "5.png").unlink()
    with pytest.raises(nordland.LayoutError, match=r"lacks 2 of its 3450 images \(first: section1/5.png, section3/3000.png\)"):
        nordland.prepare(olid_tree, {})


def test_wrong_root_is_explained(olid_tree):
    with pytest.raises(nordland.LayoutError, match="points inside Dataset_images"):
        nordland.prepare(olid_tree / "Dataset_images", {})
    outer = olid_tree.parent
    with pytest.raises(nordland.LayoutError, match="one level deeper"):
        nordland.prepare(outer, {})


def test_missing_season_and_bad_season(olid_tree):
    with pytest.raises(nordland.LayoutError, match="fall_images_test is missing"):
        nordland.prepare(olid_tree, {"query_seasons": ["fall"]})
    with pytest.raises(ValueError, match="unknown season `autumn`"):
        nordland.prepare(olid_tree, {"query_seasons": ["autumn"]})
