"""Datasets in the VPR-datasets-downloader layout: positions (UTM metres) in the image file names.

The layout written by the VPR-datasets-downloader scripts and read by VPR-methods-evaluation and
deep-visual-geo-localization-benchmark, which serves Pittsburgh30k/250k, Tokyo 24/7, St Lucia,
SF-XL, SVOX, MSLS, Eynsham, AmsterTime and Nordland as those tools distribute them::

    <root>/images/<split>/<database>/...        the database (reference) images; `database`, or `gallery`
    <root>/images/<split>/queries/...           one query set per folder `queries` or `queries_<name>`
    <root>/images/train/database/...            training images by default (option `train`)

What is read: the images of a folder are found recursively (`.jpg`, `.jpeg`, `.png`, any case;
hidden folders and hidden or sidecar files left out), or, when a file `<folder>_images_paths.txt`
lies beside the folder (e.g. `images/test/database_images_paths.txt`), its lines are the images
(paths relative to the folder, normalised: `./x.jpg` and `a/../x.jpg` are `x.jpg`; blank lines and a
UTF-8 byte-order mark ignored) and the folder is not searched. No image is
decoded. The root may also be the folder holding the dataset's one top folder (an archive's);
image paths are relative to the configured root either way, and `train` is relative to the folder
that holds `images/`. A root without `images/` that holds `<split>/database` and `<split>/queries`
directly (as the downloader's MSLS script writes them) is read the same way, with a note.

Positions: a file name `@easting@northing@zone@band@lat@lon@...@.jpg` gives x = easting and y =
northing, `float(name.split("@")[1])` and `[2]`, as the readers take them (they split the whole
path; we split the file name, which is the same unless a folder name holds an `@`); the zone is
field 3 when present and non-empty.

Row order contract: train rows, then the reference rows, then each query set (in the order of the
option `queries`; by default `queries` first, then the `queries_<name>` folders sorted). Within a
searched folder rows are sorted by path (string order, as `sorted(glob(...))` gives); with an
`_images_paths.txt` they follow its lines (a note says when those are not sorted). That is exactly
how VPR-methods-evaluation orders the rows of its saved descriptors (database, then queries).
`place` is the row's index within its folder: informational only. The rows are in driving order
only if the file names sort that way (option `route_order`, default false); sequence matching
needs it.

Ground truth (`positions`): a query's positives are the database images within
`positive_distance` metres (default 25, Euclidean in UTM, inclusive), as VPR-methods-evaluation
counts them; a query without any positive is kept and counts in the denominator. A radius that
lies within 1e-6 m of some query-reference distance is warned about (`positives.warn_boundary`).
Frame numbers as coordinates (option `positive_frames: K`, e.g. Olid's Nordland partition named
`@i@i@`, which papers score with a radius of 2*sqrt(2), Patch-NetVLAD #64): every coordinate must be
an integer (else refused, naming the file), and the positives are the database images whose
coordinates differ by at most K in each, exact (`frames` ground truth); `positive_distance` is then
not read.

Refused, each with one line naming the file or folder and what to do: a missing `images/` or
`images/<split>` (the folders that are there are listed), a missing database or query folder
(the query folders found are listed), a folder without images, a file name without two numeric
coordinates in the database or query folders (the first such file and the expected pattern), an
`_images_paths.txt` line naming a missing file, an absolute path or a path that leaves the folder
(`../`: an image outside the dataset's root, which no rerun trigger watches; the list, the line
number and the path), a file listed twice (after normalising), an easting outside 0 .. 1,000,000 m
or a northing outside -10,000,000 .. 10,000,000 m (no UTM position has them; at 1e22 m every
distance rounds to 0 and every database image would be a positive), and query images in a UTM zone
that no database image is in (one file of each).
Training images need no coordinates (x, y are empty where the name has none).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pandas as pd

from acmnet.config import ConfigError, bounded
from acmnet.data.datasets.base import DatasetType, LayoutError, find_root, inside, listing, note
from acmnet.io import is_sidecar, list_folders

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
PATTERN = "@<easting>@<northing>@<zone>@<band>@<lat>@<lon>@...@.jpg"
PATHS_SUFFIX = "_images_paths.txt"
COLUMNS = ["image", "role", "place", "condition", "x", "y"]
EASTING = (0.0, 1_000_000.0)  # metres: a UTM zone's eastings (500,000 at its central meridian)
NORTHING = (-10_000_000.0, 10_000_000.0)  # metres: 0 at the equator; south with (+10,000,000) or without false northing
Position = tuple[float, float, str | None]  # easting, northing, zone


@dataclass
class UtmOptions:
    split: str = "test"  # the folder under images/ holding the database and query folders
    database: str | None = None  # None: `database`, or `gallery` when only that exists
    queries: list[str] = field(default_factory=list)  # empty: every `queries` / `queries_<name>` folder
    positive_distance: float = bounded(25.0, above=0)  # metres
    train: str | None = None  # relative to the dataset folder; None: images/train/database if present
    route_order: bool = False  # true only when file names sort in driving order
    positive_frames: int | None = bounded(None, lo=0)  # coordinates are frame numbers: +/- K each, exact

    def check(self, where: str) -> None:
        if not self.split.strip():
            raise ConfigError(f"{where}.split is empty: name the folder under images/ to read (e.g. test)")
        if self.database is not None and self.database in self.queries:
            raise ConfigError(
                f"{where}.queries names the database folder `{self.database}`: a set queried against "
                "itself scores 100 %; name the query folders only"
            )
        repeated = sorted({q for q in self.queries if self.queries.count(q) > 1})
        if repeated:
            raise ConfigError(f"{where}.queries names {listing(repeated)} twice: list each query folder once")


@dataclass
class Folder:
    """One folder of images: its condition name, path prefix in the manifest and images in row order."""

    name: str
    prefix: str  # the folder relative to the configured root, posix, ending in `/`
    images: list[str]  # paths relative to the folder, posix, in row order
    path: Path  # the folder on disk
    paths_txt: Path | None = None  # the list the images were read from, if any
    positions: list[Position] = field(default_factory=list)  # database and query folders: one per image

    def describe(self, image: str) -> str:
        """An image for messages: its path on disk, and the list naming it."""
        return f"{self.path / image}" + (f" (listed in {self.paths_txt})" if self.paths_txt else "")


@dataclass
class Layout:
    """The checked dataset: training, database and query folders."""

    train: Folder | None
    database: Folder
    queries: list[Folder]


def coordinates(name: str) -> Position | None:
    """(easting, northing, zone or None) from a file name `@easting@northing@zone@...`; None if it has none."""
    fields = name.split("@")
    try:
        x, y = float(fields[1]), float(fields[2])
    except (IndexError, ValueError):
        return None
    if not (math.isfinite(x) and math.isfinite(y)):
        return None
    zone = fields[3].strip() if len(fields) > 4 else ""  # the last field holds the extension
    return x, y, (str(int(zone)) if zone.isdigit() else zone) or None


def _is_image(name: str) -> bool:
    return not is_sidecar(name) and os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES


def _search(folder: Path) -> list[str]:
    """Image paths under `folder` (recursively, following links as glob does), sorted as strings."""
    found = []
    for here, dirs, files in os.walk(folder, followlinks=True):
        dirs[:] = [d for d in dirs if not is_sidecar(d)]
        rel = Path(here).relative_to(folder).as_posix()
        found += [n if rel == "." else f"{rel}/{n}" for n in files if _is_image(n)]
    return sorted(found)


def _list_entry(line: str, paths_txt: Path, number: int) -> str:
    """An `_images_paths.txt` line as a normalised path inside the folder it lists (`base.inside`)."""
    folder = paths_txt.with_name(paths_txt.name.removesuffix(PATHS_SUFFIX))
    return inside(line, folder, f"{paths_txt}, line {number}")


def _read_list(paths_txt: Path, folder: Path) -> list[str]:
    """The images an `_images_paths.txt` lists, in its order; each must stay in `folder`, exist and
    appear once (compared after normalising: `./x.jpg` is `x.jpg`). A UTF-8 BOM is skipped."""
    seen: dict[str, int] = {}
    for number, line in enumerate(paths_txt.read_text(encoding="utf-8-sig").splitlines(), 1):
        if not line.strip():
            continue
        path = _list_entry(line.strip(), paths_txt, number)
        if not (folder / path).is_file():
            raise LayoutError(
                f"{paths_txt}, line {number}: {path} does not exist in {folder}: fix the list, or "
                "delete it to search the folder instead"
            )
        if path in seen:
            again = path if path == line.strip() else f"{line.strip()} (that is {path})"
            raise LayoutError(
                f"{paths_txt}, line {number}: {again} is listed again "
                f"(first on line {seen[path]}): list each image once"
            )
        seen[path] = number
    images = list(seen)
    if images != sorted(images):
        note(f"{paths_txt}: rows follow the list's order (not sorted), as VPR-methods-evaluation reads it")
    return images


def read_folder(base: Path, prefix: str, rel: str, name: str) -> Folder:
    """The images of `base/rel` (its `_images_paths.txt` when present), refused when there are none."""
    folder = base / rel
    paths_txt = folder.parent / f"{folder.name}{PATHS_SUFFIX}"
    if paths_txt.is_file():
        images = _read_list(paths_txt, folder)
        empty = f"{paths_txt} lists no images: list them (paths relative to {folder}), or delete it"
    else:
        images, paths_txt = _search(folder), None
        empty = (
            f"{folder} holds no images ({', '.join(IMAGE_SUFFIXES)}, searched recursively): extract the "
            "dataset into it, or fix the option naming it"
        )
    if not images:
        raise LayoutError(empty)
    return Folder(name, f"{prefix}{Path(rel).as_posix().rstrip('/')}/", images, folder, paths_txt)


def _holds_sets(folder: Path) -> bool:
    return any((folder / n).is_dir() for n in ("database", "gallery", "queries"))


def _split_folder(base: Path, opts: UtmOptions) -> str:
    """The split folder relative to `base`: images/<split>, or <split> when there is no images/ (MSLS)."""
    images = base / "images"
    if not images.is_dir():
        if _holds_sets(base / opts.split):
            note(f"{base} has no images/ folder: reading the split folder {base / opts.split} (MSLS layout)")
            return opts.split
        raise LayoutError(
            f"{base} has no images/ folder (folders there: {listing(list_folders(base)) or 'none'}): "
            "point the root at the folder holding images/<split>/database, as VPR-datasets-downloader "
            "writes it"
        )
    if not (images / opts.split).is_dir():
        raise LayoutError(
            f"{images / opts.split} does not exist (splits in {images}: {listing(list_folders(images)) or 'none'}): "
            "set the option `split` to one of them"
        )
    return f"images/{opts.split}"


def _database_name(split: Path, opts: UtmOptions, where: str) -> str:
    """The database folder: the option, else `database`, else `gallery` (with a note)."""
    here = list_folders(split)
    if opts.database is not None:
        if opts.database not in here:
            raise LayoutError(
                f"{where}.database: {split / opts.database} does not exist (folders in {split}: "
                f"{listing(here) or 'none'}): name one of them"
            )
        return opts.database
    if "database" in here:
        return "database"
    if "gallery" in here:
        note(f"{where}: reading the database from {split / 'gallery'} (there is no `database` folder)")
        return "gallery"
    raise LayoutError(
        f"{split} holds neither `database` nor `gallery` (folders there: {listing(here) or 'none'}): "
        "set the option `database` to the database folder"
    )


def _query_names(split: Path, opts: UtmOptions, database: str, where: str) -> list[str]:
    """The query folders: the option's, else `queries` then `queries_<name>` in sorted order."""
    here = list_folders(split)
    found = [n for n in here if (n == "queries" or n.startswith("queries_")) and n != database]
    found.sort(key=lambda n: (n != "queries", n))
    if not opts.queries:
        if not found:
            raise LayoutError(
                f"{split} holds no query folder (`queries` or `queries_<name>`; folders there: "
                f"{listing(here) or 'none'}): set the option `queries`"
            )
        return found
    missing = [q for q in opts.queries if not (split / q).is_dir()]
    if missing:
        raise LayoutError(
            f"{where}.queries: {split / missing[0]} does not exist (query folders found: "
            f"{listing(found, 10) or 'none'}): name one of them"
        )
    if database in opts.queries:
        raise ConfigError(f"{where}.queries names the database folder `{database}`: name the query folders only")
    return list(opts.queries)


