"""The experiment's results, written only after every input has been checked: the merged metrics
of every run, the summary (runs over seeds merged, intervals, paired tests; `summary.py`) as CSV,
Markdown and LaTeX, the recall curves with their bands, the spread over seeds, and the resolved
config of the run."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from acmnet.artifacts import Source, file_digest, load_curves, load_ranks, provenance, save_table
from acmnet.config import Config, save_config
from acmnet.io import atomic_write_text
from acmnet.report.figures import recall_curves, seed_spread
from acmnet.report.summary import markdown, summarise
from acmnet.report.tables import ground_truth_text, merge_metrics, without_positives, write_table


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


def write_report(cfg: Config, metrics: list[Path], curves: list[Path], ranks: list[Path], out: ReportFiles) -> str:
    """Check every input, then write the outputs; returns the Markdown summary."""
    table = merge_metrics(metrics)
    curve_table = load_curves(curves)
    rank_table = load_ranks(ranks)
    summary = summarise(table, rank_table, cfg)
    missing = without_positives(rank_table)
    text = markdown(summary, cfg.evaluate) + f"\n\nGround truth: {ground_truth_text(cfg, missing)}."
    sources = {f"metrics[{i}]": Source(str(p), file_digest(p)) for i, p in enumerate(metrics)}
    prov = dataclasses.replace(provenance("report", cfg.settings("report")), sources=sources)
    save_table(table, out.metrics, prov)
    save_table(summary, out.summary, prov)
    atomic_write_text(out.markdown, text + "\n")
    write_table(cfg, summary, out.table, missing)
    recall_curves(curve_table, out.curves)
    seed_spread(table, cfg.evaluate.recall_at[0], out.seeds)
    if out.config is not None:
        save_config(cfg, out.config)
    return text
