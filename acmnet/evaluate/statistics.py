"""Uncertainty of recall@N: first-hit ranks, and bootstrap intervals and paired tests over queries
(in moving blocks where the queries are frames of one drive) and over training seeds.

Everything starts from each query's *first-hit rank*: the 1-based rank of its first correct
retrieval (a positive of the query, `acmnet.data.positives`) among the top K, or 0 when none of
the K is correct (`first_hit_ranks`). Recall@N is
the share of queries with 0 < rank <= N.

- `block_positions`: the moving-block bootstrap of Q queries in their given (recording) order:
  ceil(Q / block) runs of `block` consecutive queries, each starting at one of the Q - block + 1
  possible starts drawn uniformly, concatenated and cut to Q (Kuensch 1989; Liu & Singh 1992).
  Block 1 is the iid bootstrap. On a route, failures come in stretches (the per-query hits of
  consecutive frames are correlated), and iid resampling then gives intervals that are too narrow.
- `automatic_block`: the block length from the data (Politis & White 2004, corrected by Patton,
  Politis & White 2009), bounded to [1, Q // 4].
- `resampled_recall`: the recall of several methods in the same query resamples; a method trained
  with several seeds also has its seeds drawn with replacement in every resample (its hits are
  (S, Q), one row per seed; methods may have different S), so an interval covers both the query and
  the seed variation: it describes the training procedure, not the S trained models. The intervals
  (`bootstrap_interval`, `acmnet.report.summary`) and the paired tests (`two_sided_p`) are read from
  these resamples. Every draw comes from a generator seeded with `seed`, so reruns give the same
  numbers, and the resamples do not depend on how they are chunked to bound memory.
- p-values: (count + 1) / (resamples + 1) per one-sided tail, doubled and capped at 1 when
  two-sided, so the smallest p-value `resamples` resamples can give is 2 / (resamples + 1)
  (`p_floor`, printed by `p_text` as "p <= 0.002" for 1000 resamples); `holm` adjusts a family of
  them (the rows compared with one best).
- `too_few`: why a query set gives no interval and no test (too few queries or independent blocks).
  Every resampled statistic goes through `query_resamples`, which refuses such a set (`TooFew`), so
  no statistic, present or future, gets an interval or a test where R@N gets none.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

CHUNK_ELEMENTS = 1 << 24  # values gathered at once for one method (128 MB of float64)


def first_hit_ranks(hit: np.ndarray) -> np.ndarray:
    """Per query, the 1-based rank of its first correct retrieval, or 0 when none of the K is:
    int64 (Q,) from `hit` bool (Q, K) (`acmnet.data.positives.PositiveSets.hits`)."""
    return np.where(hit.any(axis=1), hit.argmax(axis=1) + 1, 0).astype(np.int64)


def recall_at(ranks: np.ndarray, n: int) -> float:
    """Recall@n in percent from first-hit ranks."""
    return 100.0 * float(np.mean((ranks > 0) & (ranks <= n)))


MIN_BLOCKS = 2  # independent blocks an interval or a test needs at the least
MIN_QUERIES = 5  # queries an interval or a test needs at the least, blocks aside


class TooFew(ValueError):
    """A query set too small for any bootstrap interval or test; the message says why (`too_few`)."""


def too_few(q: int, block: int) -> str | None:
    """Why Q queries in blocks of `block` support no bootstrap interval or test (plain text), or None
    when they do: fewer than MIN_QUERIES queries, or fewer than MIN_BLOCKS independent blocks
    (Q // block), in which every resample is (nearly) the whole set and gives a zero-width interval
    and a p-value at its floor that say nothing."""
    if q < MIN_QUERIES:
        return f"{q} {'query' if q == 1 else 'queries'}, fewer than the {MIN_QUERIES} an interval or a test needs"
    if q // max(int(block), 1) < MIN_BLOCKS:
        return (
            f"{q} queries hold {q // max(int(block), 1)} independent block(s) of {block}, fewer than the "
            f"{MIN_BLOCKS} an interval or a test needs"
        )
    return None


def query_resamples(q: int, block: int, rng: np.random.Generator, count: int) -> np.ndarray:
    """`block_positions` of the queries of one set for an interval or a test: the one guard every
    resampled statistic passes (`resampled_recall`, `resampled_statistic`). Raises `TooFew` (its
    message `too_few`'s reason) where Q queries in blocks of `block` are too few: int64 (count, Q)."""
    why = too_few(q, block)
    if why is not None:
        raise TooFew(why)
    return block_positions(q, block, rng, count)


def block_positions(q: int, block: int, rng: np.random.Generator, count: int) -> np.ndarray:
    """Query positions of `count` moving-block resamples of Q queries: int64 (count, Q).

    Each resample is ceil(Q / block) runs of `block` consecutive positions, each run starting at one
    of the Q - block + 1 possible starts (uniform: `rng.random` scaled), concatenated and cut to Q.
    Block 1 is the iid bootstrap; `block` is clipped to [1, Q]. The draws are one float64 per run in
    row order, so drawing 2 x count resamples gives the same positions as two calls of count each.
    """
    block = min(max(int(block), 1), q)
    starts = (rng.random((count, -(-q // block))) * (q - block + 1)).astype(np.int64)
    runs = starts[:, :, None] + np.arange(block)
    return runs.reshape(count, -1)[:, :q]


def _per_method(hits: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
    """Each method's hits as float64 (S_m, Q): a (Q,) array (one method, one seed), the rows of a
    (M, Q) array (one seed each), the (S, Q) slices of a (M, S, Q) array, or the items of a list of
    (S_m, Q) (or (Q,)) arrays, for methods with different numbers of seeds."""
    if isinstance(hits, np.ndarray):
        hits = hits[None] if hits.ndim == 1 else hits
        return [np.asarray(h, dtype=np.float64).reshape(-1, hits.shape[-1]) for h in hits]
    runs = [np.atleast_2d(np.asarray(h, dtype=np.float64)) for h in hits]
    if not runs or len({r.shape[1] for r in runs}) != 1 or min(len(r) for r in runs) == 0:
        raise ValueError("hits: every method needs at least one seed's hits over the same queries")
    return runs


def _seed_mean(per_seed: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The mean over S seeds drawn with replacement, per resample: float64 (count,) from the
    per-seed values `per_seed` (S, count); one seed: its values (no draw)."""
    s, count = per_seed.shape
    if s == 1:
        return per_seed[0]
    picks = (rng.random((count, s)) * s).astype(np.int64)
    weights = np.stack([(picks == i).sum(axis=1) for i in range(s)], axis=1) / s
    return (weights * per_seed.T).sum(axis=1)


def resampled_recall(hits: np.ndarray | Sequence[np.ndarray], resamples: int, seed: int, block: int = 1) -> np.ndarray:
    """Recall (percent) of each of M methods in each of `resamples` bootstrap resamples, the same
    query resamples (`block_positions`, blocks of `block` queries) for every method: float64
    (resamples, M). `hits`: 1.0 where the query is found, per method (S_m seeds, Q queries in their
    order) as `_per_method` reads them; a method's S_m seeds are drawn with replacement in each
    resample (its own generator) and averaged. Gathered in chunks of at most CHUNK_ELEMENTS values;
    the result does not depend on the chunking. Raises `TooFew` where the queries are too few for
    any interval or test (`query_resamples`)."""
    runs = _per_method(hits)
    q = runs[0].shape[1]
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(1 + len(runs))]
    out = np.empty((resamples, len(runs)))
    per_chunk = max(1, CHUNK_ELEMENTS // max(q * max(len(r) for r in runs), 1))
    for start in range(0, resamples, per_chunk):
        count = min(per_chunk, resamples - start)
        picks = query_resamples(q, block, streams[0], count)
        for m, (run, rng) in enumerate(zip(runs, streams[1:], strict=True)):
            out[start : start + count, m] = 100.0 * _seed_mean(run[:, picks].mean(axis=2), rng)
    return out


def percentile_interval(stats: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """The percentile interval at `level` of resampled statistics (resamples, M): (lo, hi), (M,) each."""
    tail = 100.0 * (1.0 - level) / 2.0
    return np.percentile(stats, tail, axis=0), np.percentile(stats, 100.0 - tail, axis=0)


def bootstrap_interval(
    ranks: np.ndarray, ns: list[int], resamples: int = 1000, seed: int = 0, level: float = 0.95, block: int = 1
) -> dict[int, tuple[float, float]]:
    """Percentile bootstrap interval of recall@n (percent) for each n in `ns`, over the queries of
    `ranks` (Q,) in their order, resampled in moving blocks of `block` (1: iid)."""
    hits = np.stack([(ranks > 0) & (ranks <= n) for n in ns]).astype(np.float64)
    lo, hi = percentile_interval(resampled_recall(hits, resamples, seed, block), level)
    return {n: (float(lo[i]), float(hi[i])) for i, n in enumerate(ns)}


def pooled_autocorrelation(series: np.ndarray, lags: int) -> np.ndarray:
    """Autocorrelation at lags 0..`lags` of several series over the same Q positions, pooled: the
    mean autocovariance (each series about its own mean, divided by Q) over the series, divided by
    its lag-0 value: float64 (lags + 1,), from `series` (n, Q) or (Q,); all zeros when every series
    is constant."""
    x = np.atleast_2d(np.asarray(series, dtype=np.float64))
    eps = x - x.mean(axis=1, keepdims=True)
    q = x.shape[1]
    acv = np.array([np.sum(eps[:, k:] * eps[:, : q - k]) for k in range(lags + 1)]) / (q * len(x))
    return acv / acv[0] if acv[0] > 0 else np.zeros(lags + 1)


def _flat_top(t: np.ndarray) -> np.ndarray:
    """Politis & Romano's flat-top (trapezoid) lag window: 1 up to 1/2, then linearly down to 0 at 1."""
    return np.clip(2.0 * (1.0 - np.abs(t)), 0.0, 1.0)


def _bandwidth(rho: np.ndarray, q: int, k_n: int) -> int:
    """Politis & White's M = 2 m: m the smallest lag after which the next `k_n` autocorrelations all lie
    within +/- 2 sqrt(log10(Q) / Q); the largest lag of `rho` when there is none."""
    band = 2.0 * math.sqrt(math.log10(q) / q)
    small = np.abs(rho) < band
    for m in range(len(rho) - k_n):
        if small[m + 1 : m + 1 + k_n].all():
            return min(2 * m, len(rho) - 1)
    return len(rho) - 1


def automatic_block(series: np.ndarray) -> int:
    """Block length (queries) for the moving-block bootstrap of the mean of `series` (n, Q) or (Q,):
    per-query hits in route order, several series (methods, seeds, N) pooled.

    Politis & White (2004), "Automatic block-length selection for the dependent bootstrap",
    Econometric Reviews 23(1), with the correction of Patton, Politis & White (2009), Econometric
    Reviews 28(4): b = (2 G^2 / D)^(1/3) Q^(1/3) for the circular (and moving) block bootstrap, with
    G = sum_k lambda(k/M) |k| rho(k), D = 4/3 (sum_k lambda(k/M) rho(k))^2 over |k| <= M, lambda the
    flat-top lag window and rho the pooled autocorrelation (`pooled_autocorrelation`), M = 2 m where m
    is the smallest lag after which the next K = max(5, sqrt(log10 Q)) autocorrelations all lie within
    +/- 2 sqrt(log10 Q / Q) (`_bandwidth`; at most sqrt(Q) + K lags are read). Rounded and bounded to
    [1, Q // 4]: 1 (iid) when no autocorrelation stands out, e.g. for independent queries.
    """
    x = np.atleast_2d(np.asarray(series, dtype=np.float64))
    q = x.shape[1]
    upper = max(1, q // 4)
    if upper == 1:
        return 1
    k_n = max(5, math.ceil(math.sqrt(math.log10(q))))
    rho = pooled_autocorrelation(x, min(q - 1, math.ceil(math.sqrt(q)) + k_n))
    width = _bandwidth(rho, q, k_n) if len(rho) > k_n + 1 else 0
    if width == 0:
        return 1
    k = np.arange(1, width + 1)
    window = _flat_top(k / width)
    g = 2.0 * np.sum(window * k * rho[k])
    spectrum = 1.0 + 2.0 * np.sum(window * rho[k])  # in units of the lag-0 autocovariance
    if spectrum <= 0.0:
        return 1
    b = (2.0 * g**2 / (4.0 / 3.0 * spectrum**2)) ** (1.0 / 3.0) * q ** (1.0 / 3.0)
    return int(min(max(round(b), 1), upper))


def one_sided_p(diff: np.ndarray) -> np.ndarray:
    """Bootstrap p-value of "diff > 0" from resampled differences (resamples, k): (count of resamples
    with diff <= 0, + 1) / (resamples + 1), float64 (k,)."""
    diff = np.asarray(diff)
    return ((diff <= 0).sum(axis=0) + 1.0) / (len(diff) + 1.0)


def two_sided_p(diff: np.ndarray) -> np.ndarray:
    """Two-sided bootstrap p-value of diff != 0 from resampled differences (resamples, k): twice the
    smaller one-sided p-value (`one_sided_p`), capped at 1: float64 (k,)."""
    return np.minimum(1.0, 2.0 * np.minimum(one_sided_p(diff), one_sided_p(-np.asarray(diff))))


def p_floor(resamples: int) -> float:
    """The smallest two-sided p-value `resamples` resamples can give: 2 / (resamples + 1)."""
    return 2.0 / (resamples + 1.0)


def p_text(p: float, resamples: int) -> str:
    """A two-sided p-value as text: "p = 0.012", or "p <= 0.002" at its floor (`p_floor`, rounded
    up). The p-values come in steps of the floor, so any p below 1.5 floors (rounding of a stored
    value included) is the floor."""
    floor = p_floor(resamples)
    if p < 1.5 * floor:
        digits = max(3, -math.floor(math.log10(floor)))
        return f"p <= {math.ceil(floor * 10**digits - 1e-9) / 10**digits:.{digits}f}"
    return f"p = {p:.3f}" if p >= 0.001 else f"p = {p:.1g}"


def holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment of k p-values (one family of tests): the i-th smallest p times
    (k - i + 1) (i from 1), made monotone by a running maximum and capped at 1; NaN entries are left
    out of the family and stay NaN: float64 (k,)."""
    p = np.asarray(p, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    present = np.flatnonzero(~np.isnan(p))
    order = present[np.argsort(p[present], kind="stable")]
    scaled = p[order] * (len(order) - np.arange(len(order)))
    out[order] = np.minimum(1.0, np.maximum.accumulate(scaled)) if len(order) else scaled
    return out


def resampled_statistic(
    runs: Sequence[tuple[np.ndarray, ...]],
    statistic: Callable[..., float],
    resamples: int,
    seed: int,
    block: int = 1,
) -> np.ndarray:
    """Any per-query statistic of each of M methods in the resamples of `resampled_recall` (for the
    same `seed`, `block` and methods' seed counts, the same query positions and the same seeds
    drawn): float64 (resamples, M). `runs[m]`: the method's per-query arrays, each (S_m, Q) (e.g.
    top-1 labels and scores); `statistic(*arrays)` of one seed's resampled (Q,) arrays, NaN where
    undefined. A resample's value is the mean over the seeds drawn (NaN when a drawn seed's is).
    Raises `TooFew` as `resampled_recall` does (`query_resamples`)."""
    runs = [tuple(np.atleast_2d(np.asarray(a)) for a in arrays) for arrays in runs]
    q = runs[0][0].shape[1]
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(1 + len(runs))]
    out = np.empty((resamples, len(runs)))
    per_chunk = max(1, CHUNK_ELEMENTS // max(q * max(len(r[0]) for r in runs), 1))
    for start in range(0, resamples, per_chunk):
        count = min(per_chunk, resamples - start)
        picks = query_resamples(q, block, streams[0], count)
        for m, (arrays, rng) in enumerate(zip(runs, streams[1:], strict=True)):
            s = len(arrays[0])
            per_seed = np.array([[statistic(*(a[i, p] for a in arrays)) for p in picks] for i in range(s)])
            if s == 1:
                out[start : start + count, m] = per_seed[0]
                continue
            drawn = (rng.random((count, s)) * s).astype(np.int64)  # as `_seed_mean` draws them
            out[start : start + count, m] = np.take_along_axis(per_seed.T, drawn, axis=1).mean(axis=1)
    return out
