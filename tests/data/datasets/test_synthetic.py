"""The `synthetic` dataset type through the dataset interface: layout check and row order."""

import pytest

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
    with pytest.raises(LayoutError, match=r"1 of the 10 images route.csv names are not under .*acmnet synthesize --dataset demo"):
        synthetic.check_layout(tmp_path, opts, "demo")


def test_layout_errors_say_what_to_do(tmp_path):
    with pytest.raises(LayoutError, match="route.csv does not exist: render the route first"):
        synthetic.DATASET.check_layout(tmp_path, synthetic.SyntheticOptions())
    (tmp_path / "route.csv").write_text("image,where\nx.png,1\n")
    with pytest.raises(LayoutError, match=r"route.csv lacks column\(s\) place, condition: render the route again"):
        synthetic.DATASET.prepare_manifest(tmp_path, {})
