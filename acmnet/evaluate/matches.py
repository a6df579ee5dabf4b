"""Another tool's stored matches as a retrieval (`kind: matches`, `acmnet import-ranking`).

Two forms, chosen by the file's suffix:

- VPR-Bench's `precomputed_matches/<dataset>/<method>/precomputed_data_corrected.npy`
  (`evaluate_vpr_techniques.py` writes it, `performance_comparison.py` reads it): a Python 2 pickle
  (protocol 2, read as `np.load(..., encoding='latin1')` would) of a 6-element object array: query
  indices (Q,), top-1 reference index (Q,), top-1 score (Q,), the similarity matrix (Q, R; higher is
  more similar; float64 or float32), the mean encoding time per query image (s) and the mean
  matching time per query-reference pair (s). Read by `acmnet.pickled.load_npy` (arrays only).
- the tool-neutral `.npz`: `scores` (Q, R), or `indices` + `scores` (Q, K) (positions in the
  reference set, any order: re-ordered here), with optional `query_names` (Q,) and
  `reference_names` (R,) (image paths relative to the dataset root, matched to the manifest by
  name); without names, rows are the manifest's queries and columns its references, in order.

Retrieval: each query's top K = min(`evaluate.top_k`, R) references by the suite's one tie order
(score descending, then reference index ascending; `acmnet.evaluate.retrieval`), read in blocks of
query rows: a `.npz` member is streamed from its file (one block of rows in memory at a time,
compressed or not), never loaded whole; VPR-Bench's pickle holds its matrix inside the pickle, so
it is read whole. Scores are kept as float64 (a widening of the file's float32, never a rounding).

Refused, naming the file and the first offender (`MatchesError`): a shape other than the
manifest's query and reference counts; query indices other than 0..Q-1 in order; a stored top-1
other than the row argmax of the matrix (naming the first query); a NaN or infinite score; an
index array of float dtype with a non-integral value; an index outside the reference set or twice
in a row; names that are not the manifest's images, each once; fewer than `needed` columns.

Cost (`stored_cost`): VPR-Bench's stored times as the tool stored them (describe = encoding time
per query image; search = matching time per pair x R references), labelled as stored, not timed
here; empty with the reason where they are VPR-Bench's known placeholders (1.33 s and 7e-05 s, in
its ap-gem-r101 and denseVLAD files) or where the file stores none (every `.npz`).
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from acmnet.artifacts import (
    ExternalFile,
    Retrieval,
    file_digest,
    load_manifest,
    provenance,
    save_retrieval,
)
from acmnet.artifacts.retrieval import STORED_COST_KEY, record_json_member
from acmnet.pickled import UnsafePickleError, load_npy

BLOCK_BYTES = 64 << 20  # one block of query rows of the matrix with its working copies (`rows_per_block`)
PLACEHOLDER_TIMES = (1.33, 7e-05)  # VPR-Bench's ap-gem-r101 and denseVLAD files: not measurements
VPRBENCH = "VPR-Bench"


class MatchesError(ValueError):
    """A stored-matches file is malformed or does not fit the manifest; the message names it."""


@dataclass
class StoredMatches:
    """Top-K per query in manifest order: `indices` (Q, K) int64 reference positions, best first,
    `scores` (Q, K) float64; `cost`: the stored times (`stored_cost`)."""

    indices: np.ndarray
    scores: np.ndarray
    cost: dict[str, Any]


# ---- the suite's tie order over a block of rows ---------------------------------------------------


def top_k(block: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(indices int64 (B, k), scores (B, k)) of each row of `block` (B, R), by score descending then
    column ascending (references tied at the k-th score: the lowest columns)."""
    if k >= block.shape[1]:
        picked = np.broadcast_to(np.arange(block.shape[1]), block.shape).copy()
    else:
        picked = np.argpartition(block, block.shape[1] - k, axis=1)[:, block.shape[1] - k :]
        kth = np.take_along_axis(block, picked, 1).min(axis=1)
        for r in np.flatnonzero((block >= kth[:, None]).sum(axis=1) > k):  # ties run past the k-th
            above = np.flatnonzero(block[r] > kth[r])
            picked[r] = np.r_[above, np.flatnonzero(block[r] == kth[r])[: k - len(above)]]
    scores = np.take_along_axis(block, picked, 1)
    order = np.lexsort((picked, -scores), axis=1)
    return np.take_along_axis(picked, order, 1).astype(np.int64), np.take_along_axis(scores, order, 1)


