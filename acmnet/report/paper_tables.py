"""The paper's Tables 2, 3 and 4 regenerated as standalone LaTeX, with our measured rows beside them.

:func:`render_paper_tables` writes ``table2.tex`` (Nordland summer/winter, R@1/5/10),
``table3.tex`` (Alderley day/night, R@1) and ``table4.tex`` (RobotCar Seasons v2, 9 conditions x
3 thresholds, day/night groups). Each file is a complete LaTeX document (``article`` with
``booktabs``, ``geometry`` and ``graphicx``, all in ``texlive-latex-recommended``) that compiles on
its own. A table holds:

* the published rows of ``baselines/published.yaml`` (via :mod:`acmnet.report.published`), labelled as
  printed in the paper with their reference numbers (``"Seqslam [26]"``) and their numbers exactly
  as printed (``9.90``);
* the paper's own row, labelled ``ACM-Net (published)``;
* our measured rows, one per measured method (``ACM-Net (ours, acmnet)``), to one decimal.

Best is bold and second best italic per column, over all rows shown, as the paper marks each table
(`marks` of published.yaml: Table 3 prints the best alone, bold); ties share the mark. Marks
compare the numbers as printed (ours rounded to one decimal first), so two cells that read the
same always carry the same mark. The caption states the protocol (dataset, query/reference,
tolerance, metric), the citations behind the reference numbers, the protocol of our rows and, when
a :class:`~acmnet.config.Config` is given, the paper-silent choices behind them. With no measured
rows a table holds the published rows alone, to check the transcription against the paper.

Measured rows for Tables 2 and 3 come from the pipeline's metrics CSV files (columns
``dataset, queries, method, R@1, R@5, R@10, n_queries, n_references, tolerance``; percent). A row
goes to the table its ``dataset`` maps to (``dataset_tables``; by default each configured
dataset's type names its table, see :func:`_dataset_tables`) and only for the paper's query set
of that table (``winter`` for
Table 2, ``night`` for Table 3; the ``queries`` fact of the published table); rows of other query
sets are left out with a warning.

Measured rows for Table 4 come from RobotCar scores CSVs (``robotcar_scores``: one, or one per
method as ``acmnet localize`` writes them), long form, one row per (method, query set, condition,
threshold)::

    method,query_set,condition,threshold_m,threshold_deg,value,n_queries
    acmnet,train,dawn,0.25,2,3.1,512
    acmnet,train,dawn,0.5,5,20.4,512
    acmnet,train,dawn,5.0,10,71.8,512
    ...

* ``method`` (required): our method name (a key of ``cfg.methods``).
* ``condition`` (required): one of :data:`acmnet.report.published.TABLE4_CONDITIONS` (``dawn``, ``dusk``,
  ``overcast-summer``, ``overcast-winter``, ``rain``, ``snow``, ``sun``, ``night``,
  ``night-rain``); case-insensitive, ``_`` or a space for ``-``, and the paper's headers
  ``OC-summer`` / ``OC-winter`` are accepted.
* ``threshold_m``, ``threshold_deg`` (required): one of the paper's pairs (0.25, 2), (0.5, 5),
  (5.0, 10).
* ``value`` (required): percent of the queries of that condition localized within the threshold,
  in [0, 100].
* ``query_set`` (optional, default ``test``): ``test`` for the paper's v2 test queries (scored by
  the benchmark server, comparable with the published rows); ``train`` for a local score against
  the public ground truth of the v2 train-split queries, labelled
  ``ACM-Net (ours, <method>; local score, train-split queries)`` and flagged in the caption as not
  directly comparable; any other value is shown as ``query set <value>`` in the label.
* ``n_queries`` (optional): queries behind the value, stated in the caption (summed per query set
  over the conditions at the first threshold).

Missing (condition, threshold) cells of a measured row print as ``--`` and take no mark.

Every file is read through the artifacts layer (`acmnet.artifacts.load_metrics`,
`acmnet.artifacts.load_pose_accuracy`): one whose provenance record no longer matches it (a value
edited by hand after ``acmnet score`` or ``acmnet localize`` wrote it) is refused, naming the step
to rerun. Errors (:class:`PaperTablesError`, a ``ValueError``) name the offending file: missing columns,
non-numeric or out-of-range values, unknown conditions or thresholds, a (dataset, queries, method)
held twice in a metrics file or across files, a (method, query_set, condition, threshold) held
twice in the scores file.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from acmnet.artifacts import ArtifactError, load_metrics, load_pose_accuracy
from acmnet.config import Config, split_seed
from acmnet.evaluate.signature import sentence as signature_sentence
from acmnet.io import atomic_write_text
from acmnet.report.captions import settings_sentence, tex_escape
from acmnet.report.published import (
    DAY_CONDITIONS,
    NIGHT_CONDITIONS,
    RECALL_COLUMNS,
    TABLE4_CONDITIONS,
    TABLE4_THRESHOLDS,
    PublishedResults,
    load_published,
)
from acmnet.report.summary import COVERAGE_NOTE, level_text
from acmnet.report.tables import rank_marks

PAPER_TABLES = ("table2", "table3", "table4")


def _dataset_tables(cfg: Config) -> dict[str, str]:
    """Dataset name -> the paper table its rows join, from each dataset type's `paper_table`."""
    from acmnet.data.datasets import dataset_type

    out = {}
    for name, spec in cfg.datasets.items():
        table = dataset_type(spec.type).paper_table
        if table in RECALL_COLUMNS:
            out[name] = table
    return out


