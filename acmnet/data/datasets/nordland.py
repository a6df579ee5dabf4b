"""Nordland, partitioned by Olid et al. (PPNIV@IROS 2018, arXiv 1808.06516): the paper's split.

Layout under the dataset root (both the 224x224 `_lowres` release and the full-resolution one):
    Dataset_images/{train,test}/{season}_images_{train,test}/section{N}/{index}.png
Test: 3450 images per season (section1 0..1149, section2 1150..2299, section3 2300..3449);
train: 24570 per season (section1 0..12836, section2 12837..24569). The index is global within
a split, and the same index is the same place in every season.

Protocol (paper section 4.1-4.2): train = summer train partition, reference = summer test,
query = winter test, place = the test index, tolerance +/-2 frames. Seasons are options.
This is not the Patch-NetVLAD, VPR-Bench or VPR-datasets-downloader "Nordland".
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from acmnet.config import ConfigError
from acmnet.data.datasets.base import DatasetType, LayoutError
from acmnet.data.download import ManualDownload

SEASONS = ("summer", "winter", "fall", "spring")
SECTIONS = {
    "test": {"section1": range(0, 1150), "section2": range(1150, 2300), "section3": range(2300, 3450)},
    "train": {"section1": range(0, 12837), "section2": range(12837, 24570)},
}
PAGE = "http://webdiis.unizar.es/~jmfacil/pr-nordland/#download-dataset"
SOURCES = [
    ManualDownload(
        page=PAGE,
        filename="Partitioned_Nordland_Dataset_lowres.zip",
        instructions="the 224x224 low-res release used by the paper (the full-resolution one has the same layout); "
        "the page links the archives from its download section",
        extract=True,
        present="Dataset_images",
    ),
]


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


def split_dir(root: Path, split: str, season: str) -> Path:
    return Path(root) / "Dataset_images" / split / f"{season}_images_{split}"


def expected_files(split: str) -> list[tuple[str, int]]:
    """(section, index) of every image of one season of a split, in index order."""
    return [(section, i) for section, indices in SECTIONS[split].items() for i in indices]


def check_split(root: Path, split: str, season: str) -> None:
    """Every expected file of (split, season) exists; no image is decoded."""
    root = Path(root)
    if not (root / "Dataset_images").is_dir():
        hint = ""
        if (root / "train").is_dir() or (root / "test").is_dir():
            hint = f" It looks like the root points inside Dataset_images: use {root.parent} instead."
        else:
            nested = sorted(root.glob("*/Dataset_images"))
            if nested:
                hint = f" The tree is one level deeper: use {nested[0].parent} as the root."
        raise LayoutError(
            f"{root} does not hold Dataset_images/ of the partitioned Nordland dataset.{hint} "
            f"Download it (low-res or full) from {PAGE} and extract it so that "
            f"{root}/Dataset_images/test/winter_images_test/section1/0.png exists"
        )
    folder = split_dir(root, split, season)
    if not folder.is_dir():
        raise LayoutError(f"{folder} is missing: the {season} {split} images are not extracted (see {PAGE})")
    missing = []
    for section, indices in SECTIONS[split].items():
        present = set(os.listdir(folder / section)) if (folder / section).is_dir() else set()
        missing += [f"{section}/{i}.png" for i in indices if f"{i}.png" not in present]
    if missing:
        total = sum(len(r) for r in SECTIONS[split].values())
        raise LayoutError(
            f"{folder} lacks {len(missing)} of its {total} images (first: {', '.join(missing[:5])}): "
            "the archive is incomplete or half-extracted; extract it again"
        )


def _parts(opts: NordlandOptions) -> list[tuple[str, str, str]]:
    """(split, role, season) of every part of the manifest."""
    parts = [("train", "train", opts.train_season), ("test", "reference", opts.reference_season)]
    return parts + [("test", "query", season) for season in opts.query_seasons]


def check_layout(root: Path, opts: NordlandOptions) -> None:
    """Every image of every (split, season) the options use exists; nothing is decoded."""
    for split, _, season in _parts(opts):
        check_split(root, split, season)


def prepare(root: Path, opts: NordlandOptions, name: str = "nordland") -> pd.DataFrame:
    """Manifest rows for the Olid et al. partition with the configured seasons."""
    check_layout(root, opts)
    rows = []
    for split, role, season in _parts(opts):
        prefix = f"Dataset_images/{split}/{season}_images_{split}"
        rows += [{"image": f"{prefix}/{section}/{i}.png", "role": role, "place": i, "condition": season}
                 for section, i in expected_files(split)]
    return pd.DataFrame(rows, columns=["image", "role", "place", "condition"])


DATASET = DatasetType(name="nordland", options=NordlandOptions, prepare=prepare, check_layout=check_layout,
                      sources=SOURCES, scoring="recall", paper_table="table2")
