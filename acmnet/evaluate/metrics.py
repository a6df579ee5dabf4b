"""Recall@N against each query's positives (paper section 4.2).

A query is correct at N if at least one of its top-N references is one of its positives (the
dataset's ground truth, `positives.npz`: a place window, a distance or a shipped list; see
`acmnet.data.positives`). Every query counts in the denominator, also one without any positive.
Results are percentages, each with a bootstrap interval over queries (`acmnet.evaluate.statistics`):
on a dataset with a route order the queries are resampled in moving blocks (`block_length`; the
length used is the metrics' `bootstrap_block` column, 1 for iid); every query's first-hit rank is
kept for paired tests.

Sequence matching rows (`<method>+seq<L>`, beyond the paper) take each query set and the
references in manifest order, which every dataset type writes in recording order (time), never
sorted by ground-truth place.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from acmnet.artifacts import (
    Descriptors,
    Manifest,
    Positives,
    Retrieval,
    check_method,
    load_descriptors,
    load_manifest,
    load_positives,
    load_retrieval,
    provenance,
    save_table,
)
from acmnet.config import Config, ConfigError
from acmnet.data import manifest as mf
from acmnet.evaluate.statistics import automatic_block, bootstrap_interval, first_hit_ranks, recall_at, too_few


def recall_curve(hit: np.ndarray) -> np.ndarray:
    """Recall@N in percent for N = 1..K from `hit` bool (Q, K): float64 (K,)."""
    if len(hit) == 0:
        raise ValueError("recall of an empty query set is undefined")
    ranks = first_hit_ranks(hit)
    return np.array([recall_at(ranks, n) for n in range(1, hit.shape[1] + 1)])


def sequence_indices(
    reference: np.ndarray,
    queries: np.ndarray,
    k: int,
    length: int,
    velocities: list[float],
    segments: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Top-k reference positions per query by sequence matching, (Q, k) int64.

    Both sets must be in recording order (the manifest's); no ground truth is used. `segments`:
    (query segments (Q,), reference segments (R,)), the separate stretches of the route (manifest
    `segment`): no sequence crosses a join.
    """
    from acmnet.evaluate.sequence import DescriptorSimilarity, sequence_topk

    q_seg, r_seg = segments if segments is not None else (None, None)
    _, found = sequence_topk(
        DescriptorSimilarity(reference, queries), k, length, velocities, query_segments=q_seg, reference_segments=r_seg
    )
    return found


def _variants(
    cfg: Config,
    method: str,
    retrieval: Retrieval,
    descriptors: Descriptors | None,
    selected: np.ndarray,
    segments: np.ndarray | None,
) -> list[tuple[str, np.ndarray]]:
    """(row name, top-K indices of the selected queries): the method itself and its sequence rows;
    `segments`: the manifest's `segment` of every manifest row, or None (one stretch)."""
    variants = [(method, retrieval.indices[selected])]
    joins = None
    if segments is not None:
        joins = (segments[retrieval.query_rows][selected], segments[retrieval.reference_rows])
    for length in cfg.evaluate.sequence_lengths:
        seq = sequence_indices(
            descriptors.reference,
            descriptors.query[selected],
            retrieval.indices.shape[1],
            length,
            cfg.evaluate.sequence_velocities,
            joins,
        )
        variants.append((f"{method}+seq{length}", seq))
    return variants


def _inputs(
    cfg: Config,
    method: str,
    manifest_path: Path,
    positives_path: Path,
    retrieval_path: Path,
    descriptors_path: Path | list[Path] | None,
) -> tuple[Manifest, Positives, Retrieval, Descriptors | None]:
    """The files `score` reads, checked against each other and against `method` (their rows are
    named by it: another method's retrieval or descriptors are refused, never scored as its rows)."""
    manifest = load_manifest(manifest_path)
    positives = load_positives(positives_path, manifest)
    descriptors = None
    if cfg.evaluate.sequence_lengths:
        if descriptors_path is None:
            raise ConfigError("evaluate.sequence_lengths is set: scoring needs the descriptors too (--descriptors)")
        descriptors = load_descriptors(descriptors_path, manifest)
    retrieval = load_retrieval(retrieval_path, manifest, descriptors)
    check_method(retrieval, "retrieval", method)
    if descriptors is not None:
        check_method(descriptors, "descriptors", method)
    needed = max(cfg.evaluate.recall_at)
    if retrieval.indices.shape[1] < needed:
        raise ConfigError(
            f"{retrieval_path} keeps {retrieval.indices.shape[1]} retrievals per query, but "
            f"evaluate.recall_at asks for N up to {needed}: rerun `acmnet retrieve` with evaluate.top_k "
            f">= {needed} (and at most the {len(retrieval.reference_rows)} references)"
        )
    return manifest, positives, retrieval, descriptors


