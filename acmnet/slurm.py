"""Checks a Slurm run needs before its first submission (workflow/rules/common.smk calls `check_cluster`).

Two ways a run through `snakemake --workflow-profile workflow/profiles/slurm` goes wrong without a
word: a request no node can take (sbatch answers "Requested node configuration is not available",
naming no resource), and a status query that can never see a job end (the Slurm executor plugin
keeps a job it cannot find in the query's answer as running, so the run waits forever). Both are
read from the cluster's own answers: `sinfo` (nodes) and `scontrol show config` (MinJobAge, the
accounting storage).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass

from acmnet.config import Config, ConfigError

# snakemake-executor-plugin-slurm 2.8 (__init__.py, check_active_jobs): the status query runs every
# `init_seconds_before_status_checks` seconds (40 by default), 10 s more after each query that sees
# no job finish, at most 180 s apart; `squeue` is replaced by `sacct` when MinJobAge is unknown or
# below 3 x the initial interval and `sacct` is installed.
MAX_STATUS_INTERVAL_S = 180


class ClusterError(ConfigError):
    """The cluster cannot run this workflow as configured; the message says what to change."""


@dataclass(frozen=True)
class Node:
    """One node as `sinfo --Node` reports it: CPUs, memory (MB), GPUs (its `gpu` GRES) and its
    partition's time limit (minutes; None: infinite)."""

    name: str
    cpus: int
    mem_mb: int
    gpus: int
    max_minutes: int | None


def parse_config(text: str) -> dict[str, str]:
    """`scontrol show config`'s `Key = Value` lines as a dict."""
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line)
    return {key.strip(): value.strip() for key, value in pairs}


def seconds(value: str) -> int | None:
    """MinJobAge as `scontrol show config` prints it (`300 sec`, `1h`, `3600`): seconds, or None."""
    match = re.match(r"^(\d+)\s*([a-zA-Z]*)", value)
    if not match:
        return None
    return int(match.group(1)) * (3600 if match.group(2).lower() in ("h", "hour", "hours") else 1)


def status_problem(status_command: str | None, init_seconds: int, config: dict[str, str], sacct: bool) -> str | None:
    """Why the executor plugin's status query would never see a job end on this cluster, or None.

    The query the plugin ends up running (`status_command`, or its fallback to sacct) must list a
    finished job: sacct only with an accounting database, squeue only while the job is younger than
    MinJobAge, which must outlast the longest interval between two queries."""
    min_age = seconds(config.get("MinJobAge", ""))
    accounting = config.get("AccountingStorageType", "")
    command = status_command or ("sacct" if sacct else "squeue")
    if command == "squeue" and (min_age is None or min_age < 3 * init_seconds) and sacct:
        command = "sacct"  # the plugin's own fallback
    if command == "sacct" and accounting in ("", "accounting_storage/none"):
        return (
            f"this cluster keeps no job accounting (AccountingStorageType={accounting or 'unknown'}), so "
            f"`sacct` never lists a finished job and the run would wait forever: query with squeue "
            f"(slurm-status-command: squeue, set in workflow/profiles/slurm/config.yaml){_age_hint(min_age)}"
        )
    if command == "squeue" and (min_age is None or min_age <= MAX_STATUS_INTERVAL_S):
        return (
            f"squeue lists a finished job for MinJobAge={config.get('MinJobAge', 'unknown')} only, shorter than "
            f"the {MAX_STATUS_INTERVAL_S} s the Slurm executor may wait between two queries: a job could end "
            f"unseen and the run wait forever{_age_hint(min_age)}"
        )
    return None


def _age_hint(min_age: int | None) -> str:
    if min_age is not None and min_age > MAX_STATUS_INTERVAL_S:
        return ""
    return f"; it also needs MinJobAge above {MAX_STATUS_INTERVAL_S} s in slurm.conf (ask your administrator)"


def _minutes(limit: str) -> int | None:
    """A partition time limit as sinfo prints it (`infinite`, `1-00:00:00`, `2:00:00`, `30:00`, `30`)."""
    if limit in ("infinite", "UNLIMITED", "n/a", ""):
        return None
    days, _, clock = limit.rpartition("-")
    parts = [int(p) for p in clock.split(":")]
    hours, minutes = {1: (0, parts[0]), 2: (0, parts[0]), 3: (parts[0], parts[1])}[len(parts)]
    return int(days or 0) * 1440 + hours * 60 + minutes


