"""Exact k-nearest-neighbour search by inner product (cosine on L2-normalised descriptors).

Output `retrieval.npz` (`acmnet.artifacts.Retrieval`): `indices` (Q, K) int64 positions in the
reference set (best first), `scores` (Q, K) float32 cosine similarities, the manifest row numbers
of both sets, and the provenance (the descriptors and what they were made from). `retrieve` reads
the descriptor parts the describe jobs wrote as they are (`acmnet.artifacts.load_descriptors`):
their reference arrays memory-mapped, never gathered into one array.

`search_streamed` searches a reference set held in parts (memory-mapped `.npy` files or arrays) in
a set memory bound and returns what faiss `IndexFlatIP` returns on the whole concatenated set:

- Scores: faiss computes them with its own sgemm in blocks of `distance_compute_blas_database_bs`
  (1024) references, all queries in one call (faiss blocks those by 4096 itself), or pair by pair
  when queries x dim < `distance_compute_blas_threshold`. The sgemm's last bit depends on where a
  reference falls in its block, so the chunks here start on that 1024-row grid and each is
  searched with `faiss.knn` and all the queries: every sgemm call is the one faiss makes on the
  whole set, and the scores are bit-identical (a chunk that would straddle two parts is copied).
- Ties (measured with duplicated rows and integer vectors, tests/evaluate/test_retrieval.py):
  for 2 <= k < 100 faiss keeps a heap per query, scanning references in index order; a reference
  enters only when it beats the worst kept score strictly, and the worst is evicted lowest index
  first (`CMin::cmp2`). Its output is sorted by score descending, equal scores by index
  DESCENDING; of the references tied at the k-th score v it keeps the highest indices among those
  that came before the k-th reference (in index order) scoring at least v, which is neither the
  lowest nor the highest tied indices. `_heap_choice` is that rule in closed form; the running
  top-k is the heap's exact state, so continuing the scan over a chunk is the same rule over the
  kept references and the chunk. faiss is asked for k + 1 per chunk; where the k-th and (k + 1)-th
  candidates tie, the query blocks holding such rows are asked again, four times as wide each
  time, until every reference of the chunk scoring at least the tie is known (`_scan`). For k = 1
  faiss's sgemm path keeps, per 1024-block, the first best of the lowest SIMD lane (16 lanes with
  AVX-512, 8 with AVX2), earlier blocks first: each chunk's own top-1 from faiss, replaced only by
  a strictly better later one, is exactly that.

Exceptions (the same scores and indices up to exactly tied references, documented not hidden):
k >= faiss's `distance_compute_min_k_reservoir` (100) switches faiss to a reservoir whose choice
among references tied at the k-th score is not the heap's; fewer queries than faiss threads with
at least max(10000, 1024 x threads) references switches faiss to a database-parallel scan whose
sgemm blocks follow the thread split (scores may then differ in the last bit). Neither happens
when the whole set fits the bound as one chunk: that is one faiss call on the whole set.

Memory (`chunk_rows`, `peak_bytes`), beyond the inputs; B = memory_mb MiB, Q queries, D dims:

    fixed   = 24 Q k                  the running top-k before and after a chunk (float32 + int64)
            + answer(Q, k + 1)        faiss's answer for one chunk: 12 Q (k + 1), plus its reservoir
                                      (12 x 2(k + 1) per query of a 4096 block) when k + 1 >= 100
            + 4 x 4096 x 1024         faiss's sgemm score block (query block x reference block)
            + 56 x min(Q, 4096) x (2k + 1)   the merge of the running top-k with a chunk's answer
    chunk   = 2 x 4 C D               a chunk of C rows: the pages of a memory-mapped part (released
                                      after use) or a copy beside its source pages
    C       = the largest multiple of 1024 with chunk <= 3/4 (B - fixed) (and no more than R needs);
    the last quarter is kept for the tie reruns (a wider answer; if the ties need more, the chunk is
    scanned again in smaller pieces, and a ValueError asks for a larger bound only when more than
    that many references tie within one block of 1024).

"""

from __future__ import annotations

import mmap
from collections.abc import Iterator, Sequence
from pathlib import Path

import faiss
import numpy as np
from tqdm import tqdm

from acmnet.artifacts import Retrieval, check_method, load_descriptors, provenance, save_retrieval

MERGE_ROWS = 4096  # queries merged at a time (bounds the merge's temporaries)
_MERGE_BYTES = 56  # bytes per candidate in a merge: both arrays, their negations, the sort order, the gather


