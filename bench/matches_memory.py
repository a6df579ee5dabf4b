"""Peak memory of reading stored matches (`kind: matches`) from a large `.npz` (not a test).

    python -m bench.matches_memory                          # 20,000 x 20,000 float32 (1.6 GB file)
    python -m bench.matches_memory --queries 4000 --references 4000   # a smoke run

Writes a `.npz` whose `scores` member (Q x R float32, uncompressed) is written row block by row
block (the writer never holds the matrix), then runs `acmnet.evaluate.matches.read_matches` on it
as `acmnet import-ranking` does (top K by the suite's tie order, in row blocks of
`BLOCK_BYTES`). Memory: the peak resident set size above what the process held just before the
read (sampled every 5 ms), against the bound the module promises: twice the top-K lists (int64
indices + float64 scores, Q x K each) plus one block (`BLOCK_BYTES`, the rows with their working
copies). Time is wall clock, for the record only. Prints `peak_mb`, `bound_mb` and `within: True`
or `False`; writes a CSV row under bench/results/.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from acmnet.evaluate.matches import BLOCK_BYTES, read_matches
from bench.common import write_rows
from bench.retrieval_speed import peak_rss


def write_scores(path: Path, n_queries: int, n_references: int, seed: int, rows: int = 256) -> None:
    """An `.npz` with a (Q, R) float32 `scores` member, written `rows` rows at a time."""
    rng = np.random.default_rng(seed)
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)), "fortran_order": False}
    header["shape"] = (n_queries, n_references)
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as archive,
        archive.open("scores.npy", "w", force_zip64=True) as fh,
    ):
        np.lib.format.write_array_header_2_0(fh, header)
        for start in range(0, n_queries, rows):
            n = min(rows, n_queries - start)
            fh.write(rng.random((n, n_references), dtype=np.float32).tobytes())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=20_000)
    parser.add_argument("--references", type=int, default=20_000)
    parser.add_argument("--top-k", type=int, default=25)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args(argv)
    queries = [f"query/{i:07d}.jpg" for i in range(args.queries)]
    references = [f"ref/{i:07d}.jpg" for i in range(args.references)]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "scores.npz"
        started = time.perf_counter()
        write_scores(path, args.queries, args.references, args.seed)
        written = time.perf_counter() - started
        import psutil

        base = psutil.Process().memory_info().rss
        seconds, peak, found = peak_rss(lambda: read_matches(path, queries, references, args.top_k, 1))
        size = path.stat().st_size
    lists = found.indices.nbytes + found.scores.nbytes
    bound = 2 * lists + BLOCK_BYTES
    above = peak - base
    row = {
        "queries": args.queries,
        "references": args.references,
        "top_k": args.top_k,
        "file_mb": round(size / 2**20, 1),
        "write_s": round(written, 1),
        "read_s": round(seconds, 1),
        "peak_mb": round(above / 2**20, 1),
        "bound_mb": round(bound / 2**20, 1),
        "within": above <= bound,
    }
    print(pd.Series(row).to_string())
    write_rows(pd.DataFrame([row]), args.out / "matches_memory.csv")


if __name__ == "__main__":
    main()