ROBOTCAR_DEFAULT_QUERY_SET = "test"

PUBLISHED_SUFFIX = " (published)"


class PaperTablesError(ArtifactError):
    """A measured-results file is malformed or was edited; the message names the file and the problem."""


# --- LaTeX text -----------------------------------------------------------------------------------


STYLES = {"bold": r"\textbf", "italic": r"\textit"}  # the styles `marks` of published.yaml may name
DEFAULT_MARKS = {"best": "bold", "second": "italic"}


def table_marks(pub: PublishedResults, table: str) -> dict[str, str]:
    """Rank ('best', 'second') -> style ('bold', 'italic') of the marks the paper prints in `table`,
    from its `marks` in published.yaml (Table 3 marks the best alone); both when it records none."""
    marks = dict(pub.tables[table].facts.get("marks") or DEFAULT_MARKS)
    unknown = {k: v for k, v in marks.items() if k not in DEFAULT_MARKS or v not in STYLES}
    if unknown:
        raise ValueError(
            f"published.yaml: {table}.marks {unknown}: a mark is one of {list(DEFAULT_MARKS)} styled "
            f"{' or '.join(STYLES)}"
        )
    return marks


def _mark(text: str, mark: str | None, styles: Mapping[str, str] = DEFAULT_MARKS) -> str:
    """`text` in the style of its rank `mark` ('best', 'second'), or plain when the table prints no such mark."""
    style = styles.get(mark) if mark else None
    return STYLES[style] + "{" + text + "}" if style else text


# --- rows -----------------------------------------------------------------------------------------


@dataclass
class _Row:
    """One table row: its LaTeX label and, per column key, the text as shown (None: no value)."""

    label: str
    cells: dict[object, str | None]
    # "published", "paper" (the paper's own row), "ours", "sequence" (ours, several queries each) or
    # "local" (ours, scored locally on other queries than the published rows): the last two are never ranked
    kind: str
    after: dict[object, str] = field(default_factory=dict)  # LaTeX shown after a cell's (marked) number


@dataclass
class _Measured:
    """Our rows for one table and the facts the caption states about them."""

    rows: list[_Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _ours_text(value: float | None) -> str | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.1f}"


def _method_label(method: str, cfg: Config | None, extra: str = "") -> str:
    """``<label> (ours, <method>)``, the label from the method's kind (``ACM-Net``, the frozen
    backbone, raw pixels); a `<method>+seq<L>` row is named after `<method>`."""
    from acmnet.methods import method_of

    base, _, length = method.partition("+seq")
    name = (
        method_of(cfg, base).label(cfg, base, cfg.methods[base].options) if cfg and base in cfg.methods else "ACM-Net"
    )
    if length:
        name += f" + sequence matching over its descriptors ({length} queries)"
    return tex_escape(f"{name} (ours, {method}{extra})")


def _published_rows(pub: PublishedResults, table: str, keys: list[object]) -> list[_Row]:
    rows = []
    for r in pub.tables[table].rows:
        label = f"{r.method}{PUBLISHED_SUFFIX}" if r.ours_in_paper else r.label
        rows.append(
            _Row(tex_escape(label), {k: r.values[k].printed for k in keys}, "paper" if r.ours_in_paper else "published")
        )
    return rows


