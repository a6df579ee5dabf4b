"""The `synthetic` dataset type through the dataset interface: layout check and row order."""

from pathlib import Path

import pytest
from PIL import Image

from acmnet.config import ConfigError
from acmnet.data import manifest as mf
from acmnet.data.datasets import synthetic
from acmnet.data.datasets.base import LayoutError

OPTIONS = {"places": 5, "query_conditions": ["winter"], "render_size": [32, 48]}


def test_synthesize_check_layout_and_prepare(tmp_path):
    opts = synthetic.DATASET.parse_options(OPTIONS, "datasets.demo")
    synthetic.DATASET.synthesize(tmp_path, opts, "demo")
    synthetic.DATASET.check_layout(tmp_path, opts)
    frame = mf.validate(synthetic.DATASET.prepare_manifest(tmp_path, OPTIONS, "demo"))
    for (role, condition), rows in frame.groupby(["role", "condition"], sort=False):
        assert rows["place"].tolist() == list(range(5)), (role, condition)  # route order: time
    (tmp_path / frame["image"].iloc[-1]).unlink()
    with pytest.raises(
        LayoutError, match=r"1 of the 10 images route.csv names are not under .*acmnet synthesize --dataset demo"
    ):
        synthetic.check_layout(tmp_path, opts, "demo")


def test_layout_errors_say_what_to_do(tmp_path):
    with pytest.raises(LayoutError, match="route.csv does not exist: render the route first"):
        synthetic.DATASET.check_layout(tmp_path, synthetic.SyntheticOptions())
    (tmp_path / "route.csv").write_text("image,where\nx.png,1\n")
    with pytest.raises(LayoutError, match=r"route.csv lacks column\(s\) place, condition: render the route again"):
        synthetic.DATASET.prepare_manifest(tmp_path, {})


def test_dataset_type_synthesize_then_prepare(tmp_path: Path) -> None:
    options = synthetic.DATASET.parse_options(
        {"places": 6, "query_conditions": ["winter", "night"], "render_size": [32, 48]}, "datasets.demo"
    )
    synthetic.DATASET.synthesize(tmp_path, options, "demo")
    frame = mf.validate(synthetic.DATASET.prepare(tmp_path, options, "demo"))
    counts = frame.groupby(["role", "condition"]).size().to_dict()
    assert counts == {("train", "day"): 6, ("reference", "day"): 6, ("query", "winter"): 6, ("query", "night"): 6}
    assert mf.query_sets(frame) == ["winter", "night"]
    with Image.open(tmp_path / frame["image"].iloc[-1]) as im:
        assert im.size == (48, 32)
    # A config asking for more places than were rendered is refused, naming the fix.
    with pytest.raises(ValueError, match="render the route again"):
        synthetic.DATASET.prepare_manifest(tmp_path, {"places": 8, "query_conditions": ["winter", "night"]}, "demo")


def test_dataset_options_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown config key `datasets.demo.place`.*did you mean `places`"):
        synthetic.DATASET.parse_options({"place": 3}, "datasets.demo")
    with pytest.raises(ConfigError, match="also a query condition"):
        synthetic.DATASET.parse_options({"query_conditions": ["day"]}, "datasets.demo")
    with pytest.raises(ConfigError, match="places must be at least 1"):
        synthetic.DATASET.parse_options({"places": 0}, "datasets.demo")
    with pytest.raises(LayoutError, match="acmnet synthesize"):
        synthetic.DATASET.prepare_manifest(tmp_path, {}, "demo")
