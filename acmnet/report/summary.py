"""The experiment's summary: one row per (dataset, query set, method), its runs over seeds merged,
with a bootstrap interval over queries and seeds and a paired test against the best method.

From every run's per-query first-hit ranks (`ranks.csv` of `acmnet score`), each query set's
queries in manifest order (`query_row`, recording order on a dataset with a route order):

- `R@N`: recall@N of the method; with several seeds, the mean over seeds, and `R@N_sd` their
  standard deviation (n - 1; empty with one seed).
- `R@N_lo`, `R@N_hi`: the percentile bootstrap interval of that recall
  (`acmnet.evaluate.statistics.resampled_recall`): the same query resamples for every method of the
  query set, in moving blocks of `bootstrap_block` consecutive queries on a dataset with a route
  order (`acmnet.evaluate.metrics.block_length`: one length per query set, from
  `evaluate.bootstrap_block` or chosen from the hits of all its runs at every reported N), iid
  otherwise (`bootstrap_block` 1); a method's seeds are drawn with replacement in every resample
  too, so the interval covers the variation over training runs as well as over queries (with
  2 or 3 seeds it still understates the former).
- `R@N_p`: the two-sided paired-bootstrap p-value of the difference to the best method of the
  query set at that N (1 for the best itself): (resamples in which the difference falls on the
  other side of zero, + 1) / (resamples + 1) per tail, doubled (`two_sided_p`; at least
  2 / (resamples + 1)). Single-image rows are compared with the best single-image row,
  sequence-matching rows (`+seq<L>`) with the best of theirs.
- `R@N_holm`: that p adjusted by Holm over its family, every test made against the same best row
  (every row of the family but the best itself: rows tied with it and rows whose capped p is 1
  stay in; empty for the best and where there is no test). `R@N_same` marks a difference that is
  not significant at the configured confidence after that adjustment (`R@N_holm` >= 1 - confidence),
  which is what the daggers of `recall.tex` show.
- Where a query set is too small for an interval (`acmnet.evaluate.statistics.too_few`: fewer than
  MIN_QUERIES queries or MIN_BLOCKS independent blocks), `R@N_lo`, `R@N_hi` and `R@N_p` are empty
  and `markdown` says why; `markdown` prints the Holm-adjusted p-values beside the raw ones where a
  family holds several tests.
- `R@N_p_first` (only with a `kind: reranked` row): the same paired test of a re-ranked row against
  the first stage it re-ranked (NaN on other rows); `summary.md` prints it after the table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from acmnet.config import Config, EvaluateConfig, split_seed
from acmnet.evaluate.metrics import block_length
from acmnet.evaluate.signature import legend, short_of, signature_column
from acmnet.evaluate.statistics import (
    TooFew,
    bootstrap_interval,
    holm,
    p_text,
    percentile_interval,
    resampled_recall,
    too_few,
    two_sided_p,
)
from acmnet.methods.reranked import first_stage


def _first_hits(ranks: pd.DataFrame) -> tuple[list[str], np.ndarray]:
    """(run names, first-hit ranks (R runs, Q) with the queries in `query_row` order) of one query set."""
    table = ranks.pivot(index="method", columns="query_row", values="first_hit").sort_index(axis=1)
    runs = list(dict.fromkeys(ranks["method"]))
    table = table.loc[runs]
    if table.isna().to_numpy().any():
        raise ValueError(f"the runs {runs} of one query set must rank the same queries")
    return runs, table.to_numpy()


def _by_method(runs: list[str]) -> dict[str, list[int]]:
    """Base method (seed mark removed) -> positions of its runs, in order of first appearance."""
    out: dict[str, list[int]] = {}
    for i, run in enumerate(runs):
        out.setdefault(split_seed(run)[0], []).append(i)
    return out


def _families(recall: np.ndarray, methods: list[str]) -> list[tuple[np.ndarray, int]]:
    """(members, best) of each family of rows (single-image, `+seq`) that has members: the positions
    of its rows and that of its best row (the first of the highest point estimates `recall` (M,))."""
    seq = np.array(["+seq" in m for m in methods])
    out = []
    for members in (np.flatnonzero(~seq), np.flatnonzero(seq)):
        if len(members):
            out.append((members, int(members[np.argmax(recall[members])])))
    return out


def _paired_p(boot: np.ndarray, recall: np.ndarray, methods: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided p-value of each method against the best of its family (single-image or `+seq`),
    from resampled recalls `boot` (resamples, M) and the point estimates `recall` (M,), and its Holm
    adjustment over every test made against that best row (all the family's rows but the best, ties
    and capped p = 1 included; NaN for the best): (M,) each."""
    p, adjusted = np.ones(len(methods)), np.full(len(methods), np.nan)
    for members, best in _families(recall, methods):
        p[members] = two_sided_p(boot[:, [best]] - boot[:, members])
        p[best] = 1.0
        tested = members[members != best]
        adjusted[tested] = holm(p[tested])
    return p, adjusted


