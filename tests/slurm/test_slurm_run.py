"""The pipeline through a real Slurm (tests/slurm/start_cluster.sh: one node, Debian's slurm-wlm, no
accounting database), started as the docs tell a user: `snakemake --workflow-profile
workflow/profiles/slurm`. A tiny demo (60 places, 1 epoch, 2 training processes, 2 describe parts).

Skipped, saying why, only where no cluster runs and none can be started (not root)."""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from acmnet.artifacts import load_checkpoint
from tests.conftest import REPO

pytestmark = pytest.mark.e2e

PROFILE = REPO / "workflow" / "profiles" / "slurm"
START = REPO / "tests" / "slurm" / "start_cluster.sh"
SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile")]


def _idle() -> bool:
    if not shutil.which("sinfo"):
        return False
    out = subprocess.run(["sinfo", "--noheader", "--format=%T"], capture_output=True, text=True).stdout
    return "idle" in out.split() or "mixed" in out.split() or "allocated" in out.split()


@pytest.fixture(scope="module")
def cluster():
    """A running Slurm: the one `.ci/run` started, or one started (and stopped) here as root."""
    if _idle():
        yield
        return
    if os.geteuid() != 0:
        pytest.skip("no Slurm cluster runs here and starting one needs root: run tests/slurm/start_cluster.sh as root")
    subprocess.run([str(START)], check=True, timeout=900)
    try:
        yield
    finally:
        subprocess.run([str(START), "stop"], check=False)


def _config(folder: Path, **resources) -> Path:
    """The tiny demo: 60 places, one query condition, 1 epoch of 2 gloo processes with a checkpoint
    after every step, 2 describe parts; describe asks for a GPU (the test node declares 4 it does
    not have, and the jobs run on its CPUs)."""
    cfg = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    cfg["methods"].pop("acmnet_places")  # the demo's sampler ablation: one trained row is enough here
    cfg["image_size"] = [32, 32]
    cfg["train"].update(epochs=1, batch_size=8, processes=2, checkpoint_every_steps=1, log_every=1)
    cfg["evaluate"].update(top_k=10, batch_size=32, describe_shards=2, pr=False, tolerance_curve=False)
    cfg["resources"].update(
        train_cpus=2, train_mem_mb=3000, train_runtime=30, describe_cpus=2, describe_mem_mb=2500, describe_gpu=1
    )
    cfg["resources"].update(resources)
    cfg["datasets"]["demo_route"].update(root="route", places=60, render_size=[32, 48], query_conditions=["winter"])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tiny.yaml").write_text(yaml.safe_dump(cfg))
    return folder / "tiny.yaml"


def _env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}


def _through_slurm(folder: Path) -> subprocess.Popen:
    """The documented command, in `folder` (its own output going to folder/snakemake.log)."""
    command = [*SNAKEMAKE, "--workflow-profile", str(PROFILE), "--configfile", "tiny.yaml"]
    with open(folder / "snakemake.log", "a") as log:  # the child keeps its own descriptor
        return subprocess.Popen(command, cwd=folder, env=_env(), stdout=log, stderr=subprocess.STDOUT, text=True)


def _jobs() -> dict[str, dict[str, str]]:
    """Every job slurmctld still knows (MinJobAge: an hour on the test cluster), by job id: the
    fields of `scontrol show job --oneliner`."""
    out = subprocess.run(["scontrol", "show", "job", "--oneliner"], capture_output=True, text=True).stdout
    jobs = {}
    for line in out.splitlines():
        fields = dict(re.findall(r"(\S+?)=(\S*)", line))
        if "JobId" in fields:
            jobs[fields["JobId"]] = fields
    return jobs


def _run_jobs(log: Path) -> dict[str, dict[str, str]]:
    """The jobs a run submitted (the Slurm job ids its log names)."""
    ids = re.findall(r"submitted with SLURM jobid (\d+)", log.read_text())
    known = _jobs()
    return {i: known[i] for i in ids if i in known}


