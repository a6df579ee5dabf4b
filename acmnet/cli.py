"""The `acmnet` command: one subcommand per step of the pipeline (see README.md).

Every subcommand reads the validated config (`--config FILE...`, or `--config-json` as the
Snakefile passes it, with `--set KEY=VALUE` overrides) and takes its inputs and outputs as
explicit paths, so Snakemake rules and users call the same thing. Errors that a user can fix
(config, missing or broken files, files of different runs, empty sets, a diverging run) are
printed as one line that names the key, file or step, with exit status 2; an internal error
keeps its traceback. SIGTERM and SIGINT stop a step cleanly: no temporary file is left, and a
training run saves a checkpoint first (exit status 143 or 130).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from acmnet.config import Config, ConfigError, parse_overrides
from acmnet.config_loader import config_from_json, load_config


def _config(args: argparse.Namespace) -> Config:
    overrides = parse_overrides(args.set or [])
    if args.config_json:
        return config_from_json(args.config_json, overrides)
    if not args.config:
        raise ConfigError(f"acmnet {args.command} needs --config FILE (or --config-json)")
    return load_config(args.config, overrides)


# ---- the steps ---------------------------------------------------------------------------


def cmd_check_config(args: argparse.Namespace) -> None:
    from acmnet.config_loader import seen_places_notes

    cfg = _config(args)
    for note in seen_places_notes(cfg):
        print(f"note: {note}")
    if args.out:
        from acmnet.config import save_config

        save_config(cfg, args.out)
    print(
        f"config OK: experiment `{cfg.experiment}`, datasets {', '.join(cfg.datasets)}, "
        f"methods {', '.join(cfg.methods)}"
    )


def cmd_synthesize(args: argparse.Namespace) -> None:
    from acmnet.data.datasets import dataset_type

    cfg = _config(args)
    spec = cfg.dataset(args.dataset)
    kind = dataset_type(spec.type)
    if kind.synthesize is None:
        raise ConfigError(
            f"datasets.{args.dataset} has type `{spec.type}`, which is not generated: only "
            "`synthetic` datasets are synthesized"
        )
    kind.synthesize(Path(spec.root), spec.options, args.dataset)


def cmd_prepare(args: argparse.Namespace) -> None:
    from acmnet.artifacts import ExternalFile, provenance, save_manifest
    from acmnet.config import DatasetConfig
    from acmnet.config_loader import check_fits_manifest
    from acmnet.data.datasets import dataset_type, prepare_manifest
    from acmnet.data.listing import files_read_digests
    from acmnet.data.positives import count_positives

    if (args.dataset_type or args.root) and (args.config or args.config_json or args.dataset or args.set):
        raise ConfigError(
            "acmnet prepare takes either a dataset TYPE with --root DIR (the type's defaults), or --config with "
            "--dataset NAME (the dataset's root and options from the config), not both: drop one of the two"
        )
    if args.dataset_type:  # acmnet prepare TYPE --root DIR: the type's default protocol, no config
        if not args.root:
            raise ConfigError("acmnet prepare TYPE needs --root DIR (the folder the dataset was extracted into)")
        kind = dataset_type(args.dataset_type)
        spec = DatasetConfig(args.dataset_type, args.root, options=kind.parse_options({}, args.dataset_type))
        frame = kind.prepare_manifest(Path(args.root), spec.options, args.dataset_type)
        settings = {"dataset.type": args.dataset_type, "dataset.root": args.root}
    elif args.dataset:
        cfg = _config(args)
        spec, frame = cfg.dataset(args.dataset), prepare_manifest(cfg, args.dataset)
        check_fits_manifest(cfg, args.dataset, frame)
        settings = cfg.settings("prepare", dataset=args.dataset)
    else:
        raise ConfigError("give either a dataset type and --root, or --config and --dataset")
    kind = dataset_type(spec.type)
    read = [] if kind.files_read is None else kind.files_read(Path(spec.root), spec.options)
    digests = files_read_digests(read)  # recorded by content: what the manifest was made from
    sources = {f"read{i}": ExternalFile(Path(path), digest) for i, (path, digest) in enumerate(digests.items())}
    manifest = save_manifest(frame, Path(args.out), provenance("prepare", settings, **sources))
    counts = manifest.frame.groupby(["role", "condition"], sort=False).size()
    print(f"wrote {args.out}: " + ", ".join(f"{r}/{c}: {n}" for (r, c), n in counts.items()))
    if dataset_type(spec.type).scoring == "recall":
        print(f"ground truth: {count_positives(spec, manifest.frame)}")
    elif dataset_type(spec.type).scoring == "submission":
        print("ground truth: none public (MSLS's server scores it): no recall; acmnet export-msls writes the file")


def cmd_positives(args: argparse.Namespace) -> None:
    from acmnet.artifacts import load_manifest, write_positives
    from acmnet.data.positives import describe_counts, ground_truth_of, positive_angle_of

    cfg = _config(args)
    manifest = load_manifest(Path(args.manifest))
    settings = cfg.settings("positives", dataset=args.dataset)
    spec = cfg.dataset(args.dataset)
    out = write_positives(manifest, Path(args.out), *ground_truth_of(spec), settings, positive_angle_of(spec))
    print(f"wrote {args.out}: {describe_counts(manifest.frame, out.sets)}")


def cmd_cache(args: argparse.Namespace) -> None:
    from acmnet.artifacts import load_manifest
    from acmnet.data.cache import build_cache

    cfg = _config(args)
    build_cache(
        load_manifest(Path(args.manifest)),
        Path(cfg.dataset(args.dataset).root),
        Path(args.out),
        cfg.image_size,
        cfg.settings("cache"),
        workers=args.workers,
    )


def cmd_train(args: argparse.Namespace) -> None:
    from acmnet.methods import check_trained
    from acmnet.train import train

    cfg = _config(args)
    check_trained(cfg, args.method, "train")
    path = train(
        cfg,
        args.method,
        Path(args.manifest),
        Path(args.cache),
        Path(args.out_dir),
        runs_dir=Path(args.runs_dir) if args.runs_dir else None,
        progress=not args.no_progress,
    )
    print(f"wrote {path}")


def cmd_prune(args: argparse.Namespace) -> None:
    from acmnet.train.prune import prune

    print(prune(_config(args), delete=args.yes))


def cmd_describe(args: argparse.Namespace) -> None:
    from acmnet.evaluate.describe import describe

    cfg = _config(args)
    describe(
        cfg,
        args.method,
        Path(args.manifest),
        Path(args.cache) if args.cache else None,
        Path(args.out),
        Path(args.checkpoint) if args.checkpoint else None,
        progress=not args.no_progress,
        dataset=args.dataset,
        shard=args.shard,
        shards=args.shards,
        workers=args.workers if args.workers is not None else len(os.sched_getaffinity(0)),
    )


def cmd_check_invariance(args: argparse.Namespace) -> None:
    from acmnet.evaluate.invariance import check_invariance, write_invariance

    cfg = _config(args)
    table = check_invariance(
        cfg,
        args.dataset,
        args.method,
        Path(args.manifest),
        Path(args.cache) if args.cache else None,
        Path(args.checkpoint) if args.checkpoint else None,
    )
    write_invariance(cfg, args.dataset, args.method, Path(args.manifest), table, Path(args.out))
    print(table.to_string(index=False))
    for _, r in table[~table["invariant"]].iterrows():
        print(
            f"warning: {args.method} on {args.dataset} {r['set']}: descriptors change by up to {r['max_change']:.3g} "
            f"with the batch (batch sizes {r['batch_sizes']}, two orders): its results depend on how the set is batched"
        )


def cmd_export(args: argparse.Namespace) -> None:
    from acmnet.export import export

    out = export(Path(args.checkpoint), Path(args.out), Path(args.report) if args.report else None, args.descriptor)
    print(f"wrote {out}: model.safetensors, config.json, README.md (torch.hub.load(..., 'acmnet', weights='{out}'))")


def cmd_retrieve(args: argparse.Namespace) -> None:
    import faiss

    from acmnet.artifacts import record_timing
    from acmnet.evaluate.retrieval import retrieve

    cfg = _config(args)
    cfg.method(args.method)  # a configured method
    started = time.perf_counter()
    found = retrieve(
        [Path(p) for p in args.descriptors],
        Path(args.out),
        cfg.evaluate.top_k,
        cfg.settings("retrieve"),
        memory_mb=cfg.evaluate.retrieval_memory_mb,
        method=args.method,
    )
    seconds = time.perf_counter() - started  # the step: reading the descriptors, the search, writing
    record_timing(Path(args.out), seconds, len(found.query_rows), f"CPU (faiss, {faiss.omp_get_max_threads()} threads)")


def cmd_import_ranking(args: argparse.Namespace) -> None:
    from acmnet.evaluate.pairs import import_ranking
    from acmnet.methods import method_of

    cfg = _config(args)
    kind, options = method_of(cfg, args.method), cfg.method(args.method).options
    if not kind.imports_ranking:
        raise ConfigError(
            f"methods.{args.method} has kind `{kind.kind}`, which ranks by its descriptors (`acmnet retrieve`); "
            "`acmnet import-ranking` reads a `kind: reranked` method's list or a `kind: matches` method's file"
        )
    cfg.dataset(args.dataset)
    (path,) = kind.files(options, args.dataset)
    if kind.import_ranking is not None:  # another tool's stored matches (`kind: matches`)
        out = kind.import_ranking(cfg, args.method, options, args.dataset, Path(args.manifest), Path(args.out))
        print(f"wrote {args.out}: the top {out.indices.shape[1]} of {len(out.query_rows)} queries from {path}")
        return
    ev = cfg.evaluate
    out = import_ranking(
        Path(path),
        Path(args.manifest),
        Path(args.out),
        ev.top_k,
        max(ev.recall_at),
        cfg.settings("import_ranking"),
        args.method,
        Path(args.first_stage) if args.first_stage else None,
    )
    print(
        f"wrote {args.out}: {out.indices.shape[1]} references per query for {len(out.query_rows)} queries from {path}"
    )


def cmd_export_pairs(args: argparse.Namespace) -> None:
    from acmnet.evaluate.pairs import write_pairs

    cfg = _config(args)
    cfg.method(args.method)
    n = cfg.evaluate.export_pairs
    if n == 0:
        raise ConfigError("evaluate.export_pairs is 0 (no pairs): set it to the number of pairs per query to write")
    lines = write_pairs(Path(args.manifest), Path(args.retrieval), Path(args.out), n)
    print(f"wrote {args.out}: {lines} pairs, the top {n} of every query (hloc's pairs_from_retrieval form)")


def cmd_export_msls(args: argparse.Namespace) -> None:
    from acmnet.evaluate.msls_submission import write_submission

    cfg = _config(args)
    cfg.method(args.method)
    k = cfg.evaluate.msls_keys()
    n = write_submission(Path(args.manifest), Path(args.retrieval), Path(args.out), k)
    print(
        f"wrote {args.out}: {n} queries, each with its top {k} database keys (the MSLS challenge file, as SALAD's "
        "save_predictions writes it); no recall is computed: MSLS-test's ground truth is the challenge server's"
    )


def cmd_score(args: argparse.Namespace) -> None:
    from acmnet.evaluate.metrics import score

    cfg = _config(args)
    metrics = score(
        cfg,
        args.dataset,
        args.method,
        Path(args.manifest),
        Path(args.positives),
        Path(args.retrieval),
        Path(args.out),
        Path(args.curve_out),
        [Path(p) for p in args.descriptors] if args.descriptors else None,
        Path(args.ranks_out) if args.ranks_out else None,
    )
    print(metrics.to_string(index=False))


def cmd_localize(args: argparse.Namespace) -> None:
    from acmnet.evaluate.localization import localize

    accuracy = localize(args.method, Path(args.manifest), Path(args.retrieval), Path(args.submission), Path(args.out))
    print(f"wrote {args.submission}")
    if len(accuracy):
        print(accuracy.pivot_table(index="condition", columns="threshold_m", values="value").to_string())


def cmd_report(args: argparse.Namespace) -> None:
    from acmnet.report.results import ReportFiles, write_report

    cfg = _config(args)
    out = ReportFiles(
        Path(args.out_metrics),
        Path(args.out_summary),
        Path(args.out_markdown),
        Path(args.out_table),
        [Path(p) for p in args.figures],
        [Path(p) for p in args.seed_figures],
        Path(args.out_config) if args.out_config else None,
        Path(args.out_reproduction) if args.out_reproduction else None,
        Path(args.out_reproduction_csv) if args.out_reproduction_csv else None,
    )
    text = write_report(
        cfg,
        [Path(p) for p in args.metrics],
        [Path(p) for p in args.curves],
        [Path(p) for p in args.ranks],
        out,
        invariance=[Path(p) for p in args.invariance],
        train_logs=[Path(p) for p in args.train_logs or []],
    )
    print(text)


def cmd_pr_curves(args: argparse.Namespace) -> None:
    from acmnet.artifacts import load_ranks
    from acmnet.report.figures import check_figure_paths, pr_curves

    _config(args)  # validated, as every step's
    check_figure_paths([Path(p) for p in args.out])
    pr_curves(load_ranks([Path(p) for p in args.ranks]), [Path(p) for p in args.out])
    print(f"wrote {' '.join(args.out)}")


def cmd_tolerance_curve(args: argparse.Namespace) -> None:
    from acmnet.evaluate.tolerance import write_recall_vs_tolerance

    table = write_recall_vs_tolerance(
        _config(args), args.datasets, args.manifests, args.retrievals, Path(args.out), [Path(p) for p in args.figures]
    )
    print(f"wrote {args.out} ({len(table)} rows) and {' '.join(args.figures)}")


def cmd_gradcam(args: argparse.Namespace) -> None:
    from acmnet.methods import check_trained
    from acmnet.report.gradcam import gradcam_figure

    cfg = _config(args)
    check_trained(cfg, args.method, "gradcam")
    gradcam_figure(
        cfg,
        args.method,
        Path(args.manifest),
        Path(args.cache) if args.cache else None,
        Path(args.retrieval),
        Path(args.checkpoint),
        Path(args.positives),
        [Path(p) for p in args.out],
        root=None if args.cache else Path(cfg.dataset(args.dataset).root),
    )


def cmd_figure_retrievals(args: argparse.Namespace) -> None:
    from acmnet.report.figures import retrieval_examples

    cfg = _config(args)
    cfg.method(args.method)  # validated, as every step's; the method must be configured
    retrieval_examples(
        Path(args.manifest),
        Path(args.cache) if args.cache else None,
        Path(args.retrieval),
        Path(args.positives),
        [Path(p) for p in args.out],
        method=args.method,
        root=None if args.cache else Path(cfg.dataset(args.dataset).root),
        image_size=cfg.image_size,
    )


def cmd_download(args: argparse.Namespace) -> None:
    from acmnet.data.download import fetch_dataset

    root = fetch_dataset(args.dataset_type, Path(args.root), progress=not args.no_progress)
    print(f"{args.dataset_type} is in {root}; next: acmnet prepare")


def cmd_check_convention(args: argparse.Namespace) -> None:
    from acmnet.data.robotcar_convention import check_convention

    report = check_convention(Path(args.nvm), Path(args.train), args.camera)
    print(report)
    if report.splitlines()[-1].startswith("no conclusion"):
        raise ValueError(f"the two readings of {args.train} could not be told apart (see above): check the files")


def cmd_tables(args: argparse.Namespace) -> None:
    from acmnet.report.paper_tables import render_paper_tables

    cfg = _config(args) if (args.config or args.config_json) else None
    robotcar = [Path(p) for p in args.robotcar_scores] if args.robotcar_scores else None
    # every method's scores file is read and checked as it is, so an error names the user's file
    paths = render_paper_tables(
        Path(args.out), [Path(p) for p in args.metrics] if args.metrics else None, cfg, robotcar
    )
    if robotcar:  # and, beside the tables, every method's scores in one file
        import pandas as pd

        from acmnet.artifacts import load_pose_accuracy
        from acmnet.io import atomic_path

        merged = pd.concat([load_pose_accuracy(p) for p in robotcar], ignore_index=True)
        with atomic_path(Path(args.out) / "robotcar_scores.csv") as tmp:
            merged.to_csv(tmp, index=False)
        paths.append(Path(args.out) / "robotcar_scores.csv")
    print("wrote " + ", ".join(str(p) for p in paths))


# ---- the parser, from a table ------------------------------------------------------------


def arg(*flags: str, **kwargs: Any) -> tuple[tuple[str, ...], dict[str, Any]]:
    return flags, kwargs


DATASET = arg("--dataset", required=True, help="dataset name (a key of `datasets` in the config)")
METHOD = arg("--method", required=True, help="method name (a key of `methods` in the config)")
MANIFEST = arg("--manifest", required=True, help="manifest CSV (from acmnet prepare)")
CACHE = arg("--cache", required=True, help="image cache .npy (from acmnet cache)")
IMAGES = arg("--cache", help="image cache .npy (from acmnet cache); without it the images are decoded from the files")
POSITIVES = arg("--positives", required=True, help="positives .npz (from acmnet positives)")
RETRIEVAL = arg("--retrieval", required=True, help="retrieval .npz (from acmnet retrieve)")
NO_PROGRESS = arg("--no-progress", action="store_true", help="no progress bars")
FIGURES = arg("--out", required=True, nargs="+", help="figure file(s): .png for the report, .pdf for the paper")


@dataclass(frozen=True)
class Step:
    """One subcommand: its function, help and arguments; `config`: required, optional or none."""

    name: str
    run: Callable[[argparse.Namespace], None]
    help: str
    args: tuple = ()
    config: str = "required"


STEPS = (
    Step(
        "check-config",
        cmd_check_config,
        "validate a config; optionally write it fully resolved",
        (arg("--out", help="write the resolved config (all defaults filled in) here"),),
    ),
    Step(
        "synthesize",
        cmd_synthesize,
        "render a synthetic route (the offline demo data) into its dataset root",
        (DATASET,),
    ),
    Step(
        "download",
        cmd_download,
        "download, verify and extract a dataset (resumable; or print the manual steps)",
        (
            arg("dataset_type", help="dataset type: nordland, nordland64, alderley, gardenspoint, robotcar"),
            arg("--root", required=True, help="folder to put the dataset in (the dataset's `root` in the config)"),
            NO_PROGRESS,
        ),
        config="none",
    ),
    Step(
        "prepare",
        cmd_prepare,
        "write the manifest (image, role, place, condition) of a dataset on disk: "
        "`acmnet prepare TYPE --root DIR --out FILE`, or `--config C --dataset NAME --out FILE`",
        (
            arg("dataset_type", nargs="?", help="dataset type (nordland, alderley, robotcar, ...), with --root"),
            arg("--root", help="folder the dataset was extracted into (with a dataset type)"),
            arg("--dataset", help="dataset name (a key of `datasets` in the config)"),
            arg("--out", required=True, help="manifest CSV to write"),
        ),
        config="optional",
    ),
    Step(
        "positives",
        cmd_positives,
        "write every query's positive references (the dataset's ground truth) as positives.npz",
        (DATASET, MANIFEST, arg("--out", required=True, help="positives .npz to write")),
    ),
    Step(
        "cache",
        cmd_cache,
        "decode and resize every manifest image once into a uint8 .npy cache",
        (
            DATASET,
            MANIFEST,
            arg("--out", required=True, help="cache .npy to write (a .json index is written beside it)"),
            arg("--workers", type=int, default=2, help="decoding threads"),
        ),
    ),
    Step(
        "train",
        cmd_train,
        "train a method on the manifest's `train` images (resumes its run if one exists)",
        (
            METHOD,
            MANIFEST,
            CACHE,
            arg("--out-dir", required=True, help="folder for checkpoint.pt and train_log.csv"),
            arg("--runs-dir", help="folder of the runs, one per training digest (default OUT_DIR/runs)"),
            NO_PROGRESS,
        ),
    ),
    Step(
        "prune",
        cmd_prune,
        "list the training run folders (results/<experiment>/<dataset>/runs/<digest>/) that no method of the "
        "config uses, with their sizes; --yes deletes them (and nothing else)",
        (arg("--yes", action="store_true", help="delete them (default: only list what would be deleted)"),),
    ),
    Step(
        "describe",
        cmd_describe,
        "compute L2-normalised descriptors of the reference and query images (or read another tool's)",
        (
            METHOD,
            MANIFEST,
            arg(
                "--cache",
                help="image cache .npy (from acmnet cache); without it (or above evaluate.cache_images_max images) "
                "the images are decoded from the dataset's files",
            ),
            arg("--dataset", help="dataset name (its image files, when there is no cache; `external` methods' files)"),
            arg("--checkpoint", help="checkpoint of a trained method"),
            arg("--out", required=True, help="folder of the descriptor parts (part-<s>-of-<K>.json and .npy files)"),
            arg("--shard", type=int, default=0, help="the part to describe, 0 .. shards - 1 (default 0)"),
            arg("--shards", type=int, default=1, help="parts the set is split into (evaluate.describe_shards)"),
            arg("--workers", type=int, help="processes decoding image files (default: every core of this job)"),
            NO_PROGRESS,
        ),
    ),
    Step(
        "export",
        cmd_export,
        "release a trained ACM-Net as a Hugging Face model folder: model.safetensors, config.json, model card",
        (
            arg("--checkpoint", required=True, help="checkpoint.pt of a `kind: acmnet` row (from acmnet train)"),
            arg("--out", required=True, help="folder to write"),
            arg("--report", help="the run's results folder (results/<experiment>): its R@N go into the card"),
            arg(
                "--descriptor",
                default="projector",
                choices=["projector", "encoder"],
                help="the descriptor the hub module gives: projector (the paper's, default) or encoder",
            ),
        ),
        config="none",
    ),
    Step(
        "retrieve",
        cmd_retrieve,
        "exact inner-product top-K search of every query (faiss)",
        (
            METHOD,
            arg(
                "--descriptors",
                required=True,
                nargs="+",
                help="every descriptor part of the method (from acmnet describe: their .json records), or their folder",
            ),
            arg("--out", required=True, help="retrieval .npz to write"),
        ),
    ),
    Step(
        "import-ranking",
        cmd_import_ranking,
        "read a re-ranked list (hloc pairs file or .npz of indices) of a `kind: reranked` method as its retrieval",
        (
            DATASET,
            METHOD,
            MANIFEST,
            arg(
                "--first-stage",
                help="the first stage's retrieval .npz: every listed reference must be among its retrieved ones "
                "(it is recorded by content, and re-checked on every load)",
            ),
            arg("--out", required=True, help="retrieval .npz to write"),
        ),
    ),
    Step(
        "export-pairs",
        cmd_export_pairs,
        "write a method's top N per query (evaluate.export_pairs) as hloc's pairs_from_retrieval pairs file",
        (METHOD, MANIFEST, RETRIEVAL, arg("--out", required=True, help="pairs .txt to write")),
    ),
    Step(
        "export-msls",
        cmd_export_msls,
        "write a method's top K database keys per MSLS-test query (evaluate.export_msls): the challenge file",
        (METHOD, MANIFEST, RETRIEVAL, arg("--out", required=True, help="submission .txt to write")),
    ),
    Step(
        "check-invariance",
        cmd_check_invariance,
        "describe a sample of each set in two batch sizes and two orders: the largest descriptor change and the "
        "top-1 changes per set (a describer that mixes images across its batch is flagged)",
        (
            DATASET,
            METHOD,
            MANIFEST,
            arg("--cache", help="image cache .npy (from acmnet cache); without it the dataset's files are decoded"),
            arg("--checkpoint", help="checkpoint of a trained method"),
            arg("--out", required=True, help="batch-invariance CSV to write"),
        ),
    ),
    Step(
        "score",
        cmd_score,
        "recall@N per query set against each query's positives (the dataset's ground truth)",
        (
            DATASET,
            METHOD,
            MANIFEST,
            POSITIVES,
            RETRIEVAL,
            arg(
                "--descriptors",
                nargs="+",
                help="descriptor parts or their folder (needed when evaluate.sequence_lengths is set)",
            ),
            arg("--out", required=True, help="metrics CSV to write"),
            arg("--curve-out", required=True, help="recall@N curve CSV (N = 1..top_k) to write"),
            arg("--ranks-out", help="every query's first-hit rank (CSV), for paired tests between methods"),
        ),
    ),
    Step(
        "localize",
        cmd_localize,
        "RobotCar: top-1 reference pose -> submission file and local pose accuracy",
        (
            METHOD,
            MANIFEST,
            RETRIEVAL,
            arg("--submission", required=True, help="visuallocalization.net submission file to write"),
            arg("--out", required=True, help="per-condition pose accuracy CSV of the train-split queries"),
        ),
    ),
    Step(
        "report",
        cmd_report,
        "merge metrics, summarise them (intervals, seeds, tests), write the tables, figures and resolved config",
        (
            arg("--metrics", required=True, nargs="+"),
            arg("--curves", required=True, nargs="+"),
            arg("--ranks", required=True, nargs="+", help="per-query first-hit ranks of every run (score --ranks-out)"),
            arg("--out-metrics", required=True, help="every run's rows (CSV)"),
            arg("--out-summary", required=True, help="one row per method: seeds merged, intervals, tests (CSV)"),
            arg("--out-markdown", required=True, help="the summary as a Markdown table"),
            arg("--out-table", required=True, help="the summary as a LaTeX table"),
            arg("--figures", required=True, nargs="+", help="recall-curve figure(s); the suffix picks the format"),
            arg("--seed-figures", required=True, nargs="+", help="figure(s) of R@1 over training seeds"),
            arg("--out-config", help="write the resolved config of the run here"),
            arg("--out-reproduction", help="the verdict beside every published number with a counterpart (Markdown)"),
            arg("--out-reproduction-csv", help="the same as CSV (acmnet.report.reproduction)"),
            arg("--invariance", nargs="*", default=[], help="batch-invariance files (check-invariance), per row"),
            arg("--train-logs", nargs="*", help="every trained run's train_log.csv (collapse warnings)"),
        ),
    ),
    Step(
        "pr-curves",
        cmd_pr_curves,
        "precision-recall curves of every single-image row's top-1 matches (vprbench and tutorial conventions)",
        (
            arg(
                "--ranks", required=True, nargs="+", help="every run's ranks file (score --ranks-out, with top1_score)"
            ),
            FIGURES,
        ),
    ),
    Step(
        "tolerance-curve",
        cmd_tolerance_curve,
        "R@1 of every row as the place window or distance grows, from the retrievals on disk",
        (
            arg("--datasets", required=True, nargs="*", help="datasets whose ground truth has a tolerance"),
            arg("--manifests", required=True, nargs="*", help="their manifests, one per dataset, in that order"),
            arg("--retrievals", required=True, nargs="*", help="every method's retrieval of those datasets"),
            arg("--out", required=True, help="recall_vs_tolerance.csv to write"),
            arg("--figures", required=True, nargs="+", help="figure file(s); the suffix picks the format"),
        ),
    ),
    Step(
        "check-convention",
        cmd_check_convention,
        "RobotCar: which reading (camera-to-world or world-to-camera) robotcar_v2_train.txt's matrices have",
        (
            arg("--nvm", required=True, help="3D-models/all-merged/all.nvm of RobotCar Seasons v2"),
            arg("--train", required=True, help="robotcar_v2_train.txt"),
            arg("--camera", default="rear", help="reference camera to compare with (default rear; '' for all)"),
        ),
        config="none",
    ),
    Step(
        "tables",
        cmd_tables,
        "the paper's Tables 2-4 in LaTeX: published rows, and ours from metrics files",
        (
            arg("--out", required=True, help="folder for table2.tex, table3.tex, table4.tex"),
            arg("--metrics", nargs="*", help="metrics CSV files (none: the published rows alone)"),
            arg("--robotcar-scores", nargs="*", help="RobotCar pose-accuracy CSVs, from `acmnet localize`"),
        ),
        config="optional",
    ),
    Step(
        "gradcam",
        cmd_gradcam,
        "Grad-CAM of queries and their top-1 references w.r.t. their descriptor similarity",
        (DATASET, METHOD, MANIFEST, IMAGES, RETRIEVAL, POSITIVES, arg("--checkpoint", required=True), FIGURES),
    ),
    Step(
        "figure-retrievals",
        cmd_figure_retrievals,
        "grid of queries with their top retrievals, marked right or wrong",
        (DATASET, METHOD, MANIFEST, IMAGES, RETRIEVAL, POSITIVES, FIGURES),
    ),
)


def _add_config_args(parser: argparse.ArgumentParser, required: bool) -> None:
    parser.add_argument(
        "--config",
        nargs="+",
        metavar="FILE",
        help="config YAML file(s); later ones override earlier ones" + ("" if required else " (optional)"),
    )
    parser.add_argument("--config-json", help="the whole config as JSON (how the Snakefile passes it)")
    parser.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override one value, KEY dotted for nested keys (e.g. --set train.epochs=5)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="acmnet", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="STEP")
    for step in STEPS:
        p = sub.add_parser(step.name, help=step.help, description=step.help)
        if step.config != "none":
            _add_config_args(p, step.config == "required")
        for flags, kwargs in step.args:
            p.add_argument(*flags, **kwargs)
        p.set_defaults(func=step.run)
    return parser


class Stopped(BaseException):
    """SIGTERM arrived; raised in the main thread so every `finally` (temporary files) runs."""


def _stop(signum: int, frame: object) -> None:
    raise Stopped(signum)


def _user_errors() -> tuple[type[BaseException], ...]:
    """Errors a user can fix, reported in one line; anything else keeps its traceback."""
    from acmnet.data.download import DownloadError, ExtractError, ManualDownloadRequired
    from acmnet.train import TrainingError

    return (ValueError, OSError, TrainingError, DownloadError, ExtractError, ManualDownloadRequired)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        args.func(args)
    except (Stopped, KeyboardInterrupt) as exc:
        code = 143 if isinstance(exc, Stopped) else 130
        print(f"acmnet {args.command}: stopped by a signal; no partial output was kept", file=sys.stderr)
        return code
    except _user_errors() as exc:
        if os.environ.get("ACMNET_DEBUG"):
            raise
        from acmnet.train import Preempted

        print(f"acmnet {args.command}: error: {exc}", file=sys.stderr)
        return 143 if isinstance(exc, Preempted) else 2
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


if __name__ == "__main__":
    sys.exit(main())