def _train_folder(base: Path, prefix: str, split_rel: str, opts: UtmOptions, where: str) -> Folder | None:
    """The training folder: the option's, else images/train/database when present, else None."""
    rel = opts.train
    if rel is None:
        rel = (PurePosixPath(split_rel).parent / "train" / "database").as_posix()
        if not (base / rel).is_dir():
            return None
    elif not (base / rel).is_dir():
        parent = (base / rel).parent
        raise LayoutError(
            f"{where}.train: {base / rel} does not exist (folders in {parent}: "
            f"{listing(list_folders(parent)) or 'none'}): give the training folder relative to {base}"
        )
    return read_folder(base, prefix, rel, "train")


def _positions(folder: Folder) -> list[Position]:
    """The coordinates of every image of a database or query folder, refused at the first name without."""
    out = []
    for image in folder.images:
        parsed = coordinates(image.rsplit("/", 1)[-1])
        if parsed is None:
            raise LayoutError(
                f"{folder.describe(image)}: the file name holds no UTM easting and northing (expected {PATTERN}): "
                "rename the images as VPR-datasets-downloader does, or use a dataset type without positions"
            )
        _refuse_out_of_range(folder, image, parsed)
        out.append(parsed)
    return out


def _refuse_out_of_range(folder: Folder, image: str, position: Position) -> None:
    """An easting or northing no UTM position has (EASTING, NORTHING): refused before the ground truth,
    where metres of that size would lose their precision and match every image."""
    for what, value, (low, high) in (("easting", position[0], EASTING), ("northing", position[1], NORTHING)):
        if not low <= value <= high:
            raise LayoutError(
                f"{folder.describe(image)}: {what} {value:g} m is outside the UTM range ({what}s lie within "
                f"{low:,.0f} .. {high:,.0f} m; eastings of a zone within 0 .. 1,000,000, northings within "
                "0 .. 10,000,000 with the southern hemisphere's false northing, negative without it): fix the "
                "file name, or use a dataset type without positions"
            )


