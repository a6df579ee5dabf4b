"""Exact k-nearest-neighbour search by inner product (cosine on L2-normalised descriptors).

Output `retrieval.npz` (`acmnet.artifacts.Retrieval`): `indices` (Q, K) int64 positions in the
reference set (best first), `scores` (Q, K) float32 cosine similarities, the manifest row numbers
of both sets, and the provenance (the descriptors and what they were made from). `retrieve` reads
the descriptor parts the describe jobs wrote as they are (`acmnet.artifacts.load_descriptors`):
their reference arrays memory-mapped, never gathered into one array.

Order, ties included: references are listed by score descending, then by reference index
ascending (their position in the reference set, the manifest's reference order). The top k is the
first k of that one order, so a query's list at `top_k: 5` is the first five of its list at
`top_k: 10`, whatever the memory bound and however many parts the references are held in. Ties
count as that order says, neither in a query's favour nor against it: of references with exactly
the same score, the one listed first in the reference set ranks first. A query whose descriptor
is all zeros (possible with `normalize: false`) scores 0 against every reference, so its list is
references 0, 1, 2, ...: it counts as correct at rank 1 only when reference 0 is one of its
positives. faiss itself lists tied references in an order that depends on k (highest index first
in its heap, another rule in its reservoir for k >= 100, the first best of a SIMD lane for k = 1);
this module does not follow it.

`search_streamed` searches a reference set held in parts (memory-mapped `.npy` files or arrays) in
a set memory bound:

- Scores are faiss's (`faiss.knn`, what `IndexFlatIP.search` runs), float32 inner products. When
  the references fit the bound, it is one faiss call on the whole set. When they do not, they are
  searched in chunks that start on faiss's 1024-row grid (`distance_compute_blas_database_bs`:
  faiss's sgemm computes the whole set in blocks of 1024 references, and a score's last bit
  depends on where its reference falls in a block), each with all the queries, so every score is
  the one the whole-set call gives (a chunk that would straddle two parts is copied). One
  exception, in last bits only: fewer queries than faiss threads over at least
  max(10000, 1024 x threads) references, where faiss splits the references between its threads.
- Each chunk is asked for k + 1 results; a query whose k-th and last answered scores are equal
  (references tied at the k-th score may lie beyond the answer) is asked again, four times as wide
  each time (with every query of faiss's 4096-query BLAS block that holds it, so the scores are the
  same bits), until the answer holds every
  reference at that score or the width reaches what the bound leaves (`_widest`); then the chunk
  is searched again in pieces of that many references (at least one block of 1024, on the grid),
  each asked the same way. A ValueError asks for a larger bound only when the references tied at a
  query's k-th score within one piece are more than the widest answer. The chunk's top k (in the
  order above) is merged with the running top k.

Memory (`chunk_rows`, `peak_bytes`), beyond the inputs; B = memory_mb MiB, Q queries, D dims:

    fixed   = 24 Q k                  the running top-k before and after a chunk (float32 + int64)
            + answer(Q, k + 1)        faiss's answer for one chunk: 12 Q (k + 1), plus its reservoir
                                      (12 x 2(k + 1) per query of a 4096 block) when k + 1 >= 100
            + 4 x 4096 x 1024         faiss's sgemm score block (query block x reference block)
            + 56 x min(Q, 4096) x (2k + 1)   the merge of the running top-k with a chunk's answer
    chunk   = 2 x 4 C D               a chunk of C rows: the pages of a memory-mapped part (released
                                      after use) or a copy beside its source pages
    C       = the largest multiple of 1024 with chunk <= 3/4 (B - fixed) (and no more than R needs);
    the last quarter is kept for the wider answers of tied queries (and their resolved top k).

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
    (without the wider answers of tied queries, which use at most the quarter of the bound
    `chunk_rows` leaves)."""
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
    """The widest answer a tied query may be asked again for: k + 1 doubled while it fits, with the
    resolved top k of the tied queries, the quarter of the bound that `chunk_rows` leaves."""
    reserve = (int(memory_mb * 2**20) - _fixed_bytes(n_queries, k)) // 4 - 12 * n_queries * k
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


# ---- the order --------------------------------------------------------------------------


def _first(values: Sequence[np.ndarray], ids: Sequence[np.ndarray], k: int) -> tuple[np.ndarray, np.ndarray]:
    """The first `k` of each row's candidates, the columns of `values` and `ids` (arrays of (m, n_j)
    side by side), in the defined order: score descending, then reference index ascending;
    (m, min(k, sum n_j)). Done MERGE_ROWS rows at a time."""
    rows, width = len(values[0]), min(k, sum(v.shape[1] for v in values))
    out_v = np.empty((rows, width), dtype=np.float32)
    out_i = np.empty((rows, width), dtype=np.int64)
    for a in range(0, rows, MERGE_ROWS):
        v = np.concatenate([part[a : a + MERGE_ROWS] for part in values], axis=1)
        i = np.concatenate([part[a : a + MERGE_ROWS] for part in ids], axis=1)
        order = np.lexsort((i, -v), axis=-1)[:, :width]
        out_v[a : a + MERGE_ROWS] = np.take_along_axis(v, order, 1)
        out_i[a : a + MERGE_ROWS] = np.take_along_axis(i, order, 1)
    return out_v, out_i


