"""The Snakemake workflow: the DAG, one tiny end-to-end run, single-rule reruns, bad config."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.conftest import REPO

SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile")]


def _snakemake(args: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    result = subprocess.run(SNAKEMAKE + args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result


def _tiny_config(tmp_path: Path) -> Path:
    cfg = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    cfg["image_size"] = [32, 32]
    cfg["results_dir"] = str(tmp_path / "results")
    cfg["figures_dir"] = str(tmp_path / "figures")
    cfg["train"].update(epochs=2, batch_size=8)
    cfg["evaluate"].update(top_k=10, batch_size=32)
    cfg["methods"].pop("acmnet_places")  # one trained row is enough here (the sampler: tests/train/test_sampler.py)
    cfg["datasets"]["demo_route"].update(
        root=str(tmp_path / "route"), places=24, render_size=[32, 48], query_conditions=["winter", "night"]
    )
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.mark.parametrize(
    "configfile",  # one cheap dry run in the fast tier, the others in e2e
    [
        pytest.param(None, marks=pytest.mark.e2e),
        "config/demo.yaml",
        pytest.param("config/nordland64.yaml", marks=pytest.mark.e2e),
    ],
)
def test_dry_run_shows_the_whole_dag(configfile, tmp_path):
    args = ["-n", "--cores", "1"] + (["--configfile", str(REPO / configfile)] if configfile else [])
    out = _snakemake(args, cwd=tmp_path).stdout  # a clean working directory: no earlier results
    assert not (tmp_path / "results").exists() and not (tmp_path / "data").exists()  # a dry run writes nothing
    for rule in (
        "prepare",
        "cache",
        "train",
        "describe",
        "retrieve",
        "score",
        "report",
        "figure_retrievals",
        "paper_tables",
        "gradcam",
        "pr_curves",
        "recall_vs_tolerance",
    ):
        assert f"\n{rule} " in out or f"rule {rule}:" in out, f"rule {rule} missing from the DAG of {configfile}"


def test_pr_and_tolerance_figures_follow_their_switches(tmp_path):
    off = "--config=evaluate={pr: false, tolerance_curve: false}"
    out = _snakemake(
        ["-n", "--cores", "1", "--configfile", str(REPO / "config" / "demo.yaml"), off], cwd=tmp_path
    ).stdout
    for rule in ("pr_curves", "recall_vs_tolerance"):
        assert f"\n{rule} " not in out and f"rule {rule}:" not in out, f"{rule} planned though switched off"
    assert "rule report:" in out or "\nreport " in out


def _tree(folder: Path) -> dict[str, int]:
    """Every file under `folder` with its modification time (ns)."""
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def _plan(config: Path, cwd: Path, *extra: str) -> str:
    out = _snakemake(["-n", "--cores", "2", "--configfile", str(config), *extra], cwd=cwd).stdout
    return out[out.index("Job stats") :] if "Job stats" in out else out


@pytest.mark.e2e
def test_tiny_end_to_end_run_safe_against_dry_runs_and_refused_runs(tmp_path):
    """A dry run (with another tolerance) and a second run refused by the lock, both while the
    pipeline runs, write nothing and change nothing that the running pipeline reads."""
    config = _tiny_config(tmp_path)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    run = subprocess.Popen(
        SNAKEMAKE + ["--cores", "2", "--configfile", str(config)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    train_log = tmp_path / "logs" / "demo" / "train" / "demo_route" / "acmnet.log"
    for _ in range(600):
        if train_log.exists() or run.poll() is not None:
            break
        time.sleep(0.5)
    before = _tree(tmp_path / "results")
    other = "--config=datasets={demo_route: {tolerance: 5}}"
    dry = _snakemake(["-n", "--cores", "1", "--configfile", str(config), other], cwd=tmp_path, check=False)
    refused = _snakemake(["--cores", "1", "--configfile", str(config), other], cwd=tmp_path, check=False)
    during = _tree(tmp_path / "results")
    output = run.communicate(timeout=900)[0]
    assert run.returncode == 0, output[-4000:]
    assert dry.returncode == 0 and refused.returncode != 0, refused.stdout[-2000:] + refused.stderr[-2000:]
    # Snakemake refuses either at its lock or, when a job of the running pipeline is mid-way,
    # at that job's incomplete outputs: which one depends on timing, both write nothing.
    refusal = refused.stdout + refused.stderr
    assert "cannot be locked" in refusal or "seem to be incomplete" in refusal, refusal[-2000:]
    assert {k: v for k, v in during.items() if k in before} == before  # nothing rewritten ...
    assert not [k for k in during if k not in before and "demo_route" not in k]  # ... nor added, but by the run
    metrics = pd.read_csv(tmp_path / "results" / "demo" / "metrics.csv")
    assert (metrics["tolerance"] == 1).all()  # the running pipeline kept its own settings


def _assert_pr_cost_and_tolerance(tmp_path: Path, exp: Path, metrics: pd.DataFrame) -> None:
    """The second family of numbers in a finished run: PR columns as fractions (or empty with a
    note), an AUC-PR interval holding its estimate, cost columns filled for every row that
    describes images, R@1 against tolerance agreeing with R@1 at the configured tolerance."""
    pr = ["AUC-PR", "EP", "R@100P", "AUC-PR_tutorial", "R@100P_tutorial"]
    for _, row in metrics.iterrows():
        if pd.isna(row["AUC-PR"]):
            assert isinstance(row["pr_note"], str) and row["pr_note"], row
        else:
            assert all(0.0 <= row[c] <= 1.0 for c in pr), row
    assert (metrics["dim"] > 0).all() and (metrics["bytes_per_image"] == 4 * metrics["dim"]).all()
    assert (metrics["describe_ms_per_image"] > 0).all() and (metrics["search_ms_per_query"] > 0).all()
    assert metrics["device"].str.contains("describe: CPU").all()
    summary = pd.read_csv(exp / "summary.csv")
    defined = summary.dropna(subset=["AUC-PR"])
    assert ((defined["AUC-PR_lo"] <= defined["AUC-PR"]) & (defined["AUC-PR"] <= defined["AUC-PR_hi"])).all()
    text = (exp / "summary.md").read_text()
    assert "AUC-PR vprbench [interval]" in text and "AUC-PR tutorial" in text and "describe ms/image" in text
    tolerance = pd.read_csv(exp / "recall_vs_tolerance.csv")
    assert sorted(set(tolerance["tolerance"])) == list(range(11)) and (tolerance["unit"] == "places").all()
    at_configured = tolerance[tolerance["configured"]].set_index(["queries", "method"])["R@1"]
    assert at_configured.to_dict() == pytest.approx(metrics.set_index(["queries", "method"])["R@1"].to_dict(), abs=0.01)


def _assert_healthy_and_released(tmp_path, exp, method_dir):
    """The demo run is not flagged as collapsed; its export's card gives the report's R@N of its rows."""
    log = pd.read_csv(method_dir / "train_log.csv")
    assert (log["collapsed"] == 0).all() and (log["collapse_std"] > 0.1).all(), log.to_string()
    assert log[["alignment", "uniformity"]].notna().all().all()
    assert (method_dir / "training.png").stat().st_size > 1000
    assert "training may have collapsed" not in (exp / "summary.md").read_text()
    out = tmp_path / "release"
    subprocess.run(
        [
            "acmnet",
            "export",
            "--checkpoint",
            str(method_dir / "checkpoint.pt"),
            "--out",
            str(out),
            "--report",
            str(exp),
        ],
        check=True,
    )
    card = (out / "README.md").read_text()
    metrics = pd.read_csv(exp / "metrics.csv").query("method == 'acmnet'")
    for _, row in metrics.iterrows():
        assert f"{row['R@1']:.1f} [{row['R@1_lo']:.1f}, {row['R@1_hi']:.1f}]" in card


@pytest.mark.e2e
def test_tiny_end_to_end_run_and_reruns(tmp_path):
    config = _tiny_config(tmp_path)
    _snakemake(["--cores", "2", "--configfile", str(config)], cwd=tmp_path)
    exp = tmp_path / "results" / "demo"
    metrics = pd.read_csv(exp / "metrics.csv")
    assert {"dataset", "queries", "method", "R@1", "R@5", "R@10"} <= set(metrics.columns)
    assert sorted(zip(metrics["queries"], metrics["method"])) == sorted(
        (q, m) for q in ("winter", "night") for m in ("acmnet", "imagenet_avg")
    )
    assert ((metrics["R@1"] <= metrics["R@5"]) & (metrics["R@5"] <= metrics["R@10"])).all()
    assert (metrics["n_queries"] == 24).all()
    assert metrics["signature"].str.startswith("type:synthetic|set:").all()  # every number carries its protocol
    # The paper's Tables 2 (winter) and 3 (night) beside the demo's rows: never a verdict across protocols.
    reproduction = pd.read_csv(exp / "reproduction.csv")
    assert sorted(set(zip(reproduction["table"], reproduction["queries"]))) == [
        ("table2", "winter"),
        ("table3", "night"),
    ]
    assert set(reproduction["method"]) == {"acmnet"} and (reproduction["verdict"] == "not comparable").all()
    assert reproduction["reasons"].str.contains("dataset type synthetic \\(ours\\) vs nordland|vs alderley").all()
    assert "not comparable" in (exp / "reproduction.md").read_text()
    assert (
        "sig " in (exp / "summary.md").read_text()
        and "Protocol signatures" in (exp / "tables" / "recall.tex").read_text()
    )
    assert "ACM-Net (published)" in (exp / "tables" / "table2.tex").read_text()
    table = (exp / "tables" / "recall.tex").read_text()
    assert r"\toprule" in table and r"\bottomrule" in table and "tf\\_efficientnet\\_lite0" in table
    _assert_pr_cost_and_tolerance(tmp_path, exp, metrics)
    for fig in (
        "recall_curves.png",
        "recall_curves.pdf",
        "pr_curves.png",
        "pr_curves.pdf",
        "recall_vs_tolerance.png",
        "recall_vs_tolerance.pdf",
        "retrievals/demo_route/acmnet.png",
        "retrievals/demo_route/acmnet.pdf",
        "gradcam/demo_route/acmnet.png",
        "gradcam/demo_route/acmnet.pdf",
    ):
        assert (tmp_path / "figures" / "demo" / fig).stat().st_size > 1000
    method_dir = exp / "demo_route" / "acmnet"
    for name in ("checkpoint.pt", "train_log.csv", "descriptors/part-0000-of-0001.json", "retrieval.npz"):
        assert (method_dir / name).is_file()
    assert len(pd.read_csv(method_dir / "train_log.csv")) == 2
    assert (tmp_path / "logs" / "demo" / "train" / "demo_route" / "acmnet.log").is_file()
    _assert_healthy_and_released(tmp_path, exp, method_dir)
    assert yaml.safe_load((exp / "config.yaml").read_text())["train"]["epochs"] == 2

    # Rerunning one rule reuses everything upstream of it.
    stats = _plan(config, tmp_path, "--forcerun", "score")
    for rule in ("train", "describe", "cache", "prepare", "retrieve"):
        assert f"\n{rule} " not in stats, f"{rule} would rerun:\n{stats}"
    assert "\nscore " in stats and "\nreport " in stats
    trained = {n: (method_dir / n).stat().st_mtime_ns for n in ("checkpoint.pt", "train_log.csv")}
    _snakemake(["--cores", "2", "--configfile", str(config), "--forcerun", "score"], cwd=tmp_path)
    assert "Nothing to be done" in _plan(config, tmp_path)

    # A new tolerance rescores and leaves the model and its logs alone.
    tolerance = "--config=datasets={demo_route: {tolerance: 3}}"
    stats = _plan(config, tmp_path, tolerance)
    for rule in ("train", "describe", "cache", "prepare", "retrieve"):
        assert f"\n{rule} " not in stats, f"{rule} would rerun:\n{stats}"
    _snakemake(["--cores", "2", "--configfile", str(config), tolerance], cwd=tmp_path)
    assert {n: (method_dir / n).stat().st_mtime_ns for n in trained} == trained
    assert (pd.read_csv(exp / "metrics.csv")["tolerance"] == 3).all()
    assert pd.read_csv(exp / "metrics.csv")["signature"].str.contains("|rule:places±3|", regex=False).all()

    # A nested override from the command line retrains; a bad one is one clear line.
    assert "\ntrain " in _plan(config, tmp_path, "--config=train={epochs: 3, lr: 1e-4}")
    bad = _snakemake(
        ["-n", "--cores", "1", "--configfile", str(config), "--config=train={epochs: 0}"], cwd=tmp_path, check=False
    )
    assert bad.returncode != 0 and "train.epochs must be at least 1, got 0" in bad.stdout + bad.stderr
    _snakemake(["--report", str(tmp_path / "report.html"), "--configfile", str(config)], cwd=tmp_path)
    assert (tmp_path / "report.html").stat().st_size > 10_000


@pytest.mark.e2e
def test_changed_raw_images_redo_prepare_and_what_follows_and_reuse_a_finished_run(tmp_path):
    """Replacing (same name), adding or removing an image of a dataset's folders makes the next
    run redo `prepare` (its params: the folder's listing) and everything after it; the listing a
    run records is the one it saw, so an unchanged folder plans nothing. A changed query image
    leaves the training digest as it was: the `train` job then publishes the finished run again
    (Snakemake deleted the published checkpoint first), it does not train."""
    from PIL import Image

    from acmnet.artifacts import load_checkpoint

    def image(path, value):
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((32, 32, 3), value, dtype=np.uint8)).save(path)

    root = tmp_path / "pair"
    for folder in ("day", "night"):
        for i in range(4):
            image(root / folder / f"{i}.png", 30 * i + (folder == "night"))
    cfg = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    cfg.update(results_dir=str(tmp_path / "results"), figures_dir=str(tmp_path / "figures"), image_size=[32, 32])
    cfg["train"].update(epochs=1, batch_size=4)
    cfg["evaluate"].update(top_k=4, recall_at=[1, 4])  # 4 references (prepare refuses a larger top_k)
    cfg["datasets"] = {"pair": {"type": "folder_pair", "root": str(root), "reference": "day", "query": ["night"]}}
    config = tmp_path / "pair.yaml"
    config.write_text(yaml.safe_dump(cfg))
    method_dir = tmp_path / "results" / "demo" / "pair" / "acmnet"
    target = str(method_dir / "checkpoint.pt")
    _snakemake([target, "--cores", "1", "--configfile", str(config)], cwd=tmp_path)
    trained = load_checkpoint(method_dir / "checkpoint.pt").info["training_digest"]
    log = (method_dir / "train_log.csv").read_text()

    def plan():
        return _snakemake([target, "-n", "--cores", "1", "--configfile", str(config)], cwd=tmp_path).stdout

    assert "Nothing to be done" in plan()

    image(root / "night" / "2.png", 200)  # the same name, other pixels (adding, removing: tests/data/test_listing.py)
    st = (root / "night" / "2.png").stat()
    os.utime(root / "night" / "2.png", ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    out = plan()
    assert "rule prepare:" in out and "rule cache:" in out and "rule train:" in out, out[-3000:]
    assert "Params have changed" in out and "8 files" in out  # the reason shows the listing
    _snakemake([target, "--cores", "1", "--configfile", str(config)], cwd=tmp_path)
    assert "is complete; publishing it" in (tmp_path / "logs" / "demo" / "train" / "pair" / "acmnet.log").read_text()
    assert load_checkpoint(method_dir / "checkpoint.pt").info["training_digest"] == trained
    assert (method_dir / "train_log.csv").read_text() == log
    assert [p.name for p in (tmp_path / "results" / "demo" / "pair" / "runs").iterdir()] == [trained]


def test_mistyped_config_key_stops_the_workflow_naming_it(tmp_path):
    cfg = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    cfg["train"]["epohcs"] = 3
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    result = _snakemake(["-n", "--cores", "1", "--configfile", str(path)], cwd=tmp_path, check=False)
    assert result.returncode != 0
    assert "train.epohcs" in result.stdout + result.stderr and "epochs" in result.stdout + result.stderr


@pytest.mark.e2e
def test_slurm_profile_plans_training_on_a_gpu(tmp_path):
    pytest.importorskip("snakemake_executor_plugin_slurm", reason="the Slurm executor plugin is not installed")
    out = _snakemake(["-n", "--workflow-profile", str(REPO / "workflow" / "profiles" / "slurm")], cwd=tmp_path).stdout
    train_jobs = [block for block in out.split("\n\n") if "rule train:" in block]
    assert train_jobs, out[-2000:]
    for block in train_jobs:
        assert "gpu=1" in block and "mem_mb=32000" in block and "runtime=608" in block


@pytest.mark.e2e
def test_slurm_profile_plans_one_describe_job_per_shard_with_its_resources(tmp_path):
    """Issue 19: `evaluate.describe_shards: 3` plans 3 describe jobs per (dataset, method), each its
    own sbatch submission with describe's resources; `retrieve` takes the 3 parts."""
    pytest.importorskip("snakemake_executor_plugin_slurm", reason="the Slurm executor plugin is not installed")
    profile = str(REPO / "workflow" / "profiles" / "slurm")
    demo = str(REPO / "config" / "demo.yaml")
    args = ["-n", "--workflow-profile", profile, "--configfile", demo, "--config", "evaluate={describe_shards: 3}"]
    out = _snakemake(args, cwd=tmp_path).stdout
    jobs = [block for block in out.split("\n\n") if "rule describe:" in block]
    planned = sorted(b.split("wildcards: ")[1].split("\n")[0] for b in jobs)
    assert planned == [
        f"dataset=demo_route, method={m}, shard={s:04d}, shards=0003"
        for m in ("acmnet", "acmnet_places", "imagenet_avg")
        for s in range(3)
    ], out[-3000:]
    for block in jobs:  # demo.yaml's describe resources, per job
        assert "mem_mb=4000" in block and "runtime=10" in block and "gpu=0" in block
        assert "--shard " in block and "--shards 3" in block and "--workers " in block
    retrieve = [block for block in out.split("\n\n") if "rule retrieve:" in block]
    assert len(retrieve) == 3
    for block in retrieve:
        inputs = block.split("input: ")[1].split("\n")[0].split(", ")
        assert [i.rsplit("/", 1)[1] for i in inputs] == [f"part-{s:04d}-of-0003.json" for s in range(3)]


@pytest.mark.e2e
def test_datasets_no_method_trains_on_are_not_cached_but_read_from_their_files(tmp_path):
    """Issue 19: nordland64's `east` is only evaluated (the trained rows train on `west`): no cache
    is planned for it; describe, the retrieval figure and Grad-CAM read its image files."""
    config = REPO / "config" / "nordland64.yaml"
    out = _snakemake(["-n", "-p", "--cores", "1", "--configfile", str(config)], cwd=tmp_path).stdout
    blocks: dict[str, list[str]] = {}
    for job in out.split("\nrule ")[1:]:
        blocks.setdefault(job.split(":")[0], []).append(job)
    assert [b.split("wildcards: ")[1].split("\n")[0] for b in blocks["cache"]] == ["dataset=west"]
    for rule in ("describe", "figure_retrievals", "gradcam"):
        east = [b for b in blocks[rule] if "dataset=east" in b]
        assert east, f"no {rule} job for east"
        for block in east:
            assert "cache/images.npy" not in block and "--cache" not in block, block
        west = [b for b in blocks[rule] if "dataset=west" in b]
        assert all("west/cache/images.npy" in b and "--cache" in b for b in west), rule


def test_results_and_figures_readmes_list_every_rule_output():
    """Each output path a rule writes under results/ or figures/ has its row in the README there."""
    import re

    rules = "\n".join(p.read_text() for p in sorted((REPO / "workflow" / "rules").glob("*.smk")))
    readmes = {"EXP": (REPO / "results" / "README.md").read_text(), "FIG": (REPO / "figures" / "README.md").read_text()}
    found = re.findall(r'f"\{(EXP|FIG)\}/([^"]+)"', rules)
    assert len(found) > 20, "the rules' output patterns moved: update this test"
    for root, pattern in found:
        name = re.sub(r"\{\{?(\w+)\}?\}", r"<\1>", pattern.split("/")[-1])  # {{method}} -> <method>
        if "<" in name and not name.startswith("<"):  # gradcam_<dataset>_<method>.png: match the fixed prefix
            name = name.split("<")[0]
        elif name.startswith("<") or "(" in name:  # a folder or a computed name: its nearest fixed parent is listed
            name = next(part for part in reversed(pattern.split("/")[:-1]) if "{" not in part)
        name = re.sub(r"\.(png|pdf)$", "", name)
        folder = "results" if root == "EXP" else "figures"
        assert name in readmes[root], f"{pattern} is not described in {folder}/README.md"


@pytest.mark.e2e
def test_train_on_trains_once_and_describes_every_dataset_with_that_model(tmp_path):
    """nordland64: the trained rows train on `west` only (once per seed); `east` is described with
    west's checkpoints, untrained rows need none."""
    config = REPO / "config" / "nordland64.yaml"
    out = _snakemake(["-n", "--cores", "1", "--configfile", str(config)], cwd=tmp_path).stdout
    blocks: dict[str, list[str]] = {}
    for job in out.split("\nrule ")[1:]:  # one job each: "train:\n    input: ...\n    wildcards: ..."
        blocks.setdefault(job.split(":")[0], []).append(job)
    trained = sorted(b.split("wildcards: ")[1].split("\n")[0] for b in blocks["train"])
    expected = [f"dataset=west, method={m}@s{s}" for m in ("acmnet_grid", "acmnet_projector") for s in (0, 1)]
    assert trained == expected
    east = {b.split("method=")[1].split(",")[0]: b for b in blocks["describe"] if "dataset=east" in b}
    grid = east["acmnet_grid@s1"]
    assert "input:" in grid and "results/nordland64/west/acmnet_grid@s1/checkpoint.pt" in grid
    assert "checkpoint.pt" not in east["imagenet_grid"]


def test_a_released_model_row_is_described_from_its_folder_and_never_trained(tmp_path):
    """A `kind: acmnet` row with `exported`: no train job for it; its describe jobs take the folder's files as
    inputs (so a replaced model describes again), and no checkpoint; the other rows are planned as before."""
    release = tmp_path / "release"
    release.mkdir()
    (release / "model.safetensors").write_bytes(b"weights")
    (release / "config.json").write_text(json.dumps({"format": "acmnet-export", "training": {"train": {}}}))
    config = _tiny_config(tmp_path)
    cfg = yaml.safe_load(config.read_text())
    cfg["methods"]["released"] = {"kind": "acmnet", "exported": str(release)}
    config.write_text(yaml.safe_dump(cfg))
    out = _snakemake(["-n", "--cores", "1", "--configfile", str(config)], cwd=tmp_path).stdout
    jobs = out.split("\nrule ")[1:]
    trained = [j for j in jobs if j.startswith("train:")]
    assert [j.split("method=")[1].split(",")[0].split("\n")[0] for j in trained] == ["acmnet"]
    (describe,) = [j for j in jobs if j.startswith("describe:") and "method=released" in j]
    assert str(release / "model.safetensors") in describe and str(release / "config.json") in describe
    assert "checkpoint.pt" not in describe


@pytest.mark.e2e
def test_paths_with_spaces_and_shell_characters_reach_every_step_as_one_word(tmp_path):
    """Issue 26: a results folder `r;touch PWNED;x`, a figures folder with spaces and `$(...)` and a
    dataset root with a quote and `;` are paths like any other: no shell runs a part of them, the
    files land inside them, and every planned command gets each path as one argument."""
    import shlex

    cfg = yaml.safe_load(_tiny_config(tmp_path).read_text())
    cfg.update(results_dir="r;touch PWNED;x", figures_dir="my figures $(touch PWNED2)")
    cfg["datasets"]["demo_route"]["root"] = "data/my route's;touch PWNED3"
    config = tmp_path / "hostile.yaml"
    config.write_text(yaml.safe_dump(cfg))
    positives = "r;touch PWNED;x/demo/demo_route/positives.npz"
    _snakemake([positives, "--cores", "1", "--configfile", str(config)], cwd=tmp_path)
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith("PWNED")]
    assert (tmp_path / positives).is_file() and (tmp_path / "data" / "my route's;touch PWNED3" / "route.csv").is_file()
    assert (tmp_path / "logs" / "demo" / "prepare" / "demo_route.log").read_text().startswith("wrote r;touch")

    plan = _snakemake(["-n", "-p", "--cores", "1", "--configfile", str(config)], cwd=tmp_path).stdout
    shown = [line.split(": ", 1)[1] for line in plan.splitlines() if line.startswith("Shell command: acmnet ")]
    commands = [shlex.split(line) for line in shown]
    assert {c[1] for c in commands} >= {"train", "describe", "retrieve", "score", "report", "gradcam", "tables"}
    words = [w for c in commands for w in c if "PWNED" in w and not w.startswith("{")]  # not the JSON config
    assert words and "touch" not in [w for c in commands for w in c]
    assert all(w.startswith(("r;touch PWNED;x/", "my figures $(touch PWNED2)/", "logs/")) for w in words), words
    assert "my figures $(touch PWNED2)/demo/recall_curves.png" in words


