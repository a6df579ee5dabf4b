"""Self-supervised training of ACM-Net on the `train` images of a manifest (paper section 3.4).

One step takes N originals from the uint8 image cache and builds, on the training device:
the appearance-augmented view T_A(x) (N) and the rotations by 90/180/270 degrees (3N). The
encoder runs once on these 5N images; the 0-degree view is the original itself and feeds both
branches. L = w_C * L_C(P_A(E(x)), P_A(E(T_A x))) + lambda * L_P(P_G(E(R_k x)), k).
On CUDA the views of the next two batches are made while a step runs (`ViewQueue`: a worker
thread, a side stream, pinned copies), and the host reads the loss back once per step, after
queuing them: bench/train_speed.py measures what that buys.

Several processes: started by `torchrun --nproc-per-node G -m acmnet.cli train ...` (WORLD_SIZE > 1),
each rank takes its slice of every global batch (`batch_size` is the global N), the encoder is
wrapped in DistributedDataParallel, the contrastive loss gathers negatives from every rank (see
losses.py), batch norm uses the statistics of every rank's slice (`sync_batchnorm`, see
batchnorm.py), each rank draws its own augmentations, and only rank 0 writes logs and
checkpoints, which keep every rank's random state.

Checkpoints: `last.pt` after every `checkpoint_every` epochs and, inside an epoch, every
`checkpoint_every_steps` steps (model, optimiser, scheduler, RNG states, epoch, batch, the epoch's
batch order, partial sums, logs), from which a rerun resumes exactly; `checkpoint.pt` (the model
alone, for describing) only when training is complete. Logs: `train_log.csv` per epoch,
`train_steps.csv` every `log_every` steps, and TensorBoard under `tensorboard/` when installed.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import math
import os
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from tqdm import tqdm

from acmnet.augment import build_appearance_augmentation
from acmnet.batchnorm import to_global_batchnorm
from acmnet.cache import ImageCache
from acmnet.config import Config, TrainConfig
from acmnet.datasets import manifest as mf
from acmnet.io import atomic_path
from acmnet.losses import contrastive_loss, positive_alignment, rotation_loss
from acmnet.model import AcmNet, build_model

CHECKPOINT_FORMAT = 3  # version of last.pt's layout; another version is not resumed from
LOSS_TERMS = ("loss", "loss_contrastive", "loss_rotation", "rotation_accuracy", "positive_alignment")
LOG_COLUMNS = [
    "epoch", "step", "loss", "loss_contrastive", "loss_rotation", "rotation_accuracy",
    "positive_alignment", "lr", "images_per_s",
]


class TrainingError(RuntimeError):
    """Training cannot go on (e.g. a non-finite loss); the message names the step."""


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise TrainingError(f"device `{name}` was asked for but CUDA is not available: set device: cpu or auto")
    return device


def amp_dtype_for(tcfg: TrainConfig, device: torch.device) -> torch.dtype | None:
    """bf16 autocast when asked for, or by default on CUDA; None means full float32."""
    return torch.bfloat16 if (tcfg.amp == "bf16" or (tcfg.amp == "auto" and device.type == "cuda")) else None


def to_float_images(batch: np.ndarray | torch.Tensor, device: torch.device, channels_last: bool = False) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float32 (N, 3, H, W) in [0, 1] on `device`.

    On CUDA the uint8 batch goes through pinned memory, so the copy is queued on the current
    stream without making the host wait for the work already queued there.
    """
    tensor = torch.as_tensor(batch)
    if device.type == "cuda":
        tensor = tensor.pin_memory()
    tensor = tensor.to(device, non_blocking=True).permute(0, 3, 1, 2).float().div_(255.0)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    return tensor.contiguous(memory_format=memory_format)


def set_train_mode(model: AcmNet, tcfg: TrainConfig) -> None:
    """Training mode, with the encoder's batch-norm layers in eval mode when `encoder_bn: frozen`."""
    model.train()
    if tcfg.encoder_bn == "frozen":
        for module in model.encoder.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.eval()


class Views(NamedTuple):
    """The encoder inputs of one step: `batch` (V * n, 3, S, S) = [x; T_A(x) if contrastive;
    rotations if rotation], `rotation_labels` (n or 4n,) or None, `n` originals."""

    batch: torch.Tensor
    rotation_labels: torch.Tensor | None
    n: int


