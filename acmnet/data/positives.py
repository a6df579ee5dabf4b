"""Ground truth as positives: per query, the set of reference images that count as correct.

A dataset type says how its positives are found (`DatasetType.ground_truth`):

- `places`: the references whose manifest `place` lies within +/- `tolerance` of the query's
  (the paper's +/-2 frames; searchsorted on the sorted places, never a Q x R comparison);
- `positions`: the references within `positive_distance` metres of the query (manifest `x`, `y`,
  UTM; Euclidean, inclusive), found through a k-d tree, never a Q x R distance matrix, as
  VPR-methods-evaluation and deep-visual-geo-localization-benchmark count them (25 m);
- `listed`: lists fixed when the dataset is prepared, written into the manifest's `positives`
  column: those the dataset ships (VPR-Bench's `ground_truth_new.npy`, MSLS-val's
  `msls_val_pIdx.npy`) or, for NetVLAD's dbStruct, the database images within its posDistThr;
- `frames` (a `utm` dataset with `positive_frames: K`, whose file-name coordinates are frame
  numbers, e.g. Olid's Nordland as `@i@i@` names): the references whose coordinates differ from the
  query's by at most K in each (Chebyshev), exact in integers: never a float radius such as 2*sqrt(2);
- `poses`: the references within `positive_distance` metres in 2-D (`x`, `y`) or 3-D (with `z`), and,
  with a `positive_angle`, within that many degrees of yaw (`yaw`, wrap-around), both inclusive
  (`poses_csv`).

`PositiveSets` holds them as CSR arrays over the queries in manifest order: the positives of query
q are `indices[indptr[q]:indptr[q + 1]]`, sorted positions in the reference set (the manifest's
reference rows in order). A query with no positive keeps an empty row: it stays in every
denominator. Every step that asks "is this retrieval correct?" (score, bootstrap, sequence rows,
figures, Grad-CAM) asks `PositiveSets.hits`.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from acmnet.data import manifest as mf
from acmnet.data.datasets import dataset_type

if TYPE_CHECKING:
    from acmnet.config import DatasetConfig


@dataclass(frozen=True)
class PositiveSets:
    """CSR positives: `indptr` int64 (Q + 1,), `indices` int64 (nnz,), sorted within each query;
    `n_references`: the size of the reference set the indices point into."""

    indptr: np.ndarray
    indices: np.ndarray
    n_references: int

    @property
    def n_queries(self) -> int:
        return len(self.indptr) - 1

    def counts(self) -> np.ndarray:
        """Positives per query: int64 (Q,)."""
        return np.diff(self.indptr)

    def of(self, query: int) -> np.ndarray:
        """Positions of query `query`'s positives in the reference set, sorted."""
        return self.indices[self.indptr[query] : self.indptr[query + 1]]

    def select(self, queries: np.ndarray) -> PositiveSets:
        """The positives of the queries `queries` (bool mask or positions), in that order."""
        picked = np.flatnonzero(queries) if np.asarray(queries).dtype == bool else np.asarray(queries, np.int64)
        counts = self.counts()[picked]
        return PositiveSets(_indptr(counts), self.indices[_spans(self.indptr[picked], counts)], self.n_references)

    def hits(self, found: np.ndarray) -> np.ndarray:
        """Whether each retrieved reference is a positive of its query: bool (Q, K) for
        `found` int (Q, K) positions in the reference set (negative positions are never hits)."""
        found = np.asarray(found, dtype=np.int64)
        if found.shape[0] != self.n_queries:
            raise ValueError(f"{found.shape[0]} queries retrieved, but the positives hold {self.n_queries}")
        if not len(self.indices):
            return np.zeros(found.shape, dtype=bool)
        rows = np.repeat(np.arange(self.n_queries, dtype=np.int64), self.counts())
        keys = rows * self.n_references + self.indices  # ascending: rows ascend, indices sorted within
        wanted = np.arange(self.n_queries, dtype=np.int64)[:, None] * self.n_references + found
        at = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
        return (found >= 0) & (keys[at] == wanted)


def _indptr(counts: np.ndarray) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


