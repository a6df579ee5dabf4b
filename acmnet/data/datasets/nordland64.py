"""Nordland, the SeqSLAM-era release: 64x32 grey images at 1 frame per second, four seasons.

Source: http://www.tu-chemnitz.de/etit/proaut/datasets/nordland/64x32-grayscale-1fps.tar (NRK
"Nordlandsbanen" footage, CC BY 3.0). Not the Olid et al. partition (`nordland`), and not the
Patch-NetVLAD / VPR-Bench / VPR-datasets-downloader "Nordland" either.

Layout: the tar unpacks to a TOP FOLDER holding one folder per season, frames numbered from
00001 (`images-NNNNN.png`, NNNNN the frame number in the 1 fps sequence; at least 35601 per season,
the exact count is not public); the same file name is the same place in every season::

    64x32-grayscale-1fps/{spring,summer,fall,winter}/images-00001.png ...

The dataset root may be the folder the tar was extracted into (holding `64x32-grayscale-1fps/`,
or any one top folder) or the top folder itself; `prepare` says which folder it read, and image
paths in the manifest stay relative to the configured root. The development sample
`data/nordland64` has the season folders directly under its root, plus `frames.csv`.

Which frames are kept (options):

* `frame_step` (default 1): keep frame numbers that are multiples of it (10: frames 10, 20, ...).
* `frame_range` (default null = all): [first, last] frame numbers kept, inclusive.
  `frame_step: 10, frame_range: [10, 17880]` on the public tar gives exactly the 1788 files of the
  development sample (every 10th frame of the first half of the route).

Every kept frame number from the first to the last (or over `frame_range`) must exist in every
season the options use (the seasons are frame-synchronised); a gap or a missing file is reported.
Place = rank of the file among ALL kept frames, so places keep their spacing across frames left
out below, and a tolerance of 2 means +/-2 kept files (+/-20 s with `frame_step: 10`).

Which kept frames are left out (usable = 0):

* With `frames.csv` (`frame,file,usable`; option `frames_csv`, default `frames.csv`, read when
  present, null to ignore it): the csv is the list of files (filtered by step and range); rows
  with `usable=0` are left out of every role. The csv must describe the tree exactly.
* Without it, from the images, reproducing the sample's marking ("blank, near-blank (pixel std
  < 5) or byte-identical duplicates in either season"): a frame is left out when, in any season
  the options use, its pixels (8-bit RGB) have a standard deviation below `drop_blank_std`
  (default 5.0; null: no check; std 0 = blank) or its file is byte-identical to another kept
  frame's file of that season (`drop_duplicates`, default true; every copy is left out). This
  decodes every kept frame (64x32 PNGs: a few seconds for the whole route); the layout check
  (`check_layout`) decodes nothing. On the development sample, with frames.csv ignored, this rule
  marks exactly the csv's 58 frames (tests/data/datasets/test_nordland64.py).

Protocol defaults (as the paper does for partitioned Nordland): train = summer, reference =
summer, query = winter, tolerance +/-2 places. Seasons are options (any folder name).
Row order: each (role, season) in frame order, which is recording order (time): sequence matching
relies on it. Names that are not `images-NNNNN.png` (readmes) and hidden or sidecar files
(`._images-00001.png`, `.DS_Store`) are ignored.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from dataclasses import dataclass, field
from functools import reduce
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd

from acmnet.config import ConfigError, bounded
from acmnet.data.datasets.base import DatasetType, LayoutError, find_root, listing
from acmnet.data.download import Download
from acmnet.io import list_files, list_folders, load_rgb

URL = "http://www.tu-chemnitz.de/etit/proaut/datasets/nordland/64x32-grayscale-1fps.tar"
TOP = "64x32-grayscale-1fps"
SEASONS = ("spring", "summer", "fall", "winter")
SOURCES = [
    Download(url=URL, filename=f"{TOP}.tar", extract=True, present=tuple(f"{TOP}/{s}" for s in SEASONS) + SEASONS)
]
PATTERN = re.compile(r"images-(\d{5})\.png")
DEFAULT_FRAMES_CSV = "frames.csv"


@dataclass
class Nordland64Options:
    train_season: str = "summer"
    reference_season: str = "summer"
    query_seasons: list[str] = field(default_factory=lambda: ["winter"])
    frames_csv: str | None = DEFAULT_FRAMES_CSV  # read when present; null: ignore it
    frame_step: int = bounded(1, lo=1)  # keep frame numbers that are multiples of this
    frame_range: tuple[int, int] | None = None  # [first, last] frame numbers kept; null: all
    drop_blank_std: float | None = bounded(5.0, lo=0)  # without frames.csv: leave out std < this
    drop_duplicates: bool = True  # without frames.csv: leave out byte-identical frames
    # A stretch of the kept frames, as fractions of their count: [0, 0.5] the first half (in frame
    # order), [0.5, 1] the second; two datasets on one root then hold disjoint places.
    part: tuple[float, float] = bounded((0.0, 1.0), lo=0.0, hi=1.0)

    def check(self, where: str) -> None:
        if not self.query_seasons:
            raise ConfigError(f"{where}.query_seasons is empty: name at least one season folder")
        if self.reference_season in self.query_seasons:
            raise ConfigError(f"{where}: `{self.reference_season}` is both the reference and a query season")
        if self.part[0] >= self.part[1]:
            raise ConfigError(f"{where}.part must be [start, end] fractions with start < end, got {list(self.part)}")
        if self.frame_range is not None:
            first, last = self.frame_range
            if not 1 <= first <= last:
                raise ConfigError(
                    f"{where}.frame_range must be [first, last] with 1 <= first <= last (frames are "
                    f"numbered from 1), got {list(self.frame_range)}"
                )

    def seasons(self) -> list[str]:
        """Every season folder the options use, once each, in role order."""
        return list(dict.fromkeys([self.train_season, self.reference_season, *self.query_seasons]))

    def keeps(self, frame: int) -> bool:
        """Whether frame number `frame` is kept by `frame_step` and `frame_range`."""
        if self.frame_range is not None and not self.frame_range[0] <= frame <= self.frame_range[1]:
            return False
        return frame % self.frame_step == 0


@dataclass
class Catalogue:
    """The checked tree: where it lies and which files are kept, in place order."""

    base: Path  # the folder holding the season folders
    prefix: str  # path from the dataset root to `base` ("" or "<top>/")
    order: list[str]  # every kept file name, in frame order; place = index in this list
    usable: set[str] | None  # from frames.csv; None: no csv (computed from the images by `prepare`)


def image_name(frame: int) -> str:
    return f"images-{frame:05d}.png"


def frame_of(name: str) -> int:
    return int(PATTERN.fullmatch(name).group(1))


def _root_error(root: Path, seasons: list[str]) -> LayoutError:
    hint = ""
    nested = sorted({p.parent for s in seasons for p in root.glob(f"*/*/{s}") if p.is_dir()}) if root.is_dir() else []
    if nested:
        hint = f" The tree is two levels deeper: use {nested[0]} as the root."
    elif root.name in SEASONS or (root.is_dir() and any(PATTERN.fullmatch(n) for n in list_files(root))):
        hint = f" The root points inside a season folder: use {root.parent} instead."
    elif (root / f"{TOP}.tar").is_file():
        hint = f" {TOP}.tar is here but not extracted: run `acmnet download nordland64 --root {root}`."
    return LayoutError(
        f"{root} holds none of the season folders {', '.join(seasons)}, directly or under one top folder.{hint} "
        f"Download {URL} and extract it so that {root}/{TOP}/{seasons[0]}/images-00001.png exists"
    )


def _locate(root: Path, seasons: list[str]) -> tuple[Path, str]:
    base, prefix = find_root(root, lambda p: any((p / s).is_dir() for s in seasons), "nordland64 (64x32 release)")
    if not any((base / s).is_dir() for s in seasons):
        raise _root_error(root, seasons)
    return base, prefix


def _season_files(base: Path, seasons: list[str]) -> dict[str, set[str]]:
    found = {}
    for season in seasons:
        folder = base / season
        if not folder.is_dir():
            raise LayoutError(
                f"{folder} is missing (season folders here: {', '.join(list_folders(base)) or 'none'}): the "
                "archive is half-extracted, or the season option names a folder this release lacks"
            )
        found[season] = {n for n in list_files(folder) if PATTERN.fullmatch(n)}
    return found


def _missing_error(folder: Path, missing: list[str], total: int, fix: str) -> LayoutError:
    return LayoutError(f"{folder} lacks {len(missing)} of its {total} images (first: {listing(missing)}): {fix}")


def _read_frames_csv(path: Path) -> pd.DataFrame:
    """frames.csv, checked: columns frame,file,usable; names images-NNNNN.png matching `frame`."""
    try:
        frames = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise LayoutError(f"{path} cannot be read as CSV ({exc}): restore it from the dataset") from exc
    lacking = [c for c in ("frame", "file", "usable") if c not in frames.columns]
    if lacking:
        raise LayoutError(f"{path} lacks column(s) {', '.join(lacking)}; expected a header `frame,file,usable`")
    frames["file"] = frames["file"].astype(str)
    if frames["file"].duplicated().any():
        raise LayoutError(f"{path} lists {frames['file'][frames['file'].duplicated()].iloc[0]} twice")
    bad = [f for f in frames["file"] if not PATTERN.fullmatch(f)]
    if bad:
        raise LayoutError(f"{path} lists {len(bad)} file name(s) not of the form images-NNNNN.png ({listing(bad)})")
    for column in ("frame", "usable"):
        values = pd.to_numeric(frames[column], errors="coerce")
        if values.isna().any():
            row = int(np.flatnonzero(values.isna())[0])
            raise LayoutError(f"{path}, data row {row + 1}: `{column}` is {frames[column].iloc[row]!r}, not a number")
        frames[column] = values.astype("int64")
    off = frames["frame"] != frames["file"].map(frame_of)
    if off.any():
        row = frames[off].iloc[0]
        raise LayoutError(f"{path}: frame {row['frame']} is listed with file {row['file']}; the numbers must agree")
    return frames.sort_values("frame", kind="stable").reset_index(drop=True)


def _from_csv(
    csv_path: Path, base: Path, found: dict[str, set[str]], opts: Nordland64Options
) -> tuple[list[str], set[str]]:
    frames = _read_frames_csv(csv_path)
    frames = frames[[opts.keeps(int(f)) for f in frames["frame"]]]
    order = frames["file"].tolist()
    if not order:
        raise LayoutError(
            f"{csv_path} lists no frame kept by frame_step {opts.frame_step} and frame_range "
            f"{opts.frame_range}: change those options"
        )
    kept = set(order)
    for season, names in found.items():
        missing = [n for n in order if n not in names]
        if missing:
            raise _missing_error(
                base / season,
                missing,
                len(order),
                f"every file of {csv_path.name} must exist in every season; extract the dataset again",
            )
        extra = sorted(n for n in names - kept if opts.keeps(frame_of(n)))
        if extra:
            raise LayoutError(
                f"{base / season} holds {len(extra)} image(s) not listed in {csv_path} ({listing(extra)}): the "
                "csv does not describe this tree; remove the extra files, or set frames_csv: null to use every file"
            )
    return order, set(frames.loc[frames["usable"] != 0, "file"])


def _grid(found: dict[str, set[str]], opts: Nordland64Options, base: Path) -> list[int]:
    """The kept frame numbers every season must hold, in order."""
    kept = sorted({frame_of(n) for names in found.values() for n in names if opts.keeps(frame_of(n))})
    step = opts.frame_step
    if opts.frame_range is not None:
        first, last = -(-opts.frame_range[0] // step) * step, opts.frame_range[1] // step * step
    elif kept:
        first, last = kept[0], kept[-1]
    else:
        first, last = 1, 0
    if first > last or not kept:
        raise LayoutError(
            f"{', '.join(str(base / s) for s in found)} hold no images-NNNNN.png file kept by frame_step "
            f"{step} and frame_range {opts.frame_range}: extract the dataset again, or change those options"
        )
    return list(range(first, last + 1, step))


def _gap_fix(found: dict[str, set[str]], grid: list[int], opts: Nordland64Options) -> str:
    kept = sorted({frame_of(n) for names in found.values() for n in names if opts.keeps(frame_of(n))})
    fix = (
        f"the seasons are frame-synchronised (frames {grid[0]}..{grid[-1]} in steps of {opts.frame_step} "
        f"across {', '.join(found)}); the archive is incomplete or half-extracted, extract it again"
    )
    spacing = reduce(math.gcd, (b - a for a, b in pairwise(kept)), 0)
    if spacing > opts.frame_step:
        fix += f", or, if this tree holds every {spacing}th frame on purpose, set frame_step: {spacing}"
    if opts.frame_range is not None and kept and kept[-1] < grid[-1]:
        fix += f" (frame_range ends at {opts.frame_range[1]}; the last frame here is {kept[-1]})"
    return fix


def _from_tree(base: Path, found: dict[str, set[str]], opts: Nordland64Options) -> list[str]:
    grid = _grid(found, opts, base)
    order = [image_name(n) for n in grid]
    for season, names in found.items():
        missing = [n for n in order if n not in names]
        if missing:
            raise _missing_error(base / season, missing, len(order), _gap_fix(found, grid, opts))
    return order


def catalogue(root: Path, opts: Nordland64Options) -> Catalogue:
    """The kept files in place order (and the usable ones when frames.csv exists), after checking
    the layout. Lists folders and reads `frames.csv`; decodes no image."""
    root = Path(root)
    seasons = opts.seasons()
    base, prefix = _locate(root, seasons)
    csv_path = base / opts.frames_csv if opts.frames_csv else None
    if csv_path is not None and not csv_path.is_file() and opts.frames_csv != DEFAULT_FRAMES_CSV:
        raise LayoutError(f"{csv_path} does not exist: fix `frames_csv`, or set it to null to list the folders")
    found = _season_files(base, seasons)
    if csv_path is not None and csv_path.is_file():
        order, usable = _from_csv(csv_path, base, found, opts)
        return Catalogue(base, prefix, order, usable)
    return Catalogue(base, prefix, _from_tree(base, found, opts), None)


def _pixel_std(path: Path, where: str) -> float:
    try:
        return float(load_rgb(path).std())
    except ValueError as exc:
        raise LayoutError(
            f"{exc}: extract the dataset again, or set {where}.drop_blank_std: null to skip the "
            "blank-frame check (it decodes every kept frame)"
        ) from exc


def unusable_frames(
    base: Path, order: list[str], seasons: list[str], opts: Nordland64Options, where: str = "datasets.nordland64"
) -> dict[str, str]:
    """{file name: why} of the kept frames left out without frames.csv: blank or near-blank (8-bit
    pixel std below `drop_blank_std`, or 0) or byte-identical to another kept frame, in any season."""
    why: dict[str, str] = {}
    for season in seasons:
        copies: dict[str, list[str]] = {}
        for name in order:
            path = base / season / name
            if opts.drop_blank_std is not None:
                std = _pixel_std(path, where)
                if std == 0 or std < opts.drop_blank_std:
                    why.setdefault(name, f"{season}: pixel std {std:.2f} < {opts.drop_blank_std:g}")
            if opts.drop_duplicates:
                copies.setdefault(hashlib.sha256(path.read_bytes()).hexdigest(), []).append(name)
        for names in copies.values():
            for name in names if len(names) > 1 else ():
                why.setdefault(name, f"{season}: byte-identical to {names[1] if name == names[0] else names[0]}")
    return why


def check_layout(root: Path, opts: Nordland64Options) -> None:
    """The season folders hold the expected files (see `catalogue`); nothing is decoded."""
    catalogue(Path(root), opts)


def prepare(root: Path, opts: Nordland64Options, name: str = "nordland64") -> pd.DataFrame:
    """Manifest rows: train/reference/query seasons, usable kept frames only, in frame order (time)."""
    cat = catalogue(Path(root), opts)
    usable = cat.usable
    if usable is None:
        dropped = unusable_frames(cat.base, cat.order, opts.seasons(), opts, f"datasets.{name}")
        usable = set(cat.order) - set(dropped)
    start, end = (round(f * len(cat.order)) for f in opts.part)
    places = [(n, i) for i, n in enumerate(cat.order) if n in usable and start <= i < end]
    if not places:
        raise LayoutError(
            f"datasets.{name}.part {list(opts.part)} of the {len(cat.order)} kept frames holds no "
            "usable frame: widen it"
        )
    parts = [("train", opts.train_season), ("reference", opts.reference_season)]
    parts += [("query", s) for s in opts.query_seasons]
    rows = [
        {"image": f"{cat.prefix}{season}/{n}", "role": role, "place": place, "condition": season}
        for role, season in parts
        for n, place in places
    ]
    return pd.DataFrame(rows, columns=["image", "role", "place", "condition"])


def protocol(opts: Nordland64Options) -> str:
    """The frames kept and the stretch of the route, for captions."""
    kept = f"every {opts.frame_step}th frame" if opts.frame_step > 1 else "every frame"
    if opts.frame_range is not None:
        kept += f" of frames {opts.frame_range[0]}-{opts.frame_range[1]}"
    computed = f"blank (pixel std < {opts.drop_blank_std})" if opts.drop_blank_std is not None else ""
    computed += (" and " if computed else "") + "byte-identical" if opts.drop_duplicates else ""
    computed = f"{computed} frames left out" if computed else "every frame kept"
    dropped = (
        f"{opts.frames_csv}'s usable column when the root has one, else {computed}" if opts.frames_csv else computed
    )
    stretch = (
        "the whole route" if tuple(opts.part) == (0.0, 1.0) else f"the stretch {list(opts.part)} of the kept frames"
    )
    return (
        f"Nordland 64x32: {kept} ({dropped}), {stretch}, one unbroken stretch of the 1 fps release (no "
        f"join: places count the frames left out, and sequences step over them); {opts.reference_season} "
        f"references, {', '.join(opts.query_seasons)} queries"
    )


def window(opts: Nordland64Options, tolerance: int) -> str:
    """The place window in kept files, in frames and in seconds of the 1 fps release."""
    frames = tolerance * opts.frame_step
    return f"±{tolerance} kept frames (±{frames} frames, ±{frames} s of the 1 fps release)"


def shared_places(root: str, opts: Nordland64Options, other_root: str, other: Nordland64Options) -> str | None:
    """The stretch of the route two datasets of one root both hold (their `part` ranges overlap), or None."""
    start, end = max(opts.part[0], other.part[0]), min(opts.part[1], other.part[1])
    one_route = os.path.normpath(root) == os.path.normpath(other_root) and opts.frame_range == other.frame_range
    if not one_route or start >= end:  # other frame ranges: `part` fractions of other lists, not compared
        return None
    return f"the stretch [{start:g}, {end:g}] of the kept frames of {root}"


def train_set(opts: Nordland64Options) -> str:
    """What a trained row trains on: the train season's frames of the dataset's own places."""
    return (
        f"the {opts.train_season} frames of the dataset's own kept frames and stretch (the places of its "
        f"{opts.reference_season} references)"
    )


def files_read(root: Path, opts: Nordland64Options) -> list[Path]:
    """`frames_csv` (an input of `prepare` by content, wherever it lives; beside the season folders
    when relative, the root itself when those are not found yet)."""
    if not opts.frames_csv:
        return []
    try:
        base = _locate(Path(root), opts.seasons())[0]
    except LayoutError:
        base = Path(root)
    return [base / opts.frames_csv]


DATASET = DatasetType(
    name="nordland64",
    options=Nordland64Options,
    prepare=prepare,
    check_layout=check_layout,
    sources=SOURCES,
    scoring="recall",
    protocol=protocol,
    window=window,
    shared_places=shared_places,
    train_set=train_set,
    files_read=files_read,
)
