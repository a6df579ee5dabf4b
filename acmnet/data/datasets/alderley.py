"""Alderley day/night (Milford & Wyeth, ICRA 2012, SeqSLAM): two drives of one suburban route.

Layout under the dataset root (from the QUT wiki: `FRAMESA.zip`, `FRAMESB.zip`, `framematches.csv`)::

    FRAMESA/Image00001.jpg ...   (documented: about 16960 frames)
    FRAMESB/Image00001.jpg ...   (documented: about 14607 frames)
    framematches.csv             one row per FRAMESB frame: FRAMESA frame, FRAMESB frame (1-based)

Frames are numbered from 1 with five digits, without gaps. `framematches.csv` has no header row
(every public reader takes every line as data; a header row is tolerated); it must have exactly
one row per FRAMESB frame.

Which folder is the night drive is the option `night_folder` (default `FRAMESA`, as two
independent codebases have it; no dataset document says so). It is checked on the images: a few
frames of each folder are decoded (small, JPEG draft mode) and the night folder must be clearly
darker by mean intensity; if the images say the opposite, prepare stops and says to flip the
option (`check_brightness: false` skips the check, e.g. for a converted copy).

Protocol (paper section 4.1: "14607 images for each sequence and each place have 2 images"):
train and reference = the day drive, query = the night drive, tolerance +/-2 in reference-frame
units. Place = day frame number: a reference frame's place is its own number; a query's place is
the day frame `framematches.csv` pairs it with. Option `query_set`:

* `matched` (default, the paper's query set): exactly the night frames the csv pairs with day
  frames (14607 on the real files), each placed at its matched day frame.
  - night = FRAMESB (one csv row per night frame): every frame whose row names a FRAMESA frame,
    placed at that FRAMESA number.
  - night = FRAMESA (the csv maps day frames to night frames): every night frame named on a row,
    placed at that row's day frame; a night frame named on several rows is one query placed at
    the median (lower) of those day frames (a warning gives the count: the paper's "2 images per
    place" means this should not happen on the real file). Night frames named on no row are not
    queries.
* `interpolated`: every night frame between the first and the last matched one; a night frame
  named on no row takes the day frame of the nearest matched night frame (ties: the earlier).
  Night frames before the first or after the last matched one have no day counterpart and are
  left out (a warning gives the count). Not the paper's protocol.

Row order: day frames in frame order (train, reference), then the queries in night-frame order:
recording order (time), which sequence matching relies on (it never sorts by place).

A FRAMESA number of 0 on a row is taken as "no match" for that FRAMESB frame (an assumption; such
rows are counted in the warning). Frame counts are checked against the documented ones (a folder
more than 1% off is reported as incomplete or a different release; `check_counts: false` accepts
it), and exactly against the csv.

Extra files: names that are not `ImageNNNNN.jpg`, hidden and sidecar files (`._Image00001.jpg`,
`.DS_Store`) are ignored; `Image*.jpg`-like names that break
the numbering (wrong digit count, a gap) are reported.

The host needs a browser (often down; copies circulate on file hosts): `SOURCES` describes the
manual steps, and `acmnet.data.download.fetch_dataset("alderley", root)` extracts the zips once the
three files are in the root.
"""

from __future__ import annotations

import bisect
import csv
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from acmnet.data.datasets.base import DatasetType, LayoutError, listing, note
from acmnet.data.download import ManualDownload
from acmnet.io import list_files

