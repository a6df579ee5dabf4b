"""The suite's configuration: one typed, validated tree, loaded from YAML.

Every choice the paper leaves open is a named field here with the default from SPEC.md. The
same `Config` is read by the Snakefile (to plan the DAG) and by every `acmnet` command (to do
the work), so the two can never disagree. Unknown or mistyped keys are errors that name the
key, its place in the tree and the closest valid key.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml


class ConfigError(ValueError):
    """A configuration value or key is invalid; the message names it and says what to do."""


@dataclass
class ModelConfig:
    """Encoder E, projector P_A and rotation head P_G (SPEC.md, Method)."""

    backbone: str = "resnet50"  # any timm model name
    pretrained: bool = True  # ImageNet weights for the backbone
    weights: str | None = None  # local weights file; else timm's hub download
    projector_hidden: int = 2048  # P_A hidden width (paper: "1-layer perceptron", not printed)
    projector_dim: int = 1024  # descriptor size (paper: 1024)
    rotation_hidden: int = 512  # P_G hidden width (not printed)


@dataclass
class PlanckianJitterConfig:
    p: float = 0.8
    mode: Literal["blackbody", "CIED"] = "blackbody"


@dataclass
class ColorJiggleConfig:
    p: float = 0.5
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.4
    hue: float = 0.1


@dataclass
class PlasmaBrightnessConfig:
    p: float = 0.5
    roughness: tuple[float, float] = (0.1, 0.7)
    intensity: tuple[float, float] = (0.0, 1.0)


@dataclass
class PlasmaContrastConfig:
    p: float = 0.3
    roughness: tuple[float, float] = (0.1, 0.7)


@dataclass
class ProbabilityConfig:
    p: float = 0.5


@dataclass
class BoxBlurConfig:
    p: float = 0.5
    kernel_size: tuple[int, int] = (3, 3)


@dataclass
class MotionBlurConfig:
    p: float = 0.3
    kernel_size: int = 3
    angle: float = 35.0
    direction: float = 0.5


@dataclass
class SolarizeConfig:
    p: float = 0.5
    thresholds: float = 0.1
    additions: float = 0.1


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

    epochs: int = 1000
    batch_size: int = 64  # N originals per step; 5N images go through the encoder
    lr: float = 0.003
    weight_decay: float = 0.0  # not mentioned in the paper
    schedule: Literal["none", "cosine"] = "none"  # not mentioned in the paper
    tau: float = 0.01
    contrastive: Literal["ntxent", "eq10"] = "ntxent"
    contrastive_weight: float = 1.0  # 0 gives the rotation-only ablation
    rotation_weight: float = 1.0  # lambda of eq. 12; 0 gives the contrastive-only ablation
    rotation_reduction: Literal["mean", "sum"] = "mean"
    rotation_views: Literal["all", "one"] = "all"  # all four rotations, or one random per image
    # Encoder batch-norm statistics during training (not mentioned in the paper): `update` is
    # plain PyTorch training; `frozen` keeps the pretrained running mean/var (affine still learnt),
    # so the statistics of augmented and rotated views do not leak into test-time descriptors.
    encoder_bn: Literal["update", "frozen"] = "update"
    # Several processes (torchrun): batch-norm statistics over every rank's slice, as one process on
    # the whole batch would have them (`all`), for the projector only, or per rank (`off`).
    sync_batchnorm: Literal["all", "projector", "off"] = "all"
    amp: Literal["auto", "bf16", "off"] = "auto"  # auto: bf16 on CUDA, off on CPU
    channels_last: Literal["on", "off"] = "on"  # NHWC memory format (faster on CUDA and, measured, CPU)
    compile: bool = False
    checkpoint_every: int = 1  # epochs
    checkpoint_every_steps: int = 0  # also checkpoint inside an epoch every this many steps; 0: off
    log_every: int = 50  # steps between rows of train_steps.csv (and TensorBoard); 0: off


@dataclass
class EvaluateConfig:
    top_k: int = 25  # retrievals kept per query (recall curves go up to this N)
    recall_at: list[int] = field(default_factory=lambda: [1, 5, 10])
    batch_size: int = 64  # images per forward pass when describing
    search_chunk: int = 4096  # queries per faiss search call (bounds memory)
    # Beyond the paper: SeqSLAM-style sequence matching over each method's similarities, one
    # extra row `<method>+seq<L>` per length L (queries and references taken in place order).
    sequence_lengths: list[int] = field(default_factory=list)
    sequence_velocities: list[float] = field(default_factory=lambda: [0.8, 1.0, 1.25])


@dataclass
class MethodConfig:
    """A row of the results.

    kind `acmnet`: trained here (`train` overrides the top-level `train` for ablations);
    `pretrained`: the frozen ImageNet backbone, `pool`ed (average, or GeM with exponent `gem_p`);
    `pixels`: SeqSLAM's single-image matcher (greyscale, downsampled to `pixel_size`,
    patch-normalised with `pixel_patch`-pixel patches).
    """

    kind: Literal["acmnet", "pretrained", "pixels"] = "acmnet"
    pool: Literal["avg", "gem"] = "avg"
    gem_p: float = 3.0
    pixel_size: tuple[int, int] = (32, 64)  # (height, width), SeqSLAM's 64 x 32
    pixel_patch: int = 8
    train: dict[str, Any] = field(default_factory=dict)


@dataclass
class DatasetConfig:
    """One dataset: its type (module under acmnet/datasets), where it lives and its protocol.

    Fields beyond `type`, `root` and `tolerance` are type-specific and checked by the dataset
    module (see `acmnet.datasets.registry`).
    """

    type: str
    root: str
    tolerance: int = 2  # +/- places counted as correct (paper: 2)
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class ResourcesConfig:
    """Snakemake `resources:` of the heavy rules; the Slurm profile turns them into sbatch requests."""

    train_gpu: int = 1
    train_mem_mb: int = 32000
    train_runtime: int = 4320  # minutes
    describe_gpu: int = 1
    describe_mem_mb: int = 16000
    describe_runtime: int = 240  # minutes


@dataclass
class Config:
    experiment: str = "paper"
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    image_size: tuple[int, int] = (224, 224)  # (height, width); resize, no crop
    results_dir: str = "results"
    figures_dir: str = "figures"
    model: ModelConfig = field(default_factory=ModelConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    methods: dict[str, MethodConfig] = field(default_factory=dict)
    datasets: dict[str, DatasetConfig] = field(default_factory=dict)
    resources: ResourcesConfig = field(default_factory=ResourcesConfig)

    # ---- derived paths -------------------------------------------------------------------
    @property
    def experiment_dir(self) -> Path:
        return Path(self.results_dir) / self.experiment

    def dataset(self, name: str) -> DatasetConfig:
        if name not in self.datasets:
            raise ConfigError(_unknown("datasets", name, list(self.datasets)))
        return self.datasets[name]

    def method(self, name: str) -> MethodConfig:
        if name not in self.methods:
            raise ConfigError(_unknown("methods", name, list(self.methods)))
        return self.methods[name]

    def train_for(self, method: str) -> TrainConfig:
        """The training settings of one method: `train`, with the method's overrides applied."""
        overrides = self.method(method).train
        merged = merge(dataclasses.asdict(self.train), overrides)
        return _build(TrainConfig, merged, f"methods.{method}.train")

    def to_dict(self) -> dict[str, Any]:
        return _plain(dataclasses.asdict(self))

    def digest(self, *sections: str) -> str:
        """Short hash of the named top-level sections (for cache keys and rerun triggers)."""
        data = self.to_dict()
        blob = json.dumps({s: data[s] for s in sections}, sort_keys=True)
        return hashlib.sha1(blob.encode()).hexdigest()[:12]


