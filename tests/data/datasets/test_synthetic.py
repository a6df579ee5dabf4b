"""The `synthetic` dataset type (the demo route): options, rendering, manifest."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from acmnet.config import ConfigError
from acmnet.data import manifest as mf
from acmnet.data.datasets.base import LayoutError
from acmnet.data.datasets.synthetic import DATASET


def test_dataset_type_synthesize_then_prepare(tmp_path: Path) -> None:
    options = DATASET.parse_options({"places": 6, "query_conditions": ["winter", "night"], "render_size": [32, 48]},
                                    "datasets.demo")
    DATASET.synthesize(tmp_path, options, "demo")
    frame = mf.validate(DATASET.prepare(tmp_path, options, "demo"))
    counts = frame.groupby(["role", "condition"]).size().to_dict()
    assert counts == {("train", "day"): 6, ("reference", "day"): 6, ("query", "winter"): 6, ("query", "night"): 6}
    assert mf.query_sets(frame) == ["winter", "night"]
    with Image.open(tmp_path / frame["image"].iloc[-1]) as im:
        assert im.size == (48, 32)
    # A config asking for more places than were rendered is refused, naming the fix.
    with pytest.raises(ValueError, match="render the route again"):
        DATASET.prepare_manifest(tmp_path, {"places": 8, "query_conditions": ["winter", "night"]}, "demo")


def test_dataset_options_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown config key `datasets.demo.place`.*did you mean `places`"):
        DATASET.parse_options({"place": 3}, "datasets.demo")
    with pytest.raises(ConfigError, match="also a query condition"):
        DATASET.parse_options({"query_conditions": ["day"]}, "datasets.demo")
    with pytest.raises(ConfigError, match="places must be at least 1"):
        DATASET.parse_options({"places": 0}, "datasets.demo")
    with pytest.raises(LayoutError, match="acmnet synthesize"):
        DATASET.prepare_manifest(tmp_path, {}, "demo")
