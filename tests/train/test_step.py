"""One training step: the encoder passes, both losses, the variants, batch-norm modes."""

import math

import pytest
import torch

from acmnet.config import AugmentConfig, TrainConfig
from acmnet.methods.acmnet import build_model
from acmnet.train.augment import build_appearance_augmentation
from acmnet.train.step import set_train_mode, training_step
from tests.conftest import TINY, cuda


def _step(tcfg, n=4):
    torch.manual_seed(0)
    model = build_model(TINY)
    out = training_step(model, build_appearance_augmentation(AugmentConfig()), torch.rand(n, 3, 32, 32), tcfg, None)
    return model, out


def test_step_uses_five_n_images_and_both_losses(monkeypatch):
    sizes = []
    model = build_model(TINY)
    original = model.features
    monkeypatch.setattr(model, "features", lambda x: sizes.append(len(x)) or original(x))
    out = training_step(
        model, build_appearance_augmentation(AugmentConfig()), torch.rand(4, 3, 32, 32), TrainConfig(), None
    )
    assert sizes == [20]  # one encoder pass over x0, T_A(x0) and three rotations
    assert out["loss"].item() == pytest.approx(out["loss_contrastive"].item() + out["loss_rotation"].item(), rel=1e-6)
    assert out["loss_rotation"].item() == pytest.approx(math.log(4), abs=0.7)
    out["loss"].backward()
    assert all(p.grad is not None for p in model.rotation_head.parameters())
    assert all(p.grad is not None for p in model.projector.parameters())


@pytest.mark.parametrize(
    "overrides, passes",
    [({"rotation_weight": 0.0}, 8), ({"contrastive_weight": 0.0}, 16), ({"rotation_views": "one"}, 12)],
)
def test_variants_run_the_views_they_need(monkeypatch, overrides, passes):
    sizes = []
    model = build_model(TINY)
    original = model.features
    monkeypatch.setattr(model, "features", lambda x: sizes.append(len(x)) or original(x))
    out = training_step(
        model, build_appearance_augmentation(AugmentConfig()), torch.rand(4, 3, 32, 32), TrainConfig(**overrides), None
    )
    assert sizes == [passes]
    assert torch.isfinite(out["loss"])
    if overrides.get("rotation_weight") == 0.0:
        assert out["loss_rotation"].item() == 0.0
    if overrides.get("contrastive_weight") == 0.0:
        assert out["loss_contrastive"].item() == 0.0


@pytest.mark.gpu
@cuda
def test_bf16_step_on_cuda_keeps_losses_in_float32():
    device = torch.device("cuda")
    model = build_model(TINY).to(device)
    augment = build_appearance_augmentation(AugmentConfig()).to(device)
    out = training_step(model, augment, torch.rand(8, 3, 32, 32, device=device), TrainConfig(), torch.bfloat16)
    for key in ("loss", "loss_contrastive", "loss_rotation"):
        assert out[key].dtype == torch.float32 and torch.isfinite(out[key]), key
    out["loss"].backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_rotation_sum_is_four_n_times_mean():
    _, mean = _step(TrainConfig(rotation_reduction="mean"))
    _, total = _step(TrainConfig(rotation_reduction="sum"))
    assert total["loss_rotation"].item() == pytest.approx(16 * mean["loss_rotation"].item(), rel=1e-4)


@pytest.mark.parametrize("mode, changes", [("update", True), ("frozen", False)])
def test_encoder_bn_statistics_update_or_stay(mode, changes):
    tcfg = TrainConfig(encoder_bn=mode)
    model = build_model(TINY)
    before = {k: v.clone() for k, v in model.encoder.state_dict().items() if "running" in k}
    set_train_mode(model, tcfg)
    out = training_step(model, build_appearance_augmentation(AugmentConfig()), torch.rand(4, 3, 32, 32), tcfg, None)
    out["loss"].backward()
    after = model.encoder.state_dict()
    moved = any(not torch.equal(before[k], after[k]) for k in before)
    assert moved is changes
    assert model.projector[1].training  # the projector's batch norm always trains


def test_a_bf16_step_runs_on_the_cpu_with_float32_losses():
    model = build_model(TINY)
    out = training_step(
        model,
        build_appearance_augmentation(AugmentConfig()),
        torch.rand(4, 3, 32, 32),
        TrainConfig(amp="bf16"),
        torch.bfloat16,
    )
    for key in ("loss", "loss_contrastive", "loss_rotation"):
        assert out[key].dtype == torch.float32 and torch.isfinite(out[key]), key
    out["loss"].backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_separate_encoder_passes_keep_batch_norm_statistics_apart(monkeypatch):
    """`encoder_passes: separate`: the 2N contrastive views and the 4N rotation views (originals
    again) go through the encoder in two passes, so neither branch's batch-norm statistics see
    the other's images; `joint` is one pass over 5N."""
    sizes = []
    model = build_model(TINY)
    original = model.features
    monkeypatch.setattr(model, "features", lambda x: sizes.append(len(x)) or original(x))
    augment = build_appearance_augmentation(AugmentConfig())
    images = torch.rand(4, 3, 32, 32)
    torch.manual_seed(0)
    joint = training_step(model, augment, images, TrainConfig(), None)
    torch.manual_seed(0)
    separate = training_step(model, augment, images, TrainConfig(encoder_passes="separate"), None)
    assert sizes == [20, 8, 16]
    # batch norm in training mode: other batches, other statistics, other features and losses
    assert not torch.isclose(joint["loss_rotation"], separate["loss_rotation"])
    model.eval()  # without batch statistics both readings compute the same thing
    torch.manual_seed(0)
    a = training_step(model, augment, images, TrainConfig(), None)
    torch.manual_seed(0)
    b = training_step(model, augment, images, TrainConfig(encoder_passes="separate"), None)
    torch.testing.assert_close(a["loss"], b["loss"])


def test_one_layer_projector_reading():
    from dataclasses import replace

    model = build_model(replace(TINY, projector_layers=1))
    assert [type(m).__name__ for m in model.projector] == ["Linear", "BatchNorm1d", "ReLU"]
    assert model.projector[0].out_features == TINY.projector_dim
