"""First-hit ranks and bootstrap intervals of recall, against closed forms and simulations."""

import numpy as np
import pytest

from acmnet.data.positives import from_places
from acmnet.evaluate.statistics import bootstrap_interval, first_hit_ranks, recall_at


def test_first_hit_ranks_and_recall():
    r_places = np.array([0, 10, 20, 30])
    q_places = np.array([10, 10, 31, 99])
    indices = np.array([[1, 0], [2, 1], [0, 3], [0, 1]])
    ranks = first_hit_ranks(from_places(q_places, r_places, 2).hits(indices))
    assert ranks.tolist() == [1, 2, 2, 0]
    assert recall_at(ranks, 1) == 25.0 and recall_at(ranks, 2) == 75.0


def test_bootstrap_interval_is_seeded_and_near_the_binomial_one():
    ranks = np.array([1] * 300 + [0] * 700)  # recall 30 % over 1000 queries
    bounds = bootstrap_interval(ranks, [1], resamples=4000, seed=3)[1]
    assert bounds == bootstrap_interval(ranks, [1], resamples=4000, seed=3)[1]
    half = 1.96 * np.sqrt(0.3 * 0.7 / 1000) * 100  # normal approximation: +/- 2.84
    assert bounds[0] == pytest.approx(30 - half, abs=0.5) and bounds[1] == pytest.approx(30 + half, abs=0.5)


def test_bootstrap_covers_the_true_recall_at_the_stated_rate():
    rng = np.random.default_rng(0)
    covered = 0
    for trial in range(200):
        ranks = np.where(rng.random(300) < 0.4, 1, 0)
        lo, hi = bootstrap_interval(ranks, [1], resamples=400, seed=trial)[1]
        covered += lo <= 40.0 <= hi
    assert 0.90 <= covered / 200 <= 0.99  # nominal 95 %
