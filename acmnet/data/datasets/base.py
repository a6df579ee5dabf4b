"""What every dataset type provides: the base that `acmnet.data.datasets` registers.

A dataset type is one module that defines an options dataclass, a layout check, `prepare` (the
dataset on disk -> manifest rows, see `acmnet.data.manifest`) and a module-level
``DATASET = DatasetType(...)`` naming them, with where the files come from (`sources`), how the
dataset is scored (`scoring`: recall@N with a place window, or camera pose) and which table of
the paper its rows join (`paper_table`). Nothing downstream asks which type a dataset is: the
Snakefile, the scorer and the paper tables read these fields.

Contract of every `prepare`: the rows of each traversal (a role and condition) are written in
recording order (time), because sequence matching takes queries and references in manifest
order and never sorts by ground-truth place.

Options are checked when the config is loaded (`DatasetType.parse_options`): an unknown key is
named with the closest valid one, a wrong type with the expected one, and `options.check(where)`
(when the dataclass defines it) checks values that depend on each other.
"""

from __future__ import annotations

import posixpath
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath
from typing import Any, Literal

import pandas as pd

from acmnet.config import ConfigError, build_dataclass
from acmnet.data.manifest import POSITIVES_COLUMN
from acmnet.data.sources import Source
from acmnet.io import list_folders

Scoring = Literal["recall", "pose", "submission"]
GroundTruth = Literal["places", "positions", "poses", "listed", "none"]


def _always(options: Any) -> bool:
    return True


class LayoutError(FileNotFoundError):
    """The dataset root does not hold the expected tree; the message says how to fix it."""


@dataclass(frozen=True)
class DatasetType:
    """One dataset type (a module under `acmnet.data.datasets`).

    name: the `type:` of a dataset in the config.
    options: dataclass of the type-specific settings (every field has a default).
    prepare: (root, options, dataset name) -> manifest rows (image, role, place, condition, ...);
        checks the layout first and never decodes images unless the module says so.
    check_layout: (root, options) -> None; raises LayoutError naming what is missing and how to fix it.
    sources: where the files come from (`acmnet.data.sources` entries); empty: nothing to download.
    scoring: `recall` (recall@N, place window), `pose` (localisation by the top-1 reference pose) or
        `submission` (no public ground truth: a challenge file per method, `msls_test`; nothing scored).
    paper_table: the paper's table its rows join (`table2`, `table3`, `table4`), or None.
    synthesize: for generated datasets, (root, options, name) -> None renders the data into root.
    protocol: options -> a sentence for table captions naming the choices of ours (not the
        paper's) that decide what is measured on this dataset; None when there are none.
    ground_truth: how a query's positive references are found (`acmnet.data.positives`):
        `places` (the manifest's `place` within +/- the dataset's `tolerance`), `positions` (the
        manifest's `x`, `y` in metres within the options' `positive_distance`, inclusive) or
        `listed` (the manifest's `positives` column, written by `prepare` from the dataset's file),
        `poses` (`x`, `y`[, `z`] within `positive_distance` and `yaw` within `positive_angle`) or
        `none` (no public ground truth: nothing is scored, see `msls_test`).
    route_order: options -> whether each query set and the references are frames of one drive in
        manifest order (sequence matching and block resampling need it; city-scale sets have none).
    window: (options, tolerance) -> the place window in words for captions, where a `place` is not
        one frame of the release (e.g. every 10th frame kept); None: "±<tolerance> places".
    ground_truth_note: (root, options) -> a short phrase for captions on what `prepare` read from the
        dataset's own ground-truth files (e.g. listed indices it dropped, queries it scores), or None.
    shared_places: (root, options, other root, other options) -> the places two datasets of this type
        both hold in words (e.g. overlapping stretches of one route), or None when they hold none
        or the type cannot tell; a model trained on one has seen those places of the other.
    train_set: options -> the images a trained row trains on (the manifest's `train` role) in words,
        for the protocol sentence of every caption with trained rows (the paper's "access only to
        reference images" has several readings: each type names its own); None: not stated.
    files_read: (root, options) -> every file besides the images that `prepare` reads (index files,
        structs, ground truth), wherever it lives (an option may point outside the root): each is an
        input of `prepare` by content (`acmnet.data.listing.prepare_trigger`), recorded in the
        manifest's provenance; None: nothing but the root's own files.
    """

    name: str
    options: type
    prepare: Callable[[Path, Any, str], pd.DataFrame]
    check_layout: Callable[[Path, Any], None]
    sources: Sequence[Source] = ()
    scoring: Scoring = "recall"
    paper_table: str | None = None
    synthesize: Callable[[Path, Any, str], Any] | None = None
    protocol: Callable[[Any], str] | None = None
    ground_truth: GroundTruth = "places"
    route_order: Callable[[Any], bool] = _always
    window: Callable[[Any, int], str] | None = None
    ground_truth_note: Callable[[Path, Any], str | None] | None = None
    shared_places: Callable[[str, Any, str, Any], str | None] | None = None
    train_set: Callable[[Any], str] | None = None
    files_read: Callable[[Path, Any], list[Path]] | None = None

    def parse_options(self, raw: dict[str, Any] | Any, where: str) -> Any:
        """The options dataclass from a config mapping (or an instance, checked again)."""
        if isinstance(raw, self.options):
            options = raw
        else:
            if not isinstance(raw, dict):
                raise ConfigError(f"{where} must be a mapping of options, got {type(raw).__name__}")
            options = build_dataclass(self.options, raw, where)
        check = getattr(options, "check", None)
        if check is not None:
            check(where)
        return options

    def prepare_manifest(self, root: Path, options: dict[str, Any] | Any, name: str | None = None) -> pd.DataFrame:
        """`prepare` with options given as a mapping (the type's defaults for keys not given)."""
        name = name or self.name
        return self.prepare(Path(root), self.parse_options(options, f"datasets.{name}"), name)


