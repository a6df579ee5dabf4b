"""The experiment's results, written only after every input has been checked: the merged metrics
of every run, the summary (runs over seeds merged, intervals, paired tests; `summary.py`) as CSV,
Markdown and LaTeX, the recall curves with their bands, the spread over seeds, and the resolved
config of the run.

The outputs are one set: every file is first written into a hidden staging folder beside its
target (`staged`), and only when all of them are written are they renamed over their targets,
with SIGTERM and SIGINT held back during the renames (and the renames undone if one fails). A
report stopped or failing before that leaves the previous outputs exactly as they were (or none,
when there were none) and says which; one stopped during the renames finishes them first.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from acmnet.artifacts import Provenance, Source, file_digest, load_curves, load_ranks, provenance, save_table
from acmnet.config import Config, save_config
from acmnet.evaluate.msls_submission import unscored_lines
from acmnet.evaluate.operating_point import add_operating_point
from acmnet.io import atomic_write_text
from acmnet.report.captions import train_sets, train_sets_text
from acmnet.report.checks import invariance_markdown, operating_point_markdown
from acmnet.report.figures import check_figure_paths, recall_curves, seed_spread
from acmnet.report.precision import add_costs, add_precision, cost_markdown, precision_markdown
from acmnet.report.reproduction import markdown as reproduction_markdown
from acmnet.report.reproduction import reproduction
from acmnet.report.summary import floor_run_blocks, markdown, summarise
from acmnet.report.tables import ground_truth_text, merge_metrics, without_positives, write_table
from acmnet.train.monitor import collapse_markdown


@dataclass(frozen=True)
class ReportFiles:
    """Where `write_report` writes."""

    metrics: Path  # every run's rows (CSV)
    summary: Path  # one row per method, seeds merged, intervals and tests (CSV)
    markdown: Path  # the summary as a Markdown table (what the terminal shows)
    table: Path  # the summary as a LaTeX table
    curves: list[Path]  # recall@N curves with bands (PNG / PDF)
    seeds: list[Path]  # R@1 of every training seed (PNG / PDF)
    config: Path | None = None  # the resolved config of the run
    reproduction: Path | None = None  # the verdict beside every published number (Markdown)
    reproduction_csv: Path | None = None  # the same as CSV

    def paths(self) -> list[Path]:
        extra = [p for p in (self.config, self.reproduction, self.reproduction_csv) if p is not None]
        return [self.metrics, self.summary, self.markdown, self.table, *self.curves, *self.seeds, *extra]


def write_report(
    cfg: Config,
    metrics: list[Path],
    curves: list[Path],
    ranks: list[Path],
    out: ReportFiles,
    invariance: list[Path] | None = None,
    train_logs: list[Path] | None = None,
) -> str:
    """Check every input, then write the outputs as one set (`staged`); returns the Markdown summary.
    `invariance`: batch-invariance files (`acmnet check-invariance`), printed per row in the summary;
    `train_logs`: every trained run's train_log.csv (a warning paragraph when one flags a collapse)."""
    from acmnet.evaluate.invariance import load_invariance

    check_figure_paths(out.curves + out.seeds)
    checks = load_invariance(invariance) if invariance else None
    with staged(out.paths(), "acmnet report") as stage:  # nothing is staged before the inputs are checked
        return _write(cfg, metrics, curves, ranks, out, stage, checks, train_logs or [])


def _write(
    cfg: Config,
    metrics: list[Path],
    curves: list[Path],
    ranks: list[Path],
    out: ReportFiles,
    stage: Callable[[Path], Path],
    checks: pd.DataFrame | None,
    train_logs: list[Path],
) -> str:
    table = merge_metrics(metrics, cfg)  # this config's runs, all of them (check_configured)
    curve_table = load_curves(curves)
    rank_table = load_ranks(ranks)
    summary = add_costs(add_precision(summarise(table, rank_table, cfg), rank_table, cfg), table)
    summary = add_operating_point(summary, rank_table, cfg)
    table = floor_run_blocks(table, rank_table, summary, cfg.evaluate)
    missing = without_positives(rank_table)
    text = markdown(summary, cfg.evaluate) + f"\n\nGround truth: {ground_truth_text(cfg, missing)}."
    text += f"\n\n{train_sets_text(cfg)}" if train_sets(cfg) else ""
    text += "".join(f"\n\n{line}" for line in unscored_lines(cfg))
    text += "".join(
        f"\n\n{part}"
        for part in (precision_markdown(summary, cfg.evaluate), cost_markdown(summary), collapse_markdown(train_logs))
        if part
    )
    extra = (operating_point_markdown(summary, cfg.evaluate), invariance_markdown(summary, checks, cfg.evaluate))
    text += "".join(f"\n\n{part}" for part in extra if part)
    sources = {f"metrics[{i}]": Source(str(p), file_digest(p)) for i, p in enumerate(metrics)}
    prov = dataclasses.replace(provenance("report", cfg.settings("report")), sources=sources)
    save_table(table, stage(out.metrics), prov)
    save_table(summary, stage(out.summary), prov)
    atomic_write_text(stage(out.markdown), text + "\n")
    write_table(cfg, summary, stage(out.table), missing)
    recall_curves(curve_table, [stage(p) for p in out.curves])
    seed_spread(table, cfg.evaluate.recall_at[0], [stage(p) for p in out.seeds])
    if out.config is not None:
        save_config(cfg, stage(out.config))
    return text + write_reproduction(cfg, summary, rank_table, out, stage, prov)


