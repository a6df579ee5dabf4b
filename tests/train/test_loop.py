"""The training loop end to end on tiny data: outputs, exact resume, stops, run folders."""

import os
import signal
import threading

import numpy as np
import pandas as pd
import pytest
import torch

import acmnet.train.loop as loop
from acmnet.artifacts import load_checkpoint
from acmnet.config_loader import config_from_dict
from acmnet.train import Preempted, TrainingError, train
from acmnet.train.logger import LOG_COLUMNS
from tests.conftest import cuda, write_cache, write_manifest


def _setup(tmp_path, epochs=2):
    from PIL import Image

    rng = np.random.default_rng(0)
    names = []
    for i in range(12):
        Image.fromarray(rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)).save(tmp_path / f"{i}.png")
        names.append(f"{i}.png")
    frame = pd.DataFrame(
        {
            "image": names * 3,
            "role": ["train"] * 12 + ["reference"] * 12 + ["query"] * 12,
            "place": list(range(12)) * 3,
            "condition": ["a"] * 24 + ["b"] * 12,
        }
    )
    write_cache(write_manifest(frame, tmp_path / "manifest.csv"), tmp_path, tmp_path / "cache.npy", (24, 24))
    return config_from_dict(
        {
            "image_size": [24, 24],
            "device": "cpu",
            "model": {
                "backbone": "test_efficientnet",
                "pretrained": False,
                "projector_hidden": 16,
                "projector_dim": 8,
                "rotation_hidden": 8,
            },
            "train": {"epochs": epochs, "batch_size": 4, "lr": 0.001, "log_every": 0, "channels_last": "off"},
            "datasets": {"d": {"type": "folder_pair", "root": str(tmp_path), "reference": "x", "query": ["y"]}},
        }
    )


def _run(cfg, tmp_path, out, runs=None):
    torch.use_deterministic_algorithms(True)
    try:
        return train(
            cfg,
            "acmnet",
            tmp_path / "manifest.csv",
            tmp_path / "cache.npy",
            tmp_path / out,
            runs_dir=runs,
            progress=False,
        )
    finally:
        torch.use_deterministic_algorithms(False)


def _run_dir(out):
    (run,) = [p for p in (out / "runs").iterdir() if p.is_dir()]
    return run


def test_training_writes_checkpoint_and_log(tmp_path):
    cfg = _setup(tmp_path)
    checkpoint = load_checkpoint(_run(cfg, tmp_path, "run"))
    assert checkpoint.info["epochs"] == 2 and checkpoint.info["steps"] == 6
    assert checkpoint.provenance.find("manifest")[1].path == str(tmp_path / "manifest.csv")
    assert checkpoint.provenance.settings["method.options.train"]["epochs"] == 2
    log = pd.read_csv(tmp_path / "run" / "train_log.csv")
    assert list(log.columns) == LOG_COLUMNS
    assert log["epoch"].tolist() == [1, 2] and log["step"].tolist() == [3, 6]
    assert np.isfinite(log[["loss", "loss_contrastive", "loss_rotation", "images_per_s"]].to_numpy()).all()
    assert ((log["rotation_accuracy"] >= 0) & (log["rotation_accuracy"] <= 1)).all()


