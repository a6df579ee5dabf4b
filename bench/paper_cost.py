"""What the paper run costs in GPU hours, from a measured training throughput (not a test).

    python -m bench.paper_cost                                   # config/config.yaml, the H200 figure
    python -m bench.paper_cost --images-per-s 1136               # e.g. with train.compile: true

Every training job of the preset (each trained method on each dataset it trains on, every seed;
rows with equal training settings share one job) runs `epochs` epochs of floor(train images /
batch) batches; at `--images-per-s` original images per second (what `bench/train_speed.py`
prints as `step:` on the GPU, default: 840, measured on one NVIDIA H200 at the paper settings,
bf16, eager; docs/performance.md), a job takes
epochs x batches x batch / images-per-s seconds. The training-image counts are the published
ones of each dataset type (a manifest of the dataset overrides them: `--manifest name=FILE`).
Every job is costed at the rate measured for the full method (5N encoder inputs per step): the
contrastive-only and rotation-only ablations run fewer views and are cheaper, separate encoder
passes (6N inputs) dearer. Prints one line per job, the total, and the Slurm `train_runtime` that
covers the longest job with a 25% margin; writes a CSV and a plot under bench/results/.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pandas as pd

from acmnet.config_loader import load_config
from acmnet.methods import trained_methods, training_dataset
from bench.common import save_plot, write_rows

# `train` images per dataset type, as published (docs/datasets.md): Nordland's summer train partition,
# Alderley's day drive (FRAMESB, 14607), RobotCar's rear overcast-reference (6954) + v2 train split (1906).
TRAIN_IMAGES = {"nordland": 24570, "alderley": 14607, "robotcar": 6954 + 1906}
H200_IMAGES_PER_S = 840.0  # bench/train_speed.py, paper settings, one H200, bf16, eager (docs/performance.md)
MARGIN = 1.25


def jobs(cfg, counts: dict[str, int]) -> pd.DataFrame:
    """One row per training job: method row, dataset, epochs, batch, images per epoch. Rows whose
    training settings are equal (e.g. differing only in their descriptor) share one run on a dataset
    (`acmnet.train.checkpoint`): only the first is a job."""
    rows, seen = [], set()
    for method in trained_methods(cfg):
        run = cfg.settings_digest("train", method=method)
        for dataset in cfg.datasets:
            trains_on = training_dataset(cfg, method, dataset)
            if (run, trains_on) in seen:
                continue
            seen.add((run, trains_on))
            tcfg = cfg.train_for(method)
            n = counts.get(trains_on, TRAIN_IMAGES.get(cfg.datasets[trains_on].type))
            if n is None:
                raise SystemExit(f"no training-image count for dataset {trains_on}: give --manifest {trains_on}=FILE")
            rows.append(
                {
                    "method": method,
                    "dataset": trains_on,
                    "epochs": tcfg.epochs,
                    "batch": tcfg.batch_size,
                    "images_per_epoch": (n // tcfg.batch_size) * tcfg.batch_size,
                }
            )
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", nargs="+", default=["config/config.yaml"])
    parser.add_argument("--images-per-s", type=float, default=H200_IMAGES_PER_S)
    parser.add_argument(
        "--manifest",
        action="append",
        default=[],
        metavar="DATASET=FILE",
        help="count the `train` rows of this manifest instead of the published count",
    )
    parser.add_argument("--out", default="bench/results")
    args = parser.parse_args()

    cfg = load_config(args.config)
    counts = {}
    for item in args.manifest:
        name, _, path = item.partition("=")
        counts[name] = int((pd.read_csv(path)["role"] == "train").sum())
    table = jobs(cfg, counts)
    table["gpu_hours"] = table["epochs"] * table["images_per_epoch"] / args.images_per_s / 3600
    table["images_per_s"] = args.images_per_s
    write_rows(table, Path(args.out) / f"paper_cost_{cfg.experiment}.csv")
    save_plot(
        Path(args.out) / f"paper_cost_{cfg.experiment}.png",
        range(len(table)),
        {"GPU hours per job": table["gpu_hours"]},
        "job (method x dataset)",
        "GPU hours",
        f"{cfg.experiment}: {table['gpu_hours'].sum():.0f} GPU hours at {args.images_per_s:g} images/s",
    )
    for _, row in table.iterrows():
        print(
            f"{row['method']:28s} on {row['dataset']:10s} {row['epochs']:5d} epochs x {row['images_per_epoch']:6d} "
            f"images: {row['gpu_hours']:6.1f} GPU hours"
        )
    runtime = math.ceil(table["gpu_hours"].max() * 60 * MARGIN)
    print(
        f"total: {table['gpu_hours'].sum():.1f} GPU hours for {len(table)} training jobs at "
        f"{args.images_per_s:g} images/s"
    )
    print(f"Slurm: train_runtime {runtime} minutes covers the longest job with a {100 * (MARGIN - 1):.0f}% margin")


if __name__ == "__main__":
    main()
