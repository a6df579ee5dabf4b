"""Describing throughput, as `acmnet describe` runs it, against the bare forward pass (not a test).

    python -m bench.describe_speed --config config/demo.yaml              # CPU, demo settings
    python -m bench.describe_speed --config config/config.yaml            # paper settings (GPU)
    python -m bench.describe_speed --config config/demo.yaml --case files # from image files vs the cache

In one process, windows of `acmnet describe`'s own loop (`acmnet.evaluate.describe.embed`: cache
rows gathered from a uint8 array, converted and copied to the device, the method's describer,
descriptors copied back) alternate with windows of the describer's bare forward pass over ready
input tensors of the same batch and size (A B B A ...). The ratio of a pair is describe
images/s over bare images/s; the median is printed with its spread, and as `ratio:`. Writes a
CSV and a plot under bench/results/.

`--case files`: describing a dataset that is not cached, straight from its image files (the
multi-worker loader, `acmnet.data.loader`, `--workers` processes: every core by default, as the
describe rule runs it), against describing the same images from their uint8 cache, windows
alternating as above; `ratio:` is files images/s over cache images/s (goal: at least 0.8). The
images are `--images` JPEGs of `--source-size` (smooth content, like photographs), written to a
temporary folder (`--tmp`) with their manifest and cache; each window starts its loader anew, as
each describe job does per role. The cache's one-time full hash on load is not timed.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from acmnet.config_loader import load_config
from acmnet.device import resolve_device, to_float_images
from acmnet.evaluate.describe import embed, embed_batches
from acmnet.methods import method_of
from bench.common import machine, paired_windows, print_ratios, save_pairs, timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", nargs="+", required=True)
    parser.add_argument("--method", default="imagenet_avg", help="an untrained method (no checkpoint needed)")
    parser.add_argument("--batches", type=int, default=4, help="batches per window")
    parser.add_argument("--windows", type=int, default=8, help="pairs of (describe, bare) windows")
    parser.add_argument("--out", default="bench/results")
    parser.add_argument(
        "--case", choices=("forward", "files"), default="forward", help="what describing is timed against"
    )
    parser.add_argument("--images", type=int, default=512, help="--case files: images per window")
    parser.add_argument("--source-size", type=int, nargs=2, default=(480, 640), help="--case files: image files' H W")
    parser.add_argument(
        "--workers", type=int, default=len(os.sched_getaffinity(0)), help="--case files: loader processes"
    )
    parser.add_argument(
        "--tmp", default=None, help="--case files: folder for the temporary images (default: the system's)"
    )
    args = parser.parse_args()

    cfg = load_config(args.config)
    cfg.model.pretrained = False
    device = resolve_device(cfg.device)
    kind = method_of(cfg, args.method)
    describer = kind.build(cfg, args.method, cfg.method(args.method).options, None).to(device).eval()
    channels_last = cfg.train.channels_last == "on"
    if channels_last:
        describer.to(memory_format=torch.channels_last)
    if args.case == "files":
        files_case(args, cfg, describer, device, channels_last)
        return
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
    save_pairs(
        table,
        info,
        Path(args.out),
        name,
        {"acmnet describe": table["describe_images_per_s"], "bare forward": table["bare_images_per_s"]},
        "images / s",
        f"acmnet describe vs its forward pass: {info['device']}, {info['backbone']} {h}x{w}, batch {b}",
    )
    print(f"device: {info['device']}; {args.method} ({info['backbone']}), {h}x{w}, batch {b}")
    print(
        f"describe: {table['describe_images_per_s'].median():8.1f} images/s; bare forward: "
        f"{table['bare_images_per_s'].median():8.1f} images/s"
    )
    print_ratios(table["ratio"].to_numpy())


def files_case(args: argparse.Namespace, cfg, describer: torch.nn.Module, device: torch.device, channels_last: bool):
    """Describing the same images from their files (the loader) and from their cache, alternating."""
    from PIL import Image

    from acmnet.artifacts import load_cache, provenance, save_manifest
    from acmnet.data.cache import build_cache, image_paths
    from acmnet.data.loader import image_batches

    b, (h, w), (sh, sw) = cfg.evaluate.batch_size, cfg.image_size, args.source_size
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="describe_speed.", dir=args.tmp) as tmp:
        root = Path(tmp)
        names = [f"{i:06d}.jpg" for i in range(args.images)]
        for name in names:  # smooth content (a photograph's JPEG size), not noise
            small = rng.integers(0, 256, (max(1, sh // 16), max(1, sw // 16), 3), dtype=np.uint8)
            Image.fromarray(small).resize((sw, sh), Image.BICUBIC).save(root / name, quality=90)
        half = len(names) // 2
        frame = pd.DataFrame(
            {
                "image": names,
                "role": ["reference"] * (len(names) - half) + ["query"] * half,
                "place": list(range(len(names) - half)) + list(range(half)),
                "condition": "c",
            }
        )
        manifest = save_manifest(frame, root / "manifest.csv", provenance("prepare", {}))
        build_cache(manifest, root, root / "images.npy", (h, w), {}, workers=args.workers, progress=False)
        cache = load_cache(root / "images.npy", manifest)
        paths, rows = image_paths(root, names), np.arange(len(names))
        pin = device.type == "cuda"

        def from_files() -> None:
            batches = (pixels for pixels, _ in image_batches(paths, (h, w), b, args.workers, pin))
            embed_batches(describer, batches, len(paths), device, channels_last, progress=False)

        def from_cache() -> None:
            embed(describer, cache.array, rows, device, b, "bench", channels_last, progress=False)

        from_files(), from_cache()  # warm-up (and the files into the page cache, as the cache is)
        windows = {"files": lambda: timed(from_files, device), "cache": lambda: timed(from_cache, device)}
        table = paired_windows(windows, len(names), args.windows)
    info = machine(device) | {
        "method": args.method,
        "backbone": cfg.model.backbone,
        "image": f"{h}x{w}",
        "source": f"{sh}x{sw} jpeg",
        "batch": b,
        "workers": args.workers,
        "images": len(names),
    }
    name = f"describe_speed_files_{info['device_kind']}_{cfg.experiment}"
    save_pairs(
        table,
        info,
        Path(args.out),
        name,
        {"from image files (loader)": table["files_images_per_s"], "from the cache": table["cache_images_per_s"]},
        "images / s",
        f"describe from files vs cache: {info['device']}, {sh}x{sw} JPEG -> {h}x{w}, {args.workers} workers",
    )
    print(f"device: {info['device']}; {args.method} ({info['backbone']}), {sh}x{sw} JPEG -> {h}x{w}, batch {b}")
    print(
        f"from files: {table['files_images_per_s'].median():8.1f} images/s ({args.workers} workers); from the cache: "
        f"{table['cache_images_per_s'].median():8.1f} images/s"
    )
    print_ratios(table["ratio"].to_numpy())


if __name__ == "__main__":
    main()
