"""The paper's published results (Tables 2, 3 and 4) as validated data, with each method's citation.

The numbers live in ``baselines/published.yaml``, typed from the paper as quoted strings exactly as
printed (``"9.90"``, ``"58.0"``); this module parses them to floats, keeps the printed text, checks
the file's shape on load and serves the tables as pandas DataFrames::

    pub = load_published()
    pub.table2()                          # wide: method, R@1, R@5, R@10 (floats)
    pub.table2(printed=True)              # the same cells as printed strings
    pub.table4()                          # long: method, condition, group, threshold_m, threshold_deg, value, printed
    pub.printed("table3", "SeqSLAM", "R@1")   # '9.90'
    pub.citation("SeqSLAM").short()       # '[26] Milford and Wyeth, 2012'
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import yaml

from acmnet.evaluate.signature import FIELDS, NAMES, UNKNOWN

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "baselines" / "published.yaml"
"""``baselines/published.yaml`` at the repository root (this package is installed editable)."""

TABLE_NAMES = ("table2", "table3", "table4")
RECALL_COLUMNS: dict[str, tuple[str, ...]] = {"table2": ("R@1", "R@5", "R@10"), "table3": ("R@1",)}
EXPECTED_ROWS: dict[str, int] = {"table2": 7, "table3": 5, "table4": 9}
TABLE4_CONDITIONS = (
    "dawn",
    "dusk",
    "overcast-summer",
    "overcast-winter",
    "rain",
    "snow",
    "sun",
    "night",
    "night-rain",
)
DAY_CONDITIONS = TABLE4_CONDITIONS[:7]
NIGHT_CONDITIONS = TABLE4_CONDITIONS[7:]
TABLE4_THRESHOLDS: tuple[tuple[float, int], ...] = ((0.25, 2), (0.5, 5), (5.0, 10))
"""(metres, degrees) of the three RobotCar Seasons accuracy thresholds, in the paper's order."""

_NUMBER = re.compile(r"^\d+(\.\d+)?$")
_CITATION_KEYS = {"ref", "this_paper", "authors", "title", "venue", "pages", "publisher", "year"}
_ROW_KEYS = {"method", "label", "values", "ours_in_paper", "protocol"}
_RECALL_COLUMN = re.compile(r"^R@\d+$")
_REQUIRED_FACTS = ("caption", "dataset", "queries", "reference", "metric", "units")


class PublishedResultsError(ValueError):
    """The published-results file is malformed; the message names the file and the problem."""


@dataclass(frozen=True)
class Citation:
    """A method's reference as printed in the paper's bibliography (``ref`` is its [N])."""

    ref: int | None
    authors: tuple[str, ...]
    title: str
    venue: str | None
    year: int | None
    pages: str | None = None
    publisher: str | None = None
    this_paper: bool = False

    def short(self) -> str:
        """E.g. ``"[1] Arandjelovic et al., 2016"``; ``"this paper"`` for the paper's own method."""
        if self.this_paper:
            return "this paper"
        surnames = [a.split()[-1] for a in self.authors]
        if len(surnames) == 1:
            who = surnames[0]
        elif len(surnames) == 2:
            who = f"{surnames[0]} and {surnames[1]}"
        else:
            who = f"{surnames[0]} et al."
        return f"[{self.ref}] {who}, {self.year}"


@dataclass(frozen=True)
class Number:
    """One published number: the text as printed and its value."""

    printed: str

    @property
    def value(self) -> float:
        return float(self.printed)


@dataclass(frozen=True)
class Row:
    """One table row. ``values`` keys: the recall column (tables 2, 3) or ``(condition, threshold index)`` (table 4)."""

    method: str
    label: str
    ours_in_paper: bool
    values: Mapping[Any, Number]
    protocol: Mapping[str, str] = field(default_factory=dict)  # this row's own protocol fields (dim, sim, ...)


