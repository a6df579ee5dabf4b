"""Oxford RobotCar Seasons v2 (visuallocalization.net): the paper's third benchmark (Table 4).

Layout under the dataset root (see `SOURCES` and docs/datasets.md)::

    images/<condition>/<left|rear|right>/<timestamp>.jpg    1024x1024; only rear is read here
    3D-models/all-merged/all.nvm                             reference poses (option `nvm`)
    robotcar_v2_train.txt                                    1906 lines `<condition>/rear/<timestamp>.jpg` + a 4x4
                                                             pose (option `train_split`)
    robotcar_v2_test.txt                                     1872 lines `rear/<timestamp>.jpg`, names only
                                                             (option `test_split`)

The test list names no condition folder: each name's condition is found by its timestamp in the
query condition folders (a timestamp in no folder, or in several, is reported). A name with a
condition folder is accepted too.

Conditions: `overcast-reference` (the reference traversal) and the query conditions dawn, dusk,
night, night-rain, overcast-summer, overcast-winter, rain, snow, sun.

Protocol (paper section 4.1-4.2; docs/datasets.md), rear camera only:
    train      every rear overcast-reference image (6954) + the v2 train-split images (1906)
    reference  the rear overcast-reference images posed by the NVM model (world-to-camera pose)
    query      the v2 test images: condition = their folder (dawn, ...), query_set = `test`, no pose;
               the v2 train-split images: condition = `train-split-<folder>`, query_set =
               `train-split`, with their pose. They are distinct query sets (the manifest groups
               queries by condition), so test predictions go to the submission file and the
               train-split ones can be scored locally with `acmnet.evaluate.poses.pose_errors`, per
               condition, because the test poses are not public.

Places: RobotCar has no frame index shared by the traversals; the ground truth is the poses. Each
reference (and its training row) gets `place` = its position in the reference list (sorted by
name, i.e. timestamp); every other row gets `place` = `QUERY_PLACE` (-10^9), far outside any
tolerance window: recall@N with a place window is NOT meaningful for this dataset (it comes out
0); score it with poses instead.

Row order: references sorted by timestamp; queries (and train-split training rows) grouped by
condition in `QUERY_CONDITIONS` order and sorted by timestamp within each: recording order (time),
as every dataset type writes its traversals. The submission file follows the test list's order.

The train-split images are both training images (as the paper trains on them, without labels)
and the locally scored queries, so local accuracy on them is optimistic compared with the test
queries; report it as such.

Rows with a known pose (references, overcast-reference training rows, train-split rows) carry
the manifest pose columns qw..tz (world-to-camera, w first). The extra column `query_set` is
`test` or `train-split` on query rows and empty elsewhere.

Options (datasets.<name> in the config): `nvm`, `train_split`, `test_split` (paths relative to the
root), `train_convention` (how robotcar_v2_train.txt's matrices read: see
`acmnet.data.robotcar_files.V2_TRAIN_CONVENTION`; `acmnet check-convention` settles it on the
real files), `train_split_queries`
(also add the train-split query set), `expect_counts` (check the published counts; false for a
subset) and `unposed_references` (`error` or `drop` rear reference images the model lacks).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from acmnet.data import robotcar_files
from acmnet.data.datasets.base import DatasetType, LayoutError, listing
from acmnet.data.download import Download
from acmnet.io import list_files

REFERENCE_CONDITION = "overcast-reference"
QUERY_CONDITIONS = ("dawn", "dusk", "night", "night-rain", "overcast-summer", "overcast-winter", "rain", "snow", "sun")
CONDITIONS = (REFERENCE_CONDITION, *QUERY_CONDITIONS)
CAMERAS = ("left", "rear", "right")
CAMERA = "rear"
EXPECTED_COUNTS = {"reference": 6954, "train_split": 1906, "test_split": 1872}
"""Rear overcast-reference images (paper), lines of robotcar_v2_train.txt and of robotcar_v2_test.txt."""
QUERY_PLACE = -1_000_000_000
"""`place` of every row that is not a reference: no tolerance window reaches a reference."""
TRAIN_SPLIT_PREFIX = "train-split-"
QUERY_SETS = ("test", "train-split")
COLUMNS = ["image", "role", "place", "condition", "query_set", *robotcar_files.POSE_COLUMNS]

BASE_URL = "https://data.ciirc.cvut.cz/public/projects/2020VisualLocalization/RobotCar-Seasons/"


SOURCES = [
    *(
        Download(
            url=f"{BASE_URL}images/{c}.zip", filename=f"images/{c}.zip", extract=False, present=f"images/{c}/{CAMERA}"
        )
        for c in CONDITIONS
    ),
    Download(url=f"{BASE_URL}3D-models/all-merged/all.nvm", filename="3D-models/all-merged/all.nvm", extract=False),
    Download(url=f"{BASE_URL}robotcar_v2_train.txt", filename="robotcar_v2_train.txt", extract=False),
    Download(url=f"{BASE_URL}robotcar_v2_test.txt", filename="robotcar_v2_test.txt", extract=False),
    Download(url=f"{BASE_URL}README_RobotCar_v2.md", filename="README_RobotCar_v2.md", extract=False),
]
"""The files `prepare` needs, as `acmnet.data.download` entries (remote path = local path under the root).

