"""Nordland, the SeqSLAM-era release: 64x32 grey images at 1 frame per second, four seasons.

Source: http://www.tu-chemnitz.de/etit/proaut/datasets/nordland/64x32-grayscale-1fps.tar (NRK
"Nordlandsbanen" footage, CC BY 3.0). Not the Olid et al. partition (`nordland`), and not the
Patch-NetVLAD / VPR-Bench / VPR-datasets-downloader "Nordland" either.

Layout under the dataset root: one folder per season, images named `images-NNNNN.png`, NNNNN the
frame number in the 1 fps sequence; the same file name is the same place in every season::

    summer/images-00010.png ...
    winter/images-00010.png ...
    frames.csv            (optional: frame,file,usable)

Two cases:

* With `frames.csv` (the development sample `data/nordland64`: every 10th frame of the first half
  of the route, frames 10..17880, 1788 files, 58 of them `usable=0`): the csv is the list of
  files. Every listed file must exist in every season used; place = rank of the file in frame
  order over ALL listed rows (so places keep their spacing across left-out stretches and a
  tolerance of 2 means +/-2 files); rows with `usable=0` are left out of every role.
* Without it (the full tar): ASSUMED, not verified on the real archive: the tar unpacks to season
  folders `spring`, `summer`, `fall`, `winter` (directly, or under one top folder, in which case
  the layout check names the root to use) holding `images-NNNNN.png` files with five-digit frame
  numbers, frame-synchronised across seasons (same name = same place, same count). The
  expected files are the frame numbers from the smallest to the largest seen in any season used,
  in steps of their greatest common difference (1 for the full 1 fps release); a gap or a file
  missing in one season is reported. Place = rank in frame order. Season names are not
  restricted: an option names a folder, and a missing one lists the folders found.

Protocol defaults (as the paper does for partitioned Nordland): train = summer, reference =
summer, query = winter, tolerance +/-2 places. Seasons are options.

Extra files: names that are not `images-NNNNN.png` (readmes, `.DS_Store`) are ignored;
`images-NNNNN.png` files absent from `frames.csv` are reported (the csv does not describe the tree).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from functools import reduce
from pathlib import Path

import pandas as pd

from acmnet.config import ConfigError
from acmnet.data.datasets.base import DatasetType, LayoutError
from acmnet.data.download import Download

URL = "http://www.tu-chemnitz.de/etit/proaut/datasets/nordland/64x32-grayscale-1fps.tar"
SOURCES = [Download(url=URL, filename="64x32-grayscale-1fps.tar", extract=True)]
SEASONS = ("spring", "summer", "fall", "winter")
PATTERN = re.compile(r"images-(\d{5})\.png")
DEFAULT_FRAMES_CSV = "frames.csv"


@dataclass
class Nordland64Options:
    train_season: str = "summer"
    reference_season: str = "summer"
    query_seasons: list[str] = field(default_factory=lambda: ["winter"])
    frames_csv: str | None = DEFAULT_FRAMES_CSV  # read when present; null: ignore it

    def check(self, where: str) -> None:
        if not self.query_seasons:
            raise ConfigError(f"{where}.query_seasons is empty: name at least one season folder")
        if self.reference_season in self.query_seasons:
            raise ConfigError(f"{where}: `{self.reference_season}` is both the reference and a query season")

    def seasons(self) -> list[str]:
        """Every season folder the options use, once each, in role order."""
        return list(dict.fromkeys([self.train_season, self.reference_season, *self.query_seasons]))


def _listing(names: list[str], limit: int = 5) -> str:
    return ", ".join(names[:limit]) + (", ..." if len(names) > limit else "")


def _season_names(folder: Path) -> set[str]:
    return {n for n in os.listdir(folder) if PATTERN.fullmatch(n)}


def _check_root(root: Path, seasons: list[str]) -> None:
    if any((root / s).is_dir() for s in seasons):
        return
    hint = ""
    nested = sorted({p.parent for s in seasons for p in root.glob(f"*/{s}") if p.is_dir()})
    if nested:
        hint = f" The tree is one level deeper (the archive's top folder): use {nested[0]} as the root."
    elif root.name in SEASONS or (root.is_dir() and _season_names(root)):
        hint = f" The root points inside a season folder: use {root.parent} instead."
    raise LayoutError(
        f"{root} holds none of the season folders {', '.join(seasons)}.{hint} Download {URL} and "
        f"extract it so that {root}/{seasons[0]}/images-NNNNN.png files exist"
    )


def _check_season_folders(root: Path, seasons: list[str]) -> dict[str, set[str]]:
    found = {}
    for season in seasons:
        folder = root / season
        if not folder.is_dir():
            present = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
            raise LayoutError(
                f"{folder} is missing (season folders here: {', '.join(present) or 'none'}): the "
                "archive is half-extracted, or the season option names a folder this release lacks"
            )
        found[season] = _season_names(folder)
    return found


def _read_frames_csv(path: Path) -> pd.DataFrame:
    try:
        frames = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise LayoutError(f"{path} cannot be read as CSV ({exc}): restore it from the dataset") from exc
    needed = ["frame", "file", "usable"]
    lacking = [c for c in needed if c not in frames.columns]
    if lacking:
        raise LayoutError(f"{path} lacks column(s) {', '.join(lacking)}; expected a header `frame,file,usable`")
    if frames["file"].duplicated().any():
        raise LayoutError(f"{path} lists {frames['file'][frames['file'].duplicated()].iloc[0]} twice")
    bad = [str(f) for f in frames["file"] if not PATTERN.fullmatch(str(f))]
    if bad:
        raise LayoutError(f"{path} lists {len(bad)} file name(s) not of the form images-NNNNN.png ({_listing(bad)})")
    return frames.sort_values("frame", kind="stable").reset_index(drop=True)


def _missing_error(folder: Path, missing: list[str], total: int, fix: str) -> LayoutError:
    return LayoutError(f"{folder} lacks {len(missing)} of its {total} images (first: {_listing(missing)}): {fix}")


def catalogue(root: Path, seasons: list[str], frames_csv: str | None = DEFAULT_FRAMES_CSV) -> tuple[list[str], set[str]]:
    """(every expected file name in place order, the usable ones), after checking the layout.

    Lists folders and reads `frames.csv`; decodes no image.
    """
    root = Path(root)
    _check_root(root, seasons)
    csv_path = root / frames_csv if frames_csv else None
    if csv_path is not None and not csv_path.is_file() and frames_csv != DEFAULT_FRAMES_CSV:
        raise LayoutError(f"{csv_path} does not exist: fix `frames_csv`, or set it to null to list the folders")
    found = _check_season_folders(root, seasons)
    if csv_path is not None and csv_path.is_file():
        frames = _read_frames_csv(csv_path)
        order = frames["file"].astype(str).tolist()
        usable = set(frames.loc[frames["usable"] != 0, "file"].astype(str))
        for season in seasons:
            missing = [n for n in order if n not in found[season]]
            if missing:
                raise _missing_error(root / season, missing, len(order),
                                     f"every file of {csv_path.name} must exist in every season; extract the dataset again")
            extra = sorted(found[season] - set(order))
            if extra:
                raise LayoutError(
                    f"{root / season} holds {len(extra)} image(s) not listed in {csv_path} "
                    f"({_listing(extra)}): the csv does not describe this tree; remove the extra "
                    "files, or set frames_csv: null to use every file"
                )
        return order, usable
    everything = set().union(*found.values())
    if not everything:
        raise LayoutError(f"{', '.join(str(root / s) for s in seasons)} hold no images-NNNNN.png files: extract the dataset again")
    numbers = sorted(int(PATTERN.fullmatch(n).group(1)) for n in everything)
    step = reduce(math.gcd, (b - a for a, b in zip(numbers, numbers[1:])), 0) or 1
    order = [f"images-{n:05d}.png" for n in range(numbers[0], numbers[-1] + 1, step)]
    for season in seasons:
        missing = [n for n in order if n not in found[season]]
        if missing:
            raise _missing_error(
                root / season, missing, len(order),
                f"the seasons are frame-synchronised (frames {numbers[0]}..{numbers[-1]} in steps of "
                f"{step} across {', '.join(seasons)}); the archive is incomplete or half-extracted, "
                "extract it again",
            )
    return order, set(order)


def check_layout(root: Path, opts: Nordland64Options) -> None:
    """The season folders hold the expected files (see `catalogue`); nothing is decoded."""
    catalogue(Path(root), opts.seasons(), opts.frames_csv)


def prepare(root: Path, opts: Nordland64Options, name: str = "nordland64") -> pd.DataFrame:
    """Manifest rows: train/reference/query seasons; usable files only when frames.csv exists."""
    order, usable = catalogue(Path(root), opts.seasons(), opts.frames_csv)
    places = [(n, i) for i, n in enumerate(order) if n in usable]
    parts = [("train", opts.train_season), ("reference", opts.reference_season)]
    parts += [("query", s) for s in opts.query_seasons]
    rows = [
        {"image": f"{season}/{n}", "role": role, "place": place, "condition": season}
        for role, season in parts
        for n, place in places
    ]
    return pd.DataFrame(rows, columns=["image", "role", "place", "condition"])


DATASET = DatasetType(name="nordland64", options=Nordland64Options, prepare=prepare, check_layout=check_layout,
                      sources=SOURCES, scoring="recall")
