"""The protocol signature of a number, in the spirit of sacreBLEU's: what was measured, and how.

Every row of `metrics.csv` (one query set of one row), every row of `summary.md` and every caption
carries one. It is a `|`-joined list of `field:value` pairs, in the order of :data:`FIELDS`::

    type:nordland64|set:winter/summer|ref:300|q:300|pos:1500|gt:3f09c2a4d1e7|rule:places±2|
    nopos:none|img:64x64/resize|dim:1024|dtype:float32|sim:cos|k:25

Fields (docs/statistics.md explains each):

- `type`: the dataset type; `set`: the query set / the reference condition(s).
- `ref`, `q`, `pos`: the reference, query and positive-pair counts.
- `gt`: the first 12 hex digits of the SHA-256 of the ground truth as scored: the query set's
  positives (per query, the sorted positions of its positive references) and the reference count.
- `rule`: how positives are found, with its tolerance: `places±N` (a place window), `within<D>m`
  (a distance in metres) or `listed` (the dataset's own list).
- `nopos`: how queries without a positive count: `miss` (in the denominator, never correct: the
  suite's only rule), or `none` when the query set has no such query.
- `img`: the input size and resize rule (`HxW/resize`: resized to exactly that, no crop), or
  `tool` when another tool made the descriptors or the ranking.
- `dim`, `dtype`: the descriptors searched (`none` for a ranking imported from another tool).
- `sim`: `cos` (inner product of L2-normalised descriptors), `ip` (inner product as given),
  `seq<L>/cos` (sequence matching of L queries over cosine similarities) or `tool` (the order of
  another tool's ranking).
- `k`: the references kept per query.

Nothing in it depends on the machine, a path or a time: the same files and settings give the same
signature anywhere. :func:`make_signature` builds it from the scored artifacts; :func:`parse`
reads one back (what the reproduction table compares field by field).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from acmnet.config import Config
from acmnet.data.positives import PositiveSets

FIELDS = ("type", "set", "ref", "q", "pos", "gt", "rule", "nopos", "img", "dim", "dtype", "sim", "k")
"""The signature's fields, in the order it prints them."""

NAMES = {
    "type": "dataset type",
    "set": "query set / reference",
    "ref": "references",
    "q": "queries",
    "pos": "positives",
    "gt": "ground-truth digest",
    "rule": "positives rule",
    "nopos": "queries without a positive",
    "img": "image size",
    "dim": "descriptor dimension",
    "dtype": "descriptor dtype",
    "sim": "similarity",
    "k": "top-k",
}
"""Each field in words (what a reason for `not comparable` names)."""

UNKNOWN = "unknown"
"""A published protocol's value for a field its paper does not state."""


class SignatureError(ValueError):
    """A signature text that is not `field:value|...` over :data:`FIELDS`; the message says where."""


@dataclass(frozen=True)
class Signature:
    """One number's protocol: every field of :data:`FIELDS` as text."""

    fields: Mapping[str, str]

    def text(self) -> str:
        """`type:...|set:...|...` in the order of :data:`FIELDS`."""
        return "|".join(f"{k}:{self.fields[k]}" for k in FIELDS)

    def short(self) -> str:
        """8 hex digits naming the signature (the summary's `sig` column; the full text beside it)."""
        return hashlib.sha256(self.text().encode()).hexdigest()[:8]


def _clean(value: object) -> str:
    """A field value as text; `|` and `:` would break the form, so a name holding one is refused."""
    text = str(value)
    if "|" in text or not text:
        raise SignatureError(f"signature value {text!r} is empty or holds '|'")
    return text


def ground_truth_digest(truth: PositiveSets) -> str:
    """12 hex digits of the SHA-256 of the positives as scored: the reference count, each query's
    positive count and the positions (sorted within each query), as little-endian int64."""
    digest = hashlib.sha256()
    digest.update(np.int64(truth.n_references).astype("<i8").tobytes())
    digest.update(truth.counts().astype("<i8").tobytes())
    digest.update(np.asarray(truth.indices).astype("<i8").tobytes())
    return digest.hexdigest()[:12]


def rule_text(cfg: Config, dataset: str) -> str:
    """`places±N`, `within<D>m` or `listed`, from the dataset's type and settings."""
    from acmnet.data.datasets import dataset_type

    spec = cfg.dataset(dataset)
    kind = dataset_type(spec.type).ground_truth
    if kind == "places":
        return f"places±{spec.tolerance}"
    if kind == "positions":
        return f"within{float(spec.options.positive_distance):g}m"
    return "listed"


