"""Training throughput against the model's bare forward+backward ceiling (not a test).

    python bench/train_speed.py --config config/demo.yaml [--steps 10] [--warmup 3]

Prints, in original images per second (each original makes 5 encoder inputs):
- step: a full training step as `acmnet train` runs it: gather a batch from a uint8 array,
  move and convert it, appearance augmentation, rotations, one encoder pass over 5N images,
  both losses, backward, Adam step;
- ceiling: the same model's forward+backward over 5N ready float tensors, nothing else;
and their ratio. Timings are medians over `--steps` after `--warmup` steps.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from acmnet.augment import build_appearance_augmentation
from acmnet.config import load_config
from acmnet.model import build_model
from acmnet.train import amp_dtype_for, resolve_device, set_train_mode, to_float_images, training_step


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", nargs="+", required=True)
    parser.add_argument("--method", default="acmnet")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--pool", type=int, default=512, help="images in the fake uint8 cache")
    args = parser.parse_args()

    cfg = load_config(args.config)
    tcfg = cfg.train_for(args.method)
    device = resolve_device(cfg.device)
    amp_dtype = amp_dtype_for(tcfg, device)
    channels_last = tcfg.channels_last == "on"
    model = build_model(cfg.model).to(device)
    set_train_mode(model, tcfg)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    augment = build_appearance_augmentation(cfg.augment).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=tcfg.lr)
    n = tcfg.batch_size
    h, w = cfg.image_size
    rng = np.random.default_rng(0)
    pool = rng.integers(0, 256, size=(args.pool, h, w, 3), dtype=np.uint8)
    views = 1 + (tcfg.contrastive_weight > 0) + 3 * (tcfg.rotation_weight > 0 and tcfg.rotation_views == "all") \
        + (tcfg.rotation_weight > 0 and tcfg.rotation_views == "one")

    def full_step() -> None:
        idx = np.sort(rng.choice(args.pool, n, replace=False))
        images = to_float_images(pool[idx], device, channels_last)
        out = training_step(model, augment, images, tcfg, amp_dtype)
        optimizer.zero_grad(set_to_none=True)
        out["loss"].backward()
        optimizer.step()
        out["loss"].item()

    ready = torch.rand(views * n, 3, h, w, device=device)
    if channels_last:
        ready = ready.contiguous(memory_format=torch.channels_last)

    def bare() -> None:
        ctx = torch.autocast(device.type, dtype=amp_dtype) if amp_dtype else torch.autocast(device.type, enabled=False)
        with ctx:
            feats = model.features(ready)
        model.zero_grad(set_to_none=True)
        feats.float().sum().backward()

    t_step = _median_time(full_step, args.steps, args.warmup, device)
    t_bare = _median_time(bare, args.steps, args.warmup, device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(f"device: {name}; backbone {cfg.model.backbone}, image {h}x{w}, batch N={n} ({views}N encoder inputs), "
          f"amp={'bf16' if amp_dtype else 'off'}, channels_last={channels_last}")
    print(f"step:    {n / t_step:8.1f} images/s  ({t_step * 1000:.0f} ms/step)")
    print(f"ceiling: {n / t_bare:8.1f} images/s  ({t_bare * 1000:.0f} ms, forward+backward of {views * n} ready images)")
    print(f"ratio:   {t_bare / t_step:8.2f}")


if __name__ == "__main__":
    main()
