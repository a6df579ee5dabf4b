import itertools
import typing

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from acmnet.config import ModelConfig
from acmnet.evaluate.describe import embed
from acmnet.methods.backbone import create_encoder
from acmnet.methods.pooling import GeM, gem, grid_pool, stage_map
from acmnet.methods.pretrained import PretrainedDescriber

TINY = ModelConfig(backbone="test_resnet", pretrained=False)


def gem_reference(x: np.ndarray, p: float, eps: float = 1e-6) -> np.ndarray:
    return np.mean(np.maximum(x, eps) ** p, axis=(2, 3)) ** (1.0 / p)


def test_gem_matches_numpy_reference():
    x = torch.randn(3, 5, 7, 6, generator=torch.Generator().manual_seed(0)).relu()
    for p in (1.0, 2.5, 3.0, 7.0):
        np.testing.assert_allclose(gem(x, p).numpy(), gem_reference(x.double().numpy(), p), rtol=1e-5, atol=1e-6)


def test_p_one_is_average_pooling():
    x = torch.rand(2, 4, 5, 5, dtype=torch.float32) + 0.1
    torch.testing.assert_close(GeM(p=1.0)(x), F.adaptive_avg_pool2d(x, 1).flatten(1))


def test_large_p_approaches_max_pooling():
    x = torch.rand(2, 8, 7, 7, generator=torch.Generator().manual_seed(1)) * 0.5 + 0.5
    maxpool = x.amax(dim=(2, 3))
    errors = [(GeM(p=p)(x) - maxpool).abs().max().item() for p in (1.0, 3.0, 10.0, 50.0, 200.0)]
    assert all(a > b for a, b in itertools.pairwise(errors))
    # max * n**(-1/p) <= GeM_p <= max: the gap closes as p grows (n = 49 positions here).
    out = GeM(p=200.0)(x)
    assert (out <= maxpool * (1 + 1e-5)).all() and (out >= maxpool * 49 ** (-1 / 200) * (1 - 1e-5)).all()
    assert errors[-1] < 0.02 * maxpool.max().item() and errors[-1] < errors[0] / 5


def test_gradient_is_finite_also_at_zero_activations():
    x = torch.randn(2, 3, 4, 4).relu().requires_grad_(True)  # about half the entries exactly zero
    pool = GeM(p=3.0, learn_p=True)
    pool(x).sum().backward()
    assert torch.isfinite(x.grad).all() and torch.isfinite(pool.p.grad)
    assert pool.p.grad != 0


def test_half_precision_input_does_not_overflow():
    x = torch.full((1, 2, 3, 3), 100.0, dtype=torch.float16)  # 100**3 > float16 max
    out = gem(x, 3.0)
    assert out.dtype == torch.float32 and torch.allclose(out, torch.full((1, 2), 100.0))


def test_describer_unit_norm_float32_and_shape():
    torch.manual_seed(0)
    describer = PretrainedDescriber(TINY, pool="gem").eval()
    with torch.no_grad():
        d = describer(torch.rand(3, 3, 64, 64))
    assert d.shape == (3, describer.dim) and d.dtype == torch.float32
    torch.testing.assert_close(d.norm(dim=1), torch.ones(3))


def test_describer_with_p_one_equals_the_average_pooled_describer():
    # test_resnet ends with a ReLU, so the feature map is >= 0 and GeM(p=1) is its global average.
    torch.manual_seed(0)
    avg = PretrainedDescriber(TINY).eval()
    describer = PretrainedDescriber(TINY, pool="gem", gem_p=1.0, eps=1e-12, encoder=avg.encoder).eval()
    images = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(describer(images), avg(images), rtol=1e-5, atol=1e-6)


def test_describer_plugs_into_embed_with_channels_last():
    torch.manual_seed(0)
    describer = PretrainedDescriber(ModelConfig(backbone="test_efficientnet", pretrained=False), pool="gem").eval()
    describer.to(memory_format=torch.channels_last)
    array = np.random.default_rng(0).integers(0, 256, (5, 48, 48, 3), dtype=np.uint8)
    out = embed(describer, array, np.arange(5), torch.device("cpu"), 2, "test", channels_last=True, progress=False)
    assert out.shape == (5, describer.dim) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)


def test_non_convolutional_feature_map_is_refused():
    class Tokens(torch.nn.Module):
        num_features = 4
        pretrained_cfg: typing.ClassVar[dict] = {}

        def forward_features(self, x):
            return torch.zeros(x.shape[0], 10, 4)

    with pytest.raises(ValueError, match="convolutional backbone"):
        PretrainedDescriber(TINY, pool="gem", encoder=Tokens())(torch.rand(1, 3, 8, 8))


def test_invalid_p_is_refused():
    with pytest.raises(ValueError, match="p > 0"):
        GeM(p=0.0)


def test_grid_pool_averages_each_cell_and_keeps_the_layout():
    x = torch.arange(2 * 3 * 4 * 6, dtype=torch.float32).reshape(2, 3, 4, 6)
    pooled = grid_pool(x, (2, 3))  # cells of 2x2 pixels
    expected = x.reshape(2, 3, 2, 2, 3, 2).mean(dim=(3, 5)).flatten(1)
    torch.testing.assert_close(pooled, expected)
    assert pooled.shape == (2, 3 * 2 * 3)
    flipped = grid_pool(x.flip(-1), (2, 3))  # a mirrored image gives another descriptor ...
    assert not torch.allclose(flipped, pooled)
    torch.testing.assert_close(grid_pool(x, (1, 1)), x.mean(dim=(2, 3)))  # ... unlike a global average


def test_stage_map_stops_at_the_asked_stage_and_names_the_valid_range():
    encoder = create_encoder(TINY).eval()
    images = torch.rand(1, 3, 64, 64)
    reductions = [info["reduction"] for info in encoder.feature_info]
    for stage, reduction in enumerate(reductions):
        x = stage_map(encoder, images, stage)
        assert x.shape[-2:] == (64 // reduction, 64 // reduction)
        assert x.shape[1] == encoder.feature_info[stage]["num_chs"]
    with pytest.raises(ValueError, match=rf"stages 0..{len(reductions) - 1}, not {len(reductions)}"):
        stage_map(encoder, images, len(reductions))


def test_pretrained_grid_descriptor_is_the_normalised_grid_of_its_stage():
    describer = PretrainedDescriber(TINY, pool="grid", grid_stage=1, grid_size=(2, 2)).eval()
    images = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        d = describer(images)
        normalised = (images - describer.mean) / describer.std
        expected = F.normalize(grid_pool(stage_map(describer.encoder, normalised, 1), (2, 2)), dim=-1)
    torch.testing.assert_close(d, expected)
    assert d.shape == (2, describer.encoder.feature_info[1]["num_chs"] * 4)
