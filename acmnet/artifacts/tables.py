"""The results CSVs (metrics, recall curve, ranks, pose accuracy) with their provenance sidecars."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from acmnet.artifacts.provenance import ArtifactError, Provenance, read_sidecar, write_csv

# ---- tables ------------------------------------------------------------------------------


def save_table(frame: pd.DataFrame, path: Path, prov: Provenance) -> str:
    """A results CSV (metrics, recall curve, pose accuracy) with its provenance beside it; its digest."""
    return write_csv(frame, Path(path), prov)


def table_provenance(path: Path) -> Provenance | None:
    """The provenance recorded beside a results CSV, or None when it has none (a hand-made file);
    ArtifactError when the CSV was changed after its record was written."""
    return read_sidecar(Path(path), "acmnet score", required=False)[0]


METRICS_COLUMNS = ("dataset", "queries", "method", "n_queries", "n_references", "tolerance")
CURVE_COLUMNS = ("dataset", "queries", "method", "N", "recall")


def _read_results_csv(
    path: Path, what: str, *, made_by: str = "acmnet score", allow_empty: bool = False, na_as_written: bool = True
) -> pd.DataFrame:
    """A results CSV; one with a provenance record must still be the file its step wrote (a
    hand-made file, with no record, is read as it is). `na_as_written`: `n/a` and empty cells stay
    text (else pandas' NaN); `allow_empty`: a file with a header and no rows is a result too."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} file not found: {path}")
    read_sidecar(path, made_by, required=False)
    try:
        frame = pd.read_csv(path, keep_default_na=not na_as_written)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{path}: not a readable CSV {what} file: {exc}") from exc
    if frame.empty and not allow_empty:
        raise ArtifactError(f"{path}: the {what} file has no rows")
    return frame


def _shown(value: object) -> str:
    """A cell as it reads in the file: text quoted, numbers plain."""
    return repr(value) if isinstance(value, str) else f"{value:g}" if isinstance(value, float) else str(value)


def _numbers(
    path: Path, frame: pd.DataFrame, column: str, lo: float, hi: float | None = None, empty: bool = False
) -> pd.Series:
    """The column as floats in [lo, hi]; `empty`: an empty cell is allowed (NaN), text never is."""
    values = pd.to_numeric(frame[column], errors="coerce")
    cells = frame[column]
    blank = (cells.isna() | (cells.astype(str) == "")) if empty else pd.Series(False, index=frame.index)
    bad = (values.isna() & ~blank) | (values < lo) | ((values > hi) if hi is not None else False)
    if bad.any():
        first = bad.to_numpy().nonzero()[0][0]
        limits = f"in [{lo:g}, {hi:g}]" if hi is not None else f">= {lo:g}"
        raise ArtifactError(
            f"{path}: column {column!r} must hold numbers {limits}; got {_shown(frame[column].iloc[first])} "
            f"on data row {first + 1}"
        )
    return values.astype(float)


def _check_percent_scale(path: Path, frame: pd.DataFrame, columns: list[str]) -> None:
    """Recall in [0, 1] everywhere looks like fractions, which would be shown as < 1 %."""
    values = frame[columns].to_numpy(dtype=float)
    if np.nanmax(values) <= 1.0 and np.nanmax(values) > 0 and table_provenance(path) is None:
        raise ArtifactError(
            f"{path}: every recall value is at most 1 ({', '.join(columns)}): these look like fractions, "
            "but metrics files hold percentages (0-100); multiply them by 100"
        )


def load_metrics(paths: list[Path]) -> pd.DataFrame:
    """Metrics files (as `acmnet score` writes them), validated and concatenated in order.

    Refused, naming the file: a missing or unreadable file, missing columns, a recall that is not
    a number in [0, 100] (or that looks like a fraction), counts that are not numbers, and a
    (dataset, queries, method) that appears twice in one file or across files.
    """
    frames, seen = [], {}
    for path in map(Path, paths):
        frame = _read_results_csv(path, "metrics")
        missing = [c for c in METRICS_COLUMNS if c not in frame.columns]
        recall = [c for c in frame.columns if re.fullmatch(r"R@\d+(_lo|_hi)?", str(c))]
        if missing or not recall:
            raise ArtifactError(
                f"{path}: metrics file lacks column(s) {missing or ['R@N']} (has {list(frame.columns)}; "
                f"expected {list(METRICS_COLUMNS)} and R@N columns)"
            )
        for c in ("dataset", "queries", "method"):
            frame[c] = frame[c].astype(str)
        for c in recall:  # an interval's bounds are empty where too few queries gave none
            frame[c] = _numbers(path, frame, c, 0.0, 100.0, empty=c.endswith(("_lo", "_hi")))
        _check_percent_scale(path, frame, recall)
        for c in ("n_queries", "n_references", "tolerance"):
            frame[c] = _numbers(path, frame, c, 0.0).astype(int)
        for key in zip(frame["dataset"], frame["queries"], frame["method"]):
            if key in seen:
                where = "twice in this file" if seen[key] == path else f"also in {seen[key]}"
                raise ArtifactError(
                    f"{path}: dataset {key[0]!r} (queries {key[1]!r}) appears {where} for method "
                    f"{key[2]!r}; each (dataset, queries, method) must appear once"
                )
            seen[key] = path
        frames.append(frame)
    if not frames:
        raise ArtifactError("no metrics files given")
    return pd.concat(frames, ignore_index=True)


def load_curves(paths: list[Path]) -> pd.DataFrame:
    """Recall-curve files (as `acmnet score` writes them), validated and concatenated."""
    frames = []
    for path in map(Path, paths):
        frame = _read_results_csv(path, "recall curve")
        missing = [c for c in CURVE_COLUMNS if c not in frame.columns]
        if missing:
            raise ArtifactError(f"{path}: recall curve file lacks column(s) {missing}; expected {list(CURVE_COLUMNS)}")
        frame["recall"] = _numbers(path, frame, "recall", 0.0, 100.0)
        for c in ("lo", "hi"):  # a band is empty where too few queries gave none
            if c in frame.columns:
                frame[c] = _numbers(path, frame, c, 0.0, 100.0, empty=True)
        frame["N"] = _numbers(path, frame, "N", 1.0).astype(int)
        frames.append(frame)
    if not frames:
        raise ArtifactError("no recall curve files given")
    return pd.concat(frames, ignore_index=True)


RANKS_COLUMNS = ("dataset", "queries", "method", "query_row", "first_hit")


def load_ranks(paths: list[Path]) -> pd.DataFrame:
    """Per-query first-hit rank files (as `acmnet score --ranks-out` writes them), checked and concatenated."""
    frames = []
    for path in map(Path, paths):
        frame = _read_results_csv(path, "ranks")
        missing = [c for c in RANKS_COLUMNS if c not in frame.columns]
        if missing:
            raise ArtifactError(f"{path}: ranks file lacks column(s) {missing}; expected {list(RANKS_COLUMNS)}")
        for column in ("query_row", "first_hit", *(["n_positives"] if "n_positives" in frame.columns else [])):
            frame[column] = _numbers(path, frame, column, 0.0).astype(int)
        if "top1_score" in frame.columns:  # empty for a re-ranked list, which keeps its order but no scores
            frame["top1_score"] = _numbers(path, frame, "top1_score", -np.inf, empty=True)
        for column in ("dataset", "queries", "method"):
            frame[column] = frame[column].astype(str)
        frames.append(frame)
    if not frames:
        raise ArtifactError("no ranks files given")
    return pd.concat(frames, ignore_index=True)


POSE_ACCURACY_COLUMNS = ("method", "condition", "threshold_m", "threshold_deg", "value")
POSE_ACCURACY_OPTIONAL_COLUMNS = ("query_set", "n_queries")


def load_pose_accuracy(path: Path) -> pd.DataFrame:
    """A RobotCar pose-accuracy file (as `acmnet localize` writes it, or by hand: the format is in
    `acmnet.report.paper_tables`), as pandas reads it (empty cells NaN), checked like every results CSV.

    Refused, naming the file: a missing or unreadable file, one changed after `acmnet localize`
    wrote it, missing columns, a `value` that is not a percentage in [0, 100], and thresholds or
    `n_queries` that are not numbers >= 0. A file without rows is read (a manifest without
    train-split queries gives one).
    """
    path = Path(path)
    frame = _read_results_csv(path, "RobotCar scores", made_by="acmnet localize", allow_empty=True, na_as_written=False)
    missing = [c for c in POSE_ACCURACY_COLUMNS if c not in frame.columns]
    if missing:
        raise ArtifactError(
            f"{path}: RobotCar scores file lacks column(s) {missing} (has {list(frame.columns)}; "
            f"expected {list(POSE_ACCURACY_COLUMNS)}, optionally {list(POSE_ACCURACY_OPTIONAL_COLUMNS)})"
        )
    _numbers(path, frame, "value", 0.0, 100.0)
    for column in ("threshold_m", "threshold_deg", "n_queries"):
        if column in frame.columns:
            _numbers(path, frame, column, 0.0)
    return frame
