"""Batch invariance: a describer that mixes images across its batch is flagged, one that does not is not."""

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from PIL import Image

import acmnet.evaluate.invariance as invariance
from acmnet.cli import main
from acmnet.config_loader import config_from_dict
from acmnet.evaluate.invariance import compare, describe_runs, load_invariance, sample_rows, small_batch
from acmnet.methods.pixels import PixelDescriber
from acmnet.report.checks import invariance_markdown
from tests.conftest import write_cache, write_manifest

CPU = torch.device("cpu")
RUNS = [(16, False), (16, True), (6, False), (6, True)]


class BatchNormInTraining(torch.nn.Module):
    """Pixels, then batch norm left in training mode: each descriptor depends on its batch."""

    def __init__(self):
        super().__init__()
        self.pixels, self.norm = PixelDescriber((16, 16), 8), torch.nn.BatchNorm1d(256)
        self.norm.train()

    def forward(self, x):
        return torch.nn.functional.normalize(self.norm(self.pixels(x)), dim=-1)

    def eval(self):  # the bug this check exists for: a describer that stays in training mode
        return self


class BatchMeanSubtraction(torch.nn.Module):
    def forward(self, x):
        d = PixelDescriber((16, 16), 8)(x)
        return torch.nn.functional.normalize(d - d.mean(dim=0, keepdim=True), dim=-1)


def _images(n, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (n, 32, 32, 3), dtype=np.uint8)
    return base


@pytest.mark.parametrize("model", [BatchNormInTraining(), BatchMeanSubtraction()], ids=["batchnorm", "batch-mean"])
def test_a_describer_that_mixes_the_batch_changes_descriptors_and_top1(model):
    queries, references = _images(40, 1), _images(40, 2)
    q, r = describe_runs(model, queries, RUNS, CPU), describe_runs(model, references, RUNS, CPU)
    change, top1 = compare(q, r)
    assert change > 1e-2 and top1 > 0


def test_a_describer_that_does_not_mix_is_invariant_to_batch_size_and_order():
    model = PixelDescriber((16, 16), 8)
    queries, references = _images(40, 1), _images(40, 2)
    q, r = describe_runs(model, queries, RUNS, CPU), describe_runs(model, references, RUNS, CPU)
    change, top1 = compare(q, r)
    assert change <= 1e-5 and top1 == 0
    assert np.array_equal(q[0], describe_runs(model, queries, [(40, False)], CPU)[0])  # back in the given order


@pytest.mark.parametrize("n, big", [(64, 64), (10, 64), (40, 16), (4, 64), (13, 64)])
def test_the_small_batch_differs_and_never_leaves_a_batch_of_one(n, big):
    small = small_batch(n, big)
    assert (small >= 2 and n % small != 1 and small != min(big, n)) or n <= 3


def test_sample_rows_are_evenly_spaced_with_both_ends():
    rows = np.arange(100, 200)
    assert list(sample_rows(rows, 5)) == [100, 125, 150, 174, 199]
    assert list(sample_rows(rows[:3], 5)) == [100, 101, 102]


def _dataset(tmp_path, places=24):
    rng = np.random.default_rng(0)
    names = []
    for condition in ("day", "night"):
        for i in range(places):
            name = f"{condition}/{i}.png"
            (tmp_path / condition).mkdir(exist_ok=True)
            Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(tmp_path / name)
            names.append(name)
    frame = pd.DataFrame(
        {
            "image": names,
            "role": ["reference"] * places + ["query"] * places,
            "place": list(range(places)) * 2,
            "condition": ["day"] * places + ["night"] * places,
        }
    )
    manifest = write_manifest(frame, tmp_path / "manifest.csv")
    write_cache(manifest, tmp_path, tmp_path / "cache.npy", (32, 32))
    cfg = {
        "image_size": [32, 32],
        "device": "cpu",
        "evaluate": {"batch_size": 8, "invariance_sample": 16},
        "methods": {"pixels": {"kind": "pixels", "pixel_size": [16, 16], "pixel_patch": 8}},
        "datasets": {"d": {"type": "folder_pair", "root": str(tmp_path), "reference": "day", "query": ["night"]}},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    return tmp_path / "config.yaml"


def _check(tmp_path, config, out, *cache):
    args = ["check-invariance", "--config", str(config), "--dataset", "d", "--method", "pixels"]
    return main([*args, "--manifest", str(tmp_path / "manifest.csv"), *cache, "--out", str(out)])


def test_check_invariance_passes_a_plain_describer_and_flags_a_mixing_one(tmp_path, monkeypatch, capsys):
    config = _dataset(tmp_path)
    cache = ["--cache", str(tmp_path / "cache.npy")]
    assert _check(tmp_path, config, tmp_path / "plain.csv", *cache) == 0
    plain = load_invariance([tmp_path / "plain.csv"])
    assert list(plain["set"]) == ["reference", "query night"] and plain["invariant"].all()
    assert list(plain["images"]) == [16, 16] and plain["batch_sizes"].iloc[0] == "8/4"  # 3: a last batch of 1
    assert plain.loc[1, "top1_changes"] == 0 and np.isnan(plain.loc[0, "top1_changes"])
    assert "warning" not in capsys.readouterr().out
    files = load_invariance([tmp_path / "plain.csv"])  # the same from the image files (no cache)
    assert _check(tmp_path, config, tmp_path / "files.csv") == 0
    assert load_invariance([tmp_path / "files.csv"])["max_change"].to_list() == files["max_change"].to_list()

    built = invariance.build_describer
    monkeypatch.setattr(
        invariance, "build_describer", lambda *a: (BatchMeanSubtraction(), *built(*a)[1:])
    )  # the same describe path, a describer that mixes its batch
    assert _check(tmp_path, config, tmp_path / "mixed.csv", *cache) == 0
    mixed = load_invariance([tmp_path / "mixed.csv"])
    assert not mixed["invariant"].any() and mixed.loc[1, "top1_changes"] > 0
    assert "warning: pixels on d query night: descriptors change by up to" in capsys.readouterr().out

    cfg = config_from_dict(yaml.safe_load(config.read_text()))
    summary = pd.DataFrame(
        {"dataset": "d", "queries": "night", "method": ["pixels", "pixels+seq3", "other"], "R@1": 1.0}
    )
    text = invariance_markdown(summary, mixed, cfg.evaluate)
    lines = text.splitlines()
    assert "DEPENDS ON THE BATCH" in lines[2] and "DEPENDS ON THE BATCH" in lines[3] and "not checked" in lines[4]
    assert "batch sizes 8/4" in text and "exceeds 0.0001" in text
    assert "invariant" in invariance_markdown(summary, plain, cfg.evaluate).splitlines()[2]


def test_an_edited_invariance_file_is_refused(tmp_path):
    config = _dataset(tmp_path, places=8)
    assert _check(tmp_path, config, tmp_path / "plain.csv") == 0
    (tmp_path / "plain.csv").write_text((tmp_path / "plain.csv").read_text().replace("True", "False"))
    with pytest.raises(Exception, match="was changed after `acmnet check-invariance` wrote it"):
        load_invariance([tmp_path / "plain.csv"])
