"""Training throughput against the model's bare forward+backward ceiling (not a test).

    python bench/train_speed.py --config config/demo.yaml [--steps 8] [--windows 2]
    python bench/train_speed.py --config config/config.yaml          # paper settings (GPU)

Prints, in original images per second (each original makes 5 encoder inputs):
- step: `acmnet train` itself (acmnet.train.train) on a synthetic uint8 cache of random
  images: batch gathering, host-to-device copy, appearance augmentation, rotations, one encoder
  pass over 5N images, both losses, backward, Adam, logging; read from its train_steps.csv,
  one row per `--steps` steps, after one warm-up row; the median of `--windows` rows;
- views: making one batch's views alone (copy, augmentation, rotations), synchronised, and
  on CUDA the part of it spent in GPU kernels;
- ceiling: the same model's forward+backward over 5N ready tensors, nothing else (median);
and step / ceiling. The encoder starts from random weights: speed does not depend on them.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from acmnet.artifacts import pixel_digest, provenance, save_manifest, write_cache_meta
from acmnet.config import load_config
from acmnet.device import amp_dtype_for, resolve_device
from acmnet.methods.acmnet import build_model
from acmnet.train import train
from acmnet.train.augment import build_appearance_augmentation
from acmnet.train.step import set_train_mode
from acmnet.train.views import ViewQueue


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _median_time(fn, steps: int, warmup: int, device: torch.device) -> float:
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(steps):
        tic = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - tic)
    return statistics.median(times)


def _kernel_time(fn) -> float:
    """Seconds the GPU spends in kernels and copies during one call of `fn` (torch.profiler)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        fn()
        torch.cuda.synchronize()
    total_us = sum(getattr(e, "self_device_time_total", 0) for e in prof.key_averages())
    return total_us / 1e6


def synthetic_dataset(folder: Path, count: int, image_size: tuple[int, int]) -> tuple[Path, Path]:
    """A manifest of `count` train images (plus one reference and one query row, which the
    manifest requires) and their uint8 cache of random pixels. Returns (manifest, cache)."""
    names = [f"synthetic/{i:06d}.png" for i in range(count)]
    frame = pd.DataFrame(
        {
            "image": names + names[:2],
            "role": ["train"] * count + ["reference", "query"],
            "place": list(range(count)) + [0, 1],
            "condition": ["bench"] * (count + 2),
        }
    )
    manifest = folder / "manifest.csv"
    manifest_file = save_manifest(frame, manifest, provenance("prepare", {"bench": True}))
    cache = folder / "cache.npy"
    array = np.lib.format.open_memmap(cache, mode="w+", dtype=np.uint8, shape=(count, *image_size, 3))
    rng = np.random.default_rng(0)
    for start in range(0, count, 256):
        array[start : start + 256] = rng.integers(0, 256, size=array[start : start + 256].shape, dtype=np.uint8)
    array.flush()
    del array
    digests = [pixel_digest(img) for img in np.load(cache, mmap_mode="r")]
    write_cache_meta(cache, names, image_size, digests, provenance("cache", {}, manifest=manifest_file))
    return manifest, cache


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", nargs="+", required=True)
    parser.add_argument("--method", default="acmnet")
    parser.add_argument("--steps", type=int, default=10, help="steps per timed window (one train_steps.csv row)")
    parser.add_argument("--windows", type=int, default=2, help="timed windows after the warm-up window")
    args = parser.parse_args()

    cfg = load_config(args.config)
    cfg.model.pretrained = False
    options = cfg.methods[args.method].options  # one epoch, one train_steps.csv row per window, no mid-epoch saves
    options.train = {**options.train, "epochs": 1, "log_every": args.steps, "checkpoint_every_steps": 0}
    tcfg = cfg.train_for(args.method)
    n, (h, w) = tcfg.batch_size, cfg.image_size
    steps = args.steps * (args.windows + 1)
    device = resolve_device(cfg.device)
    amp_dtype = amp_dtype_for(tcfg, device)
    channels_last = tcfg.channels_last == "on"

    with tempfile.TemporaryDirectory(prefix="acmnet-bench-") as tmp:
        folder = Path(tmp)
        manifest, cache = synthetic_dataset(folder, n * steps, (h, w))
        train(cfg, args.method, manifest, cache, folder / "run", progress=False)
        rows = pd.read_csv(folder / "run" / "train_steps.csv")
        step_rate = float(rows["images_per_s"].iloc[1:].median())

        model = build_model(cfg.model).to(device)
        set_train_mode(model, tcfg)
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        if tcfg.compile:
            model.encoder.compile()
        augment = build_appearance_augmentation(cfg.augment).to(device)
        queue = ViewQueue(np.load(cache, mmap_mode="r"), augment, tcfg, device, channels_last)
        picks = np.random.default_rng(1)

        def views_only() -> None:
            queue.start(np.sort(picks.choice(n * steps, n, replace=False)))
            queue.take()

        t_views = _median_time(views_only, args.steps, 2, device)
        views_kernels = _kernel_time(views_only) if device.type == "cuda" else None
        queue.start(np.arange(n))
        ready = queue.take().batch.clone()  # the same 5N views, made once

        def bare() -> None:
            ctx = torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None)
            with ctx:
                feats = model(ready)
            model.zero_grad(set_to_none=True)
            feats.float().sum().backward()

        t_bare = _median_time(bare, args.steps, 3, device)
    views = len(ready) // n
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(
        f"device: {name}; torch {torch.__version__}; backbone {cfg.model.backbone}, image {h}x{w}, batch N={n} "
        f"({views}N encoder inputs), amp={'bf16' if amp_dtype else 'off'}, channels_last={channels_last}, "
        f"compile={tcfg.compile}, encoder_bn={tcfg.encoder_bn}"
    )
    print(f"step:    {step_rate:8.1f} images/s  (acmnet train, median of {args.windows} windows of {args.steps} steps)")
    print(
        f"views:   {n / t_views:8.1f} images/s  "
        f"({t_views * 1000:.1f} ms per batch alone: copy, augmentation, rotations)"
    )
    if views_kernels is not None:
        print(f"         {views_kernels * 1000:8.1f} ms of it in GPU kernels (profiler)")
    print(
        f"ceiling: {n / t_bare:8.1f} images/s  ({t_bare * 1000:.1f} ms, forward+backward of {views * n} ready images)"
    )
    print(f"ratio:   {step_rate / (n / t_bare):8.2f}")


if __name__ == "__main__":
    main()
