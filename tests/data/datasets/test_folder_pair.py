import numpy as np
import pandas as pd
import pytest
from PIL import Image

from acmnet.config import ConfigError
from acmnet.data import manifest as mf
from acmnet.data.datasets import folder_pair
from acmnet.data.datasets.base import LayoutError


def prepare(root, options, name=None):
    return folder_pair.DATASET.prepare_manifest(root, options, name)


def _tree(root, folders, names):
    for folder in folders:
        (root / folder).mkdir(parents=True, exist_ok=True)
        for n in names:
            Image.fromarray(np.zeros((4, 4, 3), dtype=np.uint8)).save(root / folder / n)


def test_match_by_name_gives_rank_places(tmp_path):
    _tree(tmp_path, ["day", "night"], ["a-010.png", "a-020.png", "a-030.png"])
    frame = mf.validate(prepare(tmp_path, {"reference": "day", "query": "night"}))
    assert (frame["role"] == "train").sum() == 3
    query = frame[frame["role"] == "query"]
    assert query["image"].tolist() == ["night/a-010.png", "night/a-020.png", "night/a-030.png"]
    assert query["place"].tolist() == [0, 1, 2]
    assert set(query["condition"]) == {"night"}


def test_numbers_in_names_sort_naturally(tmp_path):
    names = ["frame10.png", "frame2.png", "frame1.png", "frame100.png", "Frame3.png"]
    _tree(tmp_path, ["ref"], names)
    _tree(tmp_path, ["q"], ["frame100.png", "frame2.png", "frame10.png"])
    frame = prepare(tmp_path, {"reference": "ref", "query": ["q"]})
    ref = frame[frame["role"] == "reference"]
    assert ref["image"].tolist() == [
        f"ref/{n}" for n in ["frame1.png", "frame2.png", "Frame3.png", "frame10.png", "frame100.png"]
    ]
    assert ref["place"].tolist() == [0, 1, 2, 3, 4]
    q = frame[frame["role"] == "query"]
    assert q["image"].tolist() == ["q/frame2.png", "q/frame10.png", "q/frame100.png"]  # recording order
    assert q["place"].tolist() == [1, 3, 4]


def test_query_names_without_a_reference_are_refused(tmp_path):
    _tree(tmp_path, ["day"], [f"f{i}.png" for i in range(10)])
    _tree(tmp_path, ["night"], [f"f{i}.png" for i in range(5, 15)])
    with pytest.raises(
        LayoutError,
        match=r"datasets.fp.query: 5 of the 10 images of .*night have no reference image "
        r"of the same name .*day \(first: f10.png, f11.png, f12.png, f13.png, f14.png\).*match: index",
    ):
        prepare(tmp_path, {"reference": "day", "query": ["night"]}, "fp")
    frame = prepare(tmp_path, {"reference": "day", "query": ["night"], "match": "index"})  # numbers may differ
    assert frame.loc[frame["role"] == "query", "place"].tolist() == list(range(5, 15))


def test_mixed_extensions_are_refused(tmp_path):
    _tree(tmp_path, ["day"], ["a1.png", "a2.png", "a3.jpg"])
    _tree(tmp_path, ["night"], ["a1.png"])
    with pytest.raises(
        LayoutError, match=r"mix image extensions: 1 .jpg \(e.g. day/a3.jpg\), 3 .png \(e.g. day/a1.png\).*convert"
    ):
        prepare(tmp_path, {"reference": "day", "query": ["night"]})
    _tree(tmp_path, ["d2"], ["a1.png", "a2.png"])
    _tree(tmp_path, ["n2"], ["a1.jpg", "a2.jpg"])
    with pytest.raises(
        LayoutError, match=r"mix image extensions: 2 .jpg \(e.g. n2/a1.jpg\), 2 .png \(e.g. d2/a1.png\)"
    ):
        prepare(tmp_path, {"reference": "d2", "query": ["n2"], "match": "index"})


def test_query_folder_equal_to_the_reference_is_refused(tmp_path):
    _tree(tmp_path, ["day"], ["a1.png"])
    with pytest.raises(ConfigError, match=r"datasets.fp.query names the reference folder `day`.*100 %"):
        prepare(tmp_path, {"reference": "day", "query": ["day"]}, "fp")
    with pytest.raises(ConfigError, match=r"datasets.fp.query names the reference folder `./day/`"):
        prepare(tmp_path, {"reference": "day", "query": ["./day/"]}, "fp")
    (tmp_path / "alias").symlink_to(tmp_path / "day", target_is_directory=True)
    with pytest.raises(ConfigError, match=r"datasets.fp.query: `alias` is the reference folder .*day itself.*100 %"):
        prepare(tmp_path, {"reference": "day", "query": ["alias"]}, "fp")


