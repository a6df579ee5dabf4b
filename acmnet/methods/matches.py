"""Another tool's stored matches as a row of the results (`kind: matches`).

VPR-Bench ships, for ten published methods, the similarity matrices it computed on its datasets
(`precomputed_matches/<dataset>/<method>/precomputed_data_corrected.npy`); any pipeline can write
the tool-neutral `.npz` (`scores` Q x R, or `indices` + `scores` Q x K, optional names):

```yaml
methods:
  netvlad_vprbench:
    kind: matches
    matches: {corridor: VPR-Bench/precomputed_matches/corridor/NetVLAD/precomputed_data_corrected.npy}
    label: NetVLAD (VPR-Bench's stored matches)
```

A method of this kind has no describer and no descriptors: `acmnet import-ranking` reads the file
(`acmnet.evaluate.matches`: the forms, the checks, the tie order and the row-block reading) into
the retrieval file, which is scored, intervalled, tested and reported like every row; its cost
cells are the times the tool stored (labelled as such), empty with the reason where it stored
placeholders or none. The file is an input by content: its digest is the import step's params
and is recorded in the retrieval, which every reader re-checks. Sequence matching needs
descriptors: a config with `evaluate.sequence_lengths` and a matches row is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from acmnet.config import Config, ConfigError
from acmnet.methods.base import MethodKind, check_per_dataset

if TYPE_CHECKING:
    from torch import nn

    from acmnet.artifacts import Checkpoint, Retrieval


@dataclass
class MatchesOptions:
    """Options of a `kind: matches` method."""

    matches: dict[str, str] = field(default_factory=dict)  # dataset -> VPR-Bench .npy or .npz of scores
    label: str | None = None  # the row's name in tables

    def check(self, where: str) -> None:
        for key, path in self.matches.items():
            if not isinstance(path, str) or not path.strip():
                raise ConfigError(f"{where}.matches.{key} must be the path of a stored-matches file, got {path!r}")


def _check(cfg: Config, name: str, options: MatchesOptions) -> None:
    """Every dataset (and only those) has a file; no sequence matching (no descriptors)."""
    check_per_dataset(cfg, f"methods.{name}", "matches", options.matches, "stored matches")


def _label(cfg: Config, name: str, options: MatchesOptions) -> str:
    return options.label or f"stored matches ({', '.join(dict.fromkeys(options.matches.values()))})"


def _build(cfg: Config, name: str, options: MatchesOptions, checkpoint: Checkpoint | None) -> nn.Module:
    raise ConfigError(f"methods.{name} is another tool's stored matches; it has no describer (no Grad-CAM)")


def _files(options: MatchesOptions, dataset: str) -> list[str]:
    return [options.matches[dataset]] if dataset in options.matches else []


def _import(cfg: Config, method: str, options: MatchesOptions, dataset: str, manifest: Path, out: Path) -> Retrieval:
    from acmnet.evaluate.matches import MatchesError, import_matches

    ev = cfg.evaluate
    try:
        return import_matches(
            Path(options.matches[dataset]),
            manifest,
            out,
            ev.top_k,
            max(ev.recall_at),
            cfg.settings("import_ranking"),
            method,
        )
    except MatchesError as exc:
        raise ConfigError(f"methods.{method}.matches.{dataset}: {exc}") from None


METHOD: Any = MethodKind(
    kind="matches",
    options=MatchesOptions,
    build=_build,
    label=_label,
    trains=False,
    uses_gpu=False,
    check=_check,
    files=_files,
    imports_ranking=True,
    import_ranking=_import,
)