PAGE = "https://wiki.qut.edu.au/pages/viewpage.action?pageId=181178395"
FOLDERS = ("FRAMESA", "FRAMESB")
MATCHES = "framematches.csv"
DOCUMENTED_FRAMES = {"FRAMESA": 16960, "FRAMESB": 14607}  # "about", from public descriptions
COUNT_SLACK = 0.01  # a folder more than 1% off the documented count is reported
BRIGHTNESS_SAMPLES = 5  # frames decoded per folder for the night/day check
DARKER = 0.75  # night mean intensity must be below DARKER x day mean intensity
_HINT = (
    "2.07 GB in all; the QUT page is often down, and copies of FRAMESA.zip, FRAMESB.zip and "
    "framematches.csv circulate on file hosts"
)
SOURCES = [
    ManualDownload(
        page=PAGE, filename="FRAMESA.zip", instructions=_HINT, extract=True, folder="FRAMESA", present="FRAMESA"
    ),
    ManualDownload(
        page=PAGE, filename="FRAMESB.zip", instructions=_HINT, extract=True, folder="FRAMESB", present="FRAMESB"
    ),
    ManualDownload(page=PAGE, filename=MATCHES, instructions=_HINT, extract=False, present=MATCHES),
]
PATTERN = re.compile(r"Image(\d{5})\.jpg")
_IMAGE_LIKE = re.compile(r"image\d*\.jpe?g", re.IGNORECASE)


@dataclass
class AlderleyOptions:
    night_folder: Literal["FRAMESA", "FRAMESB"] = "FRAMESA"
    query_set: Literal["matched", "interpolated"] = "matched"  # see the module docstring
    check_brightness: bool = True
    check_counts: bool = True


def image_name(frame: int) -> str:
    return f"Image{frame:05d}.jpg"


def _check_root(root: Path) -> None:
    if all((root / f).is_dir() for f in FOLDERS) and (root / MATCHES).is_file():
        return
    hint = ""
    nested = sorted(p.parent for p in root.glob("*/FRAMESB") if p.is_dir())
    if not any((root / f).is_dir() for f in FOLDERS) and nested:
        hint = f" The tree is one level deeper: use {nested[0]} as the root."
    elif root.name in FOLDERS:
        hint = f" The root points inside {root.name}: use {root.parent} instead."
    else:
        zips = [f"{f}.zip" for f in FOLDERS if (root / f"{f}.zip").is_file() and not (root / f).is_dir()]
        if zips:
            hint = (
                f" {', '.join(zips)} {'is' if len(zips) == 1 else 'are'} here but not extracted: run "
                "`acmnet.data.download.fetch_dataset('alderley', root)` (or unzip so that "
                f"{root}/FRAMESA/{image_name(1)} exists)."
            )
    lacking = [f"{f}/" for f in FOLDERS if not (root / f).is_dir()] + (
        [MATCHES] if not (root / MATCHES).is_file() else []
    )
    raise LayoutError(
        f"{root} lacks {', '.join(lacking)} of the Alderley dataset.{hint} Get FRAMESA.zip, "
        f"FRAMESB.zip and {MATCHES} from {PAGE} ({_HINT}), put them into {root}/ and extract the "
        f"zips so that {root}/FRAMESA/{image_name(1)} and {root}/FRAMESB/{image_name(1)} exist"
    )


def frame_count(folder: Path) -> int:
    """Number of frames in `folder` after checking they are Image00001..ImageNNNNN.jpg, no gaps."""
    names = list_files(folder)
    numbers = sorted(int(m.group(1)) for n in names if (m := PATTERN.fullmatch(n)))
    odd = sorted(n for n in names if _IMAGE_LIKE.fullmatch(n) and not PATTERN.fullmatch(n))
    if not numbers:
        raise LayoutError(
            f"{folder} holds no {image_name(1)}-style images: extract {folder.name}.zip again"
            + (f" (found {listing(odd)})" if odd else "")
        )
    last = numbers[-1]
    present = set(numbers)
    missing = [image_name(i) for i in range(1, last + 1) if i not in present]
    if missing or odd or 0 in present:
        parts = []
        if missing:
            parts.append(f"lacks {len(missing)} of the frames 1..{last} (first: {listing(missing)})")
        if odd or 0 in present:
            unexpected = odd + ([image_name(0)] if 0 in present else [])
            parts.append(f"holds {len(unexpected)} unexpected image name(s) ({listing(unexpected)})")
        raise LayoutError(
            f"{folder} {' and '.join(parts)}: frames are {image_name(1)}, {image_name(2)}, ... without "
            f"gaps; the archive is incomplete or not the documented release; extract {folder.name}.zip again"
        )
    return last