def _cancel_training_mid_run(folder: Path, run: subprocess.Popen) -> str:
    """Wait until the training job has written a checkpoint inside its epoch, then scancel it."""
    deadline = time.time() + 1200
    while time.time() < deadline and run.poll() is None:
        train = [i for i, j in _run_jobs(folder / "snakemake.log").items() if j["Comment"].startswith("rule_train")]
        if train and glob.glob(str(folder / "results/demo/demo_route/runs/*/last.pt")):
            subprocess.run(["scancel", train[0]], check=True)
            return train[0]
        time.sleep(0.2)
    raise AssertionError(f"no training checkpoint to cancel at:\n{(folder / 'snakemake.log').read_text()[-3000:]}")


def _wait(run: subprocess.Popen, folder: Path, ok: bool) -> None:
    code = run.wait(timeout=3600)
    tail = (folder / "snakemake.log").read_text()[-4000:]
    assert (code == 0) == ok, f"snakemake exited {code}:\n{tail}"


def test_the_demo_through_slurm_equals_a_local_run_and_resumes_a_cancelled_training(cluster, local_run, tmp_path):
    start = time.time()
    slurm = tmp_path / "slurm"
    _config(slurm)
    run = _through_slurm(slurm)
    cancelled = _cancel_training_mid_run(slurm, run)
    _wait(run, slurm, ok=False)  # the cancelled job fails the run; everything else it could do is done
    assert _jobs()[cancelled]["JobState"] == "CANCELLED"
    exp = slurm / "results" / "demo"
    assert not (exp / "demo_route" / "acmnet" / "checkpoint.pt").exists()
    _wait(_through_slurm(slurm), slurm, ok=True)  # the same command again: resumes and finishes
    print(f"through Slurm: {time.time() - start:.0f} s")

    # Training resumed from the cancelled job's checkpoint and lost no step.
    assert "resuming acmnet from" in (slurm / "logs/demo/train/demo_route/acmnet.log").read_text()
    trained = exp / "demo_route" / "acmnet"
    info = load_checkpoint(trained / "checkpoint.pt").info
    assert info["world_size"] == 2 and info["steps"] == 60 // 8  # 2 processes, global batch 8, one epoch
    assert pd.read_csv(trained / "train_steps.csv")["step"].tolist() == list(range(1, 60 // 8 + 1))
    assert pd.read_csv(trained / "train_log.csv")["epoch"].tolist() == [1]

    # Every job was an sbatch submission that asked for its rule's resources.
    log = slurm / "snakemake.log"
    jobs = _run_jobs(log)
    rules = [re.match(r"rule_([a-z_]+?)(_wildcards|$)", j["Comment"]).group(1) for j in jobs.values()]
    planned = re.findall(r"^rule (\w+):$", log.read_text(), re.M)
    assert sorted(rules) == sorted(planned), (rules, planned)
    for job in jobs.values():
        if job["Comment"].startswith("rule_train"):
            assert (job["MinMemoryNode"], job["TimeLimit"], job["NumCPUs"]) == ("3000M", "00:30:00", "2")
            assert "gpu" not in job.get("TresPerJob", "")
        if job["Comment"].startswith("rule_describe"):
            assert (job["MinMemoryNode"], job["TimeLimit"], job["NumCPUs"]) == ("2500M", "00:10:00", "2")
            assert job["TresPerJob"] == "gres:gpu:1"
    describe = sorted(j["Comment"] for j in jobs.values() if j["Comment"].startswith("rule_describe"))
    assert describe == [
        f"rule_describe_wildcards_demo_route_{m}_{s:04d}_0002" for m in ("acmnet", "imagenet_avg") for s in range(2)
    ]

    # The same config run here: the untrained row's metrics are equal, and so is the trained model.
    here, there = (pd.read_csv(f / "results/demo/metrics.csv").set_index("method") for f in (local_run, slurm))
    timings = ["describe_ms_per_image", "search_ms_per_query"]  # measured, so never equal twice
    untrained = [there.loc[["imagenet_avg"]].drop(columns=timings), here.loc[["imagenet_avg"]].drop(columns=timings)]
    pd.testing.assert_frame_equal(*untrained)
    ours = load_checkpoint(local_run / "results/demo/demo_route/acmnet/checkpoint.pt").model_state
    for key, value in load_checkpoint(trained / "checkpoint.pt").model_state.items():
        torch.testing.assert_close(value, ours[key], msg=key)
    for name in _report_files(local_run):
        assert (slurm / name).is_file(), name


@pytest.fixture(scope="module")
def local_run(tmp_path_factory) -> Path:
    """The same tiny demo run here (`--cores 2`: the threads the cluster jobs ask for)."""
    local = tmp_path_factory.mktemp("local")
    _config(local)
    start = time.time()
    command = [*SNAKEMAKE, "--cores", "2", "--configfile", "tiny.yaml"]
    result = subprocess.run(command, cwd=local, env=_env(), capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stderr[-4000:]
    print(f"locally: {time.time() - start:.0f} s")
    return local


def _report_files(folder: Path) -> list[str]:
    """Every file the local run wrote under results/ and figures/, relative to `folder`."""
    return [
        str(p.relative_to(folder))
        for base in ("results", "figures")
        for p in (folder / base).rglob("*")
        if p.is_file() and "/runs/" not in str(p)
    ]


@pytest.mark.parametrize(
    "resources, extra, message",
    [
        ({"train_mem_mb": 10**7}, [], "resources.train_mem_mb: 10000000, but no node has more than"),
        # the plugin's own default where sacct is installed: on this cluster (no accounting) it
        # would never see a job end
        ({}, ["--slurm-status-command", "sacct"], "so `sacct` never lists a finished job"),
    ],
)
def test_a_run_the_cluster_cannot_carry_stops_before_its_first_submission(cluster, tmp_path, resources, extra, message):
    _config(tmp_path, **resources)
    command = [*SNAKEMAKE, "--workflow-profile", str(PROFILE), "--configfile", "tiny.yaml", *extra]
    result = subprocess.run(command, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=900)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
    assert "submitted with SLURM jobid" not in result.stdout + result.stderr


def test_training_on_several_nodes_meets_through_slurms_environment(cluster, local_run, tmp_path):
    """train_nodes.sbatch as docs/paper-run.md submits it, with 2 torchrun agents (one process each)
    on this one node: they meet at the allocation's first node (c10d) and train the workflow's
    2-process model."""
    data = local_run / "results" / "demo" / "demo_route"
    out = tmp_path / "nodes"
    command = [
        "sbatch", "--parsable", "--wait", "--nodes", "1", "--ntasks", "2", "--cpus-per-task", "1",
        "--mem", "3000", "--time", "30", f"--output={tmp_path / 'slurm-%j.log'}",
        str(REPO / "workflow" / "profiles" / "slurm" / "train_nodes.sbatch"),
        "--config", str(local_run / "tiny.yaml"), "--method", "acmnet", "--manifest", str(data / "manifest.csv"),
        "--cache", str(data / "cache" / "images.npy"), "--out-dir", str(out), "--runs-dir", str(out / "runs"),
    ]  # fmt: skip
    result = subprocess.run(command, cwd=local_run, env=_env(), capture_output=True, text=True, timeout=1800)
    logs = "".join(p.read_text() for p in tmp_path.glob("slurm-*.log"))
    assert result.returncode == 0, f"{result.stderr}\n{logs[-4000:]}"
    info = load_checkpoint(out / "checkpoint.pt").info
    assert info["world_size"] == 2 and info["steps"] == 60 // 8
    ours = load_checkpoint(data / "acmnet" / "checkpoint.pt").model_state
    for key, value in load_checkpoint(out / "checkpoint.pt").model_state.items():
        torch.testing.assert_close(value, ours[key], msg=key)