def _spans(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The positions starts[i], starts[i] + 1, ... (counts[i] of them) for every i, concatenated."""
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return np.repeat(starts, counts) + offsets


def _from_ranges(order: np.ndarray, lo: np.ndarray, hi: np.ndarray, n_references: int) -> PositiveSets:
    """Positives `order[lo[q]:hi[q]]` per query, each row sorted."""
    counts = (hi - lo).astype(np.int64)
    indices = order[_spans(lo, counts)]
    rows = np.repeat(np.arange(len(counts)), counts)
    sort = np.lexsort((indices, rows))
    return PositiveSets(_indptr(counts), indices[sort].astype(np.int64), n_references)


def from_places(
    query_places: np.ndarray,
    reference_places: np.ndarray,
    tolerance: int,
    query_segments: np.ndarray | None = None,
    reference_segments: np.ndarray | None = None,
) -> PositiveSets:
    """References whose place lies within +/- `tolerance` of each query's place; with segments (one
    integer per row, `acmnet.data.manifest.SEGMENT_COLUMN`), only those of the query's own segment:
    the window never crosses a join between separate stretches of the route."""
    if query_segments is not None and reference_segments is not None:
        query_places, reference_places = _joined_places(
            query_places, reference_places, tolerance, query_segments, reference_segments
        )
    order = np.argsort(reference_places, kind="stable")
    ordered = np.asarray(reference_places)[order]
    lo = np.searchsorted(ordered, np.asarray(query_places) - tolerance, side="left")
    hi = np.searchsorted(ordered, np.asarray(query_places) + tolerance, side="right")
    return _from_ranges(order, lo, hi, len(reference_places))


def _joined_places(
    query_places: np.ndarray, reference_places: np.ndarray, tolerance: int, q_seg: np.ndarray, r_seg: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Places moved apart by segment (segment rank x (span + 2 tolerance + 1)), so no window reaches
    from one segment into another while places within a segment keep their distances: int64 each."""
    q, r = np.asarray(query_places, np.int64), np.asarray(reference_places, np.int64)
    both = np.concatenate([q, r])
    span = int(both.max() - both.min()) + 2 * int(tolerance) + 1 if len(both) else 1
    _, rank = np.unique(np.concatenate([np.asarray(q_seg), np.asarray(r_seg)]), return_inverse=True)
    return q + rank[: len(q)] * span, r + rank[len(q) :] * span


def from_positions(query_xy: np.ndarray, reference_xy: np.ndarray, distance: float) -> PositiveSets:
    """References within `distance` (inclusive, Euclidean) of each query: float (Q, 2), (R, 2) metres.

    A k-d tree finds candidates a hair beyond the radius; the exact test `hypot <= distance` then
    decides, so a reference at exactly `distance` counts (as a radius search does in those tools).
    """
    from scipy.spatial import cKDTree

    reference_xy = np.asarray(reference_xy, dtype=np.float64)
    query_xy = np.asarray(query_xy, dtype=np.float64)
    tree = cKDTree(reference_xy)
    candidates = tree.query_ball_point(query_xy, r=distance * (1 + 1e-9) + 1e-9, return_sorted=True)
    counts = np.fromiter((len(c) for c in candidates), dtype=np.int64, count=len(candidates))
    indices = np.fromiter((i for c in candidates for i in c), dtype=np.int64, count=int(counts.sum()))
    rows = np.repeat(np.arange(len(counts)), counts)
    gap = np.hypot(*(reference_xy[indices] - query_xy[rows]).T) if len(indices) else np.empty(0)
    keep = gap <= distance
    return PositiveSets(_indptr(np.bincount(rows[keep], minlength=len(counts))), indices[keep], len(reference_xy))


def from_frames(query_xy: np.ndarray, reference_xy: np.ndarray, frames: int) -> PositiveSets:
    """References whose integer coordinates (frame numbers, float or int (Q, 2), (R, 2)) differ from the
    query's by at most `frames` in each coordinate; a non-integer coordinate raises ValueError."""
    from scipy.spatial import cKDTree

    query_xy, reference_xy = np.asarray(query_xy, np.float64), np.asarray(reference_xy, np.float64)
    for name, xy in (("query", query_xy), ("reference", reference_xy)):
        bad = np.flatnonzero(~np.all(xy == np.round(xy), axis=1))
        if len(bad):
            raise ValueError(f"{name} {bad[0]} has coordinates {xy[bad[0]].tolist()}, not frame numbers (integers)")
    candidates = cKDTree(reference_xy).query_ball_point(query_xy, r=frames + 0.5, p=np.inf, return_sorted=True)
    counts = np.fromiter((len(c) for c in candidates), dtype=np.int64, count=len(candidates))
    indices = np.fromiter((i for c in candidates for i in c), dtype=np.int64, count=int(counts.sum()))
    rows = np.repeat(np.arange(len(counts)), counts)
    gap = np.abs(reference_xy[indices] - query_xy[rows]).max(axis=1) if len(indices) else np.empty(0)
    keep = gap <= frames
    return PositiveSets(_indptr(np.bincount(rows[keep], minlength=len(counts))), indices[keep], len(reference_xy))


