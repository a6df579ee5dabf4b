import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from acmnet.artifacts import load_descriptors
from acmnet.configure import config_from_dict
from acmnet.evaluate.describe import describe
from tests.conftest import cuda, write_cache, write_manifest


def _describe(tmp_path, method, device="cpu"):
    rng = np.random.default_rng(0)
    names = []
    for i in range(5):
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(tmp_path / f"{i}.png")
        names.append(f"{i}.png")
    names = names[:3] + ["0.png", "4.png"]  # the first query is the first reference image
    frame = pd.DataFrame(
        {"image": names, "role": ["reference"] * 3 + ["query"] * 2, "place": [0, 1, 2, 0, 2], "condition": "c"}
    )
    write_cache(write_manifest(frame, tmp_path / "m.csv"), tmp_path, tmp_path / "c.npy", (32, 32))
    cfg = config_from_dict(
        {
            "image_size": [32, 32],
            "device": device,
            "model": {"backbone": "test_efficientnet", "pretrained": False},
            "methods": {
                "avg": {"kind": "pretrained"},
                "gem": {"kind": "pretrained", "pool": "gem"},
                "pix": {"kind": "pixels", "pixel_size": [32, 64], "pixel_patch": 8},
            },
            "datasets": {"d": {"type": "folder_pair", "root": ".", "reference": "a", "query": ["b"]}},
        }
    )
    torch.manual_seed(0)  # the same random backbone on every call
    describe(cfg, method, tmp_path / "m.csv", tmp_path / "c.npy", tmp_path / f"{device}.npz", progress=False)
    return load_descriptors(tmp_path / f"{device}.npz")


@pytest.mark.parametrize("method, dim", [("avg", 256), ("gem", 256), ("pix", 2048)])
def test_untrained_methods_write_unit_descriptors_per_role(tmp_path, method, dim):
    data = _describe(tmp_path, method)
    assert data.reference.shape == (3, dim) and data.query.shape == (2, dim)
    assert data.reference_rows.tolist() == [0, 1, 2] and data.query_rows.tolist() == [3, 4]
    np.testing.assert_allclose(np.linalg.norm(data.query, axis=1), 1.0, rtol=1e-5)
    # query 3 is image 0: its descriptor equals reference 0's
    np.testing.assert_allclose(data.query[0], data.reference[0], rtol=1e-4, atol=1e-5)


@pytest.mark.gpu
@cuda
@pytest.mark.parametrize("method", ["avg", "gem", "pix"])
def test_descriptors_on_cuda_match_the_cpu(tmp_path, method):
    on_cpu, on_gpu = _describe(tmp_path, method, "cpu"), _describe(tmp_path, method, "cuda")
    for role in ("reference", "query"):  # cuDNN may use TF32: unit vectors agree to a few 1e-3
        np.testing.assert_allclose(getattr(on_gpu, role), getattr(on_cpu, role), atol=5e-3)


def _trained_config(**extra):
    from dataclasses import asdict

    from tests.conftest import TINY

    return config_from_dict(
        {
            "image_size": [32, 32],
            "model": asdict(TINY),
            "methods": {"acm": {}, "enc": {"kind": "acmnet", "descriptor": "encoder"}},
            "datasets": {"d": {"type": "folder_pair", "root": ".", "reference": "a", "query": ["b"]}},
            **extra,
        }
    )


def _checkpoints(tmp_path, cfg):
    """A checkpoint of each trained method of `cfg` (the same random weights), as `acmnet train` writes them."""
    from acmnet.methods.acmnet import build_model
    from tests.conftest import TINY, write_checkpoint

    torch.manual_seed(0)
    model = build_model(TINY)
    return {m: write_checkpoint(tmp_path / f"{m}.pt", model, cfg, m) for m in cfg.methods if m != "avg"}


def test_a_trained_method_records_its_checkpoint_and_its_descriptor_choice(tmp_path):
    _describe(tmp_path, "avg")  # writes the images, manifest and cache
    cfg = _trained_config()
    checkpoints = _checkpoints(tmp_path, cfg)
    for method, dim in (("acm", 16), ("enc", 256)):
        out = describe(
            cfg,
            method,
            tmp_path / "m.csv",
            tmp_path / "c.npy",
            tmp_path / f"{method}.npz",
            checkpoints[method],
            progress=False,
        )
        assert out.reference.shape == (3, dim)
        assert out.provenance.find("checkpoint")[1].path == str(checkpoints[method])
        assert out.provenance.settings["method_name"] == method
        assert out.provenance.settings["method"]["options"]["descriptor"] == (
            "projector" if method == "acm" else "encoder"
        )
    with pytest.raises(ValueError, match="give its checkpoint"):
        describe(cfg, "acm", tmp_path / "m.csv", tmp_path / "c.npy", tmp_path / "x.npz", progress=False)
    with pytest.raises(ValueError, match="not an acmnet checkpoint"):
        describe(
            cfg, "acm", tmp_path / "m.csv", tmp_path / "c.npy", tmp_path / "x.npz", tmp_path / "m.csv", progress=False
        )


def test_another_methods_or_a_stale_checkpoint_is_refused_naming_both(tmp_path):
    """Issue 18: two methods' checkpoints swapped, or one trained with settings the config no
    longer gives the method, are refused, never described as the asked method."""
    from acmnet.artifacts import ProvenanceError

    _describe(tmp_path, "avg")
    cfg = _trained_config(
        methods={
            **{m: {} for m in ("acm",)},
            "enc": {"kind": "acmnet", "descriptor": "encoder"},
            "fast": {"kind": "acmnet", "train": {"lr": 0.01}},
        }
    )
    checkpoints = _checkpoints(tmp_path, cfg)
    args = (tmp_path / "m.csv", tmp_path / "c.npy", tmp_path / "x.npz")
    with pytest.raises(ProvenanceError, match=r"fast\.pt was trained for method fast, not acm, with other settings"):
        describe(cfg, "acm", *args, checkpoints["fast"], progress=False)
    assert not (tmp_path / "x.npz").exists()
    # rows with equal training settings (they differ in the descriptor only) share one training run
    assert describe(cfg, "acm", *args, checkpoints["enc"], progress=False).query.shape[1] == 16
    stale = _trained_config(train={"lr": 0.5})
    with pytest.raises(
        ProvenanceError,
        match=r"acm\.pt was trained for method acm with other settings than the config gives acm \(training settings "
        r"digest \w+, not \w+; differing: method\.options\.train\)",
    ):
        describe(stale, "acm", *args, checkpoints["acm"], progress=False)
