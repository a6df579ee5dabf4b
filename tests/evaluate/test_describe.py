import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from acmnet.data.cache import build_cache
from acmnet.config import config_from_dict
from acmnet.data import manifest as mf
from acmnet.evaluate.describe import describe
from tests.conftest import cuda


def _describe(tmp_path, method, device="cpu"):
    rng = np.random.default_rng(0)
    names = []
    for i in range(5):
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(tmp_path / f"{i}.png")
        names.append(f"{i}.png")
    names = names[:3] + ["0.png", "4.png"]  # the first query is the first reference image
    frame = pd.DataFrame({"image": names, "role": ["reference"] * 3 + ["query"] * 2, "place": [0, 1, 2, 0, 2], "condition": "c"})
    mf.write(frame, tmp_path / "m.csv")
    build_cache(frame, tmp_path, tmp_path / "c.npy", (32, 32), progress=False)
    cfg = config_from_dict({
        "image_size": [32, 32], "device": device,
        "model": {"backbone": "test_efficientnet", "pretrained": False},
        "methods": {"avg": {"kind": "pretrained"}, "gem": {"kind": "pretrained", "pool": "gem"},
                    "pix": {"kind": "pixels", "pixel_size": [32, 64], "pixel_patch": 8}},
        "datasets": {"d": {"type": "folder_pair", "root": ".", "reference": "a", "query": ["b"]}},
    })
    torch.manual_seed(0)  # the same random backbone on every call
    return np.load(describe(cfg, method, tmp_path / "m.csv", tmp_path / "c.npy", tmp_path / f"{device}.npz", progress=False))


@pytest.mark.parametrize("method, dim", [("avg", 256), ("gem", 256), ("pix", 2048)])
def test_untrained_methods_write_unit_descriptors_per_role(tmp_path, method, dim):
    data = _describe(tmp_path, method)
    assert data["reference"].shape == (3, dim) and data["query"].shape == (2, dim)
    assert data["reference_rows"].tolist() == [0, 1, 2] and data["query_rows"].tolist() == [3, 4]
    np.testing.assert_allclose(np.linalg.norm(data["query"], axis=1), 1.0, rtol=1e-5)
    # query 3 is image 0: its descriptor equals reference 0's
    np.testing.assert_allclose(data["query"][0], data["reference"][0], rtol=1e-4, atol=1e-5)


@pytest.mark.gpu
@cuda
@pytest.mark.parametrize("method", ["avg", "gem", "pix"])
def test_descriptors_on_cuda_match_the_cpu(tmp_path, method):
    on_cpu, on_gpu = _describe(tmp_path, method, "cpu"), _describe(tmp_path, method, "cuda")
    for role in ("reference", "query"):  # cuDNN may use TF32: unit vectors agree to a few 1e-3
        np.testing.assert_allclose(on_gpu[role], on_cpu[role], atol=5e-3)
