import pytest
import yaml

from acmnet.config import ConfigError, config_from_dict, load_config

MINIMAL = {"datasets": {"d": {"type": "folder_pair", "root": "x", "reference": "a", "query": ["b"]}}}


def test_defaults_are_the_paper_settings():
    cfg = config_from_dict(MINIMAL)
    assert cfg.model.backbone == "resnet50" and cfg.model.projector_dim == 1024
    assert cfg.train.tau == 0.01 and cfg.train.lr == 0.003 and cfg.train.batch_size == 64
    assert cfg.train.epochs == 1000 and cfg.train.rotation_weight == 1.0
    assert cfg.train.contrastive == "ntxent" and cfg.train.rotation_reduction == "mean"
    assert cfg.image_size == (224, 224)
    assert set(cfg.methods) == {"acmnet", "imagenet_avg"}


@pytest.mark.parametrize(
    "patch, message",
    [
        ({"trian": {}}, r"unknown config key `trian` \(did you mean `train`\?\)"),
        ({"train": {"learning_rate": 0.1}}, r"unknown config key `train.learning_rate`"),
        ({"train": {"contrastive": "infonce"}}, r"train.contrastive must be one of ntxent, eq10"),
        ({"train": {"epochs": "ten"}}, r"train.epochs must be an integer"),
        ({"augment": {"solarize": {"p": 1.5}}}, r"augment.solarize.p must lie in \[0, 1\]"),
        ({"image_size": [224, 112]}, r"not square"),
        ({"methods": {"ablation": {"train": {"tua": 0.1}}}}, r"methods.ablation.train.tua.*did you mean `tau`"),
        ({"evaluate": {"recall_at": [1, 50]}}, r"recall_at"),
    ],
)
def test_bad_values_are_named(patch, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict({**MINIMAL, **patch})


def test_dataset_without_root_is_named():
    with pytest.raises(ConfigError, match=r"datasets.d.root is missing"):
        config_from_dict({"datasets": {"d": {"type": "folder_pair"}}})


def test_method_overrides_make_ablations():
    cfg = config_from_dict({**MINIMAL, "methods": {"full": {}, "rot_only": {"train": {"contrastive_weight": 0.0}}}})
    assert cfg.train_for("rot_only").contrastive_weight == 0.0
    assert cfg.train_for("full").contrastive_weight == 1.0


def test_later_files_override_earlier_ones(tmp_path):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(yaml.safe_dump({**MINIMAL, "train": {"epochs": 5, "lr": 0.1}}))
    b.write_text(yaml.safe_dump({"train": {"epochs": 7}}))
    cfg = load_config([a, b])
    assert cfg.train.epochs == 7 and cfg.train.lr == 0.1
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")


def test_shipped_configs_are_valid():
    from tests.conftest import REPO

    for path in sorted((REPO / "config").glob("*.yaml")):
        load_config(path)
