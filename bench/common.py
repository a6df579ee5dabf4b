"""What every benchmark records: the machine and versions, a CSV of its windows, a plot."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
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
