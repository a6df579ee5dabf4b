"""Settling how ``robotcar_v2_train.txt``'s 4x4 matrices read (camera-to-world or world-to-camera).

Run ``acmnet check-convention --nvm ROOT/3D-models/all-merged/all.nvm --train ROOT/robotcar_v2_train.txt``
(`check_convention`) on the real files: it compares both readings with the NVM model
(`compare_with_reference`, `suggest_convention`) and, when the file holds `PUBLISHED_IMAGE`, with that
image's published world-to-camera pose (`published_pose_check`). The default reading is
`acmnet.data.robotcar_files.V2_TRAIN_CONVENTION`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from acmnet.data.robotcar_files import (
    CENTRE_COLUMNS,
    CONVENTIONS,
    QUAT_COLUMNS,
    V2_TRAIN_CONVENTION,
    matrices_to_w2c,
    read_nvm,
    read_v2_train_matrices,
)
from acmnet.geometry import invert, quat_to_rotmat, rotation_angle_deg

PUBLISHED_IMAGE = "overcast-summer/rear/1432293723546724.jpg"
PUBLISHED_POSE: tuple[tuple[float, ...], tuple[float, ...]] = (
    (0.76241, -0.61829, 0.12928, 0.14050),  # world-to-camera quaternion, w first
    (430.283, -58.870, 240.563),  # world-to-camera translation t (metres)
)
"""The world-to-camera pose of `PUBLISHED_IMAGE` that a public converter obtained by inverting its
``robotcar_v2_train.txt`` matrix (docs/datasets.md): the reading that reproduces it is camera-to-world."""
PUBLISHED_TOLERANCE = (0.05, 0.05)
"""(degrees, metres) within which a reading reproduces `PUBLISHED_POSE` (rounded to 5 and 3 decimals)."""


def compare_with_reference(
    train, reference: pd.DataFrame, conventions: Sequence[str] = CONVENTIONS, chunk: int = 512
) -> pd.DataFrame:
    """How well each reading of the train-file matrices agrees with the reference model.

    `train` is the path of ``robotcar_v2_train.txt`` or its raw matrices (N, 4, 4);
    `reference` a table with camera centres cx, cy, cz and world-to-camera quaternions qw..qz
    (e.g. `read_nvm` of the all-merged model, ideally filtered to the rear camera).
    For each convention, each train camera centre is matched to its nearest reference centre.
    Returns one row per convention (index) with columns
        n                    train cameras compared
        median_distance_m    median distance to the nearest reference centre (metres)
        p90_distance_m       90th percentile of the same
        median_angle_deg     median rotation angle between the train camera and that reference
    The right reading gives metres and, for the same camera (rear), moderate angles; the wrong one
    gives tens to thousands of metres. See `suggest_convention`.
    """
    mats = read_v2_train_matrices(train)[1] if isinstance(train, (str, Path)) else np.asarray(train, dtype=np.float64)
    if len(reference) == 0 or len(mats) == 0:
        raise ValueError("compare_with_reference needs at least one train matrix and one reference camera")
    ref_c = reference[CENTRE_COLUMNS].to_numpy(dtype=np.float64)
    ref_rot = quat_to_rotmat(reference[QUAT_COLUMNS].to_numpy(dtype=np.float64))
    rows = {}
    for convention in conventions:
        w2c = matrices_to_w2c(mats, convention)
        centres = invert(w2c)[:, :3, 3]
        dist = np.empty(len(centres))
        nearest = np.empty(len(centres), dtype=np.int64)
        for start in range(0, len(centres), chunk):
            block = centres[start : start + chunk]
            d2 = ((block[:, None, :] - ref_c[None, :, :]) ** 2).sum(-1)
            idx = d2.argmin(1)
            nearest[start : start + chunk] = idx
            dist[start : start + chunk] = np.sqrt(d2[np.arange(len(block)), idx])
        angles = rotation_angle_deg(np.swapaxes(w2c[:, :3, :3], -1, -2) @ ref_rot[nearest])
        rows[convention] = {
            "n": len(centres),
            "median_distance_m": float(np.median(dist)),
            "p90_distance_m": float(np.percentile(dist, 90)),
            "median_angle_deg": float(np.median(angles)),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def suggest_convention(report: pd.DataFrame, max_median_m: float = 25.0, min_ratio: float = 5.0) -> str:
    """The convention of a `compare_with_reference` report whose median distance is plausible
    (under `max_median_m`) and at least `min_ratio` times smaller than the other's; else ValueError."""
    ordered = report.sort_values("median_distance_m")
    best, other = ordered.index[0], ordered.index[-1]
    d_best, d_other = ordered["median_distance_m"].iloc[0], ordered["median_distance_m"].iloc[-1]
    if d_best > max_median_m or d_other < min_ratio * max(d_best, 1e-9):
        raise ValueError(
            f"inconclusive: median distances {best} {d_best:.3g} m, {other} {d_other:.3g} m; expected one "
            f"under {max_median_m} m and the other {min_ratio}x larger. Are the train file and model "
            "from the same release (v2) and in the same world frame?"
        )
    return str(best)


