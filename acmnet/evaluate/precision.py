"""Precision-recall from each query's best match, under two named conventions (beyond the paper).

Every query contributes one decision: its top-1 retrieval, with the label "the top-1 is a positive"
(`correct`) and the score "top-1 similarity" (`scores`); accepting the queries whose score is at
least a threshold gives one (recall, precision) point per threshold. The field's tools disagree on
the rest, so each number is named by the tool whose code it reproduces:

- `vprbench` (VPR-Bench, `performance_comparison.py`): scikit-learn's
  `precision_recall_curve(labels, scores)`, every distinct score a threshold, (R=0, P=1) appended;
  recall is the share of the correct top-1 matches kept (the loosest threshold gives R=1 and
  P=R@1); `AUC-PR` = `sklearn.metrics.auc(recall, precision)`; `EP` = (P at the highest threshold
  + R@100P) / 2, the second term 0 when that precision is below 1; `R@100P` the largest recall
  whose precision is 1. Transcribed in numpy (tests compare with scikit-learn itself).
- `tutorial` (VPR_Tutorial, `evaluation/metrics.py`, `createPR(matching='single')` and
  `recallAt100precision`): recall over the queries with at least one positive, precision over the
  accepted queries (an accepted query without a positive is a false positive), 100 evenly spaced
  thresholds from the highest to the lowest top-1 score with (R=0, P=1) prepended; the area is the
  trapezoid over (R, P) (`AUC-PR_tutorial`, as its demo's `np.trapz(P, R)`), `R@100P_tutorial` the
  largest recall at precision 1.

All values are fractions in [0, 1], as both tools print them. A *degenerate* set (every top-1
right, every one wrong, or, for `tutorial`, no query with a positive) has no curve worth the name:
its numbers are NaN (an empty cell) and `degenerate` says why, never a made-up 0 or 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TUTORIAL_THRESHOLDS = 100  # VPR_Tutorial's n_thresh
PR_COLUMNS = ("AUC-PR", "EP", "R@100P", "AUC-PR_tutorial", "R@100P_tutorial")


@dataclass(frozen=True)
class Curve:
    """One precision-recall curve: `recall`, `precision` float64 (n,), in the order the tool gives them."""

    recall: np.ndarray
    precision: np.ndarray


def degenerate(
    correct: np.ndarray, has_positive: np.ndarray | None = None, scores: np.ndarray | None = None
) -> str | None:
    """Why the PR numbers of a query set are undefined, or None: `correct` bool (Q,) top-1 labels,
    `has_positive` bool (Q,) (None: not asked, for `vprbench`), `scores` (Q,) top-1 scores (None:
    not asked; NaN in a re-ranked list, which keeps another tool's order but no similarity)."""
    if scores is not None and np.isnan(np.asarray(scores, dtype=np.float64)).any():
        return "no similarity score to threshold (a re-ranked list keeps its order only)"
    correct = np.asarray(correct, dtype=bool)
    if len(correct) == 0:
        return "no queries"
    if has_positive is not None and not np.any(has_positive):
        return "no query has a positive"
    if correct.all():
        return "every top-1 is right (precision 1 at every threshold)"
    if not correct.any():
        return "every top-1 is wrong (no correct match to recall)"
    return None


def vprbench_curve(correct: np.ndarray, scores: np.ndarray) -> Curve:
    """scikit-learn's `precision_recall_curve(correct, scores)` (as VPR-Bench calls it): one point
    per distinct score, highest threshold last, then (R=0, P=1); recall decreasing."""
    labels = np.asarray(correct, dtype=np.float64)
    values = np.asarray(scores, dtype=np.float64)
    order = np.argsort(values, kind="mergesort")[::-1]
    values, labels = values[order], labels[order]
    ends = np.r_[np.flatnonzero(np.diff(values)), len(values) - 1]  # last position of each distinct score
    tps = np.cumsum(labels)[ends]
    accepted = ends + 1.0
    precision = tps / accepted
    recall = tps / tps[-1] if tps[-1] > 0 else np.full(len(tps), np.nan)
    return Curve(np.r_[recall[::-1], 0.0], np.r_[precision[::-1], 1.0])


def vprbench_numbers(correct: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """`AUC-PR`, `EP`, `R@100P` of the `vprbench` convention (NaN when `degenerate`)."""
    if degenerate(correct, None, scores) is not None:
        return {"AUC-PR": np.nan, "EP": np.nan, "R@100P": np.nan}
    curve = vprbench_curve(correct, scores)
    area = -float(np.trapezoid(curve.precision, curve.recall))  # sklearn.metrics.auc on decreasing recall
    top = float(curve.precision[-2])
    at_one = float(curve.recall[np.flatnonzero(curve.precision == 1)[0]])
    return {"AUC-PR": area, "EP": (top + (at_one if top >= 1 else 0.0)) / 2, "R@100P": at_one}


def tutorial_curve(correct: np.ndarray, scores: np.ndarray, has_positive: np.ndarray) -> Curve:
    """VPR_Tutorial's `createPR(matching='single', n_thresh=100)` on the top-1 matches: (R=0, P=1),
    then one point per threshold from the highest to the lowest score; recall over the queries with
    a positive (at least one needed)."""
    correct = np.asarray(correct, dtype=bool)
    values = np.asarray(scores, dtype=np.float64)
    with_positive = int(np.count_nonzero(has_positive))
    thresholds = np.linspace(values.max(), values.min(), TUTORIAL_THRESHOLDS)
    accepted = values[None, :] >= thresholds[:, None]
    tp = np.count_nonzero(accepted & correct, axis=1)
    fp = np.count_nonzero(accepted & ~correct, axis=1)
    return Curve(np.r_[0.0, tp / with_positive], np.r_[1.0, tp / (tp + fp)])


def tutorial_numbers(correct: np.ndarray, scores: np.ndarray, has_positive: np.ndarray) -> dict[str, float]:
    """`AUC-PR_tutorial`, `R@100P_tutorial` (NaN when `degenerate`)."""
    if degenerate(correct, has_positive, scores) is not None:
        return {"AUC-PR_tutorial": np.nan, "R@100P_tutorial": np.nan}
    curve = tutorial_curve(correct, scores, has_positive)
    return {
        "AUC-PR_tutorial": float(np.trapezoid(curve.precision, curve.recall)),
        "R@100P_tutorial": float(curve.recall[curve.precision == 1].max()),
    }


def pr_numbers(correct: np.ndarray, scores: np.ndarray, has_positive: np.ndarray) -> dict[str, float]:
    """Every column of `PR_COLUMNS` for one query set's top-1 labels, scores and positives (Q,) each."""
    return {**vprbench_numbers(correct, scores), **tutorial_numbers(correct, scores, has_positive)}


def auc_pr(correct: np.ndarray, scores: np.ndarray) -> float:
    """The `vprbench` AUC-PR alone (NaN when degenerate): the statistic the bootstrap resamples."""
    return vprbench_numbers(correct, scores)["AUC-PR"]
