"""The nordland64 preset's choices, made on a validation stretch that no reported number comes from.

    python studies/nordland64_selection.py --root data/nordland64     # about 15 min, 2 cores

`--root`: the development sample (every 10th frame of the first half of the route: docs/datasets.md).

The kept frames of the route are cut in three: `val` (the first third) chooses, `west` and `east`
(the other two, `config/nordland64.yaml`) report. This script runs the pipeline (Snakemake, as a
user would) on `val` alone, with one row per candidate: raw pixels, the untrained backbone with
average pooling and with each grid descriptor, and ACM-Net trained on val's summer images with
each training recipe, described with the projector (the paper's E -> P_A -> L2) and with each
grid. It writes `results/nordland64/study.csv`: every candidate with its R@1 interval on val and
the queries that chose (dataset, stretch, count), and marks the choice.

The rule, fixed before the numbers were seen: the trained row (recipe, descriptor) with the
highest R@1 on val becomes `acmnet_grid` (when its descriptor is a grid; else the preset keeps the
projector); `imagenet_grid` takes the same grid, so the table separates what training adds from
what the descriptor adds; `acmnet_projector` keeps the paper's optimiser settings whatever val
says. The script prints the choice; copying it into the preset is a reviewed edit.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
VAL_PART = [0.0, 0.3333]
GRIDS = {
    "s1_4x8": (1, [4, 8]),
    "s2_4x4": (2, [4, 4]),
    "s2_4x8": (2, [4, 8]),
    "s2_8x8": (2, [8, 8]),
    "s3_4x4": (3, [4, 4]),
}
RECIPES = {  # training recipes tried (8 epochs, batch 32 unless said): lr and batch-norm handling
    "lr3e-4_bnfrozen": {"lr": 0.0003, "encoder_bn": "frozen"},
    "lr1e-4_bnfrozen": {"lr": 0.0001, "encoder_bn": "frozen"},
    "paper_lr3e-3_bnupdate_b64": {"lr": 0.003, "encoder_bn": "update", "batch_size": 64},
}


def candidates() -> dict[str, dict]:
    """Every row the study measures on val."""
    rows: dict[str, dict] = {
        "pixels_ssd": {"kind": "pixels", "pixel_size": [32, 64], "pixel_patch": 8},
        "imagenet_avg": {"kind": "pretrained", "pool": "avg"},
    }
    for name, (stage, size) in GRIDS.items():
        rows[f"imagenet_grid_{name}"] = {"kind": "pretrained", "pool": "grid", "grid_stage": stage, "grid_size": size}
    for recipe, train in RECIPES.items():
        rows[f"acmnet_{recipe}_projector"] = {"kind": "acmnet", "train": train}
        for name, (stage, size) in GRIDS.items():
            grid = {"descriptor": "grid", "grid_stage": stage, "grid_size": size}
            rows[f"acmnet_{recipe}_grid_{name}"] = {"kind": "acmnet", "train": train, **grid}
    return rows


def study_config(root: str) -> dict:
    """The preset's settings with `val` as the only dataset and the candidates as rows."""
    cfg = yaml.safe_load((REPO / "config" / "nordland64.yaml").read_text())
    val = {**cfg["datasets"]["west"], "root": root, "part": VAL_PART}
    cfg.update(experiment="nordland64_study", seeds=[], seed=0, datasets={"val": val}, methods=candidates())
    cfg["evaluate"]["sequence_lengths"] = []
    return cfg


def choose(summary: pd.DataFrame) -> pd.DataFrame:
    """The study table, one row per candidate, with the choice marked by the rule above."""
    table = summary[["method", "R@1", "R@1_lo", "R@1_hi", "R@5", "R@10", "n_queries", "bootstrap_block"]].copy()
    trained = table[table["method"].str.startswith("acmnet_")]
    best = trained.loc[trained["R@1"].idxmax(), "method"]
    grid = best.split("_grid_")[1] if "_grid_" in best else None
    chosen = {best: "acmnet_grid" if grid else "acmnet (projector)"}
    if grid:
        chosen[f"imagenet_grid_{grid}"] = "imagenet_grid"
    table["chosen_as"] = table["method"].map(chosen).fillna("")
    return table


def env_offline() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(REPO.parent / "shared" / "data" / "nordland64"))
    parser.add_argument("--out", default=str(REPO / "results" / "nordland64" / "study.csv"))
    parser.add_argument("--cores", default="2")
    args = parser.parse_args()
    config = REPO / "results" / "nordland64_study.yaml"
    config.parent.mkdir(exist_ok=True)
    config.write_text(yaml.safe_dump(study_config(args.root)))
    snakemake = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--cores", args.cores]
    # only what the summary needs: no retrieval or Grad-CAM figures of the 20 candidate rows
    subprocess.run([*snakemake, "report", "--configfile", str(config)], check=True, cwd=REPO, env=env_offline())
    summary = pd.read_csv(REPO / "results" / "nordland64_study" / "summary.csv")
    table = choose(summary)
    n = int(table["n_queries"].iloc[0])
    table.insert(0, "chosen_on", f"val: winter queries of the kept frames' first third {VAL_PART} ({n} queries)")
    table.drop(columns="n_queries").to_csv(args.out, index=False)
    print(table.drop(columns="chosen_on").to_string(index=False))
    picked = [f"{m} -> {c}" for m, c in zip(table["method"], table["chosen_as"]) if c]
    print(f"\nwrote {args.out}; choices: " + ", ".join(picked))


if __name__ == "__main__":
    main()
