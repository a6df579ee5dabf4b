"""Nordland, partitioned by Olid et al. (PPNIV@IROS 2018, arXiv 1808.06516): the paper's split.

Two releases, two layouts (page: https://webdiis.unizar.es/~jmfacil/pr-nordland/#download-dataset;
a Google Drive mirror: folder 1SmrDOeUgBnJbpW187VFWxGjS7XdbZK5t):

* `Partitioned_Nordland_Dataset_lowres` (224x224 PNG; the paper names the partition, not the release or an input
  size, and this is the release the suite reads): one archive
  whose TOP FOLDER holds ``Dataset_images/{train,test}/{season}_images_{split}/section{N}/{index}.png``.
  The dataset root may be the folder holding that top folder (where the archive was extracted) or
  the top folder itself; `prepare` says which folder it read, and the manifest's image paths are
  relative to the configured root either way.
* The full-resolution release: one zip per season and split, ``{season}_images_{split}.zip``, each
  unpacking to ``{season}_images_{split}/section{N}/{index}.png`` with NO ``Dataset_images/{split}/``
  above. The root holds those folders directly (or under one top folder). This release is not
  downloaded by `acmnet download`: extract its zips into the root by hand.

Both: seasons summer, winter, fall, spring. Test: 3450 images per season (section1 0..1149,
section2 1150..2299, section3 2300..3449); train: 24570 per season (section1 0..12836, section2
12837..24569). The index is global within a split, and the same index is the same place in every
season (docs/datasets.md).

Protocol (paper section 4.1-4.2): train = summer train partition, reference = summer test,
query = winter test, place = the test index, tolerance +/-2 frames. Seasons are options.
This is not the Patch-NetVLAD, VPR-Bench or VPR-datasets-downloader "Nordland".

Row order: each (role, season) is written in index order, which is recording order (time):
sequence matching relies on it. The layout check lists folders and decodes no image; hidden and
sidecar files (`._0.png`, `.DS_Store`) are never taken for images.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pandas as pd

from acmnet.config import ConfigError
from acmnet.data.datasets.base import DatasetType, LayoutError, find_root, listing, note
from acmnet.data.download import ManualDownload
from acmnet.io import list_files, list_folders

SEASONS = ("summer", "winter", "fall", "spring")
SECTIONS = {
    "test": {"section1": range(0, 1150), "section2": range(1150, 2300), "section3": range(2300, 3450)},
    "train": {"section1": range(0, 12837), "section2": range(12837, 24570)},
}
# Each section is its own stretch of the route: Olid et al. (2018, their Fig. 3 and release notes) dropped
# tunnels and stops, then left 200 frames out between consecutive sections so that train and test
# sections are different places. Consecutive indices across a join are therefore not neighbours:
# the manifest's `segment` (train sections 0-1, test sections 2-4) keeps windows and sequences apart.
SEGMENTS = {
    "train": {"section1": 0, "section2": 1},
    "test": {"section1": 2, "section2": 3, "section3": 4},
}
PAGE = "https://webdiis.unizar.es/~jmfacil/pr-nordland/#download-dataset"
MIRROR = "https://drive.google.com/drive/folders/1SmrDOeUgBnJbpW187VFWxGjS7XdbZK5t"
LOWRES_TOP = "Partitioned_Nordland_Dataset_lowres"
SOURCES = [
    ManualDownload(
        page=PAGE,
        filename=f"{LOWRES_TOP}.zip",
        instructions=f"the 224x224 low-res release (the paper names the partition, not the release), linked from the "
        "page's download section; "
        f"if the page is down, the Google Drive mirror {MIRROR} (folder id 1SmrDOeUgBnJbpW187VFWxGjS7XdbZK5t) "
        "holds the same files",
        extract=True,
        present=("Dataset_images", f"{LOWRES_TOP}/Dataset_images"),
    ),
]
SEASON_FOLDER = re.compile(r"(summer|winter|fall|spring)_images_(train|test)")
Kind = Literal["archive", "per-season"]


@dataclass
class NordlandOptions:
    train_season: str = "summer"
    reference_season: str = "summer"
    query_seasons: list[str] = field(default_factory=lambda: ["winter"])

    def check(self, where: str) -> None:
        for key, season in [("train_season", self.train_season), ("reference_season", self.reference_season)] + [
            ("query_seasons", s) for s in self.query_seasons
        ]:
            if season not in SEASONS:
                raise ConfigError(f"{where}.{key}: unknown season `{season}`; seasons are {', '.join(SEASONS)}")
        if not self.query_seasons:
            raise ConfigError(f"{where}.query_seasons is empty: name at least one of {', '.join(SEASONS)}")


@dataclass(frozen=True)
class Layout:
    """Where one release lies under the dataset root."""

    root: Path
    prefix: str  # "" or "<top folder>/": path from the root to the release
    kind: Kind  # "archive": Dataset_images/{split}/...; "per-season": {season}_images_{split}/ directly

    def folder(self, split: str, season: str) -> str:
        """The (split, season) image folder, relative to the dataset root."""
        if self.kind == "archive":
            return f"{self.prefix}Dataset_images/{split}/{season}_images_{split}"
        return f"{self.prefix}{season}_images_{split}"


def expected_files(split: str) -> list[tuple[str, int]]:
    """(section, index) of every image of one season of a split, in index order."""
    return [(section, i) for section, indices in SECTIONS[split].items() for i in indices]


def _holds_archive(path: Path) -> bool:
    return (path / "Dataset_images").is_dir()


def _holds_per_season(path: Path) -> bool:
    """Season folders directly inside `path`, which is not a split folder of the archive's tree."""
    if path.name in ("train", "test", "Dataset_images"):
        return False
    return any(SEASON_FOLDER.fullmatch(name) for name in list_folders(path))


