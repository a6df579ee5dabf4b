"""RobotCar Seasons v2 scoring: a query's pose is the pose of its top-1 reference (paper 4.2).

Writes, for one method:
- the visuallocalization.net submission for the v2 test queries (`query_set == "test"`):
  one line `rear/<timestamp>.jpg qw qx qy qz tx ty tz` per query, world-to-camera;
- a local Table-4-style score on the v2 train-split queries (`query_set == "train-split"`, which
  have poses): the share of queries within (0.25 m, 2 deg), (0.5 m, 5 deg), (5 m, 10 deg) per
  condition, in percent, as a long CSV (method, query_set, condition, threshold_m,
  threshold_deg, value, n_queries) that `acmnet tables --robotcar-scores` reads. It is a local
  score on images the model was trained on (without labels), not the benchmark's test score.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from acmnet.artifacts import check_method, load_manifest, load_retrieval, provenance, save_table
from acmnet.data.datasets.robotcar import TRAIN_SPLIT_PREFIX
from acmnet.data.robotcar_files import POSE_COLUMNS
from acmnet.evaluate import poses


def localize(
    method: str, manifest_path: Path, retrieval_path: Path, submission_out: Path, accuracy_out: Path
) -> pd.DataFrame:
    """Top-1 reference poses -> submission file and per-condition pose accuracy; returns the latter.
    The retrieval must have been made for `method` (whose name the accuracy rows carry)."""
    manifest = load_manifest(manifest_path)
    frame = manifest.frame
    missing = [c for c in ["query_set", *POSE_COLUMNS] if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{manifest_path} lacks {', '.join(missing)}: localisation needs a RobotCar manifest with poses"
        )
    retrieval = load_retrieval(retrieval_path, manifest)
    check_method(retrieval, "retrieval", method)
    ref_rows, query_rows = retrieval.reference_rows, retrieval.query_rows
    reference_poses = frame.iloc[ref_rows][POSE_COLUMNS].to_numpy(dtype=np.float64)
    if not np.isfinite(reference_poses).all():
        raise ValueError(f"{manifest_path} has reference images without a pose: prepare the dataset again")
    queries = frame.iloc[query_rows].reset_index(drop=True)
    estimate = pd.DataFrame(reference_poses[retrieval.indices[:, 0]], columns=POSE_COLUMNS)

    test = (queries["query_set"] == "test").to_numpy()
    if test.any():
        rows = pd.concat(
            [queries.loc[test, ["image"]].reset_index(drop=True), estimate[test].reset_index(drop=True)], axis=1
        )
        poses.write_submission(rows, Path(submission_out), expected=queries.loc[test, "image"])
    else:
        raise ValueError(f"{manifest_path} has no test queries (query_set == 'test'): nothing to submit")

    local = (queries["query_set"] == "train-split").to_numpy()
    records = []
    if local.any():
        truth = queries.loc[local, POSE_COLUMNS].reset_index(drop=True)
        errors = poses.pose_errors(estimate[local].reset_index(drop=True), truth)
        conditions = queries.loc[local, "condition"].str.removeprefix(TRAIN_SPLIT_PREFIX).to_numpy()
        for condition in dict.fromkeys(conditions):
            chosen = conditions == condition
            shares = poses.localization_share((errors[0][chosen], errors[1][chosen]))
            for (metres, degrees), value in zip(poses.SHARE_THRESHOLDS, shares):
                records.append(
                    {
                        "method": method,
                        "query_set": "train",
                        "condition": condition,
                        "threshold_m": metres,
                        "threshold_deg": degrees,
                        "value": round(value, 2),
                        "n_queries": int(chosen.sum()),
                    }
                )
    accuracy = pd.DataFrame(
        records, columns=["method", "query_set", "condition", "threshold_m", "threshold_deg", "value", "n_queries"]
    )
    prov = provenance("localize", {"method_name": method}, manifest=manifest, retrieval=retrieval)
    save_table(accuracy, Path(accuracy_out), prov)
    return accuracy
