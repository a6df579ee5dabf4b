"""Method kinds: each module makes one kind of row of the results.

A kind is one module with a module-level ``METHOD`` (`acmnet.methods.base.MethodKind`); adding a
kind is one module plus one line in `METHOD_KINDS`. The config, the Snakefile, the CLI,
`acmnet describe` and the tables ask this registry, never the kind's name.
"""

from __future__ import annotations

import importlib

from acmnet.config import Config, ConfigError, closest_hint
from acmnet.methods.base import MethodKind

METHOD_KINDS = {
    "acmnet": "acmnet.methods.acmnet",
    "external": "acmnet.methods.external",
    "matches": "acmnet.methods.matches",
    "pretrained": "acmnet.methods.pretrained",
    "pixels": "acmnet.methods.pixels",
    "reranked": "acmnet.methods.reranked",
}

__all__ = [
    "METHOD_KINDS",
    "MethodKind",
    "check_trained",
    "method_kind",
    "method_of",
    "trained_methods",
    "training_dataset",
]


def method_kind(kind: str) -> MethodKind:
    """The registered method kind `kind` (ConfigError naming the closest kind when unknown)."""
    if kind not in METHOD_KINDS:
        raise ConfigError(
            f"unknown method kind `{kind}`{closest_hint(kind, METHOD_KINDS)}; "
            f"known kinds: {', '.join(sorted(METHOD_KINDS))}"
        )
    return importlib.import_module(METHOD_KINDS[kind]).METHOD


def method_of(cfg: Config, name: str) -> MethodKind:
    """The kind of configured method `name`."""
    return method_kind(cfg.method(name).kind)


def trained_methods(cfg: Config) -> list[str]:
    """The configured methods that `acmnet train` makes a model for, in config order."""
    return [name for name, spec in cfg.methods.items() if method_kind(spec.kind).trains_with(spec.options)]


def training_dataset(cfg: Config, method: str, dataset: str) -> str:
    """The dataset whose training images made the model that `method` describes `dataset` with."""
    return getattr(cfg.method(method).options, "train_on", None) or dataset


def check_trained(cfg: Config, method: str, step: str) -> None:
    """Configured method `method` must be of a kind that trains (what `acmnet <step>` needs): ConfigError otherwise."""
    kind, options = method_of(cfg, method), cfg.method(method).options
    if kind.trains_with(options):
        return
    why = (
        "describes with a released model its options name (e.g. `exported`), which is not trained here"
        if kind.trains
        else f"has kind `{cfg.method(method).kind}`, which is not trained"
    )
    trained = ", ".join(trained_methods(cfg)) or "none configured"
    raise ConfigError(f"methods.{method} {why}; `acmnet {step}` takes a trained method ({trained})")
