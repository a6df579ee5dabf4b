"""Exact top-K search as `acmnet retrieve` runs it, against a plain faiss IndexFlatIP (not a test).

    python -m bench.retrieval_speed                     # 30,000 queries x 30,000 references, 1024-d
    python -m bench.retrieval_speed --queries 5000 --references 5000
    python -m bench.retrieval_speed --large             # 10,000 x 1,000,000 from parts on disk
    python -m bench.retrieval_speed --large --large-references 20000 --large-queries 500   # a smoke run
    python -m bench.retrieval_speed --positives         # positives of 10,000 queries among 1,000,000

Both search the same L2-normalised float32 vectors for the same K in one process, alternating
(A B B A ...), `--repeats` times each; time is wall clock, memory the peak resident set size
above what the process held just before the run (sampled every 5 ms). Ours is
`acmnet.evaluate.retrieval.search_streamed` in a bound of `--memory-mb` (evaluate.retrieval_memory_mb).

- Default case: both on the same in-memory arrays. Prints both, the speed ratio (ours / faiss's,
  on its own line as `ratio:`) and, from the measured cost per query-reference pair and the memory
  the search needs beside the descriptors, the time and memory projected for 100,000 x 100,000.
- `--large`: the references (synthetic, L2-normalised) are written to a temporary folder in
  `.npy` parts and memory-mapped; ours streams them in its bound, faiss searches an IndexFlatIP
  holding the whole set in memory (loaded before the runs; the baseline of both includes it). Both
  answers are compared (indices and score bits). Ends with `ratio: <ours/faiss speed>` and
  `peak_mb: <ours' peak above the baseline>`.
- `--positives`: `acmnet.data.positives.from_positions` for uniform reference and query positions
  in a 20 km square at 25 m (goal: under 10 s for 10,000 x 1,000,000).

Writes a CSV and a plot per case under bench/results/.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import faiss
import numpy as np
import pandas as pd
import psutil
import torch

from acmnet.evaluate.retrieval import chunk_rows, search_streamed
from bench.common import machine, save_plot, write_rows


def plain_faiss(reference: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    index = faiss.IndexFlatIP(reference.shape[1])
    index.add(reference)
    return index.search(queries, k)


def peak_rss(fn: Callable[[], object]) -> tuple[float, int, object]:
    """(seconds, peak resident set size in bytes while `fn` ran, sampled every 5 ms, its result)."""
    process, peak, done = psutil.Process(), [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    tic = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - tic
    done.set()
    sampler.join()
    return seconds, max(peak[0], process.memory_info().rss), result


def unit_vectors(n: int, d: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, d), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def alternate(runs: dict[str, Callable[[], object]], repeats: int) -> tuple[pd.DataFrame, dict[str, object]]:
    """Each run `repeats` times, alternating A B B A ...: rows (repeat, search, seconds, peak MB above
    the RSS just before), and each run's last result."""
    rows, results = [], {}
    for r in range(repeats):
        for name in list(runs) if r % 2 == 0 else list(runs)[::-1]:
            base = psutil.Process().memory_info().rss
            seconds, peak, results[name] = peak_rss(runs[name])
            rows.append(
                {"repeat": r, "search": name, "seconds": seconds, "peak_above_baseline_mb": (peak - base) / 2**20}
            )
            print(f"  repeat {r}: {name:18s} {seconds:8.2f} s, peak {(peak - base) / 2**20:7.0f} MB", flush=True)
    return pd.DataFrame(rows), results


