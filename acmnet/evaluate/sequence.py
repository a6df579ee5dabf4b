"""SeqSLAM-style sequence matching (Milford and Wyeth, ICRA 2012) over any method's similarity matrix.

Not in the ACM-Net paper: an extra evaluation that any single-image method (ACM-Net, GeM, raw
pixels, ...) can be run through. Input: a similarity matrix ``S`` (Q, R), higher = more alike
(cosine similarities from the descriptors, or anything else). SeqSLAM works on a difference
matrix and takes the minimum summed difference; on similarities this is the maximum mean
similarity, the same thing with the sign flipped.

Ordering (the caller's job). Rows (queries) and columns (references) must both be in route order
(the order in which the places were driven, e.g. by the manifest's ``place`` or by timestamp), with
roughly constant spacing, since the method follows straight lines through the matrix. A caller
whose sets are in another order sorts them first and maps the answer back::

    q_order, r_order = np.argsort(query_places, kind="stable"), np.argsort(reference_places, kind="stable")
    scores, idx = sequence_topk(S[q_order][:, r_order], k, length)   # or DescriptorSimilarity(ref[r_order], q[q_order])
    idx = r_order[idx]                                               # -> positions in the original reference set
    scores[q_order], idx[q_order] = scores.copy(), idx.copy()        # -> rows in the original query order

Score. For query ``i`` and reference ``j``, velocity ``v`` (reference frames per query frame) and
the query offsets ``k`` of the window, the line through ``(i, j)`` visits ``(i + k, j + round(v k))``
(``np.rint``: halves to even, so a centred line is symmetric). Its score is the *mean* of ``S``
over the points of the line that lie inside the matrix; the sequence score is the maximum over
velocities::

    seq[i, j] = max_v  mean_{k in K, 0 <= i+k < Q, 0 <= j+round(v k) < R}  S'[i + k, j + round(v k)]

Borders: points past the first/last query or reference are dropped, never clamped or padded
(``k = 0``, i.e. ``(i, j)`` itself, is always inside). Near the first/last queries every line of
query ``i`` is shortened alike, so its references stay comparable. Near the first/last
*references* lines are shortened unequally, and a mean of few points is noisy enough to win the
maximum by chance (with a trailing window and no guard, the first few references "attract" many
queries). So a line counts only if at least ``min_overlap`` (default 0.5) of its points inside the
query range also lie inside the reference range; ``(i, j)`` with no such line scores ``-inf``
(in ``sequence_topk`` such references rank last). ``min_overlap = 0`` keeps every line.

Joins (``query_segments``, ``reference_segments``: one integer per row / column, default one
segment each). A route cut into separate stretches (Olid et al.'s Nordland sections, with
frames discarded between them) has joins where consecutive indices are not neighbouring places. A
join is a border: points of a line in another segment than its own query ``i`` (on the query axis)
or its own reference ``j`` (on the reference axis) are dropped, exactly as points past the ends
are, so no line runs across a join. The segments are where each recording was cut, never ground
truth: a query is never told which stretch it belongs to.

Velocities are applied on the integer grid: a line through ``(i, j)`` cannot carry a sub-frame
phase, so at a non-unit velocity it follows the true band only to within +/- 1 reference (as in
SeqSLAM); with smooth similarities (adjacent frames alike) and the +/- 2-frame tolerance this costs
little, on a one-pixel-wide synthetic band it costs a lot.

Window ``K``: ``"centred"`` (default; offline evaluation, as OpenSeqSLAM does) is
``-(L // 2) .. L - 1 - L // 2`` (symmetric for odd L; for even L one more frame before than
after); ``"trailing"`` is ``-(L - 1) .. 0``, the causal/online variant that only uses past queries.
Unlike OpenSeqSLAM, which credits the score to the reference where the line *starts*, the score
here belongs to the reference the line passes at query ``i`` itself, so ``length = 1`` is exactly
single-image matching and the output plugs into recall with the usual tolerance window.

Local contrast enhancement (``contrast_window = W``, off by default; SeqSLAM's R_window is 10):
before the line search each query's row is normalised in a sliding window of references,
``S'[i, j] = (S[i, j] - mean(S[i, a:b])) / std(S[i, a:b])`` with ``a = max(0, j - W // 2)``,
``b = min(R, j + W // 2 + 1)`` (W + 1 references for even W, as in OpenSeqSLAM) and the sample
standard deviation (``ddof=1``, MATLAB's ``std``); a constant window gives 0. The scores are then
z-scores, not cosines.

Cost. Time O(Q R L V) for the line sums (L = len(K), V = number of velocities), plus O(Q R W) for
the contrast enhancement and O(Q R) for the top-K selection; queries are processed ``chunk`` rows at a time
(plus the L - 1 neighbouring rows the lines need), so the working memory is O((chunk + L) R) on
top of the input. ``sequence_topk`` never holds a (Q, R) result; with ``DescriptorSimilarity``
it never holds the (Q, R) similarity matrix either (a 30000 x 30000 float32 matrix is 3.6 GB).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Literal, Protocol

import numpy as np

Window = Literal["centred", "trailing"]
DEFAULT_VELOCITIES = (0.8, 1.0, 1.25)
CHUNK_ELEMENTS = 1 << 22  # about 16 MB per float32 working array


class RowSource(Protocol):
    """Anything with ``shape == (Q, R)`` whose row slices ``source[a:b]`` give (b - a, R) similarities."""

    shape: tuple[int, ...]

    def __getitem__(self, rows: slice) -> np.ndarray: ...


class DescriptorSimilarity:
    """Cosine similarities of L2-normalised descriptors, computed a block of query rows at a time.

    ``DescriptorSimilarity(reference (R, D), queries (Q, D))[a:b]`` is ``queries[a:b] @ reference.T``,
    float32 (b - a, R); ``shape`` is (Q, R). Use it instead of a materialised matrix for large sets.
    """

    def __init__(self, reference: np.ndarray, queries: np.ndarray):
        self.reference = np.ascontiguousarray(reference, dtype=np.float32)
        self.queries = np.ascontiguousarray(queries, dtype=np.float32)
        if self.reference.ndim != 2 or self.queries.ndim != 2 or self.reference.shape[1] != self.queries.shape[1]:
            raise ValueError(
                f"descriptor shapes do not match: reference {self.reference.shape}, queries {self.queries.shape}"
            )
        self.shape = (len(self.queries), len(self.reference))

    def __getitem__(self, rows: slice) -> np.ndarray:
        if not isinstance(rows, slice):
            raise TypeError("DescriptorSimilarity supports row slices only")
        return self.queries[rows] @ self.reference.T


def query_offsets(length: int, window: Window = "centred") -> np.ndarray:
    """The query offsets k of a window of ``length`` consecutive queries, int64 (length,), ascending."""
    if int(length) != length or length < 1:
        raise ValueError(f"sequence length must be a positive integer, got {length}")
    length = int(length)
    if window == "centred":
        start = -(length // 2)
    elif window == "trailing":
        start = -(length - 1)
    else:
        raise ValueError(f"window must be 'centred' or 'trailing', got {window!r}")
    return np.arange(start, start + length, dtype=np.int64)


def contrast_enhance(rows: np.ndarray, window: int) -> np.ndarray:
    """SeqSLAM local contrast enhancement of similarity rows along the reference axis: float32 (n, R).

    Each entry becomes its z-score within references ``j - window // 2 .. j + window // 2``
    (clipped at the ends), with the sample standard deviation; 0 where that window is constant.
    """
    if int(window) != window or window < 2:
        raise ValueError(f"contrast_window must be an integer >= 2, got {window}")
    rows = np.asarray(rows, dtype=np.float64)
    n_ref = rows.shape[1]
    half = int(window) // 2
    j = np.arange(n_ref)
    count = (np.minimum(j + half + 1, n_ref) - np.maximum(j - half, 0)).astype(np.float64)
    # Two passes over the 2 * half + 1 shifts (exact enough for any R, unlike running sums).
    total = np.zeros_like(rows)
    for d in range(-half, half + 1):
        c0, c1 = max(0, -d), min(n_ref, n_ref - d)
        total[:, c0:c1] += rows[:, c0 + d : c1 + d]
    mean = total / count
    squares = np.zeros_like(rows)
    for d in range(-half, half + 1):
        c0, c1 = max(0, -d), min(n_ref, n_ref - d)
        squares[:, c0:c1] += (rows[:, c0 + d : c1 + d] - mean[:, c0:c1]) ** 2
    std = np.sqrt(squares / np.maximum(count - 1, 1))
    flat = std <= 1e-9 * np.abs(mean) + 1e-300  # constant window, up to rounding
    out = np.where(flat, 0.0, (rows - mean) / np.where(flat, 1.0, std))
    return out.astype(np.float32)


def _velocities(velocities: Iterable[float]) -> np.ndarray:
    v = np.unique(np.asarray(list(velocities), dtype=np.float64))
    if v.size == 0 or not np.isfinite(v).all():
        raise ValueError(f"velocities must be a non-empty set of finite numbers, got {velocities}")
    return v


def _shape(similarity: np.ndarray | RowSource) -> tuple[int, int]:
    if len(similarity.shape) != 2:
        raise ValueError(f"similarity must be a (Q, R) matrix, got shape {tuple(similarity.shape)}")
    return int(similarity.shape[0]), int(similarity.shape[1])


def _chunk_rows(n_ref: int, chunk: int | None) -> int:
    if chunk is None:
        return max(1, CHUNK_ELEMENTS // max(n_ref, 1))
    if chunk < 1:
        raise ValueError(f"chunk must be positive, got {chunk}")
    return int(chunk)


def _segments(segments: np.ndarray | None, n: int, what: str) -> np.ndarray | None:
    """The segment of each of n rows as int64 (n,), or None for one segment (no join)."""
    if segments is None:
        return None
    out = np.asarray(segments, dtype=np.int64)
    if out.shape != (n,):
        raise ValueError(f"{what} must hold one segment per row ({n}), got shape {out.shape}")
    return None if len(np.unique(out)) <= 1 else out


def _inside(index: np.ndarray, shifts: np.ndarray, n: int, segments: np.ndarray | None) -> np.ndarray:
    """float32 (len(index), len(shifts)): 1 where index + shift lies in [0, n) and in index's segment."""
    moved = index[:, None] + shifts[None, :]
    valid = (moved >= 0) & (moved < n)
    if segments is not None:
        valid &= segments[np.clip(moved, 0, n - 1)] == segments[index][:, None]
    return valid.astype(np.float32)


