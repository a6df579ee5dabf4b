"""Exact k-nearest-neighbour search by inner product (cosine on L2-normalised descriptors).

Output `retrieval.npz` (`acmnet.artifacts.Retrieval`): `indices` (Q, K) int64 positions in the
reference set (best first), `scores` (Q, K) float32 cosine similarities, the manifest row numbers
of both sets, and the provenance (the descriptors and what they were made from).
"""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
from tqdm import tqdm

from acmnet.artifacts import Retrieval, load_descriptors, provenance, save_retrieval


def search(
    reference: np.ndarray, queries: np.ndarray, k: int, chunk: int = 4096, progress: bool = False
) -> tuple[np.ndarray, np.ndarray]:
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


def retrieve(descriptors_path: Path, out: Path, k: int, settings: dict, chunk: int = 4096) -> Retrieval:
    """Top-`k` references of every query of a descriptors file; write `out`."""
    descriptors = load_descriptors(descriptors_path)
    if len(descriptors.query) == 0:
        raise ValueError(f"{descriptors_path} holds no query descriptors: the query set is empty")
    if len(descriptors.reference) < k:
        raise ValueError(
            f"{descriptors_path} holds {len(descriptors.reference)} reference descriptors, fewer than "
            f"evaluate.top_k = {k}: lower evaluate.top_k (and recall_at) to at most that"
        )
    scores, indices = search(descriptors.reference, descriptors.query, k, chunk, progress=True)
    prov = provenance("retrieve", settings, descriptors=descriptors)
    return save_retrieval(Path(out), indices, scores, descriptors.reference_rows, descriptors.query_rows, prov)