def _finite(block: np.ndarray, start: int, path: Path) -> None:
    bad = np.argwhere(~np.isfinite(block))
    if len(bad):
        q, r = bad[0]
        raise MatchesError(
            f"{path}: the score of query row {start + q}, reference {r} is {block[q, r]}: NaN and infinite "
            "scores cannot be ranked; write finite similarities"
        )


def _integral(values: np.ndarray, what: str, path: Path) -> np.ndarray:
    """`values` as int64: an integer array, or a float one whose every value is integral."""
    if values.dtype.kind in "iu":
        return values.astype(np.int64)
    if values.dtype.kind == "f":
        bad = np.flatnonzero(~np.isfinite(values) | (values != np.round(values)))
        if len(bad) == 0:
            return values.astype(np.int64)
        raise MatchesError(f"{path}: {what} holds {values.flat[bad[0]]!r} at position {bad[0]}, not an index")
    raise MatchesError(f"{path}: {what} is a {values.dtype} array, not integer indices")


def _check_shape(shape: tuple, n_queries: int, n_references: int, path: Path, what: str) -> None:
    if len(shape) != 2 or shape != (n_queries, n_references):
        raise MatchesError(
            f"{path}: {what} has shape {shape}, but the manifest has {n_queries} queries and {n_references} "
            "references: the file must be (queries, references) of this dataset"
        )


# ---- VPR-Bench's precomputed_data_corrected.npy ---------------------------------------------------


def _seconds(value: Any, what: str, path: Path) -> float:
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value.item()
    if not isinstance(value, (int, float, np.floating, np.integer)) or not np.isfinite(value):
        raise MatchesError(f"{path}: element {what} is {value!r:.60}, not a number of seconds")
    return float(value)


def vprbench_cost(encoding: float, matching: float, n_references: int) -> dict[str, Any]:
    """The cost cells of VPR-Bench's stored times: describe ms per image, search ms per query."""
    if (encoding, matching) == PLACEHOLDER_TIMES:
        return {
            "describe_ms_per_image": None,
            "search_ms_per_query": None,
            "device": f"stored by {VPRBENCH}: left empty, its times {encoding} s and {matching} s are "
            "placeholders (the ap-gem-r101 and denseVLAD files), not measurements",
        }
    return {
        "describe_ms_per_image": encoding * 1e3,
        "search_ms_per_query": matching * n_references * 1e3,
        "device": f"stored by {VPRBENCH}, not timed here (describe: its mean encoding time per query image; "
        f"search: its mean matching time per pair x {n_references} references)",
    }


def _vprbench_arrays(path: Path) -> list[Any]:
    try:
        data = load_npy(path, encoding="latin1")
    except UnsafePickleError as exc:
        raise MatchesError(str(exc)) from None
    if data.dtype != object or data.shape != (6,):
        raise MatchesError(
            f"{path}: a {data.dtype} array of shape {data.shape}, not VPR-Bench's 6-element object array "
            "(query indices, top-1 indices, top-1 scores, similarity matrix, encoding time, matching time)"
        )
    return list(data)


