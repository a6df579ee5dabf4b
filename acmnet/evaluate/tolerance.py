"""Recall against tolerance (beyond the paper): R@1 of every row as the ground truth's tolerance grows.

The field quotes "Nordland" at +/-1, +/-2 and +/-10 frames and other datasets at 10 or 25 m, and the
numbers differ. From the retrievals already on disk (nothing is described again): a query's top-1
is correct at tolerance t when its place lies within +/- t of the query's in the same stretch of
the route (`places` ground truth: windows 0..10 in the dataset's place unit, frames or kept
frames; a `segment` column marks the stretches) or when it lies within t metres
(`positions`: 5..100 m), exactly as `acmnet.data.positives` counts a positive at that tolerance;
the configured tolerance is always on the grid and marked; a `utm` dataset with `positive_frames`
gets windows 0..10 frames (`frames`). A `poses` dataset (`poses_csv`) gets a
distance curve (2-D or 3-D, at its configured yaw limit) and, with a `positive_angle`, a yaw curve
(5..180 degrees, wrap-around, at its configured distance), told apart by the `unit` column. Only
the top-1 matters, so the top-K kept per query is enough at any tolerance. A dataset whose ground
truth is a shipped list (VPR-Bench) has no tolerance to vary: it is skipped, and `skipped` says why.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from acmnet.artifacts import Manifest, Retrieval, made_for
from acmnet.config import Config
from acmnet.data import manifest as mf

WINDOWS = tuple(range(11))  # +/- places
DISTANCES = (5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 40.0, 50.0, 60.0, 75.0, 100.0)  # metres
ANGLES = (5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 135.0, 180.0)  # degrees of yaw
DEGREES = "deg"  # the unit of a yaw curve
# What a listed ground truth is, per dataset type (for the skip line).
LISTS = {
    "vprbench": "ground_truth_new.npy",
    "msls_val": "msls_val_pIdx.npy",
    "dbstruct": "the .mat file's posDistThr, applied once at prepare",
}
COLUMNS = ("dataset", "queries", "method", "ground_truth", "unit", "tolerance", "R@1", "configured", "n_queries")


def grid(cfg: Config, dataset: str) -> tuple[str, str, list[float], float] | None:
    """(ground truth, unit, tolerances, configured tolerance) of `dataset`; None for a shipped list."""
    from acmnet.data.datasets import dataset_type

    spec = cfg.dataset(dataset)
    kind = dataset_type(spec.type)
    frames = getattr(spec.options, "positive_frames", None)
    if frames is not None:  # a utm dataset whose coordinates are frame numbers
        return "frames", "frames", sorted({*map(float, WINDOWS), float(frames)}), float(frames)
    if kind.ground_truth == "places":
        unit = kind.window(spec.options, 1).split(" (")[0].removeprefix("±1 ") if kind.window else "places"
        return "places", unit, sorted({*map(float, WINDOWS), float(spec.tolerance)}), float(spec.tolerance)
    if kind.ground_truth in ("positions", "poses"):
        distance = float(spec.options.positive_distance)
        return kind.ground_truth, "m", sorted({*DISTANCES, distance}), distance
    return None


def angle_grid(cfg: Config, dataset: str) -> tuple[list[float], float] | None:
    """(yaw limits in degrees, configured limit) of a `poses` dataset with a positive_angle; else None."""
    angle = getattr(cfg.dataset(dataset).options, "positive_angle", None)
    return None if angle is None else (sorted({*ANGLES, float(angle)}), float(angle))


def skipped(cfg: Config, datasets: list[str]) -> list[str]:
    """One line per dataset of `datasets` whose ground truth has no tolerance to vary."""
    return [
        f"recall vs tolerance: {d} skipped: its ground truth is the list the dataset ships or that prepare "
        f"fixed (`{cfg.dataset(d).type}`: {LISTS.get(cfg.dataset(d).type, 'its own list')}), which has no "
        "tolerance to vary"
        for d in datasets
        if grid(cfg, d) is None
    ]


def top1_gaps(manifest: Manifest, retrieval: Retrieval, ground_truth: str) -> np.ndarray:
    """Per query (manifest order), how far its top-1 lies from it: |place difference| (`places`)
    or the distance in metres (`positions`): float64 (Q,)."""
    frame = manifest.frame
    queries = frame.iloc[retrieval.query_rows]
    top1 = frame.iloc[retrieval.reference_rows[retrieval.indices[:, 0]]]
    if ground_truth == "places":
        gaps = np.abs(queries["place"].to_numpy(np.float64) - top1["place"].to_numpy(np.float64))
        segments = mf.segments(frame)
        if segments is not None:  # separate stretches of the route: no window crosses a join
            gaps[queries[segments.name].to_numpy() != top1[segments.name].to_numpy()] = np.inf
        return gaps
    xy = list(mf.POSITION_COLUMNS)
    if ground_truth == "frames":  # Chebyshev in frame numbers, as `positives.from_frames` counts them
        return np.abs(queries[xy].to_numpy(np.float64) - top1[xy].to_numpy(np.float64)).max(axis=1)
    if ground_truth == "poses":
        from acmnet.data.positives import pose_columns

        xy = pose_columns(frame)
    return np.linalg.norm(queries[xy].to_numpy(np.float64) - top1[xy].to_numpy(np.float64), axis=1)


def top1_yaw_gaps(manifest: Manifest, retrieval: Retrieval) -> np.ndarray:
    """Per query, the yaw between it and its top-1 (degrees, 0..180 with wrap-around): float64 (Q,)."""
    from acmnet.data.positives import yaw_gap

    yaw = manifest.frame[mf.YAW_COLUMN].to_numpy(np.float64)
    return yaw_gap(yaw[retrieval.query_rows], yaw[retrieval.reference_rows[retrieval.indices[:, 0]]])


def recall_vs_tolerance(cfg: Config, dataset: str, manifest: Manifest, retrieval: Retrieval) -> pd.DataFrame:
    """R@1 (percent) of one row at every tolerance of `grid`, per query set (`COLUMNS`)."""
    ground_truth, unit, tolerances, configured = grid(cfg, dataset)
    gaps = top1_gaps(manifest, retrieval, ground_truth)
    angles = angle_grid(cfg, dataset) if ground_truth == "poses" else None
    yaw = top1_yaw_gaps(manifest, retrieval) if angles is not None else np.zeros(len(gaps))
    within_angle = yaw <= (angles[1] if angles is not None else 0.0)
    conditions = manifest.frame["condition"].to_numpy()[retrieval.query_rows]
    rows = []
    for queries in mf.query_sets(manifest.frame):
        chosen = conditions == queries
        curves = [(unit, tolerances, configured, lambda t: (gaps <= t) & within_angle)]
        if angles is not None:
            curves.append((DEGREES, angles[0], angles[1], lambda t: (gaps <= configured) & (yaw <= t)))
        for curve_unit, grid_, marked, correct in curves:
            for t in grid_:
                recall = 100.0 * float(np.mean(correct(t)[chosen]))
                rows.append([dataset, queries, made_for(retrieval), ground_truth, curve_unit, t, recall, t == marked])
                rows[-1].append(int(chosen.sum()))
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _dataset_of(retrieval: Retrieval, manifests: dict[str, Manifest]) -> str:
    """The dataset whose manifest `retrieval` was made from (by its lineage's manifest digest)."""
    from acmnet.artifacts import ArtifactError

    found = retrieval.provenance.find("manifest")
    for dataset, manifest in manifests.items():
        if found is not None and found[1].digest == manifest.digest:
            return dataset
    given = ", ".join(str(m.path) for m in manifests.values())
    raise ArtifactError(
        f"{retrieval.path} was made from none of the manifests given ({given}): give the retrievals of these "
        "datasets only (and each dataset's manifest)"
    )


def write_recall_vs_tolerance(
    cfg: Config, datasets: list[str], manifests: list[Path], retrievals: list[Path], out: Path, figures: list[Path]
) -> pd.DataFrame:
    """The `recall_vs_tolerance` step: the table of every retrieval (matched to its dataset's
    manifest) and its figure; prints once why each shipped-list dataset of the config is skipped."""
    from acmnet.artifacts import load_manifest, load_retrieval, provenance, save_table
    from acmnet.data.datasets import dataset_type
    from acmnet.report.figures import check_figure_paths, tolerance_curves

    check_figure_paths(figures)
    recall = [d for d, spec in cfg.datasets.items() if dataset_type(spec.type).scoring == "recall"]
    for line in skipped(cfg, recall):
        print(line)
    if len(datasets) != len(manifests):
        raise ValueError(f"{len(datasets)} datasets given for {len(manifests)} manifests: give one manifest each")
    loaded = {d: load_manifest(Path(p)) for d, p in zip(datasets, manifests, strict=True)}
    frames, inputs = [], {}
    for i, path in enumerate(retrievals):
        retrieval = load_retrieval(Path(path))
        dataset = _dataset_of(retrieval, loaded)
        retrieval = load_retrieval(Path(path), loaded[dataset])  # its rows checked against the manifest
        frames.append(recall_vs_tolerance(cfg, dataset, loaded[dataset], retrieval))
        inputs[f"retrieval{i}"] = retrieval
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(COLUMNS))
    save_table(table, Path(out), provenance("tolerance", cfg.settings("tolerance"), **inputs))
    tolerance_curves(table, [Path(f) for f in figures])
    return table
