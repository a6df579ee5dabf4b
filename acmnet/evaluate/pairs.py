"""Two-stage pipelines: a method's top-N as an hloc pairs file, and a re-ranked list read back.

Export (`write_pairs`, `acmnet export-pairs`, on when `evaluate.export_pairs` = N > 0): the file
hloc's `pairs_from_retrieval` writes, one `query_name reference_name` line per retrieved pair,
each query's N references in rank order, queries in manifest order, lines joined by newlines
(no trailing one), names the manifest's image paths (relative to the dataset root). Unlike hloc,
no `min_score` filter: every query gets its N, so a re-ranker sees the same candidates for all.
hloc's `parse_retrieval` and image-matching re-rankers read it as it is.

Import (`read_ranking`, `acmnet import-ranking`, for `kind: reranked`): such a pairs file (a
query's references in file order = its new ranking), or an `.npz` with `indices` (Q, K) integer
positions in the manifest's reference set, queries in manifest order. Refused, naming the file
and the first offender: a name that is not a query (first column) or reference (second column)
image of the manifest (with its line), a reference listed twice for one query, a query of the
manifest without any pair, an `.npz` without `indices` or with another number of queries or a
position outside the reference set, and a list shorter than the largest N of `evaluate.recall_at`.
The ranking kept is each query's first K = min(`evaluate.top_k`, shortest list) references; the
retrieval file holds no similarities (NaN: a re-ranker's scores are not cosines). An `.npz` row
naming a reference twice is refused (naming the query), as a pairs file's is; a pairs file may
start with a UTF-8 byte-order mark, and one in another encoding (UTF-16) is refused naming it.

What a re-ranked list was made from: its first stage's retrieval. The import checks that every
listed reference is among the first stage's retrieved ones now and records that retrieval's
digest (source `first_stage`); every load of the re-ranked retrieval re-checks it
(`acmnet.artifacts.check_first_stage_source`), so a row is never tested against a first stage
whose descriptors changed after the list was made.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from acmnet.artifacts import (
    ExternalFile,
    Manifest,
    Retrieval,
    file_digest,
    load_manifest,
    load_retrieval,
    provenance,
    save_retrieval,
)
from acmnet.io import atomic_write_text, read_npz


class PairsError(ValueError):
    """A re-ranked list does not fit the manifest; the message names the file and the first offender."""


def _names(manifest: Manifest, role: str) -> list[str]:
    images = manifest.frame["image"].astype(str).to_numpy()
    return images[manifest.rows(role)].tolist()


def pairs_text(manifest: Manifest, indices: np.ndarray) -> str:
    """hloc's pairs text for `indices` (Q, N) reference positions, queries in manifest order."""
    queries, references = _names(manifest, "query"), _names(manifest, "reference")
    spaced = next((n for n in queries + references if any(c.isspace() for c in n)), None)
    if spaced is not None:
        raise PairsError(
            f"image {spaced!r} holds white space: a pairs file (`query reference` per line) cannot name it"
        )
    return "\n".join(f"{queries[q]} {references[r]}" for q in range(len(queries)) for r in indices[q])


def write_pairs(manifest_path: Path, retrieval_path: Path, out: Path, n: int) -> int:
    """Write the top `n` of every query of a retrieval as hloc pairs; the number of lines written."""
    manifest = load_manifest(manifest_path)
    retrieval = load_retrieval(retrieval_path, manifest)
    if retrieval.indices.shape[1] < n:
        raise PairsError(
            f"{retrieval_path} keeps {retrieval.indices.shape[1]} retrievals per query, fewer than "
            f"evaluate.export_pairs = {n}: raise evaluate.top_k to at least {n}"
        )
    atomic_write_text(Path(out), pairs_text(manifest, retrieval.indices[:, :n]))
    return int(retrieval.indices.shape[0] * n)


def _index(names: list[str]) -> dict[str, int]:
    index: dict[str, int] = {}
    for i, name in enumerate(names):
        index.setdefault(name, i)
    return index


def _text(path: Path) -> str:
    """A pairs file's text: UTF-8, with or without a byte-order mark (which is not part of the first
    name); any other encoding (UTF-16, say) is a PairsError naming the file."""
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise PairsError(f"{path} is UTF-16 (it starts with a UTF-16 byte-order mark): save it as UTF-8")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PairsError(f"{path} is not UTF-8 text (byte {exc.start}): save it as UTF-8") from None