UNRANKED = ("sequence", "local")


def _marks(rows: list[_Row], keys: Iterable[object]) -> dict[tuple[int, object], str]:
    """(row index, column key) -> 'best' / 'second', over the rows that answer the published rows'
    question, comparing the numbers as shown; sequence-matching rows (several queries at once) and
    locally scored rows (other queries) are never ranked."""
    marks = {}
    for key in keys:
        values = pd.Series(
            [float(r.cells[key]) if r.cells.get(key) and r.kind not in UNRANKED else math.nan for r in rows],
            dtype=float,
        )
        for i, mark in rank_marks(values).items():
            marks[(i, key)] = mark
    return marks


def _body(rows: list[_Row], keys: list[object], styles: Mapping[str, str]) -> list[str]:
    marks = _marks(rows, keys)
    lines = []
    for i, row in enumerate(rows):
        if i and row.kind != rows[i - 1].kind and row.kind in ("ours", *UNRANKED):
            lines.append(r"\midrule")
        cells = [row.label]
        for key in keys:
            text = row.cells.get(key)
            cells.append("--" if text is None else _mark(text, marks.get((i, key)), styles) + row.after.get(key, ""))
        lines.append(" & ".join(cells) + r" \\")
    return lines


# --- reading measured results ---------------------------------------------------------------------


def _read_metrics(
    paths: list[Path], pub: PublishedResults, dataset_tables: Mapping[str, str], cfg: Config | None
) -> dict[str, _Measured]:
    """Our rows for tables 2 and 3 from the metrics files, in order of first appearance."""
    for dataset, table in dataset_tables.items():
        if table not in RECALL_COLUMNS:
            raise ValueError(
                f"dataset {dataset!r} maps to {table!r}; metrics rows can only join "
                f"{sorted(RECALL_COLUMNS)} (Table 4 takes `robotcar_scores`)"
            )
    if paths:
        load_metrics(paths)  # every file valid, no (dataset, queries, method) twice across them
    records: dict[str, list[dict]] = {t: [] for t in RECALL_COLUMNS}
    for path in paths:
        frame = load_metrics([path])
        for table in RECALL_COLUMNS:
            mine = frame[frame["dataset"].map(dataset_tables).eq(table)]
            if mine.empty:
                continue
            cols = RECALL_COLUMNS[table]
            lacking = [c for c in cols if c not in frame.columns]
            if lacking:
                raise PaperTablesError(
                    f"{path}: metrics file lacks column(s) {lacking} needed by {table} "
                    f"(dataset(s) {sorted(set(mine['dataset']))})"
                )
            query_set = str(pub.tables[table].facts["queries"])
            other = mine[mine["queries"] != query_set]
            if len(other):
                warnings.warn(
                    f"{path}: rows of query set(s) {sorted(set(other['queries']))} left out of {table}, "
                    f"which reports {query_set!r} queries only",
                    stacklevel=3,
                )
            mine = mine[mine["queries"] == query_set]
            for _, row in mine.iterrows():
                bounds = {c: (row[f"{c}_lo"], row[f"{c}_hi"]) for c in cols if f"{c}_hi" in row and f"{c}_lo" in row}
                records[table].append(
                    {
                        c: row[c]
                        for c in ("dataset", "queries", "method", *cols, "n_queries", "n_references", "tolerance")
                    }
                    | {"bounds": bounds, "n_seeds": int(row.get("n_seeds", 1) or 1), "signature": row.get("signature")}
                )
    out = {}
    for table, recs in records.items():
        measured = _Measured()
        datasets = list(dict.fromkeys(r["dataset"] for r in recs))
        for r in recs:
            extra = f"; {r['dataset']}" if len(datasets) > 1 else ""
            cells = {c: _ours_text(r[c]) for c in RECALL_COLUMNS[table]}
            after = {c: f" [{lo:.1f}, {hi:.1f}]" for c, (lo, hi) in r["bounds"].items() if not math.isnan(lo + hi)}
            kind = "sequence" if "+seq" in r["method"] else "ours"
            measured.rows.append(_Row(_method_label(r["method"], cfg, extra), cells, kind, after))
        measured.rows.sort(key=lambda row: row.kind == "sequence")  # stable: single-image rows first
        for d in datasets:
            group = [r for r in recs if r["dataset"] == d]
            methods = ", ".join(r["method"] for r in group)
            nq = sorted({int(r["n_queries"]) for r in group})
            nr = sorted({int(r["n_references"]) for r in group})
            tol = sorted({f"{r['tolerance']:g}" for r in group})
            measured.notes.append(
                f"dataset {d}, {group[0]['queries']} queries ({'/'.join(map(str, nq))}) against "
                f"{'/'.join(map(str, nr))} references, tolerance ±{'/'.join(tol)} places, every query counted, "
                f"method(s) {methods}" + _interval_note(group, cfg)
            )
        if recs:
            measured.notes.append(signature_sentence([r["signature"] for r in recs]).rstrip("."))
        out[table] = measured
    return out


