"""Camera poses for RobotCar Seasons v2: NVM model, v2 split files, submission file, pose errors.

Conventions used throughout (pure numpy):

* A pose is **world-to-camera**: ``x_cam = R @ x_world + t``. ``R`` is (3, 3), ``t`` (3,) in metres.
  The camera centre (position in the world) is ``C = -R.T @ t``; conversely ``t = -R @ C``.
  As a 4x4 homogeneous matrix, ``T_cw = [[R, t], [0, 0, 0, 1]]``; its inverse ``T_wc = [[R.T, C], [0, 1]]``
  is the camera-to-world matrix.
* A rotation is stored as a unit quaternion **w first**, ``(qw, qx, qy, qz)`` (Hamilton convention,
  the one of COLMAP, NVM and visuallocalization.net), made sign-canonical (``qw >= 0``) when written.
* Tables of poses are DataFrames with the manifest's pose columns ``qw qx qy qz tx ty tz``
  (world-to-camera) and, where useful, the camera centre ``cx cy cz``.
* Angles are in degrees at the API surface, distances in metres (the units of the RobotCar model).

Files handled here (see ``docs/datasets.md``):

* ``3D-models/all-merged/all.nvm`` (NVM_V3): per camera ``<name> <focal> <qw> <qx> <qy> <qz> <cx>
  <cy> <cz> <radial distortion> 0``: a world-to-camera quaternion and the camera CENTRE.
* ``robotcar_v2_train.txt``: ``<condition>/rear/<timestamp>.jpg`` + 16 floats (row-major 4x4).
  Whether that matrix is camera-to-world or world-to-camera is disputed: see `V2_TRAIN_CONVENTION`,
  `compare_with_reference` and `check_convention`.
* ``robotcar_v2_test.txt``: names only, ``rear/<timestamp>.jpg`` with NO condition folder (the
  condition is found by timestamp in the query folders: `acmnet.data.datasets.robotcar`).
* The submission file of visuallocalization.net: ``rear/<timestamp>.jpg qw qx qy qz tx ty tz``.

Image names are normalised by `image_key` to ``<condition>/<camera>/<timestamp>.jpg`` (the NVM names
end in .png, the files on disk are JPEG) and by `submission_name` to ``<camera>/<timestamp>.jpg``.

Run ``python -m acmnet.evaluate.poses check-convention --nvm ROOT/3D-models/all-merged/all.nvm
--train ROOT/robotcar_v2_train.txt`` (`check_convention`) on the real files to settle the
train-file convention: it compares both readings with the NVM model and, when the file holds
``overcast-summer/rear/1432293723546724.jpg``, with that image's published world-to-camera pose.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from acmnet.io import atomic_path

POSE_COLUMNS = ["qw", "qx", "qy", "qz", "tx", "ty", "tz"]
QUAT_COLUMNS = POSE_COLUMNS[:4]
TRANS_COLUMNS = POSE_COLUMNS[4:]
CENTRE_COLUMNS = ["cx", "cy", "cz"]
CONVENTIONS = ("c2w", "w2c")
Convention = Literal["c2w", "w2c"]

V2_TRAIN_CONVENTION: Convention = "c2w"
"""How `read_v2_train` reads the 4x4 matrices of ``robotcar_v2_train.txt`` by default.

``"c2w"``: the matrix maps camera to world coordinates (its last column is the camera centre);
``"w2c"``: it maps world to camera coordinates (its last column is ``t = -R C``).