def _lists_from_pairs(path: Path, manifest: Manifest) -> list[list[int]]:
    """Per query (manifest order), its references in file order."""
    queries, references = _names(manifest, "query"), _names(manifest, "reference")
    query_at, reference_at = _index(queries), _index(references)
    if len(query_at) < len(queries):
        twice = next(n for n in queries if queries.count(n) > 1)
        raise PairsError(f"{path}: the manifest lists query image {twice} twice, so a pair cannot say which it means")
    lists: list[list[int]] = [[] for _ in queries]
    for number, line in enumerate(_text(path).splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2:
            raise PairsError(f"{path}, line {number}: {line!r} is not `query_name reference_name`")
        query, reference = fields
        if query not in query_at:
            raise PairsError(
                f"{path}, line {number}: {query} is not a query image of {manifest.path} (e.g. {queries[0]}); "
                "names are the manifest's image paths, as `acmnet export-pairs` writes them"
            )
        if reference not in reference_at:
            raise PairsError(
                f"{path}, line {number}: {reference} is not a reference image of {manifest.path} (e.g. {references[0]})"
            )
        ranked = lists[query_at[query]]
        if reference_at[reference] in ranked:
            raise PairsError(f"{path}, line {number}: {reference} is listed twice for query {query}")
        ranked.append(reference_at[reference])
    return lists


def _lists_from_npz(path: Path, manifest: Manifest) -> list[list[int]]:
    n_queries, n_references = len(manifest.rows("query")), len(manifest.rows("reference"))
    arrays = read_npz(path, "give the .npz of `indices` (Q, K) the re-ranker wrote")
    if "indices" not in arrays:
        raise PairsError(f"{path} holds no array `indices` (Q, K): positions in the reference set")
    indices = arrays["indices"]
    if indices.ndim != 2 or indices.dtype.kind not in "iu" or len(indices) != n_queries:
        raise PairsError(
            f"{path}: `indices` is a {indices.dtype} array of shape {indices.shape}, not integer (Q, K) with the "
            f"manifest's {n_queries} queries"
        )
    bad = np.argwhere((indices < 0) | (indices >= n_references))
    if len(bad):
        q, k = bad[0]
        raise PairsError(
            f"{path}: query {q} (manifest row {manifest.rows('query')[q]}), rank {k + 1}: position {indices[q, k]} "
            f"is outside the {n_references} references"
        )
    ordered = np.sort(indices, axis=1)
    repeated = np.flatnonzero((ordered[:, 1:] == ordered[:, :-1]).any(axis=1))
    if len(repeated):  # as a pairs file listing a reference twice is refused: no silent shortening
        q = int(repeated[0])
        row = indices[q].tolist()
        k = next(k for k in range(len(row)) if row[k] in row[:k])
        raise PairsError(
            f"{path}: query {q} ({_names(manifest, 'query')[q]}) lists reference position {row[k]} twice (ranks "
            f"{row.index(row[k]) + 1} and {k + 1}): each query's list must name each reference once"
        )
    return [row.tolist() for row in indices]


def read_ranking(path: Path, manifest: Manifest, top_k: int, needed: int) -> np.ndarray:
    """(Q, K) int64 reference positions per query (manifest order), best first, from a pairs file or
    an `.npz`; K = min(top_k, shortest list), at least `needed` (the largest N reported)."""
    path = Path(path)
    if not path.is_file():
        raise PairsError(f"{path} does not exist: check the method's `pairs` option")
    lists = (_lists_from_npz if path.suffix.lower() == ".npz" else _lists_from_pairs)(path, manifest)
    queries = _names(manifest, "query")
    shortest = min(range(len(lists)), key=lambda q: len(lists[q]))
    if not lists[shortest]:
        raise PairsError(
            f"{path} ranks nothing for query {queries[shortest]}: every query of the manifest needs its list"
        )
    if len(lists[shortest]) < needed:
        raise PairsError(
            f"{path} ranks {len(lists[shortest])} references for query {queries[shortest]}, fewer than the "
            f"R@{needed} evaluate.recall_at asks for: re-rank at least {needed} per query (evaluate.export_pairs)"
        )
    k = min(top_k, len(lists[shortest]))
    return np.array([ranked[:k] for ranked in lists], dtype=np.int64)


def check_first_stage(indices: np.ndarray, first: Retrieval, manifest: Manifest, path: Path) -> None:
    """Every reference a re-ranked list names must be among its first stage's retrieved ones now
    (`first`, top K): a list made from an earlier first stage (other descriptors) is refused, with
    how many of its references the current first stage no longer retrieves."""
    outside = np.array([~np.isin(indices[q], first.indices[q]) for q in range(len(indices))])
    if outside.any():
        q = int(np.flatnonzero(outside.any(axis=1))[0])
        raise PairsError(
            f"{path}: {int(outside.sum())} of the {indices.size} references it lists are not in the first stage's "
            f"top {first.indices.shape[1]} ({first.path}) now, e.g. query {_names(manifest, 'query')[q]}: the "
            "first stage's retrieval changed since the list was made; export its pairs again "
            "(evaluate.export_pairs), re-rank them and give the new list"
        )


def import_ranking(
    path: Path,
    manifest_path: Path,
    out: Path,
    top_k: int,
    needed: int,
    settings: dict,
    method: str,
    first_stage: Path | None = None,
) -> Retrieval:
    """The retrieval file of a re-ranked list (`read_ranking`), recording `method` and its inputs:
    the list by content and, when given, the first stage's retrieval it re-ranked (checked by
    `check_first_stage`; its digest is re-checked on every load, `check_first_stage_source`)."""
    manifest = load_manifest(manifest_path)
    indices = read_ranking(path, manifest, top_k, needed)
    first = None
    if first_stage is not None:
        first = load_retrieval(Path(first_stage), manifest)
        check_first_stage(indices, first, manifest, Path(path))
    prov = provenance(
        "import_ranking",
        {**settings, "method_name": method},
        manifest=manifest,
        pairs=ExternalFile(Path(path), file_digest(Path(path))),
        first_stage=None if first is None else ExternalFile(first.path, first.digest),
    )
    scores = np.full(indices.shape, np.nan, dtype=np.float32)
    return save_retrieval(Path(out), indices, scores, manifest.rows("reference"), manifest.rows("query"), prov)
