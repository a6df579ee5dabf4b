"""Loading a config: a validated `Config` from YAML files, JSON or a mapping, where the registries are asked.

`acmnet.config` is the schema (the settings, their defaults and checks, YAML reading) and imports no
registry; this module joins it with the dataset types (`acmnet.data.datasets`) and method kinds
(`acmnet.methods`), which parse and check their own options, so no import runs in a circle. A config
is read in one pass, in one direction: the schema's sections, each dataset's and method's options (a
method's `train:`/`model:` overrides parsed here, once), then the checks across sections, which parse
nothing; the loaded `Config` derives each method's settings without parsing again. It also
holds the checks of a config against what the registries know of its datasets: the places a trained
model has seen (`seen_places`) and whether the evaluate settings fit a dataset's manifest
(`check_fits_manifest`, run by `acmnet prepare`).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from acmnet.config import (
    DATASET_COMMON_KEYS,
    SEED_MARK,
    Config,
    ConfigError,
    DatasetConfig,
    MethodConfig,
    build_dataclass,
    check_name,
    check_no_template,
    check_path,
    merge,
    read_yaml,
)
from acmnet.data.datasets import dataset_type
from acmnet.methods import method_kind

# What a run measures when the config names no methods: ACM-Net, and the untrained backbone.
DEFAULT_METHODS = {"acmnet": {"kind": "acmnet"}, "imagenet_avg": {"kind": "pretrained", "pool": "avg"}}


def load_config(paths: str | Path | Iterable[str | Path], overrides: dict | None = None) -> Config:
    """Read one or more YAML files (later ones override earlier ones), then `overrides`."""
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    raw: dict[str, Any] = {}
    for path in paths:
        raw = merge(raw, read_yaml(Path(path)))
    return config_from_dict(merge(raw, overrides or {}))


def config_from_json(text: str, overrides: dict | None = None) -> Config:
    """A config passed as JSON (how the Snakefile hands each step the run's configuration), then `overrides`."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--config-json is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(
            f"--config-json must hold a JSON object (a mapping of config keys), got {type(raw).__name__} {text[:40]!r}"
        )
    return config_from_dict(merge(raw, overrides or {}))


def config_from_dict(raw: dict[str, Any]) -> Config:
    """Build and validate a `Config` from plain data (as parsed from YAML), in one pass: each section,
    dataset and method is parsed once (a method's `train:`/`model:` overrides against the top-level
    sections), then the checks across sections run, which parse nothing."""
    check_no_template(raw, "the configuration")
    check_config_size(raw)
    raw = dict(raw)
    datasets = raw.pop("datasets", None) or {}
    methods = raw.pop("methods", None) or dict(DEFAULT_METHODS)
    cfg = build_dataclass(Config, raw, "")
    cfg.datasets = _datasets(datasets)
    cfg.methods = _per_seed(_methods(methods, cfg), cfg.seeds)
    _check_methods(cfg)
    _check_sequences(cfg)
    _check_repeated(cfg)
    return cfg


def _datasets(raw: Any) -> dict[str, DatasetConfig]:
    if not isinstance(raw, dict) or not raw:
        raise ConfigError("`datasets` must be a mapping of dataset name -> settings, with at least one dataset")
    out = {}
    for name, entry in raw.items():
        where = f"datasets.{name}"
        check_name(name, where)
        if not isinstance(entry, dict):
            raise ConfigError(f"{where} must be a mapping with at least `type` and `root`")
        for key in ("type", "root"):
            if key not in entry:
                raise ConfigError(f"{where}.{key} is missing")
        common = {k: v for k, v in entry.items() if k in DATASET_COMMON_KEYS}
        spec = build_dataclass(DatasetConfig, common, where)
        check_path(spec.root, f"{where}.root")
        options = {k: v for k, v in entry.items() if k not in DATASET_COMMON_KEYS}
        spec.options = dataset_type(spec.type).parse_options(options, where)
        out[str(name)] = spec
    return out


def _methods(raw: Any, cfg: Config) -> dict[str, MethodConfig]:
    if not isinstance(raw, dict) or not raw:
        raise ConfigError("`methods` must be a mapping of method name -> settings, with at least one method")
    out = {}
    for name, entry in raw.items():
        where = f"methods.{name}"
        if SEED_MARK not in str(name):  # named by _per_seed's own message
            check_name(name, where)
        if entry is not None and not isinstance(entry, dict):
            raise ConfigError(f"{where} must be a mapping of settings (e.g. `kind: acmnet`), got {entry!r}")
        entry = dict(entry or {})
        kind = entry.pop("kind", "acmnet")
        if not isinstance(kind, str):
            raise ConfigError(f"{where}.kind must be a method kind name, got {kind!r}")
        options = method_kind(kind).parse_options(entry, where)
        out[str(name)] = MethodConfig(kind=kind, options=_typed_overrides(cfg, where, options))
    return out


