"""`acmnet prune`: free the space of training runs that no current method uses, and nothing else.

Training runs live in `<experiment>/<dataset>/runs/<training digest>/` (`acmnet.train.checkpoint`).
A run is kept when a trained method of the config uses it:

* its current run: the digest `acmnet train` would compute now (`run_identity`: the method's
  training settings and the pixels of its training images, read from the training dataset's
  manifest and image cache), whether finished, half-way or not started;
* its published model: the run whose `checkpoint.pt` is the one published in
  `<experiment>/<dataset>/<method>/` (what the results on disk were described with), until a
  run with the current settings replaces it.

Every other run folder under the experiment (other settings, other images, a dataset or method no
longer configured) is deleted, and nothing outside the run folders. When the current run of a
method cannot be computed (its training dataset's manifest or cache is missing or unreadable),
nothing in that dataset's `runs/` is deleted, and the listing says why. A run folder whose lock a
training process holds is kept. Without `--yes` nothing is deleted: the listing says what would be.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from acmnet.config import Config


@dataclass
class RunFolder:
    """One run folder and the verdict on it."""

    path: Path
    size: int  # bytes of its files
    shared: int  # bytes of those that are also linked elsewhere (a published checkpoint): not freed
    keep: bool = False
    why: list[str] = field(default_factory=list)


def _size(folder: Path) -> tuple[int, int]:
    total = shared = 0
    for dirpath, _, files in os.walk(folder):
        for name in files:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            total += st.st_size
            shared += st.st_size if st.st_nlink > 1 else 0
    return total, shared


def _used_runs(cfg: Config) -> tuple[dict[Path, dict[str, list[str]]], dict[Path, str]]:
    """({runs folder: {digest: why it is kept}}, {runs folder: why nothing in it can be judged})."""
    from acmnet.artifacts import ArtifactError, load_cache, load_checkpoint, load_manifest
    from acmnet.methods import trained_methods, training_dataset
    from acmnet.train.loop import run_identity, train_rows

    exp = Path(cfg.experiment_dir)
    used: dict[Path, dict[str, list[str]]] = {}
    unknown: dict[Path, str] = {}
    pairs = dict.fromkeys((training_dataset(cfg, m, d), m) for m in trained_methods(cfg) for d in cfg.datasets)
    loaded: dict[str, tuple] = {}
    for dataset, method in pairs:
        runs = exp / dataset / "runs"
        kept = used.setdefault(runs, {})
        manifest_path, cache_path = exp / dataset / "manifest.csv", exp / dataset / "cache" / "images.npy"
        if dataset not in loaded:
            try:
                manifest = load_manifest(manifest_path)
                loaded[dataset] = (manifest, load_cache(cache_path, manifest))
            except (ArtifactError, OSError, ValueError) as exc:
                loaded[dataset] = (exc,)
        if len(loaded[dataset]) == 1:
            unknown[runs] = (
                f"the current run of {method} cannot be computed without {dataset}'s manifest and image cache "
                f"({loaded[dataset][0]}); make them first (snakemake ... {cache_path})"
            )
        else:
            manifest, cache = loaded[dataset]
            _, digest = run_identity(cfg, method, cache, train_rows(manifest, cache))
            kept.setdefault(digest, []).append(f"{method}: current settings and images")
        published = exp / dataset / method / "checkpoint.pt"
        if published.is_file():
            try:
                digest = load_checkpoint(published).info.get("training_digest")
            except (ArtifactError, OSError, ValueError, RuntimeError) as exc:
                unknown[runs] = f"{published} cannot be read ({exc}), so the run it came from is not known"
                continue
            if digest:
                kept.setdefault(digest, []).append(f"{method}: published in {published.parent}")
            else:
                unknown[runs] = f"{published} does not record its training digest, so the run it came from is not known"
    return used, unknown


@contextlib.contextmanager
def _unless_training(folder: Path) -> Iterator[bool]:
    """Hold the run's lock (as `Checkpointer.lock` takes it) while deleting; False when a training
    process holds it."""
    lock = folder / ".lock"
    if not lock.is_file():
        yield True
        return
    fd = os.open(lock, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def plan_prune(cfg: Config) -> list[RunFolder]:
    """Every run folder under the experiment (`<experiment>/*/runs/*/`), with keep or delete and why."""
    exp = Path(cfg.experiment_dir)
    used, unknown = _used_runs(cfg)
    folders = []
    for runs in sorted(p for p in exp.glob("*/runs") if p.is_dir()):
        for path in sorted(p for p in runs.iterdir() if p.is_dir()):
            run = RunFolder(path, *_size(path))
            run.why = list(used.get(runs, {}).get(path.name, []))
            if runs in unknown:
                run.why.append(unknown[runs])
            with _unless_training(path) as free:
                if not free:
                    run.why.append("a training process holds it now")
            run.keep = bool(run.why)
            if not run.keep:
                configured = runs.parent.name in cfg.datasets
                run.why = ["no current method uses it" if configured else "its dataset is not in the config"]
            folders.append(run)
    return folders


def _gb(n: int) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"


def prune(cfg: Config, delete: bool = False) -> str:
    """List every run folder with its verdict; with `delete`, delete those no current method uses.
    Returns the report (one line per folder, then the total)."""
    folders = plan_prune(cfg)
    lines = [f"run folders of experiment {cfg.experiment} ({cfg.experiment_dir}/<dataset>/runs/):"]
    freed = count = 0
    for run in folders:
        verdict = "keep" if run.keep else ("deleted" if delete else "delete")
        if not run.keep and delete:
            with _unless_training(run.path) as free:
                if not free:  # a training started meanwhile
                    run.keep, verdict = True, "keep"
                    run.why = ["a training process holds it now"]
                else:
                    shutil.rmtree(run.path)
        shared = f" ({_gb(run.shared)} of it also linked elsewhere)" if run.shared else ""
        lines.append(f"  {verdict:7} {run.path}  {_gb(run.size)}{shared}  {'; '.join(run.why)}")
        if not run.keep:
            count, freed = count + 1, freed + run.size - run.shared
    if not folders:
        lines.append("  (none)")
    if delete:
        lines.append(f"deleted {count} run folder(s), {_gb(freed)} freed")
    elif count:
        lines.append(f"would delete {count} run folder(s), {_gb(freed)}: run again with --yes to delete them")
    else:
        lines.append("nothing to delete")
    return "\n".join(lines)
