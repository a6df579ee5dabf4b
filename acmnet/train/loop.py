"""Self-supervised training of ACM-Net on the `train` images of a manifest (paper section 3.4).

`train` finds the run's folder by its training digest (`acmnet.train.checkpoint`), resumes it
or publishes it when complete, and otherwise runs the epoch loop: each step takes N originals
from the uint8 image cache, makes their views on the training device (`acmnet.train.views`;
on CUDA the next two batches' views are made while a step runs), runs the encoder once over
all of them and applies both losses (`acmnet.train.step`). The host reads the loss back once
per step, after the next batches are queued. SIGTERM or SIGINT (a preempted cluster job) stops
the run after the current step with a checkpoint from which a rerun resumes exactly.
"""

from __future__ import annotations

import contextlib
import math
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from acmnet.artifacts import ImageCache, Manifest, load_cache, load_manifest, provenance, save_checkpoint
from acmnet.config import Config, TrainConfig
from acmnet.device import amp_dtype_for
from acmnet.methods.acmnet import AcmNet, AcmNetDescriber, build_model
from acmnet.train.augment import build_appearance_augmentation
from acmnet.train.batchnorm import to_global_batchnorm
from acmnet.train.checkpoint import Checkpointer, Progress, rng_state, training_digest
from acmnet.train.distributed import Group, barrier, check_replicas_agree, join, leave, mean_loss_and_stop
from acmnet.train.logger import TrainLogger, write_figure, write_log
from acmnet.train.monitor import collapse_warning
from acmnet.train.sampler import RoutePositions, check_places, epoch_order, route_positions
from acmnet.train.step import LOSS_TERMS, MONITOR_TERMS, TrainingError, set_train_mode, step_losses
from acmnet.train.validate import ValidationSlice, validation_recall, validation_slice
from acmnet.train.views import ViewQueue


class Preempted(TrainingError):
    """A stop signal ended the run after a step; its state is saved and a rerun resumes it."""


@dataclass
class Setup:
    """What the epoch loop works with."""

    model: AcmNet  # the model whose weights are saved
    net: torch.nn.Module  # what runs the forward pass (the model, or DistributedDataParallel around it)
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    augment: torch.nn.Module
    amp_dtype: torch.dtype | None
    channels_last: bool


def build_setup(cfg: Config, method: str, tcfg: TrainConfig, group: Group, total_steps: int) -> Setup:
    """Model, optimiser, schedule and augmentation on the training device (random draws in a fixed order)."""
    device = group.device
    seed = cfg.seed_for(method)
    torch.manual_seed(seed)
    if device.type == "cuda":  # fixed input sizes: let cuDNN time its algorithms once
        torch.backends.cudnn.benchmark = not torch.are_deterministic_algorithms_enabled()
    model = build_model(cfg.model_for(method)).to(device)
    channels_last = tcfg.channels_last == "on"
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    if group.world > 1 and tcfg.sync_batchnorm == "all":
        model = to_global_batchnorm(model, device)
    elif group.world > 1 and tcfg.sync_batchnorm == "projector":
        model.projector = to_global_batchnorm(model.projector, device)
    net: torch.nn.Module = model
    if group.world > 1:
        unused = tcfg.contrastive_weight == 0 or tcfg.rotation_weight == 0
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None, find_unused_parameters=unused
        )
        torch.manual_seed(seed + group.rank)  # different augmentations on every rank
    if tcfg.compile:
        model.encoder.compile()  # in place: the state dict keeps its keys
    augment = build_appearance_augmentation(cfg.augment).to(device)
    # fused Adam: one kernel per step on CUDA; on CPUs 7.6 instead of 28.6 ms per step at the demo settings
    optimizer = torch.optim.Adam(model.parameters(), lr=tcfg.lr, weight_decay=tcfg.weight_decay, fused=True)
    if tcfg.schedule == "cosine":
        factor = lambda s: 0.5 * (1 + math.cos(math.pi * s / total_steps))
    else:
        factor = lambda s: 1.0
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    return Setup(model, net, optimizer, scheduler, augment, amp_dtype_for(tcfg, device), channels_last)