# The top-level sections a method's options may override (`train:` and `model:` of `kind: acmnet`).
OVERRIDABLE_SECTIONS = ("train", "model")


def _typed_overrides(cfg: Config, where: str, options: Any) -> Any:
    """`options` with its overrides of `OVERRIDABLE_SECTIONS` parsed once, against the top-level section:
    the merged section is built and checked here (keys, types, ranges, the section's own `check`), and
    the overrides are kept as typed values, which `Config.train_for`/`model_for` lay over the section."""
    changes = {}
    for section in OVERRIDABLE_SECTIONS:
        overrides = getattr(options, section, None)
        if not overrides:
            continue
        base = getattr(cfg, section)
        merged = build_dataclass(type(base), merge(dataclasses.asdict(base), overrides), f"{where}.{section}")
        changes[section] = {key: getattr(merged, key) for key in overrides}
    return dataclasses.replace(options, **changes) if changes else options


def _per_seed(methods: dict[str, MethodConfig], seeds: list[int]) -> dict[str, MethodConfig]:
    """With `seeds`, every trained method becomes one row per seed, `<name>@s<seed>`."""
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"seeds {seeds} names a seed twice")
    out = {}
    for name, spec in methods.items():
        if SEED_MARK in name:
            raise ConfigError(f"methods.{name}: `{SEED_MARK}` is kept for the rows of `seeds`; rename the method")
        if seeds and method_kind(spec.kind).trains_with(spec.options):
            out.update({f"{name}{SEED_MARK}{s}": dataclasses.replace(spec, seed=s) for s in seeds})
        else:
            out[name] = spec
    return out


def _check_repeated(cfg: Config) -> None:
    """An N of recall@N (or a sequence length) listed twice would give two columns (rows) of one name."""
    for key in ("recall_at", "sequence_lengths"):
        values = getattr(cfg.evaluate, key)
        twice = sorted({v for v in values if values.count(v) > 1})
        if twice:
            raise ConfigError(f"evaluate.{key} {values} lists {', '.join(map(str, twice))} twice: list each value once")


def _check_methods(cfg: Config) -> None:
    for name, spec in cfg.methods.items():
        method_kind(spec.kind).check(cfg, name, spec.options)


def _check_sequences(cfg: Config) -> None:
    """Sequence matching only on datasets whose queries and references are frames of one drive."""
    if not cfg.evaluate.sequence_lengths:
        return
    for name, spec in cfg.datasets.items():
        kind = dataset_type(spec.type)
        if kind.scoring == "recall" and not kind.route_order(spec.options):
            raise ConfigError(
                f"evaluate.sequence_lengths asks for sequence matching, but datasets.{name} (type `{spec.type}`) "
                "has no route order: its images are not frames of one drive in manifest order, so a sequence "
                "of neighbours means nothing there; remove evaluate.sequence_lengths (or, where the type has "
                f"the option and its file names do sort in driving order, set datasets.{name}.route_order: true)"
            )


def seen_places(cfg: Config) -> dict[tuple[str, str], str]:
    """{(training dataset, other dataset): the places both hold} for every `train_on` dataset of a
    trained method and every other dataset it is evaluated on: places a model trained there has
    seen, so the other dataset is not "unseen" there (its type's `shared_places`)."""
    out = {}
    for spec in cfg.methods.values():
        trained_on = getattr(spec.options, "train_on", None)
        if not trained_on or trained_on not in cfg.datasets:
            continue
        train = cfg.datasets[trained_on]
        for name, other in cfg.datasets.items():
            kind = dataset_type(other.type)
            if name == trained_on or other.type != train.type or kind.shared_places is None:
                continue
            shared = kind.shared_places(train.root, train.options, other.root, other.options)
            if shared:
                out[(trained_on, name)] = shared
    return out


def seen_places_notes(cfg: Config) -> list[str]:
    """`seen_places` as sentences, said before any work (check-config, the workflow) and in captions."""
    return [
        f"datasets.{other} overlaps the training images of datasets.{train}: {shared} are in both, so the rows "
        f"trained on {train} have seen those places of {other} (not an unseen-places test there)"
        for (train, other), shared in seen_places(cfg).items()
    ]


