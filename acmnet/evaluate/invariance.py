"""Batch invariance: whether a method's descriptors depend on which images share a batch.

A describer that mixes images across its batch (batch norm in training mode, a batch-mean
subtraction, attention over the batch) gives each image a descriptor that changes with the batch
size and the order of the set, so a shuffled test set changes the results. `check_invariance`
describes a sample of each set of a manifest (the references and every query set: up to
`evaluate.invariance_sample` rows each, evenly spaced in manifest order) four times with the
describe path (`acmnet.evaluate.describe.build_describer`, `embed_batches`, the same pixels as
`acmnet describe`): at `evaluate.batch_size` and at a small batch size (`small_batch`), each in
manifest order and in a shuffled order (seeded), and compares every run with the first.

Per set (one row): `max_change`, the largest L2 distance between an image's descriptors in two
runs (descriptors are L2-normalised: 0 .. 2); `top1_changes`, for a query set, the number of its
sampled queries whose top-1 among the sampled references differs between runs (each run's
queries against the references it described); `invariant`, whether `max_change` is at most
`evaluate.invariance_tolerance` (floating-point sums in other batch shapes differ by about 1e-6).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from acmnet.artifacts import load_manifest, provenance, save_table
from acmnet.artifacts.provenance import read_sidecar
from acmnet.config import Config, ConfigError
from acmnet.data import manifest as mf
from acmnet.evaluate.describe import build_describer, embed_batches
from acmnet.methods import method_of

COLUMNS = ("dataset", "method", "set", "images", "batch_sizes", "max_change", "top1_changes", "invariant")
SHUFFLE_SEED = 0


def small_batch(n: int, batch_size: int) -> int:
    """The second batch size: about a third of the first (at least 2), and never leaving a last
    batch of one image (batch norm in training mode refuses a batch of one)."""
    small = max(2, math.ceil(min(batch_size, n) / 3))
    return small + 1 if n % small == 1 else small


def sample_rows(rows: np.ndarray, count: int) -> np.ndarray:
    """Up to `count` of `rows`, evenly spaced (the first and the last included)."""
    if len(rows) <= count:
        return np.asarray(rows)
    return np.asarray(rows)[np.unique(np.linspace(0, len(rows) - 1, count).round().astype(np.int64))]


def describe_runs(
    describer: torch.nn.Module,
    pixels: np.ndarray,
    runs: list[tuple[int, bool]],
    device: torch.device,
    channels_last: bool = False,
) -> list[np.ndarray]:
    """The descriptors of uint8 (n, H, W, 3) `pixels` in each run (batch size, shuffled), each
    float32 (n, D) back in the given order."""
    out, n = [], len(pixels)
    for batch_size, shuffled in runs:
        order = np.random.default_rng(SHUFFLE_SEED).permutation(n) if shuffled else np.arange(n)
        batches = (pixels[order[a : a + batch_size]] for a in range(0, n, batch_size))
        described = embed_batches(describer, batches, n, device, channels_last, progress=False)
        restored = np.empty_like(described)
        restored[order] = described
        out.append(restored)
    return out


def compare(runs: list[np.ndarray], references: list[np.ndarray] | None = None) -> tuple[float, int | None]:
    """(the largest L2 change of any image's descriptor from the first run; with `references` (one
    per run), the number of images whose top-1 reference differs from the first run's in any run)."""
    change = max((float(np.linalg.norm(r - runs[0], axis=1).max()) for r in runs[1:]), default=0.0)
    if references is None:
        return change, None
    top1 = [np.argmax(q @ r.T, axis=1) for q, r in zip(runs, references, strict=True)]
    changed = np.zeros(len(top1[0]), dtype=bool)
    for other in top1[1:]:
        changed |= other != top1[0]
    return change, int(changed.sum())


def check_invariance(
    cfg: Config,
    dataset: str,
    method: str,
    manifest_path: Path,
    cache_path: Path | None,
    checkpoint: Path | None,
    root: Path | None = None,
) -> pd.DataFrame:
    """The batch-invariance rows (module docstring) of `method` on the manifest's sets."""
    from acmnet.data.loader import manifest_images

    if method_of(cfg, method).read is not None:
        raise ConfigError(
            f"method `{method}` reads descriptors another tool computed: there is no describer to check "
            "(check that tool's own batch handling)"
        )
    ev = cfg.evaluate
    manifest = load_manifest(manifest_path)
    describer, device, channels_last, _ = build_describer(cfg, method, checkpoint)
    images = manifest_images(
        manifest, cache_path, Path(root) if root else Path(cfg.dataset(dataset).root), cfg.image_size
    )
    sets = {"reference": manifest.rows("reference")}
    conditions = manifest.frame["condition"].to_numpy()
    for queries in mf.query_sets(manifest.frame):
        rows = manifest.rows("query")
        sets[f"query {queries}"] = rows[conditions[rows] == queries]
    described = {}
    for name, rows in sets.items():
        chosen = sample_rows(rows, ev.invariance_sample)
        big = min(ev.batch_size, len(chosen))
        small = small_batch(len(chosen), big)
        runs = [(big, False), (big, True), (small, False), (small, True)]
        described[name] = (describe_runs(describer, images(chosen), runs, device, channels_last), runs)
    table = []
    for name, (descriptors, runs) in described.items():
        references = described["reference"][0] if name != "reference" else None
        change, top1 = compare(descriptors, references)
        sizes = "/".join(str(b) for b in dict.fromkeys(b for b, _ in runs))
        table.append(
            {
                "dataset": dataset,
                "method": method,
                "set": name,
                "images": len(descriptors[0]),
                "batch_sizes": sizes,
                "max_change": change,
                "top1_changes": top1,
                "invariant": change <= ev.invariance_tolerance,
            }
        )
    return pd.DataFrame(table, columns=list(COLUMNS))


def write_invariance(
    cfg: Config, dataset: str, method: str, manifest_path: Path, table: pd.DataFrame, out: Path
) -> None:
    """`table` as a results CSV with its provenance (`acmnet check-invariance`)."""
    settings = {**cfg.settings("describe", method=method), "method_name": method, "dataset": dataset}
    save_table(table, Path(out), provenance("check-invariance", settings, manifest=load_manifest(manifest_path)))


def load_invariance(paths: list[Path]) -> pd.DataFrame:
    """Batch-invariance tables (as `acmnet check-invariance` writes them), checked and concatenated."""
    frames = []
    for path in map(Path, paths):
        read_sidecar(path, "acmnet check-invariance")
        frame = pd.read_csv(path)
        missing = [c for c in COLUMNS if c not in frame.columns]
        if missing:
            raise ValueError(f"{path}: a batch-invariance file lacks column(s) {missing}: run acmnet check-invariance")
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(COLUMNS))
