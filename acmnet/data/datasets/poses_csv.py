"""Your own images with a pose file per folder: ground truth from poses, not from file names.

The folders of VPR-datasets-downloader (`database/`, `queries/`, `queries_<name>/`), each holding
the images and a `poses.csv`::

    <root>/database/poses.csv         name,lat,lon[,yaw]   or   name,x,y[,z][,yaw]
    <root>/database/<name>            the images the rows name (paths relative to the folder)
    <root>/queries/poses.csv          one query set per folder `queries` or `queries_<name>`

Columns: `name` (the image file, relative to its folder) and either `lat, lon` (WGS84 degrees,
converted to UTM metres with pyproj; the zone and hemisphere come from the data, one for the whole
dataset, else refused) or `x, y` (metres), either with an optional `z` (metres: positives in 3-D); `yaw`
(degrees, any range) is needed when the option `positive_angle` is set. Every folder of a dataset
has the same columns. Other columns are ignored.

Options: `positive_distance` (metres, default 25: a positive lies within it, inclusive, 2-D or 3-D
as the columns give), `positive_angle` (degrees or null: also within it in yaw, inclusive, with
wrap-around: 359 and 1 are 2 apart), `database` (default `database`), `queries` (default every
`queries` / `queries_<name>` folder, `queries` first), `route_order` (default false: true only when
each CSV lists its images in driving order).

Rows: train (the database rows again: an evaluation set's database is its training set unless
`train_on` names another dataset), reference, then each query set, each in its CSV's row order;
columns x, y (UTM or the given metres), z where given and yaw where given. Ground truth `poses`
(`acmnet.data.positives.from_poses`).

Refused, naming the file and the line: a missing folder or poses.csv, a CSV without `name` or
without a complete coordinate pair (or with both forms), an empty or non-numeric or NaN value, a
latitude outside -80..84 (beyond UTM) or longitude outside -180..180, a name given twice (after
normalising `./a.jpg` to `a.jpg`), an absolute name or one leaving the folder, a name with no file;
and an image in the folder that the CSV does not list. Folders with different columns, or
latitudes and longitudes in more than one UTM zone (the two rows named) are refused too.

Differences from AnyLoc's Baidu Mall loader (custom_datasets/baidu_dataloader.py, commit f69501e):
it reads 3-D camera centres and ZYX Euler angles, and with `use_ang_positives` keeps a reference
when `mean(|euler_q - euler_db|) < 20` (three angles, strict, no wrap-around: 179 and -179 are 358
apart) within 10 m; here one yaw angle is compared, inclusive, with wrap-around.
"""

from __future__ import annotations

import csv
import math
import os
import posixpath
from dataclasses import dataclass, field
from pathlib import Path, PureWindowsPath

import numpy as np
import pandas as pd

from acmnet.config import ConfigError, bounded
from acmnet.data.datasets.base import DatasetType, LayoutError, listing
from acmnet.data.manifest import COLUMNS
from acmnet.io import is_sidecar, list_folders

POSES = "poses.csv"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
LATITUDE = (-80.0, 84.0)  # degrees: where UTM is defined (beyond: the polar UPS)


class PosesError(LayoutError):
    """A poses.csv does not describe its folder; the message names the file and line."""


@dataclass
class PosesCsvOptions:
    positive_distance: float = bounded(25.0, above=0)  # metres, inclusive, 2-D or 3-D as the CSVs give
    positive_angle: float | None = bounded(None, lo=0, hi=180)  # degrees of yaw, inclusive; None: no angle
    database: str = "database"  # folder under the root
    queries: list[str] = field(default_factory=list)  # empty: every `queries` / `queries_<name>` folder
    route_order: bool = False  # true only when each CSV lists its images in driving order

    def check(self, where: str) -> None:
        if self.database in self.queries:
            raise ConfigError(f"{where}.queries names the database folder `{self.database}`: name query folders only")


@dataclass
class PoseFolder:
    """One folder's CSV rows, checked: image names (relative to the folder) and metres."""

    name: str
    csv: Path
    images: list[str]
    xyz: np.ndarray  # float64 (N, 2) or (N, 3): x, y[, z] metres (UTM when the CSV gave lat, lon)
    yaw: np.ndarray | None  # float64 (N,) degrees, or None without the column
    form: tuple[str, ...]  # the coordinate columns read, e.g. ("lat", "lon", "yaw")
    lines: list[int]  # the CSV line of each row (for messages)


def _form(path: Path, header: list[str]) -> tuple[str, ...]:
    """Which coordinate columns the header gives: (lat, lon) or (x, y[, z]), plus yaw when present."""
    have = set(header)
    if "name" not in have:
        raise PosesError(f"{path}, line 1: no `name` column (header: {','.join(header)}): name the image of each row")
    geo, metric = {"lat", "lon"} & have, {"x", "y"} & have
    if geo and metric:
        raise PosesError(f"{path}, line 1: both lat/lon and x/y columns: keep one form")
    if geo == {"lat", "lon"}:
        form: tuple[str, ...] = ("lat", "lon", "z") if "z" in have else ("lat", "lon")
    elif metric == {"x", "y"}:
        form = ("x", "y", "z") if "z" in have else ("x", "y")
    else:
        raise PosesError(
            f"{path}, line 1: no complete coordinates (header: {','.join(header)}): give `lat,lon` (WGS84 degrees) "
            "or `x,y` (metres, optionally `z`)"
        )
    return form + (("yaw",) if "yaw" in have else ())


