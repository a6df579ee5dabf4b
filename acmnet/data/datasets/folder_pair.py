"""Generic dataset: traversals stored as folders of images whose names or numbers match.

Example config (the nordland64 sample)::

    nordland64:
      type: folder_pair
      root: data/nordland64      # the development sample (docs/datasets.md)
      reference: summer          # the database, also the training set unless `train` is given
      query: [winter]            # one query set per folder
      match: name                # same file name = same place; or `index` (number in the name)
      frames_csv: frames.csv     # optional: `file` column orders places, `usable=0` rows dropped
      tolerance: 2

"Same place", exactly:

* `match: name`: a query image and a reference image are the same place when their file names are
  equal, extension included. Place = rank of the name among the reference folder's image names in
  natural order (numbers inside names compare as numbers: `frame2` before `frame10`), or, with
  `frames_csv`, the rank of the name among ALL rows of the csv's `file` column, in file order (so
  places keep their spacing across rows with `usable=0`). A tolerance of k is +/-k reference files
  (csv rows). Every query name must also be a reference name: a query name that pairs with none
  is refused (with the count and examples).
* `match: index`: a query image and a reference image are the same place when the last integer in
  their file names (without the extension) is equal: `Image007.jpg`, `img_7.png` and `7.jpg` are
  place 7, and a tolerance of k is +/-k in those numbers. Every image name must hold a number, and
  two images of one folder with the same number are refused.

Training rows (`train`, default the reference folder): the reference rows again; a separate
training folder gets its own ranks (`name`) or numbers (`index`) as places, never scored.

Also refused, each with a message naming the folder or option and what to do: a query folder that
is the reference folder (it would score 100 %), a training folder that is a query folder (unless
`train_on_queries: true`; the tables' captions then say that training saw the query images), image
files with different extensions within or across the reference and query folders (`.png` beside
`.jpg` breaks the name pairing and shifts ranks: convert them to one format), a missing or empty
folder, and with `frames_csv`, images the csv does not list.

Row order: each folder's rows in natural name order (`match: index`: by number; with `frames_csv`
and `match: name`: csv order): recording order (time) for sequentially named frames, which
sequence matching relies on. Hidden and sidecar files (`._x.png`, `.DS_Store`, `Thumbs.db`) and
non-image files are ignored; an entry with an image extension that is not a regular file (a broken
link, a folder, a device) is refused (`acmnet.io.list_files`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pandas as pd

from acmnet.config import ConfigError
from acmnet.data.datasets.base import DatasetType, LayoutError, listing
from acmnet.io import list_files, list_folders

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".tif", ".tiff", ".webp")


@dataclass
class FolderPairOptions:
    reference: str = ""  # required: the reference traversal's folder
    query: list[str] = field(default_factory=list)  # required: one folder per query set
    train: str | None = None  # defaults to the reference folder
    match: Literal["name", "index"] = "name"
    frames_csv: str | None = None
    train_on_queries: bool = False  # allow `train` to be a query folder (captions then say so)

    def check(self, where: str) -> None:
        if not self.reference:
            raise ConfigError(f"{where}.reference is missing: name the folder of the reference traversal (e.g. summer)")
        if not self.query:
            raise ConfigError(f"{where}.query is missing or empty: name at least one query folder (e.g. [winter])")
        same = [q for q in self.query if os.path.normpath(q) == os.path.normpath(self.reference)]
        if same:
            raise ConfigError(
                f"{where}.query names the reference folder `{same[0]}`: a traversal queried against "
                "itself scores 100 %; name the folder of another traversal"
            )
        repeated = sorted({q for q in self.query if self.query.count(q) > 1})
        if repeated:
            raise ConfigError(f"{where}.query names {listing(repeated)} twice: list each query folder once")
        if self.trains_on_queries() and not self.train_on_queries:
            raise ConfigError(
                f"{where}.train is the query folder `{self.train}`: training on the query images measures "
                f"recognition of images the model has seen; name another folder, or set {where}.train_on_queries: "
                "true to do so knowingly (table captions then say so)"
            )

    def trains_on_queries(self) -> bool:
        """Whether the training folder is one of the query folders."""
        return self.train is not None and os.path.normpath(self.train) in {os.path.normpath(q) for q in self.query}


@dataclass
class Frames:
    """frames.csv: every listed name in file order, and the names with `usable=0`."""

    order: list[str]
    unusable: set[str]


def natural_key(name: str) -> tuple:
    """Sort key comparing runs of digits as numbers (`frame2` < `frame10`), then the name itself."""
    parts = re.split(r"(\d+)", name)
    return tuple(int(p) if i % 2 else p.lower() for i, p in enumerate(parts)), name


def number_in(name: str) -> int | None:
    """The last integer in a file name without its extension, or None."""
    found = re.findall(r"\d+", Path(name).stem)
    return int(found[-1]) if found else None


def list_images(folder: Path, option: str = "folder") -> list[str]:
    """Image file names directly inside `folder`, in natural order (hidden and sidecar files left out)."""
    if not folder.is_dir():
        here = list_folders(folder.parent)
        raise LayoutError(
            f"{option}: image folder {folder} does not exist (folders in {folder.parent}: "
            f"{listing(here) or 'none'}): check the dataset's root and `{option.rsplit('.', 1)[-1]}`"
        )
    names = sorted((n for n in list_files(folder) if Path(n).suffix.lower() in IMAGE_SUFFIXES), key=natural_key)
    if not names:
        raise LayoutError(
            f"{option}: image folder {folder} holds no images ({', '.join(IMAGE_SUFFIXES)}): "
            "extract the traversal into it, or fix the option"
        )
    return names


def _refuse_same_folder(root: Path, opts: FolderPairOptions, where: str) -> None:
    reference = (root / opts.reference).resolve()
    same = [q for q in opts.query if (root / q).resolve() == reference]
    if same:
        raise ConfigError(
            f"{where}.query: `{same[0]}` is the reference folder {reference} itself: a traversal "
            "queried against itself scores 100 %; name the folder of another traversal"
        )


def _refuse_mixed_extensions(root: Path, files: dict[str, list[str]], where: str) -> None:
    by_suffix: dict[str, list[str]] = {}
    for folder, names in files.items():
        for n in names:
            by_suffix.setdefault(Path(n).suffix, []).append(f"{folder}/{n}")
    if len(by_suffix) > 1:
        counts = ", ".join(f"{len(v)} {s or '(none)'} (e.g. {v[0]})" for s, v in sorted(by_suffix.items()))
        raise LayoutError(
            f"{where}: the reference and query folders under {root} mix image extensions: {counts}. Mixed "
            "extensions break the pairing of names and shift places: convert the images to one format"
        )


def _read_frames_csv(path: Path, option: str) -> Frames:
    if not path.is_file():
        raise LayoutError(f"{option}: {path} does not exist: fix the option, or remove it to use every image")
    try:
        frames = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise LayoutError(f"{path} cannot be read as CSV ({exc}): fix the file, or remove {option}") from exc
    if "file" not in frames.columns:
        raise LayoutError(f"{path} needs a `file` column (and optionally `usable`), found {list(frames.columns)}")
    names = frames["file"].astype(str)
    if names.duplicated().any():
        raise LayoutError(f"{path} lists {names[names.duplicated()].iloc[0]} twice: list each file once")
    if "usable" not in frames.columns:
        return Frames(names.tolist(), set())
    usable = pd.to_numeric(frames["usable"], errors="coerce")
    if usable.isna().any():
        row = int(usable.isna().to_numpy().nonzero()[0][0])
        raise LayoutError(f"{path}, data row {row + 1}: `usable` is {frames['usable'].iloc[row]!r}; use 1 or 0")
    return Frames(names.tolist(), set(names[usable == 0]))


def _refuse_unlisted(root: Path, files: dict[str, list[str]], frames: Frames, path: Path) -> None:
    listed = set(frames.order)
    unlisted = [f"{folder}/{n}" for folder, names in files.items() for n in names if n not in listed]
    if unlisted:
        raise LayoutError(
            f"{len(unlisted)} image(s) under {root} are not listed in {path} (first: "
            f"{listing(unlisted)}): add them to the csv, or remove the files"
        )


def _refuse_unpaired(files: dict[str, list[str]], reference: str, root: Path, where: str) -> None:
    known = set(files[reference])
    for folder, names in files.items():
        lone = [n for n in names if n not in known]
        if lone:
            raise LayoutError(
                f"{where}.query: {len(lone)} of the {len(names)} images of {root / folder} have no reference image "
                f"of the same name in {root / reference} (first: {listing(lone)}); with `match: name` the same "
                "name is the same place: rename them, remove them, or use `match: index`"
            )


def _refuse_bad_numbers(root: Path, files: dict[str, list[str]], where: str) -> None:
    for folder, names in files.items():
        bare = [n for n in names if number_in(n) is None]
        if bare:
            raise LayoutError(
                f"{where}.match is `index`, but {len(bare)} image name(s) in {root / folder} hold no "
                f"number (first: {listing(bare)}): rename them, or use `match: name`"
            )
        seen: dict[int, str] = {}
        twice = []
        for n in names:
            number = number_in(n)
            if number in seen:
                twice.append(f"{n} and {seen[number]}")
            seen.setdefault(number, n)
        if twice:
            raise LayoutError(
                f"{root / folder} holds {len(twice)} image(s) with a number another image of the folder "
                f"has (first: {listing(twice, 3)}): with `match: index` the number is the place; "
                "remove the copies"
            )


@dataclass
class Layout:
    """The checked folders: kept image names per folder in row order, and how names map to places."""

    files: dict[str, list[str]]  # reference and query folders -> usable names, in row order
    rank: dict[str, int] | None  # match: name -> the rank of every name; None with match: index
    unusable: set[str]


def _layout(root: Path, opts: FolderPairOptions, where: str) -> Layout:
    """Every check of the module docstring; lists folders and reads frames_csv, decodes nothing."""
    root = Path(root)
    _refuse_same_folder(root, opts, where)
    folders = [opts.reference, *opts.query]
    option = {opts.reference: f"{where}.reference", **{q: f"{where}.query" for q in opts.query}}
    files = {f: list_images(root / f, option[f]) for f in folders}
    _refuse_mixed_extensions(root, files, where)
    frames = _read_frames_csv(root / opts.frames_csv, f"{where}.frames_csv") if opts.frames_csv else None
    if frames is not None:
        _refuse_unlisted(root, files, frames, root / opts.frames_csv)
    unusable = frames.unusable if frames is not None else set()
    kept = {f: [n for n in names if n not in unusable] for f, names in files.items()}
    if opts.match == "index":
        _refuse_bad_numbers(root, files, where)
        return Layout(
            {f: sorted(names, key=lambda n: (number_in(n), natural_key(n))) for f, names in kept.items()},
            None,
            unusable,
        )
    _refuse_unpaired(kept, opts.reference, root, where)
    ranking = frames.order if frames is not None else files[opts.reference]
    rank = {n: i for i, n in enumerate(ranking)}
    return Layout({f: sorted(names, key=rank.__getitem__) for f, names in kept.items()}, rank, unusable)


def _train_rows(root: Path, opts: FolderPairOptions, layout: Layout, where: str) -> list[dict]:
    folder = opts.train or opts.reference
    if os.path.normpath(folder) == os.path.normpath(opts.reference):
        names = layout.files[opts.reference]
        places = [layout.rank[n] if layout.rank is not None else number_in(n) for n in names]
    else:
        names = [n for n in list_images(Path(root) / folder, f"{where}.train") if n not in layout.unusable]
        if layout.rank is None:
            _refuse_bad_numbers(Path(root), {folder: names}, where)
            names.sort(key=lambda n: (number_in(n), natural_key(n)))
        places = [number_in(n) for n in names] if layout.rank is None else list(range(len(names)))
    return [{"image": f"{folder}/{n}", "role": "train", "place": p, "condition": folder} for n, p in zip(names, places)]


def check_layout(root: Path, opts: FolderPairOptions, name: str = "folder_pair") -> None:
    """Every folder exists and holds images of one extension; names pair up as `match` says."""
    _layout(root, opts, f"datasets.{name}")


def prepare(root: Path, opts: FolderPairOptions, name: str = "folder_pair") -> pd.DataFrame:
    """Manifest rows (image, role, place, condition) for a folder-pair dataset, each folder in row order."""
    where = f"datasets.{name}"
    layout = _layout(root, opts, where)
    place = layout.rank.__getitem__ if layout.rank is not None else number_in
    rows = _train_rows(root, opts, layout, where)
    for role, folder in [("reference", opts.reference)] + [("query", q) for q in opts.query]:
        rows += [
            {"image": f"{folder}/{n}", "role": role, "place": place(n), "condition": folder}
            for n in layout.files[folder]
        ]
    return pd.DataFrame(rows, columns=["image", "role", "place", "condition"])


def protocol(opts: FolderPairOptions) -> str:
    """The folders read, for captions; says so when training saw the query images."""
    train = opts.train or opts.reference
    seen = " (training saw the query images: train_on_queries)" if opts.trains_on_queries() else ""
    return f"folders: {opts.reference} references, {', '.join(opts.query)} queries, training folder {train}{seen}"


def train_set(opts: FolderPairOptions) -> str:
    """What a trained row trains on: the `train` folder, by default the references."""
    folder = opts.train or opts.reference
    if os.path.normpath(folder) == os.path.normpath(opts.reference):
        return f"folder {folder}, the reference images themselves (the places evaluated are the places trained on)"
    return f"folder {folder}"


def files_read(root: Path, opts: FolderPairOptions) -> list[Path]:
    """`frames_csv` when given (an input of `prepare` by content, wherever it lives)."""
    return [Path(root) / opts.frames_csv] if opts.frames_csv else []


DATASET = DatasetType(
    name="folder_pair",
    options=FolderPairOptions,
    prepare=prepare,
    check_layout=check_layout,
    protocol=protocol,
    train_set=train_set,
    files_read=files_read,
)