@contextlib.contextmanager
def stop_signals() -> Iterator[Callable[[], bool]]:
    """While training, SIGTERM and SIGINT ask for a stop after the current step (a second one
    stops at once); yields whether a stop was asked for. Only the main thread can install handlers."""
    asked = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield asked.is_set
        return

    def handler(signum: int, frame: object) -> None:
        if asked.is_set():
            raise KeyboardInterrupt(f"signal {signum} received twice")
        asked.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield asked.is_set
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def train_rows(manifest: Manifest, cache: ImageCache) -> np.ndarray:
    """The cache rows of the manifest's distinct `train` images, sorted."""
    return np.unique(cache.rows_for(manifest.frame.iloc[manifest.rows("train")], str(manifest.path)))


def run_identity(cfg: Config, method: str, cache: ImageCache, train_index: np.ndarray) -> tuple[dict, str]:
    """(the settings training reads, with the digest of its images' pixels; the training digest):
    what names a run's folder (`acmnet.train.checkpoint`), here and in `acmnet prune`."""
    settings = {**cfg.settings("train", method=method), "train_images": cache.rows_digest(train_index)}
    return settings, training_digest(settings, settings["train_images"])


def train(
    cfg: Config,
    method: str,
    manifest_path: Path,
    cache_path: Path,
    out_dir: Path,
    runs_dir: Path | None = None,
    progress: bool = True,
) -> Path:
    """Train `method` (a trained kind of cfg.methods) on the manifest's `train` images.

    The run lives in `runs_dir/<training digest>/` (default `out_dir/runs`); its checkpoint and
    logs are published into `out_dir`. Returns the published checkpoint path.
    """
    tcfg = cfg.train_for(method)
    manifest = load_manifest(manifest_path)
    cache = load_cache(cache_path, manifest)
    train_index = train_rows(manifest, cache)
    if not len(train_index):
        raise TrainingError(
            f"{manifest_path} has no `train` images (its dataset has no training set, e.g. a `utm` tree without "
            "images/train/database): name one with the dataset's `train` option, or train on another dataset "
            f"with methods.{method}.train_on"
        )
    if len(train_index) < tcfg.batch_size:
        raise TrainingError(
            f"{manifest_path} has {len(train_index)} distinct `train` images, fewer than train.batch_size "
            f"({tcfg.batch_size}): lower the batch size or add training images"
        )
    group = join(cfg.device)
    try:
        out = _train_in_group(cfg, tcfg, method, manifest, cache, train_index, Path(out_dir), runs_dir, group, progress)
    except BaseException:
        leave(group, wait=False)  # the other ranks may never reach a barrier
        raise
    leave(group)
    return out


def _train_in_group(
    cfg: Config,
    tcfg: TrainConfig,
    method: str,
    manifest: Manifest,
    cache: ImageCache,
    train_index: np.ndarray,
    out_dir: Path,
    runs_dir: Path | None,
    group: Group,
    progress: bool,
) -> Path:
    """Find the run by its training digest; train it unless complete; publish it into `out_dir`."""
    if tcfg.batch_size % group.world:
        raise TrainingError(
            f"train.batch_size ({tcfg.batch_size}) must be divisible by the number of processes ({group.world})"
        )
    settings, digest = run_identity(cfg, method, cache, train_index)
    validation = validation_slice(manifest, cache, tcfg)  # checked on every rank, so every rank stops on a bad one
    runs = Path(runs_dir) if runs_dir is not None else out_dir / "runs"
    ckpt = Checkpointer(runs, digest, group)
    with ckpt.lock():
        if ckpt.complete:
            print(f"{method}: run {ckpt.dir} is complete; publishing it")
        else:
            prov = provenance("train", settings, manifest=manifest, cache=cache)
            positions = _positions(tcfg, manifest, cache, train_index)
            _run(cfg, tcfg, method, cache, train_index, ckpt, group, progress, prov, positions, validation)
        barrier(group)
        return ckpt.publish(out_dir) if group.main else out_dir / "checkpoint.pt"


def _positions(
    tcfg: TrainConfig, manifest: Manifest, cache: ImageCache, train_index: np.ndarray
) -> RoutePositions | None:
    """The training images' places when `train.sampler` is `places` (checked to fill a batch), else None."""
    if tcfg.sampler != "places":
        return None
    positions = route_positions(manifest, cache, train_index)
    check_places(positions, tcfg.batch_size, tcfg.place_window, str(manifest.path))
    return positions