# ---- loading ------------------------------------------------------------------------------

DATASET_COMMON_KEYS = {"type", "root", "tolerance"}
# What a run measures when the config names no methods: ACM-Net, and the untrained backbone.
DEFAULT_METHODS = {"acmnet": {"kind": "acmnet"}, "imagenet_avg": {"kind": "pretrained", "pool": "avg"}}


def load_config(paths: str | Path | list[str | Path], overrides: dict | None = None) -> Config:
    """Read one or more YAML files (later ones override earlier ones), then `overrides`."""
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    raw: dict[str, Any] = {}
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"config file {path} must hold a mapping at the top level")
        raw = merge(raw, data)
    return config_from_dict(merge(raw, overrides or {}))


def config_from_dict(raw: dict[str, Any]) -> Config:
    """Build and validate a `Config` from plain data (as parsed from YAML)."""
    raw = dict(raw)
    datasets = raw.pop("datasets", None) or {}
    methods = raw.pop("methods", None) or dict(DEFAULT_METHODS)
    cfg = _build(Config, raw, "")
    if not isinstance(datasets, dict):
        raise ConfigError("`datasets` must be a mapping of dataset name -> settings")
    for name, entry in datasets.items():
        if not isinstance(entry, dict):
            raise ConfigError(f"datasets.{name} must be a mapping with at least `type` and `root`")
        for key in ("type", "root"):
            if key not in entry:
                raise ConfigError(f"datasets.{name}.{key} is missing")
        common = {k: v for k, v in entry.items() if k in DATASET_COMMON_KEYS}
        options = {k: v for k, v in entry.items() if k not in DATASET_COMMON_KEYS}
        cfg.datasets[name] = _build(DatasetConfig, {**common, "options": options}, f"datasets.{name}")
    if not isinstance(methods, dict):
        raise ConfigError("`methods` must be a mapping of method name -> settings")
    for name, entry in methods.items():
        cfg.methods[name] = _build(MethodConfig, entry or {}, f"methods.{name}")
        cfg.train_for(name)  # validates the overrides now, not at training time
    _check(cfg)
    return cfg