@dataclass(frozen=True)
class Table:
    """A published table: its caption and protocol facts (everything but the rows) and its rows in paper order."""

    name: str
    facts: Mapping[str, Any]
    rows: tuple[Row, ...]

    def row(self, method: str) -> Row:
        for row in self.rows:
            if row.method == method:
                return row
        raise KeyError(f"{self.name} has no row for method {method!r}")

    def protocol(self, method: str) -> dict[str, str]:
        """The protocol of `method`'s numbers in the signature's fields: the table's `protocol`, then
        the row's own; `unknown` where the paper states nothing."""
        return {f: UNKNOWN for f in FIELDS} | dict(self.facts.get("protocol") or {}) | dict(self.row(method).protocol)


@dataclass(frozen=True)
class PublishedResults:
    """The loaded, validated file: citations by method name and the three tables."""

    path: Path
    paper: Mapping[str, Any]
    methods: Mapping[str, Citation]
    tables: Mapping[str, Table]

    def citation(self, method: str) -> Citation:
        return self.methods[method]

    def ours(self, table: str) -> str:
        """The method of the row the paper marks as its own in `table`."""
        return next(r.method for r in self.tables[table].rows if r.ours_in_paper)

    def number(self, table: str, method: str, column: str, threshold: int | None = None) -> Number:
        """One cell. Tables 2/3: `column` is ``"R@1"``...; table 4: `column` is a condition and
        `threshold` the index (0, 1, 2) into :data:`TABLE4_THRESHOLDS`."""
        row = self.tables[table].row(method)
        if table != "table4":
            return row.values[column]
        if threshold is None:
            raise ValueError("table4 cells need a threshold index (0, 1 or 2)")
        return row.values[(column, threshold)]

    def printed(self, table: str, method: str, column: str, threshold: int | None = None) -> str:
        """The cell's text exactly as printed in the paper, e.g. ``'9.90'``."""
        return self.number(table, method, column, threshold).printed

    def value(self, table: str, method: str, column: str, threshold: int | None = None) -> float:
        return self.number(table, method, column, threshold).value

    def _recall_table(self, name: str, printed: bool) -> pd.DataFrame:
        cols = RECALL_COLUMNS[name]
        records = [
            {"method": r.method, **{c: (r.values[c].printed if printed else r.values[c].value) for c in cols}}
            for r in self.tables[name].rows
        ]
        return pd.DataFrame.from_records(records, columns=["method", *cols])

    def table2(self, printed: bool = False) -> pd.DataFrame:
        """Nordland (winter queries vs summer reference), wide: method, R@1, R@5, R@10; paper row order.

        Floats by default; ``printed=True`` gives the cells as printed strings.
        """
        return self._recall_table("table2", printed)

    def table3(self, printed: bool = False) -> pd.DataFrame:
        """Alderley (night queries vs day reference), wide: method, R@1; paper row order."""
        return self._recall_table("table3", printed)

    def table4(self, form: Literal["long", "wide"] = "long", printed: bool = False) -> pd.DataFrame:
        """RobotCar Seasons v2, percent of queries within each (m, deg) threshold.

        ``form="long"``: one row per (method, condition, threshold), columns method, condition,
        group (day/night), threshold_m, threshold_deg, value, printed; paper order.
        ``form="wide"``: index method, columns a (condition, threshold_m, threshold_deg) MultiIndex,
        cells floats (or printed strings with ``printed=True``).
        """
        records = []
        for r in self.tables["table4"].rows:
            for cond in TABLE4_CONDITIONS:
                for i, (m, deg) in enumerate(TABLE4_THRESHOLDS):
                    n = r.values[(cond, i)]
                    records.append(
                        {
                            "method": r.method,
                            "condition": cond,
                            "group": "day" if cond in DAY_CONDITIONS else "night",
                            "threshold_m": m,
                            "threshold_deg": deg,
                            "value": n.value,
                            "printed": n.printed,
                        }
                    )
        long = pd.DataFrame.from_records(records)
        if form == "long":
            return long
        if form != "wide":
            raise ValueError(f"form must be 'long' or 'wide', not {form!r}")
        wide = long.pivot(
            index="method",
            columns=["condition", "threshold_m", "threshold_deg"],
            values="printed" if printed else "value",
        )
        methods = [r.method for r in self.tables["table4"].rows]
        columns = pd.MultiIndex.from_tuples(
            [(c, m, d) for c in TABLE4_CONDITIONS for m, d in TABLE4_THRESHOLDS],
            names=["condition", "threshold_m", "threshold_deg"],
        )
        return wide.reindex(index=methods, columns=columns)

    def long(self, table: str) -> pd.DataFrame:
        """Tables 2/3 in long form: method, column, value, printed (table 4: use :meth:`table4`)."""
        if table == "table4":
            return self.table4("long")
        return pd.DataFrame.from_records(
            [
                {"method": r.method, "column": c, "value": r.values[c].value, "printed": r.values[c].printed}
                for r in self.tables[table].rows
                for c in RECALL_COLUMNS[table]
            ],
            columns=["method", "column", "value", "printed"],
        )


