"""Exact top-K search as `acmnet retrieve` runs it, against a plain faiss IndexFlatIP (not a test).

    python -m bench.retrieval_speed                     # 30,000 queries x 30,000 references, 1024-d
    python -m bench.retrieval_speed --queries 5000 --references 5000

Both search the same L2-normalised float32 vectors for the same K in one process, alternating
(A B B A ...), `--repeats` times each; time is wall clock, memory the peak resident set size
above what the process held with the descriptors in memory (sampled every 5 ms). Prints both,
the speed ratio (ours / faiss's, on its own line as `ratio:`) and, from the measured cost per
query-reference pair and the memory the search needs beside the descriptors, the time and memory
projected for 100,000 x 100,000. Writes a CSV and a plot under bench/results/.
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Callable
from pathlib import Path

import faiss
import numpy as np
import pandas as pd
import psutil
import torch

from acmnet.evaluate.retrieval import search
from bench.common import machine, save_plot, write_rows


def plain_faiss(reference: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    index = faiss.IndexFlatIP(reference.shape[1])
    index.add(reference)
    return index.search(queries, k)


def peak_rss(fn: Callable[[], object]) -> tuple[float, int]:
    """(seconds, peak resident set size in bytes while `fn` ran, sampled every 5 ms)."""
    process, peak, done = psutil.Process(), [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    tic = time.perf_counter()
    fn()
    seconds = time.perf_counter() - tic
    done.set()
    sampler.join()
    return seconds, max(peak[0], process.memory_info().rss)


def unit_vectors(n: int, d: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, d), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=30_000)
    parser.add_argument("--references", type=int, default=30_000)
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--k", type=int, default=25)
    parser.add_argument("--chunk", type=int, default=4096, help="evaluate.search_chunk")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="bench/results")
    args = parser.parse_args()

    reference = unit_vectors(args.references, args.dim, 0)
    queries = unit_vectors(args.queries, args.dim, 1)
    search(reference[:100], queries[:100], args.k, args.chunk)  # warm-up: threads, BLAS
    base = psutil.Process().memory_info().rss
    runs = {
        "acmnet retrieve": lambda: search(reference, queries, args.k, args.chunk),
        "faiss IndexFlatIP": lambda: plain_faiss(reference, queries, args.k),
    }
    rows = []
    for r in range(args.repeats):
        for name in list(runs) if r % 2 == 0 else list(runs)[::-1]:
            seconds, peak = peak_rss(runs[name])
            rows.append(
                {"repeat": r, "search": name, "seconds": seconds, "peak_above_descriptors_mb": (peak - base) / 2**20}
            )
    table = pd.DataFrame(rows)
    info = machine(torch.device("cpu")) | {
        "queries": args.queries,
        "references": args.references,
        "dim": args.dim,
        "k": args.k,
        "chunk": args.chunk,
        "faiss_threads": faiss.omp_get_max_threads(),
    }
    write_rows(table.assign(**info), Path(args.out) / f"retrieval_speed_{args.queries}x{args.references}.csv")
    median = table.groupby("search")["seconds"].median()
    memory = table.groupby("search")["peak_above_descriptors_mb"].max()
    save_plot(
        Path(args.out) / f"retrieval_speed_{args.queries}x{args.references}.png",
        table["repeat"].unique(),
        {n: table.loc[table["search"] == n, "seconds"].to_numpy() for n in runs},
        "repeat",
        "seconds",
        f"exact top-{args.k} search, {args.queries} x {args.references} x {args.dim}: {info['cpu']}",
    )
    descriptors_mb = (reference.nbytes + queries.nbytes) / 2**20
    scale = (100_000 / args.queries) * (100_000 / args.references)
    ours_s, faiss_s = median["acmnet retrieve"], median["faiss IndexFlatIP"]
    print(f"machine: {info['cpu']}, {info['faiss_threads']} faiss threads; faiss {faiss.__version__}")
    print(f"descriptors: {descriptors_mb:.0f} MB ({args.queries} queries, {args.references} references, {args.dim}-d)")
    for name in runs:
        print(
            f"{name:18s} {median[name]:8.2f} s (median of {args.repeats}), peak {memory[name]:7.0f} MB above the "
            "descriptors"
        )
    extra = memory["acmnet retrieve"] * 100_000 / args.references  # the search's own memory grows with R
    print(
        f"projected 100,000 x 100,000: {ours_s * scale / 60:.1f} min, {2 * 100_000 * args.dim * 4 / 2**30:.2f} GiB "
        f"of descriptors + about {extra / 1024:.2f} GiB for the search"
    )
    print(f"ratio:   {faiss_s / ours_s:.2f}")


if __name__ == "__main__":
    main()
