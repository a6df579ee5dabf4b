"""Training logs: `train_log.csv` (one row per epoch), `train_steps.csv` (every `log_every` steps),
TensorBoard under `tensorboard/` when the package is installed, a progress bar with ETA, and the
figure `training.png` of the epoch rows (loss parts, rotation accuracy, learning rate, collapse
measure with its threshold, alignment and uniformity, validation R@1).

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
    "collapse_std",  # acmnet.train.monitor: ~1 healthy, 0 collapsed
    "collapsed",  # 1 when collapse_std < train.collapse_threshold (epoch rows)
    "alignment",
    "uniformity",
    "val_r1",  # R@1 (%) of the validation slice, every train.validate_every epochs (acmnet.train.validate)
    "lr",
    "images_per_s",
]

# training.png: one panel per group of columns, (title, columns).
PANELS = (
    ("loss", ("loss", "loss_contrastive", "loss_rotation")),
    ("rotation accuracy", ("rotation_accuracy",)),
    ("learning rate", ("lr",)),
    ("collapse measure", ("collapse_std",)),
    ("alignment / uniformity", ("alignment", "uniformity")),
    ("validation R@1 (%)", ("val_r1",)),
)


def write_log(rows: list[dict], path: Path) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=LOG_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def write_figure(rows: list[dict], path: Path, title: str, threshold: float | None = None) -> None:
    """`training.png`: the epoch rows' columns against the epoch, one panel per `PANELS` entry, the
    collapse threshold as a dashed line; epochs where a column was not measured are left out."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(12, 6), constrained_layout=True)
    for ax, (name, columns) in zip(axes.flat, PANELS):
        for column in columns:
            points = [
                (r["epoch"], float(r[column])) for r in rows if r.get(column, "") != "" and r[column] == r[column]
            ]
            if points:
                ax.plot(*zip(*points), marker=".", label=column)
        if name == "collapse measure":
            ax.set_ylim(bottom=0)  # 0 is collapse
            if threshold is not None:
                ax.axhline(threshold, color="red", linestyle="--", label="collapse threshold")
        if not ax.lines:
            ax.text(0.5, 0.5, "not measured", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="small")
    fig.suptitle(title)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    plt.close(fig)


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