def make_views(images: torch.Tensor, augment: torch.nn.Module, tcfg: TrainConfig) -> Views:
    """The views of one batch of originals `images` (N, 3, S, S) in [0, 1], on their device."""
    n = images.shape[0]
    views = [images]
    if tcfg.contrastive_weight > 0:
        with torch.no_grad():
            views.append(augment(images))
    rotation_labels = None
    if tcfg.rotation_weight > 0:
        if tcfg.rotation_views == "all":
            views.extend(torch.rot90(images, k, dims=(2, 3)) for k in (1, 2, 3))
            rotation_labels = torch.arange(4, device=images.device).repeat_interleave(n)
        else:  # one random rotation per image, the 0-degree case reusing the original's pass
            ks = torch.randint(0, 4, (n,), device=images.device)
            rotated = images
            for k in (1, 2, 3):  # torch.where rather than masked indexing, which waits for the device
                rotated = torch.where((ks == k)[:, None, None, None], torch.rot90(images, k, dims=(2, 3)), rotated)
            views.append(rotated)
            rotation_labels = ks
    memory_format = torch.channels_last if images.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
    return Views(torch.cat(views).contiguous(memory_format=memory_format), rotation_labels, n)


class StepOutput(dict):
    """Loss terms and diagnostics of one step (tensors); `loss` is the total to minimise."""


def step_losses(
    model: AcmNet | torch.nn.parallel.DistributedDataParallel,
    views: Views,
    tcfg: TrainConfig,
    amp_dtype: torch.dtype | None,
) -> StepOutput:
    """One encoder pass over every view, then both heads and losses (autocast when `amp_dtype`)."""
    n, rotation_labels = views.n, views.rotation_labels
    core = getattr(model, "module", model)  # under DistributedDataParallel, the wrapped AcmNet
    use_contrastive = tcfg.contrastive_weight > 0
    use_rotation = tcfg.rotation_weight > 0
    device_type = views.batch.device.type
    autocast = (
        torch.autocast(device_type=device_type, dtype=amp_dtype) if amp_dtype is not None else contextlib.nullcontext()
    )
    out = StepOutput()
    zero = views.batch.new_zeros((), dtype=torch.float32)
    with autocast:
        feats = model(views.batch)
        out["loss_contrastive"] = zero
        out["positive_alignment"] = zero
        if use_contrastive:
            z = core.projector(feats[: 2 * n])
            out["loss_contrastive"] = contrastive_loss(tcfg.contrastive, z[:n], z[n:], tcfg.tau)
            out["positive_alignment"] = positive_alignment(z[:n], z[n:]).detach()
        out["loss_rotation"] = zero
        out["rotation_accuracy"] = zero
        if use_rotation:
            first_rot = 2 * n if use_contrastive else n
            if tcfg.rotation_views == "all":
                rot_feats = torch.cat([feats[:n], feats[first_rot:]])
            else:
                rot_feats = torch.where((rotation_labels == 0)[:, None], feats[:n], feats[first_rot:])
            logits = core.rotation_head(rot_feats)
            out["loss_rotation"] = rotation_loss(logits, rotation_labels, tcfg.rotation_reduction)
            out["rotation_accuracy"] = (logits.argmax(-1) == rotation_labels).float().mean().detach()
    out["loss"] = tcfg.contrastive_weight * out["loss_contrastive"] + tcfg.rotation_weight * out["loss_rotation"]
    return out


def training_step(
    model: AcmNet | torch.nn.parallel.DistributedDataParallel,
    augment: torch.nn.Module,
    images: torch.Tensor,
    tcfg: TrainConfig,
    amp_dtype: torch.dtype | None,
) -> StepOutput:
    """Views and losses of one batch of originals `images` (N, 3, S, S) in [0, 1], in one call."""
    return step_losses(model, make_views(images, augment, tcfg), tcfg, amp_dtype)