def _run(
    cfg: Config,
    tcfg: TrainConfig,
    method: str,
    cache: ImageCache,
    train_index: np.ndarray,
    ckpt: Checkpointer,
    group: Group,
    progress: bool,
    prov: object,
    positions: RoutePositions | None = None,
    validation: ValidationSlice | None = None,
) -> None:
    """Resume or start the run in `ckpt.dir` and train it to the end; write its checkpoint.pt."""
    steps_per_epoch = len(train_index) // tcfg.batch_size  # drop_last: every batch has N originals
    total_steps = steps_per_epoch * tcfg.epochs
    setup = build_setup(cfg, method, tcfg, group, total_steps)
    generator = np.random.default_rng(cfg.seed_for(method))  # the same batch order on every rank
    state, logs = ckpt.resume(setup.model, setup.optimizer, setup.scheduler, generator, cfg.seed_for(method))
    if state.step:
        print(f"resuming {method} from {ckpt.last} at epoch {state.epoch + 1}, batch {state.batch}/{steps_per_epoch}")
    set_train_mode(setup.model, tcfg)
    with contextlib.ExitStack() as stack:
        queue = stack.enter_context(
            ViewQueue(
                cache.array,
                setup.augment,
                tcfg,
                group.device,
                setup.channels_last,
                rng_state=lambda: rng_state(generator),
            )
        )
        logger = stack.enter_context(
            TrainLogger(ckpt.dir, logs, group.main, total_steps, state.step, f"train {method}", progress)
        )
        stop_asked = stack.enter_context(stop_signals())
        for epoch in range(state.epoch, tcfg.epochs):
            if state.batch == 0:  # a new epoch (else: resumed inside this one)
                order = epoch_order(train_index, positions, tcfg.sampler, tcfg.batch_size, tcfg.place_window, generator)
                state = Progress(epoch, 0, state.step, order, {}, 0)
            stopped, row = _epoch(setup, tcfg, queue, logger, ckpt, state, steps_per_epoch, group, stop_asked, method)
            logger.epoch_row(_watched(row, cfg, tcfg, method, setup, cache, validation, group))
            state = Progress(epoch + 1, 0, state.step)
            if (epoch + 1) % tcfg.checkpoint_every == 0 or epoch + 1 == tcfg.epochs or stopped:
                ckpt.save(state, rng_state(generator), setup.model, setup.optimizer, setup.scheduler, logs)
            if stopped:
                raise Preempted(
                    f"stopped by a signal after epoch {epoch + 1} of {method}; rerun to resume from {ckpt.last}"
                )
    check_replicas_agree(setup.model, group)
    if group.main:
        info = {
            "method": method,
            "epochs": tcfg.epochs,
            "steps": state.step,
            "world_size": group.world,
            "training_digest": ckpt.digest,
        }
        with ckpt.writing("the finished model"):
            write_log(logs["log"], ckpt.dir / "train_log.csv")
            write_figure(logs["log"], ckpt.dir / "training.png", f"{method} ({ckpt.digest})", tcfg.collapse_threshold)
            model_config, train_config = asdict(cfg.model_for(method)), asdict(tcfg)
            save_checkpoint(ckpt.final, setup.model.state_dict(), model_config, train_config, info, prov)


def _watched(
    row: dict,
    cfg: Config,
    tcfg: TrainConfig,
    method: str,
    setup: Setup,
    cache: ImageCache,
    validation: ValidationSlice | None,
    group: Group,
) -> dict:
    """The epoch's row with its collapse flag (warned about on stderr) and, every `validate_every` epochs,
    the validation slice's R@1 (rank 0 only; eval mode, then back to training mode)."""
    epoch = row["epoch"]
    warning = collapse_warning(row["collapse_std"], tcfg.collapse_threshold, epoch, f"train {method}")
    row["collapsed"] = int(warning is not None)
    if warning and group.main:
        print(warning, file=sys.stderr, flush=True)
    if validation is not None and group.main and epoch % tcfg.validate_every == 0:
        describer = AcmNetDescriber(setup.model, cfg.method(method).options).eval()
        row["val_r1"] = validation_recall(
            describer, cache.array, validation, group.device, cfg.evaluate.batch_size, setup.channels_last
        )
        set_train_mode(setup.model, tcfg)
    return row