def _root_hint(root: Path) -> str:
    if (root / "train").is_dir() or (root / "test").is_dir():
        return f" It looks like the root points inside Dataset_images: use {root.parent} instead."
    if root.name in ("train", "test") and root.parent.name == "Dataset_images":
        return f" It looks like the root points inside Dataset_images/{root.name}: use {root.parent.parent} instead."
    if SEASON_FOLDER.fullmatch(root.name) or (root / "section1").is_dir():
        up = root.parent.parent.parent if root.parent.parent.name == "Dataset_images" else root.parent
        return f" It looks like the root points inside a season folder: use {up} instead."
    nested = sorted(root.glob("*/*/Dataset_images")) if root.is_dir() else []
    if nested:
        return f" The tree is two levels deeper: use {nested[0].parent} as the root."
    zips = [n for n in list_files(root) if n.lower().endswith(".zip")] if root.is_dir() else []
    if zips:
        return (
            f" {listing(zips)} {'is' if len(zips) == 1 else 'are'} here but not extracted: run "
            f"`acmnet download nordland --root {root}` for the low-res archive, or unzip the per-season "
            "zips of the full-resolution release into this folder."
        )
    return ""


def locate(root: Path) -> Layout:
    """The release under `root`: Dataset_images/ (here or under one top folder), or per-season folders."""
    root = Path(root)
    base, prefix = find_root(root, lambda p: _holds_archive(p) or _holds_per_season(p), "partitioned Nordland")
    if _holds_archive(base):
        return Layout(root, prefix, "archive")
    if _holds_per_season(base):
        note(
            f"partitioned Nordland: reading the per-season folders ({{season}}_images_{{split}}/) of the "
            f"full-resolution release in {base}"
        )
        return Layout(root, prefix, "per-season")
    raise LayoutError(
        f"{root} holds neither Dataset_images/ (the low-res archive, directly or under its top folder "
        f"{LOWRES_TOP}/) nor {{season}}_images_{{split}}/ folders (the full-resolution zips) of the "
        f"partitioned Nordland dataset.{_root_hint(root)} Download it from {PAGE} (mirror: {MIRROR}) and "
        f"extract it so that {root}/{LOWRES_TOP}/Dataset_images/test/winter_images_test/section1/0.png "
        f"or {root}/winter_images_test/section1/0.png exists"
    )


