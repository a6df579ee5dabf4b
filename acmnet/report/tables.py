"""Results tables: the merged metrics CSV and its LaTeX (booktabs) rendering."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from acmnet.artifacts import load_metrics
from acmnet.config import Config
from acmnet.io import atomic_write_text
from acmnet.report.captions import settings_sentence, tex_escape


def merge_metrics(paths: list[Path]) -> pd.DataFrame:
    """Per-method metrics files (validated, `acmnet.artifacts.load_metrics`) as one table, grouped
    by (dataset, query set); datasets, query sets and methods keep their order of first appearance."""
    table = load_metrics(paths)
    order = {col: {v: i for i, v in enumerate(dict.fromkeys(table[col]))} for col in ("dataset", "queries", "method")}
    table = table.sort_values(["dataset", "queries", "method"], key=lambda s: s.map(order[s.name]), kind="stable")
    return table.reset_index(drop=True)


def rank_marks(values: pd.Series) -> dict[int, str]:
    """Index -> 'best' / 'second' for the highest and second-highest distinct values."""
    distinct = sorted(set(values.dropna()), reverse=True)
    marks = {}
    for idx, v in values.items():
        if distinct and v == distinct[0]:
            marks[idx] = "best"
        elif len(distinct) > 1 and v == distinct[1]:
            marks[idx] = "second"
    return marks


def caption(cfg: Config) -> str:
    """The protocol and the paper-silent choices behind the measured rows (LaTeX)."""
    tol = ", ".join(f"{tex_escape(n)} ±{d.tolerance}" for n, d in cfg.datasets.items()).replace("±", r"$\pm$")
    return (
        "Recall@N (\\%) of each query set against its reference set; a retrieval is correct within the place "
        f"tolerance ({tol}); every query counts. {settings_sentence(cfg)} "
        "Best in bold, second in italic, per query set."
    )


def latex_table(table: pd.DataFrame, recall_at: list[int], caption_text: str, label: str) -> str:
    """A booktabs table: dataset, query set, method, R@N columns; best bold, second italic."""
    cols = [f"R@{n}" for n in recall_at if f"R@{n}" in table.columns]
    marks: dict[tuple[int, str], str] = {}
    for _, group in table.groupby(["dataset", "queries"], sort=False):
        for col in cols:
            for idx, mark in rank_marks(group[col]).items():
                marks[(idx, col)] = mark
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        r"\begin{tabular}{lll" + "r" * len(cols) + "}",
        r"\toprule",
        " & ".join(["Dataset", "Queries", "Method", *[c.replace("@", "@") for c in cols]]) + r" \\",
        r"\midrule",
    ]
    previous = None
    for idx, row in table.iterrows():
        key = (row["dataset"], row["queries"])
        if previous is not None and key != previous:
            lines.append(r"\midrule")
        cells = [
            tex_escape(str(row["dataset"])),
            tex_escape(str(row["queries"])),
            tex_escape(str(row["method"])),
        ]
        for col in cols:
            text = f"{row[col]:.1f}"
            mark = marks.get((idx, col))
            cells.append(
                r"\textbf{" + text + "}" if mark == "best" else r"\textit{" + text + "}" if mark == "second" else text
            )
        lines.append(" & ".join(cells) + r" \\")
        previous = key
    lines += [
        r"\bottomrule",
        r"\end{tabular}",
        rf"\caption{{{caption_text}}}",
        rf"\label{{{label}}}",
        r"\end{table}",
        "",
    ]
    return "\n".join(lines)


def write_table(cfg: Config, table: pd.DataFrame, out: Path) -> None:
    text = latex_table(table, cfg.evaluate.recall_at, caption(cfg), f"tab:{cfg.experiment}-recall")
    atomic_write_text(Path(out), text)
