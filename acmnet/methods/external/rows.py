"""Reading one file into the manifest's order, as float32 rows checked (and L2-normalised when asked)."""

from __future__ import annotations

import numpy as np

from acmnet.methods.external.forms import READERS, _form
from acmnet.methods.external.reader import ExternalDescriptorsError

FLOAT32_MAX = float(np.finfo(np.float32).max)


def _power_of_two(largest: np.ndarray) -> np.ndarray:
    """Per row, the power of two dividing its values into [0.5, 1) in magnitude (1 for a zero row):
    dividing by it is exact, and no square of the result overflows or underflows float64."""
    return np.ldexp(1.0, np.frexp(largest)[1])


def _checked_rows(rows: np.ndarray, picks: np.ndarray, images: list[str], path: str, normalize: bool) -> np.ndarray:
    """rows[picks] as float32, L2-normalised in float64 when asked (each row scaled by `_power_of_two`
    first, so a finite row of any magnitude keeps its direction, bit for bit as without the scaling);
    refused, naming the first such row: non-finite values; with `normalize` an all-zero row; without
    it a value beyond float32's range, a non-zero row whose float32 values are all zero, or a norm
    whose square (the largest inner product) exceeds float32's range."""
    image_of = dict(zip(picks.tolist(), images))  # file row -> image

    def refuse(bad: np.ndarray, what: str) -> None:  # `{largest}`: that row's largest |value|
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ExternalDescriptorsError(f"{path}: row {row} ({image_of[row]}) " + what.format(largest=largest[row]))

    values = rows.astype(np.float64)
    largest = np.abs(values).max(axis=1)
    refuse(~np.isfinite(values).all(axis=1), "holds non-finite values")
    scale = _power_of_two(largest)
    if normalize:
        refuse(
            largest == 0,
            "is all zeros and cannot be L2-normalised (set the method's `normalize: false` to use the rows as given)",
        )
        scaled = values / scale[:, None]
        return (scaled / np.linalg.norm(scaled, axis=1, keepdims=True))[picks].astype(np.float32)
    as_given = "with `normalize: false` the rows are used as given, in float32: scale them, or set `normalize: true`"
    refuse(
        largest > FLOAT32_MAX,
        "holds a value beyond float32's range (|value| up to {largest:.3g}, float32 "
        f"ends at {FLOAT32_MAX:.3g}); {as_given}",
    )
    out = values.astype(np.float32)
    refuse(
        (largest > 0) & (np.abs(out).max(axis=1) == 0),
        "is all zeros in float32 (every |value| is below float32's smallest, 1.4e-45; its largest is "
        "{largest:.3g}); " + as_given,
    )
    norms = np.linalg.norm(values / scale[:, None], axis=1) * scale
    refuse(
        norms**2 > FLOAT32_MAX,
        f"has a norm whose square exceeds float32's range, so its inner products overflow; {as_given}",
    )
    return out[picks]


def read_file(
    path: str, ref_images: list[str], query_images: list[str], normalize: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """(reference, query) float32 rows from one file, in the order of `ref_images` and `query_images`."""
    rows, picks = READERS[_form(path, path)].rows(path, ref_images, query_images)
    out = _checked_rows(rows, picks, ref_images + query_images, path, normalize)
    return out[: len(ref_images)], out[len(ref_images) :]