def read_matches(path: Path) -> np.ndarray:
    """framematches.csv as an (R, 2) int array (FRAMESA frame, FRAMESB frame); header optional."""
    rows: list[tuple[int, int]] = []
    with open(path, newline="", encoding="utf-8-sig") as fh:
        for lineno, row in enumerate(csv.reader(fh), start=1):
            cells = [c.strip() for c in row if c.strip() != ""]
            if not cells:
                continue
            try:
                values = [int(float(c)) if re.fullmatch(r"-?\d+(\.0*)?", c) else int(c) for c in cells[:2]]
            except ValueError:
                if not rows and lineno == 1:
                    continue  # a header row
                raise LayoutError(
                    f"{path}, line {lineno}: {row!r} is not two integers (FRAMESA frame, FRAMESB frame)"
                ) from None
            if len(values) < 2:
                raise LayoutError(f"{path}, line {lineno}: {row!r} has {len(values)} column(s); expected two integers")
            rows.append((values[0], values[1]))
    if not rows:
        raise LayoutError(f"{path} holds no rows: get {MATCHES} again from {PAGE}")
    return np.asarray(rows, dtype=np.int64)


def check_matches(matches: np.ndarray, path: Path, count_a: int, count_b: int) -> None:
    """One row per FRAMESB frame, FRAMESB numbers 1..count_b, FRAMESA numbers within 0..count_a."""
    rows = len(matches)
    if rows != count_b:
        if rows == count_a:
            why = "that is the FRAMESA count: the csv may be indexed by FRAMESA frames, or the folders are swapped"
        elif rows > count_b:
            why = "FRAMESB may be half-extracted (fewer frames than the csv lists): extract FRAMESB.zip again"
        else:
            why = f"{MATCHES} may be cut short: get it again"
        raise LayoutError(
            f"{path} has {rows} rows but FRAMESB holds {count_b} frames; it must have one row per FRAMESB frame ({why})"
        )
    b = matches[:, 1]
    if not np.array_equal(np.sort(b), np.arange(1, count_b + 1)):
        wrong = sorted(set(range(1, count_b + 1)) - set(b.tolist()))
        raise LayoutError(
            f"{path}: column 2 must name every FRAMESB frame 1..{count_b} once; frames not named: "
            f"{listing([str(x) for x in wrong])} ({len(wrong)} in all). Is column 1 FRAMESA and column 2 FRAMESB?"
        )
    a = matches[:, 0]
    bad = np.flatnonzero((a < 0) | (a > count_a))
    if len(bad):
        first = ", ".join(f"row {i + 1}: {a[i]}" for i in bad[:5])
        raise LayoutError(
            f"{path}: {len(bad)} FRAMESA frame number(s) outside 1..{count_a} ({first}): FRAMESA may "
            "be half-extracted (extract FRAMESA.zip again), or the columns are swapped"
        )


def mean_intensity(path: Path) -> float:
    """Mean grey level of a small decode of `path` (JPEG draft mode: a fraction of the full decode)."""
    try:
        with Image.open(path) as img:
            img.draft("L", (80, 60))
            grey = img.convert("L")
            grey.thumbnail((80, 60))
            return float(np.asarray(grey, dtype=np.float64).mean())
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise LayoutError(f"{path} cannot be decoded ({exc}): the archive is corrupt; extract it again") from exc


def sample_frames(count: int, n: int = BRIGHTNESS_SAMPLES) -> list[int]:
    """`n` frame numbers spread evenly over 1..count (centres of n equal stretches)."""
    return sorted({int((k + 0.5) * count / n) + 1 for k in range(n)})