# ---- memory -----------------------------------------------------------------------------


def _block() -> int:
    """faiss's reference block: the grid the chunks start on."""
    return int(faiss.cvar.distance_compute_blas_database_bs)


def _answer_bytes(n_queries: int, width: int) -> int:
    """faiss.knn's memory for `width` results per query: the answer, and its reservoir when it uses one."""
    out = 12 * n_queries * width
    if width >= faiss.cvar.distance_compute_min_k_reservoir:
        capacity = (2 * width + 15) & ~15
        out += 12 * min(n_queries, int(faiss.cvar.distance_compute_blas_query_bs)) * capacity
    return out


def _fixed_bytes(n_queries: int, k: int) -> int:
    score_block = 4 * int(faiss.cvar.distance_compute_blas_query_bs) * _block()
    merge = _MERGE_BYTES * min(n_queries, MERGE_ROWS) * (2 * k + 1)
    return 24 * n_queries * k + _answer_bytes(n_queries, k + 1) + score_block + merge


def peak_bytes(n_queries: int, dim: int, k: int, rows: int) -> int:
    """Estimated peak memory of `search_streamed` beyond its inputs, with chunks of `rows` references
    (without the tie reruns, which use at most the quarter of the bound `chunk_rows` leaves)."""
    return _fixed_bytes(n_queries, k) + 2 * 4 * rows * dim


