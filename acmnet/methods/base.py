"""What every method kind provides: the base that `acmnet.methods` registers.

A method kind is one module with a module-level ``METHOD = MethodKind(...)``: its options
dataclass (checked when the config is loaded), whether it is trained here, how it builds a
describer, its label in tables, and whether describing benefits from a GPU. A describer is an
`nn.Module` taking float images in [0, 1], (B, 3, H, W), to L2-normalised float32 descriptors
(B, D); a describer with a convolutional backbone exposes it as `.encoder` (for Grad-CAM).
Nothing else in the suite asks which kind a method is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from torch import nn

from acmnet.config import Config, ConfigError, build_dataclass, closest_hint

if TYPE_CHECKING:
    from acmnet.artifacts import Checkpoint, Manifest


def _no_check(cfg: Config, name: str, options: Any) -> None:
    """Options that need nothing beyond their own fields."""


@dataclass(frozen=True)
class MethodKind:
    """One kind of row of the results (a module under `acmnet.methods`).

    kind: the `kind:` of a method in the config.
    options: dataclass of the kind's settings (every field has a default).
    build: (cfg, method name, options, checkpoint or None) -> describer (on the CPU, eval mode).
    label: (cfg, method name, options) -> how the row is named in tables (plain text).
    trains: whether `acmnet train` makes a checkpoint for it (its describer then needs one).
    uses_gpu: whether describing runs faster on a GPU (the Snakemake resources ask for one).
    check: (cfg, method name, options) -> None; checks against the rest of the config.
    read: for rows whose descriptors another tool computed: (cfg, method name, options, dataset
        name, manifest) -> (reference (R, D), query (Q, D)) float32 in the manifest's order of
        reference and query rows, normalised as the options say; `describe` then reads them
        instead of building a describer (no image cache, no Grad-CAM). None: a describer kind.
    files: (options, dataset name) -> every file `read` takes for that dataset (the describe step's
        inputs, so an edited file is described again); for `imports_ranking` kinds, the ranked lists.
    digests: (options, dataset name) -> {configured path: content digest of every file read for it}:
        the describe record's sources and the describe step's rerun trigger (a file replaced under
        its old time); every reader of the descriptors re-checks them (`acmnet.artifacts`).
    imports_ranking: the row's retrieval is a ranked list another tool made (`kind: reranked`),
        read by `acmnet import-ranking` from `files`: no describer, no descriptors.
    import_ranking: for `imports_ranking` kinds whose file is not a ranked list (`kind: matches`):
        (cfg, method name, options, dataset name, manifest path, out path) -> the written Retrieval;
        None: `acmnet.evaluate.pairs.import_ranking` reads the list.
    untrained: for a kind that trains, options -> whether a row with them is not trained here (it
        describes with a released model, `kind: acmnet` with `exported`); `trains_with` asks it.
    """

    kind: str
    options: type
    build: Callable[[Config, str, Any, Checkpoint | None], nn.Module]
    label: Callable[[Config, str, Any], str]
    trains: bool = False
    uses_gpu: bool = True
    check: Callable[[Config, str, Any], None] = _no_check
    read: Callable[[Config, str, Any, str, Manifest], tuple[np.ndarray, np.ndarray]] | None = None
    files: Callable[[Any, str], list[str]] | None = None
    digests: Callable[[Any, str], dict[str, str]] | None = None
    imports_ranking: bool = False
    import_ranking: Callable[[Config, str, Any, str, Path, Path], Any] | None = None
    untrained: Callable[[Any], bool] | None = None

    def trains_with(self, options: Any) -> bool:
        """Whether a row of this kind with `options` is trained by `acmnet train` (described with its checkpoint)."""
        return self.trains and not (self.untrained is not None and self.untrained(options))

    def parse_options(self, raw: dict[str, Any], where: str) -> Any:
        if not isinstance(raw, dict):
            raise ConfigError(f"{where} must be a mapping of options, got {type(raw).__name__}")
        return build_dataclass(self.options, raw, where)


def check_per_dataset(cfg: Config, where: str, key: str, files: dict[str, Any], what: str) -> None:
    """`files` (option `key` of the row at `where`) names a file for every configured dataset and for
    no other; `what` says why the row then cannot take sequence matching (it has no descriptors)."""
    for dataset in cfg.datasets:
        if dataset not in files:
            raise ConfigError(
                f"{where}.{key} has no entry for dataset `{dataset}`: add `{where}.{key}.{dataset}: <path>`"
            )
    for name in files:
        if name not in cfg.datasets:
            raise ConfigError(
                f"{where}.{key}.{name}: `{name}` is not a configured dataset{closest_hint(name, cfg.datasets)}"
            )
    if cfg.evaluate.sequence_lengths:
        raise ConfigError(
            f"{where} is {what} without descriptors, but evaluate.sequence_lengths asks for sequence "
            "matching over every method's descriptors: drop one of the two"
        )