def _number(path: Path, line: int, column: str, text: str | None) -> float:
    try:
        value = float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise PosesError(f"{path}, line {line}: `{column}` is {text!r}, not a number: fix the row") from None
    if not math.isfinite(value):
        raise PosesError(f"{path}, line {line}: `{column}` is {text}: give a finite number")
    return value


def _name(path: Path, line: int, text: str | None) -> str:
    """The row's image name normalised inside the folder (`./a.jpg` -> `a.jpg`); absolute or leaving: refused."""
    raw = (text or "").strip().replace("\\", "/")
    if not raw:
        raise PosesError(f"{path}, line {line}: the name is empty: name the image file")
    normal = posixpath.normpath(raw)
    if raw.startswith("/") or PureWindowsPath(raw).drive or normal == ".." or normal.startswith("../"):
        raise PosesError(
            f"{path}, line {line}: {raw} is not a path inside {path.parent}: name the image relative to it"
        )
    return normal


def _check_latlon(path: Path, line: int, lat: float, lon: float) -> None:
    if not LATITUDE[0] <= lat <= LATITUDE[1]:
        raise PosesError(
            f"{path}, line {line}: latitude {lat:g} is outside {LATITUDE[0]:g}..{LATITUDE[1]:g} (UTM's range; "
            "beyond 90 it is no latitude, check the column order): fix the row, or give x, y in metres"
        )
    if not -180.0 <= lon <= 180.0:
        raise PosesError(f"{path}, line {line}: longitude {lon:g} is outside -180..180: fix the row")


def _images_on_disk(folder: Path) -> list[str]:
    """Image files under `folder` (recursively, posix paths relative to it), sorted."""
    found = []
    for here, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not is_sidecar(d)]
        rel = Path(here).relative_to(folder).as_posix()
        found += [
            n if rel == "." else f"{rel}/{n}"
            for n in files
            if not is_sidecar(n) and os.path.splitext(n)[1].lower() in IMAGE_SUFFIXES
        ]
    return sorted(found)


def read_folder(root: Path, name: str) -> PoseFolder:
    """One folder's poses.csv, checked row by row against the folder (see the module docstring)."""
    folder = Path(root) / name
    path = folder / POSES
    if not path.is_file():
        raise LayoutError(f"{path} does not exist: write one row `name,x,y` or `name,lat,lon` per image of {folder}")
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        form = _form(path, [h.strip() for h in reader.fieldnames or []])
        reader.fieldnames = [h.strip() for h in reader.fieldnames or []]
        images, values, lines, seen = [], [], [], {}
        for row in reader:
            line = reader.line_num
            image = _name(path, line, row.get("name"))
            if image in seen:
                raise PosesError(f"{path}, line {line}: {image} is listed again (first on line {seen[image]})")
            seen[image] = line
            if not (folder / image).is_file():
                raise PosesError(f"{path}, line {line}: {folder / image} does not exist: fix the name or add the image")
            numbers = [_number(path, line, c, row.get(c)) for c in form]
            if form[0] == "lat":
                _check_latlon(path, line, numbers[0], numbers[1])
            images.append(image)
            values.append(numbers)
            lines.append(line)
    if not images:
        raise PosesError(f"{path} lists no images: write one row per image of {folder}")
    unlisted = [i for i in _images_on_disk(folder) if i not in seen]
    if unlisted:
        raise PosesError(
            f"{folder / unlisted[0]} is not in {path} ({len(unlisted)} images of the folder are not): add a row "
            "for each, or move them out of the folder"
        )
    array = np.asarray(values, dtype=np.float64)
    n_xyz = 3 if "z" in form else 2
    yaw = array[:, form.index("yaw")] if "yaw" in form else None
    return PoseFolder(name, path, images, array[:, :n_xyz], yaw, form, lines)