def _rows(
    cfg: Config, dataset: str, queries: str, name: str, ranks: np.ndarray, k: int, n_references: int
) -> tuple[dict, pd.DataFrame]:
    """The metrics row (R@N with its interval) and the recall curve (N = 1..k, with bands) of one variant."""
    ev = cfg.evaluate
    ns = list(range(1, k + 1))
    block = block_length(cfg, dataset, np.stack([(ranks > 0) & (ranks <= n) for n in ev.recall_at]), queries)
    if too_few(len(ranks), block) is None:
        bounds = bootstrap_interval(ranks, ns, ev.bootstrap_resamples, ev.bootstrap_seed, ev.confidence, block)
    else:  # no interval from too few queries or blocks: empty bounds (the report says why)
        bounds = dict.fromkeys(ns, (np.nan, np.nan))
    curve = [recall_at(ranks, n) for n in ns]  # as recall_curve, from the ranks already at hand
    row = {"dataset": dataset, "queries": queries, "method": name}
    for n in ev.recall_at:
        lo, hi = bounds[n]
        row.update({f"R@{n}": round(curve[n - 1], 2), f"R@{n}_lo": round(lo, 2), f"R@{n}_hi": round(hi, 2)})
    row.update({"n_queries": len(ranks), "n_references": n_references, "tolerance": tolerance_column(cfg, dataset)})
    row["bootstrap_block"] = block
    lows, highs = zip(*(bounds[n] for n in ns), strict=True)
    curve_frame = pd.DataFrame(
        {"dataset": dataset, "queries": queries, "method": name, "N": ns, "recall": curve, "lo": lows, "hi": highs}
    )
    return row, curve_frame


def route_ordered(cfg: Config, dataset: str) -> bool:
    """Whether the query sets of `dataset` are frames of one drive in manifest order (its type's `route_order`)."""
    from acmnet.data.datasets import dataset_type

    spec = cfg.dataset(dataset)
    return bool(dataset_type(spec.type).route_order(spec.options))


def block_length(cfg: Config, dataset: str, hits: np.ndarray, queries: str = "") -> int:
    """Queries per block of the bootstrap on `dataset`: 1 (iid) without a route order; otherwise
    `evaluate.bootstrap_block` or, when it is None, `automatic_block` of the per-query hit series
    `hits` (n, Q) in query order (methods, seeds and N pooled). A set block longer than half the Q
    queries (fewer than two independent blocks: every resample nearly the whole set) is refused
    (ConfigError naming the key, the dataset and its query set `queries`), never clipped."""
    if not route_ordered(cfg, dataset):
        return 1
    block = cfg.evaluate.bootstrap_block
    q = np.shape(hits)[-1]
    if block is not None and block > q // 2:
        where = f"query set {queries!r} of dataset {dataset!r}" if queries else f"dataset {dataset!r}"
        raise ConfigError(
            f"evaluate.bootstrap_block is {block}, but {where} has {q} queries: a block longer than half of them "
            f"leaves fewer than two independent blocks, so every resample is nearly the whole set; set "
            f"evaluate.bootstrap_block to at most {max(q // 2, 1)}, or leave it unset (chosen from the data)"
        )
    return automatic_block(hits) if block is None else block


def tolerance_column(cfg: Config, dataset: str) -> int:
    """The metrics' `tolerance` column: the place window of a `places` dataset, 0 for any other
    ground truth (its positives are a distance or a list, which the captions state)."""
    from acmnet.data.datasets import dataset_type

    spec = cfg.dataset(dataset)
    return spec.tolerance if dataset_type(spec.type).ground_truth == "places" else 0


def score(
    cfg: Config,
    dataset: str,
    method: str,
    manifest_path: Path,
    positives_path: Path,
    retrieval_path: Path,
    out: Path,
    curve_out: Path,
    descriptors_path: Path | list[Path] | None = None,
    ranks_out: Path | None = None,
) -> pd.DataFrame:
    """Write metrics.csv (one row per query set and variant: R@N with its bootstrap interval), the
    recall curve (N = 1..top_k, with bands) and, with `ranks_out`, every query's first-hit rank.

    With `evaluate.sequence_lengths` set, `descriptors_path` is needed too (the descriptor parts, or
    their folder): each length adds the rows of method `<method>+seq<L>` (sequence matching over the
    same descriptors, the reference set read from every part).
    """
    manifest, positives, retrieval, descriptors = _inputs(
        cfg, method, manifest_path, positives_path, retrieval_path, descriptors_path
    )
    conditions = manifest.frame["condition"].to_numpy()[retrieval.query_rows]
    segments = mf.segments(manifest.frame)
    segments = None if segments is None else segments.to_numpy()
    rows, curves, ranks_frames = [], [], []
    for queries in mf.query_sets(manifest.frame):
        selected = conditions == queries
        truth = positives.sets.select(selected)
        for name, found in _variants(cfg, method, retrieval, descriptors, selected, segments):
            ranks = first_hit_ranks(truth.hits(found))
            row, curve = _rows(cfg, dataset, queries, name, ranks, found.shape[1], len(retrieval.reference_rows))
            rows.append(row)
            curves.append(curve)
            ranks_frames.append(
                pd.DataFrame(
                    {
                        "dataset": dataset,
                        "queries": queries,
                        "method": name,
                        "query_row": retrieval.query_rows[selected],
                        "first_hit": ranks,
                        "n_positives": truth.counts(),
                    }
                )
            )
    metrics = pd.DataFrame(rows)
    prov = provenance(
        "score",
        {**cfg.settings("score", dataset=dataset), "method_name": method},
        manifest=manifest,
        positives=positives,
        retrieval=retrieval,
        descriptors=descriptors,
    )
    save_table(metrics, Path(out), prov)
    save_table(pd.concat(curves), Path(curve_out), prov)
    if ranks_out is not None:
        save_table(pd.concat(ranks_frames), Path(ranks_out), prov)
    return metrics