@pytest.mark.e2e
@pytest.mark.parametrize(
    "key, path, message",
    [
        ("results_dir", "r\nx", r"results_dir = 'r\\nx' holds '\\n'"),
        ("figures_dir", "fig{dataset}", r"figures_dir = 'fig\{dataset\}' holds '\{', '\}'"),
        ("root", "-data", r"datasets.demo_route.root = '-data' starts with '-'.*write ./-"),
    ],
)
def test_paths_no_tool_can_take_are_refused_before_any_work(tmp_path, key, path, message):
    import re

    cfg = yaml.safe_load(_tiny_config(tmp_path).read_text())
    if key == "root":
        cfg["datasets"]["demo_route"]["root"] = path
    else:
        cfg[key] = path
    config = tmp_path / "bad.yaml"
    config.write_text(yaml.safe_dump(cfg))
    result = _snakemake(["-n", "--cores", "1", "--configfile", str(config)], cwd=tmp_path, check=False)
    assert result.returncode != 0 and re.search(message, result.stdout + result.stderr), result.stderr[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml", "tiny.yaml"]  # nothing written


@pytest.mark.e2e
def test_a_snakemake_template_config_is_refused_by_the_workflow(tmp_path):
    """Issue 26: `__use_yte__: true` makes Snakemake's own loader evaluate the file's Python before
    the workflow sees it (so only trusted config files may be run); the workflow then refuses the
    file, naming the key, and plans and writes nothing."""
    cfg = yaml.safe_load(_tiny_config(tmp_path).read_text())
    config = tmp_path / "template.yaml"
    config.write_text("__use_yte__: true\n" + yaml.safe_dump(cfg))
    result = _snakemake(["-n", "--cores", "1", "--configfile", str(config)], cwd=tmp_path, check=False)
    out = result.stdout + result.stderr
    assert result.returncode != 0 and "template.yaml sets `__use_yte__`, Snakemake's templating" in out, out[-2000:]
    assert "rule prepare" not in out and not (tmp_path / "results").exists()


@pytest.mark.parametrize("with_recall", [pytest.param(True, marks=pytest.mark.e2e), False])
def test_msls_test_plans_the_challenge_file_and_nothing_that_needs_ground_truth(tmp_path, with_recall):
    """A dataset without public ground truth gets `export_msls` per method and no positives or score; a
    config holding only such datasets plans no report (nothing to score) and no job fails for it."""
    import numpy as np

    root = tmp_path / "msls"
    root.mkdir()
    lists = (["test/a/database/images/d0.jpg", "test/a/database/images/d1.jpg"], ["test/a/query/images/q0.jpg"])
    for name, paths in zip(("msls_test_dbImages.npy", "msls_test_qImages.npy"), lists):
        np.save(root / name, np.array(paths, dtype=object), allow_pickle=True)
        for path in paths:
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_bytes(b"")
    cfg = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    cfg["results_dir"], cfg["figures_dir"] = str(tmp_path / "results"), str(tmp_path / "figures")
    cfg["datasets"] = {**(cfg["datasets"] if with_recall else {}), "mslst": {"type": "msls_test", "root": str(root)}}
    if not with_recall:
        cfg["methods"] = {"pixels": {"kind": "pixels"}}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    plan = _snakemake(["-n", "-p", "--cores", "1", "--configfile", str(path)], cwd=tmp_path).stdout
    assert all(f"mslst/{method}/msls_predictions.txt" in plan for method in cfg["methods"])
    assert "mslst/positives.npz" not in plan and "mslst/pixels/metrics.csv" not in plan
    assert ("\nreport " in plan or "rule report:" in plan) == with_recall


def test_no_two_dataset_method_pairs_share_a_log_or_a_figure():
    """Issue 33 item 10: dataset `a_b` with method `c` and dataset `a` with method `b_c` wrote their
    describe, retrieve and score logs (and figures) to the same `a_b_c*` file. Every path a rule makes
    from a (dataset, method) pair keeps the two apart (a folder each: names hold no `/`)."""
    import re

    rules = "\n".join(p.read_text() for p in sorted((REPO / "workflow" / "rules").glob("*.smk")))
    patterns = [
        p for p in re.findall(r'f"(\{(?:LOG|FIG|EXP)\}/[^"]+)"', rules) if "{{dataset}}" in p and "{{method}}" in p
    ]
    assert len(patterns) >= 10, "the rules' patterns moved: update this test"

    def path(pattern: str, dataset: str, method: str) -> str:
        return pattern.replace("{{dataset}}", dataset).replace("{{method}}", method)

    for pattern in patterns:
        assert path(pattern, "a_b", "c") != path(pattern, "a", "b_c"), pattern
        assert path(pattern, "a-b", "c") != path(pattern, "a", "b-c"), pattern
