"""Uncertainty of recall@N: first-hit ranks and bootstrap intervals over queries.

Everything starts from each query's *first-hit rank*: the 1-based rank of its first correct
retrieval (a positive of the query, `acmnet.data.positives`) among the top K, or 0 when none of
the K is correct (`first_hit_ranks`). Recall@N is
the share of queries with 0 < rank <= N.

- `bootstrap_interval`: the percentile interval of recall@N over queries resampled with
  replacement (`resamples` resamples from a generator seeded with `seed`, so reruns give the same
  bounds). The queries are the unit resampled; the reference set is fixed.

- `resampled_recall`: the recall of several methods in the same resamples, which the intervals
  and the paired tests between methods (`acmnet.report.summary`) are read from.
"""

from __future__ import annotations

import numpy as np

CHUNK_ELEMENTS = 1 << 24  # gathered values held at once (128 MB of float64)


def first_hit_ranks(hit: np.ndarray) -> np.ndarray:
    """Per query, the 1-based rank of its first correct retrieval, or 0 when none of the K is:
    int64 (Q,) from `hit` bool (Q, K) (`acmnet.data.positives.PositiveSets.hits`)."""
    return np.where(hit.any(axis=1), hit.argmax(axis=1) + 1, 0).astype(np.int64)


def recall_at(ranks: np.ndarray, n: int) -> float:
    """Recall@n in percent from first-hit ranks."""
    return 100.0 * float(np.mean((ranks > 0) & (ranks <= n)))


def resampled_recall(hits: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """Recall (percent) of each row of `hits` (M, Q; 1.0 where the query is found) in each of
    `resamples` bootstrap resamples of the Q queries, the same resamples for every row:
    float64 (resamples, M). Drawn in chunks of at most CHUNK_ELEMENTS gathered values."""
    m, q = hits.shape
    rng = np.random.default_rng(seed)
    out = np.empty((resamples, m))
    per_chunk = max(1, CHUNK_ELEMENTS // max(q * m, 1))
    for start in range(0, resamples, per_chunk):
        count = min(per_chunk, resamples - start)
        picks = rng.integers(0, q, size=(count, q))
        out[start : start + count] = 100.0 * hits[:, picks].mean(axis=2).T
    return out


def bootstrap_interval(
    ranks: np.ndarray, ns: list[int], resamples: int = 1000, seed: int = 0, level: float = 0.95
) -> dict[int, tuple[float, float]]:
    """Percentile bootstrap interval of recall@n (percent) for each n in `ns`, over queries."""
    hits = np.stack([(ranks > 0) & (ranks <= n) for n in ns]).astype(np.float64)
    stats = resampled_recall(hits, resamples, seed)
    tail = 100.0 * (1.0 - level) / 2.0
    return {
        n: (float(np.percentile(stats[:, i], tail)), float(np.percentile(stats[:, i], 100.0 - tail)))
        for i, n in enumerate(ns)
    }
