"""The manifest: one table per dataset, the same columns for every dataset.

Columns (one row per image):
    image      path of the image, relative to the dataset root (or absolute)
    role       `train` (self-supervised training), `reference` (the database) or `query`
    place      integer position along the route; the tolerance window is in these units
    condition  appearance condition of the traversal (e.g. summer, winter, night)
Optional pose columns (world-to-camera): qw, qx, qy, qz, tx, ty, tz.
Optional ground-truth columns, per the dataset type's `ground_truth` (`acmnet.data.positives`):
    x, y       planar position in metres (UTM easting, northing) of every reference and query row
    z, yaw     (`poses` ground truth) height in metres and heading in degrees, where the poses give them
    positives  on query rows: the query's positive references as space-separated positions in the
               reference set (0-based, in the manifest's order of reference rows; empty: none);
               empty on other rows
Optional route column:
    segment    integer: the separate stretch of the route a row belongs to, where a route was cut
               into stretches with frames left out between them (Olid et al.'s Nordland sections);
               a place window and a sequence never cross from one segment to another
For types without a route (`utm`, `vprbench`), `place` is the row's index within its own folder,
in the order of the rows: informational, never a ground truth.

An image may appear in several rows (e.g. the same summer image as `train` and `reference`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

COLUMNS = ["image", "role", "place", "condition"]
POSE_COLUMNS = ["qw", "qx", "qy", "qz", "tx", "ty", "tz"]
POSITION_COLUMNS = ["x", "y"]
Z_COLUMN = "z"
YAW_COLUMN = "yaw"
POSITIVES_COLUMN = "positives"
SEGMENT_COLUMN = "segment"
ROLES = ("train", "reference", "query")


class ManifestError(ValueError):
    """The manifest is malformed or unusable for the step that reads it."""


def validate(frame: pd.DataFrame, source: str = "manifest") -> pd.DataFrame:
    """Check columns, roles and places; return the frame with normalised dtypes."""
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ManifestError(f"{source} lacks column(s) {', '.join(missing)}; expected {COLUMNS}")
    bad_roles = sorted(set(frame["role"]) - set(ROLES))
    if bad_roles:
        raise ManifestError(f"{source} has unknown role(s) {bad_roles}; roles are {list(ROLES)}")
    if frame["place"].isna().any():
        raise ManifestError(
            f"{source} has rows without a place (first: {frame[frame['place'].isna()].iloc[0]['image']})"
        )
    out = frame.copy()
    out["image"] = out["image"].astype(str)
    out["role"] = out["role"].astype(str)
    out["place"] = out["place"].astype("int64")
    out["condition"] = out["condition"].astype(str)
    if POSITIVES_COLUMN in out.columns:
        out[POSITIVES_COLUMN] = out[POSITIVES_COLUMN].fillna("").astype(str)
    if SEGMENT_COLUMN in out.columns:
        out[SEGMENT_COLUMN] = out[SEGMENT_COLUMN].astype("int64")
    for role in ("reference", "query"):
        if not (out["role"] == role).any():
            raise ManifestError(
                f"{source} has no `{role}` images: check the dataset's folders and its config (the {role} set is empty)"
            )
    return out.reset_index(drop=True)


def read(path: Path) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"manifest {path} does not exist: run `acmnet prepare` for its dataset first")
    return validate(pd.read_csv(path, dtype={POSITIVES_COLUMN: str}), str(path))


def unique_images(frame: pd.DataFrame) -> list[str]:
    """Distinct image paths in first-appearance order: the rows of the image cache."""
    return list(dict.fromkeys(frame["image"]))


def query_sets(frame: pd.DataFrame) -> list[str]:
    """Query conditions in order of appearance; each is scored as its own query set."""
    return list(dict.fromkeys(frame.loc[frame["role"] == "query", "condition"]))


def segments(frame: pd.DataFrame, rows: pd.Series | None = None) -> pd.Series | None:
    """The `segment` of the selected rows (bool mask `rows`, default all), or None without the column."""
    if SEGMENT_COLUMN not in frame.columns:
        return None
    return frame[SEGMENT_COLUMN] if rows is None else frame.loc[rows, SEGMENT_COLUMN]