def _refuse_fractional(folder: Folder) -> None:
    """With `positive_frames`, coordinates are frame numbers: a non-integer one is refused, naming the file."""
    for image, (x, y, _) in zip(folder.images, folder.positions):
        if x != round(x) or y != round(y):
            raise LayoutError(
                f"{folder.describe(image)}: coordinates {x:g}, {y:g} are not frame numbers (integers), which the "
                "option positive_frames needs: leave it out to count metres with positive_distance"
            )


def _refuse_other_zones(database: Folder, query: Folder) -> None:
    """Query images in a UTM zone that no database image is in (where names give a zone)."""
    first: dict[str | None, str] = {}
    for image, (_, _, zone) in zip(database.images, database.positions):
        first.setdefault(zone, image)
    known = [z for z in first if z is not None]
    if not known:
        return
    for image, (_, _, zone) in zip(query.images, query.positions):
        if zone is not None and zone not in first:
            raise LayoutError(
                f"{query.describe(image)} is in UTM zone {zone} but no database image is (e.g. "
                f"{database.describe(first[known[0]])} is in zone {known[0]}): metres in different zones are not "
                "comparable; use a database and queries of the same area"
            )


def _layout(root: Path, opts: UtmOptions, where: str) -> Layout:
    """Every check of the module docstring (listing and names only): the folders with their positions."""
    base, prefix = find_root(Path(root), lambda p: (p / "images").is_dir(), "VPR-datasets-downloader layout")
    split_rel = _split_folder(base, opts)
    split = base / split_rel
    database = _database_name(split, opts, where)
    ref = read_folder(base, prefix, f"{split_rel}/{database}", database)
    queries = [read_folder(base, prefix, f"{split_rel}/{q}", q) for q in _query_names(split, opts, database, where)]
    for folder in [ref, *queries]:
        folder.positions = _positions(folder)
    for query in queries:
        _refuse_other_zones(ref, query)
    if opts.positive_frames is not None:
        for folder in [ref, *queries]:
            _refuse_fractional(folder)
    return Layout(_train_folder(base, prefix, split_rel, opts, where), ref, queries)