def check_night(root: Path, night: str, counts: dict[str, int], option_place: str) -> dict[str, float]:
    """Decode a few frames of each folder; the configured night folder must be clearly darker."""
    means = {
        folder: float(np.mean([mean_intensity(root / folder / image_name(i)) for i in sample_frames(counts[folder])]))
        for folder in FOLDERS
    }
    day = FOLDERS[1] if night == FOLDERS[0] else FOLDERS[0]
    if means[night] < DARKER * means[day]:
        return means
    shown = f"mean intensity {night} {means[night]:.1f}, {day} {means[day]:.1f} over {BRIGHTNESS_SAMPLES} frames each"
    if means[day] < DARKER * means[night]:
        raise LayoutError(
            f"{option_place}.night_folder is {night}, but the images say {day} is the night drive "
            f"({shown}): flip the option, set {option_place}.night_folder: {day}"
        )
    raise LayoutError(
        f"cannot tell the night drive from the day drive in {root} ({shown}; night must be below "
        f"{DARKER:g} x day): check these are the Alderley frames, or set "
        f"{option_place}.check_brightness: false to trust night_folder: {night}"
    )


def _check_counts(root: Path, counts: dict[str, int], option_place: str) -> None:
    for folder, count in counts.items():
        documented = DOCUMENTED_FRAMES[folder]
        if abs(count - documented) > COUNT_SLACK * documented:
            raise LayoutError(
                f"{root / folder} holds {count} frames ({image_name(1)}..{image_name(count)}), but the "
                f"release has about {documented}: the archive looks incomplete or half-extracted "
                f"(extract {folder}.zip again), or this is another release (then set "
                f"{option_place}.check_counts: false)"
            )


