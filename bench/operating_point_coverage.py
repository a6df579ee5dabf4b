"""How often the interval of a transferred precision covers the true value (evaluate.operating_point).

    python -m bench.operating_point_coverage --routes 200     # about 3 min on 2 CPU cores

A threshold is chosen on one synthetic route (`acmnet.data.synthetic_route`, world seed 0: day
references, `--condition` queries), with the SeqSLAM pixel describer (`acmnet.methods.pixels`,
16x16 patch-normalised) so that no training is needed, at `--target`. Routes re-rendered with new
world seeds (1..routes) are the other query sets: on each, the precision at that threshold and
its interval as the report makes it (`acmnet.evaluate.operating_point`: moving blocks of the
automatic length chosen from the R@1/5/10 hits, `resampled_statistic`, 1000 resamples). The true
value is the precision at the threshold over every other re-rendered route pooled (the accepted
queries' share of correct top-1s, leaving the route itself out): what a new route of this kind
gives. With `--stretches K` each world is also rendered K - 1 stretches further, and the world's
own value (those stretches pooled) is a second truth. The table is written to `--out`
(bench/results/operating_point_coverage*.csv) and the coverage printed:

    python -m bench.operating_point_coverage --routes 100 --stretches 4 \
        --out bench/results/operating_point_coverage_world.csv                  # about 10 min
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from acmnet.data.synthetic_route import build_world, render_condition
from acmnet.device import to_float_images
from acmnet.evaluate.operating_point import at_threshold, choose_threshold
from acmnet.evaluate.statistics import automatic_block, first_hit_ranks, resampled_statistic
from acmnet.methods.pixels import PixelDescriber

RESULTS = Path(__file__).parent / "results" / "operating_point_coverage.csv"


@dataclass(frozen=True)
class Route:
    """One rendered route's top-1 labels, scores and first-hit ranks (Q,) each."""

    correct: np.ndarray
    scores: np.ndarray
    first_hit: np.ndarray


def describe(images: np.ndarray) -> np.ndarray:
    """Pixel descriptors of uint8 (n, H, W, 3) images: float32 (n, 256), unit norm."""
    with torch.no_grad():
        return PixelDescriber((16, 16), 8)(to_float_images(images, torch.device("cpu"))).numpy()


def _match(reference: np.ndarray, query: np.ndarray, tolerance: int) -> Route:
    """Every query against the references of the same places (top 10; positives within `tolerance`)."""
    similarity = query @ reference.T
    top = np.argsort(-similarity, axis=1, kind="stable")[:, :10]
    hit = np.abs(top - np.arange(len(query))[:, None]) <= tolerance
    first = first_hit_ranks(hit)
    return Route(first == 1, similarity.max(axis=1), first)


def routes(
    seed: int, places: int, condition: str, stretches: int = 1, tolerance: int = 1, size: tuple[int, int] = (32, 32)
) -> list[Route]:
    """World `seed` rendered along `stretches` consecutive stretches of `places` places (day
    references, `condition` queries; a route is a prefix of a longer one of the same world), each
    stretch matched against its own references."""
    world = build_world(seed, places * stretches, size)
    reference, query = describe(render_condition(world, "day")), describe(render_condition(world, condition))
    return [
        _match(reference[k * places : (k + 1) * places], query[k * places : (k + 1) * places], tolerance)
        for k in range(stretches)
    ]


def route(seed: int, places: int, condition: str) -> Route:
    """The first stretch of world `seed` (`routes`)."""
    return routes(seed, places, condition)[0]


def _precision(stretches: list[Route], threshold: float) -> float:
    """The precision at `threshold` of several stretches pooled."""
    tp = sum(np.count_nonzero(r.correct & (r.scores >= threshold)) for r in stretches)
    accepted = sum(np.count_nonzero(r.scores >= threshold) for r in stretches)
    return tp / accepted if accepted else np.nan


def interval(r: Route, threshold: float, resamples: int, level: float, seed: int) -> tuple[float, float, int]:
    """The report's interval of the precision at `threshold` on route `r`: (lo, hi, block)."""
    hits = np.stack([(r.first_hit > 0) & (r.first_hit <= n) for n in (1, 5, 10)]).astype(np.float64)
    block = automatic_block(hits)
    positive = np.ones_like(r.correct)
    arrays = (r.correct, r.scores, positive, np.full(len(r.correct), threshold))
    precision = lambda c, s, h, t: at_threshold(c, s, h, t[0])["precision"]
    boot = resampled_statistic([arrays], precision, resamples, seed, block)
    finite = boot[np.isfinite(boot[:, 0]), 0]
    tail = 100.0 * (1.0 - level) / 2.0
    return float(np.percentile(finite, tail)), float(np.percentile(finite, 100.0 - tail)), block


def coverage(
    count: int,
    places: int = 200,
    condition: str = "haze",
    target: str = "precision 0.9",
    resamples: int = 1000,
    stretches: int = 1,
) -> pd.DataFrame:
    """One row per re-rendered route (world seeds 1..count): its precision at the threshold chosen
    on world 0, its interval, and two true values with whether the interval covers each: `truth`,
    every other route pooled (the precision a new route of this kind has), and, with `stretches` > 1,
    `truth_world`, the same world's next `stretches` - 1 stretches pooled (this world's own value)."""
    calibration = route(0, places, condition)
    threshold = choose_threshold(calibration.correct, calibration.scores, np.ones(places, bool), target)
    worlds = [routes(seed, places, condition, stretches) for seed in range(1, count + 1)]
    tests = [w[0] for w in worlds]
    tp = np.array([np.count_nonzero(t.correct & (t.scores >= threshold)) for t in tests], dtype=np.float64)
    accepted = np.array([np.count_nonzero(t.scores >= threshold) for t in tests], dtype=np.float64)
    rows = []
    for i, t in enumerate(tests):
        truth = (tp.sum() - tp[i]) / (accepted.sum() - accepted[i])
        lo, hi, block = interval(t, threshold, resamples, 0.95, seed=i)
        row = {"route": i + 1, "threshold": threshold, "accepted": accepted[i], "precision": _precision([t], threshold)}
        row |= {"lo": lo, "hi": hi, "block": block, "truth": truth, "covered": bool(lo <= truth <= hi)}
        if stretches > 1:
            world = _precision(worlds[i][1:], threshold)
            row |= {"truth_world": world, "covered_world": bool(lo <= world <= hi)}
        rows.append(row)
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--routes", type=int, default=200)
    parser.add_argument("--places", type=int, default=200)
    parser.add_argument("--condition", default="haze")
    parser.add_argument("--target", default="precision 0.9")
    parser.add_argument("--stretches", type=int, default=1, help="stretches per world (> 1: also its own value)")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"CSV to write (default {RESULTS})")
    args = parser.parse_args()
    table = coverage(args.routes, args.places, args.condition, args.target, stretches=args.stretches)
    table.to_csv(args.out, index=False)
    print(table.describe().to_string())
    print(
        f"threshold {table['threshold'].iloc[0]:.4f} ({args.target} on route 0): the nominal 95% interval covered the "
        f"true precision on {table['covered'].mean():.1%} of {len(table)} re-rendered routes"
        + (f", the world's own on {table['covered_world'].mean():.1%}" if "covered_world" in table else "")
    )


if __name__ == "__main__":
    main()
