"""The order of an epoch's training images, which the loop cuts into batches of N (`train.sampler`).

- `permutation` (default): a uniform permutation of the training images, as every SimCLR-style
  loop draws them. Neighbouring frames of one route can then share a batch, where the contrastive
  loss treats them as negatives of each other.
- `places`: the paper's reading of section 3.4 ("N different places" per batch): no two images
  of a batch lie within `train.place_window` places of each other on the same stretch of the
  route (`place` and, where there is one, `segment` of the manifest). The batches are filled
  greedily from a uniform permutation: an image that is too close to one already in the batch
  waits for the next batch (and is tried first there). Every image is used at most once per
  epoch, except where the images left at the end of an epoch cannot fill its last batches: those
  are completed with other training images drawn at random that keep the rule (`refills` counts
  them). Meaningful only on a dataset with a route (for `utm` and `vprbench` the place is a
  folder index).

`epoch_order` draws from the run's batch-order generator; with `permutation` it draws exactly
what `generator.permutation(rows)` draws, so runs made before the option keep their order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from acmnet.artifacts import ImageCache, Manifest
from acmnet.data import manifest as mf


class SamplerError(ValueError):
    """The training images cannot be batched as `train.sampler` asks."""


@dataclass(frozen=True)
class RoutePositions:
    """Where each training image lies: `place` and `segment` int64 (n,), aligned with the cache rows."""

    place: np.ndarray
    segment: np.ndarray


def route_positions(manifest: Manifest, cache: ImageCache, rows: np.ndarray) -> RoutePositions:
    """The place and segment (0 without a `segment` column) of each cache row of `rows` (n,), read
    from the manifest's `train` rows (an image listed twice takes its first row's place)."""
    frame = manifest.frame.iloc[manifest.rows("train")]
    cache_rows = cache.rows_for(frame, str(manifest.path))
    first = np.unique(cache_rows, return_index=True)[1]
    by_row = dict(zip(cache_rows[first], first, strict=True))
    at = np.array([by_row[int(r)] for r in rows], dtype=np.int64)
    segment = frame[mf.SEGMENT_COLUMN].to_numpy() if mf.SEGMENT_COLUMN in frame.columns else np.zeros(len(frame))
    return RoutePositions(frame["place"].to_numpy(np.int64)[at], np.asarray(segment, dtype=np.int64)[at])


def spread(positions: RoutePositions, window: int) -> np.ndarray:
    """Positions of a largest set of images more than `window` places apart on each stretch: per
    segment, greedily in place order (optimal for points on a line)."""
    order = np.lexsort((positions.place, positions.segment))
    chosen, last = [], None
    for i in order:
        key = (int(positions.segment[i]), int(positions.place[i]))
        if last is None or key[0] != last[0] or key[1] - last[1] > window:
            chosen.append(int(i))
            last = key
    return np.asarray(chosen, dtype=np.int64)


def spread_capacity(positions: RoutePositions, window: int) -> int:
    """The most images that can share a batch under the `places` rule (`spread`)."""
    return len(spread(positions, window))


def check_places(positions: RoutePositions, batch_size: int, window: int, where: str) -> None:
    """SamplerError when no batch of `batch_size` images can keep the `places` rule."""
    capacity = spread_capacity(positions, window)
    if capacity < batch_size:
        raise SamplerError(
            f"{where}: train.sampler is `places`, but at most {capacity} training images lie more than "
            f"train.place_window = {window} places apart, fewer than train.batch_size = {batch_size}: lower "
            "the batch size or the window, or use train.sampler: permutation"
        )


def _fill(
    pool: list[int], positions: RoutePositions, size: int, window: int, batch: list[int] | None = None
) -> tuple[list[int], list[int]]:
    """Complete `batch` (default: empty) to `size` images from the front of `pool` (positions into
    the images): (the batch, the images passed over and the unread rest of `pool`, in order)."""
    batch = list(batch or [])
    blocked = {
        (int(positions.segment[i]), int(positions.place[i]) + d) for i in batch for d in range(-window, window + 1)
    }
    passed, at = [], 0
    while len(batch) < size and at < len(pool):
        i = pool[at]
        at += 1
        key = (int(positions.segment[i]), int(positions.place[i]))
        if key in blocked or i in batch:
            passed.append(i)
            continue
        batch.append(i)
        blocked.update((key[0], key[1] + d) for d in range(-window, window + 1))
    return batch, passed + pool[at:]


def place_batches(
    positions: RoutePositions, batch_size: int, window: int, steps: int, generator: np.random.Generator
) -> tuple[np.ndarray, int]:
    """(positions into the images of `steps` batches of `batch_size`, int64 (steps * batch_size,);
    how many images refill batches the epoch's leftovers could not fill), under the `places` rule.
    A short batch is completed from all the images in a fresh random order; if even that falls
    short, it is `batch_size` images drawn from a largest spread set (`spread`)."""
    n = len(positions.place)
    pool = [int(i) for i in generator.permutation(n)]
    out, refills = [], 0
    for _ in range(steps):
        batch, pool = _fill(pool, positions, batch_size, window)
        if len(batch) < batch_size:  # the leftovers are too close together
            short = len(batch)
            batch, _ = _fill([int(i) for i in generator.permutation(n)], positions, batch_size, window, batch)
            if len(batch) < batch_size:
                batch = [int(i) for i in generator.choice(spread(positions, window), batch_size, replace=False)]
            refills += batch_size - short
        out.extend(batch)
    return np.asarray(out, dtype=np.int64), refills


def epoch_order(
    rows: np.ndarray,
    positions: RoutePositions | None,
    sampler: str,
    batch_size: int,
    window: int,
    generator: np.random.Generator,
) -> np.ndarray:
    """The cache rows of one epoch in batch order: `rows` (n,) permuted (`permutation`), or
    len(rows) // batch_size batches under the `places` rule (`positions` needed)."""
    if sampler == "permutation":
        return generator.permutation(rows)
    if positions is None:
        raise SamplerError("train.sampler `places` needs the training images' places")
    picks, _ = place_batches(positions, batch_size, window, len(rows) // batch_size, generator)
    return np.asarray(rows)[picks]
