"""Batch order of an epoch: a plain permutation, or at most one image per place window (`places`)."""

import numpy as np
import pytest

from acmnet.config_loader import config_from_dict
from acmnet.train.sampler import (
    RoutePositions,
    SamplerError,
    check_places,
    epoch_order,
    place_batches,
    spread_capacity,
)


def _route(places, segments=None):
    places = np.asarray(places, dtype=np.int64)
    segments = np.zeros(len(places), np.int64) if segments is None else np.asarray(segments, np.int64)
    return RoutePositions(places, segments)


def _closest_pair(positions, batch):
    """The smallest place gap between two images of one segment in `batch` (inf when none share one)."""
    gaps = [
        abs(int(positions.place[a]) - int(positions.place[b]))
        for i, a in enumerate(batch)
        for b in batch[i + 1 :]
        if positions.segment[a] == positions.segment[b]
    ]
    return min(gaps, default=np.inf)


def test_permutation_draws_what_the_loop_always_drew():
    rows = np.arange(100, 400)
    ours = epoch_order(rows, None, "permutation", 32, 2, np.random.default_rng(7))
    assert np.array_equal(ours, np.random.default_rng(7).permutation(rows))


def test_places_keeps_every_batch_spread_and_uses_each_image_once():
    positions = _route(np.arange(300))
    order, refills = place_batches(positions, 32, 1, 300 // 32, np.random.default_rng(0))
    batches = order.reshape(-1, 32)
    assert len(batches) == 9 and refills == 0
    assert min(_closest_pair(positions, list(b)) for b in batches) > 1
    assert len(np.unique(order)) == len(order)
    # a plain permutation puts neighbours together (what the option is for)
    plain = np.random.default_rng(0).permutation(300)[:288].reshape(9, 32)
    assert min(_closest_pair(positions, list(b)) for b in plain) <= 1


def test_neighbours_on_other_segments_may_share_a_batch():
    positions = _route([0, 1, 0, 1], segments=[0, 0, 1, 1])
    order, _ = place_batches(positions, 2, 2, 2, np.random.default_rng(3))
    for batch in order.reshape(-1, 2):
        assert positions.segment[batch[0]] != positions.segment[batch[1]]


def test_leftovers_too_close_together_are_refilled_within_the_rule():
    """Three images per place: late in the epoch the leftovers share places; refilled batches keep the rule."""
    positions = _route(np.repeat(np.arange(40), 3))
    order, refills = place_batches(positions, 10, 1, 12, np.random.default_rng(1))
    assert refills > 0
    assert min(_closest_pair(positions, list(b)) for b in order.reshape(-1, 10)) > 1


def test_a_route_that_barely_holds_a_batch_still_keeps_the_rule_in_every_batch():
    """Capacity 5 (places 0, 2, 4, 6, 8) at batch 5: greedy filling often fails; the fallback keeps the rule."""
    positions = _route(np.repeat(np.arange(10), 4))
    order, refills = place_batches(positions, 5, 1, 8, np.random.default_rng(2))
    assert refills > 0 and len(order) == 40
    assert min(_closest_pair(positions, list(b)) for b in order.reshape(-1, 5)) > 1


def test_capacity_is_the_greedy_count_and_a_batch_that_cannot_keep_the_rule_is_refused():
    positions = _route([0, 1, 2, 3, 4, 10, 11, 20])
    assert spread_capacity(positions, 1) == 5  # 0, 2, 4, 10, 20
    assert spread_capacity(positions, 0) == 8
    with pytest.raises(SamplerError, match=r"at most 5 training images .*place_window = 1.*batch_size = 6"):
        check_places(positions, 6, 1, "m.csv")
    check_places(positions, 5, 1, "m.csv")


def _cfg(train):
    return config_from_dict(
        {"methods": {"a": {"kind": "acmnet", "train": train}}, "datasets": {"d": {"type": "synthetic", "root": "x"}}}
    )


def test_the_default_sampler_keeps_earlier_runs_digests_and_places_names_its_window():
    plain = _cfg({})
    settings = plain.settings("train", method="a")["method.options.train"]
    assert "sampler" not in settings and "place_window" not in settings
    spread = _cfg({"sampler": "places", "place_window": 1}).settings("train", method="a")["method.options.train"]
    assert spread["sampler"] == "places" and spread["place_window"] == 1
    other = _cfg({"sampler": "places", "place_window": 2})
    assert other.settings_digest("train", method="a") != _cfg({"sampler": "places", "place_window": 1}).settings_digest(
        "train", method="a"
    )


def test_training_with_places_batches_by_the_manifest_places(tmp_path, monkeypatch):
    """The loop hands the manifest's places to the sampler: every epoch's batches keep the window."""
    import acmnet.train.loop as loop
    from tests.train.test_loop import _run, _setup

    cfg = _setup(tmp_path, epochs=2)  # 12 training images on places 0..11, batches of 4
    cfg.train.sampler, cfg.train.place_window = "places", 2
    orders = []

    def recording(*args):
        orders.append(epoch_order(*args))
        return orders[-1]

    monkeypatch.setattr(loop, "epoch_order", recording)
    _run(cfg, tmp_path, "run")
    assert len(orders) == 2
    for order in orders:  # cache rows 0..11 hold places 0..11
        assert len(order) == 12 and all(np.diff(np.sort(b)).min() > 2 for b in order.reshape(3, 4))
    cfg.train.place_window = 4  # at most 3 of the 12 places lie 5 apart: refused before training
    with pytest.raises(SamplerError, match="at most 3 training images"):
        _run(cfg, tmp_path, "run2")
