"""Describing throughput, as `acmnet describe` runs it, against the bare forward pass (not a test).

    python -m bench.describe_speed --config config/demo.yaml              # CPU, demo settings
    python -m bench.describe_speed --config config/config.yaml            # paper settings (GPU)

In one process, windows of `acmnet describe`'s own loop (`acmnet.evaluate.describe.embed`: cache
rows gathered from a uint8 array, converted and copied to the device, the method's describer,
descriptors copied back) alternate with windows of the describer's bare forward pass over ready
input tensors of the same batch and size (A B B A ...). The ratio of a pair is describe
images/s over bare images/s; the median is printed with its spread, and as `ratio:`. Writes a
CSV and a plot under bench/results/.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from acmnet.configure import load_config
from acmnet.device import resolve_device, to_float_images
from acmnet.evaluate.describe import embed
from acmnet.methods import method_of
from bench.common import machine, paired_windows, print_ratios, save_plot, timed, write_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", nargs="+", required=True)
    parser.add_argument("--method", default="imagenet_avg", help="an untrained method (no checkpoint needed)")
    parser.add_argument("--batches", type=int, default=4, help="batches per window")
    parser.add_argument("--windows", type=int, default=8, help="pairs of (describe, bare) windows")
    parser.add_argument("--out", default="bench/results")
    args = parser.parse_args()

    cfg = load_config(args.config)
    cfg.model.pretrained = False
    device = resolve_device(cfg.device)
    kind = method_of(cfg, args.method)
    describer = kind.build(cfg, args.method, cfg.method(args.method).options, None).to(device).eval()
    channels_last = cfg.train.channels_last == "on"
    if channels_last:
        describer.to(memory_format=torch.channels_last)
    b, (h, w) = cfg.evaluate.batch_size, cfg.image_size
    array = np.random.default_rng(0).integers(0, 256, size=(b * args.batches, h, w, 3), dtype=np.uint8)
    rows = np.arange(len(array))
    ready = [to_float_images(array[i * b : (i + 1) * b], device, channels_last) for i in range(args.batches)]

    @torch.no_grad()
    def bare() -> None:
        for x in ready:
            describer(x)

    def ours() -> None:
        embed(describer, array, rows, device, b, "bench", channels_last, progress=False)

    bare(), ours()  # warm-up
    windows = {"describe": lambda: timed(ours, device), "bare": lambda: timed(bare, device)}
    table = paired_windows(windows, len(array), args.windows)
    info = machine(device) | {"method": args.method, "backbone": cfg.model.backbone, "image": f"{h}x{w}", "batch": b}
    name = f"describe_speed_{info['device_kind']}_{cfg.experiment}"
    write_rows(table.assign(**info), Path(args.out) / f"{name}.csv")
    save_plot(
        Path(args.out) / f"{name}.png",
        table["pair"],
        {"acmnet describe": table["describe_images_per_s"], "bare forward": table["bare_images_per_s"]},
        "pair of windows",
        "images / s",
        f"acmnet describe vs its forward pass: {info['device']}, {info['backbone']} {h}x{w}, batch {b}",
    )
    print(f"device: {info['device']}; {args.method} ({info['backbone']}), {h}x{w}, batch {b}")
    print(
        f"describe: {table['describe_images_per_s'].median():8.1f} images/s; bare forward: "
        f"{table['bare_images_per_s'].median():8.1f} images/s"
    )
    print_ratios(table["ratio"].to_numpy())


if __name__ == "__main__":
    main()
