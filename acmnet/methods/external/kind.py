"""The `kind: external` method: its options, config checks, files, digests and reading of a dataset's entry."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from acmnet.config import Config, ConfigError, closest_hint
from acmnet.data.manifest import query_sets
from acmnet.methods.base import MethodKind
from acmnet.methods.external.digests import _contents, entry_digest
from acmnet.methods.external.forms import _form, files_read
from acmnet.methods.external.reader import ExternalDescriptorsError
from acmnet.methods.external.rows import read_file

if TYPE_CHECKING:
    from torch import nn

    from acmnet.artifacts import Checkpoint, Manifest


AGREE_RTOL = 1e-4  # database rows of two files agree when max |a - b| <= this x max |a|


@dataclass
class ExternalOptions:
    """Options of a `kind: external` method (descriptors another tool computed)."""

    descriptors: dict[str, Any] = field(default_factory=dict)  # dataset -> path, or {query set -> path}
    normalize: bool = True  # L2-normalise every row (false: rows as given, inner-product retrieval)
    label: str | None = None  # the row's name in tables

    def check(self, where: str) -> None:
        self.descriptors = {str(k): _checked_entry(v, f"{where}.descriptors.{k}") for k, v in self.descriptors.items()}


def _checked_entry(value: Any, place: str) -> str | dict[str, str]:
    """A dataset's entry: a path, or a non-empty mapping of query set -> path (form known by name)."""
    if isinstance(value, str) and value:
        _form(value, place)
        return value
    if isinstance(value, dict) and value:
        for key, path in value.items():
            if not isinstance(path, str) or not path:
                raise ConfigError(f"{place}.{key} must be a path, got {path!r}")
            _form(path, f"{place}.{key}")
        return {str(k): v for k, v in value.items()}
    raise ConfigError(f"{place} must be a path or a mapping of query set name -> path, got {value!r}")


def _check(cfg: Config, name: str, options: ExternalOptions) -> None:
    """Every configured dataset has an entry, and every entry is a configured dataset."""
    where = f"methods.{name}.descriptors"
    for dataset in cfg.datasets:
        if dataset not in options.descriptors:
            raise ConfigError(
                f"{where} has no entry for dataset `{dataset}`: add `{where}.{dataset}: <path>` (a file "
                "of descriptors, or a mapping of query set -> file), or leave the dataset out of this run"
            )
    for key in options.descriptors:
        if key not in cfg.datasets:
            raise ConfigError(
                f"{where}.{key}: `{key}` is not a configured dataset{closest_hint(key, cfg.datasets)}; "
                f"configured: {', '.join(cfg.datasets)}"
            )


def _paths(options: ExternalOptions) -> list[str]:
    """Every path of `descriptors`, in config order, each once."""
    paths = [p for e in options.descriptors.values() for p in ([e] if isinstance(e, str) else e.values())]
    return list(dict.fromkeys(paths))


def _label(cfg: Config, name: str, options: ExternalOptions) -> str:
    label = options.label or f"external descriptors ({', '.join(_paths(options))})"
    return label if options.normalize else f"{label}; not normalised, inner-product retrieval"


def _build(cfg: Config, name: str, options: ExternalOptions, checkpoint: Checkpoint | None) -> nn.Module:
    raise ConfigError(f"methods.{name} reads descriptors another tool computed; it has no describer (no Grad-CAM)")


def _entry(options: ExternalOptions, dataset: str, name: str = "<method>") -> str | dict[str, str]:
    if dataset not in options.descriptors:
        raise ConfigError(
            f"methods.{name}.descriptors has no entry for dataset `{dataset}`"
            f"{closest_hint(dataset, options.descriptors)}: add `methods.{name}.descriptors.{dataset}: <path>`"
        )
    return options.descriptors[dataset]


def _files(options: ExternalOptions, dataset: str) -> list[str]:
    """Every file `read` takes for `dataset` (the describe step's inputs)."""
    return [str(file) for path in _entry_paths(_entry(options, dataset)) for file in files_read(path)]


