"""How many processes a training job starts (`processes_for`, read by workflow/rules/train.smk)."""

from __future__ import annotations

import pytest

from acmnet.config import ConfigError
from acmnet.config_loader import load_config
from acmnet.train.distributed import processes_for
from tests.conftest import REPO


def _cfg(gpus: int, processes: int, batch: int = 64):
    return load_config(
        REPO / "config" / "config.yaml",
        {"resources": {"train_gpu": gpus}, "train": {"processes": processes, "batch_size": batch}},
    )


@pytest.mark.parametrize(
    "gpus, processes, expected", [(0, 1, 1), (1, 1, 1), (0, 2, 2), (1, 4, 4), (4, 1, 4), (4, 4, 4)]
)
def test_one_process_per_gpu_above_one_gpu_else_train_processes(gpus, processes, expected):
    assert processes_for(_cfg(gpus, processes), "acmnet") == expected


def test_processes_that_contradict_the_gpus_are_refused_naming_both_keys():
    with pytest.raises(ConfigError, match=r"train.processes is 2 for acmnet but resources.train_gpu is 4"):
        processes_for(_cfg(4, 2), "acmnet")


def test_a_global_batch_the_processes_cannot_share_is_refused():
    with pytest.raises(ConfigError, match=r"train.batch_size \(64\) of acmnet must be divisible by the 3"):
        processes_for(_cfg(3, 1), "acmnet")


def test_one_process_keeps_earlier_runs_digests_and_several_name_their_own_run():
    """`train.processes` came after runs existed: at 1 (their behaviour) it is left out of a run's
    identity, so those runs keep their folders; 2 processes make another run."""
    one, two = _cfg(0, 1), _cfg(0, 2)
    assert "processes" not in one.settings("train", method="acmnet")["method.options.train"]
    assert two.settings("train", method="acmnet")["method.options.train"]["processes"] == 2
    assert one.settings_digest("train", method="acmnet") != two.settings_digest("train", method="acmnet")
