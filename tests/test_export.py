"""acmnet export: the released folder, its model card, torch.hub's module in a fresh process, rows from it."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from acmnet.artifacts import ArtifactError, load_checkpoint, load_descriptors, provenance, save_checkpoint
from acmnet.config import ConfigError
from acmnet.config_loader import config_from_dict
from acmnet.evaluate.describe import describe
from acmnet.export import ExportError, export, load_exported
from acmnet.methods import trained_methods
from tests.conftest import REPO
from tests.train.test_loop import _run, _setup

IMAGENET_MEAN, IMAGENET_STD = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(folder with the tiny loop data, its config, the trained checkpoint, its describe output)."""
    root = tmp_path_factory.mktemp("trained")
    cfg = _setup(root)
    checkpoint = _run(cfg, root, "run")
    described = root / "d" / "acmnet" / "descriptors"  # as a report folder lays them out
    describe(cfg, "acmnet", root / "manifest.csv", root / "cache.npy", described, checkpoint, progress=False)
    return root, cfg, checkpoint, described


def _front_matter(card: str) -> dict:
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n")[1])


def test_the_folder_holds_weights_config_and_a_card(trained, tmp_path):
    checkpoint = trained[2]
    out = export(checkpoint, tmp_path / "release")
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    config = json.loads((out / "config.json").read_text())
    made = load_checkpoint(checkpoint)
    assert config["training"]["epochs"] == 2 and config["training"]["seed"] == 0
    assert config["training"]["train_images_digest"] == made.provenance.settings["train_images"]
    assert config["image_size"] == [24, 24] and config["descriptor_dim"] == 8
    model, _ = load_exported(out)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in made.model_state.items())
    card = (out / "README.md").read_text()
    meta = _front_matter(card)
    assert meta["pipeline_tag"] == "image-feature-extraction" and "visual-place-recognition" in meta["tags"]
    assert "model-index" not in meta  # no report given
    assert made.provenance.settings["train_images"] in card and "seed 0, 2 epochs" in card
    assert "NT-Xent" in card and "## Departures from the paper" in card


def test_hub_descriptors_in_a_fresh_process_equal_acmnet_describe(trained, tmp_path):
    root, _, checkpoint, described = trained
    out = export(checkpoint, tmp_path / "release")
    cache = np.load(root / "cache.npy")
    descriptors = load_descriptors(described)
    rows = descriptors.parts[0].reference_rows
    manifest = pd.read_csv(root / "manifest.csv", comment="#")
    index = {name: i for i, name in enumerate(json.loads((root / "cache.json").read_text())["images"])}
    pixels = cache[[index[name] for name in manifest["image"].iloc[rows]]] / 255.0
    normalised = ((pixels - IMAGENET_MEAN) / IMAGENET_STD).transpose(0, 3, 1, 2).astype(np.float32)
    np.save(tmp_path / "images.npy", normalised)
    script = (
        "import sys, numpy as np, torch\n"
        "model = torch.hub.load(sys.argv[1], 'acmnet', weights=sys.argv[2], source='local')\n"
        "with torch.no_grad():\n"
        "    out = model(torch.from_numpy(np.load(sys.argv[3])))\n"
        "np.save(sys.argv[4], out.numpy())\n"
    )
    args = [str(REPO), str(out), str(tmp_path / "images.npy"), str(tmp_path / "hub.npy")]
    subprocess.run([sys.executable, "-c", script, *args], check=True, cwd=tmp_path)
    hub = np.load(tmp_path / "hub.npy")
    ours = np.asarray(descriptors.reference)
    assert hub.shape == ours.shape == (12, 8)
    np.testing.assert_allclose(np.linalg.norm(hub, axis=1), 1.0, atol=1e-6)
    assert np.abs(hub - ours).max() <= 1e-6


def test_a_kind_acmnet_row_describes_with_an_exported_folder(trained, tmp_path):
    root, _, checkpoint, described = trained
    out = export(checkpoint, tmp_path / "release")
    raw = {
        "image_size": [24, 24],
        "device": "cpu",
        "train": {"channels_last": "off"},
        "methods": {"released": {"kind": "acmnet", "exported": str(out)}},
        "datasets": {"d": {"type": "folder_pair", "root": str(root), "reference": "x", "query": ["y"]}},
    }
    released = config_from_dict(raw)
    assert trained_methods(released) == []  # nothing to train
    part = describe(released, "released", root / "manifest.csv", root / "cache.npy", tmp_path / "desc", progress=False)
    assert np.array_equal(load_descriptors(part.path).reference, load_descriptors(described).reference)
    sources = {s.path for s in part.provenance.sources.values()}
    assert str(out / "model.safetensors") in sources and str(out / "config.json") in sources


