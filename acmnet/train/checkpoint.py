"""Where a training run keeps its files, and how it resumes exactly.

A run is named by its *training digest*: the settings training reads (`Config.settings("train")`:
seed, image size, model, augmentations, the method's resolved training settings) and the pixels of
its training images (`ImageCache.rows_digest`). Its files live in `<runs>/<digest>/`:
`last.pt` (everything needed to continue: model, optimiser, scheduler, every rank's random state,
epoch, batch, the epoch's batch order, partial sums, logs), the logs, and `checkpoint.pt` once
training is complete. A rerun with the same digest resumes from `last.pt`, or only publishes a
complete run; another digest is another folder, so a finished model of other settings or other
images is never resumed from, overwritten or deleted. The same digest is Snakemake's rerun trigger
(with the training inputs' dates), so the two can never disagree.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from acmnet.config import digest_of
from acmnet.io import atomic_path
from acmnet.train.distributed import Group, gather
from acmnet.train.step import TrainingError

STATE_FORMAT = 4  # version of last.pt's layout; another version is not resumed from
PUBLISHED = ("checkpoint.pt", "train_log.csv", "train_steps.csv", "training.png")


def training_digest(settings: dict[str, Any], images_digest: str) -> str:
    """The identity of a training run: its settings and the pixels of its training images."""
    return digest_of({"settings": settings, "train_images": images_digest})


@dataclass
class Progress:
    """Where a run stands: `epoch` epochs and `batch` batches of the next one are done (`step`
    in all); `order` is that epoch's batch order, `sums` its running loss sums over `seen` images."""

    epoch: int = 0
    batch: int = 0
    step: int = 0
    order: np.ndarray | None = None
    sums: dict[str, float] = field(default_factory=dict)
    seen: int = 0


def rng_state(generator: np.random.Generator) -> dict:
    """This process's random state: torch (CPU and CUDA) and the batch-order generator."""
    state = {"torch": torch.get_rng_state(), "numpy": generator.bit_generator.state}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict, generator: np.random.Generator) -> None:
    torch.set_rng_state(state["torch"])
    generator.bit_generator.state = state["numpy"]
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def restore_rng(states: list[dict], generator: np.random.Generator, group: Group, reseed: int) -> None:
    """Give each rank back its own random state (`states` has one per rank of the saved run).
    Resumed with another number of processes, the batch order still continues exactly (its state
    is the same on every rank) and each rank's augmentation draws restart from `reseed + rank`."""
    if len(states) == group.world:
        set_rng_state(states[group.rank], generator)
        return
    set_rng_state(states[0], generator)
    torch.manual_seed(reseed + group.rank)
    if group.main:
        print(
            f"resuming with {group.world} processes from a run of {len(states)}: the batch order continues "
            "exactly, the augmentations are drawn afresh"
        )


class Checkpointer:
    """The folder of one training run (`<runs>/<digest>/`): resume, save, finish, publish."""

    def __init__(self, runs: Path, digest: str, group: Group):
        self.dir = Path(runs) / digest
        self.digest, self.group = digest, group
        self.last = self.dir / "last.pt"
        self.final = self.dir / "checkpoint.pt"

    @property
    def complete(self) -> bool:
        return self.final.is_file() and (self.dir / "train_log.csv").is_file()

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the run folder: a second process training the same run waits, then finds it done."""
        self.dir.mkdir(parents=True, exist_ok=True)
        if not self.group.main:
            yield
            return
        with open(self.dir / ".lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def resume(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: Any,
        generator: np.random.Generator,
        seed: int,
    ) -> tuple[Progress, dict]:
        """Load `last.pt` into the model, optimiser, scheduler and random states; (progress, logs).
        A fresh run (no `last.pt`) starts at Progress() with empty logs."""
        if not self.last.is_file():
            return Progress(), {"log": [], "step_log": []}
        state = torch.load(self.last, map_location="cpu", weights_only=False)  # load_state_dict moves to the device
        if state.get("format") != STATE_FORMAT or state.get("digest") != self.digest:
            raise RuntimeError(
                f"{self.last} belongs to another run (format {state.get('format')}, digest "
                f"{state.get('digest')}): delete it to train from scratch"
            )
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        restore_rng(state["rng"], generator, self.group, seed + state["progress"]["step"])
        progress = Progress(**state["progress"])
        return progress, {"log": state["log"], "step_log": state["step_log"]}

    def save(
        self,
        progress: Progress,
        rng: dict,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: Any,
        logs: dict,
    ) -> None:
        """Write `last.pt` (rank 0), keeping every rank's random state `rng` (from which its next views are made)."""
        rngs = gather(rng, self.group)
        if not self.group.main:
            return
        state = {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "rng": rngs,
            "progress": progress.__dict__,
            "log": logs["log"],
            "step_log": logs["step_log"],
            "digest": self.digest,
            "format": STATE_FORMAT,
        }
        with self.writing(self.last.name), atomic_path(self.last) as tmp, open(tmp, "wb") as fh:
            torch.save(state, fh)  # through a Python file: a full disk is OSError(ENOSPC), not torch's RuntimeError

    @contextlib.contextmanager
    def writing(self, what: str) -> Iterator[None]:
        """Writing `what` into the run folder: a full disk (or quota) becomes a TrainingError that says
        so and names the folder; the writes are atomic, so the last good `last.pt` is still there."""
        try:
            yield
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            kept = f"the last good checkpoint {self.last} is kept" if self.last.is_file() else "no checkpoint yet"
            raise TrainingError(
                f"no space left on {self.dir} while writing {what} ({exc.strerror}): {kept}; free some space "
                "(`acmnet prune` lists training runs no config uses) and rerun to resume from it"
            ) from exc

    def publish(self, out_dir: Path) -> Path:
        """Link (or copy) the run's checkpoint and logs into `out_dir`, dated now; the checkpoint path there."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        for name in PUBLISHED:
            source, target = self.dir / name, out_dir / name
            if not source.is_file():
                continue
            with atomic_path(target) as tmp:
                tmp.unlink()
                try:
                    os.link(source, tmp)
                except OSError:
                    shutil.copyfile(source, tmp)
            os.utime(target)
        return out_dir / "checkpoint.pt"