def _interval_note(group: list[dict], cfg: Config | None) -> str:
    """What the brackets after our numbers are: the bootstrap interval over queries, and over training
    seeds too where a row is the mean of several (summary.csv); '' without intervals."""
    if not any(r["bounds"] for r in group):
        return ""
    level = level_text(cfg.evaluate.confidence) if cfg is not None else "nominal"
    seeds = sorted({r["n_seeds"] for r in group if r["n_seeds"] > 1})
    over = "queries"
    if seeds:
        over = f"queries and training seeds (rows with {' or '.join(map(str, seeds))} seeds show their mean)"
    return (
        f"; in brackets the {level} percentile bootstrap interval over {over} (summary.csv), whose coverage is "
        f"below nominal on route data ({COVERAGE_NOTE})"
    )


_CONDITION_ALIASES = {"oc-summer": "overcast-summer", "oc-winter": "overcast-winter"}


def _condition(raw: object) -> str | None:
    name = re.sub(r"[\s_]+", "-", str(raw).strip().lower())
    name = _CONDITION_ALIASES.get(name, name)
    return name if name in TABLE4_CONDITIONS else None


def _threshold(m: float, deg: float) -> int | None:
    for i, (tm, td) in enumerate(TABLE4_THRESHOLDS):
        if math.isclose(m, tm, abs_tol=1e-6) and math.isclose(deg, td, abs_tol=1e-6):
            return i
    return None


def _read_robotcar(paths: Path | Sequence[Path], cfg: Config | None) -> _Measured:
    """Our Table 4 rows from one or several RobotCar scores CSVs (format in the module docstring;
    `acmnet localize` writes one per method), each checked on its own: an error names the file
    and its data row, and a cell given by two files names both."""
    cells: dict[tuple[str, str], dict[object, str | None]] = {}
    queries: dict[str, dict[str, int]] = {}
    given_by: dict[tuple, Path] = {}
    for path in [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]:
        _read_robotcar_file(path, cells, queries, given_by)
    return _rows_of_robotcar(cells, queries, cfg)


def _read_robotcar_file(path: Path, cells: dict, queries: dict, given_by: dict) -> None:
    """Add one RobotCar scores CSV's cells (and query counts) to `cells` (and `queries`)."""
    try:
        frame = load_pose_accuracy(path)  # read, its record checked, columns and numbers checked
    except ArtifactError as exc:
        raise PaperTablesError(str(exc)) from exc
    frame["method"] = frame["method"].astype(str)
    if "query_set" in frame.columns:
        frame["query_set"] = frame["query_set"].fillna(ROBOTCAR_DEFAULT_QUERY_SET).astype(str).str.strip().str.lower()
    else:
        frame["query_set"] = ROBOTCAR_DEFAULT_QUERY_SET
    values, ms, degs = (frame[c].astype(float) for c in ("value", "threshold_m", "threshold_deg"))
    nq = frame["n_queries"].astype(float) if "n_queries" in frame.columns else None
    for idx, row in frame.iterrows():
        cond = _condition(row["condition"])
        if cond is None:
            raise PaperTablesError(
                f"{path}: unknown condition {row['condition']!r} on data row {idx + 1}; "
                f"expected one of {list(TABLE4_CONDITIONS)}"
            )
        k = _threshold(ms[idx], degs[idx])
        if k is None:
            raise PaperTablesError(
                f"{path}: threshold ({ms[idx]:g} m, {degs[idx]:g} deg) on data row {idx + 1} is not "
                f"one of the paper's {[(m, d) for m, d in TABLE4_THRESHOLDS]}"
            )
        key = (row["method"], row["query_set"])
        row_cells = cells.setdefault(key, {})
        if (cond, k) in row_cells:
            first = given_by[(*key, cond, k)]
            raise PaperTablesError(
                f"{path}: method {key[0]!r}, query set {key[1]!r}, condition {cond!r}, threshold "
                f"({TABLE4_THRESHOLDS[k][0]:g} m, {TABLE4_THRESHOLDS[k][1]} deg) appears twice"
                + ("" if first == path else f" (also in {first})")
            )
        row_cells[(cond, k)] = float(values[idx])
        given_by[(*key, cond, k)] = path
        if nq is not None and k == 0:
            queries.setdefault(row["query_set"], {})[cond] = int(nq[idx])