@pytest.mark.parametrize(
    "options, message",
    [
        ({"exported": "nowhere"}, r"methods.released.exported: nowhere/config.json does not exist"),
        ({"train": {"epochs": 3}}, r"remove methods.released.train"),
    ],
)
def test_a_row_from_a_missing_folder_or_with_training_options_is_refused(trained, tmp_path, options, message):
    out = export(trained[2], tmp_path / "release")
    method = {"kind": "acmnet", "exported": str(out), **options}
    dataset = {"type": "folder_pair", "root": str(trained[0]), "reference": "x", "query": ["y"]}
    with pytest.raises(ConfigError, match=message):
        config_from_dict({"methods": {"released": method}, "datasets": {"d": dataset}})


def test_replaced_weights_are_refused(trained, tmp_path):
    out = export(trained[2], tmp_path / "release")
    (out / "model.safetensors").write_bytes((out / "model.safetensors").read_bytes()[:-4] + b"\0\0\0\0")
    with pytest.raises(ExportError, match="SHA-256 differs"):
        load_exported(out)


def test_another_tools_weights_are_refused(tmp_path):
    foreign = tmp_path / "salad.ckpt"
    torch.save({"state_dict": {"backbone.weight": torch.zeros(2)}}, foreign)
    with pytest.raises(ExportError, match=r"takes the checkpoint.pt that `acmnet train` wrote.*another method"):
        export(foreign, tmp_path / "out")


def test_the_command_names_the_foreign_file_in_one_line(tmp_path, capsys):
    from acmnet.cli import main

    foreign = tmp_path / "model.pth"
    torch.save({"backbone.weight": torch.zeros(2)}, foreign)
    assert main(["export", "--checkpoint", str(foreign), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("acmnet export: error: acmnet export takes the checkpoint.pt") and str(foreign) in err
    assert not (tmp_path / "out").exists()


def test_a_checkpoint_of_another_method_kind_is_refused(trained, tmp_path):
    made = load_checkpoint(trained[2])
    settings = {**made.provenance.settings, "method.kind": "pretrained"}
    other = tmp_path / "checkpoint.pt"
    save_checkpoint(
        other, made.model_state, made.model_config, made.train_config, made.info, provenance("train", settings)
    )
    with pytest.raises(ExportError, match=r"method kind `pretrained`.*not an ACM-Net"):
        export(other, tmp_path / "out")


def test_the_card_gives_the_reports_recalls_of_this_checkpoint(trained, tmp_path):
    root, checkpoint = trained[0], trained[2]
    report = root  # metrics.csv beside d/acmnet/descriptors, as results/<experiment> holds them
    rows = [
        {"dataset": "d", "queries": "y", "method": "acmnet", "protocol_signature": "sig123", "n_queries": 12}
        | {"R@1": 25.0, "R@1_lo": 8.3, "R@1_hi": 50.0, "R@5": 75.0, "R@5_lo": 50.0, "R@5_hi": 100.0},
        {"dataset": "d", "queries": "y", "method": "other", "protocol_signature": "sig123", "n_queries": 12}
        | {"R@1": 1.0, "R@1_lo": 0.0, "R@1_hi": 2.0, "R@5": 3.0, "R@5_lo": 1.0, "R@5_hi": 4.0},
    ]
    pd.DataFrame(rows).to_csv(report / "metrics.csv", index=False)
    card = (export(checkpoint, tmp_path / "release", report=report) / "README.md").read_text()
    assert "25.0 [8.3, 50.0]" in card and "75.0 [50.0, 100.0]" in card and "sig123" in card
    assert "1.0 [0.0, 2.0]" not in card  # another method's row
    (result,) = _front_matter(card)["model-index"][0]["results"]
    assert result["metrics"] == [
        {"type": "recall", "name": "R@1", "value": 25.0},
        {"type": "recall", "name": "R@5", "value": 75.0},
    ]


def test_a_report_this_checkpoint_did_not_describe_is_refused(trained, tmp_path):
    checkpoint, described = trained[2], trained[3]
    (tmp_path / "d" / "acmnet" / "descriptors").mkdir(parents=True)
    record = json.loads(next(described.glob("part-*.json")).read_text())
    for source in record["provenance"]["sources"].values():
        source["digest"] = "0" * 16
    (tmp_path / "d" / "acmnet" / "descriptors" / "part-0000-of-0001.json").write_text(json.dumps(record))
    rows = {"dataset": "d", "queries": "y", "method": "acmnet", "n_queries": 12, "R@1": 1.0, "R@1_lo": 0, "R@1_hi": 2}
    pd.DataFrame([rows]).to_csv(tmp_path / "metrics.csv", index=False)
    with pytest.raises(ArtifactError, match="no row of .*metrics.csv was described with"):
        export(checkpoint, tmp_path / "release", report=tmp_path)
