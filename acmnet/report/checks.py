"""Report sections beyond the paper's tables: the operating point chosen on other data
(`acmnet.evaluate.operating_point`) and the batch-invariance check (`acmnet.evaluate.invariance`),
as Markdown for `summary.md`, each with the sentence that says what it is."""

from __future__ import annotations

import numpy as np
import pandas as pd

from acmnet.config import EvaluateConfig
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
        f"Intervals: nominal {level} moving-block bootstrap over the reported set's queries (the summary's blocks), "
        "the threshold held fixed."
    )


def operating_point_markdown(summary: pd.DataFrame, ev: EvaluateConfig) -> str:
    """The operating-point table of the summary (Markdown) with its caption; '' when there is none."""
    from tabulate import tabulate

    if "op_role" not in summary.columns:
        return ""
    rows = [
        [r["dataset"], r["queries"], r["method"], f"{r['op_threshold']:.4f}", f"{r['op_accepted']:.0f}"]
        + [_with_interval(r, name) for name in STATISTICS]
        for _, r in summary[summary["op_role"] == "reported"].iterrows()
    ]
    headers = ["dataset", "queries", "method", "threshold", "accepted", *[f"{s} [interval]" for s in STATISTICS]]
    return f"{tabulate(rows, headers=headers, tablefmt='github')}\n\n{operating_point_caption(summary, ev)}"
