"""Reproduced or not: a verdict beside every published number that one of our rows measures.

A published number (``baselines/published.yaml``, and the files of ``report.published``) has a
counterpart in our summary when our row maps to its method (``report.published_rows``; by default
a trained ACM-Net row to the paper's own row, any other row to a published method of its name), our
dataset to its table (``report.published_tables``; by default the dataset type's paper table), our
query set is the table's ``queries`` and the metric (``R@N``) is one we report. For each such pair
:func:`reproduction` gives:

- ``not comparable``, naming every protocol field that differs or that the published file leaves
  ``unknown`` (``image size 64x64/resize (ours) vs unknown in the paper``): the fields of our row's
  signature (`acmnet.evaluate.signature`) against the published table's ``protocol`` (and its row's),
  all but ``k`` (R@N does not depend on it while k >= N, which `acmnet score` checks). No verdict is
  ever given across different protocols.
- otherwise ``reproduced`` when the published value lies inside our interval (the summary's: the
  percentile bootstrap over query blocks and, with several seeds, over seeds), ``not reproduced``
  when it does not, with the two-sided bootstrap p of ours = published from the same kind of
  resamples (``evaluate.bootstrap_resamples``, ``bootstrap_seed``, the row's ``bootstrap_block``);
  ``no verdict`` when too few queries give no interval (`acmnet.evaluate.statistics.too_few`).
- with several seeds, the interval split into what seeds explain (seeds resampled, queries fixed:
  ``seed_lo``/``seed_hi``, and ``seed_sd``) and what query sampling explains (the seed-mean hits
  resampled in blocks: ``query_lo``/``query_hi``), and the gap in seed standard deviations
  (``gap_in_seed_sd``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from acmnet.config import Config, ConfigError, split_seed
from acmnet.evaluate.signature import FIELDS, NAMES, UNKNOWN, SignatureError, parse
from acmnet.evaluate.statistics import percentile_interval, resampled_recall, too_few, two_sided_p
from acmnet.report.published import DEFAULT_PATH, PublishedResults, load_published, load_user_published

COMPARED = tuple(f for f in FIELDS if f != "k")
"""The signature fields that must agree for a verdict (R@N does not depend on k >= N)."""

COLUMNS = (
    "source",
    "table",
    "published_method",
    "label",
    "dataset",
    "queries",
    "method",
    "metric",
    "published",
    "ours",
    "ours_lo",
    "ours_hi",
    "difference",
    "verdict",
    "p",
    "reasons",
    "n_seeds",
    "seed_sd",
    "seed_lo",
    "seed_hi",
    "query_lo",
    "query_hi",
    "gap_in_seed_sd",
    "signature",
)


@dataclass(frozen=True)
class PublishedNumber:
    """One published recall number and the protocol it was measured under."""

    source: str  # "the paper" or the file's name
    table: str
    method: str
    label: str
    queries: str
    metric: str  # R@N
    printed: str
    protocol: dict[str, str]

    @property
    def value(self) -> float:
        return float(self.printed)


def published_files(cfg: Config) -> list[PublishedResults]:
    """The paper's file, then every file of ``report.published`` (table names unique across them)."""
    files = [load_published(DEFAULT_PATH)] + [load_user_published(Path(p)) for p in cfg.report.published]
    seen: dict[str, Path] = {}
    for pub in files:
        for name in pub.tables:
            if name in seen:
                raise ConfigError(
                    f"report.published: table {name!r} is in both {seen[name]} and {pub.path}: rename one "
                    "(report.published_tables names tables across all files)"
                )
            seen[name] = pub.path
    return files


def published_numbers(files: list[PublishedResults]) -> dict[str, list[PublishedNumber]]:
    """Table name -> its recall numbers (tables whose columns are R@N; the paper's Table 4 is pose accuracy)."""
    out: dict[str, list[PublishedNumber]] = {}
    for pub in files:
        source = "the paper" if pub.path == DEFAULT_PATH else pub.path.name
        for name, table in pub.tables.items():
            columns = [c for c in table.facts.get("columns") or [] if str(c).startswith("R@")]
            out[name] = [
                PublishedNumber(
                    source,
                    name,
                    row.method,
                    row.label,
                    str(table.facts["queries"]),
                    c,
                    row.values[c].printed,
                    table.protocol(row.method),
                )
                for row in table.rows
                for c in columns
            ]
    return out


