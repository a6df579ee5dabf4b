"""R@1 of a small validation slice during training (`train.validate_every` epochs).

The slice lies in the training dataset's `train` images, never in a reported query set: queries
are the `train` images of condition `validate_queries` (at most `validate_max_queries`, evenly
spaced in manifest order), references the `train` images of condition `validate_references`; a
query is right when its nearest reference (inner product of the row's descriptors) lies within
+/- `validate_tolerance` places. Training never reads place labels, so this watches the run
without teaching it. One forward pass over the slice, in eval mode, drawing no random numbers,
so a run with validation trains the same weights as one without.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from acmnet.artifacts import ImageCache, Manifest
from acmnet.config import TrainConfig
from acmnet.train.step import TrainingError


@dataclass(frozen=True)
class ValidationSlice:
    """Cache rows and places of the slice's queries and references."""

    query_rows: np.ndarray  # (Q,) int64
    reference_rows: np.ndarray  # (R,) int64
    query_places: np.ndarray  # (Q,)
    reference_places: np.ndarray  # (R,)
    tolerance: int


def _train_condition(manifest: Manifest, condition: str, key: str) -> np.ndarray:
    """Manifest rows of the `train` images of `condition` (TrainingError naming `key` when there are none)."""
    frame = manifest.frame
    train = frame["role"] == "train"
    rows = np.flatnonzero(train & (frame["condition"] == condition))
    if not len(rows):
        found = sorted(frame.loc[train, "condition"].astype(str).unique())
        raise TrainingError(
            f"train.{key} is `{condition}`, but {manifest.path} has no `train` image of that condition (its `train` "
            f"conditions: {', '.join(found)}): name one of them, or set train.validate_every: 0"
        )
    return rows


def validation_slice(manifest: Manifest, cache: ImageCache, tcfg: TrainConfig) -> ValidationSlice | None:
    """The slice `tcfg` names in `manifest`, or None when validation is off. Refuses (TrainingError) a
    slice whose query images are a reported query set's (a `query` row of the manifest)."""
    if not tcfg.validate_every:
        return None
    queries = _train_condition(manifest, tcfg.validate_queries, "validate_queries")
    references = _train_condition(manifest, tcfg.validate_references, "validate_references")
    if len(queries) > tcfg.validate_max_queries:
        queries = queries[np.linspace(0, len(queries) - 1, tcfg.validate_max_queries).round().astype(int)]
    frame = manifest.frame
    reported = set(frame.loc[frame["role"] == "query", "image"])
    shared = [image for image in frame["image"].iloc[queries] if image in reported]
    if shared:
        raise TrainingError(
            f"train.validate_queries `{tcfg.validate_queries}` holds images of a reported query set of {manifest.path} "
            f"({len(shared)}, first: {shared[0]}): validation must never see a test query; name another condition"
        )
    source = str(manifest.path)
    return ValidationSlice(
        cache.rows_for(frame.iloc[queries], source),
        cache.rows_for(frame.iloc[references], source),
        frame["place"].to_numpy()[queries],
        frame["place"].to_numpy()[references],
        tcfg.validate_tolerance,
    )


def recall_at_1(query: np.ndarray, reference: np.ndarray, slice_: ValidationSlice) -> float:
    """R@1 in % of L2-normalised descriptors query (Q, D) against reference (R, D): the best-scoring
    reference (the lowest index among exact ties) within the slice's tolerance of the query's place."""
    best = np.argmax(query @ reference.T, axis=1)
    right = np.abs(slice_.reference_places[best].astype(np.int64) - slice_.query_places.astype(np.int64))
    return float(100.0 * np.mean(right <= slice_.tolerance))


@torch.no_grad()
def validation_recall(
    describer: torch.nn.Module,
    array: np.ndarray,
    slice_: ValidationSlice,
    device: torch.device,
    batch_size: int,
    channels_last: bool,
) -> float:
    """R@1 (%) of `describer` (eval mode, images in [0, 1] -> unit descriptors) on the slice of cache `array`."""
    from acmnet.evaluate.describe import embed

    rows = (slice_.query_rows, slice_.reference_rows)
    query, reference = (embed(describer, array, r, device, batch_size, "validate", channels_last, False) for r in rows)
    return recall_at_1(query, reference, slice_)