The default ``"c2w"`` follows three public tools (NAVER's kapture importer for RobotCar Seasons,
feixue94 lbr's converter and one more), which read the matrix as camera-to-world and invert it to
get the world-to-camera pose; a public converter's worked value for one image is
`PUBLISHED_POSE`. This is NOT verified on the real file here: `check_convention` (``acmnet
check-convention`` / ``python -m acmnet.evaluate.poses check-convention``) settles it there, by
comparing each reading with the NVM poses of the overcast-reference images, whose cameras drove
the same road (`compare_with_reference`: the right reading gives a median of a few metres to the
nearest reference camera, the wrong one tens to thousands), and the published pose with the
file's row for that image. If the check contradicts this default, change it here or set the
dataset option ``train_convention``.
"""

PUBLISHED_IMAGE = "overcast-summer/rear/1432293723546724.jpg"
PUBLISHED_POSE: tuple[tuple[float, ...], tuple[float, ...]] = (
    (0.76241, -0.61829, 0.12928, 0.14050),  # world-to-camera quaternion, w first
    (430.283, -58.870, 240.563),  # world-to-camera translation t (metres)
)
"""The world-to-camera pose of `PUBLISHED_IMAGE` that a public converter obtained by inverting its
``robotcar_v2_train.txt`` matrix (docs/datasets.md): the reading that reproduces it is camera-to-world."""
PUBLISHED_TOLERANCE = (0.05, 0.05)
"""(degrees, metres) within which a reading reproduces `PUBLISHED_POSE` (rounded to 5 and 3 decimals)."""

SHARE_THRESHOLDS: tuple[tuple[float, float], ...] = ((0.25, 2.0), (0.5, 5.0), (5.0, 10.0))
"""(metres, degrees) of the RobotCar Seasons accuracy classes (visuallocalization.net)."""

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


class PoseFileError(ValueError):
    """A pose file is malformed; the message names the file and, where known, the line."""


# ---- rotations and poses ----------------------------------------------------------------


def quat_to_rotmat(q: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) from quaternions (..., 4), w first.

    The quaternion is normalised first (any non-zero scale, either sign, gives the same rotation).
    """
    q = np.asarray(q, dtype=np.float64)
    if q.shape[-1] != 4:
        raise ValueError(f"quaternions need 4 components (w, x, y, z) in the last axis, got shape {q.shape}")
    norm = np.linalg.norm(q, axis=-1, keepdims=True)
    if np.any(~np.isfinite(norm)) or np.any(norm == 0):
        raise ValueError("quaternion with zero or non-finite norm")
    w, x, y, z = np.moveaxis(q / norm, -1, 0)
    rot = np.stack(
        [
            1 - 2 * (y * y + z * z),
            2 * (x * y - w * z),
            2 * (x * z + w * y),
            2 * (x * y + w * z),
            1 - 2 * (x * x + z * z),
            2 * (y * z - w * x),
            2 * (x * z - w * y),
            2 * (y * z + w * x),
            1 - 2 * (x * x + y * y),
        ],
        axis=-1,
    )
    return rot.reshape(q.shape[:-1] + (3, 3))


def rotmat_to_quat(rot: np.ndarray) -> np.ndarray:
    """Unit quaternions (..., 4), w first and ``w >= 0``, from rotation matrices (..., 3, 3).

    Uses the symmetric 4x4 matrix of Bar-Itzhack (2000): its top eigenvector is the quaternion of
    the nearest rotation, so it is stable for every angle and tolerant of rounding in the input.
    """
    rot = np.asarray(rot, dtype=np.float64)
    if rot.shape[-2:] != (3, 3):
        raise ValueError(f"rotation matrices need shape (..., 3, 3), got {rot.shape}")
    flat = rot.reshape(-1, 3, 3)
    r = lambda i, j: flat[:, i, j]
    k = np.zeros((len(flat), 4, 4))
    # Order of the eigenvector: (x, y, z, w).
    k[:, 0, 0] = r(0, 0) - r(1, 1) - r(2, 2)
    k[:, 1, 1] = r(1, 1) - r(0, 0) - r(2, 2)
    k[:, 2, 2] = r(2, 2) - r(0, 0) - r(1, 1)
    k[:, 3, 3] = r(0, 0) + r(1, 1) + r(2, 2)
    k[:, 0, 1] = k[:, 1, 0] = r(0, 1) + r(1, 0)
    k[:, 0, 2] = k[:, 2, 0] = r(0, 2) + r(2, 0)
    k[:, 1, 2] = k[:, 2, 1] = r(1, 2) + r(2, 1)
    k[:, 0, 3] = k[:, 3, 0] = r(2, 1) - r(1, 2)
    k[:, 1, 3] = k[:, 3, 1] = r(0, 2) - r(2, 0)
    k[:, 2, 3] = k[:, 3, 2] = r(1, 0) - r(0, 1)
    _, vectors = np.linalg.eigh(k / 3.0)
    xyzw = vectors[:, :, -1]
    quat = xyzw[:, [3, 0, 1, 2]]
    return canonical_quat(quat).reshape(rot.shape[:-2] + (4,))


def canonical_quat(q: np.ndarray) -> np.ndarray:
    """Unit quaternions (..., 4) with ``w >= 0`` (q and -q are the same rotation)."""
    q = np.asarray(q, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    return np.where(q[..., :1] < 0, -q, q)


def pose_matrix(q: np.ndarray, t: np.ndarray) -> np.ndarray:
    """4x4 matrices (..., 4, 4) ``[[R(q), t], [0, 1]]`` from quaternions (..., 4) and translations (..., 3)."""
    rot = quat_to_rotmat(q)
    t = np.asarray(t, dtype=np.float64)
    out = np.zeros(rot.shape[:-2] + (4, 4))
    out[..., :3, :3] = rot
    out[..., :3, 3] = t
    out[..., 3, 3] = 1.0
    return out


def matrix_to_pose(mat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(quaternion (..., 4) with w >= 0, translation (..., 3)) of 4x4 rigid matrices (..., 4, 4)."""
    mat = np.asarray(mat, dtype=np.float64)
    return rotmat_to_quat(mat[..., :3, :3]), mat[..., :3, 3].copy()


def invert(mat: np.ndarray) -> np.ndarray:
    """Inverse of rigid 4x4 matrices (..., 4, 4): ``[[R.T, -R.T t], [0, 1]]`` (world-to-camera <-> camera-to-world)."""
    mat = np.asarray(mat, dtype=np.float64)
    rot_t = np.swapaxes(mat[..., :3, :3], -1, -2)
    out = np.zeros_like(mat)
    out[..., :3, :3] = rot_t
    out[..., :3, 3] = -np.einsum("...ij,...j->...i", rot_t, mat[..., :3, 3])
    out[..., 3, 3] = 1.0
    return out


def compose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for 4x4 matrices (..., 4, 4): apply ``b`` first, then ``a`` (e.g. T_ac = T_ab @ T_bc)."""
    return np.asarray(a, dtype=np.float64) @ np.asarray(b, dtype=np.float64)


def centre_from_translation(q: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Camera centres ``C = -R.T t`` (..., 3) of world-to-camera poses (q (..., 4), t (..., 3))."""
    rot = quat_to_rotmat(q)
    return -np.einsum("...ji,...j->...i", rot, np.asarray(t, dtype=np.float64))


def translation_from_centre(q: np.ndarray, c: np.ndarray) -> np.ndarray:
    """World-to-camera translations ``t = -R C`` (..., 3) from quaternions (..., 4) and centres (..., 3)."""
    rot = quat_to_rotmat(q)
    return -np.einsum("...ij,...j->...i", rot, np.asarray(c, dtype=np.float64))


def rotation_angle_deg(rot: np.ndarray) -> np.ndarray:
    """Rotation angle in degrees (...,) of rotation matrices (..., 3, 3), in [0, 180].

    ``atan2(|axis part|, (trace - 1) / 2)``: accurate also for tiny angles, where ``acos`` is not.
    """
    rot = np.asarray(rot, dtype=np.float64)
    cos = (np.trace(rot, axis1=-2, axis2=-1) - 1.0) / 2.0
    axis = np.stack(
        [rot[..., 2, 1] - rot[..., 1, 2], rot[..., 0, 2] - rot[..., 2, 0], rot[..., 1, 0] - rot[..., 0, 1]], axis=-1
    )
    sin = np.linalg.norm(axis, axis=-1) / 2.0
    return np.degrees(np.arctan2(sin, cos))


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


# ---- names --------------------------------------------------------------------------------


def _clean(name: str) -> str:
    name = name.strip().replace("\\", "/")
    while name.startswith("./"):
        name = name[2:]
    return name


def _split_name(name: str) -> tuple[list[str], str]:
    """(folders, stem) of an image name; the suffix must be an image suffix."""
    base, _, file = _clean(name).rpartition("/")
    stem, dot, suffix = file.rpartition(".")
    if not dot or not stem or f".{suffix.lower()}" not in IMAGE_SUFFIXES:
        raise ValueError(f"image name `{name}` does not end in {', '.join(IMAGE_SUFFIXES)}")
    return [p for p in base.split("/") if p], stem


def image_key(name: str) -> str:
    """``<condition>/<camera>/<timestamp>.jpg`` from a name as the RobotCar files write it.

    Accepts ``./`` or any leading folders (``images/``, absolute paths), Windows separators and a
    ``.png`` suffix (the NVM model says .png, the files are .jpg). Raises ValueError if the name lacks
    the condition or camera folder.
    """
    folders, stem = _split_name(name)
    if len(folders) < 2:
        raise ValueError(f"image name `{name}` lacks the <condition>/<camera>/ folders")
    return f"{folders[-2]}/{folders[-1]}/{stem}.jpg"


def submission_name(name: str) -> str:
    """``<camera>/<timestamp>.jpg``: the name visuallocalization.net expects (no condition folder)."""
    folders, stem = _split_name(name)
    if not folders:
        raise ValueError(f"image name `{name}` lacks the <camera>/ folder")
    return f"{folders[-1]}/{stem}.jpg"


def _lines(path: Path) -> Iterable[tuple[int, str]]:
    """(1-based line number, stripped text) of the non-blank lines; CRLF and CR endings accepted."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    with open(path, encoding="utf-8", errors="replace", newline=None) as fh:
        for number, line in enumerate(fh, start=1):
            text = line.strip().lstrip("\ufeff")
            if text:
                yield number, text


def _floats(tokens: Sequence[str], path: Path, number: int, what: str) -> list[float]:
    try:
        values = [float(v) for v in tokens]
    except ValueError:
        raise PoseFileError(f"{path}, line {number}: {what} must be numbers, got {' '.join(tokens)!r}") from None
    if not all(math.isfinite(v) for v in values):
        raise PoseFileError(f"{path}, line {number}: {what} must be finite, got {' '.join(tokens)!r}")
    return values


def _refuse_duplicates(names: Sequence[str], path: Path, what: str) -> None:
    seen: set[str] = set()
    dups = [n for n in names if n in seen or seen.add(n)]
    if dups:
        raise PoseFileError(f"{path} lists {len(dups)} {what} more than once (first: {', '.join(dups[:5])})")


# ---- NVM ----------------------------------------------------------------------------------

NVM_COLUMNS = ["name", "image", "focal", *QUAT_COLUMNS, *CENTRE_COLUMNS, *TRANS_COLUMNS, "line"]


def read_nvm(path: Path, unit_tolerance: float = 1e-3) -> pd.DataFrame:
    """The cameras of an NVM_V3 model (the first model of the file; 3D points are skipped).

    Returns one row per camera, in file order, with columns
        name        the name as written (``./`` prefix removed, ``/`` separators)
        image       `image_key` of the name (``<condition>/<camera>/<timestamp>.jpg``) when it has
                    those folders, else the cleaned name
        focal       focal length in pixels
        qw..qz      world-to-camera rotation, unit quaternion, w >= 0
        cx, cy, cz  camera centre in world coordinates (as NVM stores it)
        tx, ty, tz  world-to-camera translation, t = -R C
        line        line number in the file
    Quaternions further than `unit_tolerance` from unit norm are refused (then normalised).
    """
    path = Path(path)
    lines = _lines(path)
    header = next(lines, None)
    if header is None or not header[1].startswith("NVM_V3"):
        found = "an empty file" if header is None else repr(header[1][:40])
        raise PoseFileError(f"{path}: not an NVM_V3 model (first line must start with NVM_V3, found {found})")
    count_line = next(lines, None)
    if count_line is None:
        raise PoseFileError(f"{path}: ends after the header, before the camera count")
    number, text = count_line
    try:
        count = int(text)
    except ValueError:
        raise PoseFileError(
            f"{path}, line {number}: expected the camera count (one integer), got {text[:60]!r}"
        ) from None
    rows = []
    for _ in range(count):
        item = next(lines, None)
        if item is None:
            raise PoseFileError(f"{path}: ends after {len(rows)} of the {count} cameras it announces")
        number, text = item
        tokens = text.split()
        if len(tokens) not in (10, 11):
            raise PoseFileError(
                f"{path}, line {number}: a camera line has 11 fields `<name> <focal> <qw> <qx> <qy> <qz> "
                f"<cx> <cy> <cz> <radial> 0`, got {len(tokens)}: {text[:80]!r}"
            )
        values = _floats(tokens[1:10], path, number, "focal, quaternion, centre and distortion")
        quat = np.array(values[1:5])
        norm = float(np.linalg.norm(quat))
        if abs(norm - 1.0) > unit_tolerance:
            raise PoseFileError(
                f"{path}, line {number}: quaternion norm {norm:.6f} is not 1 (tolerance {unit_tolerance})"
            )
        name = _clean(tokens[0])
        try:
            image = image_key(name)
        except ValueError:
            image = name
        rows.append((name, image, values[0], *canonical_quat(quat), *values[5:8], number))
    frame = pd.DataFrame(rows, columns=["name", "image", "focal", *QUAT_COLUMNS, *CENTRE_COLUMNS, "line"])
    _refuse_duplicates(frame["image"].tolist(), path, "cameras")
    quats = frame[QUAT_COLUMNS].to_numpy()
    t = translation_from_centre(quats, frame[CENTRE_COLUMNS].to_numpy()) if len(frame) else np.zeros((0, 3))
    frame[TRANS_COLUMNS] = t
    return frame[NVM_COLUMNS]


# ---- v2 split files -----------------------------------------------------------------------


def _split_columns(frame: pd.DataFrame) -> pd.DataFrame:
    parts = frame["image"].str.split("/")
    frame["condition"], frame["camera"] = parts.str[0], parts.str[1]
    frame["timestamp"] = parts.str[2].str.removesuffix(".jpg")
    return frame


def read_v2_train_matrices(path: Path, tolerance: float = 1e-3) -> tuple[pd.DataFrame, np.ndarray]:
    """The names and raw 4x4 matrices (N, 4, 4) of ``robotcar_v2_train.txt``, convention-free.

    The names frame has columns name (as written), image (`image_key`), condition, camera,
    timestamp and line. Each matrix is read row-major and must be rigid: last row (0, 0, 0, 1),
    orthonormal rotation block with determinant +1 (within `tolerance`).
    """
    path = Path(path)
    names, mats = [], []
    for number, text in _lines(path):
        tokens = text.split()
        if len(tokens) != 17:
            raise PoseFileError(
                f"{path}, line {number}: expected `<condition>/rear/<timestamp>.jpg` and 16 numbers "
                f"(a row-major 4x4), got {len(tokens)} fields: {text[:80]!r}"
            )
        try:
            image = image_key(tokens[0])
        except ValueError as exc:
            raise PoseFileError(f"{path}, line {number}: {exc}") from None
        mats.append(_floats(tokens[1:], path, number, "the 16 matrix entries"))
        names.append((tokens[0], image, number))
    mats = np.array(mats, dtype=np.float64).reshape(-1, 4, 4)
    _check_rigid(mats, [n for _, _, n in names], path, tolerance)
    frame = pd.DataFrame(names, columns=["name", "image", "line"])
    _refuse_duplicates(frame["image"].tolist(), path, "images")
    frame = _split_columns(frame)[["name", "image", "condition", "camera", "timestamp", "line"]]
    return frame, mats


def _check_rigid(mats: np.ndarray, numbers: list[int], path: Path, tolerance: float) -> None:
    """Every matrix (N, 4, 4) is rigid; else PoseFileError naming the first bad line."""
    last_row = np.abs(mats[:, 3] - [0, 0, 0, 1]).max(axis=1, initial=0) <= tolerance
    rot = mats[:, :3, :3]
    gram = np.abs(rot @ np.swapaxes(rot, -1, -2) - np.eye(3)).max(axis=(1, 2), initial=0)
    rotation = (gram <= tolerance) & (np.linalg.det(rot) > 0)
    for i in np.flatnonzero(~(last_row & rotation))[:1]:
        mat, number = mats[i], numbers[i]
        if not last_row[i]:
            hint = ""
            if np.allclose(mat[:, 3], [0, 0, 0, 1], atol=tolerance):
                hint = " (its last column is (0, 0, 0, 1): the file looks column-major, not row-major)"
            raise PoseFileError(
                f"{path}, line {number}: the last row of the 4x4 is {mat[3].tolist()}, not (0, 0, 0, 1){hint}"
            )
        raise PoseFileError(f"{path}, line {number}: the 3x3 block is not a rotation (R R^T != I or det < 0)")


def matrices_to_w2c(mats: np.ndarray, convention: Convention) -> np.ndarray:
    """World-to-camera 4x4 matrices (N, 4, 4) from matrices in the given convention."""
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {', '.join(CONVENTIONS)}, got {convention!r}")
    return invert(mats) if convention == "c2w" else np.asarray(mats, dtype=np.float64)


def read_v2_train(path: Path, convention: Convention = V2_TRAIN_CONVENTION) -> pd.DataFrame:
    """``robotcar_v2_train.txt`` as poses: the names of `read_v2_train_matrices` plus the
    world-to-camera pose (qw..qz with w >= 0, tx..tz) and the camera centre (cx..cz), reading each
    matrix as camera-to-world (``"c2w"``) or world-to-camera (``"w2c"``); see `V2_TRAIN_CONVENTION`.
    """
    names, mats = read_v2_train_matrices(path)
    w2c = matrices_to_w2c(mats, convention)
    quat, t = matrix_to_pose(w2c)
    centres = invert(w2c)[:, :3, 3]
    poses = pd.DataFrame(np.hstack([quat, t, centres]).reshape(-1, 10), columns=[*POSE_COLUMNS, *CENTRE_COLUMNS])
    return pd.concat([names, poses], axis=1)


def read_v2_test(path: Path) -> list[str]:
    """The names of ``robotcar_v2_test.txt``, as written (one per non-blank line, in file order)."""
    path = Path(path)
    names = []
    for number, text in _lines(path):
        tokens = text.split()
        if len(tokens) != 1:
            raise PoseFileError(
                f"{path}, line {number}: the test list holds one image name per line, got {len(tokens)} "
                f"fields: {text[:80]!r} (is this the train file, which carries poses?)"
            )
        names.append(tokens[0])
    _refuse_duplicates([_clean(n) for n in names], path, "images")
    return names


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
        f"suggested convention: {best} (acmnet.evaluate.poses.V2_TRAIN_CONVENTION is {V2_TRAIN_CONVENTION}; "
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
    for number, text in _lines(path):
        tokens = text.split()
        if len(tokens) != 8:
            raise PoseFileError(
                f"{path}, line {number}: expected `<camera>/<timestamp>.jpg qw qx qy qz tx ty tz`, "
                f"got {len(tokens)} fields"
            )
        values = _floats(tokens[1:], path, number, "the 7 pose values")
        norm = float(np.linalg.norm(values[:4]))
        if abs(norm - 1.0) > unit_tolerance:
            raise PoseFileError(
                f"{path}, line {number}: quaternion norm {norm:.6f} is not 1 (tolerance {unit_tolerance})"
            )
        rows.append((tokens[0], *values))
    table = pd.DataFrame(rows, columns=["name", *POSE_COLUMNS])
    _refuse_duplicates(table["name"].tolist(), path, "queries")
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


# ---- command line: settle the train-file convention on the real files ---------------------


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m acmnet.evaluate.poses check-convention --nvm ... --train ...``: 0 when conclusive."""
    parser = argparse.ArgumentParser(prog="python -m acmnet.evaluate.poses", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser(
        "check-convention",
        help="compare both readings of robotcar_v2_train.txt with the NVM model and the published pose of one image",
    )
    check.add_argument("--nvm", type=Path, required=True, help="3D-models/all-merged/all.nvm")
    check.add_argument("--train", type=Path, required=True, help="robotcar_v2_train.txt")
    check.add_argument("--camera", default="rear", help="reference camera to compare with (default rear; '' for all)")
    args = parser.parse_args(argv)
    try:
        lines, best = _convention_check(args.nvm, args.train, args.camera)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0 if best else 1


if __name__ == "__main__":
    sys.exit(main())
