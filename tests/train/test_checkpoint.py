"""Random states across resumes, and the run identity."""

import numpy as np
import torch

from acmnet.train.checkpoint import restore_rng, rng_state, training_digest
from acmnet.train.distributed import Group


def test_resume_with_another_number_of_processes_keeps_the_batch_order(capsys):
    generator = np.random.default_rng(5)
    generator.permutation(10)
    states = [rng_state(generator), rng_state(np.random.default_rng(99))]
    expected_order = np.random.default_rng(5)
    expected_order.permutation(10)
    fresh = np.random.default_rng(0)
    restore_rng(states, fresh, Group(0, 1, torch.device("cpu")), reseed=40)
    assert np.array_equal(fresh.permutation(10), expected_order.permutation(10))
    assert torch.equal(torch.get_rng_state(), torch.manual_seed(40).get_state())
    assert "from a run of 2" in capsys.readouterr().out
    restore_rng(states, fresh, Group(1, 2, torch.device("cpu")), reseed=40)  # same world size: the rank's own
    assert fresh.bit_generator.state == states[1]["numpy"]


def test_a_run_is_named_by_its_settings_and_its_training_pixels():
    settings = {"seed": 0, "method.options.train": {"lr": 0.003}}
    base = training_digest(settings, "pixels-a")
    assert base == training_digest(dict(settings), "pixels-a")
    assert base != training_digest(settings, "pixels-b")
    assert base != training_digest({**settings, "seed": 1}, "pixels-a")
