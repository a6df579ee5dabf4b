"""A re-ranked list another tool made, as a row of the results (`kind: reranked`).

The second stage of a two-stage pipeline: the first stage's top N is exported as an hloc pairs
file (`evaluate.export_pairs`, `results/<experiment>/<dataset>/<method>/pairs.txt`), re-ranked
outside the suite (hloc's matchers, image-matching-models, a verification step) and read back:

```yaml
methods:
  salad: {kind: external, descriptors: {pitts30k: logs/salad/2024-05-01_12-00-00}}
  salad_lightglue:
    kind: reranked
    first_stage: salad          # the configured method whose top N was re-ranked
    pairs: {pitts30k: reranked/pitts30k_salad_lightglue.txt}   # or an .npz of `indices`
    label: SALAD + SuperPoint/LightGlue re-ranking
```

A method of this kind has no describer and no descriptors: its retrieval file is the list itself
(`acmnet.evaluate.pairs.read_ranking`: the forms and refusals), scored with the dataset's
positives like every row, and the summary tests it against its first stage with the same paired
(block) bootstrap as against the best row (`R@N_p_first`). Its label says what it re-ranked.
Sequence matching needs descriptors: a config with `evaluate.sequence_lengths` and a re-ranked row
is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from acmnet.config import Config, ConfigError, closest_hint, split_seed
from acmnet.methods.base import MethodKind, check_per_dataset

if TYPE_CHECKING:
    from torch import nn

    from acmnet.artifacts import Checkpoint


@dataclass
class RerankedOptions:
    """Options of a `kind: reranked` method."""

    first_stage: str = ""  # the configured method whose retrieval was re-ranked
    pairs: dict[str, str] = field(default_factory=dict)  # dataset -> pairs file (hloc form) or .npz of indices
    label: str | None = None  # the row's name in tables

    def check(self, where: str) -> None:
        if not self.first_stage.strip():
            raise ConfigError(f"{where}.first_stage is missing: name the configured method whose top N was re-ranked")
        for key, path in self.pairs.items():
            if not isinstance(path, str) or not path.strip():
                raise ConfigError(f"{where}.pairs.{key} must be the path of a pairs file or .npz, got {path!r}")


def _check(cfg: Config, name: str, options: RerankedOptions) -> None:
    """The first stage is another configured method; every dataset (and only those) has a list."""
    where = f"methods.{name}"
    bases = list(dict.fromkeys(split_seed(m)[0] for m in cfg.methods))
    if options.first_stage == name or options.first_stage not in bases:
        raise ConfigError(
            f"{where}.first_stage: `{options.first_stage}` is not another configured method"
            f"{closest_hint(options.first_stage, bases)}; configured: {', '.join(b for b in bases if b != name)}"
        )
    check_per_dataset(cfg, where, "pairs", options.pairs, "a re-ranked list")


def _label(cfg: Config, name: str, options: RerankedOptions) -> str:
    what = options.label or f"re-ranked list ({', '.join(dict.fromkeys(options.pairs.values()))})"
    top = f"top {cfg.evaluate.export_pairs}" if cfg.evaluate.export_pairs else "retrieval"
    return f"{what}; re-ranks the {top} of {options.first_stage}"


def _build(cfg: Config, name: str, options: RerankedOptions, checkpoint: Checkpoint | None) -> nn.Module:
    raise ConfigError(f"methods.{name} is a re-ranked list another tool made; it has no describer (no Grad-CAM)")


def _files(options: RerankedOptions, dataset: str) -> list[str]:
    return [options.pairs[dataset]] if dataset in options.pairs else []


def first_stage(cfg: Config, method: str) -> str | None:
    """The method a row re-ranked (its base name), or None for any other row."""
    spec = cfg.methods.get(method)
    return getattr(spec.options, "first_stage", None) if spec is not None else None


METHOD = MethodKind(
    kind="reranked",
    options=RerankedOptions,
    build=_build,
    label=_label,
    trains=False,
    uses_gpu=False,
    check=_check,
    files=_files,
    imports_ranking=True,
)
