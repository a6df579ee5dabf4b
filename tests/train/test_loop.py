import math

import numpy as np
import pandas as pd
import pytest
import torch

import acmnet.train.loop as train_module
from acmnet.train.augment import build_appearance_augmentation
from acmnet.data.cache import build_cache
from acmnet.config import AugmentConfig, TrainConfig, config_from_dict
from acmnet.data import manifest as mf
from acmnet.methods.backbone import build_model
from acmnet.train.loop import TrainingError, ViewQueue, make_views, step_losses, to_float_images, train, training_step
from tests.conftest import cuda
from tests.methods.test_backbone import TINY


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
    out = training_step(model, build_appearance_augmentation(AugmentConfig()), torch.rand(4, 3, 32, 32), TrainConfig(), None)
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
    out = training_step(model, build_appearance_augmentation(AugmentConfig()), torch.rand(4, 3, 32, 32), TrainConfig(**overrides), None)
    assert sizes == [passes]
    assert torch.isfinite(out["loss"])
    if overrides.get("rotation_weight") == 0.0:
        assert out["loss_rotation"].item() == 0.0
    if overrides.get("contrastive_weight") == 0.0:
        assert out["loss_contrastive"].item() == 0.0


def test_one_random_rotation_per_image_matches_its_label():
    images = torch.rand(6, 3, 8, 8)
    torch.manual_seed(3)
    views = make_views(images, torch.nn.Identity(), TrainConfig(contrastive_weight=0.0, rotation_views="one"))
    assert views.batch.shape == (12, 3, 8, 8) and views.rotation_labels.shape == (6,)
    assert len(set(views.rotation_labels.tolist())) > 1
    for i, k in enumerate(views.rotation_labels.tolist()):
        torch.testing.assert_close(views.batch[6 + i], torch.rot90(images[i], k, dims=(1, 2)))


def _queued_and_direct_views(device: torch.device, channels_last: bool):
    array = np.random.default_rng(0).integers(0, 256, (10, 16, 16, 3), dtype=np.uint8)
    augment = build_appearance_augmentation(AugmentConfig()).to(device)
    rows = np.array([1, 4, 5, 8])
    torch.manual_seed(7)
    queue = ViewQueue(array, augment, TrainConfig(), device, channels_last)
    queue.start(rows)
    queued = queue.take()
    torch.manual_seed(7)
    direct = make_views(to_float_images(array[rows], device, channels_last), augment, TrainConfig())
    return queued, direct


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=[pytest.mark.gpu, cuda])])
def test_view_queue_makes_the_same_views_as_in_place(device):
    queued, direct = _queued_and_direct_views(torch.device(device), channels_last=True)
    assert queued.batch.shape == (20, 3, 16, 16) and queued.n == 4
    assert queued.batch.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(queued.batch, direct.batch)
    torch.testing.assert_close(queued.rotation_labels, direct.rotation_labels)
    one = TrainConfig(rotation_views="one")  # draws a rotation per image
    queue = ViewQueue(np.zeros((3, 4, 4, 3), np.uint8), torch.nn.Identity(), one, torch.device("cpu"), False,
                      rng_state=lambda: {"torch": torch.get_rng_state()}, depth=2)
    with pytest.raises(RuntimeError, match="before start"):
        queue.take()
    torch.manual_seed(11)
    queue.start(np.array([0]))
    queue.start(np.array([1]))
    with pytest.raises(RuntimeError, match="2 batches are queued"):
        queue.start(np.array([2]))
    first = queue.take()
    second_rng = queue.rng_before_next()
    # the state recorded before batch 2 is the one left after batch 1 drew its random numbers
    seeded = torch.manual_seed(11).get_state()
    make_views(torch.zeros(1, 3, 4, 4), torch.nn.Identity(), one)
    assert torch.equal(second_rng["torch"], torch.get_rng_state())
    assert not torch.equal(second_rng["torch"], seeded)
    assert first.n == 1 and queue.take().n == 1
    queue.close()


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


def _setup(tmp_path, epochs=2):
    from PIL import Image

    rng = np.random.default_rng(0)
    names = []
    for i in range(12):
        Image.fromarray(rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)).save(tmp_path / f"{i}.png")
        names.append(f"{i}.png")
    frame = pd.DataFrame({"image": names * 3, "role": ["train"] * 12 + ["reference"] * 12 + ["query"] * 12,
                          "place": list(range(12)) * 3, "condition": ["a"] * 24 + ["b"] * 12})
    mf.write(frame, tmp_path / "manifest.csv")
    build_cache(frame, tmp_path, tmp_path / "cache.npy", (24, 24), progress=False)
    cfg = config_from_dict({
        "image_size": [24, 24], "device": "cpu",
        "model": {"backbone": "test_efficientnet", "pretrained": False, "projector_hidden": 16, "projector_dim": 8, "rotation_hidden": 8},
        "train": {"epochs": epochs, "batch_size": 4, "lr": 0.001, "log_every": 0, "channels_last": "off"},
        "datasets": {"d": {"type": "folder_pair", "root": str(tmp_path), "reference": "x", "query": ["y"]}},
    })
    return cfg


def _run(cfg, tmp_path, out):
    torch.use_deterministic_algorithms(True)
    try:
        return train(cfg, "acmnet", tmp_path / "manifest.csv", tmp_path / "cache.npy", tmp_path / out, progress=False)
    finally:
        torch.use_deterministic_algorithms(False)