def _vprbench(path: Path, n_queries: int, n_references: int, k: int, block_bytes: int) -> StoredMatches:
    queries, top1, _, matrix, encoding, matching = _vprbench_arrays(path)
    for what, value in (("0 (query indices)", queries), ("1 (top-1 indices)", top1), ("3 (matrix)", matrix)):
        if not isinstance(value, np.ndarray):
            raise MatchesError(f"{path}: element {what} is a {type(value).__name__}, not an array")
    if matrix.dtype.kind not in "fiu":
        raise MatchesError(f"{path}: the similarity matrix is a {matrix.dtype} array, not numbers")
    _check_shape(matrix.shape, n_queries, n_references, path, "the similarity matrix (element 3)")
    queries = _integral(queries.ravel(), "element 0 (query indices)", path)
    if not np.array_equal(queries, np.arange(n_queries)):
        bad = next(i for i in range(n_queries) if i >= len(queries) or queries[i] != i)
        raise MatchesError(
            f"{path}: element 0 (query indices) is not 0..{n_queries - 1} in order (position {bad}): the "
            "matrix rows must be the dataset's queries in order"
        )
    top1 = _integral(top1.ravel(), "element 1 (top-1 indices)", path)
    if len(top1) != n_queries:
        raise MatchesError(f"{path}: element 1 lists {len(top1)} top-1 indices for {n_queries} queries")
    cost = vprbench_cost(_seconds(encoding, "4", path), _seconds(matching, "5", path), n_references)
    indices, scores = _ranked(_row_blocks(matrix, block_bytes), n_queries, k, path, top1)
    return StoredMatches(indices, scores, cost)