def chunk_rows(n_queries: int, dim: int, k: int, memory_mb: float, n_references: int | None = None) -> int:
    """References per chunk for `memory_mb` MiB: the largest multiple of faiss's block (1024) whose
    chunk takes at most 3/4 of what the bound leaves beside the fixed costs (module docstring); no
    more than `n_references` needs (rounded up to the block). ValueError when not even one block fits."""
    block, budget = _block(), int(memory_mb * 2**20)
    room = (budget - _fixed_bytes(n_queries, k)) * 3 // 4
    rows = room // (2 * 4 * dim) // block * block
    if rows < block:
        need = (_fixed_bytes(n_queries, k) + 4 * 2 * 4 * block * dim // 3) / 2**20
        raise ValueError(
            f"a memory bound of {memory_mb:g} MiB cannot hold the search of {n_queries} queries for the top "
            f"{k} in chunks of {block} references of {dim} dimensions: give at least {np.ceil(need):.0f} MiB "
            "(evaluate.retrieval_memory_mb)"
        )
    if n_references is not None:
        rows = min(rows, max(block, -(-n_references // block) * block))
    return int(rows)


def _widest(n_queries: int, k: int, memory_mb: float) -> int:
    """The widest answer a tie rerun may ask faiss for: k + 1 doubled while it fits the quarter of
    the bound that `chunk_rows` leaves (beside the answer of k + 1 it replaces)."""
    reserve = (int(memory_mb * 2**20) - _fixed_bytes(n_queries, k)) // 4
    widest = k + 1
    while _answer_bytes(n_queries, widest * 2) <= _answer_bytes(n_queries, k + 1) + reserve:
        widest *= 2
    return widest


# ---- parts and chunks ------------------------------------------------------------------


def _release(part: np.ndarray, start: int, stop: int) -> None:
    """Drop the resident pages of rows [start, stop) of a memory-mapped part from this process (the
    file stays in the page cache); nothing for an array in memory or a copy-on-write map."""
    mm = getattr(part, "_mmap", None)
    if mm is None or getattr(part, "mode", "c") == "c" or not hasattr(mmap, "MADV_DONTNEED") or stop <= start:
        return
    try:
        base = np.frombuffer(mm, dtype=np.uint8)
        origin = base.ctypes.data
        del base
        first = part.ctypes.data + start * part.strides[0] - origin
        last = first + (stop - start) * part.strides[0]
        first -= first % mmap.PAGESIZE
        last = min(len(mm), -(-last // mmap.PAGESIZE) * mmap.PAGESIZE)
        mm.madvise(mmap.MADV_DONTNEED, first, last - first)
    except (AttributeError, BufferError, OSError, TypeError, ValueError):
        pass  # only memory, never the result


def _chunks(lengths: Sequence[int], rows: int) -> Iterator[tuple[int, int, list[tuple[int, int, int]]]]:
    """(start, stop, pieces) per chunk: global rows [start, stop) on the block grid, and the parts
    that hold them as (part, first row, end row). A chunk stays in one part (a view) when that part
    holds at least a block from its start: it then ends at the last grid line before the part's
    end. Otherwise it is copied across parts, up to `rows` rows, or only to the grid line just past
    the start of a part of at least rows / 2 (which then continues as views)."""
    block = _block()
    bounds = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)])
    total, start = int(bounds[-1]), 0
    while start < total:
        stop = min(start + rows, total)
        first = int(np.searchsorted(bounds, start, side="right")) - 1
        end = int(bounds[first + 1])
        if stop > end and end - start >= block:
            stop = end // block * block
        elif stop > end:
            for q in range(first + 1, len(lengths)):
                if bounds[q] >= stop:
                    break
                if lengths[q] >= rows // 2:
                    stop = min(stop, -(-int(bounds[q]) // block) * block)
                    break
        pieces, at, p = [], start, first
        while at < stop:
            while bounds[p + 1] <= at:
                p += 1
            end = min(stop, int(bounds[p + 1]))
            pieces.append((p, at - int(bounds[p]), end - int(bounds[p])))
            at = end
        yield start, stop, pieces
        start = stop


def _load_chunk(parts: Sequence[np.ndarray], pieces: list[tuple[int, int, int]], dim: int) -> np.ndarray:
    """The chunk as one C-contiguous float32 array: a view of a part when it can be, else a copy."""
    if len(pieces) == 1:
        p, a, b = pieces[0]
        return np.ascontiguousarray(parts[p][a:b], dtype=np.float32)
    out = np.empty((sum(b - a for _, a, b in pieces), dim), dtype=np.float32)
    at = 0
    for p, a, b in pieces:
        out[at : at + b - a] = parts[p][a:b]
        _release(parts[p], a, b)
        at += b - a
    return out


# ---- merging ---------------------------------------------------------------------------


def _sorted(values: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Order of candidates (along the last axis) as faiss lists them: score descending, index descending."""
    return np.lexsort((-ids, -values), axis=-1)


def _heap_choice(values: np.ndarray, ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """What faiss's heap keeps of candidates scanned in index order (1-d; every candidate scoring at
    least the k-th best is present, ids unique, len >= k), sorted as faiss lists them.

    With v the k-th best score: every candidate above v, and of those at v, the highest indices
    among the ones that came before the k-th candidate (in index order) scoring at least v: after
    it the heap holds k scores >= v, rejects further ties and evicts its lowest tied index first.
    """
    vstar = np.partition(values, len(values) - k)[len(values) - k]
    at_least = values >= vstar
    order = np.argsort(ids[at_least], kind="stable")
    cand_v, cand_i = values[at_least][order], ids[at_least][order]
    above = cand_v > vstar
    entered = ~above & (cand_i <= cand_i[k - 1])
    tied = np.flatnonzero(entered)
    keep = np.concatenate([np.flatnonzero(above), tied[len(tied) - (k - int(above.sum())) :]])
    v, i = cand_v[keep], cand_i[keep]
    order = _sorted(v, i)
    return v[order], i[order]


def _merge(
    run_v: np.ndarray, run_i: np.ndarray, new_v: np.ndarray, new_i: np.ndarray, k: int, complete: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The heap's state after scanning a chunk: (scores, indices, rows still unresolved).

    `run_*` (m, a): the state before (indices below the chunk's); `new_*` (m, b): faiss's answer for
    the chunk; `complete` (m,): whether that answer holds every reference of the chunk scoring at
    least its last score. A row whose k-th and (k+1)-th candidates differ is settled by the sort; a
    tied row by `_heap_choice` when its answer is complete or ends below the tie, else it is
    returned among the unresolved rows, for a wider answer."""
    values = np.concatenate([run_v, new_v], axis=1)
    ids = np.concatenate([run_i, new_i], axis=1)
    width = min(k, values.shape[1])
    order = _sorted(values, ids)
    sorted_v = np.take_along_axis(values, order, 1)
    top = order[:, :width]
    out_v, out_i = sorted_v[:, :width], np.take_along_axis(ids, top, 1)
    if values.shape[1] == width:
        return out_v, out_i, np.empty(0, dtype=np.int64)
    tied = np.flatnonzero(sorted_v[:, width - 1] == sorted_v[:, width])
    if len(tied) == 0:
        return out_v, out_i, tied
    out_v, out_i = out_v.copy(), out_i.copy()
    pending = []
    for row in tied:
        if not (complete[row] or new_v[row, -1] < sorted_v[row, width - 1]):
            pending.append(row)
            continue
        out_v[row], out_i[row] = _heap_choice(values[row], ids[row], width)
    return out_v, out_i, np.asarray(pending, dtype=np.int64)


# ---- search ----------------------------------------------------------------------------


def _rerun_groups(
    rows: np.ndarray, n_queries: int, dim: int
) -> list[tuple[np.ndarray | slice, np.ndarray, np.ndarray]]:
    """The queries to ask faiss again so that `rows` get the scores they had: (queries to pass,
    the rows among them, their places in faiss's answer) per call. Pair by pair (queries x dim
    under faiss's BLAS threshold) a score does not depend on the other queries: the rows alone.
    With sgemm it depends on the query block (4096) around it: each block holding rows, as faiss
    cut it from all the queries; all of them when a block alone would fall under the threshold."""
    threshold, block = int(faiss.cvar.distance_compute_blas_threshold), int(faiss.cvar.distance_compute_blas_query_bs)
    if n_queries * dim < threshold:
        return [(rows, rows, np.arange(len(rows)))]
    groups = []
    for first in np.unique(rows // block) * block:
        last = min(first + block, n_queries)
        inside = rows[(rows >= first) & (rows < last)]
        if (last - first) * dim < threshold:
            return [(slice(None), rows, rows)]
        groups.append((slice(first, last), inside, inside - first))
    return groups


def _scan(
    queries: np.ndarray, chunk: np.ndarray, start: int, run_v: np.ndarray, run_i: np.ndarray, k: int, widest: int
) -> tuple[np.ndarray, np.ndarray]:
    """The heap's state after scanning `chunk` (global rows from `start`) from state `run_*`.

    faiss answers k + 1 per query; rows tied at the k-th score with references beyond the answer
    are asked again, four times as wide each time up to `widest` results (the memory left for it); if
    that is not enough, the chunk is scanned again in pieces of at most `widest` rows (on the grid)."""
    if k == 1:  # faiss's top-1 scan (SIMD lanes in a block, earlier blocks first) kept as it is
        new_v, new_i = faiss.knn(queries, chunk, 1, faiss.METRIC_INNER_PRODUCT)
        new_i += start
        if run_v.shape[1]:
            keep = run_v >= new_v  # a later chunk replaces the best only when strictly better
            new_v[keep], new_i[keep] = run_v[keep], run_i[keep]
        return new_v, new_i
    n_queries, width = len(queries), min(k + 1, len(chunk))
    new_v, new_i = faiss.knn(queries, chunk, width, faiss.METRIC_INNER_PRODUCT)
    new_i += start
    merged_v = np.empty((n_queries, min(k, run_v.shape[1] + width)), dtype=np.float32)
    merged_i = np.empty(merged_v.shape, dtype=np.int64)
    left = []
    for q in range(0, n_queries, MERGE_ROWS):
        sl = slice(q, q + MERGE_ROWS)
        complete = np.full(len(new_v[sl]), width == len(chunk))
        merged_v[sl], merged_i[sl], pending = _merge(run_v[sl], run_i[sl], new_v[sl], new_i[sl], k, complete)
        left.append(pending + q)
    del new_v, new_i
    left = np.concatenate(left)
    while len(left):  # references tie at the k-th score beyond faiss's answer: ask for more
        if width >= min(len(chunk), widest):
            block = _block()
            step = max(block, widest // block * block)
            if step >= len(chunk):
                raise ValueError(
                    f"more than {width} references tie exactly at a query's k-th score within {len(chunk)} "
                    "references: give evaluate.retrieval_memory_mb more room so that all of them can be gathered"
                )
            for a in range(0, len(chunk), step):
                run_v, run_i = _scan(queries, chunk[a : a + step], start + a, run_v, run_i, k, widest)
            return run_v, run_i
        width = min(len(chunk), width * 4, widest)
        still = []
        for queried, rows, at in _rerun_groups(left, len(queries), queries.shape[1]):
            wide_v, wide_i = faiss.knn(queries[queried], chunk, width, faiss.METRIC_INNER_PRODUCT)
            wide_i += start
            complete = np.full(len(rows), width == len(chunk))
            v, i, pending = _merge(run_v[rows], run_i[rows], wide_v[at], wide_i[at], k, complete)
            del wide_v, wide_i
            done = np.setdiff1d(np.arange(len(rows)), pending)
            merged_v[rows[done]], merged_i[rows[done]] = v[done], i[done]
            still.append(rows[pending])
        left = np.concatenate(still)
    return merged_v, merged_i


def search_streamed(
    reference_parts: Sequence[np.ndarray] | np.ndarray,
    queries: np.ndarray,
    k: int,
    memory_mb: float = 2048,
    progress: bool = False,
    *,
    rows: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k references per query by inner product over a reference set held in parts, in a bound of
    `memory_mb` MiB beyond the inputs: (scores float32 (Q, k), indices int64 (Q, k) positions in the
    concatenated parts), exactly what faiss IndexFlatIP returns on the whole set (module docstring:
    scores bit for bit, ties included). k is capped at the number of references.

    `reference_parts`: 2-d arrays of one width (memory-mapped `.npy` parts, arrays; a single 2-d
    array is one part); their rows are read chunk by chunk, and a memory-mapped chunk's pages are
    dropped from the process once it is searched. `rows` (tests, benchmarks): references per chunk
    instead of `chunk_rows`'s, a multiple of faiss's block (1024); `memory_mb` then only bounds the
    tie reruns.
    """
    if isinstance(reference_parts, np.ndarray) and reference_parts.ndim == 2:
        reference_parts = [reference_parts]
    parts = list(reference_parts)
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    if queries.ndim != 2:
        raise ValueError(f"queries must be a 2-d array, not of shape {queries.shape}")
    dim = queries.shape[1]
    for n, part in enumerate(parts):
        if np.ndim(part) != 2 or part.shape[1] != dim:
            raise ValueError(
                f"descriptor shapes do not match: reference part {n} {np.shape(part)}, queries {queries.shape}"
            )
    if k < 1:
        raise ValueError(f"k must be at least 1, not {k}")
    lengths = [len(p) for p in parts]
    n_refs, n_queries = sum(lengths), len(queries)
    k = min(k, n_refs)
    if n_queries == 0 or k == 0:
        return np.empty((n_queries, k), dtype=np.float32), np.empty((n_queries, k), dtype=np.int64)
    if rows is None:
        rows = chunk_rows(n_queries, dim, k, memory_mb, n_refs)
    elif rows < 1 or rows % _block():
        raise ValueError(f"rows = {rows} is not a positive multiple of faiss's block of {_block()} references")
    widest = _widest(n_queries, k, memory_mb)
    plan = list(_chunks(lengths, rows))
    run_v = np.empty((n_queries, 0), dtype=np.float32)
    run_i = np.empty((n_queries, 0), dtype=np.int64)
    for start, _, pieces in tqdm(plan, desc="search", unit="chunk", disable=not progress):
        chunk = _load_chunk(parts, pieces, dim)
        run_v, run_i = _scan(queries, chunk, start, run_v, run_i, k, widest)
        del chunk
        for p, a, b in pieces:
            _release(parts[p], a, b)
    return run_v, run_i


def retrieve(
    descriptors_path: Path | Sequence[Path],
    out: Path,
    k: int,
    settings: dict,
    memory_mb: float = 2048,
    *,
    method: str,
) -> Retrieval:
    """Top-`k` references of every query of the descriptors made for `method` (their parts, or the
    folder holding them); write `out` (recording `method` as its `method_name` setting).

    Searched by `search_streamed` over the parts' reference arrays as they are, memory-mapped, in
    `memory_mb` MiB beside the queries (faiss IndexFlatIP's answer on the whole set, whatever the
    bound and however many parts, up to the tie and last-bit exceptions in the module docstring)."""
    descriptors = load_descriptors(descriptors_path)
    check_method(descriptors, "descriptors", method)
    where = descriptors.path
    if len(descriptors.query_rows) == 0:
        raise ValueError(f"{where} holds no query descriptors: the query set is empty")
    if descriptors.n_references < k:
        raise ValueError(
            f"{where} holds {descriptors.n_references} reference descriptors, fewer than "
            f"evaluate.top_k = {k}: lower evaluate.top_k (and recall_at) to at most that"
        )
    parts = descriptors.reference_parts
    print(
        f"search {len(descriptors.query_rows)} queries in {descriptors.n_references} references "
        f"({len(descriptors.parts)} part(s)) within evaluate.retrieval_memory_mb = {memory_mb:g} MiB"
    )
    scores, indices = search_streamed(parts, descriptors.query, k, memory_mb, progress=True)
    prov = provenance("retrieve", {**settings, "method_name": method}, descriptors=descriptors)
    return save_retrieval(Path(out), indices, scores, descriptors.reference_rows, descriptors.query_rows, prov)
