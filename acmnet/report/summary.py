"""The experiment's summary: one row per (dataset, query set, method), its runs over seeds merged,
with a bootstrap interval over queries and a paired test against the best method.

From every run's per-query first-hit ranks (`ranks.csv` of `acmnet score`):

- `R@N`: recall@N of the method; with several seeds, the mean over seeds, and `R@N_sd` their
  standard deviation (n - 1; empty with one seed).
- `R@N_lo`, `R@N_hi`: the percentile bootstrap interval of that recall over queries (the same
  query resamples for every method of the query set; seeds are averaged within each resample).
- `R@N_p`: the two-sided paired-bootstrap p-value of the difference to the best method of the
  query set at that N (1 for the best itself): the share of resamples in which the difference
  falls on the other side of zero, doubled; `R@N_same` marks a difference that is not
  significant at the configured confidence (p >= 1 - confidence). Single-image rows are compared
  with the best single-image row, sequence-matching rows (`+seq<L>`) with the best of theirs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from acmnet.config import EvaluateConfig, split_seed
from acmnet.evaluate.statistics import resampled_recall


def _hit_matrix(ranks: pd.DataFrame, n: int) -> tuple[list[str], list[int], np.ndarray]:
    """(base methods, seeds per method, hits (M, Q) averaged over each method's seeds) of one query set."""
    base = ranks["method"].map(lambda m: split_seed(m)[0])
    hits = ranks.assign(base=base, hit=((ranks["first_hit"] > 0) & (ranks["first_hit"] <= n)).astype(float))
    table = hits.pivot_table(index="base", columns="query_row", values="hit", aggfunc="mean", sort=False)
    seeds = hits.groupby("base", sort=False)["method"].nunique()
    methods = list(table.index)
    return methods, [int(seeds[m]) for m in methods], table.to_numpy()


def _seed_sd(ranks: pd.DataFrame, methods: list[str], n: int) -> list[float]:
    """Standard deviation over seeds of each method's recall@n (NaN with one seed)."""
    per_run = ranks.groupby("method", sort=False)["first_hit"].apply(lambda r: 100.0 * np.mean((r > 0) & (r <= n)))
    bases = per_run.index.map(lambda m: split_seed(m)[0])
    sd = per_run.groupby(bases, sort=False).std(ddof=1)
    return [float(sd.get(m, np.nan)) for m in methods]


def _columns(ranks: pd.DataFrame, n: int, ev: EvaluateConfig) -> pd.DataFrame:
    """The R@n columns of one query set, one row per base method."""
    methods, seeds, hits = _hit_matrix(ranks, n)
    recall = 100.0 * hits.mean(axis=1)
    boot = resampled_recall(hits, ev.bootstrap_resamples, ev.bootstrap_seed)
    tail = 100.0 * (1.0 - ev.confidence) / 2.0
    family = np.array(["+seq" in m for m in methods])
    p = np.ones(len(methods))
    for members in (np.flatnonzero(~family), np.flatnonzero(family)):
        if len(members):
            best = members[np.argmax(recall[members])]
            diff = boot[:, [best]] - boot[:, members]
            p[members] = np.minimum(1.0, 2.0 * np.minimum((diff <= 0).mean(axis=0), (diff >= 0).mean(axis=0)))
            p[best] = 1.0
    return pd.DataFrame(
        {
            "method": methods,
            "n_seeds": seeds,
            f"R@{n}": recall.round(2),
            f"R@{n}_lo": np.percentile(boot, tail, axis=0).round(2),
            f"R@{n}_hi": np.percentile(boot, 100.0 - tail, axis=0).round(2),
            f"R@{n}_sd": np.round(_seed_sd(ranks, methods, n), 2),
            f"R@{n}_p": p.round(4),
            f"R@{n}_same": p >= 1.0 - ev.confidence,
        }
    )


def summarise(metrics: pd.DataFrame, ranks: pd.DataFrame, ev: EvaluateConfig) -> pd.DataFrame:
    """The summary table (see the module docstring), in the order of `metrics`."""
    parts = []
    counts = metrics.assign(method=metrics["method"].map(lambda m: split_seed(m)[0]))
    counts = counts.drop_duplicates(["dataset", "queries", "method"])[
        ["dataset", "queries", "method", "n_queries", "n_references", "tolerance"]
    ]
    for (dataset, queries), group in ranks.groupby(["dataset", "queries"], sort=False):
        table = None
        for n in ev.recall_at:
            cols = _columns(group, n, ev)
            table = cols if table is None else table.merge(cols.drop(columns="n_seeds"), on="method")
        parts.append(table.assign(dataset=dataset, queries=queries))
    summary = pd.concat(parts, ignore_index=True).merge(counts, on=["dataset", "queries", "method"])
    first = ["dataset", "queries", "method", "n_seeds"]
    return summary[first + [c for c in summary.columns if c not in first]]


def markdown(summary: pd.DataFrame, recall_at: list[int]) -> str:
    """The summary as a Markdown table (tabulate): R@N with its interval, sd over seeds, p vs best."""
    from tabulate import tabulate

    rows = []
    for _, r in summary.iterrows():
        cells = [r["dataset"], r["queries"], r["method"], int(r["n_seeds"])]
        for n in recall_at:
            sd = "" if np.isnan(r[f"R@{n}_sd"]) else f" sd {r[f'R@{n}_sd']:.1f}"
            p = r[f"R@{n}_p"]
            p = "best" if p >= 1.0 else "p<0.001" if p < 0.001 else f"p={p:.3f}"
            cells.append(f"{r[f'R@{n}']:.1f} [{r[f'R@{n}_lo']:.1f}, {r[f'R@{n}_hi']:.1f}]{sd} ({p})")
        rows.append(cells)
    headers = ["dataset", "queries", "method", "seeds", *[f"R@{n} [interval] (vs best)" for n in recall_at]]
    return tabulate(rows, headers=headers, tablefmt="github")
