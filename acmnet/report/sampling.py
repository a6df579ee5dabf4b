"""How training batches were drawn, for the captions (`train.sampler`, acmnet/train/sampler.py)."""

from __future__ import annotations

from acmnet.config import TrainConfig


def batch_choice(t: TrainConfig) -> str:
    """The batch sentence of the captions: the paper's "N different places" (section 3.4) against
    our default, a plain permutation (plain text)."""
    if t.sampler == "places":
        return (
            f"batches: N different places as the paper reads (section 3.4): no two images within ±{t.place_window} "
            "places of one stretch in a batch (sampler places)"
        )
    return (
        "batches: a plain permutation of the training images (sampler permutation, our default), so neighbouring "
        "frames can meet as negatives; the paper speaks of N different places (sampler places)"
    )