def _epoch(
    setup: Setup,
    tcfg: TrainConfig,
    queue: ViewQueue,
    logger: TrainLogger,
    ckpt: Checkpointer,
    state: Progress,
    steps_per_epoch: int,
    group: Group,
    stop_asked: Callable[[], bool],
    method: str,
) -> tuple[bool, dict]:
    """Train the rest of epoch `state.epoch` from batch `state.batch`, updating `state` in place;
    (True when a stop signal came at its last batch (a stop before it saves and raises Preempted),
    the epoch's row of train_log.csv: mean loss terms and measures over its steps)."""
    per_rank = tcfg.batch_size // group.world  # every rank takes its slice of each global batch
    epoch, first = state.epoch, state.batch
    sums = {k: torch.tensor(v) for k, v in state.sums.items()}

    def rank_rows(b: int) -> np.ndarray:
        """This rank's slice of batch b of the epoch, in cache order."""
        batch_rows = state.order[b * tcfg.batch_size : (b + 1) * tcfg.batch_size]
        return np.sort(batch_rows[group.rank * per_rank : (group.rank + 1) * per_rank])

    tic = tic_log = time.perf_counter()
    seen_log, stop = 0, False
    for b in range(first, min(first + queue.depth, steps_per_epoch)):
        queue.start(rank_rows(b))
    for b in range(first, steps_per_epoch):
        views = queue.take()
        if b + queue.depth < steps_per_epoch:
            queue.start(rank_rows(b + queue.depth))  # made while this step runs (on CUDA)
        out = step_losses(setup.net, views, tcfg, setup.amp_dtype)
        setup.optimizer.zero_grad(set_to_none=True)
        out["loss"].backward()
        setup.optimizer.step()
        setup.scheduler.step()
        state.step += 1
        loss, stop = mean_loss_and_stop(out["loss"], stop_asked(), group)  # the step's one host read
        if not math.isfinite(loss):
            raise TrainingError(
                f"loss became {loss} at epoch {epoch + 1}, step {state.step} of {method}; the last good checkpoint "
                f"is kept at {ckpt.last if ckpt.last.exists() else '(none yet)'}. Lower train.lr (or raise "
                "train.tau), or check the images of this batch"
            )
        state.seen += views.n * group.world
        seen_log += views.n * group.world
        for key in LOSS_TERMS + MONITOR_TERMS:
            sums[key] = sums.get(key, 0.0) + out[key].detach().float()
        logger.step(epoch + 1, loss)
        if tcfg.log_every and state.step % tcfg.log_every == 0:
            now = time.perf_counter()
            logger.step_row(
                {
                    "epoch": epoch + 1,
                    "step": state.step,
                    **{k: float(out[k].detach()) for k in LOSS_TERMS + MONITOR_TERMS},
                    "lr": setup.scheduler.get_last_lr()[0],
                    "images_per_s": seen_log / (now - tic_log),
                }
            )
            tic_log, seen_log = now, 0
        due = bool(tcfg.checkpoint_every_steps) and state.step % tcfg.checkpoint_every_steps == 0
        if (due or stop) and b + 1 < steps_per_epoch:
            state.batch, state.sums = b + 1, {k: float(v) for k, v in sums.items()}
            ckpt.save(state, queue.rng_before_next(), setup.model, setup.optimizer, setup.scheduler, logger.logs)
            if stop:
                raise Preempted(
                    f"stopped by a signal at step {state.step} of {method}; rerun to resume from {ckpt.last}"
                )
    elapsed = time.perf_counter() - tic
    row = {
        "epoch": epoch + 1,
        "step": state.step,
        **{k: float("nan") for k in MONITOR_TERMS},  # a run resumed from a state saved before they were logged
        **{k: float(v) / steps_per_epoch for k, v in sums.items()},
        "lr": setup.scheduler.get_last_lr()[0],
        "images_per_s": ((steps_per_epoch - first) * tcfg.batch_size) / elapsed,
    }
    return stop, row