def test_training_writes_checkpoint_and_log(tmp_path):
    cfg = _setup(tmp_path)
    path = _run(cfg, tmp_path, "run")
    state = torch.load(path, weights_only=False)
    assert state["epochs"] == 2 and state["steps"] == 6
    log = pd.read_csv(tmp_path / "run" / "train_log.csv")
    assert list(log.columns) == train_module.LOG_COLUMNS
    assert log["epoch"].tolist() == [1, 2] and log["step"].tolist() == [3, 6]
    assert np.isfinite(log[["loss", "loss_contrastive", "loss_rotation", "images_per_s"]].to_numpy()).all()
    assert ((log["rotation_accuracy"] >= 0) & (log["rotation_accuracy"] <= 1)).all()


@pytest.mark.parametrize("every_steps, dies_at, saved, device", [
    (0, 5, (1, 0), "cpu"), (1, 5, (1, 1), "cpu"), (1, 3, (0, 2), "cpu"),
    pytest.param(1, 3, (0, 2), "cuda", marks=[pytest.mark.gpu, cuda]),
])
def test_interrupted_run_resumes_to_the_same_weights(tmp_path, monkeypatch, every_steps, dies_at, saved, device):
    """Killed at step `dies_at` (3 steps per epoch), the rerun ends with the same weights and logs.
    On CUDA: bf16 autocast, channels_last, the side-stream view queue."""
    cfg = _setup(tmp_path)
    if device == "cuda":
        cfg.device, cfg.train.amp, cfg.train.channels_last = "cuda", "bf16", "on"
    cfg.train.checkpoint_every_steps = every_steps
    cfg.train.log_every = 1
    straight = torch.load(_run(cfg, tmp_path, "straight"), weights_only=False)["model"]

    calls = {"n": 0}
    real_step = train_module.step_losses

    def dies(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == dies_at:
            raise KeyboardInterrupt
        return real_step(*args, **kwargs)

    monkeypatch.setattr(train_module, "step_losses", dies)
    with pytest.raises(KeyboardInterrupt):
        _run(cfg, tmp_path, "resumed")
    assert not (tmp_path / "resumed" / "checkpoint.pt").exists()
    state = torch.load(tmp_path / "resumed" / "last.pt", weights_only=False)
    assert (state["epoch"], state["batch"]) == saved
    monkeypatch.setattr(train_module, "step_losses", real_step)
    resumed = torch.load(_run(cfg, tmp_path, "resumed"), weights_only=False)["model"]
    for key, value in straight.items():
        torch.testing.assert_close(resumed[key], value, msg=key)
    logs = [pd.read_csv(tmp_path / run / "train_log.csv") for run in ("straight", "resumed")]
    cols = ["epoch", "step", "loss", "loss_contrastive", "loss_rotation", "rotation_accuracy", "positive_alignment"]
    pd.testing.assert_frame_equal(logs[0][cols], logs[1][cols])
    steps = pd.read_csv(tmp_path / "resumed" / "train_steps.csv")
    assert steps["step"].tolist() == list(range(1, 7))


def test_non_finite_loss_stops_with_the_step_named(tmp_path, monkeypatch):
    cfg = _setup(tmp_path)
    real_step = train_module.step_losses

    def nan_at_step_two(*args, **kwargs):
        out = real_step(*args, **kwargs)
        nan_at_step_two.calls += 1
        if nan_at_step_two.calls == 2:
            out["loss"] = out["loss"] * float("nan")
        return out

    nan_at_step_two.calls = 0
    monkeypatch.setattr(train_module, "step_losses", nan_at_step_two)
    with pytest.raises(TrainingError, match=r"epoch 1, step 2"):
        _run(cfg, tmp_path, "nan")
    assert not (tmp_path / "nan" / "checkpoint.pt").exists()


def test_too_few_training_images(tmp_path):
    cfg = _setup(tmp_path)
    cfg.train.batch_size = 64
    with pytest.raises(TrainingError, match="fewer than train.batch_size"):
        _run(cfg, tmp_path, "few")


@pytest.mark.parametrize("mode, changes", [("update", True), ("frozen", False)])
def test_encoder_bn_statistics_update_or_stay(mode, changes):
    tcfg = TrainConfig(encoder_bn=mode)
    model = build_model(TINY)
    before = {k: v.clone() for k, v in model.encoder.state_dict().items() if "running" in k}
    train_module.set_train_mode(model, tcfg)
    out = training_step(model, build_appearance_augmentation(AugmentConfig()), torch.rand(4, 3, 32, 32), tcfg, None)
    out["loss"].backward()
    after = model.encoder.state_dict()
    moved = any(not torch.equal(before[k], after[k]) for k in before)
    assert moved is changes
    assert model.projector[1].training  # the projector's batch norm always trains


def test_checkpoint_of_another_format_is_not_resumed(tmp_path, capsys):
    cfg = _setup(tmp_path, epochs=1)
    (tmp_path / "old").mkdir()
    torch.save({"digest": "whatever", "epoch": 1}, tmp_path / "old" / "last.pt")
    _run(cfg, tmp_path, "old")
    assert "written by another version" in capsys.readouterr().out
    assert torch.load(tmp_path / "old" / "last.pt", weights_only=False)["format"] == train_module.CHECKPOINT_FORMAT


def test_resume_with_another_number_of_processes_keeps_the_batch_order(capsys):
    generator = np.random.default_rng(5)
    generator.permutation(10)
    states = [train_module._rng_state(generator), train_module._rng_state(np.random.default_rng(99))]
    expected_order = np.random.default_rng(5)
    expected_order.permutation(10)
    fresh = np.random.default_rng(0)
    train_module._restore_rng(states, fresh, rank=0, world=1, reseed=40)
    assert np.array_equal(fresh.permutation(10), expected_order.permutation(10))
    assert torch.equal(torch.get_rng_state(), torch.manual_seed(40).get_state())
    assert "from a run of 2" in capsys.readouterr().out
    train_module._restore_rng(states, fresh, rank=1, world=2, reseed=40)  # same world size: the rank's own
    assert fresh.bit_generator.state == states[1]["numpy"]
