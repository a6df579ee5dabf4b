"""Figures: recall@N curves per query set, and a grid of queries with their top retrievals."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from acmnet.io import atomic_path


def check_figure_paths(outs: list[Path]) -> None:
    """Refuse a figure path whose extension picks no format (none, or an unknown one), naming the
    path and the extensions accepted (matplotlib's: png, pdf, svg, ...)."""
    from matplotlib.backend_bases import FigureCanvasBase

    formats = FigureCanvasBase.get_supported_filetypes()
    for out in outs:
        suffix = Path(out).suffix.lower().lstrip(".")
        if suffix not in formats:
            what = f"extension `.{suffix}`, which is not a figure format" if suffix else "no extension"
            raise ValueError(
                f"figure file {out} has {what}: the extension picks the format; give one of "
                + ", ".join(f".{f}" for f in sorted(formats))
                + " (.png for the report, .pdf for the paper)"
            )


def _save(fig: plt.Figure, outs: list[Path], dpi: int = 150) -> None:
    try:
        check_figure_paths(outs)
        for out in outs:
            with atomic_path(Path(out)) as tmp:
                fig.savefig(tmp, dpi=dpi)
    finally:
        plt.close(fig)


def _panels(count: int, width: float = 4.2, height: float = 3.4) -> tuple[plt.Figure, list]:
    cols = min(3, count)
    rows = int(np.ceil(count / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    for ax in list(axes.flat)[count:]:
        ax.axis("off")
    return fig, list(axes.flat)


def recall_curves(curves: pd.DataFrame, outs: list[Path]) -> None:
    """One panel per (dataset, query set), one line per method: recall@N (%) for N = 1..K, with
    the bootstrap interval over queries shaded; a method run with several seeds is drawn as its seed
    mean, its band the mean of its seeds' bands (not an interval over seeds; the legend says so)."""
    from acmnet.config import split_seed

    curves = curves.assign(method=curves["method"].map(lambda m: split_seed(m)[0]), run=curves["method"])
    seeds = curves.groupby("method")["run"].nunique()
    curves = curves.groupby(["dataset", "queries", "method", "N"], sort=False)[["recall", "lo", "hi"]].mean()
    curves = curves.reset_index()
    groups = list(curves.groupby(["dataset", "queries"], sort=False))
    fig, axes = _panels(len(groups))
    for ax, ((dataset, queries), group) in zip(axes, groups):
        for method, line in group.groupby("method", sort=False):
            label = method if seeds[method] == 1 else f"{method} (mean of {seeds[method]} seeds and of their bands)"
            (drawn,) = ax.plot(line["N"], line["recall"], marker="o", markersize=2.5, label=label)
            ax.fill_between(line["N"], line["lo"], line["hi"], color=drawn.get_color(), alpha=0.15, linewidth=0)
        ax.set(title=f"{dataset}: {queries}", xlabel="N", ylabel="Recall@N (%)", ylim=(0, 100))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, outs)


def seed_spread(metrics: pd.DataFrame, n: int, outs: list[Path]) -> None:
    """One panel per (dataset, query set): every run's R@n, one column of dots per method (its
    seeds), with the mean marked: how much the numbers move with the training seed."""
    from acmnet.config import split_seed

    metrics = metrics.assign(base=metrics["method"].map(lambda m: split_seed(m)[0]))
    groups = list(metrics.groupby(["dataset", "queries"], sort=False))
    fig, axes = _panels(len(groups), width=max(4.2, 0.9 * metrics["base"].nunique()))
    for ax, ((dataset, queries), group) in zip(axes, groups):
        bases = list(dict.fromkeys(group["base"]))
        for x, base in enumerate(bases):
            values = group.loc[group["base"] == base, f"R@{n}"].to_numpy()
            ax.scatter(np.full(len(values), x), values, s=18, alpha=0.8)
            ax.hlines(values.mean(), x - 0.3, x + 0.3, color="black", linewidth=1)
        ax.set_xticks(range(len(bases)), bases, rotation=30, ha="right", fontsize=8)
        ax.set(title=f"{dataset}: {queries}", ylabel=f"R@{n} (%) per training seed")
        ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    _save(fig, outs)


def retrieval_grid(
    query_images: list[np.ndarray],
    retrieved: list[list[np.ndarray]],
    correct: list[list[bool]],
    titles: list[str],
    outs: list[Path],
) -> None:
    """Rows: a query (first column) and its top retrievals, framed green (correct) or red.

    Saved to each of `outs` (the suffix picks the format: PNG for the report, PDF for the paper).
    """
    n_cols = 1 + max(len(r) for r in retrieved)
    fig, axes = plt.subplots(len(query_images), n_cols, figsize=(1.8 * n_cols, 1.8 * len(query_images)), squeeze=False)
    for r, (query, refs, ok, title) in enumerate(zip(query_images, retrieved, correct, titles)):
        axes[r, 0].imshow(query)
        axes[r, 0].set_title(title, fontsize=7)
        for c, (img, good) in enumerate(zip(refs, ok), start=1):
            axes[r, c].imshow(img)
            for spine in axes[r, c].spines.values():
                spine.set_edgecolor("tab:green" if good else "tab:red")
                spine.set_linewidth(3)
            axes[r, c].set_title(f"top-{c}", fontsize=7)
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    _save(fig, outs, dpi=120)


def retrieval_examples(
    manifest_path: Path,
    cache_path: Path | None,
    retrieval_path: Path,
    positives_path: Path,
    outs: list[Path],
    per_set: int = 3,
    top: int = 3,
    *,
    method: str,
    root: Path | None = None,
    image_size: tuple[int, int] | None = None,
) -> None:
    """Grid of `per_set` evenly spaced queries of each query set with their top `top` references,
    each marked right when it is one of the query's positives (`positives_path`); the retrieval
    must have been made for `method`. The images are the cache's rows, or, without a cache (a
    dataset that is not cached), decoded from the files under `root` at `image_size` as the cache
    decodes them."""
    from acmnet.artifacts import check_method, load_manifest, load_positives, load_retrieval
    from acmnet.data import manifest as mf
    from acmnet.data.loader import manifest_images

    manifest = load_manifest(manifest_path)
    images = manifest_images(manifest, cache_path, root, tuple(image_size or (0, 0)))
    retrieval = load_retrieval(retrieval_path, manifest)
    check_method(retrieval, "retrieval", method)
    frame = manifest.frame
    ref_rows, query_rows, indices = retrieval.reference_rows, retrieval.query_rows, retrieval.indices[:, :top]
    places = frame["place"].to_numpy()
    correct = load_positives(positives_path, manifest).sets.hits(indices)
    conditions = frame["condition"].to_numpy()[query_rows]
    queries, retrieved, ok, titles = [], [], [], []
    for queries_set in mf.query_sets(frame):
        members = np.flatnonzero(conditions == queries_set)
        for q in members[np.linspace(0, len(members) - 1, per_set).astype(int)]:
            queries.append(images([query_rows[q]])[0])
            retrieved.append(list(images(ref_rows[indices[q]])))
            ok.append(list(correct[q]))
            titles.append(f"{queries_set} place {places[query_rows[q]]}")
    retrieval_grid(queries, retrieved, ok, titles, outs)


def _xy(curve) -> tuple[np.ndarray, np.ndarray]:
    """A precision-recall curve as the (x, y) of a plot: (recall, precision)."""
    return curve.recall, curve.precision


def pr_curves(ranks: pd.DataFrame, outs: list[Path]) -> None:
    """One panel per (dataset, query set): the precision-recall curve of every single-image run's
    top-1 matches (`acmnet.evaluate.precision`), `vprbench` solid and `tutorial` dashed, one colour
    per method (its seeds drawn alike), each method's AUC-PR in both conventions (mean over seeds)
    in the legend; a degenerate set is named there instead of drawn. From the ranks files
    (`first_hit`, `top1_score`, `n_positives`)."""
    from acmnet.config import split_seed
    from acmnet.evaluate.precision import degenerate, pr_numbers, tutorial_curve, vprbench_curve

    single = ranks[~ranks["method"].str.contains("+seq", regex=False)]
    groups = list(single.groupby(["dataset", "queries"], sort=False))
    fig, axes = _panels(max(len(groups), 1), width=5.0, height=4.0)
    for ax, ((dataset, queries), group) in zip(axes, groups):
        by_base: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
        for run, rows in group.groupby("method", sort=False):
            top1 = (rows["first_hit"].to_numpy() == 1, rows["top1_score"].to_numpy(np.float64))
            by_base.setdefault(split_seed(run)[0], []).append((*top1, rows["n_positives"].to_numpy() > 0))
        for i, (base, runs) in enumerate(by_base.items()):
            colour = f"C{i % 10}"
            for correct, scores, has_positive in runs:
                if degenerate(correct, has_positive, scores) is None:
                    ax.plot(*_xy(vprbench_curve(correct, scores)), "-", color=colour, linewidth=1.2)
                    ax.plot(*_xy(tutorial_curve(correct, scores, has_positive)), "--", color=colour, linewidth=1.2)
            numbers = pd.DataFrame([pr_numbers(*run) for run in runs]).mean(skipna=False)
            why = next((w for w in (degenerate(c, h, s) for c, s, h in runs) if w), None)
            label = f"{base}: AUC-PR {numbers['AUC-PR']:.3f} vprbench, {numbers['AUC-PR_tutorial']:.3f} tutorial"
            ax.plot([], [], color=colour, label=f"{base}: degenerate ({why})" if why else label)
        ax.plot([], [], "-", color="grey", label="vprbench (solid)")
        ax.plot([], [], "--", color="grey", label="tutorial (dashed)")
        ax.set(title=f"{dataset}: {queries}", xlabel="Recall", ylabel="Precision", xlim=(0, 1.02), ylim=(0, 1.02))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    _save(fig, outs)


def tolerance_curves(table: pd.DataFrame, outs: list[Path]) -> None:
    """One panel per (dataset, query set): R@1 (%) of every method (mean over seeds) as the
    tolerance grows (`acmnet.evaluate.tolerance`), the configured tolerance marked; a note when no
    dataset has a tolerance to vary."""
    from acmnet.config import split_seed

    table = table.assign(method=table["method"].map(lambda m: split_seed(m)[0]))
    groups = list(table.groupby(["dataset", "queries", "unit"], sort=False))
    fig, axes = _panels(max(len(groups), 1))
    if not groups:
        axes[0].text(0.5, 0.5, "no dataset with a tolerance to vary\n(shipped ground-truth lists only)", ha="center")
        axes[0].axis("off")
    for ax, ((dataset, queries, _), group) in zip(axes, groups):
        mean = group.groupby(["method", "tolerance"], sort=False)["R@1"].mean().reset_index()
        for method, line in mean.groupby("method", sort=False):
            ax.plot(line["tolerance"], line["R@1"], marker="o", markersize=2.5, label=method)
        configured = float(group.loc[group["configured"].astype(bool), "tolerance"].iloc[0])
        unit = group["unit"].iloc[0]
        windowed = group["ground_truth"].iloc[0] in ("places", "frames")
        within = "± window" if windowed else "yaw" if unit == "deg" else "distance"
        sign = "±" if windowed else ""
        ax.axvline(
            configured, color="black", linestyle=":", linewidth=1, label=f"configured: {sign}{configured:g} {unit}"
        )
        ax.set(title=f"{dataset}: {queries}", xlabel=f"{within} ({unit})", ylabel="R@1 (%)", ylim=(0, 100))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, outs)
