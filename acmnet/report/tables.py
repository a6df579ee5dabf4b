"""Results tables: the merged metrics CSV and its LaTeX (booktabs) rendering."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from acmnet.artifacts import load_metrics
from acmnet.config import Config
from acmnet.evaluate.signature import sentence as signature_sentence
from acmnet.io import atomic_write_text
from acmnet.report.captions import settings_sentence, tex_escape
from acmnet.report.summary import COVERAGE_NOTE, level_text, resampling_text, without_interval


def merge_metrics(paths: list[Path], cfg: Config | None = None) -> pd.DataFrame:
    """Per-method metrics files (validated, `acmnet.artifacts.load_metrics`) as one table, grouped
    by (dataset, query set); datasets, query sets and methods keep their order of first appearance.
    With `cfg`, they must be the runs of that config (`check_configured`)."""
    table = load_metrics(paths)
    if cfg is not None:
        check_configured(table, cfg, paths)
    order = {col: {v: i for i, v in enumerate(dict.fromkeys(table[col]))} for col in ("dataset", "queries", "method")}
    table = table.sort_values(["dataset", "queries", "method"], key=lambda s: s.map(order[s.name]), kind="stable")
    return table.reset_index(drop=True)


def _holding(paths: list[Path], dataset: str, method: str) -> Path | None:
    """The first metrics file with a row of (`dataset`, `method`), to name it in a message."""
    for path in paths:
        frame = load_metrics([path])  # already checked by `merge_metrics`: read the same way
        if ((frame["dataset"] == dataset) & (frame["method"] == method)).any():
            return Path(path)
    return None


def check_configured(table: pd.DataFrame, cfg: Config, paths: list[Path]) -> None:
    """The merged metrics must be the runs of `cfg`, all of them: one row set per recall dataset
    and configured method (`cfg.methods`, a row per training seed), with its `<method>+seq<L>` rows
    for each `evaluate.sequence_lengths` L; a row of any other dataset or method, and a configured
    pair that no file holds, are refused (ArtifactError naming the file or the pair), so a stray
    file of another experiment or a run left out never changes the table unseen."""
    from acmnet.artifacts import ArtifactError
    from acmnet.data.datasets import dataset_type

    datasets = [d for d, spec in cfg.datasets.items() if dataset_type(spec.type).scoring == "recall"]
    rows = [r for m in cfg.methods for r in (m, *(f"{m}+seq{n}" for n in cfg.evaluate.sequence_lengths))]
    expected = [(d, m) for d in datasets for m in rows]
    present, known = dict.fromkeys(zip(table["dataset"], table["method"])), set(expected)
    for dataset, method in present:
        if (dataset, method) in known:
            continue
        if dataset not in datasets:
            what = f"dataset {dataset!r}, which is not a recall dataset of experiment {cfg.experiment!r}"
            what += f" ({', '.join(datasets) or 'none'})"
        else:
            what = f"method {method!r}, which is not a method of experiment {cfg.experiment!r} ({', '.join(rows)})"
        raise ArtifactError(
            f"{_holding(paths, dataset, method)} holds rows of {what}: give the metrics files of this "
            "experiment's runs only (or configure what the file holds)"
        )
    for dataset, method in expected:
        if (dataset, method) not in present:
            base = re.sub(r"\+seq\d+$", "", method)
            raise ArtifactError(
                f"no metrics file holds the rows of method {method!r} on dataset {dataset!r}, which experiment "
                f"{cfg.experiment!r} configures: score it (acmnet score --dataset {dataset} --method {base}) and "
                "give its metrics.csv too"
            )


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


def without_positives(ranks: pd.DataFrame) -> dict[tuple[str, str], tuple[int, int]]:
    """(dataset, query set) -> (queries without any positive, queries), for the sets that have such
    queries, from the ranks files' `n_positives` (one method's rows stand for all: same positives)."""
    if "n_positives" not in ranks.columns:
        return {}
    first = ranks.drop_duplicates(["dataset", "queries", "query_row"])
    out = {}
    for key, group in first.groupby(["dataset", "queries"], sort=False):
        none = int((group["n_positives"] == 0).sum())
        if none:
            out[key] = (none, len(group))
    return out


def ground_truth_text(cfg: Config, missing: dict[tuple[str, str], tuple[int, int]]) -> str:
    """What counts as correct on each recall dataset, and how many queries have no positive (plain text)."""
    from acmnet.data.datasets import dataset_type

    parts = []
    for name, spec in cfg.datasets.items():
        kind = dataset_type(spec.type)
        if kind.scoring != "recall":
            continue
        if kind.ground_truth == "places":
            words = kind.window(spec.options, spec.tolerance) if kind.window else f"±{spec.tolerance} places"
            parts.append(f"{name} {words}")
        elif getattr(spec.options, "positive_frames", None) is not None:
            parts.append(f"{name} within ±{spec.options.positive_frames} frames (file-name coordinates)")
        elif kind.ground_truth == "positions":
            parts.append(f"{name} within {spec.options.positive_distance:g} m")
        elif kind.ground_truth == "poses":
            angle = spec.options.positive_angle
            yaw = f" and {angle:g}° of yaw" if angle is not None else ""
            parts.append(f"{name} within {spec.options.positive_distance:g} m{yaw} (poses.csv)")
        else:
            parts.append(f"{name} as the dataset's ground-truth file lists them")
        note = kind.ground_truth_note(Path(spec.root), spec.options) if kind.ground_truth_note else None
        if note:
            parts[-1] += f"; {note}"
    text = f"a retrieval is correct when it is one of its query's positives ({', '.join(parts)}); every query counts"
    if missing:
        counts = ", ".join(f"{d}/{q} {n} of {total}" for (d, q), (n, total) in missing.items())
        text += f", also one without any positive, which counts as a miss ({counts})"
    return text


def caption(
    cfg: Config, missing: dict[tuple[str, str], tuple[int, int]] | None = None, summary: pd.DataFrame | None = None
) -> str:
    """The protocol, the uncertainty shown (with `summary`, how each dataset was resampled and where
    too few queries left no interval), what each mark means and the paper-silent choices behind the
    rows (LaTeX)."""
    ev = cfg.evaluate
    level = f"{100 * ev.confidence:g}"
    truth = tex_escape(ground_truth_text(cfg, missing or {}))
    resampled = (
        tex_escape(resampling_text(summary))
        if summary is not None
        else "queries resampled in moving blocks on datasets with a route order, iid otherwise, and training seeds "
        "with replacement"
    )
    sequence = bool(cfg.evaluate.sequence_lengths) or (
        summary is not None and summary["method"].str.contains("+seq", regex=False).any()
    )
    if summary is not None and (bare := without_interval(summary)):
        resampled += "; no interval and no test for " + "; ".join(
            tex_escape(f"{d}/{q}: {why}") for (d, q), why in bare.items()
        )
    family = "the single-image rows of its query set"
    if sequence:
        family += " (sequence-matching rows, below the thin rule, among themselves)"
    return (
        f"Recall@N (\\%) of each query set against its reference set; {truth}. "
        f"In brackets: the {tex_escape(level_text(ev.confidence))} percentile bootstrap "
        f"interval ({ev.bootstrap_resamples} resamples, seed {ev.bootstrap_seed}; {resampled}), whose coverage is "
        f"below nominal on route data ({tex_escape(COVERAGE_NOTE)}); with several "
        "training seeds the mean over seeds, its interval over queries and seeds and, in parentheses, the standard "
        f"deviation over seeds. Ranked within {family}: best in bold, second in italic; $^\\dagger$: not "
        f"significantly below the bold row it is ranked with (paired bootstrap, two-sided, Holm-adjusted over "
        f"every test made against that row, at {level}\\%; a screen, the best row being chosen on the same data), "
        "which does not make the two equivalent. "
        f"{settings_sentence(cfg)}"
        + (
            f" {tex_escape(signature_sentence(summary['signature']))}"
            if "signature" in getattr(summary, "columns", ())
            else ""
        )
    )


def is_sequence_row(method: str) -> bool:
    """Whether a row is sequence matching (`<method>+seq<L>`), ranked apart from single-image rows."""
    return "+seq" in str(method)


def _interval(row: pd.Series, n: int) -> str:
    """`[73.0, 90.8]`, or `[no interval]` where too few queries or blocks left none (NaN bounds)."""
    lo, hi = row.get(f"R@{n}_lo", np.nan), row.get(f"R@{n}_hi", np.nan)
    if pd.isna(lo) or pd.isna(hi):
        return "[no interval]"
    return f"[{lo:.1f}, {hi:.1f}]"


def _cell(row: pd.Series, n: int, mark: str | None) -> str:
    """`62.3 [60.1, 64.4]` (the interval itself), `(sd 0.8)` with seeds, bold/italic by rank within the
    row's family, a dagger when not significantly below the bold row of that family after Holm's
    adjustment (`R@N_same`, the Holm p that summary.md prints)."""
    value = f"{row[f'R@{n}']:.1f}"
    value = r"\textbf{" + value + "}" if mark == "best" else r"\textit{" + value + "}" if mark == "second" else value
    text = f"{value} {_interval(row, n)}"
    if row.get("n_seeds", 1) > 1 and not np.isnan(row[f"R@{n}_sd"]):
        text += f" (sd {row[f'R@{n}_sd']:.1f})"
    if mark != "best" and bool(row.get(f"R@{n}_same", False)):
        text += r"$^\dagger$"
    return text


def _family_order(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of each (dataset, query set) with its single-image rows first, then its `+seq` rows."""
    seq = table["method"].map(is_sequence_row)
    group = table.groupby(["dataset", "queries"], sort=False).ngroup()
    order = pd.DataFrame({"group": group, "seq": seq, "pos": range(len(table))}, index=table.index)
    return table.loc[order.sort_values(["group", "seq", "pos"]).index]


