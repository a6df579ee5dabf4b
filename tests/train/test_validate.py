"""Watching a run: the validation slice's R@1, the collapse flag and training.png, end to end on tiny data."""

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

import acmnet.train.loop as loop
from acmnet.artifacts import load_checkpoint, load_manifest
from acmnet.config import ConfigError
from acmnet.config_loader import config_from_dict
from acmnet.train import TrainingError
from acmnet.train.validate import ValidationSlice, recall_at_1
from tests.conftest import write_cache, write_manifest
from tests.train.test_loop import _run, _setup


def test_recall_at_1_counts_the_nearest_reference_within_the_tolerance():
    reference = np.eye(4, dtype=np.float32)
    query = np.array([[1, 0, 0, 0], [0, 0, 0.9, 0.1], [0, 0, 0.1, 0.9]], dtype=np.float32)
    slice_ = ValidationSlice(np.arange(3), np.arange(4), np.array([0, 0, 3]), np.array([0, 1, 2, 3]), 1)
    # query 0 -> place 0 (right), query 1 -> place 2, two from 0 (wrong), query 2 -> place 3 (right)
    assert recall_at_1(query, reference, slice_) == pytest.approx(200 / 3)
    wider = ValidationSlice(*list(vars(slice_).values())[:4], tolerance=2)
    assert recall_at_1(query, reference, wider) == 100.0


def _two_conditions(tmp_path, **train):
    """The loop tests' tiny data with the `train` images in two conditions of the same 6 places."""
    cfg = _setup(tmp_path)
    frame = load_manifest(tmp_path / "manifest.csv").frame.copy()
    train_rows = frame.index[frame["role"] == "train"]
    frame.loc[train_rows, "place"] = np.arange(12) % 6
    frame.loc[train_rows, "condition"] = ["a"] * 6 + ["b"] * 6
    tested = frame.index[frame["role"] != "train"]  # reported images of their own, none a training image
    for i in tested:
        Image.fromarray(np.full((24, 24, 3), i, dtype=np.uint8)).save(tmp_path / f"t{i}.png")
    frame.loc[tested, "image"] = [f"t{i}.png" for i in tested]
    write_cache(write_manifest(frame, tmp_path / "manifest.csv"), tmp_path, tmp_path / "cache.npy", (24, 24))
    cfg.train = dataclasses.replace(cfg.train, **train)
    return cfg


def test_validation_r1_every_k_epochs_and_the_same_weights_as_without(tmp_path):
    on = _two_conditions(tmp_path, validate_every=1, validate_queries="b", validate_references="a", epochs=2)
    log = pd.read_csv(_run(on, tmp_path, "on").parent / "train_log.csv")
    assert log["val_r1"].notna().all() and log["val_r1"].between(0, 100).all()
    off = _two_conditions(tmp_path, validate_every=0, epochs=2)
    with_validation = load_checkpoint(tmp_path / "on" / "checkpoint.pt").model_state
    without = load_checkpoint(_run(off, tmp_path, "off")).model_state
    assert all(torch.equal(with_validation[k], without[k]) for k in without)  # nothing drawn, nothing learnt


def test_a_validation_condition_the_training_images_lack_is_named(tmp_path):
    cfg = _two_conditions(tmp_path, validate_every=1, validate_queries="winter", validate_references="a")
    with pytest.raises(TrainingError, match=r"validate_queries is `winter`.*conditions: a, b"):
        _run(cfg, tmp_path, "run")


def test_validation_queries_that_are_reported_queries_are_refused(tmp_path):
    cfg = _two_conditions(tmp_path, validate_every=1, validate_queries="b", validate_references="a")
    frame = load_manifest(tmp_path / "manifest.csv").frame.copy()
    train_b = frame.loc[(frame["role"] == "train") & (frame["condition"] == "b"), "image"]
    frame.loc[frame["role"] == "query", "image"] = list(train_b) * 2
    write_cache(write_manifest(frame, tmp_path / "manifest.csv"), tmp_path, tmp_path / "cache.npy", (24, 24))
    with pytest.raises(TrainingError, match="reported query set"):
        _run(cfg, tmp_path, "run")


@pytest.mark.parametrize(
    "train, message",
    [
        ({"validate_every": 2}, "validate_queries and validate_references"),
        ({"validate_every": 2, "validate_queries": "a", "validate_references": "a"}, "both `a`"),
    ],
)
def test_an_incomplete_validation_slice_is_refused_at_config_load(train, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict({"train": train})


def test_a_dataset_that_trains_on_its_queries_cannot_validate(tmp_path):
    folder = {"type": "folder_pair", "root": str(tmp_path), "reference": "x", "query": ["y"], "train": "y"}
    train = {"validate_every": 1, "validate_queries": "a", "validate_references": "b"}
    with pytest.raises(ConfigError, match="train_on_queries"):
        config_from_dict({"train": train, "datasets": {"d": {**folder, "train_on_queries": True}}})


class _Constant(torch.nn.Module):
    """A projector whose every output is the same learnt vector: collapse by construction."""

    def __init__(self, dim: int):
        super().__init__()
        self.value = torch.nn.Parameter(torch.randn(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.value.expand(len(x), -1) + 0 * x.sum()


def test_a_collapsed_run_is_flagged_in_the_log_and_on_stderr(tmp_path, monkeypatch, capsys):
    cfg = _setup(tmp_path)
    build = loop.build_model

    def collapsing(model_cfg):
        model = build(model_cfg)
        model.projector = _Constant(model_cfg.projector_dim)
        return model

    monkeypatch.setattr(loop, "build_model", collapsing)
    out = _run(cfg, tmp_path, "run").parent
    log = pd.read_csv(out / "train_log.csv")
    assert (log["collapse_std"] == 0).all() and (log["collapsed"] == 1).all()
    assert log["uniformity"].abs().max() < 1e-6  # every pair at distance 0
    assert "WARNING: train acmnet: the outputs may have collapsed at epoch 1" in capsys.readouterr().err
    assert (out / "training.png").stat().st_size > 0


def test_a_healthy_run_is_not_flagged(tmp_path, capsys):
    out = _run(_setup(tmp_path), tmp_path, "run").parent
    log = pd.read_csv(out / "train_log.csv")
    assert (log["collapsed"] == 0).all() and (log["collapse_std"] > 0.1).all()
    assert log[["alignment", "uniformity"]].notna().all().all() and "WARNING" not in capsys.readouterr().err
    assert (out / "training.png").stat().st_size > 0