def _tables_of(cfg: Config, dataset: str, known: dict[str, list[PublishedNumber]]) -> list[str]:
    """The published tables dataset `dataset`'s rows are compared with."""
    from acmnet.data.datasets import dataset_type

    if dataset in cfg.report.published_tables:
        tables = cfg.report.published_tables[dataset]
        unknown = [t for t in tables if t not in known]
        if unknown:
            raise ConfigError(
                f"report.published_tables.{dataset} names {unknown}, which no published file holds as a recall "
                f"table; known: {sorted(known)}"
            )
        return list(tables)
    table = dataset_type(cfg.dataset(dataset).type).paper_table
    return [table] if table in known else []


def _published_method(cfg: Config, method: str, numbers: list[PublishedNumber], files: list[PublishedResults]) -> str:
    """The published method our base row `method` reproduces in a table, or '' for none."""
    if method in cfg.report.published_rows:
        return cfg.report.published_rows[method]
    from acmnet.methods import method_kind

    full = next((m for m in cfg.methods if split_seed(m)[0] == method), None)
    if full is not None and method_kind(cfg.methods[full].kind).trains and numbers:
        table = numbers[0].table
        own = [r.method for pub in files if table in pub.tables for r in pub.tables[table].rows if r.ours_in_paper]
        if own:
            return own[0]
    return method if any(n.method == method for n in numbers) else ""


def differences(ours: dict[str, str], theirs: dict[str, str], source: str) -> list[str]:
    """Each compared field that is unknown in the published protocol or differs from ours, in words."""
    reasons = []
    for f in COMPARED:
        if theirs.get(f, UNKNOWN) == UNKNOWN:
            reasons.append(f"{NAMES[f]} unknown in {source}")
        elif theirs[f] != ours[f]:
            reasons.append(f"{NAMES[f]} {ours[f]} (ours) vs {theirs[f]}")
    return reasons


def _hits(ranks: pd.DataFrame, dataset: str, queries: str, method: str, n: int) -> np.ndarray:
    """1.0 where a query is found in the top n, per seed run of `method`: (S, Q), queries in `query_row` order."""
    mine = ranks[
        (ranks["dataset"] == dataset)
        & (ranks["queries"] == queries)
        & (ranks["method"].map(lambda m: split_seed(m)[0]) == method)
    ]
    table = mine.pivot(index="method", columns="query_row", values="first_hit").sort_index(axis=1)
    first = table.to_numpy()
    return ((first > 0) & (first <= n)).astype(np.float64)


def _seed_split(hits: np.ndarray, cfg: Config, block: int) -> dict[str, float]:
    """Seeds resampled with the queries fixed, and the seed-mean hits resampled in query blocks:
    percent intervals at `evaluate.confidence`, and the sd over seeds (n - 1)."""
    ev = cfg.evaluate
    per_seed = 100.0 * hits.mean(axis=1)
    rng = np.random.default_rng(ev.bootstrap_seed)
    seed_boot = per_seed[rng.integers(0, len(per_seed), (ev.bootstrap_resamples, len(per_seed)))].mean(axis=1)
    s_lo, s_hi = percentile_interval(seed_boot[:, None], ev.confidence)
    q_boot = resampled_recall([hits.mean(axis=0, keepdims=True)], ev.bootstrap_resamples, ev.bootstrap_seed, block)
    q_lo, q_hi = percentile_interval(q_boot, ev.confidence)
    return {
        "seed_sd": round(float(np.std(per_seed, ddof=1)), 2),
        "seed_lo": round(float(s_lo[0]), 2),
        "seed_hi": round(float(s_hi[0]), 2),
        "query_lo": round(float(q_lo[0]), 2),
        "query_hi": round(float(q_hi[0]), 2),
    }