def _score_chunks(
    similarity: np.ndarray | RowSource,
    length: int,
    velocities: Iterable[float],
    window: Window,
    contrast_window: int | None,
    min_overlap: float,
    chunk: int | None,
    query_segments: np.ndarray | None = None,
    reference_segments: np.ndarray | None = None,
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield (start, stop, sequence scores float32 (stop - start, R)) over the query axis."""
    if not 0.0 <= min_overlap <= 1.0:
        raise ValueError(f"min_overlap must lie in [0, 1], got {min_overlap}")
    n_query, n_ref = _shape(similarity)
    q_seg = _segments(query_segments, n_query, "query_segments")
    r_seg = _segments(reference_segments, n_ref, "reference_segments")
    offsets = query_offsets(length, window)
    v = _velocities(velocities)
    shifts = np.rint(v[:, None] * offsets[None, :]).astype(np.int64)  # (V, L) reference offsets
    # ref_valid[v][l, j]: reference j + shift lies inside the set (and j's segment); shared by every chunk.
    j = np.arange(n_ref)
    ref_valid = [_inside(j, s, n_ref, r_seg).T.copy() for s in shifts]
    step = _chunk_rows(n_ref, chunk)
    k_min, k_max = int(offsets[0]), int(offsets[-1])
    for start in range(0, n_query, step):
        stop = min(start + step, n_query)
        n = stop - start
        lo, hi = max(0, start + k_min), min(n_query, stop + k_max)
        rows = np.asarray(similarity[lo:hi], dtype=np.float32)
        if rows.shape != (hi - lo, n_ref):
            raise ValueError(f"similarity rows {lo}:{hi} have shape {rows.shape}, expected {(hi - lo, n_ref)}")
        if contrast_window is not None:
            rows = contrast_enhance(rows, contrast_window)
        i = np.arange(start, stop)
        query_valid = _inside(i, offsets, n_query, q_seg)  # (n, L)
        needed = (min_overlap * query_valid.sum(axis=1, keepdims=True) - 1e-6).astype(np.float32)  # (n, 1)
        best = np.full((n, n_ref), -np.inf, dtype=np.float32)
        total = np.empty((n, n_ref), dtype=np.float32)
        for vi in range(len(v)):
            total.fill(0.0)
            for at, (k, d) in enumerate(zip(offsets.tolist(), shifts[vi].tolist())):
                a, b = max(start, -k), min(stop, n_query - k)  # queries i whose i + k exists
                c0, c1 = max(0, -d), min(n_ref, n_ref - d)  # references j whose j + d exists
                if a >= b or c0 >= c1:
                    continue
                points = rows[a + k - lo : b + k - lo, c0 + d : c1 + d]
                if q_seg is not None or r_seg is not None:  # points across a join are dropped
                    points = points * query_valid[a - start : b - start, at, None] * ref_valid[vi][at, None, c0:c1]
                total[a - start : b - start, c0:c1] += points
            count = query_valid @ ref_valid[vi]  # (n, R) number of in-range points of each line, >= 1
            np.maximum(best, np.where(count >= needed, total / count, -np.inf), out=best)
        yield start, stop, best


def sequence_scores(
    similarity: np.ndarray | RowSource,
    length: int,
    velocities: Iterable[float] = DEFAULT_VELOCITIES,
    *,
    window: Window = "centred",
    contrast_window: int | None = None,
    min_overlap: float = 0.5,
    chunk: int | None = None,
    query_segments: np.ndarray | None = None,
    reference_segments: np.ndarray | None = None,
) -> np.ndarray:
    """Sequence scores of every (query, reference) pair: float32 (Q, R), higher = better.

    ``similarity``: (Q, R) array (or memmap, or ``DescriptorSimilarity``), rows and columns in route
    order; ``length``: queries per sequence; ``velocities``: reference frames per query frame
    (any iterable, e.g. ``np.arange(0.8, 1.21, 0.1)``); ``window``: "centred" or "trailing";
    ``contrast_window``: SeqSLAM's local contrast enhancement window, None = off; ``min_overlap``: the
    reference-border guard (share of a line that must lie inside the reference set); ``chunk``: query rows
    per block (default: about 4M elements per block); ``query_segments``, ``reference_segments``: the
    stretch of the route each row / column belongs to (None: one stretch), no line crosses a join. See
    the module docstring for the definition.
    """
    n_query, n_ref = _shape(similarity)
    out = np.empty((n_query, n_ref), dtype=np.float32)
    for start, stop, block in _score_chunks(
        similarity, length, velocities, window, contrast_window, min_overlap, chunk, query_segments, reference_segments
    ):
        out[start:stop] = block
    return out


def topk_rows(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k columns of each row, best first (ties: lower index first): (float32 (n, k), int64 (n, k))."""
    n, n_ref = scores.shape
    k = min(int(k), n_ref)
    if k < n_ref:
        candidates = np.sort(np.argpartition(-scores, k - 1, axis=1)[:, :k], axis=1)
    else:
        candidates = np.broadcast_to(np.arange(n_ref), (n, n_ref))
    values = np.take_along_axis(scores, candidates, axis=1)
    order = np.argsort(-values, axis=1, kind="stable")
    return (
        np.take_along_axis(values, order, axis=1).astype(np.float32),
        np.take_along_axis(candidates, order, axis=1).astype(np.int64),
    )


def sequence_topk(
    similarity: np.ndarray | RowSource,
    k: int,
    length: int,
    velocities: Iterable[float] = DEFAULT_VELOCITIES,
    *,
    window: Window = "centred",
    contrast_window: int | None = None,
    min_overlap: float = 0.5,
    chunk: int | None = None,
    query_segments: np.ndarray | None = None,
    reference_segments: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k references per query by sequence score: (scores float32 (Q, k), indices int64 (Q, k)).

    Indices are positions in the reference set (columns of ``similarity``), best first, k capped at
    R: the same layout as ``acmnet.evaluate.retrieval.search``, so the result goes straight into
    ``acmnet.evaluate.metrics.recall_curve``. Memory O((chunk + length) R); arguments as ``sequence_scores``.
    """
    if int(k) != k or k < 1:
        raise ValueError(f"k must be a positive integer, got {k}")
    n_query, n_ref = _shape(similarity)
    k = min(int(k), n_ref)
    scores = np.empty((n_query, k), dtype=np.float32)
    indices = np.empty((n_query, k), dtype=np.int64)
    for start, stop, block in _score_chunks(
        similarity, length, velocities, window, contrast_window, min_overlap, chunk, query_segments, reference_segments
    ):
        scores[start:stop], indices[start:stop] = topk_rows(block, k)
    return scores, indices