def boundary_pairs(
    query_xy: np.ndarray, reference_xy: np.ndarray, distance: float, eps: float = 1e-6
) -> tuple[int, tuple[int, int, float] | None]:
    """How many (query, reference) pairs lie within `eps` of `distance` (float (Q, D), (R, D)), and one
    of them as (query, reference, its distance); (0, None) when none. Whether such a pair counts as a
    positive depends on float rounding (a radius of 2*sqrt(2) over frame-number coordinates). Counted
    by two radius searches (lengths only: no list of every pair in memory)."""
    from scipy.spatial import cKDTree

    query_xy, reference_xy = np.asarray(query_xy, np.float64), np.asarray(reference_xy, np.float64)
    if not len(query_xy) or not len(reference_xy):
        return 0, None
    tree = cKDTree(reference_xy)
    outer = tree.query_ball_point(query_xy, r=distance + eps, return_length=True)
    inner = tree.query_ball_point(query_xy, r=max(distance - eps, 0.0), return_length=True)
    ring = np.asarray(outer) - np.asarray(inner)
    if not ring.any():
        return 0, None
    q = int(np.flatnonzero(ring)[0])
    near = np.asarray(tree.query_ball_point(query_xy[q], r=distance + eps), dtype=np.int64)
    gaps = np.linalg.norm(reference_xy[near] - query_xy[q], axis=1)
    r = int(near[np.argmin(np.abs(gaps - distance))])
    return int(ring.sum()), (q, r, float(np.linalg.norm(reference_xy[r] - query_xy[q])))


def warn_boundary(query_xy: np.ndarray, reference_xy: np.ndarray, distance: float) -> None:
    """A warning on stderr when some query-reference distance lies within 1e-6 m of `distance`."""
    count, example = boundary_pairs(query_xy, reference_xy, distance)
    if example is not None:
        q, r, gap = example
        print(
            f"warning: {count} query-reference pairs lie within 1e-6 m of positive_distance {distance!r} (e.g. "
            f"query {q} and reference {r}, {gap!r} m apart): whether they count depends on float rounding; if the "
            "coordinates are frame numbers, set `positive_frames: K` instead (exact in integers)",
            file=sys.stderr,
        )


