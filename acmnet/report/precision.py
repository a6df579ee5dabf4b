"""The summary's second family of numbers (beyond the paper): precision-recall of each row's top-1
matches with an interval and a paired test, and what each row costs.

From every run's ranks file (`first_hit`, `top1_score`, `n_positives` per query, `acmnet score`):

- `AUC-PR` (the `vprbench` convention, `acmnet.evaluate.precision`): the mean over seeds, with
  `AUC-PR_lo`/`AUC-PR_hi`, the percentile interval from the resamples of R@N
  (`acmnet.evaluate.statistics.resampled_statistic`: the same moving blocks of `bootstrap_block`
  queries, the same seeds drawn), widened to the estimate where the percentiles miss it (the
  resampled AUC-PR is biased: a duplicated query ties with itself); resamples in which the set
  is degenerate are left out of the percentiles. `AUC-PR_p`, `AUC-PR_same`: the paired test
  against the best row of the family (single-image or `+seq`), on the resamples where both are
  defined. Where the query set is too small for R@N's interval and test (`TooFew`), AUC-PR gets
  none either. No anchor gives an interval on these numbers.
- `EP`, `R@100P`, `AUC-PR_tutorial`, `R@100P_tutorial`: means over seeds, no interval; `pr_note`
  says why a row's cells are empty (a degenerate set).
- `dim`, `bytes_per_image`, `describe_ms_per_image`, `search_ms_per_query`, `device` from the
  metrics (`acmnet.evaluate.metrics.cost_columns`), times averaged over seeds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from acmnet.config import Config, EvaluateConfig, split_seed
from acmnet.evaluate.precision import PR_COLUMNS, auc_pr, degenerate, pr_numbers
from acmnet.evaluate.signature import short_of
from acmnet.evaluate.statistics import TooFew, p_text, percentile_interval, resampled_statistic, two_sided_p
from acmnet.report.summary import markdown_table

PR_RANK_COLUMNS = ("top1_score", "n_positives")
COST_COLUMNS = ("dim", "bytes_per_image", "describe_ms_per_image", "search_ms_per_query", "device")


def _per_query(ranks: pd.DataFrame, column: str, runs: list[str]) -> np.ndarray:
    """One ranks column as (runs, Q), the queries in `query_row` order."""
    table = ranks.pivot(index="method", columns="query_row", values=column).sort_index(axis=1)
    return table.loc[runs].to_numpy(dtype=np.float64)


def _paired(boot: np.ndarray, estimate: np.ndarray, methods: list[str]) -> np.ndarray:
    """Two-sided paired-bootstrap p-value of each method against the best defined estimate of its
    family, over the resamples where both are defined: (M,), NaN where the method has no estimate."""
    family = np.array(["+seq" in m for m in methods])
    p = np.full(len(methods), np.nan)
    for members in (np.flatnonzero(~family), np.flatnonzero(family)):
        defined = [m for m in members if np.isfinite(estimate[m])]
        if not defined:
            continue
        best = defined[int(np.argmax(estimate[defined]))]
        for m in defined:
            both = np.isfinite(boot[:, best]) & np.isfinite(boot[:, m])
            p[m] = 1.0 if m == best else float(two_sided_p((boot[both, best] - boot[both, m])[:, None])[0])
    return p


def _nan_interval(boot: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """`percentile_interval` of resampled statistics (resamples, M) over the defined (finite) ones."""
    tail = 100.0 * (1.0 - level) / 2.0
    with np.errstate(all="ignore"):
        if np.isfinite(boot).all():
            return percentile_interval(boot, level)
        lows = [np.nanpercentile(c, tail) if np.isfinite(c).any() else np.nan for c in boot.T]
        highs = [np.nanpercentile(c, 100.0 - tail) if np.isfinite(c).any() else np.nan for c in boot.T]
    return np.array(lows), np.array(highs)


def _interval_and_test(
    runs_of: list[tuple[np.ndarray, np.ndarray]],
    estimate: np.ndarray,
    methods: list[str],
    block: int,
    ev: EvaluateConfig,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lo, hi, p) of each method's AUC-PR (M,) from its (top-1 correct, top-1 score) per seed, all NaN
    where the query set is too small for an interval or a test (`TooFew`, as R@N)."""
    try:
        boot = resampled_statistic(runs_of, auc_pr, ev.bootstrap_resamples, ev.bootstrap_seed, block)
    except TooFew:
        return (np.full(len(methods), np.nan),) * 3
    lo, hi = _nan_interval(boot, ev.confidence)
    defined = np.isfinite(estimate)
    lo, hi = np.where(defined, np.fmin(lo, estimate), np.nan), np.where(defined, np.fmax(hi, estimate), np.nan)
    return lo, hi, _paired(boot, estimate, methods)