def _seed_rows(cells: dict) -> dict[tuple[str, str], list[dict]]:
    """(method without its seed mark, query set) -> the cells (key -> value) of each of its seeds' rows."""
    out: dict[tuple[str, str], list[dict]] = {}
    for (method, query_set), row_cells in cells.items():
        out.setdefault((split_seed(method)[0], query_set), []).append(row_cells)
    return out


def _merged_row(method: str, query_set: str, seeds: list[dict], cfg: Config | None) -> _Row:
    """One Table 4 row of ours: a locally scored row below the rule, unranked; with several seeds the
    mean over seeds, and ± the standard deviation over them (n - 1) after each cell."""
    extra = {"test": "", "train": "; local score, train-split queries"}.get(query_set, f"; query set {query_set}")
    if len(seeds) > 1:
        extra += f"; mean ± sd over {len(seeds)} seeds"
    keys = list(dict.fromkeys(k for row in seeds for k in row))
    texts, after = {}, {}
    for key in keys:
        values = [row[key] for row in seeds if key in row]
        texts[key] = _ours_text(sum(values) / len(values))
        if len(seeds) > 1 and len(values) == len(seeds):
            after[key] = f" $\\pm${pd.Series(values).std(ddof=1):.1f}"
    kind = "ours" if query_set == "test" else "local"
    return _Row(_method_label(method, cfg, extra), texts, kind, after)


def _rows_of_robotcar(cells: dict, queries: dict, cfg: Config | None) -> _Measured:
    """Table 4's measured rows (seeds merged) and notes from the cells of every RobotCar scores file;
    the server-scored test rows first, then the locally scored rows below a rule."""
    measured = _Measured()
    merged = _seed_rows(cells)
    for (method, query_set), seeds in merged.items():
        measured.rows.append(_merged_row(method, query_set, seeds, cfg))
    measured.rows.sort(key=lambda row: row.kind == "local")  # stable
    sets = list(dict.fromkeys(q for _, q in merged))
    for q in sets:
        methods = ", ".join(m for m, qs in merged if qs == q)
        n = f" ({sum(queries[q].values())} queries over {len(queries[q])} conditions)" if q in queries else ""
        seeds = sorted({len(rows) for (_, qs), rows in merged.items() if qs == q and len(rows) > 1})
        if seeds:
            n += f"; rows of {' or '.join(map(str, seeds))} training seeds: mean ± sd over the seeds"
        if q == "test":
            measured.notes.append(f"the v2 test queries{n}, method(s) {methods}")
        elif q == "train":
            measured.notes.append(
                f"rows marked 'local score, train-split queries' (below the last rule, not ranked) are scored here "
                f"against the public ground truth of the v2 train-split queries{n}, not the paper's test queries "
                "(whose poses are withheld and scored by visuallocalization.net), so they are not directly "
                "comparable with the published rows; those queries were among the training images (the v2 train "
                f"split is part of the training set, without labels); method(s) {methods}"
            )
        else:
            measured.notes.append(f"query set {q}{n} (below the last rule, not ranked), method(s) {methods}")
    return measured


# --- captions and documents -----------------------------------------------------------------------


def _references(pub: PublishedResults, table: str) -> str:
    cites = {}
    for r in pub.tables[table].rows:
        c = pub.citation(r.method)
        if not c.this_paper:
            cites.setdefault(c.ref, c.short())
    return "; ".join(cites[k] for k in sorted(cites))