def latex_table(table: pd.DataFrame, recall_at: list[int], caption_text: str, label: str) -> str:
    """A booktabs table of the summary: dataset, query set, method, R@N cells (see `_cell`). Within a
    query set the single-image rows are ranked among themselves; the sequence-matching rows follow
    below a thin rule and are ranked among themselves (the summary tests each family against its own best)."""
    ns = [n for n in recall_at if f"R@{n}" in table.columns]
    table = _family_order(table)
    marks: dict[tuple[int, int], str] = {}
    for _, group in table.groupby(["dataset", "queries", table["method"].map(is_sequence_row)], sort=False):
        for n in ns:
            for idx, mark in rank_marks(group[f"R@{n}"]).items():
                marks[(idx, n)] = mark
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        r"\begin{tabular}{lll" + "r" * len(ns) + "}",
        r"\toprule",
        " & ".join(["Dataset", "Queries", "Method", *[f"R@{n}" for n in ns]]) + r" \\",
        r"\midrule",
    ]
    previous = None
    for idx, row in table.iterrows():
        key = (row["dataset"], row["queries"], is_sequence_row(row["method"]))
        if previous is not None and key[:2] != previous[:2]:
            lines.append(r"\midrule")
        elif previous is not None and key != previous:
            lines.append(rf"\cmidrule(l){{3-{3 + len(ns)}}}")
        cells = [tex_escape(str(row[c])) for c in ("dataset", "queries", "method")]
        cells += [_cell(row, n, marks.get((idx, n))) for n in ns]
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


def write_table(
    cfg: Config, summary: pd.DataFrame, out: Path, missing: dict[tuple[str, str], tuple[int, int]] | None = None
) -> None:
    text = latex_table(summary, cfg.evaluate.recall_at, caption(cfg, missing, summary), f"tab:{cfg.experiment}-recall")
    atomic_write_text(Path(out), text)