def _spilled(scores: np.ndarray, k: int, n_chunk: int) -> np.ndarray:
    """Rows of faiss's answer (m, width; scores descending) where references tied at the k-th
    score may lie beyond the answer: the last answered score equals the k-th, and the chunk holds
    more references than the answer."""
    if scores.shape[1] >= n_chunk or scores.shape[1] <= k:
        return np.zeros(len(scores), dtype=bool)
    return scores[:, -1] == scores[:, k - 1]


def _query_blocks(rows: np.ndarray, n_queries: int, dim: int) -> np.ndarray:
    """The queries to ask again for the tied query `rows` (sorted): every query of faiss's query
    blocks (`distance_compute_blas_query_bs`, from query 0) that holds one, so each score comes from
    a matrix product of the same shape as in the first answer and keeps its bits; every query when
    such a block is too small for faiss's BLAS path (queries x dim below
    `distance_compute_blas_threshold`), whose pair-by-pair answer would differ in the last bits."""
    size = int(faiss.cvar.distance_compute_blas_query_bs)
    starts = np.unique(rows // size) * size
    stops = np.minimum(starts + size, n_queries)
    if (stops - starts).min() * dim < int(faiss.cvar.distance_compute_blas_threshold):
        return np.arange(n_queries)
    return np.concatenate([np.arange(a, b) for a, b in zip(starts, stops)])


def _chunk_top(
    queries: np.ndarray, chunk: np.ndarray, start: int, k: int, widest: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """The chunk's top min(k, C) of every query in the defined order (global indices from `start`),
    or None when references tied at some query's k-th score are more than `widest`."""
    n_chunk = len(chunk)
    width = min(k + 1, n_chunk)
    values, ids = faiss.knn(queries, chunk, width, faiss.METRIC_INNER_PRODUCT)
    tied = np.flatnonzero(_spilled(values, k, n_chunk))
    if len(tied):
        resolved_v = np.empty((len(tied), min(k, n_chunk)), dtype=np.float32)
        resolved_i = np.empty(resolved_v.shape, dtype=np.int64)
        pending = np.arange(len(tied))
        while len(pending):
            if width >= min(n_chunk, widest):
                return None
            width = min(n_chunk, width * 4, widest)
            asked = _query_blocks(tied[pending], len(queries), queries.shape[1])
            wide_v, wide_i = faiss.knn(queries[asked], chunk, width, faiss.METRIC_INNER_PRODUCT)  # same score bits
            rows = np.searchsorted(asked, tied[pending])
            done = ~_spilled(wide_v[rows], k, n_chunk)
            resolved_v[pending[done]], resolved_i[pending[done]] = _first([wide_v[rows[done]]], [wide_i[rows[done]]], k)
            pending = pending[~done]
            del wide_v, wide_i
        values[tied] = -np.inf  # the tied rows' candidates: their resolved top k, then nothing
        ids[tied] = np.iinfo(np.int64).max
        values[tied, : resolved_v.shape[1]], ids[tied, : resolved_v.shape[1]] = resolved_v, resolved_i
    top_v, top_i = _first([values], [ids], k)
    top_i += start
    return top_v, top_i


def _scan(
    queries: np.ndarray, chunk: np.ndarray, start: int, run_v: np.ndarray, run_i: np.ndarray, k: int, widest: int
) -> tuple[np.ndarray, np.ndarray]:
    """The running top k after `chunk` (global rows from `start`): merged with the chunk's top k, or,
    when ties spill past the widest answer, with the top k of its pieces (`widest` rows rounded down to
    faiss's block, at least one block)."""
    top = _chunk_top(queries, chunk, start, k, widest)
    if top is None:
        step = max(_block(), widest // _block() * _block())
        if step >= len(chunk):
            raise ValueError(
                f"more than {widest} references tie exactly at a query's k-th score within {len(chunk)} "
                "references: give evaluate.retrieval_memory_mb more room so that all of them can be gathered"
            )
        for a in range(0, len(chunk), step):
            run_v, run_i = _scan(queries, chunk[a : a + step], start + a, run_v, run_i, k, widest)
        return run_v, run_i
    return _first([run_v, top[0]], [run_i, top[1]], k)


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
    concatenated parts), in the module's order: score descending, then reference index ascending,
    the same for any k, bound and parts. The scores are faiss IndexFlatIP's on the whole set, bit for
    bit (module docstring); its indices too, but for the order of exactly tied scores. k is capped
    at the number of references.

    `reference_parts`: 2-d arrays of one width (memory-mapped `.npy` parts, arrays; a single 2-d
    array is one part); their rows are read chunk by chunk, and a memory-mapped chunk's pages are
    dropped from the process once it is searched. `rows` (tests, benchmarks): references per chunk
    instead of `chunk_rows`'s, a multiple of faiss's block (1024); `memory_mb` then only bounds the
    wider answers of tied queries.
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
    `memory_mb` MiB beside the queries: faiss IndexFlatIP's scores on the whole set, ties listed by
    reference index ascending, whatever top_k, the bound and the parts (module docstring)."""
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
