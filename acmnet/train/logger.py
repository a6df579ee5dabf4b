"""Training logs: `train_log.csv` (one row per epoch), `train_steps.csv` (every `log_every` steps),
TensorBoard under `tensorboard/` when the package is installed, and a progress bar with ETA.

Only rank 0 writes; every file is rewritten atomically, so a log never ends half-written.
"""

from __future__ import annotations

import csv
from pathlib import Path

from tqdm import tqdm

from acmnet.io import atomic_path

LOG_COLUMNS = [
    "epoch",
    "step",
    "loss",
    "loss_contrastive",
    "loss_rotation",
    "rotation_accuracy",
    "positive_alignment",
    "lr",
    "images_per_s",
]


def write_log(rows: list[dict], path: Path) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=LOG_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def _tensorboard(path: Path):
    """A TensorBoard writer when the tensorboard package is installed, else None."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(path))


class TrainLogger:
    """The logs of one run in `folder`; `logs` holds the rows so far (restored on resume)."""

    def __init__(
        self, folder: Path, logs: dict, main: bool, total_steps: int, done_steps: int, desc: str, progress: bool
    ):
        self.folder, self.logs, self.main = Path(folder), logs, main
        self.board = _tensorboard(self.folder / "tensorboard") if main else None
        self.bar = tqdm(total=total_steps, initial=done_steps, desc=desc, unit="step", disable=not (progress and main))

    def __enter__(self) -> TrainLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def step(self, epoch: int, loss: float) -> None:
        self.bar.update(1)
        self.bar.set_postfix(epoch=epoch, loss=f"{loss:.3f}")

    def step_row(self, row: dict) -> None:
        self.logs["step_log"].append(row)
        if self.main:
            write_log(self.logs["step_log"], self.folder / "train_steps.csv")
        self._board("step", row)

    def epoch_row(self, row: dict) -> None:
        self.logs["log"].append(row)
        if self.main:
            write_log(self.logs["log"], self.folder / "train_log.csv")
        self._board("epoch", row)

    def _board(self, prefix: str, row: dict) -> None:
        if self.board is None:
            return
        for key, value in row.items():
            if key not in ("epoch", "step"):
                self.board.add_scalar(f"{prefix}/{key}", value, row["step"])

    def close(self) -> None:
        self.bar.close()
        if self.board is not None:
            self.board.close()