def published_pose_check(names: pd.DataFrame, mats: np.ndarray) -> pd.DataFrame | None:
    """Both readings of the train-file row of `PUBLISHED_IMAGE` against `PUBLISHED_POSE`.

    `names`, `mats`: `read_v2_train_matrices` of the train file. Returns one row per convention
    (index) with rotation_error_deg (angle of R_read^T R_published), translation_error_m
    (|t_read - t_published|) and matches (both within `PUBLISHED_TOLERANCE`); None when the file
    has no row for that image.
    """
    rows = np.flatnonzero(names["image"].to_numpy() == PUBLISHED_IMAGE)
    if not len(rows):
        return None
    q_pub, t_pub = (np.asarray(v, dtype=np.float64) for v in PUBLISHED_POSE)
    r_pub = quat_to_rotmat(q_pub)
    out = {}
    for convention in CONVENTIONS:
        w2c = matrices_to_w2c(mats[rows[:1]], convention)[0]
        angle = float(rotation_angle_deg(w2c[:3, :3].T @ r_pub))
        distance = float(np.linalg.norm(w2c[:3, 3] - t_pub))
        out[convention] = {
            "rotation_error_deg": angle,
            "translation_error_m": distance,
            "matches": angle <= PUBLISHED_TOLERANCE[0] and distance <= PUBLISHED_TOLERANCE[1],
        }
    return pd.DataFrame.from_dict(out, orient="index")


def _model_check(nvm_path: Path, mats: np.ndarray, train_path: Path, camera: str) -> tuple[list[str], str | None]:
    reference = read_nvm(nvm_path)
    if camera:
        reference = reference[reference["image"].str.split("/").str[1] == camera]
        if reference.empty:
            raise ValueError(
                f"{nvm_path} poses no `{camera}` camera (names <condition>/{camera}/<timestamp>): is "
                "this the all-merged model? (camera '' compares with every camera)"
            )
    report = compare_with_reference(mats, reference)
    header = (
        f"1. Both readings of {train_path} ({len(mats)} rows) against the {len(reference)} "
        f"{camera or 'all'} cameras of {nvm_path} (distance to the nearest reference camera centre):"
    )
    lines = [header, report.to_string(float_format=lambda v: f"{v:.3f}")]
    try:
        best = suggest_convention(report)
        lines.append(f"   the model says: {best}")
    except ValueError as exc:
        best = None
        lines.append(f"   the model says nothing: {exc}")
    return lines, best


def _published_check(names: pd.DataFrame, mats: np.ndarray, train_path: Path) -> tuple[list[str], str | None]:
    table = published_pose_check(names, mats)
    if table is None:
        return [f"2. {train_path} has no row for {PUBLISHED_IMAGE}: no published pose to compare with"], None
    (q, t) = PUBLISHED_POSE
    header = (
        f"2. {PUBLISHED_IMAGE}: both readings of its row against the published world-to-camera pose "
        f"q = ({', '.join(f'{v:g}' for v in q)}) (w first), t = ({', '.join(f'{v:g}' for v in t)}) m:"
    )
    lines = [header, table.to_string(float_format=lambda v: f"{v:.4f}")]
    matching = [str(c) for c in table.index[table["matches"]]]
    best = matching[0] if len(matching) == 1 else None
    lines.append(
        f"   the published pose says: {best}"
        if best
        else f"   the published pose says nothing: {len(matching)} readings match it (tolerance "
        f"{PUBLISHED_TOLERANCE[0]:g} deg, {PUBLISHED_TOLERANCE[1]:g} m)"
    )
    return lines, best


def _convention_check(nvm_path: Path, train_path: Path, camera: str) -> tuple[list[str], str | None]:
    names, mats = read_v2_train_matrices(train_path)
    lines, by_model = _model_check(Path(nvm_path), mats, Path(train_path), camera)
    more, by_pose = _published_check(names, mats, Path(train_path))
    lines += more
    found = {c for c in (by_model, by_pose) if c is not None}
    if len(found) > 1:
        lines.append(
            f"no conclusion: the model says {by_model}, the published pose {by_pose}; check that the "
            "files are the v2 release and share one world frame"
        )
        return lines, None
    if not found:
        lines.append("no conclusion: neither check is decisive")
        return lines, None
    best = found.pop()
    lines.append(
        f"suggested convention: {best} (acmnet.data.robotcar_files.V2_TRAIN_CONVENTION is {V2_TRAIN_CONVENTION}; "
        "the dataset option `train_convention` overrides it)"
    )
    return lines, best


def check_convention(nvm_path: Path, train_path: Path, camera: str = "rear") -> str:
    """A printable report on how ``robotcar_v2_train.txt``'s matrices read (c2w or w2c).

    1. Both readings against the NVM model's `camera` cameras (`compare_with_reference`,
       `suggest_convention`; camera '' compares with every camera).
    2. When the file holds `PUBLISHED_IMAGE`: both readings of its row against `PUBLISHED_POSE`
       (rotation error in degrees, translation error in metres, which reading matches).
    The last line is ``suggested convention: <c2w|w2c> ...`` when the checks agree (or only one is
    decisive), else ``no conclusion: ...``. Raises PoseFileError / FileNotFoundError naming a bad
    or missing file.
    """
    return "\n".join(_convention_check(nvm_path, train_path, camera)[0])
