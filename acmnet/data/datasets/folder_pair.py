"""Generic dataset: traversals stored as folders of images whose names or numbers match.

Example config (the nordland64 sample)::

    nordland64:
      type: folder_pair
      root: ../shared/data/nordland64
      reference: summer          # the database, also the training set unless `train` is given
      query: [winter]            # one query set per folder
      match: name                # same file name = same place; or `index` (number in the name)
      frames_csv: frames.csv     # optional: `file` column orders places, `usable=0` rows dropped
      tolerance: 2

With `match: name`, place = rank of the file name in the sorted list (or in `frames_csv`), so a
tolerance of 2 means +/-2 files. With `match: index`, place = the last integer in the file name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pandas as pd

from acmnet.config import ConfigError
from acmnet.data.datasets.base import DatasetType

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".tif", ".tiff", ".webp")


@dataclass
class FolderPairOptions:
    reference: str
    query: list[str]
    train: str | None = None  # defaults to the reference folder
    match: Literal["name", "index"] = "name"
    frames_csv: str | None = None


def list_images(folder: Path) -> list[str]:
    """File names of the images directly inside `folder`, sorted."""
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder {folder} does not exist: check the dataset's root and folder names")
    names = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not names:
        raise FileNotFoundError(f"image folder {folder} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return names


def _number(name: str) -> int:
    found = re.findall(r"\d+", Path(name).stem)
    if not found:
        raise ValueError(f"file name {name} has no number in it, but the dataset uses `match: index`")
    return int(found[-1])


def prepare(root: Path, opts: FolderPairOptions, name: str = "folder_pair") -> pd.DataFrame:
    """Build the manifest rows (image, role, place, condition) for a folder-pair dataset."""
    root = Path(root)
    usable: set[str] | None = None
    order: list[str] | None = None
    if opts.frames_csv:
        frames_path = root / opts.frames_csv
        if not frames_path.is_file():
            raise FileNotFoundError(f"datasets.{name}.frames_csv: {frames_path} does not exist")
        frames = pd.read_csv(frames_path)
        if "file" not in frames.columns:
            raise ConfigError(f"{frames_path} needs a `file` column (and optionally `usable`)")
        order = frames["file"].astype(str).tolist()
        keep = frames["usable"] != 0 if "usable" in frames.columns else pd.Series(True, index=frames.index)
        usable = set(frames.loc[keep, "file"].astype(str))

    folders = {"reference": opts.reference, **{f"query:{q}": q for q in opts.query}}
    files = {key: list_images(root / folder) for key, folder in folders.items()}
    if opts.match == "name":
        ranking = order if order is not None else sorted(set().union(*files.values()))
        rank = {n: i for i, n in enumerate(ranking)}
        place_of = lambda n: rank.get(n)  # noqa: E731
    else:
        place_of = _number

    rows = []

    def add(folder: str, names: list[str], role: str) -> None:
        for n in names:
            if usable is not None and n not in usable:
                continue
            place = place_of(n)
            if place is None:
                raise ValueError(f"{root / folder / n} is not listed in {opts.frames_csv}; add it or remove the file")
            rows.append({"image": f"{folder}/{n}", "role": role, "place": place, "condition": folder})

    train_folder = opts.train or opts.reference
    add(train_folder, files["reference"] if train_folder == opts.reference else list_images(root / train_folder), "train")
    add(opts.reference, files["reference"], "reference")
    for q in opts.query:
        add(q, files[f"query:{q}"], "query")
    return pd.DataFrame(rows, columns=["image", "role", "place", "condition"])


def check_layout(root: Path, opts: FolderPairOptions) -> None:
    """Every folder exists and holds images; names pair up as `match` says."""
    prepare(root, opts)


DATASET = DatasetType(name="folder_pair", options=FolderPairOptions, prepare=prepare, check_layout=check_layout)