def check_fits_manifest(cfg: Config, dataset: str, frame: pd.DataFrame) -> None:
    """The evaluate settings of `cfg` must fit the manifest `frame` of datasets.`dataset` (what
    `acmnet prepare` checks before writing it): ConfigError naming the key and the counts otherwise."""
    _check_sequence_lengths(cfg, dataset, frame)
    _check_top_k(cfg, dataset, frame)
    _check_pair_names(cfg, dataset, frame)


def _check_pair_names(cfg: Config, dataset: str, frame: pd.DataFrame) -> None:
    """With `evaluate.export_pairs`, every image name must be one word: a pairs file is `query reference`
    per line. Refused at `prepare`, not at export after describe and retrieve."""
    if not cfg.evaluate.export_pairs:
        return
    images = frame["image"].astype(str)
    spaced = images[images.str.contains(r"\s", regex=True)]
    if len(spaced):
        raise ConfigError(
            f"evaluate.export_pairs = {cfg.evaluate.export_pairs}, but datasets.{dataset} has {len(spaced)} image "
            f"name(s) holding white space (e.g. {spaced.iloc[0]!r}), which a pairs file (`query reference` per line) "
            "cannot name: rename them, or set evaluate.export_pairs: 0"
        )


# Every step takes the run's configuration on its command line (`--config-json`), and Linux takes
# at most 128 KiB per argument (MAX_ARG_STRLEN): a config larger than this fails every job with
# "Argument list too long". It is refused at load, naming its largest value.
CONFIG_ARG_MAX = 100_000


def check_config_size(raw: dict[str, Any]) -> None:
    """The config as JSON must fit one command-line argument (`CONFIG_ARG_MAX` characters)."""
    size = len(json.dumps(raw, sort_keys=True))
    if size <= CONFIG_ARG_MAX:
        return
    key, length = _largest_value(raw, "")
    raise ConfigError(
        f"the config is {size:,} characters as JSON, more than the {CONFIG_ARG_MAX:,} a step's command line "
        f"carries: `{key}` alone holds {length:,}; shorten it"
    )


def _largest_value(value: Any, where: str) -> tuple[str, int]:
    """(dotted key, JSON length) of the largest leaf value under `value`."""
    if isinstance(value, dict) and value:
        return max(
            (_largest_value(v, f"{where}.{k}" if where else str(k)) for k, v in value.items()), key=lambda x: x[1]
        )
    if isinstance(value, list) and value:
        return max((_largest_value(v, f"{where}[{i}]") for i, v in enumerate(value)), key=lambda x: x[1])
    return where, len(json.dumps(value))


def _check_sequence_lengths(cfg: Config, dataset: str, frame: pd.DataFrame) -> None:
    """Refuse an `evaluate.sequence_lengths` entry longer than a query set (or the reference
    traversal) of a recall-scored dataset, before its manifest is written: a sequence that cannot
    fit the route would score a row of clipped lines, not what its name says."""
    if not cfg.evaluate.sequence_lengths or dataset_type(cfg.dataset(dataset).type).scoring != "recall":
        return
    longest = max(cfg.evaluate.sequence_lengths)
    sets = {f"query set `{c}`": int(n) for c, n in frame[frame["role"] == "query"].groupby("condition").size().items()}
    sets["the references"] = int((frame["role"] == "reference").sum())
    short = {name: n for name, n in sets.items() if n < longest}
    if short:
        counts = ", ".join(f"{name}: {n} images" for name, n in short.items())
        raise ConfigError(
            f"evaluate.sequence_lengths asks for sequences of {longest} frames, longer than the route of "
            f"datasets.{dataset} ({counts}): use lengths of at most {min(short.values())} frames"
        )


def _check_top_k(cfg: Config, dataset: str, frame: pd.DataFrame) -> None:
    """Refuse `evaluate.top_k` above a dataset's reference count before its manifest is written:
    `retrieve` could not keep that many, and would say so only after training and describing."""
    references = int((frame["role"] == "reference").sum())
    if cfg.evaluate.top_k > references:
        raise ConfigError(
            f"evaluate.top_k = {cfg.evaluate.top_k} asks for more retrievals per query than datasets.{dataset} has "
            f"reference images ({references}): lower evaluate.top_k (and recall_at) to at most {references}"
        )
