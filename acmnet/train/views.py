"""The encoder inputs of a training step, made on the training device (paper section 3.4).

From N originals x: the appearance-augmented view T_A(x) (N, when the contrastive loss is on)
and the rotations by 90/180/270 degrees (3N, or one random rotation per image); the 0-degree
view is the original itself, so one encoder pass over 5N images serves both branches.
`ViewQueue` makes the views of the next batches while a step runs (on CUDA).
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import NamedTuple

import numpy as np
import torch

from acmnet.config import TrainConfig
from acmnet.device import to_float_images


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
    channels_last = images.is_contiguous(memory_format=torch.channels_last)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    return Views(torch.cat(views).contiguous(memory_format=memory_format), rotation_labels, n)


class ViewQueue:
    """Makes the views of the next `depth` steps while the current step runs.

    `start(rows)` queues those cache rows: gathered, copied and made into views on the training
    device; `take()` returns the oldest queued batch. On CUDA a worker thread does this on a
    high-priority side stream: kornia's many host-side launches, and the small host-to-device
    copies that make it wait for its stream, then overlap the main thread's forward, backward and
    optimiser step instead of following them. Only the worker draws random numbers while batches
    are queued, one batch after another, so the random stream is the same as in place; the state
    before each batch is kept (`rng_before_next`), for checkpoints. On CPUs it runs in place.
    Use it as a context manager (or call `close`) so the worker stops on every exit path.
    """

    def __init__(
        self,
        array: np.ndarray,
        augment: torch.nn.Module,
        tcfg: TrainConfig,
        device: torch.device,
        channels_last: bool,
        rng_state: Callable[[], dict] | None = None,
        depth: int = 2,
    ):
        self.array, self.augment, self.tcfg = array, augment, tcfg
        self.device, self.channels_last, self.depth = device, channels_last, depth
        self.rng_state = rng_state  # () -> dict of random states, recorded before each batch; None: not recorded
        self.stream = torch.cuda.Stream(device, priority=-1) if device.type == "cuda" else None
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="views") if self.stream is not None else None
        self._pending: deque[Future] = deque()

    def __enter__(self) -> ViewQueue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
