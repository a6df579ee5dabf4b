import math

import numpy as np
import pytest
import torch

from acmnet.evaluate.describe import embed
from acmnet.methods.pixels import PixelDescriber


def pixels_reference(images: np.ndarray, size=(32, 64), patch=8) -> np.ndarray:
    """Slow NumPy SeqSLAM pixels: (B, 3, H, W) in [0, 1] -> (B, h*w)."""
    b, _, height, width = images.shape
    h, w = size
    grey = 0.299 * images[:, 0] + 0.587 * images[:, 1] + 0.114 * images[:, 2]
    out = np.empty((b, h * w))
    for n in range(b):
        small = np.empty((h, w))
        for i in range(h):  # area bins [floor(i H / h), ceil((i + 1) H / h))
            r0, r1 = (i * height) // h, math.ceil((i + 1) * height / h)
            for j in range(w):
                c0, c1 = (j * width) // w, math.ceil((j + 1) * width / w)
                small[i, j] = grey[n, r0:r1, c0:c1].mean()
        for i in range(0, h, patch):
            for j in range(0, w, patch):
                block = small[i : i + patch, j : j + patch]
                std = block.std()
                small[i : i + patch, j : j + patch] = (block - block.mean()) / std if std >= 1e-6 else 0.0
        v = small.ravel()
        out[n] = v / max(np.linalg.norm(v), 1e-12)
    return out


@pytest.mark.parametrize(
    "shape,size,patch", [((224, 224), (32, 64), 8), ((60, 90), (32, 64), 8), ((48, 48), (12, 16), 4)]
)
def test_matches_numpy_reference(shape, size, patch):
    images = np.random.default_rng(0).random((3, 3, *shape))
    out = PixelDescriber(size, patch)(torch.from_numpy(images).float())
    assert out.shape == (3, size[0] * size[1]) and out.dtype == torch.float32
    np.testing.assert_allclose(out.numpy(), pixels_reference(images, size, patch), atol=2e-5)


def test_unit_norm_and_each_patch_zero_mean():
    d = PixelDescriber()(torch.rand(4, 3, 224, 224))
    torch.testing.assert_close(d.norm(dim=1), torch.ones(4))
    blocks = d.reshape(4, 4, 8, 8, 8)
    torch.testing.assert_close(blocks.mean(dim=(2, 4)), torch.zeros(4, 4, 8), atol=1e-6, rtol=0)


def test_invariant_to_global_brightness_and_contrast():
    images = torch.rand(2, 3, 96, 128)
    describer = PixelDescriber()
    changed = 0.45 * images + 0.3  # stays inside [0, 1]: no clipping
    torch.testing.assert_close(describer(changed), describer(images), atol=2e-5, rtol=0)
    # ... and (patch-wise) to a brightness gradient that is constant within each patch: not so for the raw pixels
    ramp = torch.linspace(0, 0.3, 8).repeat_interleave(16).view(1, 1, 1, 128)  # 8 patch columns of 16 input pixels
    torch.testing.assert_close(describer(images * 0.6 + ramp), describer(images), atol=2e-5, rtol=0)


def test_flat_image_gives_zero_and_flat_patches_are_zeroed():
    describer = PixelDescriber()
    assert torch.count_nonzero(describer(torch.full((1, 3, 64, 128), 0.5))) == 0
    images = torch.rand(1, 3, 64, 128)
    images[..., :16, :16] = 0.2  # the top-left 8x8 patch of the 32x64 image is flat
    d = describer(images).reshape(32, 64)
    assert torch.count_nonzero(d[:8, :8]) == 0 and torch.isfinite(d).all()
    torch.testing.assert_close(d.norm(), torch.tensor(1.0))


def test_same_image_scores_highest():
    images = torch.rand(6, 3, 64, 64)
    d = PixelDescriber()(images)
    similarity = d @ d.T
    assert torch.equal(similarity.argmax(dim=1), torch.arange(6))


def test_bad_geometry_is_refused():
    with pytest.raises(ValueError, match="must divide"):
        PixelDescriber((30, 64), 8)
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        PixelDescriber()(torch.rand(2, 1, 32, 64))


def test_plugs_into_embed_with_channels_last():
    describer = PixelDescriber().eval()
    describer.to(memory_format=torch.channels_last)
    array = np.random.default_rng(1).integers(0, 256, (5, 64, 128, 3), dtype=np.uint8)
    out = embed(describer, array, np.arange(5), torch.device("cpu"), 2, "test", channels_last=True, progress=False)
    assert out.shape == (5, 2048) and out.dtype == np.float32
    expected = pixels_reference(array.transpose(0, 3, 1, 2).astype(np.float64) / 255.0)
    np.testing.assert_allclose(out, expected, atol=2e-5)
