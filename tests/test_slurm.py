"""The checks before a Slurm run (acmnet/slurm.py), on the answers of a real Slurm 22.05 (Debian
bookworm's slurm-wlm, the one-node cluster of tests/slurm/start_cluster.sh: captured/)."""

from __future__ import annotations

from pathlib import Path

import pytest

from acmnet.config_loader import load_config
from acmnet.slurm import MAX_STATUS_INTERVAL_S, Node, parse_config, parse_nodes, refused, requests, status_problem
from tests.conftest import REPO

CAPTURED = Path(__file__).parent / "slurm" / "captured"
NO_ACCOUNTING = parse_config((CAPTURED / "scontrol_show_config.txt").read_text())


def test_real_answers_parse():
    assert NO_ACCOUNTING["AccountingStorageType"] == "accounting_storage/none"
    assert NO_ACCOUNTING["MinJobAge"] == "3600 sec"
    (node,) = parse_nodes((CAPTURED / "sinfo_node.txt").read_text())
    assert (node.cpus, node.mem_mb, node.gpus, node.max_minutes) == (2, 21694, 4, None)


@pytest.mark.parametrize(
    "line, gpus, minutes",
    [
        ("n1|64|512000|gpu:a100:4(S:0-1)|2-00:00:00", 4, 2880),
        ("n2|32|192000|gpu:2,mps:200|12:00:00", 2, 720),
        ("n3|16|64000|(null)|30:00", 0, 30),
    ],
)
def test_node_lines_other_clusters_print(line, gpus, minutes):
    (node,) = parse_nodes(line)
    assert (node.gpus, node.max_minutes) == (gpus, minutes)


def test_sacct_without_accounting_is_named_and_squeue_is_the_way():
    problem = status_problem("sacct", 40, NO_ACCOUNTING, sacct=True)
    assert "accounting_storage/none" in problem and "slurm-status-command: squeue" in problem
    assert status_problem("squeue", 10, NO_ACCOUNTING, sacct=True) is None
    # the plugin's default with sacct installed is sacct
    assert status_problem(None, 40, NO_ACCOUNTING, sacct=True) is not None


def test_squeue_needs_finished_jobs_kept_longer_than_the_longest_query_interval():
    short = {**NO_ACCOUNTING, "MinJobAge": "150 sec"}
    problem = status_problem("squeue", 10, short, sacct=True)
    assert "MinJobAge=150 sec" in problem and str(MAX_STATUS_INTERVAL_S) in problem
    # below 3 x the first interval the plugin itself falls back to sacct: no accounting, no status
    tiny = {**NO_ACCOUNTING, "MinJobAge": "60 sec"}
    assert "accounting" in status_problem("squeue", 40, tiny, sacct=True)
    with_db = {**tiny, "AccountingStorageType": "accounting_storage/slurmdbd"}
    assert status_problem("squeue", 40, with_db, sacct=True) is None
    assert status_problem("sacct", 40, with_db, sacct=True) is None


def test_a_request_no_node_can_take_names_the_config_key():
    cfg = load_config(REPO / "config" / "config.yaml")
    small = [Node("a", 16, 64000, 0, 600), Node("b", 8, 32000, 2, None)]
    asked = requests(cfg, train=True, describe_gpus=True)
    assert refused("train", asked["train"], small) is None  # 8 CPUs, 32000 MB, 1 GPU, 608 min on b
    cfg.resources.train_mem_mb = 100000
    cfg.resources.train_gpu = 4
    message = refused("train", requests(cfg, True, True)["train"], small)
    assert "resources.train_mem_mb: 100000, but no node has more than 64000 MB" in message
    assert "resources.train_gpu: 4, but no node has more than 2 GPUs" in message
    cfg.resources.describe_runtime = 2000
    message = refused("describe", requests(cfg, True, True)["describe"], [small[0]])
    assert "resources.describe_runtime: 2000 minutes, but no partition allows more than 600" in message
    # each request fits some node, but no node takes all of them at once
    cfg = load_config(REPO / "config" / "config.yaml")
    cfg.resources.train_cpus = 16
    assert "no single node has all of" in refused("train", requests(cfg, True, True)["train"], small)


def test_untrained_runs_ask_nothing_of_training_and_cpu_methods_no_gpu():
    cfg = load_config(REPO / "config" / "config.yaml")
    asked = requests(cfg, train=False, describe_gpus=False)
    assert list(asked) == ["describe"] and asked["describe"]["resources.describe_gpu"] == 0