def _verdict(row: pd.Series, number: PublishedNumber, ranks: pd.DataFrame, cfg: Config) -> dict:
    """The comparison of one published number with our summary row."""
    n, value = int(number.metric[2:]), number.value
    ours = float(row[number.metric])
    out = {"ours": ours, "difference": round(ours - value, 2), "n_seeds": int(row["n_seeds"])}
    out |= {"ours_lo": row.get(f"{number.metric}_lo", np.nan), "ours_hi": row.get(f"{number.metric}_hi", np.nan)}
    try:
        signature = parse(row.get("signature"))
    except SignatureError:
        return out | {"verdict": "not comparable", "reasons": "our row has no signature (rerun `acmnet score`)"}
    out["signature"] = signature.text()
    reasons = differences(dict(signature.fields), number.protocol, number.source)
    if reasons:
        return out | {"verdict": "not comparable", "reasons": "; ".join(reasons)}
    block = int(row["bootstrap_block"])
    why = too_few(int(row["n_queries"]), block)
    if why is not None or np.isnan(out["ours_lo"]):
        return out | {"verdict": "no verdict", "reasons": f"no interval: {why or 'none in the summary'}"}
    hits = _hits(ranks, str(row["dataset"]), str(row["queries"]), str(row["method"]), n)
    ev = cfg.evaluate
    boot = resampled_recall([hits], ev.bootstrap_resamples, ev.bootstrap_seed, block)
    out["p"] = round(float(two_sided_p(boot - value)[0]), 4)
    inside = out["ours_lo"] <= value <= out["ours_hi"]
    out["verdict"] = "reproduced" if inside else "not reproduced"
    out["reasons"] = "published value inside our interval" if inside else "published value outside our interval"
    if len(hits) > 1:
        split = _seed_split(hits, cfg, block)
        out |= split
        out["gap_in_seed_sd"] = round(out["difference"] / split["seed_sd"], 2) if split["seed_sd"] > 0 else np.nan
    return out


def reproduction(cfg: Config, summary: pd.DataFrame, ranks: pd.DataFrame) -> pd.DataFrame:
    """One row per (published number, our counterpart), columns :data:`COLUMNS` (see the module docstring)."""
    files = published_files(cfg)
    numbers = published_numbers(files)
    records = []
    for _, row in summary.iterrows():
        if "+seq" in str(row["method"]):
            continue  # sequence matching is none of the published single-image methods
        for table in _tables_of(cfg, str(row["dataset"]), numbers):
            candidates = [x for x in numbers[table] if x.queries == str(row["queries"])]
            target = _published_method(cfg, str(row["method"]), candidates, files)
            for number in (x for x in candidates if x.method == target and x.metric in row.index):
                records.append(
                    {
                        "source": number.source,
                        "table": table,
                        "published_method": number.method,
                        "label": number.label,
                        "dataset": row["dataset"],
                        "queries": row["queries"],
                        "method": row["method"],
                        "metric": number.metric,
                        "published": number.value,
                    }
                    | _verdict(row, number, ranks, cfg)
                )
    return pd.DataFrame.from_records(records, columns=list(COLUMNS))


def _number(value: object, digits: int = 1) -> str:
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{float(value):.{digits}f}"


def markdown(table: pd.DataFrame, resamples: int) -> str:
    """The reproduction table as Markdown, with the seed / query split of seeded rows after it."""
    from acmnet.evaluate.statistics import p_text
    from acmnet.report.summary import markdown_table

    if table.empty:
        return (
            "Reproduction: no published number has a counterpart in this run (a row, dataset, query set and "
            "metric of a published table; report.published_tables and report.published_rows map them)."
        )
    rows = []
    for _, r in table.iterrows():
        interval = f" [{_number(r['ours_lo'])}, {_number(r['ours_hi'])}]" if _number(r["ours_lo"]) else ""
        verdict = r["verdict"]
        if verdict == "not reproduced" and not np.isnan(r["p"]):
            verdict += f" ({p_text(r['p'], resamples)})"
        rows.append(
            [
                f"{r['table']} ({r['source']})",
                r["label"],
                f"{r['dataset']}/{r['queries']} {r['method']}",
                r["metric"],
                f"{r['published']:g}",
                f"{_number(r['ours'])}{interval}",
                f"{r['difference']:+.1f}",
                verdict,
                r["reasons"],
            ]
        )
    headers = ["table", "published row", "our row", "metric", "published", "ours [interval]", "diff", "verdict", "why"]
    lines = ["Reproduction of published numbers:", "", markdown_table(rows, headers)]
    seeded = table[table["seed_sd"].notna()]
    for _, r in seeded.iterrows():
        lines.append(
            f"- {r['dataset']}/{r['queries']} {r['method']} {r['metric']}: gap {r['difference']:+.1f} = "
            f"{_number(r['gap_in_seed_sd'])} seed sd; over seeds alone [{_number(r['seed_lo'])}, "
            f"{_number(r['seed_hi'])}] (sd {_number(r['seed_sd'])}, {int(r['n_seeds'])} seeds), over query blocks "
            f"alone [{_number(r['query_lo'])}, {_number(r['query_hi'])}]"
        )
    lines += [
        "",
        "A verdict only where every protocol field (docs/statistics.md) is stated and equals ours; "
        "`not comparable` names each field that differs or is unknown.",
    ]
    return "\n".join(lines)
