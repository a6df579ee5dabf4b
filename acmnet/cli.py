"""The `acmnet` command: one subcommand per step of the pipeline (see README.md).

Every subcommand reads the validated config (`--config`) and takes its inputs and outputs as
explicit paths, so Snakemake rules and users call the same thing. Errors that a user can fix
(config, missing or broken files, empty sets, a diverging run) are printed as one message that
names the key, file or step, with exit status 2; set ACMNET_DEBUG=1 for the traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from acmnet.config import Config, ConfigError, load_config


def _config(args: argparse.Namespace) -> Config:
    return load_config(args.config)


def cmd_check_config(args: argparse.Namespace) -> None:
    cfg = _config(args)
    if args.out:
        from acmnet.config import save_config

        save_config(cfg, args.out)
    print(f"config OK: experiment `{cfg.experiment}`, datasets {', '.join(cfg.datasets)}, methods {', '.join(cfg.methods)}")


def cmd_synthesize(args: argparse.Namespace) -> None:
    from acmnet.datasets import synthetic

    cfg = _config(args)
    spec = cfg.dataset(args.dataset)
    if spec.type != "synthetic":
        raise ConfigError(f"datasets.{args.dataset} has type `{spec.type}`; only `synthetic` datasets are synthesized")
    synthetic.synthesize(Path(spec.root), spec.options, args.dataset)


def cmd_prepare(args: argparse.Namespace) -> None:
    from acmnet.datasets import dataset_module, prepare_manifest
    from acmnet.datasets import manifest as mf

    if args.dataset_type:  # acmnet prepare TYPE --root DIR: the type's default protocol, no config
        if not args.root:
            raise ConfigError("acmnet prepare TYPE needs --root DIR (the folder the dataset was extracted into)")
        frame = dataset_module(args.dataset_type).prepare(Path(args.root), {}, args.dataset_type)
    elif args.config and args.dataset:
        frame = prepare_manifest(_config(args), args.dataset)
    else:
        raise ConfigError("give either a dataset type and --root, or --config and --dataset")
    mf.write(frame, Path(args.out))
    counts = frame.groupby(["role", "condition"]).size()
    print(f"wrote {args.out}: " + ", ".join(f"{r}/{c}: {n}" for (r, c), n in counts.items()))


def cmd_cache(args: argparse.Namespace) -> None:
    from acmnet.cache import build_cache
    from acmnet.datasets import manifest as mf

    cfg = _config(args)
    frame = mf.read(Path(args.manifest))
    build_cache(frame, Path(cfg.dataset(args.dataset).root), Path(args.out), cfg.image_size, workers=args.workers)


def cmd_train(args: argparse.Namespace) -> None:
    from acmnet.train import train

    cfg = _config(args)
    _check_kind(cfg, args.method, "acmnet", "train")
    path = train(cfg, args.method, Path(args.manifest), Path(args.cache), Path(args.out_dir), progress=not args.no_progress)
    print(f"wrote {path}")


def cmd_describe(args: argparse.Namespace) -> None:
    from acmnet.describe import describe

    cfg = _config(args)
    describe(cfg, args.method, Path(args.manifest), Path(args.cache), Path(args.out),
             Path(args.checkpoint) if args.checkpoint else None, progress=not args.no_progress)


def cmd_retrieve(args: argparse.Namespace) -> None:
    from acmnet.retrieval import retrieve

    cfg = _config(args)
    retrieve(Path(args.descriptors), Path(args.out), cfg.evaluate.top_k, cfg.evaluate.search_chunk)


def cmd_score(args: argparse.Namespace) -> None:
    from acmnet.metrics import score

    cfg = _config(args)
    metrics = score(cfg, args.dataset, args.method, Path(args.manifest), Path(args.retrieval), Path(args.out),
                    Path(args.curve_out), Path(args.descriptors) if args.descriptors else None)
    print(metrics.to_string(index=False))


def cmd_report(args: argparse.Namespace) -> None:
    import pandas as pd

    from acmnet.figures import recall_curves
    from acmnet.tables import merge_metrics, write_table

    cfg = _config(args)
    table = merge_metrics([Path(p) for p in args.metrics], Path(args.out_metrics))
    write_table(cfg, table, Path(args.out_table))
    curves = pd.concat([pd.read_csv(p) for p in args.curves], ignore_index=True)
    for figure in args.figures:
        recall_curves(curves, Path(figure))
    print(table.to_string(index=False))


def cmd_localize(args: argparse.Namespace) -> None:
    from acmnet.localization import localize

    accuracy = localize(args.method, Path(args.manifest), Path(args.retrieval), Path(args.submission), Path(args.out))
    print(f"wrote {args.submission}")
    if len(accuracy):
        print(accuracy.pivot_table(index="condition", columns="threshold_m", values="value").to_string())


def cmd_gradcam(args: argparse.Namespace) -> None:
    from acmnet.gradcam import gradcam_figure

    cfg = _config(args)
    _check_kind(cfg, args.method, "acmnet", "gradcam")
    from acmnet.train import resolve_device

    gradcam_figure(Path(args.manifest), Path(args.cache), Path(args.retrieval), Path(args.checkpoint),
                   cfg.dataset(args.dataset).tolerance, [Path(p) for p in args.out], device=str(resolve_device(cfg.device)))


def cmd_figure_retrievals(args: argparse.Namespace) -> None:
    from acmnet.figures import retrieval_examples

    cfg = _config(args)
    retrieval_examples(Path(args.manifest), Path(args.cache), Path(args.retrieval), cfg.dataset(args.dataset).tolerance,
                       [Path(p) for p in args.out])


def cmd_download(args: argparse.Namespace) -> None:
    from acmnet.download import fetch_dataset

    root = fetch_dataset(args.dataset_type, Path(args.root), progress=not args.no_progress)
    print(f"{args.dataset_type} is in {root}; next: acmnet prepare")


def cmd_tables(args: argparse.Namespace) -> None:
    from acmnet.paper_tables import render_paper_tables

    cfg = load_config(args.config) if args.config else None
    robotcar = None
    if args.robotcar_scores:  # one file for the table: every method's scores, merged
        import pandas as pd

        from acmnet.io import atomic_path

        robotcar = Path(args.out) / "robotcar_scores.csv"
        merged = pd.concat([pd.read_csv(p) for p in args.robotcar_scores], ignore_index=True)
        with atomic_path(robotcar) as tmp:
            merged.to_csv(tmp, index=False)
    paths = render_paper_tables(Path(args.out), [Path(p) for p in args.metrics] if args.metrics else None, cfg, robotcar)
    print("wrote " + ", ".join(str(p) for p in paths))


def _check_kind(cfg: Config, method: str, kind: str, step: str) -> None:
    if cfg.method(method).kind != kind:
        raise ConfigError(f"methods.{method} has kind `{cfg.method(method).kind}`; `acmnet {step}` needs kind `{kind}`")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="acmnet", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="STEP")

    def add(name: str, func, help_text: str, dataset=False, method=False, config_required=True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--config", required=config_required, nargs="+",
                       help="config YAML file(s); later ones override earlier ones")
        if dataset:
            p.add_argument("--dataset", required=True, help="dataset name (a key of `datasets` in the config)")
        if method:
            p.add_argument("--method", required=True, help="method name (a key of `methods` in the config)")
        p.set_defaults(func=func)
        return p

    p = add("check-config", cmd_check_config, "validate a config; optionally write it fully resolved")
    p.add_argument("--out", help="write the resolved config (all defaults filled in) here")
    add("synthesize", cmd_synthesize, "render a synthetic route (the offline demo data) into its dataset root", dataset=True)
    p = add("prepare", cmd_prepare, "write the manifest (image, role, place, condition) of a dataset on disk: "
            "`acmnet prepare TYPE --root DIR --out FILE`, or `--config C --dataset NAME --out FILE`", config_required=False)
    p.add_argument("dataset_type", nargs="?", help="dataset type (nordland, alderley, robotcar, ...), with --root")
    p.add_argument("--root", help="folder the dataset was extracted into (with a dataset type)")
    p.add_argument("--dataset", help="dataset name (a key of `datasets` in the config)")
    p.add_argument("--out", required=True, help="manifest CSV to write")
    p = add("cache", cmd_cache, "decode and resize every manifest image once into a uint8 .npy cache", dataset=True)
    p.add_argument("--manifest", required=True)
    p.add_argument("--out", required=True, help="cache .npy to write (an .json index is written beside it)")
    p.add_argument("--workers", type=int, default=2, help="decoding threads")
    p = add("train", cmd_train, "train ACM-Net on the manifest's `train` images (resumes from OUT_DIR/last.pt)", method=True)
    p.add_argument("--manifest", required=True)
    p.add_argument("--cache", required=True)
    p.add_argument("--out-dir", required=True, help="folder for checkpoint.pt, last.pt and train_log.csv")
    p.add_argument("--no-progress", action="store_true")
    p = add("describe", cmd_describe, "compute L2-normalised descriptors of the reference and query images", method=True)
    p.add_argument("--manifest", required=True)
    p.add_argument("--cache", required=True)
    p.add_argument("--checkpoint", help="checkpoint of a trained method (kind acmnet)")
    p.add_argument("--out", required=True, help="descriptors .npz to write")
    p.add_argument("--no-progress", action="store_true")
    p = add("retrieve", cmd_retrieve, "exact inner-product top-K search of every query (faiss)")
    p.add_argument("--descriptors", required=True)
    p.add_argument("--out", required=True, help="retrieval .npz to write")
    p = add("score", cmd_score, "recall@N per query set with the dataset's tolerance window", dataset=True, method=True)
    p.add_argument("--manifest", required=True)
    p.add_argument("--retrieval", required=True)
    p.add_argument("--descriptors", help="descriptors .npz (needed when evaluate.sequence_lengths is set)")
    p.add_argument("--out", required=True, help="metrics CSV to write")
    p.add_argument("--curve-out", required=True, help="recall@N curve CSV (N = 1..top_k) to write")
    p = add("localize", cmd_localize, "RobotCar: top-1 reference pose -> submission file and local pose accuracy",
            method=True)
    p.add_argument("--manifest", required=True)
    p.add_argument("--retrieval", required=True)
    p.add_argument("--submission", required=True, help="visuallocalization.net submission file to write")
    p.add_argument("--out", required=True, help="per-condition pose accuracy CSV of the train-split queries")
    p = add("report", cmd_report, "merge metrics, write the LaTeX table and the recall curves figure")
    p.add_argument("--metrics", required=True, nargs="+")
    p.add_argument("--curves", required=True, nargs="+")
    p.add_argument("--out-metrics", required=True)
    p.add_argument("--out-table", required=True)
    p.add_argument("--figures", required=True, nargs="+", help="figure file(s); the suffix picks the format (png, pdf)")
    p = add("gradcam", cmd_gradcam, "Grad-CAM of queries and their top-1 references w.r.t. their descriptor similarity",
            dataset=True, method=True)
    p.add_argument("--manifest", required=True)
    p.add_argument("--cache", required=True)
    p.add_argument("--retrieval", required=True)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--out", required=True, nargs="+", help="figure file(s): .png for the report, .pdf for the paper")
    p = add("figure-retrievals", cmd_figure_retrievals, "grid of queries with their top retrievals, marked right or wrong", dataset=True)
    p.add_argument("--manifest", required=True)
    p.add_argument("--cache", required=True)
    p.add_argument("--retrieval", required=True)
    p.add_argument("--out", required=True, nargs="+", help="figure file(s): .png for the report, .pdf for the paper")
    p = sub.add_parser("download", help="download, verify and extract a dataset (or print the manual steps)",
                       description="download, verify and extract a dataset (resumable; or print the manual steps)")
    p.add_argument("dataset_type", help="dataset type: nordland, nordland64, alderley, gardenspoint, robotcar")
    p.add_argument("--root", required=True, help="folder to put the dataset in (the dataset's `root` in the config)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_download)
    p = add("tables", cmd_tables, "the paper's Tables 2-4 in LaTeX: published rows, and ours from metrics files",
            config_required=False)
    p.add_argument("--out", required=True, help="folder for table2.tex, table3.tex, table4.tex")
    p.add_argument("--metrics", nargs="*", help="metrics CSV files (none: the published rows alone)")
    p.add_argument("--robotcar-scores", nargs="*", help="RobotCar pose-accuracy CSVs, from `acmnet localize`")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (ConfigError, FileNotFoundError, ValueError, RuntimeError, KeyError) as exc:
        if os.environ.get("ACMNET_DEBUG"):
            raise
        print(f"acmnet {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
