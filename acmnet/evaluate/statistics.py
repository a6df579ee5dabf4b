"""Uncertainty of recall@N: first-hit ranks and bootstrap intervals over queries.

Everything starts from each query's *first-hit rank*: the 1-based rank of its first correct
retrieval among the top K, or 0 when none of the K is correct (`first_hit_ranks`). Recall@N is
the share of queries with 0 < rank <= N.

- `bootstrap_interval`: the percentile interval of recall@N over queries resampled with
  replacement (`resamples` resamples from a generator seeded with `seed`, so reruns give the same
  bounds). The queries are the unit resampled; the reference set is fixed.

Paired tests between methods resample the same queries for both (`acmnet.report.summary`).
"""

from __future__ import annotations

import numpy as np

CHUNK_ELEMENTS = 1 << 24  # resampled query indices held at once (128 MB of int64)


def first_hit_ranks(
    query_places: np.ndarray, reference_places: np.ndarray, indices: np.ndarray, tolerance: int
) -> np.ndarray:
    """Per query, the 1-based rank of the first retrieval within +/- `tolerance` places, or 0: int64 (Q,)."""
    hit = np.abs(reference_places[indices] - query_places[:, None]) <= tolerance
    return np.where(hit.any(axis=1), hit.argmax(axis=1) + 1, 0).astype(np.int64)


def recall_at(ranks: np.ndarray, n: int) -> float:
    """Recall@n in percent from first-hit ranks."""
    return 100.0 * float(np.mean((ranks > 0) & (ranks <= n)))


def bootstrap_interval(
    ranks: np.ndarray, ns: list[int], resamples: int = 1000, seed: int = 0, level: float = 0.95
) -> dict[int, tuple[float, float]]:
    """Percentile bootstrap interval of recall@n (percent) for each n in `ns`, over queries."""
    q = len(ranks)
    rng = np.random.default_rng(seed)
    found = {n: ((ranks > 0) & (ranks <= n)).astype(np.float64) for n in ns}
    stats = {n: np.empty(resamples) for n in ns}
    per_chunk = max(1, CHUNK_ELEMENTS // max(q, 1))
    for start in range(0, resamples, per_chunk):
        count = min(per_chunk, resamples - start)
        picks = rng.integers(0, q, size=(count, q))
        for n in ns:
            stats[n][start : start + count] = 100.0 * found[n][picks].mean(axis=1)
    tail = 100.0 * (1.0 - level) / 2.0
    return {n: (float(np.percentile(stats[n], tail)), float(np.percentile(stats[n], 100.0 - tail))) for n in ns}