def identical(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> bool:
    """The same score bits, and the same indices but where a score equals its neighbour's in the list
    or the list's last score (exact ties, which may run past the end of the list: listed by reference
    index ascending by acmnet, in faiss's own order by faiss)."""
    scores = np.asarray(a[0], np.float32)
    tied = scores == scores[:, -1:]
    tied[:, 1:] |= scores[:, 1:] == scores[:, :-1]
    tied[:, :-1] |= scores[:, :-1] == scores[:, 1:]
    return np.array_equal(a[1][~tied], b[1][~tied]) and np.array_equal(
        scores.view(np.int32), np.asarray(b[0], np.float32).view(np.int32)
    )


def report(table: pd.DataFrame, info: dict, out: Path, stem: str, title: str) -> tuple[pd.Series, pd.Series]:
    """Write the CSV and the plot; (median seconds, max peak MB) per search."""
    write_rows(table.assign(**info), out / f"{stem}.csv")
    names = list(dict.fromkeys(table["search"]))
    save_plot(
        out / f"{stem}.png",
        table["repeat"].unique(),
        {n: table.loc[table["search"] == n, "seconds"].to_numpy() for n in names},
        "repeat",
        "seconds",
        title,
    )
    return table.groupby("search")["seconds"].median(), table.groupby("search")["peak_above_baseline_mb"].max()


def default_case(args: argparse.Namespace) -> None:
    repeats = args.repeats or 3
    reference = unit_vectors(args.references, args.dim, 0)
    queries = unit_vectors(args.queries, args.dim, 1)
    search_streamed([reference[:100]], queries[:100], args.k, args.memory_mb)  # warm-up: threads, BLAS
    runs = {
        "acmnet retrieve": lambda: search_streamed([reference], queries, args.k, args.memory_mb),
        "faiss IndexFlatIP": lambda: plain_faiss(reference, queries, args.k),
    }
    table, results = alternate(runs, repeats)
    info = machine(torch.device("cpu")) | {
        "queries": args.queries,
        "references": args.references,
        "dim": args.dim,
        "k": args.k,
        "memory_mb": args.memory_mb,
        "faiss_threads": faiss.omp_get_max_threads(),
    }
    median, memory = report(
        table,
        info,
        Path(args.out),
        f"retrieval_speed_{args.queries}x{args.references}",
        f"exact top-{args.k} search, {args.queries} x {args.references} x {args.dim}: {info['cpu']}",
    )
    descriptors_mb = (reference.nbytes + queries.nbytes) / 2**20
    scale = (100_000 / args.queries) * (100_000 / args.references)
    ours_s, faiss_s = median["acmnet retrieve"], median["faiss IndexFlatIP"]
    print(f"machine: {info['cpu']}, {info['faiss_threads']} faiss threads; faiss {faiss.__version__}")
    print(f"descriptors: {descriptors_mb:.0f} MB ({args.queries} queries, {args.references} references, {args.dim}-d)")
    same = identical(results["acmnet retrieve"], results["faiss IndexFlatIP"])
    print(f"identical to faiss (score bits; indices but the order of exact ties): {same}")
    for name in runs:
        print(
            f"{name:18s} {median[name]:8.2f} s (median of {repeats}), peak {memory[name]:7.0f} MB above the descriptors"
        )
    extra = memory["acmnet retrieve"] * 100_000 / args.references  # the search's own memory grows with R
    print(
        f"projected 100,000 x 100,000: {ours_s * scale / 60:.1f} min, {2 * 100_000 * args.dim * 4 / 2**30:.2f} GiB "
        f"of descriptors + about {extra / 1024:.2f} GiB for the search"
    )
    print(f"ratio:   {faiss_s / ours_s:.2f}")


def write_parts(folder: Path, n: int, dim: int, part_rows: int, seed: int) -> list[Path]:
    """`n` L2-normalised float32 rows of `dim` as .npy files of `part_rows` rows each (the last fewer)."""
    paths = []
    for p, start in enumerate(range(0, n, part_rows)):
        path = folder / f"reference_{p:04d}.npy"
        np.save(path, unit_vectors(min(part_rows, n - start), dim, seed + p))
        paths.append(path)
    return paths


def large_case(args: argparse.Namespace) -> None:
    repeats = args.repeats or 2
    n_refs, n_queries, dim, k = args.large_references, args.large_queries, args.dim, args.k
    queries = unit_vectors(n_queries, dim, 1)
    with tempfile.TemporaryDirectory(prefix="acmnet-retrieval-bench-", dir=args.tmp_dir) as tmp:
        tic = time.perf_counter()
        paths = write_parts(Path(tmp), n_refs, dim, args.large_part_rows, seed=100)
        print(
            f"wrote {n_refs} x {dim} references in {len(paths)} parts of up to {args.large_part_rows} rows "
            f"({n_refs * dim * 4 / 2**30:.2f} GiB) under {tmp} in {time.perf_counter() - tic:.0f} s",
            flush=True,
        )
        parts = [np.load(path, mmap_mode="r") for path in paths]
        index = faiss.IndexFlatIP(dim)
        for path in paths:  # the whole set in memory, for faiss
            index.add(np.load(path))
        rows = chunk_rows(n_queries, dim, k, args.memory_mb, n_refs)
        print(
            f"ours: a bound of {args.memory_mb} MiB -> chunks of {rows} references "
            f"({-(-n_refs // rows)}+ chunks); faiss: IndexFlatIP of {index.ntotal} references in memory",
            flush=True,
        )
        search_streamed(parts, queries[:100], k, args.memory_mb)  # warm-up: threads, BLAS, the page cache
        runs = {
            "acmnet retrieve": lambda: search_streamed(parts, queries, k, args.memory_mb),
            "faiss IndexFlatIP": lambda: index.search(queries, k),
        }
        table, results = alternate(runs, repeats)
        same = identical(results["acmnet retrieve"], results["faiss IndexFlatIP"])
    info = machine(torch.device("cpu")) | {
        "queries": n_queries,
        "references": n_refs,
        "dim": dim,
        "k": k,
        "memory_mb": args.memory_mb,
        "chunk_rows": rows,
        "part_rows": args.large_part_rows,
        "identical": same,
        "faiss_threads": faiss.omp_get_max_threads(),
    }
    median, memory = report(
        table,
        info,
        Path(args.out),
        f"retrieval_speed_large_{n_queries}x{n_refs}",
        f"exact top-{k}, {n_queries} x {n_refs} x {dim} from parts on disk: {info['cpu']}",
    )
    print(f"machine: {info['cpu']}, {info['faiss_threads']} faiss threads; faiss {faiss.__version__}")
    print(f"identical to faiss (score bits; indices but the order of exact ties): {same}")
    for name in runs:
        print(f"{name:18s} {median[name]:8.2f} s (median of {repeats}), peak {memory[name]:7.0f} MB above the baseline")
    print(f"ratio: {median['faiss IndexFlatIP'] / median['acmnet retrieve']:.3f}")
    print(f"peak_mb: {memory['acmnet retrieve']:.0f}")


def positives_case(args: argparse.Namespace) -> None:
    from acmnet.data.positives import from_positions

    rng = np.random.default_rng(2)
    side, distance = 20_000.0, 25.0
    reference_xy = rng.uniform(0, side, (args.positives_references, 2))
    query_xy = rng.uniform(0, side, (args.positives_queries, 2))
    rows = []
    for r in range(args.repeats or 3):
        tic = time.perf_counter()
        sets = from_positions(query_xy, reference_xy, distance)
        rows.append({"repeat": r, "search": "from_positions", "seconds": time.perf_counter() - tic})
    table = pd.DataFrame(rows)
    info = machine(torch.device("cpu")) | {
        "queries": args.positives_queries,
        "references": args.positives_references,
        "side_m": side,
        "distance_m": distance,
        "positives": len(sets.indices),
    }
    stem = f"positives_speed_{args.positives_queries}x{args.positives_references}"
    write_rows(table.assign(**info), Path(args.out) / f"{stem}.csv")
    save_plot(
        Path(args.out) / f"{stem}.png",
        table["repeat"],
        {"from_positions": table["seconds"].to_numpy()},
        "repeat",
        "seconds",
        f"positives within {distance:g} m, {args.positives_queries} x {args.positives_references}: {info['cpu']}",
    )
    print(
        f"positives: {args.positives_queries} queries among {args.positives_references} references in a "
        f"{side / 1000:g} km square at {distance:g} m: {len(sets.indices)} positives "
        f"({sets.counts().mean():.2f} per query)"
    )
    print(f"positives_seconds: {table['seconds'].median():.2f} (median of {len(table)}; goal < 10 s)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=30_000)
    parser.add_argument("--references", type=int, default=30_000)
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--k", type=int, default=25)
    parser.add_argument("--memory-mb", type=int, default=2048, help="evaluate.retrieval_memory_mb")
    parser.add_argument("--repeats", type=int, default=None, help="runs of each (default 3; 2 with --large)")
    parser.add_argument("--large", action="store_true", help="references on disk in parts, memory-mapped")
    parser.add_argument("--large-references", type=int, default=1_000_000)
    parser.add_argument("--large-queries", type=int, default=10_000)
    parser.add_argument("--large-part-rows", type=int, default=100_000, help="references per .npy part")
    parser.add_argument("--tmp-dir", default=None, help="where the parts go (default: the system's temporary folder)")
    parser.add_argument("--positives", action="store_true", help="time from_positions instead of / before --large")
    parser.add_argument("--positives-references", type=int, default=1_000_000)
    parser.add_argument("--positives-queries", type=int, default=10_000)
    parser.add_argument("--out", default="bench/results")
    args = parser.parse_args(argv)
    if args.positives:
        positives_case(args)
    if args.large:
        large_case(args)
    if not (args.positives or args.large):
        default_case(args)


if __name__ == "__main__":
    main()