def _check(cfg: Config) -> None:
    height, width = cfg.image_size
    if height <= 0 or width <= 0:
        raise ConfigError(f"image_size must be two positive integers, got {list(cfg.image_size)}")
    needs_rotation = any(
        m.kind == "acmnet" and cfg.train_for(n).rotation_weight > 0 for n, m in cfg.methods.items()
    )
    if needs_rotation and height != width:
        raise ConfigError(
            f"image_size {list(cfg.image_size)} is not square, but the rotation branch rotates "
            "images by 90 degrees in one batch: set image_size to [S, S] (the paper uses 224)"
        )
    for name, value in [("train.tau", cfg.train.tau), ("train.lr", cfg.train.lr)]:
        if value <= 0:
            raise ConfigError(f"{name} must be positive, got {value}")
    if cfg.train.batch_size < 2:
        raise ConfigError("train.batch_size must be at least 2: the contrastive loss needs negatives")
    if any(n < 1 or n > cfg.evaluate.top_k for n in cfg.evaluate.recall_at):
        raise ConfigError(
            f"evaluate.recall_at {cfg.evaluate.recall_at} must lie in 1..evaluate.top_k "
            f"({cfg.evaluate.top_k})"
        )
    for aug_name, aug in dataclasses.asdict(cfg.augment).items():
        if not 0.0 <= aug["p"] <= 1.0:
            raise ConfigError(f"augment.{aug_name}.p must lie in [0, 1], got {aug['p']}")
    if not cfg.datasets:
        raise ConfigError("`datasets` is empty: name at least one dataset to work on")


def _unknown(where: str, key: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(key, valid, n=1)
    hint = f" (did you mean `{close[0]}`?)" if close else ""
    place = f"{where}.{key}" if where else key
    return f"unknown config key `{place}`{hint}; valid keys here: {', '.join(sorted(valid))}"


def _build(cls: type, data: Any, where: str) -> Any:
    """Instantiate dataclass `cls` from a mapping, strictly: unknown keys and bad types fail."""
    if not isinstance(data, dict):
        raise ConfigError(f"`{where or 'config'}` must be a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key not in fields:
            raise ConfigError(_unknown(where, str(key), list(fields)))
        place = f"{where}.{key}" if where else key
        kwargs[key] = _coerce(hints[key], value, place)
    missing = [
        n for n, f in fields.items()
        if n not in kwargs and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"`{where}` is missing {', '.join(missing)}")
    return cls(**kwargs)


def _coerce(hint: Any, value: Any, place: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, place)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value, place)
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{place} must be one of {', '.join(map(str, args))}; got {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise ConfigError(f"{place} must be a list of {len(args)} values, got {value!r}")
        return tuple(_coerce(a, v, f"{place}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{place} must be a list, got {value!r}")
        return [_coerce(args[0], v, f"{place}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{place} must be a mapping, got {value!r}")
        return {k: _coerce(args[1], v, f"{place}.{k}") for k, v in value.items()}
    if hint is Any:
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{place} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{place} must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{place} must be a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{place} must be a string, got {value!r}")
        return value
    raise TypeError(f"unsupported config type {hint} at {place}")


def merge(base: dict, update: dict) -> dict:
    """Deep merge: mappings merge key by key, everything else in `update` replaces."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def save_config(cfg: Config, path: str | Path) -> None:
    """Write the resolved configuration as YAML (atomically)."""
    from acmnet.io import atomic_write_text

    atomic_write_text(Path(path), yaml.safe_dump(resolved_dict(cfg), sort_keys=False))


def resolved_dict(cfg: Config) -> dict[str, Any]:
    """The configuration as YAML-ready data, dataset options flattened as they are written."""
    data = cfg.to_dict()
    data["datasets"] = {
        name: {"type": d["type"], "root": d["root"], "tolerance": d["tolerance"], **d["options"]}
        for name, d in data["datasets"].items()
    }
    return data
