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

Beyond the paper, with `evaluate.pr` each row also gets the precision-recall numbers of its top-1
matches (`acmnet.evaluate.precision`: `AUC-PR`, `EP`, `R@100P`, `AUC-PR_tutorial`,
`R@100P_tutorial`, fractions; empty with the reason in `pr_note` when the set is degenerate; the
top-1 score is the retrieval's similarity, or the sequence score of a `+seq` row), and every row
what it costs (`dim`, `bytes_per_image`, `describe_ms_per_image`, `search_ms_per_query`, `device`;
`cost_columns`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from acmnet.artifacts import (
    DescriptorCost,
    Descriptors,
    Manifest,
    Positives,
    Retrieval,
    check_method,
    descriptor_cost,
    load_descriptors,
    load_manifest,
    load_positives,
    load_retrieval,
    provenance,
    save_table,
)
from acmnet.config import Config, ConfigError
from acmnet.data import manifest as mf
from acmnet.evaluate.precision import degenerate, pr_numbers
from acmnet.evaluate.signature import make_signature
from acmnet.evaluate.statistics import TooFew, automatic_block, bootstrap_interval, first_hit_ranks, recall_at


def recall_curve(hit: np.ndarray) -> np.ndarray:
    """Recall@N in percent for N = 1..K from `hit` bool (Q, K): float64 (K,)."""
    if len(hit) == 0:
        raise ValueError("recall of an empty query set is undefined")
    ranks = first_hit_ranks(hit)
    return np.array([recall_at(ranks, n) for n in range(1, hit.shape[1] + 1)])


def sequence_matches(
    reference: np.ndarray,
    queries: np.ndarray,
    k: int,
    length: int,
    velocities: list[float],
    segments: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k references per query by sequence matching: (scores float32 (Q, k), positions int64 (Q, k)).

    Both sets must be in recording order (the manifest's); no ground truth is used. `segments`:
    (query segments (Q,), reference segments (R,)), the separate stretches of the route (manifest
    `segment`): no sequence crosses a join.
    """
    from acmnet.evaluate.sequence import DescriptorSimilarity, sequence_topk

    q_seg, r_seg = segments if segments is not None else (None, None)
    return sequence_topk(
        DescriptorSimilarity(reference, queries), k, length, velocities, query_segments=q_seg, reference_segments=r_seg
    )


def _variants(
    cfg: Config,
    method: str,
    retrieval: Retrieval,
    descriptors: Descriptors | None,
    selected: np.ndarray,
    segments: np.ndarray | None,
) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(row name, top-K indices of the selected queries, their top-1 scores (Q,)): the method itself
    and its sequence rows; `segments`: the manifest's `segment` of every manifest row, or None (one
    stretch)."""
    variants = [(method, retrieval.indices[selected], retrieval.scores[selected, 0].astype(np.float64))]
    joins = None
    if segments is not None:
        joins = (segments[retrieval.query_rows][selected], segments[retrieval.reference_rows])
    for length in cfg.evaluate.sequence_lengths:
        scores, seq = sequence_matches(
            descriptors.reference,
            descriptors.query[selected],
            retrieval.indices.shape[1],
            length,
            cfg.evaluate.sequence_velocities,
            joins,
        )
        variants.append((f"{method}+seq{length}", seq, scores[:, 0].astype(np.float64)))
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


def pr_columns(cfg: Config, ranks: np.ndarray, top1: np.ndarray, has_positive: np.ndarray) -> dict:
    """The precision-recall columns of one row (`PR_COLUMNS`, fractions rounded to 4 digits, empty
    when degenerate, `pr_note` saying why) from first-hit ranks, top-1 scores and whether each query
    has a positive (Q,); none without `evaluate.pr`."""
    if not cfg.evaluate.pr:
        return {}
    numbers = pr_numbers(ranks == 1, top1, has_positive)
    note = degenerate(ranks == 1, has_positive, top1) or ""
    return {**{k: round(v, 4) for k, v in numbers.items()}, "pr_note": note}


DESCRIBE, SEARCH = "describe_ms_per_image", "search_ms_per_query"


def cost_columns(cost: DescriptorCost | None, retrieval: Retrieval, sequence: bool) -> dict:
    """What one row costs: `dim`, `bytes_per_image` (float32 as stored), `describe_ms_per_image`
    (the describe jobs' wall time per image; empty for another tool's descriptors),
    `search_ms_per_query` (the retrieve step's wall time per query; empty for a `+seq` row, whose
    search runs in `score`), `device` (where each was timed). A `kind: matches` row: the times its
    tool stored (`Retrieval.stored_cost`), `device` saying so, or why a cell is empty."""
    if retrieval.stored_cost is not None:
        stored = retrieval.stored_cost
        describe, search = (stored[c] if stored[c] is not None else np.nan for c in (DESCRIBE, SEARCH))
        return {"dim": np.nan, "bytes_per_image": np.nan, DESCRIBE: round(describe, 3), SEARCH: round(search, 4)} | {
            "device": stored["device"]
        }
    timing = retrieval.timing
    describe = cost.seconds * 1e3 / cost.images if cost is not None and cost.seconds is not None else np.nan
    search = timing["seconds"] * 1e3 / timing["items"] if timing is not None and not sequence else np.nan
    devices = [f"describe: {cost.device}"] if cost is not None and cost.device else []
    devices += [f"search: {timing['device']}"] if timing is not None and not sequence else []
    return {
        "dim": cost.dim if cost is not None else np.nan,
        "bytes_per_image": cost.bytes_per_image if cost is not None else np.nan,
        "describe_ms_per_image": round(describe, 3),
        "search_ms_per_query": round(search, 4),
        "device": "; ".join(devices),
    }


def _rows(
    cfg: Config,
    dataset: str,
    queries: str,
    name: str,
    ranks: np.ndarray,
    k: int,
    n_references: int,
    top1: np.ndarray,
    has_positive: np.ndarray,
) -> tuple[dict, pd.DataFrame]:
    """The metrics row (R@N with its interval, the PR columns) and the recall curve (N = 1..k, with
    bands) of one variant."""
    ev = cfg.evaluate
    ns = list(range(1, k + 1))
    block = block_length(cfg, dataset, np.stack([(ranks > 0) & (ranks <= n) for n in ev.recall_at]), queries)
    try:
        bounds = bootstrap_interval(ranks, ns, ev.bootstrap_resamples, ev.bootstrap_seed, ev.confidence, block)
    except TooFew:  # no interval from too few queries or blocks: empty bounds (the report says why)
        bounds = dict.fromkeys(ns, (np.nan, np.nan))
    curve = [recall_at(ranks, n) for n in ns]  # as recall_curve, from the ranks already at hand
    row = {"dataset": dataset, "queries": queries, "method": name}
    for n in ev.recall_at:
        lo, hi = bounds[n]
        row.update({f"R@{n}": round(curve[n - 1], 2), f"R@{n}_lo": round(lo, 2), f"R@{n}_hi": round(hi, 2)})
    row.update({"n_queries": len(ranks), "n_references": n_references, "tolerance": tolerance_column(cfg, dataset)})
    row["bootstrap_block"] = block
    row.update(pr_columns(cfg, ranks, top1, has_positive))
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
    same descriptors, the reference set read from every part). Given, the parts' records (the
    retrieval's own, checked) also fill the cost columns `dim`, `bytes_per_image` and
    `describe_ms_per_image`; without them those cells are empty.
    """
    manifest, positives, retrieval, descriptors = _inputs(
        cfg, method, manifest_path, positives_path, retrieval_path, descriptors_path
    )
    conditions = manifest.frame["condition"].to_numpy()[retrieval.query_rows]
    segments = mf.segments(manifest.frame)
    segments = None if segments is None else segments.to_numpy()
    cost = descriptor_cost(descriptors_path, retrieval) if descriptors_path is not None else None
    references = list(dict.fromkeys(manifest.frame["condition"].to_numpy()[retrieval.reference_rows]))
    rows, curves, ranks_frames = [], [], []
    for queries in mf.query_sets(manifest.frame):
        selected = conditions == queries
        truth = positives.sets.select(selected)
        for name, found, top1 in _variants(cfg, method, retrieval, descriptors, selected, segments):
            ranks = first_hit_ranks(truth.hits(found))
            n_refs, has_positive = len(retrieval.reference_rows), truth.counts() > 0
            row, curve = _rows(cfg, dataset, queries, name, ranks, found.shape[1], n_refs, top1, has_positive)
            row.update(cost_columns(cost, retrieval, name != method))
            row["signature"] = make_signature(
                cfg, dataset, method, name, queries, references, truth, found.shape[1], cost.dim if cost else None
            ).text()
            if row.get("pr_note"):
                print(f"{dataset}/{queries} {name}: precision-recall left empty: {row['pr_note']}")
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
                        "top1_score": top1,
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