def method_fields(cfg: Config, method: str, dim: int | None) -> dict[str, str]:
    """`img`, `dim`, `dtype`, `sim` of a configured row (before any `+seq` suffix); `dim` None:
    no descriptors were given to score. A row the config does not hold (files scored by hand)
    has `unknown` for what only its settings say."""
    from acmnet.methods import method_kind

    dim_text = UNKNOWN if dim is None else str(int(dim))
    if method not in cfg.methods:
        return {"img": UNKNOWN, "dim": dim_text, "dtype": "float32", "sim": UNKNOWN}
    spec = cfg.method(method)
    kind = method_kind(spec.kind)
    if kind.imports_ranking:
        return {"img": "tool", "dim": "none", "dtype": "none", "sim": "tool"}
    h, w = cfg.image_size
    img = "tool" if kind.read is not None else f"{h}x{w}/resize"
    sim = "cos" if getattr(spec.options, "normalize", True) else "ip"
    return {"img": img, "dim": dim_text, "dtype": "float32", "sim": sim}


def make_signature(
    cfg: Config,
    dataset: str,
    method: str,
    row: str,
    queries: str,
    reference_conditions: list[str],
    truth: PositiveSets,
    k: int,
    dim: int | None,
) -> Signature:
    """The signature of one metrics row: dataset `dataset`, configured row `method` (scored as
    `row`, e.g. `<method>+seq5`), query set `queries` against references of `reference_conditions`,
    with the query set's positives `truth` (Q queries into R references), `k` kept per query and
    descriptors of `dim` dimensions (None when score was not given them)."""
    from acmnet.data.datasets import dataset_type

    counts = truth.counts()
    fields = {
        "type": dataset_type(cfg.dataset(dataset).type).name,
        "set": f"{queries}/{'+'.join(reference_conditions)}",
        "ref": str(truth.n_references),
        "q": str(truth.n_queries),
        "pos": str(int(counts.sum())),
        "gt": ground_truth_digest(truth),
        "rule": rule_text(cfg, dataset),
        "nopos": "miss" if (counts == 0).any() else "none",
        **method_fields(cfg, method, dim),
        "k": str(int(k)),
    }
    if row != method and "+seq" in row:
        fields["sim"] = f"seq{row.rsplit('+seq', 1)[1]}/{fields['sim']}"
    return Signature({key: _clean(value) for key, value in fields.items()})


def parse(text: str) -> Signature:
    """A signature text back as fields; SignatureError naming the first bad or missing field."""
    if not isinstance(text, str) or not text:
        raise SignatureError(f"no signature: got {text!r} (rerun `acmnet score` to write one)")
    fields: dict[str, str] = {}
    for part in text.split("|"):
        key, sep, value = part.partition(":")
        if not sep or key not in FIELDS or key in fields or not value:
            raise SignatureError(f"signature {text!r}: part {part!r} is not `field:value` for a new field of {FIELDS}")
        fields[key] = value
    missing = [k for k in FIELDS if k not in fields]
    if missing:
        raise SignatureError(f"signature {text!r} lacks field(s) {missing}")
    return Signature(fields)


def signature_column(table: object) -> list[str]:
    """`["signature"]` when a table (metrics, summary) has the column, else `[]` (files of an older acmnet)."""
    return ["signature"] if "signature" in getattr(table, "columns", ()) else []


def short_of(text: object) -> str:
    """The 8-digit id of a signature text; `none` for a row without one (a metrics file of an older acmnet)."""
    return parse(text).short() if isinstance(text, str) and text else "none"


def legend(signatures: list[object]) -> list[str]:
    """One line `- sig <id>: <text>` per distinct signature, in order of first appearance; a line
    saying so when rows have none."""
    seen = list(dict.fromkeys(s for s in signatures if isinstance(s, str) and s))
    lines = [f"- sig {parse(s).short()}: {s}" for s in seen]
    if not lines or any(not (isinstance(s, str) and s) for s in signatures):
        lines.append("- sig none: a metrics file without signatures (an older acmnet): rerun `acmnet score`")
    return lines


def sentence(signatures: list[object]) -> str:
    """The signatures of a caption as plain text: `Protocol signatures: sig <id>: <text>; ...`."""
    return "Protocol signatures (docs/statistics.md): " + "; ".join(line[2:] for line in legend(signatures)) + "."