@pytest.mark.parametrize(
    "every_steps, dies_at, saved, device",
    [
        (0, 5, (1, 0), "cpu"),
        (1, 5, (1, 1), "cpu"),
        (1, 3, (0, 2), "cpu"),
        pytest.param(1, 3, (0, 2), "cuda", marks=[pytest.mark.gpu, cuda]),
    ],
)
def test_interrupted_run_resumes_to_the_same_weights(tmp_path, monkeypatch, every_steps, dies_at, saved, device):
    """Killed at step `dies_at` (3 steps per epoch), the rerun ends with the same weights and logs.
    On CUDA: bf16 autocast, channels_last, the side-stream view queue."""
    cfg = _setup(tmp_path)
    if device == "cuda":
        cfg.device, cfg.train.amp, cfg.train.channels_last = "cuda", "bf16", "on"
    cfg.train.checkpoint_every_steps = every_steps
    cfg.train.log_every = 1
    straight = load_checkpoint(_run(cfg, tmp_path, "straight")).model_state

    calls = {"n": 0}
    real_step = loop.step_losses

    def dies(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == dies_at:
            raise KeyboardInterrupt
        return real_step(*args, **kwargs)

    monkeypatch.setattr(loop, "step_losses", dies)
    with pytest.raises(KeyboardInterrupt):
        _run(cfg, tmp_path, "resumed")
    assert not (tmp_path / "resumed" / "checkpoint.pt").exists()
    state = torch.load(_run_dir(tmp_path / "resumed") / "last.pt", weights_only=False)
    assert (state["progress"]["epoch"], state["progress"]["batch"]) == saved
    monkeypatch.setattr(loop, "step_losses", real_step)
    resumed = load_checkpoint(_run(cfg, tmp_path, "resumed")).model_state
    for key, value in straight.items():
        torch.testing.assert_close(resumed[key], value, msg=key)
    logs = [pd.read_csv(tmp_path / run / "train_log.csv") for run in ("straight", "resumed")]
    cols = ["epoch", "step", "loss", "loss_contrastive", "loss_rotation", "rotation_accuracy", "positive_alignment"]
    pd.testing.assert_frame_equal(logs[0][cols], logs[1][cols])
    steps = pd.read_csv(tmp_path / "resumed" / "train_steps.csv")
    assert steps["step"].tolist() == list(range(1, 7))


def test_sigterm_saves_the_step_and_the_rerun_resumes_exactly(tmp_path, monkeypatch):
    """A preempted job (SIGTERM) stops after the current step with a checkpoint of it; the rerun
    ends with the weights of an uninterrupted run, having lost no step."""
    cfg = _setup(tmp_path)
    straight = load_checkpoint(_run(cfg, tmp_path, "straight")).model_state
    real_step, calls = loop.step_losses, {"n": 0}

    def signalled(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:  # arrives during step 2 of epoch 1
            os.kill(os.getpid(), signal.SIGTERM)
        return real_step(*args, **kwargs)

    monkeypatch.setattr(loop, "step_losses", signalled)
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Preempted, match="step 2"):
        _run(cfg, tmp_path, "preempted")
    state = torch.load(_run_dir(tmp_path / "preempted") / "last.pt", weights_only=False)
    assert (state["progress"]["epoch"], state["progress"]["batch"], state["progress"]["step"]) == (0, 2, 2)
    assert signal.getsignal(signal.SIGTERM) is before  # the training handler is gone again
    monkeypatch.setattr(loop, "step_losses", real_step)
    resumed = load_checkpoint(_run(cfg, tmp_path, "preempted")).model_state
    for key, value in straight.items():
        torch.testing.assert_close(resumed[key], value, msg=key)
    assert calls["n"] == 2  # the rerun did not repeat any step of the first


def test_non_finite_loss_stops_with_the_step_named(tmp_path, monkeypatch):
    cfg = _setup(tmp_path)
    real_step = loop.step_losses

    def nan_at_step_two(*args, **kwargs):
        out = real_step(*args, **kwargs)
        nan_at_step_two.calls += 1
        if nan_at_step_two.calls == 2:
            out["loss"] = out["loss"] * float("nan")
        return out

    nan_at_step_two.calls = 0
    monkeypatch.setattr(loop, "step_losses", nan_at_step_two)
    with pytest.raises(TrainingError, match=r"epoch 1, step 2"):
        _run(cfg, tmp_path, "nan")
    assert not (tmp_path / "nan" / "checkpoint.pt").exists()


def test_too_few_training_images(tmp_path):
    cfg = _setup(tmp_path)
    cfg.train.batch_size = 64
    with pytest.raises(TrainingError, match="fewer than train.batch_size"):
        _run(cfg, tmp_path, "few")


def test_a_complete_run_is_published_again_without_training(tmp_path, monkeypatch):
    """The job after a complete run (Snakemake deleted its outputs, a setting elsewhere changed)
    writes its declared outputs from the run, without a training step."""
    cfg = _setup(tmp_path)
    first = _run(cfg, tmp_path, "run")
    digest = load_checkpoint(first).digest
    for name in ("checkpoint.pt", "train_log.csv"):
        (tmp_path / "run" / name).unlink()
    monkeypatch.setattr(loop, "step_losses", lambda *a, **k: pytest.fail("trained again"))
    again = _run(cfg, tmp_path, "run")
    assert load_checkpoint(again).digest == digest and (tmp_path / "run" / "train_log.csv").is_file()


def test_a_forced_upstream_rerun_reuses_the_finished_run(tmp_path, monkeypatch):
    """`snakemake --forcerun prepare`: the manifest and the cache are written again (new files of
    the same images), the published files deleted; the training digest is unchanged, so the job
    publishes the finished run again instead of training."""
    from acmnet.artifacts import load_manifest

    cfg = _setup(tmp_path)
    first = load_checkpoint(_run(cfg, tmp_path, "run"))
    manifest = write_manifest(load_manifest(tmp_path / "manifest.csv").frame, tmp_path / "manifest.csv")
    write_cache(manifest, tmp_path, tmp_path / "cache.npy", (24, 24))
    for name in ("checkpoint.pt", "train_log.csv"):
        (tmp_path / "run" / name).unlink()
    monkeypatch.setattr(loop, "step_losses", lambda *a, **k: pytest.fail("trained again"))
    again = load_checkpoint(_run(cfg, tmp_path, "run"))
    assert again.info["training_digest"] == first.info["training_digest"] and again.digest == first.digest
    assert len(list((tmp_path / "run" / "runs").iterdir())) == 1


def test_other_settings_or_images_train_in_their_own_run_and_keep_the_finished_one(tmp_path):
    cfg = _setup(tmp_path, epochs=1)
    first = load_checkpoint(_run(cfg, tmp_path, "run"))
    cfg.train.lr = 0.01  # another setting: another run, the first stays
    second = load_checkpoint(_run(cfg, tmp_path, "run"))
    runs = sorted(p.name for p in (tmp_path / "run" / "runs").iterdir())
    assert len(runs) == 2 and second.digest != first.digest
    assert all((tmp_path / "run" / "runs" / r / "checkpoint.pt").is_file() for r in runs)
    # the same names with other pixels (a rebuilt cache): a third run, never a resume of the others
    from PIL import Image

    Image.fromarray(np.zeros((24, 24, 3), np.uint8)).save(tmp_path / "3.png")
    from acmnet.artifacts import load_manifest

    write_cache(load_manifest(tmp_path / "manifest.csv"), tmp_path, tmp_path / "cache.npy", (24, 24))
    _run(cfg, tmp_path, "run")
    assert len(list((tmp_path / "run" / "runs").iterdir())) == 3


def test_logging_cadence_does_not_start_another_run(tmp_path):
    cfg = _setup(tmp_path, epochs=1)
    first = load_checkpoint(_run(cfg, tmp_path, "run"))
    cfg.train.log_every, cfg.train.checkpoint_every_steps = 1, 2
    assert load_checkpoint(_run(cfg, tmp_path, "run")).digest == first.digest
    assert len(list((tmp_path / "run" / "runs").iterdir())) == 1


def test_two_jobs_of_the_same_run_train_it_once(tmp_path, monkeypatch):
    cfg = _setup(tmp_path, epochs=1)
    real_step, calls = loop.step_losses, {"n": 0}

    def counted(*args, **kwargs):
        calls["n"] += 1
        return real_step(*args, **kwargs)

    monkeypatch.setattr(loop, "step_losses", counted)
    outs = []
    threads = [
        threading.Thread(
            target=lambda o=o: outs.append(
                train(
                    cfg,
                    "acmnet",
                    tmp_path / "manifest.csv",
                    tmp_path / "cache.npy",
                    tmp_path / o,
                    runs_dir=tmp_path / "runs",
                    progress=False,
                )
            )
        )
        for o in ("a", "b")
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls["n"] == 3 and len(outs) == 2  # 3 steps: one epoch, trained once, published twice
    assert load_checkpoint(outs[0]).digest == load_checkpoint(outs[1]).digest


@pytest.mark.parametrize("fails_at", [3, 7])  # the 3rd last.pt (end of epoch 1), the finished checkpoint.pt
def test_a_full_disk_says_so_keeps_the_last_good_checkpoint_and_the_run_completes_once_freed(
    tmp_path, monkeypatch, fails_at
):
    """Issue 26: ENOSPC while saving is one message naming the run folder; the last good last.pt
    stays (atomic writes) and no temporary file is left; with space freed, the rerun resumes from it
    and ends with the weights of an uninterrupted run."""
    import errno

    cfg = _setup(tmp_path)
    cfg.train.checkpoint_every_steps = 1  # saves after steps 1, 2, at the end of epoch 1, after 4, 5; then the end
    straight = load_checkpoint(_run(cfg, tmp_path, "straight")).model_state
    real_save, calls = torch.save, {"n": 0}

    def full_disk(obj, f, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == fails_at:
            f.write(b"PK\x03\x04 half a file")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(TrainingError) as refused:
        _run(cfg, tmp_path, "full")
    run = _run_dir(tmp_path / "full")
    assert f"no space left on {run} while writing" in str(refused.value)
    assert f"the last good checkpoint {run / 'last.pt'} is kept" in str(refused.value)
    assert sorted(p.name for p in run.iterdir() if p.name.startswith(".") and p.name != ".lock") == []
    kept = torch.load(run / "last.pt", weights_only=False)["progress"]
    assert (kept["epoch"], kept["batch"], kept["step"]) == ((0, 2, 2) if fails_at == 3 else (2, 0, 6))
    assert not (run / "checkpoint.pt").exists()
    monkeypatch.setattr(torch, "save", real_save)  # space freed
    resumed = load_checkpoint(_run(cfg, tmp_path, "full")).model_state
    for key, value in straight.items():
        torch.testing.assert_close(resumed[key], value, msg=key)
