"""An operating point chosen on other data (beyond the paper; `evaluate.operating_point`).

AUC-PR and R@100P read each query set's own thresholds; a robot fixes one threshold in advance.
Here the top-1 score threshold is chosen on a calibration set (`calibrate_on`: a query set
`dataset/queries`, or a dataset: all its query sets pooled) and carried to every other query set,
where its precision, recall and F1 are reported with block-bootstrap intervals.

Per query (from `ranks.csv`): `correct` = the top-1 is a positive (`first_hit` 1), `score` = the
top-1 similarity (`top1_score`), `has_positive` = the query has a positive. At threshold t the
accepted queries are those with score >= t; precision = correct accepted / accepted; recall =
correct accepted / queries with a positive (an accepted query without one is a false positive: the
`tutorial` convention of `acmnet.evaluate.precision`); F1 = 2 P R / (P + R).

`choose_threshold`: for `precision P`, the lowest candidate threshold (a distinct calibration
score) whose precision is at least P, i.e. the largest recall at that precision (NaN when no
threshold reaches it); for `F1`, the threshold of the largest F1 (the highest on ties). A method
trained with several seeds gets one threshold per seed, each from its own run. The intervals
resample the reported set's queries in the summary's moving blocks (`bootstrap_block`, chosen by
`acmnet.evaluate.metrics.block_length`) with `resampled_statistic`, the threshold held fixed: they
cover the query sampling of that set, not the choice of the threshold.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from acmnet.config import Config, ConfigError, parse_target, split_seed
from acmnet.evaluate.statistics import resampled_statistic, too_few

STATISTICS = ("precision", "recall", "F1")


def at_threshold(correct: np.ndarray, scores: np.ndarray, has_positive: np.ndarray, threshold: float) -> dict:
    """Precision, recall and F1 (fractions; NaN where undefined) of (Q,) top-1 labels, scores and
    positives at `threshold`, and how many queries it accepts."""
    accepted = np.asarray(scores, dtype=np.float64) >= threshold
    tp = float(np.count_nonzero(accepted & np.asarray(correct, dtype=bool)))
    n_accepted, with_positive = int(np.count_nonzero(accepted)), int(np.count_nonzero(has_positive))
    precision = tp / n_accepted if n_accepted else np.nan
    recall = tp / with_positive if with_positive else np.nan
    f1 = 2 * tp / (n_accepted + with_positive) if n_accepted and with_positive else np.nan  # = 2PR / (P + R)
    return {"precision": precision, "recall": recall, "F1": f1, "accepted": n_accepted}


def choose_threshold(correct: np.ndarray, scores: np.ndarray, has_positive: np.ndarray, target: str) -> float:
    """The threshold `target` picks on a calibration set's (Q,) top-1 labels, scores and positives
    (module docstring); NaN when no threshold reaches the precision, or there is no finite score."""
    values = np.asarray(scores, dtype=np.float64)
    candidates = np.unique(values[np.isfinite(values)])[::-1]  # highest first
    with_positive = int(np.count_nonzero(has_positive))
    if not len(candidates) or not with_positive:
        return np.nan
    accepted = values[None, :] >= candidates[:, None]
    tp = np.count_nonzero(accepted & np.asarray(correct, dtype=bool), axis=1)
    precision = tp / accepted.sum(axis=1)
    wanted = parse_target(target)
    if wanted is None:
        f1 = 2 * tp / (accepted.sum(axis=1) + with_positive)
        return float(candidates[int(np.argmax(f1))])  # the first maximum: the highest threshold
    ok = np.flatnonzero(precision >= wanted - 1e-12)
    return float(candidates[ok[-1]]) if len(ok) else np.nan


def calibration_sets(calibrate_on: str, sets: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The (dataset, query set) pairs `calibrate_on` names among `sets`: `dataset/queries`, or a
    dataset (all its sets); ConfigError naming the key and the sets there are otherwise."""
    if "/" in calibrate_on:
        dataset, queries = calibrate_on.split("/", 1)
        chosen = [s for s in sets if s == (dataset, queries)]
    else:
        chosen = [s for s in sets if s[0] == calibrate_on]
    if not chosen:
        named = ", ".join(f"{d}/{q}" for d, q in sets)
        raise ConfigError(
            f"evaluate.operating_point.calibrate_on = {calibrate_on!r} names no query set of this run: name a "
            f"query set as dataset/queries or a dataset; the run has {named}"
        )
    if len(chosen) == len(sets):
        raise ConfigError(
            f"evaluate.operating_point.calibrate_on = {calibrate_on!r} takes every query set of the run, so none is "
            "left to report at the threshold: name one query set (dataset/queries) or another dataset"
        )
    return chosen