def _day_of_night(matches: np.ndarray) -> tuple[dict[int, int], int]:
    """(night frame -> day frame, night frames named on several rows) when night = FRAMESA."""
    by_night: dict[int, list[int]] = {}
    for af, bf in zip(matches[:, 0].tolist(), matches[:, 1].tolist()):
        if af > 0:
            by_night.setdefault(int(af), []).append(int(bf))
    day_of = {n: sorted(days)[(len(days) - 1) // 2] for n, days in by_night.items()}
    return day_of, sum(len(days) > 1 for days in by_night.values())


def _interpolate(day_of: dict[int, int]) -> list[tuple[int, int]]:
    """Every night frame from the first to the last matched one, placed at the nearest matched one."""
    matched = sorted(day_of)
    pairs = []
    for frame in range(matched[0], matched[-1] + 1):
        if frame not in day_of:
            i = bisect.bisect_left(matched, frame)
            before, after = matched[i - 1], matched[i]
            pairs.append((frame, day_of[before if frame - before <= after - frame else after]))
        else:
            pairs.append((frame, day_of[frame]))
    return pairs


def query_places(matches: np.ndarray, night: str, query_set: str = "matched") -> tuple[list[tuple[int, int]], int]:
    """(night frame, day frame) of every query in night-frame order, and how many night frames are
    named on several csv rows (night = FRAMESA; 0 otherwise). See the module docstring."""
    a, b = matches[:, 0], matches[:, 1]
    if night == "FRAMESB":
        return [(int(bf), int(af)) for af, bf in sorted(zip(a.tolist(), b.tolist()), key=lambda r: r[1]) if af > 0], 0
    day_of, several = _day_of_night(matches)
    if not day_of:
        return [], several
    if query_set == "matched":
        return sorted(day_of.items()), several
    return _interpolate(day_of), several


def _layout(root: Path, opts: AlderleyOptions, where: str) -> tuple[dict[str, int], np.ndarray]:
    """(frame count per folder, framematches.csv rows) after every layout check."""
    root = Path(root)
    _check_root(root)
    counts = {folder: frame_count(root / folder) for folder in FOLDERS}
    if opts.check_counts:
        _check_counts(root, counts, where)
    matches = read_matches(root / MATCHES)
    check_matches(matches, root / MATCHES, counts["FRAMESA"], counts["FRAMESB"])
    if opts.check_brightness:
        check_night(root, opts.night_folder, counts, where)
    return counts, matches


def check_layout(root: Path, opts: AlderleyOptions, name: str = "alderley") -> None:
    """Folders, frame numbering, counts, framematches.csv and (a few decoded frames) which drive is night."""
    _layout(root, opts, f"datasets.{name}")


def _tell(where: str, matches: np.ndarray, opts: AlderleyOptions, queries: int, several: int, count: int) -> None:
    """Warn about what departs from the paper's protocol; note how the query set was formed."""
    night = opts.night_folder
    zeros = int((matches[:, 0] == 0).sum())
    if zeros:
        warnings.warn(
            f"{where}: {zeros} rows of {MATCHES} name FRAMESA frame 0, taken as 'no match' (those "
            "FRAMESB frames pair with nothing)",
            stacklevel=3,
        )
    if several:
        warnings.warn(
            f"{where}: {several} night frames ({night}) are named on several rows of {MATCHES}; each "
            "is one query placed at the median of its day frames",
            stacklevel=3,
        )
    if opts.query_set == "interpolated" and count > queries:
        warnings.warn(
            f"{where}: {count - queries} of {count} night frames ({night}) have no day frame in "
            f"{MATCHES} and are left out of the queries",
            stacklevel=3,
        )
    elif opts.query_set == "matched":
        note(
            f"{where}: {queries} queries = the night frames ({night}) {MATCHES} pairs with day frames; the other "
            f"{count - queries} night frames are not queries (query_set: interpolated places them too)"
        )


def prepare(root: Path, opts: AlderleyOptions, name: str = "alderley") -> pd.DataFrame:
    """Manifest rows: train and reference = day frames, query = night frames placed in day frames,
    each in frame order (time)."""
    where = f"datasets.{name}"
    counts, matches = _layout(root, opts, where)
    night = opts.night_folder
    day = FOLDERS[1] if night == FOLDERS[0] else FOLDERS[0]
    pairs, several = query_places(matches, night, opts.query_set)
    _tell(where, matches, opts, len(pairs), several, counts[night])
    rows = [
        {"image": f"{day}/{image_name(i)}", "role": role, "place": i, "condition": "day"}
        for role in ("train", "reference")
        for i in range(1, counts[day] + 1)
    ]
    rows += [{"image": f"{night}/{image_name(n)}", "role": "query", "place": d, "condition": "night"} for n, d in pairs]
    return pd.DataFrame(rows, columns=["image", "role", "place", "condition"])


def protocol(opts: AlderleyOptions) -> str:
    """The query set and the night folder, for captions."""
    queries = (
        "the night frames that framematches.csv pairs with day frames (the paper reports 14607 per "
        "sequence; the count measured is given with the rows)"
        if opts.query_set == "matched"
        else "every night frame between the first and last paired one, placed at the nearest pair's day frame"
    )
    return f"Alderley queries: {queries} (query_set: {opts.query_set}); night drive {opts.night_folder}"


def train_set(opts: AlderleyOptions) -> str:
    """What a trained row trains on: the day drive, which is the reference set itself."""
    day = FOLDERS[1] if opts.night_folder == FOLDERS[0] else FOLDERS[0]
    return (
        f"every frame of the day drive {day}, the reference images themselves (the paper's 'access only to "
        "reference images' read literally: the places evaluated are the places trained on)"
    )


DATASET = DatasetType(
    name="alderley",
    options=AlderleyOptions,
    prepare=prepare,
    check_layout=check_layout,
    sources=SOURCES,
    scoring="recall",
    paper_table="table3",
    protocol=protocol,
    train_set=train_set,
)