def load_published(path: Path | None = None) -> PublishedResults:
    """Load and validate the published-results YAML (default: :data:`DEFAULT_PATH`).

    Raises FileNotFoundError if the file is missing and :class:`PublishedResultsError` (naming
    the file and the offending table, row or field) if it is malformed.
    """
    path = Path(path) if path is not None else DEFAULT_PATH
    if not path.is_file():
        raise FileNotFoundError(f"published results file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise PublishedResultsError(f"{path}: not valid YAML: {exc}") from exc
    return _Parser(path).parse(data)


class _Parser:
    """Validation of the raw YAML; every error message starts with the file's path."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, where: str, problem: str) -> PublishedResultsError:
        return PublishedResultsError(f"{self.path}: {where}: {problem}")

    def parse(self, data: Any) -> PublishedResults:
        if not isinstance(data, dict):
            raise self.fail("top level", f"expected a mapping, got {type(data).__name__}")
        for key in ("methods", *TABLE_NAMES):
            if key not in data:
                raise self.fail("top level", f"missing section {key!r}")
        methods = self.methods(data["methods"])
        tables = {name: self.table(name, data[name], methods) for name in TABLE_NAMES}
        return PublishedResults(path=self.path, paper=dict(data.get("paper") or {}), methods=methods, tables=tables)

    def methods(self, raw: Any) -> dict[str, Citation]:
        if not isinstance(raw, dict) or not raw:
            raise self.fail("methods", "expected a non-empty mapping of method name -> citation")
        out = {}
        for name, c in raw.items():
            where = f"methods[{name!r}]"
            if not isinstance(c, dict):
                raise self.fail(where, "citation must be a mapping (ref, authors, title, venue, year)")
            unknown = set(c) - _CITATION_KEYS
            if unknown:
                raise self.fail(where, f"unknown citation field(s) {sorted(unknown)}")
            this_paper = bool(c.get("this_paper", False))
            ref = c.get("ref")
            if ref is None and not this_paper:
                raise self.fail(
                    where, "citation has no reference number 'ref' (only the paper's own method may omit it)"
                )
            if ref is not None and (not isinstance(ref, int) or isinstance(ref, bool) or ref < 1):
                raise self.fail(where, f"'ref' must be a positive integer, got {ref!r}")
            authors = c.get("authors")
            if (
                not isinstance(authors, list)
                or not authors
                or not all(isinstance(a, str) and a.strip() for a in authors)
            ):
                raise self.fail(where, "citation needs a non-empty 'authors' list of names")
            title = c.get("title")
            if not isinstance(title, str) or not title.strip():
                raise self.fail(where, "citation needs a 'title'")
            year, venue = c.get("year"), c.get("venue")
            if not this_paper:
                if not isinstance(year, int) or isinstance(year, bool) or not 1900 <= year <= 2100:
                    raise self.fail(where, f"citation needs a 'year' (integer), got {year!r}")
                if not isinstance(venue, str) or not venue.strip():
                    raise self.fail(where, "citation needs a 'venue'")
            out[str(name)] = Citation(
                ref=ref,
                authors=tuple(authors),
                title=title,
                venue=venue,
                year=year,
                pages=c.get("pages"),
                publisher=c.get("publisher"),
                this_paper=this_paper,
            )
        return out

    def number(self, where: str, raw: Any) -> Number:
        if not isinstance(raw, str):
            raise self.fail(
                where,
                f'number {raw!r} must be a quoted string exactly as printed (e.g. "9.90"), '
                f"not a YAML {type(raw).__name__}",
            )
        if not _NUMBER.match(raw):
            raise self.fail(where, f"{raw!r} is not a plain decimal number")
        n = Number(raw)
        if not 0.0 <= n.value <= 100.0:
            raise self.fail(where, f"value {raw} is outside [0, 100] (percent)")
        return n

    def table(self, name: str, raw: Any, methods: Mapping[str, Citation]) -> Table:
        if not isinstance(raw, dict):
            raise self.fail(name, "expected a mapping with caption/protocol facts and 'rows'")
        for key in _REQUIRED_FACTS:
            if key not in raw:
                raise self.fail(name, f"missing protocol fact {key!r}")
        if raw["units"] != "percent":
            raise self.fail(name, f"units must be 'percent', got {raw['units']!r}")
        if name == "table4":
            self.table4_axes(raw)
        elif list(raw.get("columns") or []) != list(RECALL_COLUMNS[name]):
            raise self.fail(name, f"columns must be {list(RECALL_COLUMNS[name])}, got {raw.get('columns')!r}")
        rows_raw = raw.get("rows")
        if not isinstance(rows_raw, list):
            raise self.fail(name, "'rows' must be a list")
        if len(rows_raw) != EXPECTED_ROWS[name]:
            raise self.fail(name, f"{len(rows_raw)} rows, expected {EXPECTED_ROWS[name]} (one per method in the paper)")
        rows: list[Row] = []
        for i, r in enumerate(rows_raw):
            rows.append(self.row(name, i, r, methods))
        seen = [r.method for r in rows]
        dups = sorted({m for m in seen if seen.count(m) > 1})
        if dups:
            raise self.fail(name, f"duplicate row(s) for {dups}")
        ours = [r.method for r in rows if r.ours_in_paper]
        if len(ours) != 1:
            raise self.fail(name, f"exactly one row must be marked ours_in_paper, found {ours}")
        facts = {k: v for k, v in raw.items() if k != "rows"}
        facts["protocol"] = self.protocol(f"{name} protocol", raw.get("protocol"))
        return Table(name=name, facts=facts, rows=tuple(rows))

    def protocol(self, where: str, raw: Any) -> dict[str, str]:
        """A `protocol` mapping: signature field -> value as text (`unknown` where not stated)."""
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            raise self.fail(where, f"must map signature fields {list(FIELDS)} to values, got {type(raw).__name__}")
        out = {}
        for key, value in raw.items():
            if key not in FIELDS:
                raise self.fail(where, f"unknown field {key!r}; the signature's fields: {list(FIELDS)}")
            text = str(value).strip() if isinstance(value, (str, int, float)) and not isinstance(value, bool) else ""
            if not text or "|" in text:
                raise self.fail(
                    f"{where} {key}",
                    f"{value!r} is not a value ({NAMES[key]}: text or a number; `{UNKNOWN}` if unstated)",
                )
            out[key] = text
        return out

    def table4_axes(self, raw: dict) -> None:
        if tuple(raw.get("conditions") or ()) != TABLE4_CONDITIONS:
            raise self.fail("table4", f"conditions must be {list(TABLE4_CONDITIONS)}, got {raw.get('conditions')!r}")
        groups = raw.get("condition_groups") or {}
        if tuple(groups.get("day") or ()) != DAY_CONDITIONS or tuple(groups.get("night") or ()) != NIGHT_CONDITIONS:
            raise self.fail(
                "table4", f"condition_groups must be day={list(DAY_CONDITIONS)}, night={list(NIGHT_CONDITIONS)}"
            )
        th = raw.get("thresholds")
        if not isinstance(th, list) or len(th) != len(TABLE4_THRESHOLDS):
            raise self.fail("table4", f"thresholds must list {len(TABLE4_THRESHOLDS)} (m, deg) pairs, got {th!r}")
        for i, (t, (m, deg)) in enumerate(zip(th, TABLE4_THRESHOLDS)):
            if not isinstance(t, dict) or t.get("m") != m or t.get("deg") != deg:
                raise self.fail(f"table4 thresholds[{i}]", f"expected m={m}, deg={deg}, got {t!r}")

    def row(self, name: str, i: int, r: Any, methods: Mapping[str, Citation]) -> Row:
        where = f"{name} rows[{i}]"
        if not isinstance(r, dict):
            raise self.fail(where, "a row must be a mapping with method, label, values")
        unknown = set(r) - _ROW_KEYS
        if unknown:
            raise self.fail(where, f"unknown field(s) {sorted(unknown)}")
        method = r.get("method")
        where = f"{name} row {method!r}"
        if method not in methods:
            raise self.fail(where, f"method {method!r} has no citation under 'methods'")
        cite = methods[method]
        label = r.get("label")
        if not isinstance(label, str) or not label.strip():
            raise self.fail(where, "row needs the 'label' printed in the paper")
        if not cite.this_paper and not label.endswith(f"[{cite.ref}]"):
            raise self.fail(where, f"printed label {label!r} does not end with the method's reference [{cite.ref}]")
        ours = bool(r.get("ours_in_paper", False))
        if ours != cite.this_paper:
            raise self.fail(where, "ours_in_paper must be true exactly on the paper's own method (this_paper)")
        raw_values = r.get("values")
        values: dict[Any, Number] = {}
        if name == "table4":
            if not isinstance(raw_values, dict):
                raise self.fail(where, "values must map each condition to its 3 threshold values")
            missing = [c for c in TABLE4_CONDITIONS if c not in raw_values]
            extra = [c for c in raw_values if c not in TABLE4_CONDITIONS]
            if missing or extra:
                raise self.fail(
                    where,
                    f"{len(raw_values)} conditions, expected {len(TABLE4_CONDITIONS)}"
                    f" (missing {missing}, unexpected {extra})",
                )
            for cond in TABLE4_CONDITIONS:
                triple = raw_values[cond]
                if not isinstance(triple, list) or len(triple) != len(TABLE4_THRESHOLDS):
                    got = len(triple) if isinstance(triple, list) else type(triple).__name__
                    raise self.fail(
                        f"{where} condition {cond!r}",
                        f"threshold list has {got} values, expected {len(TABLE4_THRESHOLDS)}",
                    )
                for k, v in enumerate(triple):
                    values[(cond, k)] = self.number(f"{where} condition {cond!r} threshold {k}", v)
        else:
            cols = RECALL_COLUMNS[name]
            if not isinstance(raw_values, list) or len(raw_values) != len(cols):
                got = len(raw_values) if isinstance(raw_values, list) else type(raw_values).__name__
                raise self.fail(where, f"row has {got} numbers, expected {len(cols)} ({', '.join(cols)})")
            for c, v in zip(cols, raw_values):
                values[c] = self.number(f"{where} {c}", v)
        protocol = self.protocol(f"{where} protocol", r.get("protocol"))
        return Row(method=method, label=label, ours_in_paper=ours, values=values, protocol=protocol)


def load_user_published(path: Path) -> PublishedResults:
    """A user's published-results file: the schema of ``baselines/published.yaml`` (``methods``
    with citations; tables with ``dataset``, ``queries``, ``units: percent``, ``columns`` (R@N),
    ``rows`` and ``protocol``), for any methods and any number of recall tables, each a top-level key
    other than ``schema_version``, ``paper`` and ``methods``. A citation's ``ref`` may be left out.

    Raises FileNotFoundError if missing, :class:`PublishedResultsError` naming the file, table, row
    or field if malformed."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"published results file not found: {path} (report.published)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise PublishedResultsError(f"{path}: not valid YAML: {exc}") from exc
    return _UserParser(path).parse(data)