def _digests(options: ExternalOptions, dataset: str) -> dict[str, str]:
    """{configured path: `entry_digest`} of `dataset`'s entry (the describe record's sources)."""
    return {path: entry_digest(path) for path in _entry_paths(_entry(options, dataset))}


def _entry_paths(entry: str | dict[str, str]) -> list[str]:
    return list(dict.fromkeys([entry] if isinstance(entry, str) else entry.values()))


def _plan(entry: str | dict[str, str], frame: Any, query_rows: np.ndarray, where: str) -> list[tuple[str, np.ndarray]]:
    """(path, its query rows in manifest order) for each file of a dataset."""
    if isinstance(entry, str):
        return [(entry, query_rows)]
    sets = query_sets(frame)
    for key in entry:
        if key not in sets:
            raise ExternalDescriptorsError(
                f"{where}.{key}: the manifest has no query set `{key}`{closest_hint(key, sets)}; "
                f"its query sets: {', '.join(sets)}"
            )
    missing = [s for s in sets if s not in entry]
    if missing:
        raise ExternalDescriptorsError(
            f"{where} names no file for query set `{missing[0]}`: add `{where}.{missing[0]}: <path>`"
        )
    _distinct_files(entry, where)
    condition = frame["condition"].to_numpy()
    return [(entry[s], query_rows[condition[query_rows] == s]) for s in sets]


def _distinct_files(entry: dict[str, str], where: str) -> None:
    """Each query set's descriptors must differ from every other set's in their bytes: one file (or
    a copy of it) named for two sets would score the second set with the first set's rows."""
    first: dict[tuple[str, ...], str] = {}
    for query_set, path in entry.items():
        key = tuple(digest for _, digest in _contents(path))
        if key in first:
            other = first[key]
            same = "is the same file as" if path == entry[other] else "holds the same bytes as"
            raise ExternalDescriptorsError(
                f"{where}.{query_set}: {path} {same} {where}.{other} ({entry[other]}): each query set needs the "
                "descriptors of its own queries; give each set the file the tool wrote for it"
            )
        first[key] = query_set


def _same_database(first: np.ndarray, other: np.ndarray, first_path: str, other_path: str) -> None:
    """The database rows of two files of one dataset must agree (up to float noise)."""
    if first.shape != other.shape:
        raise ExternalDescriptorsError(
            f"{first_path} and {other_path} have database rows of different shapes ({first.shape} vs {other.shape})"
        )
    diff = float(np.abs(first - other).max()) if first.size else 0.0
    if diff > AGREE_RTOL * float(np.abs(first).max()):
        raise ExternalDescriptorsError(
            f"{first_path} and {other_path} hold different database rows (max difference {diff:.3g}): "
            "they were not made by the same model on the same database"
        )


def _read(
    cfg: Config, name: str, options: ExternalOptions, dataset: str, manifest: Manifest
) -> tuple[np.ndarray, np.ndarray]:
    """(reference (R, D), query (Q, D)) float32, in the manifest's order of reference and query rows."""
    frame = manifest.frame
    images = frame["image"].astype(str).tolist()
    ref_rows, query_rows = manifest.rows("reference"), manifest.rows("query")
    ref_images = [images[i] for i in ref_rows]
    plan = _plan(_entry(options, dataset, name), frame, query_rows, f"methods.{name}.descriptors.{dataset}")
    reference, first_path, query = None, "", None
    for path, rows in plan:
        ref, part = read_file(path, ref_images, [images[i] for i in rows], options.normalize)
        if reference is None:
            reference, first_path = ref, path
            query = np.empty((len(query_rows), ref.shape[1]), dtype=np.float32)
        else:
            _same_database(reference, ref, first_path, path)
        query[np.isin(query_rows, rows)] = part
    return reference, query


METHOD = MethodKind(
    kind="external",
    options=ExternalOptions,
    build=_build,
    label=_label,
    trains=False,
    uses_gpu=False,
    check=_check,
    read=_read,
    files=_files,
    digests=_digests,
)