def _first_stage_p(boot: np.ndarray, methods: list[str], first: dict[str, str]) -> np.ndarray:
    """Two-sided paired p-value of each re-ranked method against its first stage (same resamples);
    NaN for the other methods: (M,)."""
    p = np.full(len(methods), np.nan)
    for i, method in enumerate(methods):
        if first.get(method) in methods:
            p[i] = two_sided_p(boot[:, [methods.index(first[method])]] - boot[:, [i]])[0]
    return p


def _columns(
    hits: list[np.ndarray],
    methods: list[str],
    n: int,
    ev: EvaluateConfig,
    block: int,
    first: dict[str, str] | None = None,
) -> pd.DataFrame:
    """The R@n columns of one query set, one row per method, from each method's hits (S_m seeds, Q);
    `first` maps a re-ranked method to its first stage (`R@n_p_first`)."""
    recall = np.array([100.0 * h.mean() for h in hits])  # the mean over seeds (same queries)
    sd = [float(np.std(100.0 * h.mean(axis=1), ddof=1)) if len(h) > 1 else np.nan for h in hits]
    try:
        boot = resampled_recall(hits, ev.bootstrap_resamples, ev.bootstrap_seed, block)
        lo, hi = percentile_interval(boot, ev.confidence)
        p, adjusted = _paired_p(boot, recall, methods)
        p_first = _first_stage_p(boot, methods, first) if first else None
    except TooFew:  # too few queries or blocks: no interval and no test (`markdown` and the caption say why)
        lo = hi = p = adjusted = np.full(len(methods), np.nan)
        p_first = np.full(len(methods), np.nan) if first else None
    extra = {f"R@{n}_p_first": p_first.round(4)} if first else {}
    return pd.DataFrame(
        {
            "method": methods,
            f"R@{n}": recall.round(2),
            f"R@{n}_lo": lo.round(2),
            f"R@{n}_hi": hi.round(2),
            f"R@{n}_sd": np.round(sd, 2),
            f"R@{n}_p": p.round(4),
            f"R@{n}_holm": adjusted.round(4),
            f"R@{n}_same": np.where(np.isnan(adjusted), p, adjusted) >= 1.0 - ev.confidence,
            **extra,
        }
    )


def _query_set(ranks: pd.DataFrame, cfg: Config, dataset: str, queries: str) -> pd.DataFrame:
    """The summary rows of one query set: seeds, R@N columns for every reported N, block length."""
    ev = cfg.evaluate
    runs, first = _first_hits(ranks)
    groups = _by_method(runs)
    hits = {n: ((first > 0) & (first <= n)).astype(np.float64) for n in ev.recall_at}
    block = block_length(cfg, dataset, np.concatenate(list(hits.values())), queries)
    table = pd.DataFrame({"method": list(groups), "n_seeds": [len(rows) for rows in groups.values()]})
    stages = {m: f for m in groups if (f := first_stage(cfg, _any_run(cfg, m)))}
    for n in ev.recall_at:
        cols = _columns([hits[n][rows] for rows in groups.values()], list(groups), n, ev, block, stages)
        table = table.merge(cols, on="method")
    return table.assign(bootstrap_block=block)


def _any_run(cfg: Config, method: str) -> str:
    """A configured row of base method `method` (its first seed's row for a trained method)."""
    return next((m for m in cfg.methods if split_seed(m)[0] == method), method)


def summarise(metrics: pd.DataFrame, ranks: pd.DataFrame, cfg: Config) -> pd.DataFrame:
    """The summary table (see the module docstring), in the order of `metrics`; `cfg` gives the
    evaluate settings and each dataset's route order."""
    counts = metrics.assign(method=metrics["method"].map(lambda m: split_seed(m)[0]))
    counts = counts.drop_duplicates(["dataset", "queries", "method"])[
        ["dataset", "queries", "method", "n_queries", "n_references", "tolerance", *signature_column(metrics)]
    ]
    parts = [
        _query_set(group, cfg, dataset, queries).assign(dataset=dataset, queries=queries)
        for (dataset, queries), group in ranks.groupby(["dataset", "queries"], sort=False)
    ]
    summary = pd.concat(parts, ignore_index=True).merge(counts, on=["dataset", "queries", "method"])
    first, last = ["dataset", "queries", "method", "n_seeds"], ["bootstrap_block"]
    return summary[first + [c for c in summary.columns if c not in first + last] + last]