def yaw_gap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest angle between yaws `a` and `b` (degrees, any range) with wrap-around: 0..180 (359, 1 -> 2)."""
    return np.abs(np.remainder(np.asarray(a, np.float64) - np.asarray(b, np.float64) + 180.0, 360.0) - 180.0)


def from_poses(
    query_xyz: np.ndarray,
    reference_xyz: np.ndarray,
    distance: float,
    query_yaw: np.ndarray | None = None,
    reference_yaw: np.ndarray | None = None,
    angle: float | None = None,
) -> PositiveSets:
    """References within `distance` metres (inclusive, Euclidean over the D columns given: float (Q, D),
    (R, D), D = 2 or 3) and, with `angle`, within `angle` degrees of yaw (inclusive, `yaw_gap`)."""
    from scipy.spatial import cKDTree

    query_xyz, reference_xyz = np.asarray(query_xyz, np.float64), np.asarray(reference_xyz, np.float64)
    candidates = cKDTree(reference_xyz).query_ball_point(query_xyz, r=distance * (1 + 1e-9) + 1e-9, return_sorted=True)
    counts = np.fromiter((len(c) for c in candidates), dtype=np.int64, count=len(candidates))
    indices = np.fromiter((i for c in candidates for i in c), dtype=np.int64, count=int(counts.sum()))
    rows = np.repeat(np.arange(len(counts)), counts)
    gap = np.linalg.norm(reference_xyz[indices] - query_xyz[rows], axis=1) if len(indices) else np.empty(0)
    keep = gap <= distance
    if angle is not None:
        if query_yaw is None or reference_yaw is None:
            raise ValueError("a positive angle needs the yaw of every query and reference")
        keep &= yaw_gap(np.asarray(query_yaw)[rows], np.asarray(reference_yaw)[indices]) <= angle
    return PositiveSets(_indptr(np.bincount(rows[keep], minlength=len(counts))), indices[keep], len(reference_xyz))


def from_lists(texts: list[str], n_references: int, where: str) -> PositiveSets:
    """Positives written as space-separated reference positions, one text per query."""
    rows = [np.array(text.split(), dtype=np.int64) if text.strip() else np.empty(0, np.int64) for text in texts]
    for q, row in enumerate(rows):
        if len(row) and (row.min() < 0 or row.max() >= n_references):
            raise ValueError(f"{where}: query {q} lists reference {row.max()} of only {n_references}")
    counts = np.array([len(r) for r in rows], dtype=np.int64)
    indices = np.concatenate([np.unique(r) for r in rows]) if rows else np.empty(0, np.int64)
    if len(indices) != counts.sum():
        raise ValueError(f"{where}: a query lists one reference twice")
    return PositiveSets(_indptr(counts), indices.astype(np.int64), n_references)


def positives_of(
    frame: pd.DataFrame, ground_truth: str, tolerance: int, distance: float | None, angle: float | None = None
) -> PositiveSets:
    """The positives of every query row of a manifest (in manifest order) under `ground_truth`
    (`angle`: the `poses` ground truth's yaw limit in degrees, None: none)."""
    queries = frame[frame["role"] == "query"]
    references = frame[frame["role"] == "reference"]
    if ground_truth == "places":
        q_seg, r_seg = mf.segments(frame, frame["role"] == "query"), mf.segments(frame, frame["role"] == "reference")
        return from_places(
            queries["place"].to_numpy(),
            references["place"].to_numpy(),
            tolerance,
            None if q_seg is None else q_seg.to_numpy(),
            None if r_seg is None else r_seg.to_numpy(),
        )
    if ground_truth == "positions":
        missing = [c for c in mf.POSITION_COLUMNS if c not in frame.columns]
        if missing or distance is None:
            raise mf.ManifestError(f"the manifest lacks position column(s) {missing} (or no positive distance)")
        xy = mf.POSITION_COLUMNS
        query_xy, reference_xy = queries[xy].to_numpy(float), references[xy].to_numpy(float)
        warn_boundary(query_xy, reference_xy, distance)
        return from_positions(query_xy, reference_xy, distance)
    if ground_truth == "frames":
        xy = mf.POSITION_COLUMNS
        return from_frames(queries[xy].to_numpy(float), references[xy].to_numpy(float), tolerance)
    if ground_truth == "poses":
        return _poses_of(frame, queries, references, distance, angle)
    if ground_truth == "listed":
        if mf.POSITIVES_COLUMN not in frame.columns:
            raise mf.ManifestError(f"the manifest lacks the `{mf.POSITIVES_COLUMN}` column its dataset type writes")
        return from_lists(queries[mf.POSITIVES_COLUMN].tolist(), len(references), "manifest positives")
    if ground_truth == "none":
        raise mf.ManifestError(
            "the dataset has no public ground truth (msls_test: its challenge server scores the predictions): "
            "no positives to write; write the submission with `acmnet export-msls` instead"
        )
    raise ValueError(f"unknown ground truth `{ground_truth}`: places, positions, frames, poses or listed")


def pose_columns(frame: pd.DataFrame) -> list[str]:
    """The position columns a `poses` manifest holds: x, y and z where it has one."""
    return [*mf.POSITION_COLUMNS, *([mf.Z_COLUMN] if mf.Z_COLUMN in frame.columns else [])]


def _poses_of(
    frame: pd.DataFrame, queries: pd.DataFrame, references: pd.DataFrame, distance: float | None, angle: float | None
) -> PositiveSets:
    xyz = pose_columns(frame)
    missing = [c for c in [*xyz, *([mf.YAW_COLUMN] if angle is not None else [])] if c not in frame.columns]
    if missing or distance is None:
        raise mf.ManifestError(f"the manifest lacks pose column(s) {missing} (or no positive distance)")
    yaws = (
        (None, None)
        if angle is None
        else (queries[mf.YAW_COLUMN].to_numpy(float), references[mf.YAW_COLUMN].to_numpy(float))
    )
    query_xyz, reference_xyz = queries[xyz].to_numpy(float), references[xyz].to_numpy(float)
    warn_boundary(query_xyz, reference_xyz, distance)
    return from_poses(query_xyz, reference_xyz, distance, *yaws, angle)


def describe_counts(frame: pd.DataFrame, sets: PositiveSets) -> str:
    """`database R, <set> Q (n without a positive), ...`: what `prepare` prints."""
    queries = frame.loc[frame["role"] == "query", "condition"].to_numpy()
    parts = [f"references {int((frame['role'] == 'reference').sum())}"]
    none = sets.counts() == 0
    for name in mf.query_sets(frame):
        chosen = queries == name
        parts.append(f"queries {name} {int(chosen.sum())} ({int((none & chosen).sum())} without a positive)")
    return ", ".join(parts)


def ground_truth_of(spec: DatasetConfig) -> tuple[str, int, float | None]:
    """(ground truth kind, place tolerance, positive distance) of a configured dataset; a dataset with
    `positive_frames: K` gives (`frames`, K, None)."""
    frames = getattr(spec.options, "positive_frames", None)
    if frames is not None:
        return "frames", int(frames), None
    return dataset_type(spec.type).ground_truth, spec.tolerance, getattr(spec.options, "positive_distance", None)


def positive_angle_of(spec: DatasetConfig) -> float | None:
    """The yaw limit (degrees) of a configured `poses` dataset; None for every other dataset."""
    return getattr(spec.options, "positive_angle", None)


def count_positives(spec: DatasetConfig, frame: pd.DataFrame) -> str:
    """What a dataset's positives are and how many queries have none (as `prepare` prints it)."""
    return describe_counts(frame, positives_of(frame, *ground_truth_of(spec), positive_angle_of(spec)))
