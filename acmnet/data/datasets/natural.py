"""Name order of a folder: plain (string order, `sorted`) or natural (`img2` before `img10`).

A listed ground truth (VPR-Bench's `ground_truth_new.npy`) names images by their position in the
folder's order, so the order decides which image each index means. VPR-Bench's
`evaluate_vpr_techniques.py` (commit 77ad30f) orders by the integer a name is
(`sorted(names, key=lambda x: int(x.split(".")[0]))`) and its released names are zero-padded
(`0000000.jpg`), so string order gives the same; AnyLoc lists folders with
`natsorted(os.listdir(...))` (custom_datasets/*.py, natsort 8), which puts `img2.jpg` before
`img10.jpg` (and, on integer names, agrees with VPR-Bench's `int` order). Where plain (string) and
natural order differ and no `order` is given, `ordered` refuses, naming two files that sort
differently: never a guess.

`natural_key` is natsort's default key (`natsort_keygen()`, `ns.INT`): the name split into runs of
decimal digits, compared as unsigned integers, and the text between them, compared as is (case
counts); a name starting with a digit gets an empty text first, as natsort gives it. Names with the
same key (`a01`, `a1`), which natsort leaves in `os.listdir`'s arbitrary order, follow plain order.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from acmnet.data.datasets.base import LayoutError

Order = Literal["plain", "natural"]
_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple:
    """natsort's default key of `name`, e.g. `img10.jpg` -> ('img', 10, '.jpg'), `10a` -> ('', 10, 'a')."""
    parts = _DIGITS.split(name)
    if parts and parts[-1] == "":
        parts = parts[:-1]
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts))


def natural_sorted(names: list[str]) -> list[str]:
    """`names` in natural order (natsort's `natsorted`), ties in plain order."""
    return sorted(sorted(names), key=natural_key)


class OrderError(LayoutError):
    """A folder's plain and natural orders differ and the config does not say which one is meant."""


def ordered(names: list[str], order: Order | None, folder: Path, option: str) -> list[str]:
    """The folder's names in `order`; with None, the plain order when both orders agree, else OrderError
    naming two files of `folder` that sort differently and the option `option` that settles it."""
    plain = sorted(names)
    natural = natural_sorted(names)
    if order == "natural":
        return natural
    if order == "plain" or plain == natural:
        return plain
    at = next(i for i, (a, b) in enumerate(zip(plain, natural)) if a != b)
    raise OrderError(
        f"{folder}: {plain[at]} comes before {natural[at]} in plain name order (string sort) but after it in "
        f"natural order (AnyLoc's natsorted; VPR-Bench's int(name) order on integer names), so the listed ground "
        "truth means different images in each; set "
        f"`{option}: plain` or `{option}: natural` to the order the ground truth was written for"
    )
