"""Report sections beyond the paper's tables: the operating point chosen on other data
(`acmnet.evaluate.operating_point`) and the batch-invariance check (`acmnet.evaluate.invariance`),
as Markdown for `summary.md`, each with the sentence that says what it is."""

from __future__ import annotations

import numpy as np
import pandas as pd

from acmnet.config import EvaluateConfig, split_seed
from acmnet.evaluate.operating_point import STATISTICS, calibration_sets


def _with_interval(r: pd.Series, name: str) -> str:
    value, lo, hi = r[f"op_{name}"], r[f"op_{name}_lo"], r[f"op_{name}_hi"]
    if pd.isna(value):
        return ""
    interval = "[no interval]" if pd.isna(lo) or pd.isna(hi) else f"[{lo:.3f}, {hi:.3f}]"
    return f"{value:.3f} {interval}"


def operating_point_caption(summary: pd.DataFrame, ev: EvaluateConfig) -> str:
    """What the operating-point table is, with every row's threshold (plain text)."""
    op = ev.operating_point
    reported = summary[summary["op_role"] == "reported"].drop_duplicates("method")
    sets = list(dict.fromkeys(zip(summary["dataset"], summary["queries"], strict=True)))
    named = ", ".join(f"{d}/{q}" for d, q in calibration_sets(op.calibrate_on, sets))
    limits = "; ".join(
        f"{r['method']} {r['op_threshold']:.4f}" if np.isfinite(r["op_threshold"]) else f"{r['method']} none"
        for _, r in reported.iterrows()
    )
    target = "the largest F1" if op.target == "F1" else f"the largest recall at {op.target}"
    level = f"{100 * ev.confidence:g}%"
    return (
        f"Operating point fixed on other data: the top-1 score threshold of {target} on {named} (calibration, not "
        f"reported), applied to every other query set. Thresholds: {limits} (a method's mean over its seeds; "
        "none: the target is not reached on the calibration set). Precision: correct among the accepted queries "
        "(score >= threshold); recall: correct accepted among the queries with a positive; fractions. "
        f"Intervals: nominal {level} bootstrap over the reported set's queries in the summary's blocks (moving "
        "blocks on a route, iid otherwise), the threshold held fixed: they do not cover the transfer to a new route "
        "(docs/statistics.md)."
    )


def operating_point_markdown(summary: pd.DataFrame, ev: EvaluateConfig) -> str:
    """The operating-point table of the summary (Markdown) with its caption; '' when there is none."""
    from acmnet.report.summary import markdown_table

    if "op_role" not in summary.columns:
        return ""
    rows = [
        [r["dataset"], r["queries"], r["method"], f"{r['op_threshold']:.4f}", f"{r['op_accepted']:.0f}"]
        + [_with_interval(r, name) for name in STATISTICS]
        for _, r in summary[summary["op_role"] == "reported"].iterrows()
    ]
    headers = ["dataset", "queries", "method", "threshold", "accepted", *[f"{s} [interval]" for s in STATISTICS]]
    return f"{markdown_table(rows, headers)}\n\n{operating_point_caption(summary, ev)}"


def _worst(checks: pd.DataFrame, dataset: str, method: str, set_name: str) -> pd.Series | None:
    """The check of `set_name` for a base method (its seeds' worst: largest change and top-1 changes)."""
    rows = checks[(checks["dataset"] == dataset) & (checks["base"] == method) & (checks["set"] == set_name)]
    if rows.empty:
        return None
    return rows.sort_values(["max_change", "top1_changes"], ascending=False, na_position="last").iloc[0]


def invariance_markdown(summary: pd.DataFrame, checks: pd.DataFrame | None, ev: EvaluateConfig) -> str:
    """The batch-invariance check per row of the summary (Markdown) with what it measured; '' without checks."""
    from acmnet.report.summary import markdown_table

    if checks is None:
        return ""
    checks = checks.assign(base=checks["method"].map(lambda m: split_seed(str(m))[0]))
    rows = []
    for _, r in summary.iterrows():
        method = str(r["method"]).split("+seq")[0]  # a +seq row matches over its method's descriptors
        query = _worst(checks, r["dataset"], method, f"query {r['queries']}")
        reference = _worst(checks, r["dataset"], method, "reference")
        if query is None or reference is None:
            rows.append([r["dataset"], r["queries"], r["method"], "", "", "", "not checked"])
            continue
        flagged = not (bool(query["invariant"]) and bool(reference["invariant"]))
        rows.append(
            [
                r["dataset"],
                r["queries"],
                r["method"],
                f"{query['max_change']:.2g}",
                f"{int(query['top1_changes'])} of {int(query['images'])}",
                f"{reference['max_change']:.2g}",
                "DEPENDS ON THE BATCH" if flagged else "invariant",
            ]
        )
    headers = ["dataset", "queries", "method", "query change", "top-1 changes", "reference change", "batch"]
    sizes = "/".join(dict.fromkeys(str(b) for b in checks["batch_sizes"]))
    text = (
        f"Batch invariance (acmnet check-invariance): up to {ev.invariance_sample} images of each set described at "
        f"batch sizes {sizes}, in manifest and in shuffled order; change: the largest L2 distance between an image's "
        "descriptors in two of these runs (0..2); top-1 changes: sampled queries whose top-1 among the sampled "
        f"references moves; a row is flagged when a change exceeds {ev.invariance_tolerance:g}: its numbers then "
        "depend on how the test set is batched and ordered. +seq rows use their method's descriptors; rows of "
        "another tool's descriptors or ranked lists are not checked."
    )
    return f"{markdown_table(rows, headers)}\n\n{text}"