def _gpus(gres: str) -> int:
    """GPUs in a node's GRES (`gpu:4`, `gpu:a100:4(S:0-1)`, `gpu:2,mps:100`, `(null)`)."""
    total = 0
    for item in re.sub(r"\([^)]*\)", "", gres).split(","):
        fields = item.split(":")
        if fields[0] == "gpu" and len(fields) > 1 and fields[-1].isdigit():
            total += int(fields[-1])
    return total


NODE_FORMAT = "%N|%c|%m|%G|%l"  # sinfo --Node --noheader --format


def parse_nodes(text: str) -> list[Node]:
    """The lines of `sinfo --Node --noheader --format=NODE_FORMAT`."""
    nodes = []
    for line in text.splitlines():
        if line.strip():
            name, cpus, mem, gres, limit = line.strip().split("|")
            nodes.append(Node(name, int(cpus), int(re.sub(r"\D.*", "", mem)), _gpus(gres), _minutes(limit)))
    return nodes


def requests(cfg: Config, train: bool, describe_gpus: bool) -> dict[str, dict[str, int]]:
    """What each heavy job asks sbatch for, by the config key that sets it (`train`: whether the
    run trains; `describe_gpus`: whether some describe job asks for GPUs)."""
    r = cfg.resources
    jobs = {
        "train": {
            "resources.train_cpus": r.train_cpus,
            "resources.train_mem_mb": r.train_mem_mb,
            "resources.train_gpu": r.train_gpu,
            "resources.train_runtime": r.train_runtime,
        },
        "describe": {
            "resources.describe_cpus": r.describe_cpus,
            "resources.describe_mem_mb": r.describe_mem_mb,
            "resources.describe_gpu": r.describe_gpu if describe_gpus else 0,
            "resources.describe_runtime": r.describe_runtime,
        },
    }
    return jobs if train else {"describe": jobs["describe"]}


def refused(job: str, asked: dict[str, int], nodes: list[Node]) -> str | None:
    """Why no node could take `job`'s request (naming each config key it exceeds), or None."""

    def fits(node: Node, key: str, value: int) -> bool:
        if key.endswith("_runtime"):
            return node.max_minutes is None or value <= node.max_minutes
        have = {"_cpus": node.cpus, "_mem_mb": node.mem_mb, "_gpu": node.gpus}
        return value <= next(v for suffix, v in have.items() if key.endswith(suffix))

    if any(all(fits(n, k, v) for k, v in asked.items()) for n in nodes):
        return None
    best = {"_cpus": "CPUs", "_mem_mb": "MB of memory", "_gpu": "GPUs"}
    over = []
    for key, value in asked.items():
        if not any(fits(n, key, value) for n in nodes):
            if key.endswith("_runtime"):
                limit = max(n.max_minutes for n in nodes if n.max_minutes is not None)
                over.append(f"{key}: {value} minutes, but no partition allows more than {limit}")
            else:
                suffix = next(s for s in best if key.endswith(s))
                most = max(getattr(n, {"_cpus": "cpus", "_mem_mb": "mem_mb", "_gpu": "gpus"}[suffix]) for n in nodes)
                over.append(f"{key}: {value}, but no node has more than {most} {best[suffix]}")
    what = "; ".join(over) or "no single node has all of " + ", ".join(f"{k}={v}" for k, v in asked.items())
    return f"Slurm would refuse every {job} job ({what}): lower it in the config's `resources:` section"


def _run(command: list[str]) -> str:
    try:
        return subprocess.run(command, capture_output=True, text=True, check=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", "") or exc
        message = f"`{' '.join(command)}` failed ({str(detail).strip()}): is this a Slurm login node?"
        raise ClusterError(message) from exc


def check_cluster(cfg: Config, status_command: str | None, init_seconds: int, train: bool, describe_gpus: bool) -> None:
    """Stop before any submission, with what to change, when this cluster would refuse a heavy job
    or the run could never see its jobs end."""
    problem = status_problem(
        status_command, init_seconds, parse_config(_run(["scontrol", "show", "config"])), bool(shutil.which("sacct"))
    )
    if problem:
        raise ClusterError(problem)
    nodes = parse_nodes(_run(["sinfo", "--Node", "--noheader", f"--format={NODE_FORMAT}"]))
    if not nodes:
        raise ClusterError("sinfo lists no node: this cluster has nowhere to run the jobs")
    for job, asked in requests(cfg, train, describe_gpus).items():
        reason = refused(job, asked, nodes)
        if reason:
            raise ClusterError(reason)
