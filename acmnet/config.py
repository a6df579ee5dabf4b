"""The suite's configuration: one typed, validated tree, loaded from YAML.

Every choice the paper leaves open is a named field here with its default (config/README.md
lists them). The same `Config` is read by the Snakefile (to plan the DAG) and by every `acmnet` command (to do
the work), so the two can never disagree. Everything is checked when the config is loaded:
unknown keys (named with the closest valid key), types, ranges (named with the valid range),
the options of every dataset type and method kind (by their registries), and values that
depend on each other.

`STEP_SETTINGS` says which settings each pipeline step reads; `Config.settings(step, ...)` gives
them, and their digest is both Snakemake's rerun trigger for that step and the provenance that
the step's output records (`acmnet.artifacts`).
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import math
import re
import reprlib
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml


class ConfigError(ValueError):
    """A configuration value or key is invalid; the message names it and says what to do."""


def bounded(
    default: Any = dataclasses.MISSING,
    *,
    lo: float | None = None,
    hi: float | None = None,
    above: float | None = None,
    factory: Any = dataclasses.MISSING,
) -> Any:
    """A dataclass field whose value (or each element of a list/tuple value) must lie in a range:
    `lo <= v <= hi`, and `v > above`; checked by `build_dataclass`."""
    meta = {"lo": lo, "hi": hi, "above": above}
    if factory is not dataclasses.MISSING:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


# ---- sections ------------------------------------------------------------------------------


@dataclass
class ModelConfig:
    """Encoder E, projector P_A and rotation head P_G (the paper's section 3; config/README.md, model)."""

    backbone: str = "resnet50.a1_in1k"  # any timm model name; a tag names the weights (timm resolves resnet50 to it)
    pretrained: bool = True  # ImageNet weights for the backbone
    weights: str | None = None  # local weights file, or a packaged name; else timm's hub download
    # P_A, "a 1-layer perceptron with batch norm and ReLU" to 1024-d. Two readings: `2` (default,
    # config/README.md): Linear(D, hidden) -> BN -> ReLU -> Linear(hidden, dim); `1`: Linear(D, dim) -> BN -> ReLU.
    projector_layers: Literal[1, 2] = 2
    projector_hidden: int = bounded(2048, lo=1)  # P_A hidden width (not printed; with projector_layers 2)
    projector_dim: int = bounded(1024, lo=1)  # descriptor size (paper: 1024)
    # P_G, "a 1-layer perceptron with layer norm and ReLU", 4 classes. Two readings: `2` (default,
    # config/README.md): Linear(D, hidden) -> LN -> ReLU -> Linear(hidden, 4); `1`: Linear(D, 4) -> LN -> ReLU.
    rotation_layers: Literal[1, 2] = 2
    rotation_hidden: int = bounded(512, lo=1)  # P_G hidden width (not printed; with rotation_layers 2)


@dataclass
class PlanckianJitterConfig:
    p: float = bounded(0.8, lo=0.0, hi=1.0)
    mode: Literal["blackbody", "CIED"] = "blackbody"


@dataclass
class ColorJiggleConfig:
    p: float = bounded(0.5, lo=0.0, hi=1.0)
    brightness: float = bounded(0.4, lo=0.0, hi=1.0)
    contrast: float = bounded(0.4, lo=0.0, hi=1.0)
    saturation: float = bounded(0.4, lo=0.0, hi=1.0)
    hue: float = bounded(0.1, lo=0.0, hi=0.5)


@dataclass
class PlasmaBrightnessConfig:
    p: float = bounded(0.5, lo=0.0, hi=1.0)
    roughness: tuple[float, float] = bounded((0.1, 0.7), lo=0.0, hi=1.0)
    intensity: tuple[float, float] = bounded((0.0, 1.0), lo=0.0, hi=1.0)


@dataclass
class PlasmaContrastConfig:
    p: float = bounded(0.3, lo=0.0, hi=1.0)
    roughness: tuple[float, float] = bounded((0.1, 0.7), lo=0.0, hi=1.0)


@dataclass
class ProbabilityConfig:
    p: float = bounded(0.5, lo=0.0, hi=1.0)


@dataclass
class BoxBlurConfig:
    p: float = bounded(0.5, lo=0.0, hi=1.0)
    kernel_size: tuple[int, int] = bounded((3, 3), lo=1)


@dataclass
class MotionBlurConfig:
    p: float = bounded(0.3, lo=0.0, hi=1.0)
    kernel_size: int = bounded(3, lo=3)
    angle: float = bounded(35.0, lo=0.0, hi=180.0)
    direction: float = bounded(0.5, lo=-1.0, hi=1.0)


@dataclass
class SolarizeConfig:
    p: float = bounded(0.5, lo=0.0, hi=1.0)
    thresholds: float = bounded(0.1, lo=0.0, hi=0.5)
    additions: float = bounded(0.1, lo=0.0, hi=0.5)


@dataclass
class AugmentConfig:
    """Table 1 of the paper, in its order; probabilities as printed, magnitudes our defaults."""

    planckian_jitter: PlanckianJitterConfig = field(default_factory=PlanckianJitterConfig)
    color_jiggle: ColorJiggleConfig = field(default_factory=ColorJiggleConfig)
    plasma_brightness: PlasmaBrightnessConfig = field(default_factory=PlasmaBrightnessConfig)
    plasma_contrast: PlasmaContrastConfig = field(default_factory=PlasmaContrastConfig)
    grayscale: ProbabilityConfig = field(default_factory=lambda: ProbabilityConfig(p=0.3))
    box_blur: BoxBlurConfig = field(default_factory=BoxBlurConfig)
    channel_shuffle: ProbabilityConfig = field(default_factory=lambda: ProbabilityConfig(p=0.5))
    motion_blur: MotionBlurConfig = field(default_factory=MotionBlurConfig)
    solarize: SolarizeConfig = field(default_factory=SolarizeConfig)


@dataclass
class TrainConfig:
    """Self-supervised training (section 3.4 and 4.3 of the paper)."""

    epochs: int = bounded(1000, lo=1)
    batch_size: int = bounded(64, lo=1)  # N originals per step; 5N images go through the encoder
    lr: float = bounded(0.003, above=0.0)
    weight_decay: float = bounded(0.0, lo=0.0)  # not mentioned in the paper
    schedule: Literal["none", "cosine"] = "none"  # not mentioned in the paper
    tau: float = bounded(0.01, above=0.0)
    contrastive: Literal["ntxent", "eq10"] = "ntxent"
    contrastive_weight: float = bounded(1.0, lo=0.0)  # 0 gives the rotation-only ablation
    rotation_weight: float = bounded(1.0, lo=0.0)  # lambda of eq. 12; 0 gives the contrastive-only ablation
    rotation_reduction: Literal["mean", "sum"] = "mean"
    rotation_views: Literal["all", "one"] = "all"  # all four rotations, or one random per image
    # One encoder pass over all 5N views (`joint`, batch-norm statistics over the joint batch), or one
    # pass for the 2N contrastive views and one for the 4N rotation views (`separate`, statistics not mixed).
    encoder_passes: Literal["joint", "separate"] = "joint"
    # Encoder batch-norm statistics during training (not mentioned in the paper): `update` is
    # plain PyTorch training; `frozen` keeps the pretrained running mean/var (affine still learnt),
    # so the statistics of augmented and rotated views do not leak into test-time descriptors.
    encoder_bn: Literal["update", "frozen"] = "update"
    # Several processes (torchrun): batch-norm statistics over every rank's slice, as one process on
    # the whole batch would have them (`all`), for the projector only, or per rank (`off`).
    sync_batchnorm: Literal["all", "projector", "off"] = "all"
    # Processes per training job on the CPU (gloo, started by torchrun from the workflow); with
    # resources.train_gpu G > 1 the job starts G processes, one per GPU, and this stays 1 (or G).
    processes: int = bounded(1, lo=1)
    amp: Literal["auto", "bf16", "off"] = "auto"  # auto: bf16 on CUDA, off on CPU
    channels_last: Literal["on", "off"] = "on"  # NHWC memory format (faster on CUDA and, measured, CPU)
    compile: bool = False
    checkpoint_every: int = bounded(1, lo=1)  # epochs
    checkpoint_every_steps: int = bounded(0, lo=0)  # also checkpoint inside an epoch every this many steps; 0: off
    log_every: int = bounded(50, lo=0)  # steps between rows of train_steps.csv (and TensorBoard); 0: off
    # Batches (section 3.4 speaks of "N different places"): a plain permutation of the training images
    # (`permutation`), or the paper's reading (`places`): no two images of a batch within `place_window`
    # places of each other on one stretch of the route (acmnet/train/sampler.py; datasets with a route).
    sampler: Literal["permutation", "places"] = "permutation"
    place_window: int = bounded(2, lo=0)  # +/- places that never share a batch, with sampler `places`
    # Watching a run (acmnet/train/monitor.py): an epoch whose mean collapse measure (std of the L2-normalised
    # projector outputs times sqrt(d): ~1 healthy, 0 collapsed) is below this is flagged in the log and the report.
    collapse_threshold: float = bounded(0.1, lo=0.0, hi=1.0)
    # Every this many epochs, R@1 of a validation slice of the training dataset's `train` images (never a
    # reported query set): queries of condition `validate_queries` (at most `validate_max_queries`, evenly
    # spaced) against the references of condition `validate_references`, correct within +/- `validate_tolerance`
    # places (acmnet/train/validate.py). 0: off.
    validate_every: int = bounded(0, lo=0)
    validate_queries: str | None = None
    validate_references: str | None = None
    validate_max_queries: int = bounded(200, lo=1)
    validate_tolerance: int = bounded(2, lo=0)

    def check(self, where: str) -> None:
        if self.validate_every and not (self.validate_queries and self.validate_references):
            raise ConfigError(
                f"{where}.validate_every is {self.validate_every}, but validate_queries and validate_references do "
                "not both name a condition of the training dataset's `train` images: name both (e.g. winter and "
                "summer on partitioned Nordland), or set validate_every: 0"
            )
        if self.validate_every and self.validate_queries == self.validate_references:
            raise ConfigError(
                f"{where}.validate_queries and validate_references are both `{self.validate_queries}`: each image "
                "would find itself; name two conditions"
            )
        if self.contrastive_weight == 0 and self.rotation_weight == 0:
            raise ConfigError(
                f"{where}: contrastive_weight and rotation_weight are both 0, so nothing would be "
                "learnt; set at least one above 0"
            )
        if self.contrastive_weight > 0 and self.batch_size < 2:
            raise ConfigError(
                f"{where}.batch_size must be at least 2 when contrastive_weight > 0 (the contrastive "
                f"loss needs other images as negatives), got {self.batch_size}"
            )


# Training settings that may change between a run and its resumption (how often it logs and saves).
TRAIN_CADENCE = (
    "log_every",
    "checkpoint_every",
    "checkpoint_every_steps",
    "collapse_threshold",
    "validate_every",
    "validate_queries",
    "validate_references",
    "validate_max_queries",
    "validate_tolerance",
)
# Training settings added after runs existed: left out of a run's identity (its digest) while they
# have these values, so those runs keep their folders; `place_window` only counts with `places`.
TRAIN_LATER = {"sampler": "permutation", "processes": 1}


def train_identity(trained: dict[str, Any]) -> dict[str, Any]:
    """The training settings that name a run: `trained` without the cadence (`TRAIN_CADENCE`) and
    without the later keys at their old behaviour (`TRAIN_LATER`)."""
    out = {k: v for k, v in trained.items() if k not in TRAIN_CADENCE}
    for key, old in TRAIN_LATER.items():
        if out.get(key) == old:
            out.pop(key)
            if key == "sampler":
                out.pop("place_window", None)
    return out


def parse_target(text: str) -> float | None:
    """The precision a target asks for (`precision 0.99` -> 0.99), None for `F1`; ValueError otherwise."""
    words = str(text).split()
    if words == ["F1"]:
        return None
    if len(words) == 2 and words[0] == "precision":
        try:
            value = float(words[1])
        except ValueError:
            value = math.nan
        if 0.0 < value <= 1.0:
            return value
    raise ValueError(f"target {text!r}: write `precision P` with 0 < P <= 1 (e.g. `precision 0.99`) or `F1`")


@dataclass
class OperatingPointConfig:
    """A top-1 score threshold chosen on one query set or dataset and reported on every other
    (acmnet/evaluate/operating_point.py)."""

    # `dataset/queries` (one query set) or a dataset (its query sets pooled); None: no operating point
    calibrate_on: str | None = None
    target: str = "precision 0.99"  # `precision P` (0 < P <= 1: the largest recall at that precision) or `F1`

    def check(self, where: str) -> None:
        try:
            parse_target(self.target)
        except ValueError as exc:
            raise ConfigError(f"{where}.{exc}") from None
        if self.calibrate_on is not None and not self.calibrate_on.strip():
            raise ConfigError(f"{where}.calibrate_on is empty: name a query set (dataset/queries) or a dataset")


@dataclass
class EvaluateConfig:
    top_k: int = bounded(25, lo=1)  # retrievals kept per query (recall curves go up to this N)
    recall_at: list[int] = bounded(factory=lambda: [1, 5, 10], lo=1)
    batch_size: int = bounded(64, lo=1)  # images per forward pass when describing
    # `acmnet retrieve`'s memory bound (MiB) for the exact search beside the descriptors: the reference set is
    # searched in chunks sized to fit it (acmnet/evaluate/retrieval.py, `chunk_rows`)
    retrieval_memory_mb: int = bounded(2048, lo=64)
    # Describe jobs per (dataset, method) that describes images: job s of K describes the s-th contiguous slice of
    # the reference rows and of the query rows into its own part (descriptors/part-<s>-of-<K>.*); retrieval reads
    # the parts as they are, memory-mapped (docs/performance.md, "Large databases"). Results do not depend on it.
    describe_shards: int = bounded(1, lo=1)
    # Datasets with more distinct images than this are described straight from their image files (a multi-worker
    # loader, the cache's own decoding), as are datasets no trained method trains on; below it, a dataset that
    # training caches anyway is described from that cache. 100,000 images: every dataset of the paper (at
    # most about 31,500, a 4.7 GB cache at 224x224) stays cached; a 15 GB cache (at 224x224) and its full hash on
    # each of K shard jobs' loads is where reading the files in parallel jobs costs less (Pittsburgh 250k, SF-XL).
    cache_images_max: int = bounded(100_000, lo=0)
    # Beyond the paper: SeqSLAM-style sequence matching over each method's similarities, one
    # extra row `<method>+seq<L>` per length L (queries in their own frame order, see sequence.py).
    sequence_lengths: list[int] = bounded(factory=list, lo=1)
    sequence_velocities: list[float] = bounded(factory=lambda: [0.8, 1.0, 1.25], above=0.0)
    # Uncertainty (beyond the paper): a percentile bootstrap interval over queries (and training seeds)
    # for every R@N, and a paired bootstrap test of each method against the best on the same query
    # resamples (acmnet/evaluate/statistics.py).
    # At most 1,000,000: the resampled statistics are (resamples, methods) float64 arrays, and p-values
    # finer than 1e-6 say nothing more.
    bootstrap_resamples: int = bounded(1000, lo=100, hi=1_000_000)
    bootstrap_seed: int = bounded(0, lo=0)  # numpy's SeedSequence takes non-negative integers
    # Queries per block of the moving-block bootstrap on datasets with a route order (consecutive
    # frames fail in stretches): None = chosen from the data (Politis & White), 1 = iid, a number =
    # that many queries (at most the query set). Datasets without a route order are resampled iid.
    bootstrap_block: int | None = bounded(None, lo=1)
    confidence: float = bounded(0.95, above=0.5, hi=0.999)
    # Two-stage pipelines: write each (dataset, method)'s top N per query as the pairs file hloc's
    # pairs_from_retrieval writes (<dataset>/<method>/pairs.txt), for a re-ranker; 0: none (at most top_k).
    export_pairs: int = bounded(0, lo=0)
    # The MSLS challenge file of every `msls_test` dataset: each method's top K database keys per query, as
    # SALAD's save_predictions writes it (<dataset>/<method>/msls_predictions.txt); None: top_k (SALAD: 25).
    export_msls: int | None = bounded(None, lo=1)
    # Beyond the paper: precision-recall from each query's top-1 match (AUC-PR, EP, R@100P under the `vprbench`
    # and `tutorial` conventions, acmnet/evaluate/precision.py) in metrics.csv and the summary (AUC-PR with its
    # bootstrap interval), and figures/<experiment>/pr_curves.*.
    pr: bool = True
    # Beyond the paper: recall_vs_tolerance.csv and its figure, R@1 of every row as the place window (0..10 of
    # the dataset's unit) or the distance (5..100 m) grows, from the retrievals on disk (acmnet/evaluate/tolerance.py).
    tolerance_curve: bool = True
    # Beyond the paper: a top-1 score threshold fixed on other data (evaluate/operating_point.py), its
    # precision, recall and F1 on every other query set in summary.csv and summary.md.
    operating_point: OperatingPointConfig = field(default_factory=OperatingPointConfig)
    # Beyond the paper: describe a sample of each set in two batch sizes and two orders and report the largest
    # descriptor change and the top-1 changes per row (acmnet check-invariance, acmnet/evaluate/invariance.py).
    check_invariance: bool = False
    invariance_sample: int = bounded(64, lo=2)  # images of each set described (evenly spaced)
    invariance_tolerance: float = bounded(1e-4, above=0.0)  # largest L2 change of a descriptor still invariant

    def check(self, where: str) -> None:
        if not self.recall_at:
            raise ConfigError(f"{where}.recall_at is empty: name at least one N (the paper: [1, 5, 10])")
        if max(self.recall_at) > self.top_k:
            raise ConfigError(
                f"{where}.recall_at {self.recall_at} asks for N up to {max(self.recall_at)}, but only "
                f"top_k = {self.top_k} retrievals are kept: raise {where}.top_k to at least "
                f"{max(self.recall_at)}"
            )
        if self.export_msls is not None and self.export_msls > self.top_k:
            raise ConfigError(
                f"{where}.export_msls = {self.export_msls} asks for more keys per query than the top_k = "
                f"{self.top_k} retrievals kept: raise {where}.top_k to at least {self.export_msls}"
            )
        if self.export_pairs > self.top_k:
            raise ConfigError(
                f"{where}.export_pairs = {self.export_pairs} asks for more pairs per query than the top_k = "
                f"{self.top_k} retrievals kept: raise {where}.top_k to at least {self.export_pairs}"
            )

    def msls_keys(self) -> int:
        """K of the MSLS challenge file: `export_msls`, or `top_k` when unset."""
        return self.top_k if self.export_msls is None else self.export_msls


@dataclass
class MethodConfig:
    """A row of the results: its `kind` (a module of `acmnet.methods`) and that kind's options."""

    kind: str
    options: Any = None
    seed: int | None = None  # this row's training seed (rows `<name>@s<seed>` made from `seeds`); None: `seed`


SEED_MARK = "@s"


def split_seed(name: str) -> tuple[str, int | None]:
    """`acmnet@s2` -> ("acmnet", 2); a name without a seed mark -> (name, None). A `+seq<L>` suffix stays."""
    base, mark, rest = name.partition(SEED_MARK)
    if not mark:
        return name, None
    digits, _, suffix = rest.partition("+")
    return base + ("+" + suffix if suffix else ""), int(digits)


@dataclass
class DatasetConfig:
    """One dataset: its type (a module of `acmnet.data.datasets`), where it lives, its tolerance
    window and that type's options."""

    type: str
    root: str
    tolerance: int = bounded(2, lo=0)  # +/- places counted as correct (paper: 2)
    options: Any = None


@dataclass
class ResourcesConfig:
    """Snakemake `resources:` of the heavy rules; the Slurm profile turns them into sbatch requests."""

    train_gpu: int = bounded(1, lo=0)
    train_mem_mb: int = bounded(32000, lo=1)
    train_runtime: int = bounded(4320, lo=1)  # minutes
    train_cpus: int = bounded(8, lo=1)  # CPUs per training job on a cluster (locally: every core given)
    describe_gpu: int = bounded(1, lo=0)
    describe_mem_mb: int = bounded(16000, lo=1)  # per describe job: one part (evaluate.describe_shards)
    describe_runtime: int = bounded(240, lo=1)  # minutes, per describe job
    describe_cpus: int = bounded(8, lo=1)  # CPUs per describe (and image cache) job on a cluster


@dataclass
class ReportConfig:
    """Published numbers our rows are compared with (`reproduction.md`; acmnet/report/reproduction.py)."""

    # Further published-results files (baselines/published.yaml's schema) beside the paper's own file.
    published: list[str] = field(default_factory=list)
    # Dataset -> the published tables its rows are compared with; a dataset not named: its type's paper table.
    published_tables: dict[str, list[str]] = field(default_factory=dict)
    # Our row -> the published method it reproduces; a row not named: the paper's own row for a trained
    # ACM-Net row, else a published method of the same name.
    published_rows: dict[str, str] = field(default_factory=dict)


_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?|mps")
# Experiment, dataset and method names: safe as a folder, a Snakemake wildcard and a shell word.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def check_name(name: Any, where: str) -> str:
    """`name` as a string, or ConfigError naming `where` when it does not match `NAME`."""
    if not NAME.fullmatch(str(name)):
        raise ConfigError(
            f"{where}: the name {str(name)!r} is not safe as a folder, a Snakemake wildcard and a shell word: "
            f"rename it to match {NAME.pattern} (a letter or digit, then letters, digits, '_', '.' or '-')"
        )
    return str(name)


def check_path(path: str, where: str) -> str:
    """`path` when every tool of the pipeline can take it as written (any character but the ones
    below; rules quote every path they hand a shell), else ConfigError naming `where`: control
    characters (a newline ends a command, logs and listings break), `{` and `}` (Snakemake reads
    them as wildcards in a file pattern) and a leading `-` (a command line reads it as an option)."""
    bad = sorted({c for c in path if ord(c) < 32 or ord(c) == 127 or c in "{}"})
    if not path:
        raise ConfigError(f"{where} is empty: name a folder")
    if bad:
        raise ConfigError(
            f"{where} = {shown(path)} holds {', '.join(map(repr, bad))}: a path may hold spaces, quotes and any "
            "other character, but no control characters and no { or } (Snakemake's wildcards); rename the folder"
        )
    if path.startswith("-"):
        raise ConfigError(f"{where} = {shown(path)} starts with '-', which a command reads as an option: write ./-...")
    return path


@dataclass
class Config:
    experiment: str = "paper"
    seed: int = 0
    # Several training seeds: every trained method is run once per seed, as rows `<name>@s<seed>`;
    # tables give the mean and standard deviation over seeds. Empty: one run with `seed`.
    seeds: list[int] = field(default_factory=list)
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    image_size: tuple[int, int] = bounded((224, 224), lo=1)  # (height, width); resize, no crop
    results_dir: str = "results"
    figures_dir: str = "figures"
    model: ModelConfig = field(default_factory=ModelConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    methods: dict[str, MethodConfig] = field(default_factory=dict)
    datasets: dict[str, DatasetConfig] = field(default_factory=dict)
    resources: ResourcesConfig = field(default_factory=ResourcesConfig)
    report: ReportConfig = field(default_factory=ReportConfig)

    def check(self, where: str) -> None:
        check_path(self.results_dir, "results_dir")
        check_path(self.figures_dir, "figures_dir")
        if not _DEVICE.fullmatch(self.device):
            raise ConfigError(f"device must be auto, cpu, cuda, cuda:N or mps; got {self.device!r}")
        if not NAME.fullmatch(self.experiment):
            raise ConfigError(
                f"experiment {self.experiment!r} names a folder under {self.results_dir}: use a name matching "
                f"{NAME.pattern} (a letter or digit, then letters, digits, '_', '.' or '-')"
            )
        for place, seed in [("seed", self.seed), *((f"seeds[{i}]", s) for i, s in enumerate(self.seeds))]:
            if not 0 <= seed < 2**63:
                raise ConfigError(
                    f"{place} must lie in 0 <= seed < 2**63 (what the random generators take), got {seed}"
                )

    # ---- derived ---------------------------------------------------------------------------
    @property
    def experiment_dir(self) -> Path:
        return Path(self.results_dir) / self.experiment

    def dataset(self, name: str) -> DatasetConfig:
        if name not in self.datasets:
            raise ConfigError(unknown_key("datasets", name, list(self.datasets)))
        return self.datasets[name]

    def method(self, name: str) -> MethodConfig:
        if name not in self.methods:
            raise ConfigError(unknown_key("methods", name, list(self.methods)))
        return self.methods[name]

    def seed_for(self, method: str) -> int:
        """The training seed of a method's row."""
        seed = self.method(method).seed
        return self.seed if seed is None else seed

    def train_for(self, method: str) -> TrainConfig:
        """The training settings of a trained method: `train` with the method's `train:` overrides."""
        return self._section_for(method, "train")

    def model_for(self, method: str) -> ModelConfig:
        """The model of a method: `model` with the method's `model:` overrides (trained kinds)."""
        return self._section_for(method, "model")

    def _section_for(self, method: str, section: str) -> Any:
        """Top-level `section` with the method's overrides of it laid over (typed values, parsed and
        checked once when the config was loaded: `config_loader.OVERRIDABLE_SECTIONS`)."""
        overrides = getattr(self.method(method).options, section, None) or {}
        return dataclasses.replace(getattr(self, section), **overrides)

    def to_dict(self) -> dict[str, Any]:
        return _plain(dataclasses.asdict(self))

    def settings(self, step: str, dataset: str | None = None, method: str | None = None) -> dict[str, Any]:
        """The settings `step` reads (`STEP_SETTINGS`), for one dataset and method where it needs them."""
        if step not in STEP_SETTINGS:
            raise ConfigError(unknown_key("steps", step, list(STEP_SETTINGS)))
        view = {**self.to_dict()}
        if dataset is not None:
            view["dataset"] = view["datasets"][dataset]
        if method is not None:
            view["method"] = view["methods"][method]
            view["method"]["model"] = dataclasses.asdict(self.model_for(method))
            view["method"]["seed"] = self.seed_for(method)
            if hasattr(self.methods[method].options, "train"):
                trained = dataclasses.asdict(self.train_for(method))
                view["method"]["options"]["train"] = train_identity(trained)
        return {path: _lookup(view, path) for path in STEP_SETTINGS[step]}

    def settings_digest(self, step: str, dataset: str | None = None, method: str | None = None) -> str:
        """Digest of `settings(step, ...)`: Snakemake's rerun trigger and the outputs' provenance."""
        return digest_of(self.settings(step, dataset, method))


# Which settings each step of the pipeline reads ("dataset" and "method" are the step's dataset
# and method, methods with their resolved training settings). Logging cadence, device, batch
# sizes of inference and search chunks change no result and are left out.
STEP_SETTINGS: dict[str, tuple[str, ...]] = {
    "synthesize": ("dataset.type", "dataset.options"),
    "prepare": ("dataset.type", "dataset.root", "dataset.options"),
    "cache": ("image_size",),
    "train": ("method.seed", "image_size", "augment", "method.kind", "method.model", "method.options.train"),
    "describe": ("image_size", "method"),
    "retrieve": ("evaluate.top_k",),
    "import_ranking": ("evaluate.top_k", "evaluate.recall_at"),
    "export_pairs": ("evaluate.export_pairs",),
    "export_msls": ("evaluate.export_msls", "evaluate.top_k"),
    "positives": (
        "dataset.type",
        "dataset.tolerance",
        "dataset.options.positive_distance",
        "dataset.options.positive_angle",
        "dataset.options.positive_frames",
    ),
    "score": (
        "evaluate.top_k",
        "evaluate.recall_at",
        "evaluate.sequence_lengths",
        "evaluate.sequence_velocities",
        "evaluate.bootstrap_resamples",
        "evaluate.bootstrap_seed",
        "evaluate.bootstrap_block",
        "evaluate.confidence",
        "evaluate.pr",
    ),
    "tolerance": ("datasets",),
    "localize": (),
    "report": ("experiment", "image_size", "model", "train", "evaluate", "methods", "datasets", "report"),
    "figure": (),
    "gradcam": (),
}


def _lookup(view: dict[str, Any], path: str) -> Any:
    value: Any = view
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def digest_of(data: Any) -> str:
    """Short stable digest (16 hex digits) of JSON-able data."""
    blob = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


# ---- loading ------------------------------------------------------------------------------

DATASET_COMMON_KEYS = ("type", "root", "tolerance")


class _DuplicateKeyError(yaml.YAMLError):
    """A YAML mapping names one key twice (PyYAML would silently keep the last value)."""


# Values a YAML document may hold once its aliases (`*name`) are expanded: far above any config,
# far below what a "billion laughs" document of a few lines expands to (repr'd, or walked, it would
# exhaust memory).
YAML_MAX_VALUES = 100_000


class _UniqueKeyLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` that refuses a key written twice in one mapping, naming both lines, and a
    document whose aliases expand to more than `YAML_MAX_VALUES` values (or into themselves)."""

    def compose_document(self) -> yaml.Node:
        node = super().compose_document()
        _check_expansion(node)
        return node

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        lines: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor` merges may repeat keys
                continue
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, typing.Hashable):  # the base constructor refuses it, naming it
                continue
            line = key_node.start_mark.line + 1
            if key in lines:
                raise _DuplicateKeyError(
                    f"key `{key}` is written twice in one mapping, on lines {lines[key]} and {line}"
                )
            lines[key] = line
        return super().construct_mapping(node, deep=deep)


class _AliasBomb(yaml.YAMLError):
    """A YAML document's aliases expand to more values than any config holds (or into themselves)."""


def _check_expansion(root: yaml.Node | None) -> None:
    """Raise `_AliasBomb` when `root`'s node graph, with every alias expanded, holds more than
    `YAML_MAX_VALUES` values or a cycle. Linear in the distinct nodes (each one's size is kept)."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: yaml.Node) -> int:
        if id(node) in sizes:
            return sizes[id(node)]
        if id(node) in open_nodes:
            raise _AliasBomb(f"an alias on line {node.start_mark.line + 1} refers to a value that holds it")
        open_nodes.add(id(node))
        children = node.value if isinstance(node, yaml.CollectionNode) else []
        total = 1
        for child in children:
            total += sum(size(n) for n in child) if isinstance(child, tuple) else size(child)
            if total > YAML_MAX_VALUES:
                raise _AliasBomb(
                    f"its aliases (`*name`) expand to more than {YAML_MAX_VALUES:,} values (the value from line "
                    f"{node.start_mark.line + 1}): write the values out, or use fewer nested aliases"
                )
        open_nodes.discard(id(node))
        sizes[id(node)] = total
        return total

    if root is not None:
        size(root)


def load_yaml_text(text: str) -> Any:
    """YAML text as data, with `read_yaml`'s checks (a key written twice, aliases past
    `YAML_MAX_VALUES`); raises `yaml.YAMLError`."""
    return yaml.load(text, Loader=_UniqueKeyLoader)


def read_yaml(path: Path) -> dict[str, Any]:
    """A YAML config file as a mapping (ConfigError naming the file when it is missing, not UTF-8,
    malformed, an alias bomb or a Snakemake template (`__use_yte__`), and the key and both lines
    when a mapping names a key twice)."""
    if path.is_dir():
        raise ConfigError(f"config file {path} is a directory: give the path of a YAML file")
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"config file {path} is not UTF-8 text (byte {exc.start} is {exc.object[exc.start : exc.start + 1]!r}): "
            "save it as UTF-8"
        ) from exc
    try:
        data = load_yaml_text(text) or {}
    except _DuplicateKeyError as exc:
        raise ConfigError(f"config file {path}: {exc}: keep one of them") from exc
    except _AliasBomb as exc:
        raise ConfigError(f"config file {path} is refused: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping at the top level")
    check_no_template(data, f"config file {path}")
    return data


TEMPLATE_KEY = "__use_yte__"


def check_no_template(data: dict[str, Any], where: str) -> None:
    """Refuse Snakemake's templating switch (`__use_yte__`): it makes Snakemake evaluate the file's
    Python expressions when it loads the file (docs/pipeline.md, "Security and reliability notes")."""
    if TEMPLATE_KEY in data:
        raise ConfigError(
            f"{where} sets `{TEMPLATE_KEY}`, Snakemake's templating, which runs the Python code written in the "
            f"file when Snakemake loads it: this suite takes plain YAML only; remove `{TEMPLATE_KEY}` and write "
            "the values out (and run only config files you trust: a Snakemake config file is code)"
        )


def shown(value: Any) -> str:
    """`repr(value)` cut to 2 levels, 4 elements per level and 60 characters per string (about 1,000
    characters at most): what an error message may quote of a value of any size."""
    cut = reprlib.Repr()
    cut.maxlevel, cut.maxstring, cut.maxother, cut.maxlong = 2, 60, 60, 40
    cut.maxtuple = cut.maxlist = cut.maxdict = cut.maxset = 4
    return cut.repr(value)


def closest_hint(key: str, valid: Iterable[str]) -> str:
    """' (did you mean `X`?)' for the valid key closest to `key`, or ''."""
    if not isinstance(key, (str, int, float)):  # a list or mapping (of any size) is no misspelt key
        return ""
    close = difflib.get_close_matches(str(key), [str(v) for v in valid], n=1)
    return f" (did you mean `{close[0]}`?)" if close else ""


def unknown_key(where: str, key: str, valid: list[str]) -> str:
    place = f"{where}.{key}" if where else key
    return f"unknown config key `{place}`{closest_hint(key, valid)}; valid keys here: {', '.join(sorted(valid))}"


def build_dataclass(cls: type, data: Any, where: str) -> Any:
    """Instantiate dataclass `cls` from a mapping, strictly: unknown keys, bad types and values out
    of a field's range (`bounded`) fail; then `check(where)` when the class defines it."""
    if not isinstance(data, dict):
        raise ConfigError(f"`{where or 'config'}` must be a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key not in fields:
            raise ConfigError(unknown_key(where, str(key), list(fields)))
        place = f"{where}.{key}" if where else str(key)
        kwargs[key] = _coerce(hints[key], value, place)
        _check_range(fields[key], kwargs[key], place)
    missing = [
        n
        for n, f in fields.items()
        if n not in kwargs and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"`{where}` is missing {', '.join(missing)}")
    instance = cls(**kwargs)
    if hasattr(instance, "check"):
        instance.check(where)
    return instance


def _check_range(spec: dataclasses.Field, value: Any, place: str) -> None:
    lo, hi, above = (spec.metadata.get(k) for k in ("lo", "hi", "above"))
    many = isinstance(value, (list, tuple))
    for v in value if many else [value]:
        if v is None or isinstance(v, (str, bool)):
            continue
        if (lo is not None and v < lo) or (hi is not None and v > hi) or (above is not None and v <= above):
            if lo is not None and hi is not None:
                valid = f"lie in [{lo:g}, {hi:g}]"
            elif lo is not None:
                valid = f"be at least {lo:g}"
            elif above is not None:
                valid = f"be > {above:g}" + (f" and <= {hi:g}" if hi is not None else "")
            else:
                valid = f"be at most {hi:g}"
            value_text = shown(list(value) if many else value)
            raise ConfigError(f"{place} must {valid}{' (every value)' if many else ''}, got {value_text}")


def _coerce(hint: Any, value: Any, place: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return build_dataclass(hint, value, place)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        return _coerce(next(a for a in args if a is not type(None)), value, place)
    if origin is Literal:
        if isinstance(value, bool) and ("on" if value else "off") in args:
            return "on" if value else "off"  # YAML 1.1 reads an unquoted on/off (yes/no) as true/false
        if isinstance(value, bool) and all(isinstance(a, str) for a in args):
            raise ConfigError(
                f"{place} must be one of {', '.join(map(str, args))}; got {value}: YAML reads an unquoted "
                f"on/off/yes/no/true/false as true or false, so quote the value (e.g. {place.rsplit('.', 1)[-1]}: "
                f"'{args[0]}')"
            )
        if value not in args:
            raise ConfigError(
                f"{place} must be one of {', '.join(map(str, args))}; got {shown(value)}{closest_hint(value, args)}"
            )
        return value
    if origin in (tuple, list, dict):
        return _coerce_container(origin, args, value, place)
    if hint is Any:
        return value
    return _coerce_scalar(hint, value, place)


def _coerce_container(origin: type, args: tuple, value: Any, place: str) -> Any:
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise ConfigError(f"{place} must be a list of {len(args)} values, got {shown(value)}")
        return tuple(_coerce(a, v, f"{place}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
    if origin is list:
        if isinstance(value, str) and args[0] is str:  # one name where a list of names is expected
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{place} must be a list, got {shown(value)}")
        return [_coerce(args[0], v, f"{place}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, dict):
        raise ConfigError(f"{place} must be a mapping, got {shown(value)}")
    return {k: _coerce(args[1], v, f"{place}.{k}") for k, v in value.items()}


def _coerce_scalar(hint: Any, value: Any, place: str) -> Any:
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{place} must be true or false, got {shown(value)}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{place} must be an integer, got {shown(value)}")
        return value
    if hint is float:
        if isinstance(value, str):  # YAML 1.1 reads 1e-4 (no dot) as a string
            value = _float_text(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            raise ConfigError(f"{place} must be a number, got {shown(value)}")
        if abs(value) == float("inf"):  # e.g. `positive_distance: .inf` would make every reference a positive
            raise ConfigError(f"{place} must be a finite number, got {value}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{place} must be a string, got {shown(value)}")
        return value
    raise TypeError(f"unsupported config type {hint} at {place}")


def _float_text(text: str) -> float | str:
    """A number written in text (`1e-4`), or the text unchanged."""
    try:
        value = float(text)
    except ValueError:
        return text
    return value if value == value and abs(value) != float("inf") else text


def merge(base: dict, update: dict) -> dict:
    """Deep merge: mappings merge key by key, everything else in `update` replaces."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """`KEY=VALUE` strings (KEY dotted for nested values, VALUE read as YAML) as a nested mapping."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r} must be KEY=VALUE, e.g. train.epochs=5")
        try:
            value = load_yaml_text(text) if text.strip() else None
        except _AliasBomb as exc:
            raise ConfigError(f"override {key.strip()} is refused: {exc}") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"override {shown(item)}: the value is not valid YAML ({exc})") from exc
        nested: Any = value
        for part in reversed(key.strip().split(".")):
            nested = {part: nested}
        out = merge(out, nested)
    return out


def typed_strings(data: Any) -> Any:
    """Strings inside nested mappings read as YAML scalars (`'5'` -> 5, `'true'` -> True).

    Snakemake reads `--config 'train={epochs: 5}'` with a loader that keeps every nested value a
    string; the Snakefile passes its `--config` entries through this before validation.
    """
    if isinstance(data, dict):
        return {k: typed_strings(v) for k, v in data.items()}
    if isinstance(data, list):
        return [typed_strings(v) for v in data]
    if isinstance(data, str):
        try:
            value = load_yaml_text(data)
        except _AliasBomb as exc:
            raise ConfigError(f"a --config value is refused: {exc}") from exc
        except yaml.YAMLError:
            return data
        if isinstance(value, str):
            return _float_text(value)
        if isinstance(value, bool) and data.strip().lower() not in ("true", "false"):
            return data  # YAML 1.1 reads on/off/yes/no as booleans; options such as channels_last take "on"
        return value if isinstance(value, (int, float, bool, list, dict)) or value is None else data
    return data


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def resolved_dict(cfg: Config) -> dict[str, Any]:
    """The configuration as YAML-ready data (every default filled in), datasets and methods
    flattened back to the form they are written in."""
    data = cfg.to_dict()
    data["datasets"] = {
        name: {"type": d["type"], "root": d["root"], "tolerance": d["tolerance"], **(d["options"] or {})}
        for name, d in data["datasets"].items()
    }
    methods = {}  # written as configured: one entry per method, `seeds` says which rows it makes
    for name, m in data["methods"].items():
        methods.setdefault(split_seed(name)[0], {"kind": m["kind"], **(m["options"] or {})})
    data["methods"] = methods
    return data


def save_config(cfg: Config, path: str | Path) -> None:
    """Write the resolved configuration as YAML (atomically)."""
    from acmnet.io import atomic_write_text

    atomic_write_text(Path(path), yaml.safe_dump(resolved_dict(cfg), sort_keys=False))