class ViewQueue:
    """Makes the views of the next `depth` steps while the current step runs.

    `start(rows)` queues those cache rows: gathered, copied and made into views on the training
    device; `take()` returns the oldest queued batch. On CUDA a worker thread does this on a
    high-priority side stream: kornia's many host-side launches, and the small host-to-device
    copies that make it wait for its stream, then overlap the main thread's forward, backward and
    optimiser step instead of following them. Only the worker draws random numbers while batches
    are queued, one batch after another, so the random stream is the same as in place; the state
    before each batch is kept (`rng_before_next`), for checkpoints. On CPUs it runs in place.
    """

    def __init__(self, array: np.ndarray, augment: torch.nn.Module, tcfg: TrainConfig, device: torch.device,
                 channels_last: bool, rng_state=None, depth: int = 2):
        self.array, self.augment, self.tcfg = array, augment, tcfg
        self.device, self.channels_last, self.depth = device, channels_last, depth
        self.rng_state = rng_state  # () -> dict of random states, recorded before each batch; None: not recorded
        self.stream = torch.cuda.Stream(device, priority=-1) if device.type == "cuda" else None
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="views") if self.stream is not None else None
        self._pending: deque[Future] = deque()

    def _make(self, rows: np.ndarray) -> tuple[Views, dict | None]:
        rng = self.rng_state() if self.rng_state is not None else None
        context = torch.cuda.stream(self.stream) if self.stream is not None else contextlib.nullcontext()
        with context:
            images = to_float_images(self.array[rows], self.device, self.channels_last)
            return make_views(images, self.augment, self.tcfg), rng

    def start(self, rows: np.ndarray) -> None:
        if len(self._pending) >= self.depth:
            raise RuntimeError(f"ViewQueue.start(): {self.depth} batches are queued already; take() one first")
        if self.worker is not None:
            self._pending.append(self.worker.submit(self._make, rows))
        else:
            done: Future = Future()
            done.set_result(self._make(rows))
            self._pending.append(done)

    def take(self) -> Views:
        if not self._pending:
            raise RuntimeError("ViewQueue.take() before start()")
        views, _ = self._pending.popleft().result()  # a worker's exception is raised here
        if self.stream is not None:
            main = torch.cuda.current_stream(self.device)
            main.wait_stream(self.stream)
            for tensor in (views.batch, views.rotation_labels):
                if tensor is not None:
                    tensor.record_stream(main)  # freed only once the main stream is done with it
        return views

    def rng_before_next(self) -> dict:
        """The random state from which the next batch to be taken was made."""
        if not self._pending or self.rng_state is None:
            raise RuntimeError("ViewQueue.rng_before_next(): nothing queued, or random states not recorded")
        return self._pending[0].result()[1]

    def close(self) -> None:
        if self.worker is not None:
            self.worker.shutdown(wait=True, cancel_futures=True)


def _rng_state(generator: np.random.Generator) -> dict:
    state = {"torch": torch.get_rng_state(), "numpy": generator.bit_generator.state}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict, generator: np.random.Generator) -> None:
    torch.set_rng_state(state["torch"])
    generator.bit_generator.state = state["numpy"]
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _restore_rng(states: list[dict], generator: np.random.Generator, rank: int, world: int, reseed: int) -> None:
    """Give each rank back its own random state (`states` has one per rank of the saved run).
    Resumed with another number of processes, the batch order still continues exactly (its state
    is the same on every rank) and each rank's augmentation draws restart from `reseed + rank`."""
    if len(states) == world:
        _set_rng_state(states[rank], generator)
        return
    _set_rng_state(states[0], generator)
    torch.manual_seed(reseed + rank)
    if rank == 0:
        print(f"resuming with {world} processes from a run of {len(states)}: the batch order continues exactly, "
              "the augmentations are drawn afresh")


def _write_log(rows: list[dict], path: Path) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=LOG_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)