def write_reproduction(
    cfg: Config,
    summary: pd.DataFrame,
    ranks: pd.DataFrame,
    out: ReportFiles,
    stage: Callable[[Path], Path],
    prov: Provenance,
) -> str:
    """reproduction.md / .csv when asked for (`acmnet.report.reproduction`); the Markdown to print ('' if not)."""
    if out.reproduction is None and out.reproduction_csv is None:
        return ""
    table = reproduction(cfg, summary, ranks)
    text = reproduction_markdown(table, cfg.evaluate.bootstrap_resamples)
    if out.reproduction is not None:
        atomic_write_text(stage(out.reproduction), text + "\n")
    if out.reproduction_csv is not None:
        save_table(table, stage(out.reproduction_csv), prov)
    return f"\n\n{text}"


STAGING_PREFIX = ".staging."


@contextlib.contextmanager
def staged(targets: list[Path], who: str) -> Iterator[Callable[[Path], Path]]:
    """Write a set of files as one: yields `stage(target)`, the path to write `target` at (in a
    hidden folder beside it, with whatever the writer puts beside it, e.g. a provenance record);
    when the block ends, every staged file replaces its target (`_swap`). When the block fails or
    a signal stops it, nothing of the new set is kept, the previous files are untouched, and a line
    on stderr says which state was left (for an error before anything was staged, e.g. a bad
    input, the error alone says enough). `who` names the step in that line."""
    targets = [Path(t) for t in targets]
    for target in targets:
        if target.is_dir():
            raise IsADirectoryError(f"{target} is a folder: give the path of the file to write")
    before = [t for t in targets if t.exists()]
    folders: dict[Path, Path] = {}
    keep: set[Path] = set()  # staging folders holding a previous file that could not be put back

    def stage(target: Path) -> Path:
        parent = Path(target).parent
        if parent not in folders:
            parent.mkdir(parents=True, exist_ok=True)
            folders[parent] = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=parent))
        return folders[parent] / Path(target).name

    try:
        try:
            yield stage
        except BaseException as exc:
            if folders or not isinstance(exc, Exception):
                print(f"{who}: {_state_left(targets, before)}", file=sys.stderr)
            raise
        _swap(folders, targets, before, who, keep)
    finally:
        for folder in set(folders.values()) - keep:
            shutil.rmtree(folder, ignore_errors=True)


def _state_left(targets: list[Path], before: list[Path]) -> str:
    """The line saying what a stopped or failed report left: the previous outputs, or none."""
    if not before:
        return f"none of its {len(targets)} outputs was written (there were none before)"
    if len(before) == len(targets):
        return f"the previous outputs are left as they were (all {len(targets)}); none of the new ones was written"
    return (
        f"the previous outputs are left as they were ({len(before)} of {len(targets)} existed: "
        + ", ".join(p.name for p in before)
        + "); none of the new ones was written"
    )


def _swap(folders: dict[Path, Path], targets: list[Path], before: list[Path], who: str, keep: set[Path]) -> None:
    """Rename every staged file over its target, SIGTERM and SIGINT held back meanwhile; if a rename
    fails, the ones done are undone (the previous files put back) and the error is raised. A
    previous file that cannot be put back stays in its staging folder (added to `keep`), named."""
    moves = [
        (folder / name, parent / name) for parent, folder in folders.items() for name in sorted(os.listdir(folder))
    ]
    held = {signal.SIGTERM, signal.SIGINT}
    can_hold = hasattr(signal, "pthread_sigmask")
    if can_hold:
        signal.pthread_sigmask(signal.SIG_BLOCK, held)
    swapped = False
    try:
        done: list[tuple[Path, Path | None]] = []
        try:
            for new, target in moves:
                backup = None
                if target.exists():
                    backup = new.with_name(f"{STAGING_PREFIX}previous.{target.name}")
                    os.replace(target, backup)
                done.append((target, backup))
                os.replace(new, target)
            swapped = True
        except BaseException:
            stuck = []
            for target, backup in reversed(done):
                try:
                    if backup is not None:
                        os.replace(backup, target)
                    else:
                        target.unlink(missing_ok=True)
                except OSError:
                    stuck.append(f"{target} (the previous one is kept at {backup})" if backup else str(target))
                    keep.update({backup.parent} if backup else set())
            if stuck:
                print(f"{who}: could not put back the previous " + ", ".join(stuck), file=sys.stderr)
            else:
                print(f"{who}: {_state_left(targets, before)}", file=sys.stderr)
            raise
    finally:
        if can_hold:
            try:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, held)  # a signal held back is delivered here
            except BaseException:
                if swapped:  # else the line above said what was left
                    print(f"{who}: stopped after every new output was in place (all {len(targets)})", file=sys.stderr)
                raise
