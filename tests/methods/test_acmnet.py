"""The ACM-Net method kind: model heads, descriptor choice, options."""

import pytest
import torch
import torch.nn.functional as F

from acmnet.config import ConfigError
from acmnet.config_loader import config_from_dict
from acmnet.methods import method_kind, trained_methods, training_dataset
from acmnet.methods.acmnet import AcmNetDescriber, AcmNetOptions, build_model
from acmnet.methods.pooling import grid_pool, stage_map
from tests.conftest import TINY

DATASETS = {"d": {"type": "folder_pair", "root": "x", "reference": "a", "query": ["b"]}}


def test_heads_follow_the_spec_and_descriptors_are_unit_norm():
    model = build_model(TINY).eval()
    proj, rot = list(model.projector), list(model.rotation_head)
    assert [type(m).__name__ for m in proj] == ["Linear", "BatchNorm1d", "ReLU", "Linear"]
    assert [type(m).__name__ for m in rot] == ["Linear", "LayerNorm", "ReLU", "Linear"]
    assert rot[-1].out_features == 4 and proj[-1].out_features == 16
    d = model.descriptors(torch.rand(3, 3, 32, 32))
    assert d.shape == (3, 16)
    torch.testing.assert_close(d.norm(dim=1), torch.ones(3))


def test_encoder_descriptor_is_the_normalised_pooled_encoder_output():
    model = build_model(TINY).eval()
    images = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        projected = AcmNetDescriber(model, AcmNetOptions(descriptor="projector"))(images)
        encoded = AcmNetDescriber(model, AcmNetOptions(descriptor="encoder"))(images)
        torch.testing.assert_close(projected, model.descriptors(images))
        torch.testing.assert_close(encoded, F.normalize(model.features(images), dim=-1))
    assert encoded.shape == (2, model.encoder.num_features) and projected.shape == (2, 16)


def test_grid_descriptor_is_the_normalised_grid_of_the_trained_encoder_stage():
    model = build_model(TINY).eval()
    images = torch.rand(2, 3, 64, 64)
    describer = AcmNetDescriber(model, AcmNetOptions(descriptor="grid", grid_stage=1, grid_size=(2, 4)))
    with torch.no_grad():
        d = describer(images)
        expected = grid_pool(stage_map(model.encoder, (images - model.mean) / model.std, 1), (2, 4))
        next(model.encoder.parameters()).add_(1.0)  # the descriptor follows the (trained) encoder
        changed = describer(images)
    torch.testing.assert_close(d, F.normalize(expected, dim=-1))
    assert d.shape == (2, model.encoder.feature_info[1]["num_chs"] * 8)
    assert not torch.allclose(d, changed)


def test_registry_says_what_trains_and_labels_rows():
    cfg = config_from_dict(
        {
            "datasets": DATASETS,
            "methods": {
                "acmnet": {},
                "enc": {"kind": "acmnet", "descriptor": "encoder"},
                "avg": {"kind": "pretrained"},
                "gem": {"kind": "pretrained", "pool": "gem", "gem_p": 4},
                "pix": {"kind": "pixels"},
            },
        }
    )
    assert trained_methods(cfg) == ["acmnet", "enc"]
    labels = {n: method_kind(m.kind).label(cfg, n, m.options) for n, m in cfg.methods.items()}
    assert labels["acmnet"] == "ACM-Net" and "encoder" in labels["enc"]
    assert "GeM (p=4)" in labels["gem"] and "average" in labels["avg"] and "Raw pixels" in labels["pix"]
    assert not method_kind("pixels").uses_gpu and method_kind("pretrained").uses_gpu