def _query_set(ranks: pd.DataFrame, block: int, ev: EvaluateConfig) -> pd.DataFrame:
    """The precision-recall columns of one query set (its ranks rows), one row per base method."""
    runs = list(dict.fromkeys(ranks["method"]))
    correct = _per_query(ranks, "first_hit", runs) == 1
    scores = _per_query(ranks, "top1_score", runs)
    has_positive = _per_query(ranks, "n_positives", runs)[0] > 0
    groups: dict[str, list[int]] = {}
    for i, run in enumerate(runs):
        groups.setdefault(split_seed(run)[0], []).append(i)
    per_run = pd.DataFrame([pr_numbers(correct[i], scores[i], has_positive) for i in range(len(runs))])
    means = pd.DataFrame([per_run.iloc[rows].mean(skipna=False) for rows in groups.values()])
    runs_of = [(correct[rows], scores[rows]) for rows in groups.values()]
    estimate = means["AUC-PR"].to_numpy()
    lo, hi, p = _interval_and_test(runs_of, estimate, list(groups), block, ev)
    out = pd.DataFrame({"method": list(groups)})
    for column in PR_COLUMNS:
        out[column] = means[column].round(4).to_numpy()
        if column == "AUC-PR":
            out["AUC-PR_lo"], out["AUC-PR_hi"] = np.round(lo, 4), np.round(hi, 4)
            out["AUC-PR_p"], out["AUC-PR_same"] = np.round(p, 4), p >= 1.0 - ev.confidence
    notes = []
    for rows in groups.values():
        found = dict.fromkeys(filter(None, (degenerate(correct[i], has_positive, scores[i]) for i in rows)))
        notes.append("; ".join(found))
    return out.assign(pr_note=notes)


def add_precision(summary: pd.DataFrame, ranks: pd.DataFrame, cfg: Config) -> pd.DataFrame:
    """The summary with the precision-recall columns (module docstring) of every query set, each
    resampled in the summary's own `bootstrap_block`; unchanged without `evaluate.pr` or when a
    ranks file lacks the top-1 scores (a hand-made one)."""
    if not cfg.evaluate.pr or any(c not in ranks.columns for c in PR_RANK_COLUMNS):
        return summary
    blocks = summary.drop_duplicates(["dataset", "queries"]).set_index(["dataset", "queries"])["bootstrap_block"]
    parts = [
        _query_set(group, int(blocks[key]), cfg.evaluate).assign(dataset=key[0], queries=key[1])
        for key, group in ranks.groupby(["dataset", "queries"], sort=False)
    ]
    return summary.merge(pd.concat(parts, ignore_index=True), on=["dataset", "queries", "method"], how="left")


def add_costs(summary: pd.DataFrame, metrics: pd.DataFrame) -> pd.DataFrame:
    """The summary with each row's cost columns (`COST_COLUMNS`) from the merged metrics, times
    averaged over a method's seeds; unchanged when the metrics have none (hand-made files)."""
    if any(c not in metrics.columns for c in COST_COLUMNS):
        return summary
    costs = metrics.assign(method=metrics["method"].map(lambda m: split_seed(m)[0]))
    numbers = [c for c in COST_COLUMNS if c != "device"]
    costs = costs.assign(**{c: pd.to_numeric(costs[c], errors="coerce") for c in numbers})
    merged = costs.groupby(["dataset", "queries", "method"], sort=False).agg(
        {**dict.fromkeys(numbers, "mean"), "device": "first"}
    )
    return summary.merge(merged.reset_index(), on=["dataset", "queries", "method"], how="left")


def _number(value: float, digits: int) -> str:
    return "" if pd.isna(value) else f"{value:.{digits}f}"