def check_layout(root: Path, opts: UtmOptions, name: str = "utm") -> None:
    """The split, database and query folders exist, hold images named with positions, in one UTM zone."""
    _layout(root, opts, f"datasets.{name}")


def _rows(folder: Folder, role: str) -> list[dict]:
    """Manifest rows of one folder in row order; x, y empty (NaN) where a training name has no position."""
    positions = folder.positions or [
        coordinates(i.rsplit("/", 1)[-1]) or (math.nan, math.nan, None) for i in folder.images
    ]
    return [
        {"image": f"{folder.prefix}{image}", "role": role, "place": i, "condition": folder.name, "x": x, "y": y}
        for i, (image, (x, y, _)) in enumerate(zip(folder.images, positions))
    ]


def prepare(root: Path, opts: UtmOptions, name: str = "utm") -> pd.DataFrame:
    """Manifest rows (image, role, place, condition, x, y): train, reference, then each query set."""
    layout = _layout(root, opts, f"datasets.{name}")
    rows = _rows(layout.train, "train") if layout.train is not None else []
    rows += _rows(layout.database, "reference")
    for query in layout.queries:
        rows += _rows(query, "query")
    return pd.DataFrame(rows, columns=COLUMNS)


def protocol(opts: UtmOptions) -> str:
    """Caption fragment: the ground truth and the split read."""
    if opts.positive_frames is not None:
        return (
            f"positives: database images within ±{opts.positive_frames} frames (file-name coordinates as frame "
            f"numbers, exact in integers); split {opts.split}"
        )
    return (
        f"positives: database images within {opts.positive_distance:g} m (UTM, Euclidean, inclusive), as "
        f"VPR-methods-evaluation counts them; split {opts.split}"
    )


def train_set(opts: UtmOptions) -> str:
    """What a trained row trains on: the `train` folder, else the split's images/train/database."""
    if opts.train is not None:
        return f"folder {opts.train}"
    return "the images/train/database folder beside the evaluated split (the dataset's own train split)"


DATASET = DatasetType(
    name="utm",
    options=UtmOptions,
    prepare=prepare,
    check_layout=check_layout,
    scoring="recall",
    ground_truth="positions",
    route_order=lambda o: o.route_order,
    protocol=protocol,
    train_set=train_set,
)
