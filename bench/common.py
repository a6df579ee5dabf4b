"""What every benchmark records: the machine and versions, a CSV of its windows, a plot."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from acmnet.io import atomic_path


def machine(device: torch.device) -> dict[str, object]:
    """The device, the host's CPU and threads, and the versions that set the speed."""
    import faiss
    import kornia
    import timm

    cpu = platform.processor() or platform.machine()
    info = Path("/proc/cpuinfo")
    names = (
        [line.split(":", 1)[1].strip() for line in info.read_text().splitlines() if line.startswith("model name")]
        if info.is_file()
        else []
    )
    cpu = names[0] if names else cpu
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    return {
        "device": name,
        "device_kind": device.type,
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "timm": timm.__version__,
        "kornia": kornia.__version__,
        "faiss": faiss.__version__,
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }


def write_rows(table: pd.DataFrame, path: Path) -> None:
    """The benchmark's rows as CSV (atomically)."""
    with atomic_path(Path(path)) as tmp:
        table.to_csv(tmp, index=False)
    print(f"wrote {path}")


def save_plot(path: Path, x, series: dict[str, object], xlabel: str, ylabel: str, title: str) -> None:
    """One line per series against `x`."""
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for label, y in series.items():
        ax.plot(x, y, marker="o", markersize=3, label=label)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.title.set_fontsize(9)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(Path(path)) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)


def save_pairs(
    table: pd.DataFrame,
    info: dict[str, object],
    out: Path,
    name: str,
    series: dict[str, object],
    ylabel: str,
    title: str,
) -> None:
    """A paired-window benchmark's rows (with `info` on each) as `out/name.csv` and its plot as `out/name.png`."""
    write_rows(table.assign(**info), Path(out) / f"{name}.csv")
    save_plot(Path(out) / f"{name}.png", table["pair"], series, "pair of windows", ylabel, title)


def timed(fn: Callable[[], None], device: torch.device, calls: int = 1) -> float:
    """Seconds for `calls` calls of `fn`, the device synchronised at both ends."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    tic = time.perf_counter()
    for _ in range(calls):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - tic


def paired_windows(windows: dict[str, Callable[[], float]], images: int, pairs: int) -> pd.DataFrame:
    """`pairs` pairs of timed windows of a step and its ceiling (`windows`: name -> seconds of one
    window, step first), in A B B A order so both see the same machine state. One row per pair:
    `<name>_images_per_s` for both, and `ratio` = ceiling seconds / step seconds."""
    (step, step_s), (ceiling, ceiling_s) = windows.items()
    rows = []
    for p in range(pairs):
        order = [(step, step_s), (ceiling, ceiling_s)] if p % 2 == 0 else [(ceiling, ceiling_s), (step, step_s)]
        seconds = {name: fn() for name, fn in order}
        rows.append(
            {
                "pair": p,
                f"{step}_images_per_s": images / seconds[step],
                f"{ceiling}_images_per_s": images / seconds[ceiling],
                "ratio": seconds[ceiling] / seconds[step],
            }
        )
    return pd.DataFrame(rows)


def print_ratios(ratios: np.ndarray) -> None:
    """The pairs' ratio: median, spread, and the median on its own `ratio:` line."""
    print(
        f"pairs:   ratio median {np.median(ratios):.3f}, min {ratios.min():.3f}, max {ratios.max():.3f}, "
        f"IQR {np.percentile(ratios, 25):.3f}..{np.percentile(ratios, 75):.3f}"
    )
    print(f"ratio:   {np.median(ratios):.2f}")
