"""Recall@N with a place tolerance window (paper section 4.2).

A query is correct at N if at least one of its top-N references lies within +/- `tolerance`
places of the query's own place. Every query counts in the denominator, also one whose place has
no reference at all. Results are percentages.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from acmnet.config import Config
from acmnet.datasets import manifest as mf
from acmnet.io import atomic_path


def hits(query_places: np.ndarray, reference_places: np.ndarray, indices: np.ndarray, tolerance: int) -> np.ndarray:
    """Boolean (Q, K): retrieval j of query i lies within the tolerance window."""
    return np.abs(reference_places[indices] - query_places[:, None]) <= tolerance


def recall_curve(query_places: np.ndarray, reference_places: np.ndarray, indices: np.ndarray, tolerance: int) -> np.ndarray:
    """Recall@N in percent for N = 1..K: float64 (K,)."""
    if len(query_places) == 0:
        raise ValueError("recall of an empty query set is undefined")
    found = np.logical_or.accumulate(hits(query_places, reference_places, indices, tolerance), axis=1)
    return 100.0 * found.mean(axis=0)


def sequence_indices(reference: np.ndarray, queries: np.ndarray, ref_places: np.ndarray, query_places: np.ndarray,
                     k: int, length: int, velocities: list[float]) -> np.ndarray:
    """Top-k reference positions per query by sequence matching, (Q, k) int64, in input order.

    Queries and references are put in place order for the sequence search (stable sort), and the
    result is mapped back to the caller's order.
    """
    from acmnet.sequence import DescriptorSimilarity, sequence_topk

    ref_order = np.argsort(ref_places, kind="stable")
    query_order = np.argsort(query_places, kind="stable")
    similarity = DescriptorSimilarity(reference[ref_order], queries[query_order])
    _, found = sequence_topk(similarity, k, length, velocities)
    indices = np.empty_like(found)
    indices[query_order] = ref_order[found]
    return indices


def score(cfg: Config, dataset: str, method: str, manifest_path: Path, retrieval_path: Path, out: Path, curve_out: Path,
          descriptors_path: Path | None = None) -> pd.DataFrame:
    """Write metrics.csv (one row per query set) and the recall curve (N = 1..top_k) of a method.

    With `evaluate.sequence_lengths` set, `descriptors_path` is needed too: each length adds the
    rows of method `<method>+seq<L>` (sequence matching over the same descriptors).
    """
    frame = mf.read(manifest_path)
    data = np.load(retrieval_path)
    ref_rows, query_rows, indices = data["reference_rows"], data["query_rows"], data["indices"]
    check_rows(frame, ref_rows, "reference", manifest_path, retrieval_path)
    check_rows(frame, query_rows, "query", manifest_path, retrieval_path)
    lengths = cfg.evaluate.sequence_lengths
    if lengths:
        if descriptors_path is None:
            raise ValueError("evaluate.sequence_lengths is set: scoring needs the descriptors too (--descriptors)")
        desc = np.load(descriptors_path)
        check_rows(frame, desc["reference_rows"], "reference", manifest_path, descriptors_path)
        check_rows(frame, desc["query_rows"], "query", manifest_path, descriptors_path)
    tolerance = cfg.dataset(dataset).tolerance
    places = frame["place"].to_numpy()
    conditions = frame["condition"].to_numpy()[query_rows]
    rows, curves = [], []
    for queries in mf.query_sets(frame):
        selected = conditions == queries
        q_places, r_places = places[query_rows[selected]], places[ref_rows]
        variants = [(method, indices[selected])]
        for length in lengths:
            seq = sequence_indices(desc["reference"], desc["query"][selected], r_places, q_places,
                                   indices.shape[1], length, cfg.evaluate.sequence_velocities)
            variants.append((f"{method}+seq{length}", seq))
        for name, found in variants:
            curve = recall_curve(q_places, r_places, found, tolerance)
            row = {"dataset": dataset, "queries": queries, "method": name}
            row.update({f"R@{n}": round(float(curve[n - 1]), 2) for n in cfg.evaluate.recall_at if n <= len(curve)})
            row.update({"n_queries": int(selected.sum()), "n_references": len(ref_rows), "tolerance": tolerance})
            rows.append(row)
            curves.append(pd.DataFrame({"dataset": dataset, "queries": queries, "method": name,
                                        "N": np.arange(1, len(curve) + 1), "recall": curve}))
    metrics = pd.DataFrame(rows)
    for path, table in ((out, metrics), (curve_out, pd.concat(curves))):
        with atomic_path(Path(path)) as tmp:
            table.to_csv(tmp, index=False)
    return metrics


def check_rows(frame: pd.DataFrame, rows: np.ndarray, role: str, manifest_path: Path, other: Path) -> None:
    """The row numbers stored in `other` must be exactly the manifest's rows of `role`."""
    expected = np.flatnonzero(frame["role"].to_numpy() == role)
    if len(rows) != len(expected) or not np.array_equal(rows, expected):
        raise ValueError(
            f"{other} does not match {manifest_path}: it holds {len(rows)} {role} rows, the manifest "
            f"{len(expected)} (or other row numbers). Rerun describe and retrieve for this manifest"
        )