def listing(names: Sequence[str], limit: int = 5) -> str:
    """The first `limit` names, comma-separated, with ', ...' when there are more."""
    names = list(names)
    return ", ".join(names[:limit]) + (", ..." if len(names) > limit else "")


def note(message: str) -> None:
    """Tell the user something `prepare` decided (e.g. which folder it read) on stderr."""
    print(message, file=sys.stderr)


def find_root(root: Path, holds: Callable[[Path], bool], what: str) -> tuple[Path, str]:
    """(folder holding the dataset, its path relative to `root` as an image-path prefix).

    `root` itself when `holds(root)`; else the one subfolder of `root` that holds it (an
    archive's top folder), with the prefix `"<top>/"` and a note saying which folder is read.
    Several subfolders that hold it: LayoutError naming them. None: `(root, "")`, for the
    caller's own error message.
    """
    root = Path(root)
    if holds(root):
        return root, ""
    found = [name for name in list_folders(root) if holds(root / name)]
    if len(found) > 1:
        raise LayoutError(
            f"{root} holds {len(found)} copies of {what} ({listing(found)}): point the dataset root at the one to use"
        )
    if found:
        note(f"{what}: reading {root / found[0]} (the archive's top folder under the root {root})")
        return root / found[0], f"{found[0]}/"
    return root, ""


def require_images(root: Path, images: Sequence[str], listed_in: str) -> None:
    """Every image (a path relative to `root`) is a file; else LayoutError naming the first missing
    one, how many are missing and the file that lists them."""
    missing = [image for image in images if not (Path(root) / image).is_file()]
    if missing:
        raise LayoutError(
            f"{Path(root) / missing[0]} does not exist ({len(missing)} of the {len(images)} images {listed_in} "
            f"lists are missing under {root}): point the root at the folder the paths are relative to, or "
            "extract the missing images"
        )


def inside(entry: str, folder: Path, where: str) -> str:
    """An image path listed in a file (`where`: the file and its line or entry), normalised
    (`./x.jpg`, `a/../x.jpg` -> `x.jpg`, `\\` -> `/`) and inside `folder`; an absolute path or one
    that leaves the folder is a LayoutError naming `where` and the entry. The one rule of every
    type: only images inside the dataset's root are read, which its listing watches."""
    posix = entry.replace("\\", "/")
    if posix.startswith("/") or PureWindowsPath(entry).drive:
        raise LayoutError(
            f"{where}: {entry} is an absolute path; the paths it lists must be relative to {folder} (fix the entry)"
        )
    normal = posixpath.normpath(posix)
    if normal == ".." or normal.startswith("../"):
        raise LayoutError(
            f"{where}: {entry} leads out of {folder}: only images inside the dataset are read, so a change "
            "outside it could never rerun the steps that read it; fix the entry"
        )
    return normal


def listed_rows(images: list[str], role: str, condition: str, positives: list[list[int]] | None = None) -> list[dict]:
    """Manifest rows of listed images, place = list position, with each one's listed positives
    (reference positions, for queries) in the positives column: the form of every type whose
    ground truth is a shipped list (msls_val, image_lists)."""
    return [
        {
            "image": image,
            "role": role,
            "place": i,
            "condition": condition,
            POSITIVES_COLUMN: " ".join(map(str, positives[i])) if positives is not None else "",
        }
        for i, image in enumerate(images)
    ]