def _arrays(ranks: pd.DataFrame, runs: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(correct, scores, has_positive), (runs, Q) each, the queries in `query_row` order."""

    def column(name: str) -> np.ndarray:
        table = ranks.pivot(index="method", columns="query_row", values=name).sort_index(axis=1)
        return table.loc[runs].to_numpy(dtype=np.float64)

    return column("first_hit") == 1, column("top1_score"), column("n_positives") > 0


def thresholds(ranks: pd.DataFrame, chosen: list[tuple[str, str]], target: str) -> dict[str, float]:
    """Run name -> its threshold, chosen on the calibration sets `chosen` pooled."""
    pooled = ranks[[(d, q) in chosen for d, q in zip(ranks["dataset"], ranks["queries"], strict=True)]]
    out = {}
    for run, rows in pooled.groupby("method", sort=False):
        out[run] = choose_threshold(rows["first_hit"] == 1, rows["top1_score"], rows["n_positives"] > 0, target)
    return out


def _statistic(name: str):
    """One of `STATISTICS` as a function of one seed's resampled (correct, scores, has_positive, threshold)."""
    return lambda c, s, h, t: at_threshold(c, s, h, t[0])[name]


def _query_set(ranks: pd.DataFrame, limit_of: dict[str, float], block: int, cfg: Config) -> pd.DataFrame:
    """The operating-point columns of one reported query set, one row per base method (its runs'
    thresholds `limit_of`)."""
    ev = cfg.evaluate
    runs = [r for r in dict.fromkeys(ranks["method"]) if r in limit_of]
    correct, scores, has_positive = _arrays(ranks, runs)
    groups: dict[str, list[int]] = {}
    for i, run in enumerate(runs):
        groups.setdefault(split_seed(run)[0], []).append(i)
    limits = np.array([[limit_of[r]] * correct.shape[1] for r in runs])
    rows = []
    short = too_few(correct.shape[1], block)
    for method, members in groups.items():
        point = [at_threshold(correct[i], scores[i], has_positive[i], limits[i, 0]) for i in members]
        row = {"method": method, "op_threshold": float(np.mean(limits[members, 0]))}
        row["op_accepted"] = float(np.mean([p["accepted"] for p in point]))
        arrays = (correct[members], scores[members], has_positive[members], limits[members])
        for name in STATISTICS:
            row[f"op_{name}"] = float(np.mean([p[name] for p in point]))
            lo = hi = np.nan
            if short is None and np.isfinite(limits[members, 0]).all():
                boot = resampled_statistic([arrays], _statistic(name), ev.bootstrap_resamples, ev.bootstrap_seed, block)
                finite = boot[np.isfinite(boot[:, 0]), 0]
                if len(finite):
                    tail = 100.0 * (1.0 - ev.confidence) / 2.0
                    lo, hi = np.percentile(finite, tail), np.percentile(finite, 100.0 - tail)
            row[f"op_{name}_lo"], row[f"op_{name}_hi"] = lo, hi
        rows.append(row)
    return pd.DataFrame(rows)


def add_operating_point(summary: pd.DataFrame, ranks: pd.DataFrame, cfg: Config) -> pd.DataFrame:
    """The summary with the operating-point columns (`op_threshold`, `op_accepted`, `op_<statistic>`
    with `_lo`/`_hi`, fractions) on every query set but the calibration sets, whose rows stay empty
    and carry `op_role` "calibration"; unchanged when `evaluate.operating_point.calibrate_on` is unset.
    Refuses (ValueError) a reported set that is also a calibration set."""
    op = cfg.evaluate.operating_point
    if op.calibrate_on is None:
        return summary
    missing = [c for c in ("top1_score", "n_positives") if c not in ranks.columns]
    if missing:
        raise ValueError(
            f"evaluate.operating_point needs each query's top-1 score: the ranks files lack {missing} (rerun "
            "`acmnet score`), or unset evaluate.operating_point.calibrate_on"
        )
    sets = list(dict.fromkeys(zip(ranks["dataset"], ranks["queries"], strict=True)))
    chosen = calibration_sets(op.calibrate_on, sets)
    limits = thresholds(ranks, chosen, op.target)
    blocks = summary.drop_duplicates(["dataset", "queries"]).set_index(["dataset", "queries"])["bootstrap_block"]
    parts = []
    for key, group in ranks.groupby(["dataset", "queries"], sort=False):
        if key in chosen:
            continue
        part = _query_set(group, limits, int(blocks[key]), cfg).assign(dataset=key[0], queries=key[1])
        parts.append(part.assign(op_role="reported"))
    reported = pd.concat(parts, ignore_index=True)
    overlap = set(zip(reported["dataset"], reported["queries"], strict=True)) & set(chosen)
    if overlap:
        raise ValueError(f"operating point: {sorted(overlap)} would be reported at a threshold chosen on it")
    out = summary.merge(reported, on=["dataset", "queries", "method"], how="left")
    calibration = [(d, q) in chosen for d, q in zip(out["dataset"], out["queries"], strict=True)]
    out.loc[calibration, "op_role"] = "calibration"
    return out