The condition zips hold `<condition>/<left|rear|right>/<timestamp>.jpg` and are unzipped inside
images/ (`cd ROOT/images && unzip night.zip`); they are marked `extract=False` because
`acmnet.data.download.extract` unpacks into the dataset root, not into images/, and `prepare` says
which zip to unzip where when a condition folder is missing. README_RobotCar_v2.md is the
server's description of the v2 files (the train-file pose convention is said to be stated
there). intrinsics/ and extrinsics/ are not needed here. No sizes or checksums are known yet:
record them from the first real download. The remote names follow public download recipes
(wget of the tree, then unzip of images/*.zip) and are to be checked against the tree.
"""


@dataclass
class RobotCarOptions:
    nvm: str = "3D-models/all-merged/all.nvm"
    train_split: str = "robotcar_v2_train.txt"
    test_split: str = "robotcar_v2_test.txt"
    train_convention: Literal["c2w", "w2c"] = robotcar_files.V2_TRAIN_CONVENTION
    train_split_queries: bool = True
    expect_counts: bool = True
    unposed_references: Literal["error", "drop"] = "error"


def rear_dir(root: Path, condition: str) -> Path:
    return Path(root) / "images" / condition / CAMERA


def check_root(root: Path) -> None:
    """`root/images/` exists; otherwise explain where the root should point."""
    root = Path(root)
    if (root / "images").is_dir():
        return
    if any((root / c).is_dir() for c in CONDITIONS):
        hint = f" It looks like the root points inside images/: use {root.parent} instead."
    elif any((root / cam).is_dir() for cam in CAMERAS):
        hint = f" It looks like the root points at a condition folder: use {root.parent.parent} instead."
    else:
        nested = sorted(p.parent for p in root.glob("*/images") if p.is_dir()) if root.is_dir() else []
        hint = (
            f" The tree is one level deeper: use {nested[0]} as the root."
            if nested
            else f" Download it from {BASE_URL} (see acmnet.data.datasets.robotcar.SOURCES)."
        )
    raise LayoutError(
        f"{root} does not hold images/ of RobotCar Seasons v2.{hint} Expected "
        f"{root}/images/overcast-reference/rear/<timestamp>.jpg"
    )


def list_rear_images(root: Path) -> dict[str, set[str]]:
    """File names of the rear images of every condition; missing folders are one error."""
    root = Path(root)
    check_root(root)
    missing, hints = [], []
    for condition in CONDITIONS:
        folder = rear_dir(root, condition)
        if not folder.is_dir():
            missing.append(f"images/{condition}/{CAMERA}")
            if (root / "images" / condition / condition / CAMERA).is_dir():
                hints.append(f"images/{condition}/{condition}/{CAMERA} exists: move its content up one level")
            elif (root / "images" / f"{condition}.zip").is_file():
                hints.append(
                    f"images/{condition}.zip is there: unzip it inside images/ "
                    f"(cd {root / 'images'} && unzip {condition}.zip)"
                )
    if missing:
        hint = f" ({'; '.join(hints)})" if hints else ""
        raise LayoutError(
            f"{root}: {len(missing)} condition folder(s) missing: {listing(missing, 10)}{hint}. Download "
            f"the condition zips from {BASE_URL}images/ and extract them so that "
            f"{root}/images/<condition>/rear/<timestamp>.jpg exists"
        )
    return {c: {n for n in list_files(rear_dir(root, c)) if n.lower().endswith(".jpg")} for c in CONDITIONS}


def _file(root: Path, relative: str, option: str, what: str) -> Path:
    path = Path(root) / relative
    if path.is_file():
        return path
    name = Path(relative).name
    found = [p for pattern in (name, f"*/{name}", f"*/*/{name}", f"*/*/*/{name}") for p in Path(root).glob(pattern)]
    hint = (
        f" Found {found[0].relative_to(root)}: set the dataset option `{option}: {found[0].relative_to(root)}`."
        if found
        else f" Download it from {BASE_URL} (see acmnet.data.datasets.robotcar.SOURCES)."
    )
    raise LayoutError(f"{path} ({what}) does not exist.{hint}")


def _refuse_missing(missing: list[str], total: int, what: str, fix: str) -> None:
    if missing:
        raise LayoutError(
            f"{what}: {len(missing)} of its {total} images are not on disk (first: {listing(missing)}): {fix}"
        )


def references(root: Path, opts: RobotCarOptions, files: dict[str, set[str]]) -> pd.DataFrame:
    """The rear overcast-reference cameras of the NVM model, sorted by name, all present on disk."""
    path = _file(root, opts.nvm, "nvm", "the reference 3D model")
    model = robotcar_files.read_nvm(path)
    parts = model["image"].str.split("/")
    rear = model[(parts.str.len() == 3) & (parts.str[0] == REFERENCE_CONDITION) & (parts.str[1] == CAMERA)]
    if rear.empty:
        raise LayoutError(
            f"{path} poses {len(model)} cameras but none named {REFERENCE_CONDITION}/{CAMERA}/<timestamp> "
            f"(first names: {listing(model['name'].tolist(), 3)}): is this the all-merged model?"
        )
    rear = rear.sort_values("image").reset_index(drop=True)
    present = files[REFERENCE_CONDITION]
    missing = [f"images/{k}" for k in rear["image"] if k.split("/")[-1] not in present]
    _refuse_missing(
        missing,
        len(rear),
        f"{path} (the reference model)",
        "the overcast-reference images are incomplete or half-extracted; extract the zip again",
    )
    return rear


def read_train_split(root: Path, opts: RobotCarOptions, files: dict[str, set[str]]) -> pd.DataFrame:
    """robotcar_v2_train.txt as world-to-camera poses, checked against the query folders."""
    path = _file(root, opts.train_split, "train_split", "the v2 train split")
    frame = robotcar_files.read_v2_train(path, opts.train_convention)
    _check_split_names(frame, path, files)
    return _time_order(frame)


def _time_order(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows grouped by condition (QUERY_CONDITIONS order), by timestamp within each: recording order."""
    rank = {c: i for i, c in enumerate(QUERY_CONDITIONS)}
    key = pd.DataFrame(
        {
            "c": frame["condition"].map(rank).fillna(len(rank)),
            "t": frame["image"].str.rsplit("/", n=1).str[-1].str.zfill(32),
        }
    )
    return frame.iloc[key.sort_values(["c", "t"], kind="stable").index].reset_index(drop=True)


def _test_key(name: str, path: Path, by_file: dict[str, list[str]], ambiguous: list[str]) -> str:
    """`<condition>/rear/<timestamp>.jpg` of a test-list name; the condition found by timestamp."""
    try:
        return robotcar_files.image_key(name)  # a name with its condition folder (not the v2 format, accepted)
    except ValueError:
        pass
    try:
        short = robotcar_files.submission_name(name)
    except ValueError as exc:
        raise LayoutError(f"{path}: {exc}; expected rear/<timestamp>.jpg") from None
    conditions = by_file.get(short.split("/")[-1], [])
    if len(conditions) > 1:
        ambiguous.append(f"{short} ({' and '.join(conditions)})")
    return f"{conditions[0] if conditions else '?'}/{short}"


def read_test_split(root: Path, opts: RobotCarOptions, files: dict[str, set[str]]) -> pd.DataFrame:
    """robotcar_v2_test.txt as a table (name, image, condition, camera) in time order; each name
    (`rear/<timestamp>.jpg`, no condition folder) is found by timestamp in the query folders."""
    path = _file(root, opts.test_split, "test_split", "the v2 test split")
    by_file: dict[str, list[str]] = {}
    for condition in QUERY_CONDITIONS:
        for name in files[condition]:
            by_file.setdefault(name, []).append(condition)
    ambiguous: list[str] = []
    rows = []
    for name in robotcar_files.read_v2_test(path):
        key = _test_key(name, path, by_file, ambiguous)
        rows.append((name, key, *key.split("/")[:2]))
    if ambiguous:
        raise LayoutError(
            f"{path}: {len(ambiguous)} names are in several query condition folders (first: "
            f"{listing(ambiguous)}): remove the stray copies from the wrong condition folder"
        )
    frame = pd.DataFrame(rows, columns=["name", "image", "condition", "camera"])
    _check_split_names(frame, path, files)
    return _time_order(frame)


def _check_split_names(frame: pd.DataFrame, path: Path, files: dict[str, set[str]]) -> None:
    cameras = sorted(set(frame["camera"]) - {CAMERA})
    if cameras:
        raise LayoutError(f"{path} names camera(s) {cameras}; the v2 splits are rear-camera only: is this the v2 file?")
    unknown = [n for n, c in zip(frame["name"], frame["condition"]) if c not in QUERY_CONDITIONS]
    if unknown:
        raise LayoutError(
            f"{path}: {len(unknown)} names are not in a query condition folder "
            f"({', '.join(QUERY_CONDITIONS)}) (first: {listing(unknown)}): the query condition "
            "zips are incomplete or half-extracted (extract them again), or this is not the v2 list"
        )
    missing = [f"images/{k}" for k, c in zip(frame["image"], frame["condition"]) if k.split("/")[-1] not in files[c]]
    _refuse_missing(
        missing, len(frame), str(path), "the query condition zips are incomplete or half-extracted; extract them again"
    )


def _check_counts(found: dict[str, int]) -> None:
    wrong = [
        f"{what}: expected {EXPECTED_COUNTS[what]}, found {n}"
        for what, n in found.items()
        if n != EXPECTED_COUNTS[what]
    ]
    if wrong:
        raise LayoutError(
            "RobotCar Seasons v2 counts differ from the published ones (" + "; ".join(wrong) + "). "
            "Check that every zip is fully extracted and that the split files are the v2 ones; for a "
            "deliberate subset set the dataset option `expect_counts: false`"
        )


def _rows(images, role, place, condition, query_set, pose_frame=None) -> pd.DataFrame:
    images = list(images)
    frame = pd.DataFrame(
        {
            "image": [f"images/{k}" for k in images],
            "role": role,
            "place": place,
            "condition": condition,
            "query_set": query_set,
        }
    )
    for column in robotcar_files.POSE_COLUMNS:
        frame[column] = np.nan if pose_frame is None else pose_frame[column].to_numpy(dtype=np.float64)
    return frame


@dataclass
class Parts:
    """What `prepare` builds its rows from, after every check."""

    refs: pd.DataFrame  # posed rear overcast-reference cameras, by timestamp
    train: pd.DataFrame  # the v2 train split with poses, in time order per condition
    test: pd.DataFrame  # the v2 test split, in time order per condition
    folder: list[str]  # every rear overcast-reference image on disk (<condition>/rear/<ts>.jpg), by timestamp


def _layout(root: Path, opts: RobotCarOptions) -> Parts:
    """Images, reference model and split files present and consistent; no image is decoded."""
    root = Path(root)
    files = list_rear_images(root)
    refs = references(root, opts, files)
    train = read_train_split(root, opts, files)
    test = read_test_split(root, opts, files)
    overlap = sorted(set(train["image"]) & set(test["image"]))
    if overlap:
        raise LayoutError(
            f"{len(overlap)} images are in both the train and the test split (first: {listing(overlap)}): "
            "the split files are not the v2 pair"
        )
    posed = set(refs["image"])
    folder = sorted(f"{REFERENCE_CONDITION}/{CAMERA}/{f}" for f in files[REFERENCE_CONDITION])
    unposed = [k for k in folder if k not in posed]
    if unposed and opts.unposed_references == "error":
        raise LayoutError(
            f"{len(unposed)} of the {len(folder)} rear overcast-reference images have no pose in {opts.nvm} "
            f"(first: {listing(['images/' + k for k in unposed])}): remove stray files, or set the dataset "
            "option `unposed_references: drop` to keep them for training only"
        )
    if opts.expect_counts:
        _check_counts({"reference": len(folder), "train_split": len(train), "test_split": len(test)})
    return Parts(refs, train, test, folder)


def prepare(root: Path, opts: RobotCarOptions, name: str = "robotcar") -> pd.DataFrame:
    """Manifest rows (see the module docstring) for RobotCar Seasons v2 under `root`."""
    got = _layout(root, opts)
    refs, train, folder = got.refs, got.train, got.folder
    ref_place = {k: i for i, k in enumerate(refs["image"])}
    train_refs = refs.set_index("image")[robotcar_files.POSE_COLUMNS].reindex(folder)  # NaN pose if unposed
    parts = [
        _rows(folder, "train", [ref_place.get(k, QUERY_PLACE) for k in folder], REFERENCE_CONDITION, "", train_refs),
        _rows(train["image"], "train", QUERY_PLACE, train["condition"].to_numpy(), "", train),
        _rows(refs["image"], "reference", np.arange(len(refs)), REFERENCE_CONDITION, "", refs),
        _rows(got.test["image"], "query", QUERY_PLACE, got.test["condition"].to_numpy(), "test"),
    ]
    if opts.train_split_queries:
        parts.append(
            _rows(
                train["image"],
                "query",
                QUERY_PLACE,
                (TRAIN_SPLIT_PREFIX + train["condition"]).to_numpy(),
                "train-split",
                train,
            )
        )
    return pd.concat(parts, ignore_index=True)[COLUMNS]


def folder_condition(condition: str) -> str:
    """The image folder of a query condition: `train-split-night` -> `night`, `night` -> `night`."""
    return condition.removeprefix(TRAIN_SPLIT_PREFIX)


def check_layout(root: Path, opts: RobotCarOptions) -> None:
    """Images, reference model and split files present and consistent (reads the text files, decodes no image)."""
    _layout(root, opts)


def protocol(opts: RobotCarOptions) -> str:
    """The reference database and the train-file reading, for captions."""
    return (
        "RobotCar reference database: the rear-camera overcast-reference images (our reading; the paper "
        f"names them as training images); v2 train-split poses read as {opts.train_convention}"
    )


def train_set(opts: RobotCarOptions) -> str:
    """What a trained row trains on: the reference database and the v2 train split."""
    return (
        "the 6954 rear-camera overcast-reference images (the reference database) and the 1906 v2 train-split "
        "images; the latter are the train-split queries the local pose accuracy is measured on"
    )


def files_read(root: Path, opts: RobotCarOptions) -> list[Path]:
    """The 3D model and the two split files (inputs of `prepare` by content, wherever the options put them)."""
    return [Path(root) / opts.nvm, Path(root) / opts.train_split, Path(root) / opts.test_split]


DATASET = DatasetType(
    name="robotcar",
    options=RobotCarOptions,
    prepare=prepare,
    check_layout=check_layout,
    sources=SOURCES,
    scoring="pose",
    paper_table="table4",
    protocol=protocol,
    train_set=train_set,
    files_read=files_read,
)
