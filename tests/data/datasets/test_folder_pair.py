import numpy as np
import pandas as pd
import pytest
from PIL import Image

from acmnet.data.datasets import folder_pair
from acmnet.data import manifest as mf


def _tree(root, folders, names):
    for folder in folders:
        (root / folder).mkdir(parents=True)
        for n in names:
            Image.fromarray(np.zeros((4, 4, 3), dtype=np.uint8)).save(root / folder / n)


def test_match_by_name_gives_rank_places(tmp_path):
    _tree(tmp_path, ["day", "night"], ["a-010.png", "a-020.png", "a-030.png"])
    frame = folder_pair.prepare(tmp_path, {"reference": "day", "query": "night"})
    frame = mf.validate(frame)
    assert (frame["role"] == "train").sum() == 3
    query = frame[frame["role"] == "query"]
    assert query["image"].tolist() == ["night/a-010.png", "night/a-020.png", "night/a-030.png"]
    assert query["place"].tolist() == [0, 1, 2]
    assert set(query["condition"]) == {"night"}


def test_match_by_index_uses_the_number_in_the_name(tmp_path):
    _tree(tmp_path, ["day"], ["Image007.jpg", "Image009.jpg"])
    _tree(tmp_path, ["night"], ["img_7.png"])
    frame = folder_pair.prepare(tmp_path, {"reference": "day", "query": ["night"], "match": "index"})
    assert frame.loc[frame["role"] == "query", "place"].tolist() == [7]
    assert frame.loc[frame["role"] == "reference", "place"].tolist() == [7, 9]


def test_frames_csv_orders_places_and_drops_unusable(tmp_path):
    names = ["f1.png", "f2.png", "f3.png", "f4.png"]
    _tree(tmp_path, ["s", "w"], names)
    pd.DataFrame({"file": names, "usable": [1, 0, 1, 1]}).to_csv(tmp_path / "frames.csv", index=False)
    frame = folder_pair.prepare(tmp_path, {"reference": "s", "query": ["w"], "frames_csv": "frames.csv"})
    query = frame[frame["role"] == "query"]
    assert query["place"].tolist() == [0, 2, 3]  # f2 left out, places keep their file distance
    assert not frame["image"].str.endswith("f2.png").any()


def test_missing_folder_and_unknown_option_are_named(tmp_path):
    _tree(tmp_path, ["day"], ["x.png"])
    with pytest.raises(FileNotFoundError, match="nigth"):
        folder_pair.prepare(tmp_path, {"reference": "day", "query": ["nigth"]})
    with pytest.raises(ValueError, match="unknown config key `datasets.d.qurey`"):
        folder_pair.prepare(tmp_path, {"reference": "day", "qurey": ["x"]}, "d")


def test_empty_query_folder_is_an_error(tmp_path):
    _tree(tmp_path, ["day"], ["x.png"])
    (tmp_path / "night").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no images"):
        folder_pair.prepare(tmp_path, {"reference": "day", "query": ["night"]})


def test_real_nordland64_sample(nordland64_root):
    frame = mf.validate(folder_pair.prepare(nordland64_root, {"reference": "summer", "query": ["winter"], "frames_csv": "frames.csv"}))
    frames = pd.read_csv(nordland64_root / "frames.csv")
    usable = int((frames["usable"] != 0).sum())
    counts = frame.groupby("role").size().to_dict()
    assert counts == {"train": usable, "reference": usable, "query": usable}
    assert usable == 1788 - 58
    q = frame[frame["role"] == "query"].set_index("image")
    # winter/X is place of summer/X; places step by one file.
    assert q.loc["winter/images-00200.png", "place"] == 19
    assert "winter/images-00100.png" not in q.index  # usable=0
