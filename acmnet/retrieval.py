"""Exact k-nearest-neighbour search by inner product (cosine on L2-normalised descriptors).

Output `retrieval.npz`: `indices` (Q, K) int64 positions in the reference set (best first),
`scores` (Q, K) float32 cosine similarities, and the manifest row numbers of both sets.
"""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
from tqdm import tqdm

from acmnet.io import atomic_path


def search(reference: np.ndarray, queries: np.ndarray, k: int, chunk: int = 4096, progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Top-k references per query by inner product: (scores float32 (Q, k), indices int64 (Q, k)).

    Queries are searched `chunk` at a time, so memory stays O(chunk * R) for the distance block.
    k is capped at the number of references.
    """
    reference = np.ascontiguousarray(reference, dtype=np.float32)
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    if reference.ndim != 2 or queries.ndim != 2 or reference.shape[1] != queries.shape[1]:
        raise ValueError(f"descriptor shapes do not match: reference {reference.shape}, queries {queries.shape}")
    k = min(k, len(reference))
    index = faiss.IndexFlatIP(reference.shape[1])
    index.add(reference)
    scores = np.empty((len(queries), k), dtype=np.float32)
    indices = np.empty((len(queries), k), dtype=np.int64)
    for start in tqdm(range(0, len(queries), chunk), desc="search", unit="chunk", disable=not progress):
        s, i = index.search(queries[start : start + chunk], k)
        scores[start : start + chunk], indices[start : start + chunk] = s, i
    return scores, indices


def retrieve(descriptors: Path, out: Path, k: int, chunk: int = 4096) -> Path:
    data = np.load(descriptors)
    if len(data["query"]) == 0:
        raise ValueError(f"{descriptors} holds no query descriptors: the query set is empty")
    scores, indices = search(data["reference"], data["query"], k, chunk, progress=True)
    with atomic_path(Path(out)) as tmp:
        np.savez(tmp, indices=indices, scores=scores, reference_rows=data["reference_rows"],
                 query_rows=data["query_rows"], manifest=data["manifest"])
    return Path(out)