class _UserParser(_Parser):
    """The paper file's checks, for any recall tables: no fixed table names, row counts or own row."""

    def parse(self, data: Any) -> PublishedResults:
        if not isinstance(data, dict) or "methods" not in data:
            raise self.fail("top level", "expected a mapping with `methods` (citations) and one key per table")
        raw_methods = data["methods"]
        if isinstance(raw_methods, dict):  # `ref` is the paper's own reference number: optional here
            raw_methods = {
                k: ({"ref": 1} | v if isinstance(v, dict) and "ref" not in v else v) for k, v in raw_methods.items()
            }
        methods = self.methods(raw_methods)
        names = [k for k in data if k not in ("schema_version", "paper", "methods")]
        if not names:
            raise self.fail("top level", "no table: add one key per table (dataset, queries, columns, rows, protocol)")
        tables = {str(n): self.table(str(n), data[n], methods) for n in names}
        return PublishedResults(path=self.path, paper=dict(data.get("paper") or {}), methods=methods, tables=tables)

    def table(self, name: str, raw: Any, methods: Mapping[str, Citation]) -> Table:
        if not isinstance(raw, dict):
            raise self.fail(name, "expected a mapping with dataset, queries, units, columns, rows, protocol")
        for key in ("dataset", "queries", "units", "columns", "rows"):
            if key not in raw:
                raise self.fail(name, f"missing {key!r}")
        if raw["units"] != "percent":
            raise self.fail(name, f"units must be 'percent', got {raw['units']!r}")
        cols = raw["columns"]
        if (
            not isinstance(cols, list)
            or not cols
            or not all(isinstance(c, str) and _RECALL_COLUMN.match(c) for c in cols)
        ):
            raise self.fail(name, f"columns must be a list of recall columns such as [R@1, R@5], got {cols!r}")
        if not isinstance(raw["rows"], list) or not raw["rows"]:
            raise self.fail(name, "'rows' must be a non-empty list")
        rows = []
        for i, r in enumerate(raw["rows"]):
            where = f"{name} rows[{i}]"
            if not isinstance(r, dict) or set(r) - _ROW_KEYS or r.get("method") not in methods:
                raise self.fail(
                    where, f"a row maps method (a key of `methods`), label, values (and protocol); got {r!r}"
                )
            values = r.get("values")
            if not isinstance(values, list) or len(values) != len(cols):
                raise self.fail(where, f"values must list {len(cols)} numbers ({', '.join(cols)}), got {values!r}")
            rows.append(
                Row(
                    method=r["method"],
                    label=str(r.get("label") or r["method"]),
                    ours_in_paper=bool(r.get("ours_in_paper", False)),
                    values={c: self.number(f"{where} {c}", v) for c, v in zip(cols, values)},
                    protocol=self.protocol(f"{where} protocol", r.get("protocol")),
                )
            )
        seen = [r.method for r in rows]
        if len(set(seen)) != len(seen):
            raise self.fail(name, f"a method appears twice: {seen}")
        facts = {k: v for k, v in raw.items() if k != "rows"}
        facts["protocol"] = self.protocol(f"{name} protocol", raw.get("protocol"))
        return Table(name=name, facts=facts, rows=tuple(rows))