def _auc_interval(r: pd.Series, resamples: int) -> str:
    """`[0.761, 0.960] (p = 0.012)`, or `[no interval] (no test)` where too few queries gave none."""
    if pd.isna(r["AUC-PR_p"]):
        return "[no interval] (no test)"
    p = "best" if r["AUC-PR_p"] >= 1.0 else p_text(r["AUC-PR_p"], resamples)
    return f"[{r['AUC-PR_lo']:.3f}, {r['AUC-PR_hi']:.3f}] ({p})"


def precision_markdown(summary: pd.DataFrame, ev: EvaluateConfig) -> str:
    """The precision-recall table of the summary (Markdown), its conventions named, and its notes;
    '' when the summary has none."""
    if "AUC-PR" not in summary.columns:
        return ""
    rows = []
    for _, r in summary.iterrows():
        auc = ""
        if not pd.isna(r["AUC-PR"]):
            auc = f"{r['AUC-PR']:.3f} " + _auc_interval(r, ev.bootstrap_resamples)
        cells = [r["dataset"], r["queries"], r["method"], auc]
        cells += [_number(r[c], 3) for c in ("EP", "R@100P", "AUC-PR_tutorial", "R@100P_tutorial")]
        rows.append([*cells, short_of(r.get("signature"))])
    headers = ["dataset", "queries", "method", "AUC-PR vprbench [interval] (vs best)", "EP vprbench"]
    headers += ["R@100P vprbench", "AUC-PR tutorial", "R@100P tutorial", "sig"]
    notes = [
        f"{r['dataset']}/{r['queries']} {r['method']}: {r['pr_note']}"
        for _, r in summary.iterrows()
        if isinstance(r["pr_note"], str) and r["pr_note"]
    ]
    text = (
        "Precision-recall of each query's top-1 match (label: the top-1 is a positive; score: its similarity, "
        "or the sequence score of a +seq row), fractions. vprbench: as VPR-Bench's performance_comparison.py "
        "(scikit-learn's curve over every distinct score, recall over the correct top-1 matches, AUC by "
        "sklearn.metrics.auc, EP = (P at the highest threshold + R@100P) / 2). tutorial: as VPR_Tutorial's "
        "createPR(matching='single') and recallAt100precision (100 thresholds, recall over the queries with a "
        "positive, an accepted query without one a false positive, trapezoid AUC). AUC-PR interval: the "
        "resamples of R@N (same blocks, same seeds drawn), widened to the estimate where the percentiles miss it; "
        "p against the best row of the family on the same resamples. No anchor gives an interval."
    )
    text = f"{markdown_table(rows, headers)}\n\n{text}"
    if notes:
        text += "\n\nLeft empty (a degenerate set: no curve, never a made-up 0 or 1): " + "; ".join(notes) + "."
    return text


def cost_markdown(summary: pd.DataFrame) -> str:
    """What each row costs (Markdown), with the devices timed and why a cell is empty; '' without costs."""
    if "dim" not in summary.columns:
        return ""
    rows = [
        [
            r["dataset"],
            r["queries"],
            r["method"],
            _number(r["dim"], 0),
            _number(r["bytes_per_image"], 0),
            _number(r["describe_ms_per_image"], 2),
            _number(r["search_ms_per_query"], 3),
            short_of(r.get("signature")),
        ]
        for _, r in summary.iterrows()
    ]
    headers = ["dataset", "queries", "method", "dim", "bytes/image", "describe ms/image", "search ms/query", "sig"]
    # each row's `device` names its steps' devices ("describe: ...; search: ..."): every one once
    devices = "; ".join(sorted({part for d in summary["device"].fillna("") for part in str(d).split("; ") if part}))
    text = (
        "Cost: descriptor dimension and bytes per image as stored (float32); describe: the describe step's wall "
        "time (loading the model, reading and decoding the images, the forward passes, writing) over every "
        "reference and query image; search: the retrieve step's wall time (reading the descriptors, the exact "
        f"search, writing) per query. Timed on {devices or 'an unrecorded device'}. Empty describe time: "
        "descriptors another tool computed (external rows), whose time is not ours to measure; empty search "
        "time: +seq rows, whose sequence search runs in the score step. A re-ranked row (kind reranked) has no "
        "cost cells: its list and its time come from another tool. A stored-matches row (kind matches): the times its "
        "tool stored beside the matches, not timed here (its device cell says so), empty where they are "
        "placeholders or absent (the device cell says why)."
    )
    return f"{markdown_table(rows, headers)}\n\n{text}"