def utm_zone(lat: float, lon: float) -> tuple[int, bool]:
    """(UTM zone number 1..60, southern hemisphere) of a WGS84 point, with the Norway (32V) and
    Svalbard (31X..37X) exceptions, as the `utm` package that VPR-datasets-downloader uses has them."""
    if 56 <= lat < 64 and 3 <= lon < 12:
        return 32, False
    if 72 <= lat <= 84 and lon >= 0:
        for zone, upper in ((31, 9), (33, 21), (35, 33), (37, 42)):
            if lon < upper:
                return zone, False
    return min(int((lon + 180) // 6) + 1, 60), lat < 0


def to_utm(folders: list[PoseFolder]) -> int | None:
    """Convert every lat/lon folder's coordinates to UTM metres in place (easting, northing); the
    one zone of the whole dataset as an EPSG code, None when the folders give metres already."""
    if folders[0].form[0] != "lat":
        return None
    zones: dict[tuple[int, bool], tuple[Path, int]] = {}
    for folder in folders:
        for (lat, lon), line in zip(folder.xyz[:, :2], folder.lines):
            zones.setdefault(utm_zone(lat, lon), (folder.csv, line))
    if len(zones) > 1:
        (za, (fa, la)), (zb, (fb, lb)) = list(zones.items())[:2]
        raise PosesError(
            f"{fa}, line {la} lies in UTM zone {za[0]}{'S' if za[1] else 'N'} but {fb}, line {lb} in zone "
            f"{zb[0]}{'S' if zb[1] else 'N'}: metres of different zones are not comparable; give x, y in one "
            "metric frame instead"
        )
    from pyproj import Transformer

    zone, south = next(iter(zones))
    epsg = (32700 if south else 32600) + zone
    transformer = Transformer.from_crs("EPSG:4326", f"EPSG:{epsg}", always_xy=True)
    for folder in folders:
        east, north = transformer.transform(folder.xyz[:, 1], folder.xyz[:, 0])
        folder.xyz = np.column_stack([east, north, folder.xyz[:, 2:]]).astype(np.float64)
    return epsg


def _query_names(root: Path, opts: PosesCsvOptions) -> list[str]:
    here = list_folders(root)
    if opts.queries:
        return list(opts.queries)
    found = sorted((n for n in here if n == "queries" or n.startswith("queries_")), key=lambda n: (n != "queries", n))
    if not found:
        raise LayoutError(
            f"{root} holds no query folder (`queries` or `queries_<name>`; folders there: {listing(here) or 'none'}): "
            "set the option `queries`"
        )
    return found


@dataclass
class PoseLayout:
    database: PoseFolder
    queries: list[PoseFolder]
    epsg: int | None  # the UTM zone the lat/lon were converted to; None: metres given


def read_layout(root: Path, opts: PosesCsvOptions) -> PoseLayout:
    """Every folder's CSV, checked, in one coordinate form and (for lat/lon) one UTM zone."""
    root = Path(root)
    for name in [opts.database, *_query_names(root, opts)]:
        if not (root / name).is_dir():
            raise LayoutError(
                f"{root / name} does not exist (folders in {root}: {listing(list_folders(root)) or 'none'}): "
                "name the database and query folders with the options `database` and `queries`"
            )
    folders = [read_folder(root, n) for n in [opts.database, *_query_names(root, opts)]]
    for folder in folders[1:]:
        if folder.form != folders[0].form:
            raise PosesError(
                f"{folder.csv} gives {','.join(folder.form)} but {folders[0].csv} gives {','.join(folders[0].form)}: "
                "give every folder the same coordinate columns"
            )
    if opts.positive_angle is not None and "yaw" not in folders[0].form:
        raise PosesError(f"{folders[0].csv} has no `yaw` column, which the option positive_angle needs: add it")
    epsg = to_utm(folders)
    return PoseLayout(folders[0], folders[1:], epsg)


def check_layout(root: Path, opts: PosesCsvOptions) -> None:
    """The folders and their poses.csv exist and agree (nothing is decoded)."""
    read_layout(root, opts)


def _rows(folder: PoseFolder, role: str) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "image": [f"{folder.name}/{i}" for i in folder.images],
            "role": role,
            "place": np.arange(len(folder.images)),
            "condition": folder.name,
            "x": folder.xyz[:, 0],
            "y": folder.xyz[:, 1],
        }
    )
    if folder.xyz.shape[1] == 3:
        frame["z"] = folder.xyz[:, 2]
    if folder.yaw is not None:
        frame["yaw"] = folder.yaw
    return frame


def prepare(root: Path, opts: PosesCsvOptions, name: str = "poses_csv") -> pd.DataFrame:
    """Manifest rows: train (= database), reference, then each query set; x, y[, z][, yaw]."""
    layout = read_layout(root, opts)
    frames = [_rows(layout.database, "train"), _rows(layout.database, "reference")]
    frames += [_rows(q, "query") for q in layout.queries]
    frame = pd.concat(frames, ignore_index=True)
    return frame[[*COLUMNS, *[c for c in frame.columns if c not in COLUMNS]]]


def protocol(opts: PosesCsvOptions) -> str:
    angle = f" and {opts.positive_angle:g}° of yaw (wrap-around)" if opts.positive_angle is not None else ""
    return (
        f"positives: database images within {opts.positive_distance:g} m{angle} of the query's pose in poses.csv "
        "(inclusive); database images double as the training set"
    )


def train_set(opts: PosesCsvOptions) -> str:
    """What a trained row trains on (the manifest's `train` rows)."""
    return "the database/ images, the references themselves (the places evaluated are the places trained on)"


DATASET = DatasetType(
    name="poses_csv",
    options=PosesCsvOptions,
    prepare=prepare,
    check_layout=check_layout,
    scoring="recall",
    protocol=protocol,
    train_set=train_set,
    ground_truth="poses",
    route_order=lambda o: o.route_order,
)