def _distributed(device_name: str) -> tuple[int, int, torch.device]:
    """(rank, world size, device). Under `torchrun` (WORLD_SIZE > 1) this joins the process group:
    NCCL with one GPU per process (LOCAL_RANK) on CUDA, gloo on CPUs."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, resolve_device(device_name)
    device = resolve_device(device_name)
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return torch.distributed.get_rank(), world, device


def _check_replicas_agree(model: torch.nn.Module) -> None:
    """After distributed training every rank must hold the same weights; stop if they do not."""
    checksum = torch.stack([p.detach().double().sum() for p in model.parameters()]).sum().reshape(1)
    low, high = checksum.clone(), checksum.clone()
    torch.distributed.all_reduce(low, op=torch.distributed.ReduceOp.MIN)
    torch.distributed.all_reduce(high, op=torch.distributed.ReduceOp.MAX)
    if not torch.allclose(low, high, rtol=1e-9, atol=1e-9):
        raise TrainingError(f"the ranks ended with different weights (checksums {low.item()} .. {high.item()})")


def train(
    cfg: Config,
    method: str,
    manifest_path: Path,
    cache_path: Path,
    out_dir: Path,
    progress: bool = True,
) -> Path:
    """Train `method` (an `acmnet`-kind entry of cfg.methods); returns the final checkpoint path."""
    tcfg = cfg.train_for(method)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    frame = mf.read(manifest_path)
    train_rows = frame[frame["role"] == "train"]
    if len(train_rows) < tcfg.batch_size:
        raise TrainingError(
            f"{manifest_path} has {len(train_rows)} `train` images, fewer than train.batch_size "
            f"({tcfg.batch_size}): lower the batch size or add training images"
        )
    cache = ImageCache.open(cache_path)
    train_index = np.unique(cache.rows_for(train_rows, str(manifest_path)))

    rank, world, device = _distributed(cfg.device)
    main = rank == 0  # only rank 0 writes logs and checkpoints
    progress = progress and main
    if tcfg.batch_size % world:
        raise TrainingError(f"train.batch_size ({tcfg.batch_size}) must be divisible by the number of processes ({world})")
    per_rank = tcfg.batch_size // world  # every rank takes its slice of each global batch
    torch.manual_seed(cfg.seed)
    generator = np.random.default_rng(cfg.seed)  # the same batch order on every rank
    amp_dtype = amp_dtype_for(tcfg, device)
    channels_last = tcfg.channels_last == "on"
    if device.type == "cuda":  # fixed input sizes: let cuDNN time its algorithms once
        torch.backends.cudnn.benchmark = not torch.are_deterministic_algorithms_enabled()

    model = build_model(cfg.model).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    if world > 1 and tcfg.sync_batchnorm == "all":
        model = to_global_batchnorm(model, device)
    elif world > 1 and tcfg.sync_batchnorm == "projector":
        model.projector = to_global_batchnorm(model.projector, device)
    net: torch.nn.Module = model
    if world > 1:
        unused = tcfg.contrastive_weight == 0 or tcfg.rotation_weight == 0
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None, find_unused_parameters=unused)
        torch.manual_seed(cfg.seed + rank)  # different augmentations on every rank
    if tcfg.compile:
        model.encoder.compile()  # in place: the state dict keeps its keys
    augment = build_appearance_augmentation(cfg.augment).to(device)
    queue = ViewQueue(cache.array, augment, tcfg, device, channels_last, rng_state=lambda: _rng_state(generator))
    optimizer = torch.optim.Adam(model.parameters(), lr=tcfg.lr, weight_decay=tcfg.weight_decay,
                                 fused=device.type == "cuda")  # one kernel per step on CUDA
    steps_per_epoch = len(train_index) // tcfg.batch_size  # drop_last: every batch has N originals
    total_steps = steps_per_epoch * tcfg.epochs
    if tcfg.schedule == "cosine":
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * s / total_steps)))
    else:
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0)

    digest = cfg.digest("model", "augment", "image_size", "seed") + "-" + _train_digest(tcfg)
    last_path = out_dir / "last.pt"
    log_rows: list[dict] = []
    step_rows: list[dict] = []
    start_epoch, start_batch = 0, 0
    resumed: dict = {}
    if last_path.is_file():
        state = torch.load(last_path, map_location="cpu", weights_only=False)  # load_state_dict moves to the device
        if state.get("format") != CHECKPOINT_FORMAT:
            print(f"ignoring {last_path}: written by another version of acmnet; training from scratch")
        elif state.get("digest") == digest:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            _restore_rng(state["rng"], generator, rank, world, cfg.seed + state["step"])
            start_epoch, start_batch = state["epoch"], state["batch"]
            log_rows, step_rows, resumed = state["log"], state["step_log"], state
            print(f"resuming {method} from {last_path} at epoch {start_epoch + 1}, batch {start_batch}/{steps_per_epoch}")
        else:
            print(f"ignoring {last_path}: it was written with other settings; training from scratch")

    def save(epoch: int, batch: int, order: np.ndarray | None, sums: dict, seen: int, rng: dict) -> None:
        """`epoch` epochs and `batch` batches of the next one are done; `order` is that epoch's;
        `rng` this rank's random state from which its next views are made (every rank's is kept)."""
        rngs = [rng]
        if world > 1:
            rngs = [None] * world
            torch.distributed.all_gather_object(rngs, rng)
        if not main:
            return
        state = {
            "model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
            "rng": rngs, "epoch": epoch, "batch": batch, "order": order,
            "sums": {k: float(v) for k, v in sums.items()}, "seen": seen, "step": step,
            "log": log_rows, "step_log": step_rows, "digest": digest, "format": CHECKPOINT_FORMAT,
        }
        with atomic_path(last_path) as tmp:
            torch.save(state, tmp)

    log_path, step_log_path = out_dir / "train_log.csv", out_dir / "train_steps.csv"
    board = _tensorboard(out_dir / "tensorboard") if main else None
    bar = tqdm(total=total_steps, initial=start_epoch * steps_per_epoch + start_batch, desc=f"train {method}",
               unit="step", disable=not progress)
    set_train_mode(model, tcfg)
    step = start_epoch * steps_per_epoch + start_batch
    for epoch in range(start_epoch, tcfg.epochs):
        if epoch == start_epoch and start_batch > 0:  # resume inside an epoch: same batches, same sums
            order, first = resumed["order"], start_batch
            sums = {k: torch.tensor(v) for k, v in resumed["sums"].items()}
            seen = resumed["seen"]
        else:
            order, first, sums, seen = generator.permutation(train_index), 0, {}, 0
        tic, tic_log, seen_log = time.perf_counter(), time.perf_counter(), 0

        def rank_rows(b: int) -> np.ndarray:
            """This rank's slice of batch b of the epoch, in cache order."""
            batch_rows = order[b * tcfg.batch_size : (b + 1) * tcfg.batch_size]
            return np.sort(batch_rows[rank * per_rank : (rank + 1) * per_rank])

        for b in range(first, min(first + queue.depth, steps_per_epoch)):
            queue.start(rank_rows(b))
        for b in range(first, steps_per_epoch):
            views = queue.take()
            if b + queue.depth < steps_per_epoch:
                queue.start(rank_rows(b + queue.depth))  # made while this step runs (on CUDA)
            out = step_losses(net, views, tcfg, amp_dtype)
            loss = out["loss"]
            shown = loss.detach().clone()
            if world > 1:  # every rank sees the mean loss, so all stop together on a non-finite one
                torch.distributed.all_reduce(shown)
                shown /= world
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            step += 1
            save_due = bool(tcfg.checkpoint_every_steps) and step % tcfg.checkpoint_every_steps == 0 and b + 1 < steps_per_epoch
            loss_value = shown.item()  # the step's one host sync; the next batches are queued already
            if not math.isfinite(loss_value):
                raise TrainingError(
                    f"loss became {loss_value} at epoch {epoch + 1}, step {step} of {method}; "
                    f"the last good checkpoint is kept at {last_path if last_path.exists() else '(none yet)'}. "
                    "Lower train.lr, or check the images of this batch"
                )
            seen += views.n * world
            seen_log += views.n * world
            for key in LOSS_TERMS:
                sums[key] = sums.get(key, 0.0) + out[key].detach().float()
            bar.update(1)
            bar.set_postfix(epoch=epoch + 1, loss=f"{loss_value:.3f}")
            if tcfg.log_every and step % tcfg.log_every == 0:
                now = time.perf_counter()
                row = {"epoch": epoch + 1, "step": step, **{k: float(out[k].detach()) for k in LOSS_TERMS},
                       "lr": scheduler.get_last_lr()[0], "images_per_s": seen_log / (now - tic_log)}
                step_rows.append(row)
                if main:
                    _write_log(step_rows, step_log_path)
                _board_write(board, "step", row)
                tic_log, seen_log = now, 0
            if save_due:
                save(epoch, b + 1, order, sums, seen, queue.rng_before_next())
        elapsed = time.perf_counter() - tic
        done = steps_per_epoch - first
        row = {"epoch": epoch + 1, "step": step, **{k: float(v) / steps_per_epoch for k, v in sums.items()},
               "lr": scheduler.get_last_lr()[0], "images_per_s": (done * tcfg.batch_size) / elapsed}
        log_rows.append(row)
        if main:
            _write_log(log_rows, log_path)
        _board_write(board, "epoch", row)
        if (epoch + 1) % tcfg.checkpoint_every == 0 or epoch + 1 == tcfg.epochs:
            save(epoch + 1, 0, None, {}, 0, _rng_state(generator))
    queue.close()
    bar.close()
    if board is not None:
        board.close()
    final = out_dir / "checkpoint.pt"
    if world > 1:
        _check_replicas_agree(model)
    if main:
        if not log_rows:
            _write_log(log_rows, log_path)
        with atomic_path(final) as tmp:
            torch.save({"model": model.state_dict(), "model_config": asdict(cfg.model), "train_config": asdict(tcfg),
                        "method": method, "epochs": tcfg.epochs, "steps": step, "world_size": world}, tmp)
    if world > 1:
        torch.distributed.barrier()
    return final


def _tensorboard(path: Path):
    """A TensorBoard writer when the tensorboard package is installed, else None."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(path))


def _board_write(board, prefix: str, row: dict) -> None:
    if board is None:
        return
    for key, value in row.items():
        if key not in ("epoch", "step"):
            board.add_scalar(f"{prefix}/{key}", value, row["step"])


def _train_digest(tcfg: TrainConfig) -> str:
    """Hash of the settings a resumed run must share (logging and checkpoint cadence may change)."""
    cadence = ("log_every", "checkpoint_every", "checkpoint_every_steps")
    settings = {k: v for k, v in asdict(tcfg).items() if k not in cadence}
    return hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