def test_match_by_index_uses_the_number_in_the_name(tmp_path):
    _tree(tmp_path, ["day"], ["Image009.jpg", "Image007.jpg", "Image010.jpg"])
    _tree(tmp_path, ["night"], ["img_7.jpg"])
    frame = prepare(tmp_path, {"reference": "day", "query": ["night"], "match": "index"})
    assert frame.loc[frame["role"] == "query", "place"].tolist() == [7]
    assert frame.loc[frame["role"] == "reference", "place"].tolist() == [7, 9, 10]
    _tree(tmp_path, ["night"], ["img_07.jpg"])
    with pytest.raises(
        LayoutError,
        match=r"night holds 1 image\(s\) with a number another image of the folder has "
        r"\(first: img_7.jpg and img_07.jpg\)",
    ):
        prepare(tmp_path, {"reference": "day", "query": ["night"], "match": "index"})
    _tree(tmp_path, ["n2"], ["dark.jpg"])
    with pytest.raises(
        LayoutError,
        match=r"datasets.x.match is `index`, but 1 image name\(s\) in .*n2 hold no number \(first: dark.jpg\)",
    ):
        prepare(tmp_path, {"reference": "day", "query": ["n2"], "match": "index"}, "x")


def test_frames_csv_orders_places_and_drops_unusable(tmp_path):
    names = ["f1.png", "f2.png", "f3.png", "f4.png"]
    _tree(tmp_path, ["s", "w"], names)
    pd.DataFrame({"file": names, "usable": [1, 0, 1, 1]}).to_csv(tmp_path / "frames.csv", index=False)
    frame = prepare(tmp_path, {"reference": "s", "query": ["w"], "frames_csv": "frames.csv"})
    query = frame[frame["role"] == "query"]
    assert query["place"].tolist() == [0, 2, 3]  # f2 left out, places keep their file distance
    assert not frame["image"].str.endswith("f2.png").any()
    pd.DataFrame({"file": names[:3], "usable": [1, 1, 1]}).to_csv(tmp_path / "short.csv", index=False)
    with pytest.raises(
        LayoutError, match=r"2 image\(s\) under .* are not listed in .*short.csv \(first: s/f4.png, w/f4.png\)"
    ):
        prepare(tmp_path, {"reference": "s", "query": ["w"], "frames_csv": "short.csv"})
    (tmp_path / "bad.csv").write_text("name\nf1.png\n")
    with pytest.raises(LayoutError, match=r"bad.csv needs a `file` column"):
        prepare(tmp_path, {"reference": "s", "query": ["w"], "frames_csv": "bad.csv"})
    with pytest.raises(LayoutError, match=r"datasets.d.frames_csv: .*nope.csv does not exist"):
        prepare(tmp_path, {"reference": "s", "query": ["w"], "frames_csv": "nope.csv"}, "d")


def test_separate_training_folder(tmp_path):
    _tree(tmp_path, ["day", "night"], ["a1.png", "a2.png"])
    _tree(tmp_path, ["extra"], ["x10.jpg", "x9.jpg"])
    frame = prepare(tmp_path, {"reference": "day", "query": ["night"], "train": "extra"})
    train = frame[frame["role"] == "train"]
    assert train["image"].tolist() == ["extra/x9.jpg", "extra/x10.jpg"] and train["place"].tolist() == [0, 1]


def test_missing_folder_and_options_are_named(tmp_path):
    _tree(tmp_path, ["day"], ["x.png"])
    with pytest.raises(
        LayoutError, match=r"datasets.d.query: image folder .*nigth does not exist \(folders in .*: day\)"
    ):
        prepare(tmp_path, {"reference": "day", "query": ["nigth"]}, "d")
    with pytest.raises(ConfigError, match="unknown config key `datasets.d.qurey`"):
        prepare(tmp_path, {"reference": "day", "qurey": ["x"]}, "d")
    with pytest.raises(ConfigError, match="datasets.d.reference is missing: name the folder"):
        prepare(tmp_path, {"query": ["x"]}, "d")
    with pytest.raises(ConfigError, match="datasets.d.query is missing or empty"):
        prepare(tmp_path, {"reference": "day"}, "d")


def test_empty_folder_and_sidecar_files(tmp_path):
    _tree(tmp_path, ["day"], ["x.png"])
    (tmp_path / "night").mkdir()
    for junk in ("._x.png", ".DS_Store", "Thumbs.db", "notes.txt"):
        (tmp_path / "night" / junk).touch()
        (tmp_path / "day" / junk).touch()
    with pytest.raises(LayoutError, match="night holds no images"):
        prepare(tmp_path, {"reference": "day", "query": ["night"]})
    _tree(tmp_path, ["night"], ["x.png"])
    frame = prepare(tmp_path, {"reference": "day", "query": ["night"]})
    assert frame["image"].tolist() == ["day/x.png", "day/x.png", "night/x.png"]


def test_real_nordland64_sample(nordland64_root):
    frame = mf.validate(
        prepare(nordland64_root, {"reference": "summer", "query": ["winter"], "frames_csv": "frames.csv"})
    )
    frames = pd.read_csv(nordland64_root / "frames.csv")
    usable = int((frames["usable"] != 0).sum())
    counts = frame.groupby("role").size().to_dict()
    assert counts == {"train": usable, "reference": usable, "query": usable}
    assert usable == 1788 - 58
    q = frame[frame["role"] == "query"].set_index("image")
    # winter/X is place of summer/X; places step by one file.
    assert q.loc["winter/images-00200.png", "place"] == 19
    assert "winter/images-00100.png" not in q.index  # usable=0
    assert q["place"].is_monotonic_increasing  # recording order