def _caption(pub: PublishedResults, table: str, measured: _Measured, cfg: Config | None) -> str:
    f = pub.tables[table].facts
    first_author = str((pub.paper.get("authors") or ["the authors"])[0]).split()[-1]
    ref = f" [{f['dataset_ref']}]" if f.get("dataset_ref") else ""
    parts = [
        tex_escape(
            f"Paper's {table.replace('table', 'Table ')} regenerated: {f['dataset']}{ref}"
            + (f" ({f['split']})" if f.get("split") else "")
            + "."
        )
    ]
    if table == "table4":
        thresholds = ", ".join(f"({m:g} m, {d} deg)" for m, d in TABLE4_THRESHOLDS)
        parts.append(
            tex_escape(
                f"Queries: {f['queries']}; reference: {f['reference']}. Metric: {f['metric']}; "
                f"thresholds {thresholds}; values in percent."
            )
        )
    else:
        parts.append(
            tex_escape(
                f"Queries: {f['queries']}; reference: {f['reference']}. Metric: {f['metric']}, "
                f"in percent; tolerance {f['tolerance']}."
            )
        )
    parts.append(
        tex_escape(
            f"Published rows as printed in the paper ({first_author} et al.), with its reference "
            f"numbers: {_references(pub, table)}. ACM-Net (published) is the paper's own row."
        )
    )
    if measured.rows and all(r.kind == "local" for r in measured.rows):
        parts.append(
            tex_escape(
                "None of our rows is scored on the paper's test queries: 'ours' here is not the paper's measure "
                "and is not ranked with the published rows; the comparable row is the benchmark server's score of "
                "our submission.txt, given to acmnet tables --robotcar-scores with query_set test (docs/paper-run.md)."
            )
        )
    if measured.rows:
        parts.append(tex_escape("Our rows (ours, to one decimal): " + "; ".join(measured.notes) + "."))
        if cfg is not None:
            parts.append(settings_sentence(cfg))
    else:
        parts.append("No measured rows: the published numbers alone, to check the transcription.")
    sequence = any(r.kind == "sequence" for r in measured.rows)
    parts.append(
        _marks_text(table_marks(pub, table))
        + ", per column over the single-image rows shown"
        + (" that are scored on the published rows' queries" if any(r.kind == "local" for r in measured.rows) else "")
        + (" (ours compared as printed, to one decimal)" if measured.rows else "")
        + "; ties share the mark."
        + (
            " Rows with sequence matching (below the last line; beyond the paper) match several consecutive "
            "queries at once: they are not comparable with the single-image rows and are not ranked."
            if sequence
            else ""
        )
    )
    return " ".join(parts)


def _marks_text(styles: Mapping[str, str]) -> str:
    """`Best in bold, second best in italic` (or the best alone, as Table 3 prints it) from `table_marks`."""
    words = {"best": "best", "second": "second best"}
    text = ", ".join(f"{words[rank]} in {style}" for rank, style in styles.items())
    return text[0].upper() + text[1:]


def _document(tabular: list[str], caption_text: str, label: str, landscape: bool) -> str:
    geometry = "a4paper,landscape,margin=1cm" if landscape else "a4paper,margin=2cm"
    body = [r"\resizebox{\linewidth}{!}{%", *tabular, "}"] if landscape else tabular
    lines = [
        r"\documentclass[10pt]{article}",
        r"\usepackage[T1]{fontenc}",
        r"\usepackage[utf8]{inputenc}",
        rf"\usepackage[{geometry}]{{geometry}}",
        r"\usepackage{booktabs}",
        r"\usepackage{graphicx}",
        r"\pagestyle{empty}",
        r"\begin{document}",
        r"\begin{table}[h]",
        r"\centering",
        rf"\caption{{{caption_text}}}",
        rf"\label{{{label}}}",
        *body,
        r"\end{table}",
        r"\end{document}",
        "",
    ]
    return "\n".join(lines)


def _recall_table(pub: PublishedResults, table: str, measured: _Measured) -> list[str]:
    cols = list(RECALL_COLUMNS[table])
    rows = _published_rows(pub, table, cols) + measured.rows
    header = pub.tables[table].facts.get("header") or pub.tables[table].facts["dataset"]
    n = len(cols)
    return [
        r"\begin{tabular}{l" + "r" * n + "}",
        r"\toprule",
        rf" & \multicolumn{{{n}}}{{c}}{{{tex_escape(header)}}} \\",
        rf"\cmidrule(lr){{2-{n + 1}}}",
        "Method & " + " & ".join(cols) + r" \\",
        r"\midrule",
        *_body(rows, cols, table_marks(pub, table)),
        r"\bottomrule",
        r"\end{tabular}",
    ]


