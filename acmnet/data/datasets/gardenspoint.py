"""GardensPoint Walking (QUT campus, Glover et al.): three traversals of 200 images each.

Layout under the dataset root (as `GardensPoint_Walking.zip` extracts; public loaders read
`<root>/day_right/*.jpg` right after extracting, so the zip is assumed to have no top folder)::

    day_left/Image000.jpg ... Image199.jpg
    day_right/Image000.jpg ... Image199.jpg
    night_right/Image000.jpg ... Image199.jpg

Image i is place i in every traversal (the public loaders use an identity ground truth).
Numbering assumed: three digits, 000..199 (one public loader formats names as `Image{n:03d}.jpg`;
that the first is 000 and not 001 is to be verified on the real files: a tree numbered 001..200
fails the layout check with both the missing and the unexpected names listed).

Protocol defaults: reference and train = `day_left`, query = `night_right` (the hard pair: day vs
night and left vs right side of the path). `reference`, `queries` and `train` are options.

Row order: each traversal in image order (000..199), which is recording order (time); sequence
matching relies on it.

Extra files: names that do not look like an image of the release (a readme) and hidden or
sidecar files (`.DS_Store`, `._Image000.jpg`, `Thumbs.db`) are ignored; `ImageNNN.jpg`-like names
outside 000..199 are reported, since they mean a different or mixed release.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from acmnet.config import ConfigError
from acmnet.data.datasets.base import DatasetType, LayoutError, listing
from acmnet.data.download import Download
from acmnet.io import list_files

TRAVERSALS = ("day_left", "day_right", "night_right")
PLACES = 200
URL = "https://www.tu-chemnitz.de/etit/proaut/datasets/GardensPoint_Walking.zip"
SOURCES = [Download(url=URL, filename="GardensPoint_Walking.zip", extract=True, present="night_right")]
_IMAGE_LIKE = re.compile(r"image\d+\.jpe?g", re.IGNORECASE)


@dataclass
class GardensPointOptions:
    reference: str = "day_left"
    queries: list[str] = field(default_factory=lambda: ["night_right"])
    train: str | None = None  # defaults to the reference traversal

    def check(self, where: str) -> None:
        if not self.queries:
            raise ConfigError(f"{where}.queries is empty: name at least one of {', '.join(TRAVERSALS)}")
        for key, value in [("reference", self.reference), ("train", self.train_traversal)] + [
            ("queries", q) for q in self.queries
        ]:
            if value not in TRAVERSALS:
                raise ConfigError(f"{where}.{key}: unknown traversal `{value}`; traversals are {', '.join(TRAVERSALS)}")
        if self.reference in self.queries:
            raise ConfigError(f"{where}: `{self.reference}` is both the reference and a query set")

    @property
    def train_traversal(self) -> str:
        return self.train or self.reference

    def traversals(self) -> list[str]:
        return list(dict.fromkeys([self.train_traversal, self.reference, *self.queries]))


def image_name(index: int) -> str:
    return f"Image{index:03d}.jpg"


def expected_names() -> list[str]:
    return [image_name(i) for i in range(PLACES)]


def check_traversals(root: Path, traversals: list[str]) -> None:
    """The traversal folders exist and hold exactly Image000..Image199.jpg; nothing is decoded."""
    root = Path(root)
    if not any((root / t).is_dir() for t in TRAVERSALS):
        hint = ""
        nested = sorted(p.parent for p in root.glob("*/night_right")) + sorted(
            p.parent for p in root.glob("*/day_left")
        )
        if nested:
            hint = f" The tree is one level deeper (the zip's top folder): use {nested[0]} as the root."
        elif root.name in TRAVERSALS:
            hint = f" The root points inside a traversal folder: use {root.parent} instead."
        raise LayoutError(
            f"{root} holds none of the GardensPoint Walking folders {', '.join(TRAVERSALS)}.{hint} "
            f"Download {URL} and extract it so that {root}/night_right/{image_name(0)} exists"
        )
    for traversal in traversals:
        folder = root / traversal
        if not folder.is_dir():
            present = [t for t in TRAVERSALS if (root / t).is_dir()]
            raise LayoutError(
                f"{folder} is missing (found {', '.join(present)}): the archive is half-extracted; "
                f"extract {URL.rsplit('/', 1)[-1]} again into {root}"
            )
        present = set(list_files(folder))
        expected = expected_names()
        missing = [n for n in expected if n not in present]
        unexpected = sorted(n for n in present - set(expected) if _IMAGE_LIKE.fullmatch(n))
        if missing or unexpected:
            parts = []
            if missing:
                parts.append(f"lacks {len(missing)} of its {PLACES} images (first: {listing(missing)})")
            if unexpected:
                parts.append(f"holds {len(unexpected)} unexpected image name(s) ({listing(unexpected)})")
            fix = (
                "the archive is incomplete or half-extracted; extract it again"
                if not unexpected
                else f"expected exactly {image_name(0)}..{image_name(PLACES - 1)}: this is not the "
                "documented release, or several copies were extracted into one folder; extract "
                "a fresh copy"
            )
            raise LayoutError(f"{folder} {' and '.join(parts)}: {fix}")


def check_layout(root: Path, opts: GardensPointOptions) -> None:
    """Every traversal the options use holds exactly Image000..Image199.jpg; nothing is decoded."""
    check_traversals(root, opts.traversals())


def prepare(root: Path, opts: GardensPointOptions, name: str = "gardenspoint") -> pd.DataFrame:
    """Manifest rows: train and reference = `reference` (or `train`), one query set per `queries`."""
    check_layout(root, opts)
    parts = [("train", opts.train_traversal), ("reference", opts.reference)] + [("query", q) for q in opts.queries]
    rows = [
        {"image": f"{traversal}/{image_name(i)}", "role": role, "place": i, "condition": traversal}
        for role, traversal in parts
        for i in range(PLACES)
    ]
    return pd.DataFrame(rows, columns=["image", "role", "place", "condition"])


def train_set(opts: GardensPointOptions) -> str:
    """What a trained row trains on: the `train` traversal, by default the references."""
    if opts.train_traversal == opts.reference:
        return f"traversal {opts.reference}, the reference images themselves (the places evaluated are trained on)"
    return f"traversal {opts.train_traversal} (the same places as the {opts.reference} references)"


DATASET = DatasetType(
    name="gardenspoint",
    options=GardensPointOptions,
    prepare=prepare,
    check_layout=check_layout,
    sources=SOURCES,
    scoring="recall",
    train_set=train_set,
)
