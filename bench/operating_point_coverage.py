"""How often the interval of a transferred precision covers the true value (evaluate.operating_point).

    python -m bench.operating_point_coverage --routes 200     # about 3 min on 2 CPU cores

A threshold is chosen on one synthetic route (`acmnet.data.synthetic_route`, world seed 0: day
references, `--condition` queries), with the SeqSLAM pixel describer (`acmnet.methods.pixels`,
16x16 patch-normalised) so that no training is needed, at `--target`. Routes re-rendered with new
world seeds (1..routes) are the other query sets: on each, the precision at that threshold and
its interval as the report makes it (`acmnet.evaluate.operating_point`: moving blocks of the
automatic length chosen from the R@1/5/10 hits, `resampled_statistic`, 1000 resamples). The true
value is the precision at the threshold over every other re-rendered route pooled (the accepted
queries' share of correct top-1s, leaving the route itself out). The measured coverage is written to
bench/results/operating_point_coverage.csv and printed.
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


def route(seed: int, places: int, condition: str, tolerance: int = 1, size: tuple[int, int] = (32, 32)) -> Route:
    """Render world `seed` (day references, `condition` queries) and match every query (top 10)."""
    world = build_world(seed, places, size)
    reference, query = describe(render_condition(world, "day")), describe(render_condition(world, condition))
    similarity = query @ reference.T
    top = np.argsort(-similarity, axis=1, kind="stable")[:, :10]
    hit = np.abs(top - np.arange(places)[:, None]) <= tolerance
    first = first_hit_ranks(hit)
    return Route(first == 1, similarity.max(axis=1), first)


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
    routes: int, places: int = 200, condition: str = "haze", target: str = "precision 0.9", resamples: int = 1000
) -> pd.DataFrame:
    """One row per re-rendered route (seeds 1..routes): its precision at the threshold chosen on
    route 0, its interval, the true value (the other routes pooled) and whether the interval covers it."""
    calibration = route(0, places, condition)
    threshold = choose_threshold(calibration.correct, calibration.scores, np.ones(places, bool), target)
    tests = [route(seed, places, condition) for seed in range(1, routes + 1)]
    tp = np.array([np.count_nonzero(t.correct & (t.scores >= threshold)) for t in tests], dtype=np.float64)
    accepted = np.array([np.count_nonzero(t.scores >= threshold) for t in tests], dtype=np.float64)
    rows = []
    for i, t in enumerate(tests):
        truth = (tp.sum() - tp[i]) / (accepted.sum() - accepted[i])
        lo, hi, block = interval(t, threshold, resamples, 0.95, seed=i)
        estimate = tp[i] / accepted[i] if accepted[i] else np.nan
        rows.append(
            {"route": i + 1, "threshold": threshold, "accepted": accepted[i], "precision": estimate, "lo": lo, "hi": hi}
            | {"block": block, "truth": truth, "covered": bool(lo <= truth <= hi)}
        )
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--routes", type=int, default=200)
    parser.add_argument("--places", type=int, default=200)
    parser.add_argument("--condition", default="haze")
    parser.add_argument("--target", default="precision 0.9")
    args = parser.parse_args()
    table = coverage(args.routes, args.places, args.condition, args.target)
    table.to_csv(RESULTS, index=False)
    print(table.describe().to_string())
    print(
        f"threshold {table['threshold'].iloc[0]:.4f} ({args.target} on route 0): the nominal 95% interval covered the "
        f"true precision on {table['covered'].mean():.1%} of {len(table)} re-rendered routes"
    )


if __name__ == "__main__":
    main()