def _table4(pub: PublishedResults, measured: _Measured) -> list[str]:
    facts = pub.tables["table4"].facts
    headers = facts.get("condition_headers") or {}
    printed = facts.get("thresholds") or [{"printed_m": f"{m:g}", "printed_deg": str(d)} for m, d in TABLE4_THRESHOLDS]
    keys = [(c, k) for c in TABLE4_CONDITIONS for k in range(len(TABLE4_THRESHOLDS))]
    rows = _published_rows(pub, "table4", keys) + measured.rows
    t = len(TABLE4_THRESHOLDS)
    day_end = 1 + t * len(DAY_CONDITIONS)
    night_end = day_end + t * len(NIGHT_CONDITIONS)
    cond_cells, cond_rules = [], []
    for i, c in enumerate(TABLE4_CONDITIONS):
        cond_cells.append(rf"\multicolumn{{{t}}}{{c}}{{{tex_escape(headers.get(c, c))}}}")
        cond_rules.append(rf"\cmidrule(lr){{{2 + i * t}-{1 + (i + 1) * t}}}")
    return [
        rf"\begin{{tabular}}{{l*{{{len(keys)}}}{{r}}}}",
        r"\toprule",
        rf" & \multicolumn{{{day_end - 1}}}{{c}}{{Day conditions}} & "
        rf"\multicolumn{{{night_end - day_end}}}{{c}}{{Night conditions}} \\",
        rf"\cmidrule(lr){{2-{day_end}}}\cmidrule(lr){{{day_end + 1}-{night_end}}}",
        " & " + " & ".join(cond_cells) + r" \\",
        "".join(cond_rules),
        "m & " + " & ".join(tex_escape(p["printed_m"]) for _ in TABLE4_CONDITIONS for p in printed) + r" \\",
        "deg & " + " & ".join(tex_escape(p["printed_deg"]) for _ in TABLE4_CONDITIONS for p in printed) + r" \\",
        r"\midrule",
        *_body(rows, keys, table_marks(pub, "table4")),
        r"\bottomrule",
        r"\end{tabular}",
    ]


def render_paper_tables(
    out_dir: Path,
    metrics: list[Path] | None = None,
    cfg: Config | None = None,
    robotcar_scores: Path | Sequence[Path] | None = None,
    *,
    dataset_tables: Mapping[str, str] | None = None,
    published: PublishedResults | None = None,
) -> list[Path]:
    """Write ``table2.tex``, ``table3.tex`` and ``table4.tex`` under `out_dir`; return their paths.

    `metrics`: the pipeline's metrics CSV files; their rows join Table 2 or 3 through
    `dataset_tables` (dataset name -> ``"table2"`` / ``"table3"``; default: each dataset of `cfg` by
    its type's `paper_table`), for the paper's query set of that table only.
    `robotcar_scores`: a CSV (or several, e.g. one per method) of our RobotCar Seasons v2 scores
    for Table 4 (format in the module docstring). `cfg`: the configuration behind our rows; its
    paper-silent choices go in the captions of the tables that have measured rows. `published`: the
    published results (default :func:`acmnet.report.published.load_published`).

    Raises FileNotFoundError for a missing input and :class:`PaperTablesError` naming the file when
    an input is malformed; nothing is written then.
    """
    pub = published if published is not None else load_published()
    if dataset_tables is None and metrics and cfg is None:
        raise ValueError(
            "measured rows need the config of the run (acmnet tables --config), which says the "
            "paper table of each dataset"
        )
    mapping = dict(dataset_tables if dataset_tables is not None else (_dataset_tables(cfg) if cfg else {}))
    measured = _read_metrics([Path(p) for p in metrics or []], pub, mapping, cfg)
    measured["table4"] = _read_robotcar(robotcar_scores, cfg) if robotcar_scores is not None else _Measured()
    texts = {}
    for table in PAPER_TABLES:
        tabular = _table4(pub, measured[table]) if table == "table4" else _recall_table(pub, table, measured[table])
        texts[table] = _document(
            tabular, _caption(pub, table, measured[table], cfg), f"tab:paper-{table}", landscape=table == "table4"
        )
    out_dir = Path(out_dir)
    paths = []
    for table in PAPER_TABLES:
        path = out_dir / f"{table}.tex"
        atomic_write_text(path, texts[table])
        paths.append(path)
    return paths