def _missing_folder(layout: Layout, split: str, season: str) -> LayoutError:
    folder = layout.root / layout.folder(split, season)
    if layout.kind == "per-season":
        here = [n for n in list_folders(folder.parent) if SEASON_FOLDER.fullmatch(n)]
        return LayoutError(
            f"{folder} is missing (season folders here: {listing(here) or 'none'}): extract "
            f"{season}_images_{split}.zip of the full-resolution release into {folder.parent}, or change "
            "the season options"
        )
    here = list_folders(folder.parent)
    return LayoutError(
        f"{folder} is missing (found {listing(here) or 'nothing'} in {folder.parent}): the {season} {split} "
        f"images are not extracted; extract the archive again (see {PAGE})"
    )


def check_split(layout: Layout, split: str, season: str) -> None:
    """Every expected file of (split, season) exists; no image is decoded."""
    folder = layout.root / layout.folder(split, season)
    if not folder.is_dir():
        raise _missing_folder(layout, split, season)
    missing = []
    for section, indices in SECTIONS[split].items():
        present = set(list_files(folder / section)) if (folder / section).is_dir() else set()
        missing += [f"{section}/{i}.png" for i in indices if f"{i}.png" not in present]
    if missing:
        total = sum(len(r) for r in SECTIONS[split].values())
        raise LayoutError(
            f"{folder} lacks {len(missing)} of its {total} images (first: {listing(missing)}): "
            "the archive is incomplete or half-extracted; extract it again"
        )


def _parts(opts: NordlandOptions) -> list[tuple[str, str, str]]:
    """(split, role, season) of every part of the manifest."""
    parts = [("train", "train", opts.train_season), ("test", "reference", opts.reference_season)]
    return parts + [("test", "query", season) for season in opts.query_seasons]


def _checked_layout(root: Path, opts: NordlandOptions) -> Layout:
    layout = locate(root)
    for split, season in dict.fromkeys((split, season) for split, _, season in _parts(opts)):
        check_split(layout, split, season)
    return layout


def check_layout(root: Path, opts: NordlandOptions) -> None:
    """Every image of every (split, season) the options use exists; nothing is decoded."""
    _checked_layout(root, opts)


def prepare(root: Path, opts: NordlandOptions, name: str = "nordland") -> pd.DataFrame:
    """Manifest rows for the Olid et al. partition with the configured seasons (index order = time)."""
    layout = _checked_layout(root, opts)
    rows = []
    for split, role, season in _parts(opts):
        prefix = layout.folder(split, season)
        rows += [
            {
                "image": f"{prefix}/{section}/{i}.png",
                "role": role,
                "place": i,
                "condition": season,
                "segment": SEGMENTS[split][section],
            }
            for section, i in expected_files(split)
        ]
    return pd.DataFrame(rows, columns=["image", "role", "place", "condition", "segment"])


def protocol(opts: NordlandOptions) -> str:
    """The joins the caption states: the sections are separate stretches of the route."""
    return (
        "the test sections (indices 0-1149, 1150-2299, 2300-3449) and the two train sections are separate "
        "stretches of the route (Olid et al. left frames out between sections, besides tunnels and stops), so "
        "neither the place window nor a sequence crosses a join (1149|1150, 2299|2300)"
    )


def train_set(opts: NordlandOptions) -> str:
    """What a trained row trains on: the train partition, other places than the test references."""
    return (
        f"the {opts.train_season} images of Olid et al.'s train partition (24570 frames, places disjoint from the "
        f"3450 {opts.reference_season} test references: the paper's 'access only to reference images' read as "
        f"images of the reference season; train_season {opts.train_season})"
    )


DATASET = DatasetType(
    name="nordland",
    options=NordlandOptions,
    prepare=prepare,
    check_layout=check_layout,
    sources=SOURCES,
    scoring="recall",
    paper_table="table2",
    protocol=protocol,
    train_set=train_set,
)