@pytest.mark.parametrize(
    "methods, message",
    [
        ({"m": {"kind": "acmnet", "descriptor": "pooled"}}, r"methods.m.descriptor must be one of projector, encoder"),
        ({"m": {"kind": "acmnet", "train": {"tua": 0.1}}}, r"methods.m.train.tua.*did you mean `tau`"),
        (
            {"m": {"kind": "acmnet", "train": {"batch_size": 1}}},
            r"methods.m.train.batch_size must be at least 2 when contrastive",
        ),
        (
            {"m": {"kind": "acmnet", "train": {"contrastive_weight": 0, "rotation_weight": 0}}},
            r"nothing would be learnt",
        ),
        ({"m": {"kind": "pretrianed"}}, r"unknown method kind `pretrianed` \(did you mean `pretrained`\?\)"),
        ({"m": {"kind": "pretrained", "gem_p": 0}}, r"methods.m.gem_p must be > 0, got 0"),
        ({"m": {"kind": "pixels", "pixel_patch": 5}}, r"pixel_patch 5 must divide"),
        ({"m": {"kind": "acmnet", "train_on": "dd"}}, r"methods.m.train_on names `dd`.*did you mean `d`.*datasets: d"),
        ({"m": {"kind": "acmnet", "grid_size": [0, 8]}}, r"methods.m.grid_size"),
    ],
)
def test_method_options_are_checked_when_the_config_is_loaded(methods, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict({"datasets": DATASETS, "methods": methods})


@pytest.mark.parametrize(
    "method, model, message",
    [
        (
            {"kind": "acmnet", "descriptor": "grid", "grid_stage": 5},
            {},
            r"methods.m.grid_stage is 5, but backbone resnet50\S* has 5 feature stages \(grid_stage 0..4",
        ),
        (
            {"kind": "acmnet", "descriptor": "grid", "grid_stage": 9, "model": {"backbone": "test_efficientnet"}},
            {},
            r"methods.m.grid_stage is 9, but backbone test_efficientnet has 5 feature stages",
        ),
        (
            {"kind": "pretrained", "pool": "grid", "grid_stage": 6},
            {"backbone": "tf_efficientnet_lite0"},
            r"methods.m.grid_stage is 6, but backbone tf_efficientnet_lite0 has 5 feature stages",
        ),
    ],
)
def test_a_grid_stage_beyond_the_backbone_is_refused_when_the_config_is_loaded(method, model, message):
    """From the backbone's feature_info (a build without weights): before any training or describing."""
    with pytest.raises(ConfigError, match=message):
        config_from_dict({"datasets": DATASETS, "methods": {"m": method}, "model": model})
    # the last stage is accepted; a stage that is not used (descriptor projector, pool avg) is not checked
    config_from_dict({"datasets": DATASETS, "methods": {"m": {**method, "grid_stage": 4}}, "model": model})
    other = {**method, "descriptor": "projector"} if method["kind"] == "acmnet" else {**method, "pool": "avg"}
    config_from_dict({"datasets": DATASETS, "methods": {"m": other}, "model": model})


def test_train_on_names_the_dataset_whose_model_describes_every_dataset():
    datasets = {**DATASETS, "other": {**DATASETS["d"], "root": "y"}}
    cfg = config_from_dict(
        {"datasets": datasets, "methods": {"own": {"kind": "acmnet"}, "cross": {"kind": "acmnet", "train_on": "d"}}}
    )
    assert training_dataset(cfg, "cross", "other") == "d" and training_dataset(cfg, "cross", "d") == "d"
    assert training_dataset(cfg, "own", "other") == "other"


def test_rotation_head_readings():
    """P_G: our two-layer reading, and the paper's words read literally (one Linear-LN-ReLU to 4)."""
    import dataclasses

    from acmnet.methods.acmnet import rotation_head

    ours = rotation_head(32, TINY)
    literal = rotation_head(32, dataclasses.replace(TINY, rotation_layers=1))
    assert [type(m).__name__ for m in ours] == ["Linear", "LayerNorm", "ReLU", "Linear"]
    assert [type(m).__name__ for m in literal] == ["Linear", "LayerNorm", "ReLU"]
    out = literal(torch.randn(5, 32))
    assert out.shape == (5, 4) and (out >= 0).all()


def test_a_row_without_the_contrastive_loss_cannot_describe_with_the_untrained_projector():
    datasets = {"d": {"type": "folder_pair", "root": ".", "reference": "a", "query": "b"}}
    untrained = {"kind": "acmnet", "train": {"contrastive_weight": 0.0}}
    with pytest.raises(ConfigError, match=r"methods.rot trains without the contrastive loss.*descriptor: encoder"):
        config_from_dict({"methods": {"rot": untrained}, "datasets": datasets})
    cfg = config_from_dict({"methods": {"rot": {**untrained, "descriptor": "encoder"}}, "datasets": datasets})
    assert cfg.methods["rot"].options.descriptor == "encoder"
