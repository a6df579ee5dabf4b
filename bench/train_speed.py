"""Training throughput against the model's bare forward+backward ceiling, measured in pairs (not a test).

    python bench/train_speed.py --config config/demo.yaml                 # CPU, demo settings
    python bench/train_speed.py --config config/config.yaml               # paper settings (GPU)

One process, one model, one warm-up: windows of full training steps and windows of the bare
encoder forward+backward alternate (A B B A ...), so both see the same threads, memory format,
batch-norm mode, autocast, input shapes and machine state. A full step is what `acmnet train`
runs per batch (`acmnet.train.loop`): take the queued views (gathered from a uint8 cache, copied,
augmented, rotated), queue the next batch, one encoder pass over 5N images, both heads and losses,
backward, Adam, one loss read; the ceiling is the same encoder's forward and backward over 5N
ready images with a sum as the loss. The ratio of a pair is full images/s over ceiling images/s;
the median over pairs is printed with its spread, and on its own line as `ratio:`. A full step
contains a bare pass, so a ratio above 1 is noise. Writes a CSV (machine, versions, every window)
and a plot under bench/results/.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from acmnet.config_loader import load_config
from acmnet.device import autocast, resolve_device
from acmnet.train.distributed import Group
from acmnet.train.loop import build_setup
from acmnet.train.step import set_train_mode, step_losses
from acmnet.train.views import ViewQueue
from bench.common import machine, paired_windows, print_ratios, save_pairs, timed


class Pairs:
    """The full step and the bare pass of one configured method, ready to be timed."""

    def __init__(self, cfg, method: str):
        self.tcfg = cfg.train_for(method)
        self.device = resolve_device(cfg.device)
        n, (h, w) = self.tcfg.batch_size, cfg.image_size
        self.setup = build_setup(cfg, method, self.tcfg, Group(0, 1, self.device), total_steps=10_000)
        set_train_mode(self.setup.model, self.tcfg)
        rng = np.random.default_rng(0)
        self.array = rng.integers(0, 256, size=(8 * n, h, w, 3), dtype=np.uint8)  # a uint8 cache of 8 batches
        self.queue = ViewQueue(self.array, self.setup.augment, self.tcfg, self.device, self.setup.channels_last)
        self.picks = np.random.default_rng(1)
        for _ in range(self.queue.depth):
            self.queue.start(self._rows())
        self.ready = self.queue.take().batch.clone()  # 5N views, made once, for the bare pass
        self.queue.start(self._rows())

    def _rows(self) -> np.ndarray:
        return np.sort(self.picks.choice(len(self.array), self.tcfg.batch_size, replace=False))

    def full_step(self) -> None:
        s = self.setup
        views = self.queue.take()
        self.queue.start(self._rows())
        out = step_losses(s.net, views, self.tcfg, s.amp_dtype)
        s.optimizer.zero_grad(set_to_none=True)
        out["loss"].backward()
        s.optimizer.step()
        s.scheduler.step()
        out["loss"].item()  # the step's one host read

    def bare_pass(self) -> None:
        s = self.setup
        with autocast(self.device, s.amp_dtype):
            feats = s.net(self.ready)
        s.optimizer.zero_grad(set_to_none=True)
        feats.float().sum().backward()


def measure(pairs: Pairs, steps: int, windows: int, warmup: int) -> pd.DataFrame:
    """`windows` pairs of (full, bare) windows of `steps` each, in A B B A order, after `warmup` of both."""
    timed(pairs.full_step, pairs.device, warmup)
    timed(pairs.bare_pass, pairs.device, warmup)
    windows_of = {
        "full": lambda: timed(pairs.full_step, pairs.device, steps),
        "bare": lambda: timed(pairs.bare_pass, pairs.device, steps),
    }
    return paired_windows(windows_of, pairs.tcfg.batch_size * steps, windows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", nargs="+", required=True)
    parser.add_argument("--method", default="acmnet")
    parser.add_argument("--steps", type=int, default=4, help="steps per window")
    parser.add_argument("--windows", type=int, default=8, help="pairs of (full, bare) windows")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps of each kind first")
    parser.add_argument("--out", default="bench/results", help="folder for the CSV and the plot")
    parser.add_argument("--tag", default="", help="added to the output file names")
    args = parser.parse_args()

    cfg = load_config(args.config)
    cfg.model.pretrained = False  # speed does not depend on the weights
    pairs = Pairs(cfg, args.method)
    table = measure(pairs, args.steps, args.windows, args.warmup)
    ratios = table["ratio"].to_numpy()
    info = machine(pairs.device) | {
        "backbone": cfg.model.backbone,
        "image": "x".join(map(str, cfg.image_size)),
        "batch": pairs.tcfg.batch_size,
        "amp": "bf16" if pairs.setup.amp_dtype else "off",
        "channels_last": pairs.setup.channels_last,
        "compile": pairs.tcfg.compile,
        "encoder_bn": pairs.tcfg.encoder_bn,
    }
    name = f"train_speed_{info['device_kind']}_{cfg.experiment}{args.tag}"
    save_pairs(
        table,
        info,
        Path(args.out),
        name,
        {"full step": table["full_images_per_s"], "bare forward+backward": table["bare_images_per_s"]},
        "original images / s",
        f"acmnet train vs its ceiling: {info['device']}, {info['backbone']} {info['image']}, N={info['batch']}",
    )
    print(
        f"device: {info['device']}; torch {torch.__version__}; {info['backbone']} {info['image']}, batch N="
        f"{info['batch']} (5N encoder inputs), amp={info['amp']}, channels_last={info['channels_last']}, "
        f"compile={info['compile']}, encoder_bn={info['encoder_bn']}"
    )
    print(
        f"step:    {statistics.median(table['full_images_per_s']):8.1f} images/s (median of {len(table)} windows "
        f"of {args.steps} steps)"
    )
    print(f"ceiling: {statistics.median(table['bare_images_per_s']):8.1f} images/s (bare forward+backward of 5N views)")
    print_ratios(ratios)


if __name__ == "__main__":
    main()
