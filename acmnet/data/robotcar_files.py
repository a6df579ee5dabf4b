"""The RobotCar Seasons v2 pose files: NVM model, v2 split files, image names (pure numpy).

Poses follow `acmnet.geometry`: world-to-camera, quaternions w first. Tables of poses are DataFrames
with the manifest's pose columns ``qw qx qy qz tx ty tz`` (world-to-camera) and, where useful, the
camera centre ``cx cy cz``, in metres (the units of the RobotCar model).

Files read here:

* ``3D-models/all-merged/all.nvm`` (NVM_V3): per camera ``<name> <focal> <qw> <qx> <qy> <qz> <cx>
  <cy> <cz> <radial distortion> 0``: a world-to-camera quaternion and the camera CENTRE.
* ``robotcar_v2_train.txt``: ``<condition>/rear/<timestamp>.jpg`` + 16 floats (row-major 4x4).
  Whether that matrix is camera-to-world or world-to-camera is disputed: see `V2_TRAIN_CONVENTION`
  and `acmnet.data.robotcar_convention`.
* ``robotcar_v2_test.txt``: names only, ``rear/<timestamp>.jpg`` with NO condition folder (the
  condition is found by timestamp in the query folders: `acmnet.data.datasets.robotcar`).

Image names are normalised by `image_key` to ``<condition>/<camera>/<timestamp>.jpg`` (the NVM names
end in .png, the files on disk are JPEG) and by `submission_name` to ``<camera>/<timestamp>.jpg``
(the submission file of visuallocalization.net, written by `acmnet.evaluate.poses`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from acmnet.geometry import canonical_quat, invert, matrix_to_pose, translation_from_centre

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
`acmnet.data.robotcar_convention.PUBLISHED_POSE`. This is NOT verified on the real file here:
``acmnet check-convention`` (`acmnet.data.robotcar_convention.check_convention`) settles it there,
by comparing each reading with the NVM poses of the overcast-reference images, whose cameras drove
the same road (the right reading gives a median of a few metres to the nearest reference camera,
the wrong one tens to thousands), and the published pose with the file's row for that image.
If the check contradicts this default, change it here or set the dataset option ``train_convention``.
"""

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


class PoseFileError(ValueError):
    """A pose file is malformed; the message names the file and, where known, the line."""


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


def numbered_lines(path: Path) -> Iterable[tuple[int, str]]:
    """(1-based line number, stripped text) of the non-blank lines; CRLF and CR endings accepted."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    with open(path, encoding="utf-8", errors="replace", newline=None) as fh:
        for number, line in enumerate(fh, start=1):
            text = line.strip().lstrip("\ufeff")
            if text:
                yield number, text


def finite_floats(tokens: Sequence[str], path: Path, number: int, what: str) -> list[float]:
    """The tokens as floats; PoseFileError naming `path`, line `number` and `what` if one is not a finite number."""
    try:
        values = [float(v) for v in tokens]
    except ValueError:
        raise PoseFileError(f"{path}, line {number}: {what} must be numbers, got {' '.join(tokens)!r}") from None
    if not all(math.isfinite(v) for v in values):
        raise PoseFileError(f"{path}, line {number}: {what} must be finite, got {' '.join(tokens)!r}")
    return values


def refuse_duplicates(names: Sequence[str], path: Path, what: str) -> None:
    """PoseFileError naming `path` and the first repeated names if `names` holds one twice."""
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
    lines = numbered_lines(path)
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
        values = finite_floats(tokens[1:10], path, number, "focal, quaternion, centre and distortion")
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
    refuse_duplicates(frame["image"].tolist(), path, "cameras")
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
    for number, text in numbered_lines(path):
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
        mats.append(finite_floats(tokens[1:], path, number, "the 16 matrix entries"))
        names.append((tokens[0], image, number))
    mats = np.array(mats, dtype=np.float64).reshape(-1, 4, 4)
    _check_rigid(mats, [n for _, _, n in names], path, tolerance)
    frame = pd.DataFrame(names, columns=["name", "image", "line"])
    refuse_duplicates(frame["image"].tolist(), path, "images")
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
    for number, text in numbered_lines(path):
        tokens = text.split()
        if len(tokens) != 1:
            raise PoseFileError(
                f"{path}, line {number}: the test list holds one image name per line, got {len(tokens)} "
                f"fields: {text[:80]!r} (is this the train file, which carries poses?)"
            )
        names.append(tokens[0])
    refuse_duplicates([_clean(n) for n in names], path, "images")
    return names