def rows_per_block(n_columns: int, itemsize: int, block_bytes: int) -> int:
    """Query rows per block so that a block and its working copies fit in `block_bytes`: the rows
    (twice: as read, and permuted by names), argpartition's int64 positions and a bool mask."""
    return max(1, block_bytes // max(1, n_columns * (2 * itemsize + 8 + 1)))


def _row_blocks(matrix: np.ndarray, block_bytes: int) -> Iterator[tuple[int, np.ndarray]]:
    rows = rows_per_block(matrix.shape[1], matrix.itemsize, block_bytes)
    for start in range(0, len(matrix), rows):
        yield start, matrix[start : start + rows]


def _ranked(
    blocks: Iterator[tuple[int, np.ndarray]], n_queries: int, k: int, path: Path, top1: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k (indices, float64 scores) of every row over `blocks` (start row, rows); with `top1`,
    the stored top-1 must be each row's argmax."""
    indices = np.empty((n_queries, k), dtype=np.int64)
    scores = np.empty((n_queries, k), dtype=np.float64)
    for start, block in blocks:
        _finite(block, start, path)
        stop = start + len(block)
        indices[start:stop], scores[start:stop] = top_k(block, k)
        if top1 is not None:
            argmax = np.argmax(block, axis=1)
            bad = np.flatnonzero(argmax != top1[start:stop])
            if len(bad):
                q = start + bad[0]
                raise MatchesError(
                    f"{path}: query {q}: the stored top-1 is reference {top1[q]}, but the row's argmax of the "
                    f"matrix is reference {argmax[bad[0]]}: the file's matches and matrix disagree"
                )
    return indices, scores


# ---- the tool-neutral .npz -------------------------------------------------------------------------


def _member_header(archive: zipfile.ZipFile, name: str, path: Path) -> tuple[Any, tuple, bool, np.dtype]:
    """(open member, shape, fortran order, dtype) of `name`.npy in an `.npz`, its header read."""
    fh = archive.open(f"{name}.npy")
    try:
        version = np.lib.format.read_magic(fh)
        header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = header(fh)
    except ValueError as exc:
        fh.close()
        raise MatchesError(f"{path}: member `{name}` is not a .npy array ({exc})") from None
    if dtype.hasobject or dtype.kind not in "fiu":
        fh.close()
        raise MatchesError(f"{path}: `{name}` is a {dtype} array; scores must be numbers (no pickled objects)")
    return fh, shape, fortran, dtype


def _streamed(fh: Any, shape: tuple, dtype: np.dtype, block_bytes: int, path: Path) -> Iterator[tuple[int, np.ndarray]]:
    """Row blocks of a C-ordered (Q, R) member read from its open stream, one block in memory."""
    row_bytes = shape[1] * dtype.itemsize
    rows = rows_per_block(shape[1], dtype.itemsize, block_bytes)
    for start in range(0, shape[0], rows):
        n = min(rows, shape[0] - start)
        buffer = fh.read(n * row_bytes)
        if len(buffer) != n * row_bytes:
            raise MatchesError(f"{path}: `scores` ends after {start} rows of {shape[0]} (a truncated file)")
        yield start, np.frombuffer(buffer, dtype=dtype).reshape(n, shape[1])


def _member(data: Any, key: str, path: Path) -> np.ndarray:
    """The small member `key` of an open `.npz`, read whole; refused when it is pickled objects."""
    try:
        return data[key]
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        raise MatchesError(f"{path}: member `{key}` cannot be read without running a pickle ({exc})") from None


def _names(data: Any, key: str, path: Path) -> list[str] | None:
    if key not in data.files:
        return None
    names = _member(data, key, path)
    if names.ndim != 1 or names.dtype.kind not in "US":
        raise MatchesError(f"{path}: `{key}` is a {names.dtype} array of shape {names.shape}, not (N,) strings")
    return [str(n).replace("\\", "/").removeprefix("./") for n in names.astype(str)]


def _order(names: list[str] | None, images: list[str], role: str, path: Path) -> np.ndarray:
    """File position -> manifest position of each named image (identity without names)."""
    if names is None:
        return np.arange(len(images))
    at = {im.replace("\\", "/"): i for i, im in enumerate(images)}
    if len(names) != len(images):
        raise MatchesError(
            f"{path}: `{role}_names` lists {len(names)} images, the manifest {len(images)} {role} images"
        )
    order = np.empty(len(names), dtype=np.int64)
    for i, name in enumerate(names):
        if name not in at:
            raise MatchesError(
                f"{path}: `{role}_names`[{i}] = {name!r} is not a {role} image of the manifest "
                f"(e.g. {images[0]!r}): names are image paths relative to the dataset root"
            )
        order[i] = at[name]
    if len(set(order.tolist())) != len(order):
        twice = next(n for n in names if names.count(n) > 1)
        raise MatchesError(f"{path}: `{role}_names` lists {twice!r} twice")
    return order


def _npz(path: Path, query_images: list[str], reference_images: list[str], k: int, block_bytes: int) -> StoredMatches:
    try:
        data = np.load(path, allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        raise MatchesError(f"{path} is not a readable .npz ({exc})") from None
    with data:
        if "scores" not in data.files:
            raise MatchesError(f"{path} holds no array `scores` (Q x R, or Q x K with `indices`): {data.files}")
        q_order = _order(_names(data, "query_names", path), query_images, "query", path)
        r_order = _order(_names(data, "reference_names", path), reference_images, "reference", path)
        n_q, n_r = len(query_images), len(reference_images)
        if "indices" in data.files:
            indices, scores = _listed(
                _member(data, "indices", path), _member(data, "scores", path), r_order, n_q, n_r, k, path
            )
        else:
            indices, scores = _full(data.zip, path, r_order, n_q, n_r, k, block_bytes)
    out_i, out_s = np.empty_like(indices), np.empty_like(scores)
    out_i[q_order], out_s[q_order] = indices, scores
    none = "stored by the file: none (an .npz carries no times)"
    return StoredMatches(out_i, out_s, {"describe_ms_per_image": None, "search_ms_per_query": None, "device": none})


def _full(
    archive: zipfile.ZipFile, path: Path, r_order: np.ndarray, n_q: int, n_r: int, k: int, block_bytes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k of a (Q, R) `scores` member, streamed in row blocks; columns put in manifest order."""
    fh, shape, fortran, dtype = _member_header(archive, "scores", path)
    with fh:
        _check_shape(tuple(shape), n_q, n_r, path, "`scores`")
        if fortran:  # column-major bytes cannot be streamed by rows: read whole
            blocks: Iterator = iter([(0, np.asfortranarray(np.load(path, allow_pickle=False)["scores"]))])
        else:
            blocks = _streamed(fh, tuple(shape), dtype, block_bytes, path)
        if not np.array_equal(r_order, np.arange(n_r)):
            inverse = np.argsort(r_order)  # manifest reference m is file column inverse[m]
            blocks = ((s, b[:, inverse]) for s, b in blocks)
        return _ranked(blocks, n_q, min(k, n_r), path)


def _listed(
    indices: np.ndarray, scores: np.ndarray, r_order: np.ndarray, n_q: int, n_r: int, k: int, path: Path
) -> tuple[np.ndarray, np.ndarray]:
    """(Q, K) lists re-ordered by the tie order, positions put in manifest order, first k kept."""
    if indices.ndim != 2 or indices.shape != scores.shape or len(indices) != n_q:
        raise MatchesError(
            f"{path}: `indices` {indices.shape} and `scores` {scores.shape} must both be (Q, K) with the "
            f"manifest's {n_q} queries"
        )
    if scores.dtype.kind not in "fiu":
        raise MatchesError(f"{path}: `scores` is a {scores.dtype} array, not numbers")
    positions = _integral(indices, "`indices`", path).reshape(indices.shape)
    bad = np.argwhere((positions < 0) | (positions >= n_r))
    if len(bad):
        q, j = bad[0]
        raise MatchesError(
            f"{path}: query row {q}, column {j}: index {positions[q, j]} is outside the {n_r} references"
        )
    _finite(scores, 0, path)
    for q, row in enumerate(positions):
        if len(np.unique(row)) != len(row):
            raise MatchesError(f"{path}: query row {q} lists a reference twice ({row.tolist()[:10]}...)")
    manifest_positions = r_order[positions]
    order = np.lexsort((manifest_positions, -scores), axis=1)[:, :k]
    return (
        np.take_along_axis(manifest_positions, order, 1),
        np.take_along_axis(scores, order, 1).astype(np.float64),
    )


# ---- entry point -----------------------------------------------------------------------------------


def read_matches(
    path: Path,
    query_images: list[str],
    reference_images: list[str],
    top_k: int,
    needed: int,
    block_bytes: int = BLOCK_BYTES,
) -> StoredMatches:
    """Top-K per query (manifest order) from a stored-matches file (module docstring); K = min(top_k,
    R, the listed K), at least `needed` (the largest N of `evaluate.recall_at`)."""
    path = Path(path)
    if not path.is_file():
        raise MatchesError(f"{path} does not exist: check the method's `matches` option")
    k = min(top_k, len(reference_images))
    if path.suffix.lower() == ".npz":
        found = _npz(path, query_images, reference_images, k, block_bytes)
    elif path.suffix.lower() == ".npy":
        found = _vprbench(path, len(query_images), len(reference_images), k, block_bytes)
    else:
        raise MatchesError(f"{path}: a stored-matches file is VPR-Bench's `.npy` or an `.npz`, not {path.suffix!r}")
    if found.indices.shape[1] < needed:
        raise MatchesError(
            f"{path} ranks {found.indices.shape[1]} references per query, fewer than the R@{needed} "
            "evaluate.recall_at asks for: store at least that many (or the full matrix)"
        )
    found.scores = np.ascontiguousarray(found.scores, dtype=np.float64)
    return found


def import_matches(
    path: Path, manifest_path: Path, out: Path, top_k: int, needed: int, settings: dict, method: str
) -> Retrieval:
    """The retrieval file of stored matches (`read_matches`), recording `method`, the manifest and
    the file by content (re-checked on every load), with the stored times (`stored_cost` member)."""
    manifest = load_manifest(manifest_path)
    images = manifest.frame["image"].astype(str).to_numpy()
    query_rows, reference_rows = manifest.rows("query"), manifest.rows("reference")
    found = read_matches(path, images[query_rows].tolist(), images[reference_rows].tolist(), top_k, needed)
    prov = provenance(
        "import_ranking",
        {**settings, "method_name": method},
        manifest=manifest,
        matches=ExternalFile(Path(path), file_digest(Path(path))),
    )
    out_retrieval = save_retrieval(Path(out), found.indices, found.scores, reference_rows, query_rows, prov)
    record_json_member(Path(out), STORED_COST_KEY, found.cost)
    out_retrieval.stored_cost = found.cost
    return out_retrieval
