"""The experiment's results: the merged metrics, their LaTeX table, the recall curves and the
resolved config of the run, written only after every input has been checked."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

from acmnet.artifacts import Source, file_digest, load_curves, provenance, save_table
from acmnet.config import Config, save_config
from acmnet.report.figures import recall_curves
from acmnet.report.tables import merge_metrics, write_table


def write_report(
    cfg: Config,
    metrics: list[Path],
    curves: list[Path],
    out_metrics: Path,
    out_table: Path,
    figures: list[Path],
    out_config: Path | None = None,
) -> pd.DataFrame:
    """Validate every metrics and curve file, then write the outputs; returns the merged table."""
    table = merge_metrics(metrics)
    curve_table = load_curves(curves)
    prov = provenance("report", cfg.settings("report"))
    sources = {f"metrics[{i}]": Source(str(p), file_digest(p)) for i, p in enumerate(metrics)}
    save_table(table, out_metrics, dataclasses.replace(prov, sources=sources))
    write_table(cfg, table, out_table)
    for figure in figures:
        recall_curves(curve_table, figure)
    if out_config is not None:
        save_config(cfg, out_config)
    return table
