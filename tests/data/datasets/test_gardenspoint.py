import os

import pytest

from acmnet.config import ConfigError
from acmnet.data import manifest as mf
from acmnet.data.datasets import gardenspoint as gp
from acmnet.data.datasets.base import LayoutError
from acmnet.data.download import Download


def prepare(root, options, name=None):
    return gp.DATASET.prepare_manifest(root, options, name)


def _tree(root, traversals=gp.TRAVERSALS, names=None):
    for traversal in traversals:
        (root / traversal).mkdir(parents=True, exist_ok=True)
        for name in names or gp.expected_names():
            os.close(os.open(root / traversal / name, os.O_CREAT | os.O_WRONLY, 0o644))
    return root


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """A complete tree for tests that only read it."""
    return _tree(tmp_path_factory.mktemp("gp") / "GardensPoint")


@pytest.fixture
def walking(tmp_path):
    """A complete tree a test may break."""
    return _tree(tmp_path / "GardensPoint")


def test_expected_names():
    names = gp.expected_names()
    assert len(names) == 200 and names[0] == "Image000.jpg" and names[-1] == "Image199.jpg"


def test_default_protocol(shared):
    frame = mf.validate(prepare(shared, {}))
    counts = frame.groupby(["role", "condition"]).size().to_dict()
    assert counts == {("train", "day_left"): 200, ("reference", "day_left"): 200, ("query", "night_right"): 200}
    q = frame[frame["role"] == "query"]
    assert q.iloc[37]["image"] == "night_right/Image037.jpg" and q.iloc[37]["place"] == 37
    ref = frame[frame["role"] == "reference"]
    assert ref["place"].tolist() == list(range(200))


def test_options(shared):
    frame = prepare(shared, {"reference": "day_right", "queries": "night_right", "train": "day_left"})
    assert frame.groupby(["role", "condition"]).size().to_dict() == {
        ("train", "day_left"): 200,
        ("reference", "day_right"): 200,
        ("query", "night_right"): 200,
    }
    frame = prepare(shared, {"queries": ["night_right", "day_right"]})
    assert mf.query_sets(frame) == ["night_right", "day_right"]
    with pytest.raises(ConfigError, match="unknown config key `datasets.gp.query`"):
        prepare(shared, {"query": ["night_right"]}, "gp")
    with pytest.raises(ConfigError, match="unknown traversal `night_left`"):
        prepare(shared, {"queries": ["night_left"]})
    with pytest.raises(ConfigError, match="both the reference and a query"):
        prepare(shared, {"queries": ["day_left"]})


def test_missing_folder(tmp_path):
    _tree(tmp_path, ["day_left", "day_right"])
    with pytest.raises(LayoutError, match=r"night_right is missing \(found day_left, day_right\).*extract"):
        prepare(tmp_path, {})
    # a traversal the config does not use may be absent
    assert len(prepare(tmp_path, {"queries": ["day_right"]})) == 600


def test_missing_files_are_counted_and_named(walking):
    for i in (150, 3, 199):
        (walking / "night_right" / gp.image_name(i)).unlink()
    with pytest.raises(
        LayoutError, match=r"night_right lacks 3 of its 200 images \(first: Image003.jpg, Image150.jpg, Image199.jpg\)"
    ):
        prepare(walking, {})


def test_extra_files(walking):
    for junk in (".DS_Store", "Thumbs.db", "readme.txt", "._Image000.jpg", "._Image200.jpg"):
        (walking / "day_left" / junk).touch()
    (walking / "README").touch()
    assert len(prepare(walking, {})) == 600  # unknown non-image files are ignored
    (walking / "day_left" / "Image200.jpg").touch()
    with pytest.raises(
        LayoutError, match=r"day_left holds 1 unexpected image name\(s\) \(Image200.jpg\).*not the documented release"
    ):
        prepare(walking, {})


def test_numbering_from_one_is_reported(tmp_path):
    _tree(tmp_path, names=[f"Image{i:03d}.jpg" for i in range(1, 201)])
    with pytest.raises(
        LayoutError,
        match=r"lacks 1 of its 200 images \(first: Image000.jpg\) "
        r"and holds 1 unexpected image name\(s\) \(Image200.jpg\)",
    ):
        prepare(tmp_path, {})


def test_zip_top_folder_and_wrong_root(shared):
    with pytest.raises(LayoutError, match=rf"one level deeper .*use {shared} as the root"):
        prepare(shared.parent, {})
    with pytest.raises(LayoutError, match=rf"inside a traversal folder: use {shared} instead"):
        prepare(shared / "day_left", {})
    with pytest.raises(LayoutError, match=r"GardensPoint_Walking.zip and extract it"):
        prepare(shared / "nowhere", {})


def test_sources():
    (entry,) = gp.SOURCES
    assert isinstance(entry, Download) and entry.extract
    assert entry.url == "https://www.tu-chemnitz.de/etit/proaut/datasets/GardensPoint_Walking.zip"