def floor_run_blocks(
    metrics: pd.DataFrame, ranks: pd.DataFrame, summary: pd.DataFrame, ev: EvaluateConfig
) -> pd.DataFrame:
    """The merged per-run metrics with every run's `bootstrap_block` floored at the pooled block of
    its query set (the summary's): a run whose own hits gave a shorter block (down to 1, iid, on a
    route) gets its `R@N_lo`/`R@N_hi` recomputed from its ranks in the pooled blocks, so no per-run
    interval on route data is narrowed by one run's hits showing little dependence. Unchanged
    without `bootstrap_block` columns (hand-made files)."""
    if "bootstrap_block" not in metrics.columns or "bootstrap_block" not in summary.columns:
        return metrics
    pooled = summary.drop_duplicates(["dataset", "queries"]).set_index(["dataset", "queries"])["bootstrap_block"]
    out = metrics.copy()
    for i, row in metrics.iterrows():
        block = int(pooled.get((row["dataset"], row["queries"]), 0))
        if pd.isna(row["bootstrap_block"]) or int(row["bootstrap_block"]) >= block:
            continue
        mine = ranks[(ranks["dataset"] == row["dataset"]) & (ranks["queries"] == row["queries"])]
        first = mine[mine["method"] == row["method"]].sort_values("query_row")["first_hit"].to_numpy()
        try:
            bounds = bootstrap_interval(
                first, ev.recall_at, ev.bootstrap_resamples, ev.bootstrap_seed, ev.confidence, block
            )
        except TooFew:
            bounds = dict.fromkeys(ev.recall_at, (np.nan, np.nan))
        for n, (lo, hi) in bounds.items():
            out.loc[i, [f"R@{n}_lo", f"R@{n}_hi"]] = round(lo, 2), round(hi, 2)
        out.loc[i, "bootstrap_block"] = block
    return out


def _blocks_text(blocks: dict[str, int]) -> str:
    """How the queries of one dataset were resampled, from its query sets' block lengths."""
    lengths = set(blocks.values())
    if lengths == {1}:
        return "queries iid"
    if len(lengths) == 1:
        return f"moving blocks of {lengths.pop()} queries"
    return "moving blocks of " + ", ".join(f"{b} ({q})" for q, b in blocks.items()) + " queries"


def resampling_text(summary: pd.DataFrame) -> str:
    """What the intervals and tests resample on each dataset (plain text), from the summary's
    `bootstrap_block` and `n_seeds`: e.g. "demo_route: moving blocks of 7 queries and the 2 training
    seeds resampled; pitts: queries iid"."""
    parts = []
    for dataset, group in summary.groupby("dataset", sort=False):
        sets = group.drop_duplicates("queries")
        text = _blocks_text(dict(zip(sets["queries"], sets["bootstrap_block"].astype(int), strict=True)))
        seeds = sorted({int(s) for s in group["n_seeds"] if s > 1})
        if seeds:
            text += f" and the {' or '.join(map(str, seeds))} training seeds resampled"
        parts.append(f"{dataset}: {text}")
    return "; ".join(parts)


def without_interval(summary: pd.DataFrame) -> dict[tuple[str, str], str]:
    """(dataset, query set) -> why it has no interval and no test (`too_few`), for the sets without
    (none when the table lacks the counts, `n_queries` and `bootstrap_block`)."""
    if not {"n_queries", "bootstrap_block"} <= set(summary.columns):
        return {}
    sets = summary.drop_duplicates(["dataset", "queries"])
    reasons = {
        (d, q): too_few(int(n), int(b))
        for d, q, n, b in zip(sets["dataset"], sets["queries"], sets["n_queries"], sets["bootstrap_block"], strict=True)
    }
    return {key: why for key, why in reasons.items() if why is not None}


COVERAGE_NOTE = "docs/statistics.md, 'Over queries'"  # where the simulated coverage of the intervals is stated


def level_text(confidence: float) -> str:
    """The intervals' level as every table prints it: "nominal 95%" (their real coverage on route data
    is below it: `COVERAGE_NOTE`)."""
    return f"nominal {100 * confidence:g}%"


def method_text(ev: EvaluateConfig) -> str:
    """How the intervals and tests of the summary are made, with their level (plain text)."""
    level = f"{100 * ev.confidence:g}%"
    return (
        f"{level_text(ev.confidence)} percentile bootstrap intervals ({ev.bootstrap_resamples} resamples, seed "
        f"{ev.bootstrap_seed}; coverage below nominal on route data, see {COVERAGE_NOTE}); "
        "p: two-sided paired bootstrap test against the best row of the query set (single-image rows against the "
        "best single-image row, sequence-matching rows against the best of theirs), with Holm's adjustment over "
        "every test made against the same best row beside it where there are several; a screen, not a "
        f"confirmatory test (the best row is chosen on the same data); a row not significantly below the best "
        f"at {level} is not shown to be equivalent to it"
    )


