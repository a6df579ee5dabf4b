"""docs/extending.md's "Adding a method" example, run as written: a new kind is one module and one registry line."""

import sys

import numpy as np
import pandas as pd
from PIL import Image

import acmnet.methods as methods
from acmnet.config_loader import config_from_dict
from acmnet.evaluate.describe import describe
from tests.conftest import doc_module, write_cache, write_manifest


def _readme_module():
    return doc_module("## Adding a method", "acmnet.methods.histogram")


def test_the_readme_example_is_a_working_method(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "acmnet.methods.histogram", _readme_module())
    monkeypatch.setitem(methods.METHOD_KINDS, "histogram", "acmnet.methods.histogram")
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(tmp_path / f"{i}.png")
    frame = pd.DataFrame(
        {
            "image": ["0.png", "1.png", "2.png", "1.png"],
            "role": ["reference"] * 3 + ["query"],
            "place": [0, 1, 2, 1],
            "condition": ["a"] * 3 + ["b"],
        }
    )
    write_cache(write_manifest(frame, tmp_path / "m.csv"), tmp_path, tmp_path / "c.npy", (16, 16))
    cfg = config_from_dict(
        {
            "image_size": [16, 16],
            "methods": {"hist": {"kind": "histogram", "bins": 4}},
            "datasets": {"d": {"type": "folder_pair", "root": ".", "reference": "a", "query": "b"}},
        }
    )
    assert methods.trained_methods(cfg) == []
    out = describe(cfg, "hist", tmp_path / "m.csv", tmp_path / "c.npy", tmp_path / "d.npz", progress=False)
    assert out.reference.shape == (3, 12)
    np.testing.assert_allclose(out.query[0], out.reference[1], atol=1e-6)  # the same image, the same histogram
    kind = methods.method_of(cfg, "hist")
    assert kind.label(cfg, "hist", cfg.methods["hist"].options) == "Colour histogram (4 bins)"


def test_only_a_trained_kind_passes_check_trained():
    import pytest

    from acmnet.config import ConfigError

    pair = {"type": "folder_pair", "root": "/unused", "reference": "day", "query": ["night"]}
    cfg = config_from_dict(
        {"datasets": {"pair": pair}, "methods": {"acm": {"kind": "acmnet"}, "raw": {"kind": "pixels"}}}
    )
    methods.check_trained(cfg, "acm", "train")
    with pytest.raises(ConfigError, match=r"methods.raw has kind `pixels`, which is not trained; `acmnet gradcam`"):
        methods.check_trained(cfg, "raw", "gradcam")
