"""Pose accuracy and the visuallocalization.net submission file of RobotCar Seasons v2.

Poses follow `acmnet.geometry` (world-to-camera, quaternion w first, metres and degrees); the pose
columns and image names are those of `acmnet.data.robotcar_files`.

* `write_submission` / `read_submission`: ``rear/<timestamp>.jpg qw qx qy qz tx ty tz``, one line per
  test query, as visuallocalization.net expects.
* `pose_errors`: translation (metres, between camera centres) and rotation (degrees) errors;
  `localization_share`: the percent of queries within each of `SHARE_THRESHOLDS`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from acmnet.data.robotcar_files import (
    POSE_COLUMNS,
    PoseFileError,
    finite_floats,
    numbered_lines,
    refuse_duplicates,
    submission_name,
)
from acmnet.geometry import canonical_quat, centre_from_translation, quat_to_rotmat, rotation_angle_deg
from acmnet.io import atomic_path

SHARE_THRESHOLDS: tuple[tuple[float, float], ...] = ((0.25, 2.0), (0.5, 5.0), (5.0, 10.0))
"""(metres, degrees) of the RobotCar Seasons accuracy classes (visuallocalization.net)."""


def _pose_array(poses, what: str) -> np.ndarray:
    """(N, 7) float64 from a DataFrame with the pose columns or an array (N, 7) / (7,)."""
    if isinstance(poses, pd.DataFrame):
        missing = [c for c in POSE_COLUMNS if c not in poses.columns]
        if missing:
            raise ValueError(f"{what} lacks pose column(s) {', '.join(missing)}; expected {POSE_COLUMNS}")
        return np.array(poses[POSE_COLUMNS].to_numpy(dtype=np.float64))
    arr = np.array(poses, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != 7:
        raise ValueError(f"{what} must have shape (N, 7) = qw qx qy qz tx ty tz, got {arr.shape}")
    return arr


# ---- submission ---------------------------------------------------------------------------


def _listing(names: Sequence[str], limit: int = 5) -> str:
    return ", ".join(names[:limit]) + (", ..." if len(names) > limit else "")


def write_submission(
    rows: pd.DataFrame, path: Path, expected: Iterable[str], unit_tolerance: float = 1e-3
) -> pd.DataFrame:
    """Write a visuallocalization.net submission: ``rear/<timestamp>.jpg qw qx qy qz tx ty tz``.

    `rows`: one row per query, with the name in column ``image`` (or ``name``) in any form
    `submission_name` accepts, and the world-to-camera pose columns qw..tz (quaternion w first,
    translation t = -R C, not the camera position). `expected`: the test list (e.g.
    `read_v2_test`). Missing, duplicate and unexpected queries are refused, with the first few
    named and the count; quaternions further than `unit_tolerance` from unit norm are refused, the
    others are normalised and made w >= 0. Lines follow the order of `expected`. Written atomically.
    Returns the table written (columns name, qw..tz).
    """
    column = "image" if "image" in rows.columns else "name"
    if column not in rows.columns:
        raise ValueError(f"submission rows need an `image` or `name` column, got {list(rows.columns)}")
    poses = _pose_array(rows, "submission rows")
    names = [submission_name(str(n)) for n in rows[column]]
    wanted = list(dict.fromkeys(submission_name(str(n)) for n in expected))
    seen: set[str] = set()
    dups = list(dict.fromkeys(n for n in names if n in seen or seen.add(n)))
    missing = sorted(set(wanted) - set(names))
    extra = sorted(set(names) - set(wanted))
    problems = []
    if missing:
        problems.append(
            f"{len(missing)} of the {len(wanted)} expected queries have no pose (first: {_listing(missing)})"
        )
    if dups:
        problems.append(f"{len(dups)} queries appear more than once (first: {_listing(dups)})")
    if extra:
        problems.append(f"{len(extra)} queries are not in the expected list (first: {_listing(extra)})")
    if problems:
        raise ValueError(f"refusing to write {path}: " + "; ".join(problems))
    if not np.isfinite(poses).all():
        bad = [names[i] for i in np.flatnonzero(~np.isfinite(poses).all(1))]
        raise ValueError(f"refusing to write {path}: {len(bad)} poses are not finite (first: {_listing(bad)})")
    norms = np.linalg.norm(poses[:, :4], axis=1)
    off = np.flatnonzero(np.abs(norms - 1.0) > unit_tolerance)
    if len(off):
        raise ValueError(
            f"refusing to write {path}: {len(off)} quaternions are not unit "
            f"(first: {names[off[0]]}, norm {norms[off[0]]:.6f})"
        )
    poses[:, :4] = canonical_quat(poses[:, :4])
    table = pd.DataFrame(poses, columns=POSE_COLUMNS)
    table.insert(0, "name", names)
    table = table.set_index("name").loc[wanted].reset_index()
    text = "".join(
        f"{row[0]} " + " ".join(f"{v:.12g}" for v in row[1:]) + "\n" for row in table.itertuples(index=False)
    )
    with atomic_path(Path(path)) as tmp:
        tmp.write_text(text)
    return table


def read_submission(path: Path, unit_tolerance: float = 1e-3) -> pd.DataFrame:
    """A submission file back as a table (name, qw..tz), validating each line: a name and 7
    finite numbers, a unit quaternion (within `unit_tolerance`), no name twice."""
    path = Path(path)
    rows = []
    for number, text in numbered_lines(path):
        tokens = text.split()
        if len(tokens) != 8:
            raise PoseFileError(
                f"{path}, line {number}: expected `<camera>/<timestamp>.jpg qw qx qy qz tx ty tz`, "
                f"got {len(tokens)} fields"
            )
        values = finite_floats(tokens[1:], path, number, "the 7 pose values")
        norm = float(np.linalg.norm(values[:4]))
        if abs(norm - 1.0) > unit_tolerance:
            raise PoseFileError(
                f"{path}, line {number}: quaternion norm {norm:.6f} is not 1 (tolerance {unit_tolerance})"
            )
        rows.append((tokens[0], *values))
    table = pd.DataFrame(rows, columns=["name", *POSE_COLUMNS])
    refuse_duplicates(table["name"].tolist(), path, "queries")
    return table


# ---- accuracy -----------------------------------------------------------------------------


def pose_errors(est, gt) -> tuple[np.ndarray, np.ndarray]:
    """(translation error in metres, rotation error in degrees), each (N,), as the benchmark defines them.

    `est`, `gt`: world-to-camera poses, DataFrames with qw..tz or arrays (N, 7) / (7,).
    Translation error: distance between the camera centres ``C = -R.T t`` (not between the t's).
    Rotation error: the angle of ``R_est.T @ R_gt``. A row with a NaN estimate gives NaN errors
    (counted as failures by `localization_share`).
    """
    e, g = _pose_array(est, "est"), _pose_array(gt, "gt")
    if len(e) != len(g):
        raise ValueError(f"est has {len(e)} poses, gt {len(g)}: pair them row by row first")
    ok = np.isfinite(e).all(1)
    t_err = np.full(len(e), np.nan)
    r_err = np.full(len(e), np.nan)
    if ok.any():
        ce = centre_from_translation(e[ok, :4], e[ok, 4:])
        cg = centre_from_translation(g[ok, :4], g[ok, 4:])
        t_err[ok] = np.linalg.norm(ce - cg, axis=1)
        rel = np.swapaxes(quat_to_rotmat(e[ok, :4]), -1, -2) @ quat_to_rotmat(g[ok, :4])
        r_err[ok] = rotation_angle_deg(rel)
    return t_err, r_err


def localization_share(
    errors: tuple[np.ndarray, np.ndarray], thresholds: Sequence[tuple[float, float]] = SHARE_THRESHOLDS
) -> list[float]:
    """Percent of queries within each (metres, degrees) threshold (both errors <= the bounds).

    `errors` = `pose_errors(...)`. Every query counts in the denominator; NaN errors never count
    as localised. Returns one percentage per threshold, in order.
    """
    t_err, r_err = (np.asarray(e, dtype=np.float64) for e in errors)
    if len(t_err) == 0:
        raise ValueError("the localisation share of an empty query set is undefined")
    with np.errstate(invalid="ignore"):
        return [100.0 * float(np.mean((t_err <= m) & (r_err <= d))) for m, d in thresholds]