def md_cell(text: object) -> str:
    """A cell as Markdown text: `\\` and `|` escaped, so a name holding one cannot shift the columns."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|")


def markdown_table(rows: list[list[object]], headers: list[str]) -> str:
    """A GitHub Markdown table (tabulate), every header and cell escaped by `md_cell`: the one way
    the report writes a Markdown table (R@N, precision-recall, cost)."""
    from tabulate import tabulate

    cells = [[md_cell(c) for c in row] for row in rows]
    return tabulate(cells, headers=[md_cell(h) for h in headers], tablefmt="github")


def _holm_columns(summary: pd.DataFrame, recall_at: list[int]) -> dict[int, pd.Series]:
    """N -> the Holm-adjusted p of every row (`R@N_holm`, over every test made against the same best
    row), NaN for the best itself, where there is no test, and in a family of one test (nothing to
    adjust: the raw p is printed alone)."""
    family = [summary["dataset"], summary["queries"], summary["method"].str.contains("+seq", regex=False)]
    out = {}
    for n in recall_at:
        adjusted = summary[f"R@{n}_holm"]
        tests = adjusted.notna().groupby(family).transform("sum")
        out[n] = adjusted.where(tests > 1)
    return out


def _p_cell(raw: float, adjusted: float, best: bool, resamples: int) -> str:
    """`best`, `no test`, `p = 0.012` or `p <= 0.002; Holm <= 0.008` (`adjusted`: NaN where not adjusted)."""
    if np.isnan(raw):
        return "no test"
    if best:
        return "best"
    text = p_text(raw, resamples)
    if np.isnan(adjusted):
        return text
    # a raw p at its floor is an upper bound, and so is its adjustment
    bound = "<=" if text.startswith("p <=") else "="
    return f"{text}; Holm {bound} {adjusted:.3f}"


def markdown(summary: pd.DataFrame, ev: EvaluateConfig) -> str:
    """The summary as a Markdown table (tabulate): R@N (N in `ev.recall_at`) with its interval, sd over
    seeds, p vs best (`p_text`) with its Holm adjustment, then lines naming the level and method, the
    resampling of each dataset and the query sets too small for an interval."""
    recall_at, resamples = ev.recall_at, ev.bootstrap_resamples
    best = {n: (summary[f"R@{n}_p"] >= 1.0) & summary[f"R@{n}_holm"].isna() for n in recall_at}
    adjusted = _holm_columns(summary, recall_at)
    rows = []
    for i, r in summary.iterrows():
        cells = [r["dataset"], r["queries"], r["method"], int(r["n_seeds"])]
        for n in recall_at:
            sd = "" if np.isnan(r[f"R@{n}_sd"]) else f" sd {r[f'R@{n}_sd']:.1f}"
            lo, hi = r[f"R@{n}_lo"], r[f"R@{n}_hi"]
            interval = "[no interval]" if np.isnan(lo) or np.isnan(hi) else f"[{lo:.1f}, {hi:.1f}]"
            p = _p_cell(r[f"R@{n}_p"], adjusted[n][i], bool(best[n][i]), resamples)
            cells.append(f"{r[f'R@{n}']:.1f} {interval}{sd} ({p})")
        rows.append([*cells, short_of(r.get("signature"))])
    headers = ["dataset", "queries", "method", "seeds", *[f"R@{n} [interval] (vs best)" for n in recall_at], "sig"]
    table = markdown_table(rows, headers)
    lines = [table, "", f"Intervals and tests: {resampling_text(summary)}.{first_stage_text(summary, ev)}"]
    lines += ["", f"Method: {method_text(ev)}."]
    lines += ["", "Protocol signatures (docs/statistics.md):", *legend(list(summary.get("signature", [])))]
    lines += [f"No interval and no test for {d}/{q}: {why}." for (d, q), why in without_interval(summary).items()]
    return "\n".join(lines)


def first_stage_text(summary: pd.DataFrame, ev: EvaluateConfig) -> str:
    """The sentence on re-ranked rows against their first stage, from `R@N_p_first`; '' without such rows."""
    column = f"R@{ev.recall_at[0]}_p_first"
    if column not in summary.columns or summary[column].isna().all():
        return ""
    parts = []
    for _, r in summary[summary[column].notna()].iterrows():
        tests = ", ".join(f"R@{n} {p_text(r[f'R@{n}_p_first'], ev.bootstrap_resamples)}" for n in ev.recall_at)
        parts.append(f"{r['dataset']}/{r['queries']} {r['method']}: {tests}")
    return f" Re-ranked rows against their first stage (paired bootstrap, same resamples): {'; '.join(parts)}."
