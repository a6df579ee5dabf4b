"""Rendering time of the demo's synthetic route to disk (not a test).

    python -m bench.synthetic_route_speed                       # the demo size: 300 places x 4 conditions
    python -m bench.synthetic_route_speed --places 1000 --size 192 256

Renders the route with `acmnet.data.synthetic_route.render_route` (world, shading, PNG files and
route.csv) into a temporary folder, `--repeats` times, and prints each run's wall-clock seconds
and the median as `seconds:`. The demo's goal: well under a minute on 2 CPU cores (the time the
`synthesize` rule takes in the demo pipeline). Writes a CSV (machine, versions, every run) and a
plot under bench/results/.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from acmnet.data.synthetic_route import render_route
from bench.common import machine, save_plot, write_rows

DEMO_CONDITIONS = ["day", "winter", "night", "haze"]


def render_seconds(places: int, conditions: list[str], size: tuple[int, int], seed: int) -> float:
    """Wall-clock seconds of one render of the route to a fresh temporary folder."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        render_route(Path(tmp), places, conditions, seed=seed, image_size=size)
        return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--places", type=int, default=300)
    parser.add_argument("--conditions", nargs="+", default=DEMO_CONDITIONS)
    parser.add_argument("--size", type=int, nargs=2, default=(96, 128), metavar=("H", "W"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="bench/results")
    args = parser.parse_args(argv)
    size = (args.size[0], args.size[1])
    runs = [render_seconds(args.places, args.conditions, size, args.seed) for _ in range(args.repeats)]
    images = args.places * len(args.conditions)
    for i, seconds in enumerate(runs):
        print(f"run {i}: {seconds:.2f} s ({images / seconds:.0f} images/s)")
    print(f"{args.places} places x {len(args.conditions)} conditions at {size[0]}x{size[1]}")
    print(f"seconds: {float(np.median(runs)):.2f}")
    name = f"synthetic_route_speed_{args.places}x{len(args.conditions)}_{size[0]}x{size[1]}"
    table = pd.DataFrame({"run": range(len(runs)), "seconds": runs, "images": images})
    write_rows(table.assign(**machine(torch.device("cpu"))), Path(args.out) / f"{name}.csv")
    title = f"render_route: {args.places} places x {len(args.conditions)} conditions at {size[0]}x{size[1]}"
    save_plot(Path(args.out) / f"{name}.png", table["run"], {"seconds": runs}, "run", "seconds", title)


if __name__ == "__main__":
    main()
