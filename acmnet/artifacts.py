"""The files that pass between steps: a typed save and load for each, with their provenance.

| file                     | made by   | type            | what it records it was made from                |
|--------------------------|-----------|-----------------|-------------------------------------------------|
| manifest.csv             | prepare   | `Manifest`      | the dataset settings                            |
| positives.npz            | positives | `Positives`     | the manifest, the ground-truth settings          |
| cache/images.npy + .json | cache     | `ImageCache`    | the manifest, the image size                    |
| checkpoint.pt            | train     | `Checkpoint`    | the training manifest and images, the settings  |
| descriptors.npz          | describe  | `Descriptors`   | the manifest, the images, the checkpoint         |
| retrieval.npz            | retrieve  | `Retrieval`     | the descriptors (and what they were made from)  |
| metrics.csv, curve.csv   | score     | `pd.DataFrame`  | the retrieval (and what it was made from)       |

Every file records a `Provenance`: the step, the settings it read (`Config.settings`) and the
digest of each input file, with the inputs' own provenance below them (their *lineage*, keys
such as `descriptors.checkpoint`). A load given the files the caller is combining checks them
against that lineage and refuses a mismatch (`ProvenanceError`, naming both files); a missing,
truncated or foreign file is an `ArtifactError` naming the file and the step to rerun. No step
reads an `.npz` or a checkpoint by its keys itself. CSV outputs keep their provenance in a JSON
file beside them (`metrics.provenance.json` for `metrics.csv`).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from acmnet import __version__
from acmnet.config import digest_of
from acmnet.data.positives import PositiveSets
from acmnet.io import atomic_path, atomic_write_text

FORMAT = 1  # version of the provenance record


class ArtifactError(ValueError):
    """A step's input file is missing, incomplete or not what it should be; the message says which step makes it."""


class ProvenanceError(ArtifactError):
    """Files given together were not made from each other; the message names both."""


def file_digest(path: Path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes, 16 hex digits."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()[:16]


# ---- provenance --------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """One file an artifact was made from, as it was then."""

    path: str
    digest: str


@dataclass(frozen=True)
class Provenance:
    """What an artifact was made from: `step`, the `settings` it read, and its input files'
    digests by lineage key (`manifest`, `checkpoint`, `descriptors.manifest`, ...)."""

    step: str
    settings: dict[str, Any]
    sources: dict[str, Source] = field(default_factory=dict)
    version: str = __version__
    created: str = ""
    format: int = FORMAT

    @property
    def settings_digest(self) -> str:
        return digest_of(self.settings)

    def find(self, kind: str) -> tuple[str, Source] | None:
        """The nearest source of `kind` in the lineage (fewest steps back), with its key."""
        keys = sorted((k for k in self.sources if k.split(".")[-1] == kind), key=lambda k: k.count("."))
        return (keys[0], self.sources[keys[0]]) if keys else None

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str, where: Path) -> Provenance:
        try:
            data = json.loads(text)
            data["sources"] = {k: Source(**v) for k, v in data.get("sources", {}).items()}
            return cls(**data)
        except (ValueError, TypeError, KeyError) as exc:
            raise ArtifactError(f"{where}: its provenance record cannot be read ({exc}); make the file again") from exc


def provenance(step: str, settings: dict[str, Any], **inputs: Any) -> Provenance:
    """The provenance of a new artifact of `step` made from `inputs` (artifacts, by kind)."""
    sources: dict[str, Source] = {}
    for kind, artifact in inputs.items():
        if artifact is None:
            continue
        sources[kind] = Source(str(artifact.path), artifact.digest)
        for key, source in artifact.provenance.sources.items():
            sources.setdefault(f"{kind}.{key}", source)
    return Provenance(step, settings, sources, created=time.strftime("%Y-%m-%dT%H:%M:%S%z"))


@dataclass(frozen=True)
class ExternalFile:
    """A file made outside the pipeline (another tool's descriptors), as a provenance source."""

    path: Path
    digest: str
    provenance: Provenance = field(default_factory=lambda: Provenance("external", {}))


def external_file(path: Path) -> ExternalFile:
    """`path` with its digest; ArtifactError when it is missing."""
    if not Path(path).is_file():
        raise ArtifactError(f"{path} does not exist: check the path in the method's `descriptors` option")
    return ExternalFile(Path(path), file_digest(path))


def check_made_from(artifact: Any, kind: str, source: Any) -> None:
    """`artifact` (with a provenance) must have been made from the file `source` (of `kind`)."""
    found = artifact.provenance.find(kind)
    if found is None:
        raise ProvenanceError(
            f"{artifact.path} does not record which {kind} it was made from, so it cannot be "
            f"checked against {source.path}: make it again with this version of acmnet"
        )
    _, recorded = found
    if recorded.digest != source.digest:
        raise ProvenanceError(
            f"{artifact.path} was made from {kind} {recorded.path} (digest {recorded.digest}), not from "
            f"{source.path} (digest {source.digest}): the files belong to different runs; rerun the "
            f"steps from {kind} on (or give the {kind} it was made from)"
        )


def _sidecar(path: Path) -> Path:
    return Path(path).with_suffix(".provenance.json")


def _write_csv(frame: pd.DataFrame, path: Path, prov: Provenance) -> str:
    """Write `frame` as CSV atomically, its provenance (with the CSV's digest) beside it; the digest."""
    path = Path(path)
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
        digest = file_digest(tmp)
        atomic_write_text(_sidecar(path), json.dumps({"digest": digest, "provenance": json.loads(prov.to_json())}))
    return digest


def _read_sidecar(path: Path) -> tuple[Provenance | None, str]:
    """(provenance or None when the CSV has no matching record, the CSV's digest)."""
    digest = file_digest(path)
    side = _sidecar(path)
    if not side.is_file():
        return None, digest
    try:
        record = json.loads(side.read_text())
    except ValueError:
        return None, digest
    if record.get("digest") != digest:
        return None, digest
    return Provenance.from_json(json.dumps(record["provenance"]), side), digest


# ---- manifest ----------------------------------------------------------------------------


@dataclass
class Manifest:
    """A dataset's manifest (see `acmnet.data.manifest`): `frame` and the CSV's digest."""

    frame: pd.DataFrame
    path: Path
    digest: str
    provenance: Provenance

    def rows(self, role: str) -> np.ndarray:
        """Row numbers (int64) of `role` (train / reference / query), in manifest order."""
        return np.flatnonzero(self.frame["role"].to_numpy() == role).astype(np.int64)


def save_manifest(frame: pd.DataFrame, path: Path, prov: Provenance) -> Manifest:
    from acmnet.data import manifest as mf

    frame = mf.validate(frame, str(path))
    digest = _write_csv(frame, Path(path), prov)
    return Manifest(frame, Path(path), digest, prov)


def load_manifest(path: Path) -> Manifest:
    from acmnet.data import manifest as mf

    path = Path(path)
    frame = mf.read(path)
    prov, digest = _read_sidecar(path)
    return Manifest(frame, path, digest, prov or Provenance("prepare", {}))


# ---- image cache ------------------------------------------------------------------------


@dataclass
class ImageCache:
    """A built cache, memory-mapped: `array[i]` is image `images[i]`, uint8 (H, W, 3).

    `row_digests[i]` is a digest of row i's pixels; `digest` covers every row.
    """

    array: np.ndarray
    images: list[str]
    row_digests: list[str]
    path: Path
    provenance: Provenance

    @property
    def digest(self) -> str:
        return digest_of(self.row_digests)

    def rows_for(self, frame: pd.DataFrame, source: str = "manifest") -> np.ndarray:
        """Cache row of each manifest row, int64 (len(frame),)."""
        index = {p: i for i, p in enumerate(self.images)}
        absent = [p for p in frame["image"] if p not in index]
        if absent:
            raise ProvenanceError(
                f"{len(absent)} image(s) of {source} are not in the image cache {self.path} (first: {absent[0]}): "
                "the cache was built from another manifest; rebuild it (acmnet cache)"
            )
        return np.array([index[p] for p in frame["image"]], dtype=np.int64)

    def rows_digest(self, rows: np.ndarray) -> str:
        """Digest of the pixels of cache rows `rows`, in that order."""
        return digest_of([self.row_digests[int(i)] for i in rows])


def pixel_digest(image: np.ndarray) -> str:
    """Digest of one cached image's pixels (shape and bytes), 16 hex digits."""
    return hashlib.blake2b(str(image.shape).encode() + image.tobytes(), digest_size=8).hexdigest()


def _spot_check(cache: ImageCache, rows: int = 8) -> bool:
    """Whether a few evenly spaced rows hold the pixels the index recorded for them."""
    picked = np.unique(np.linspace(0, len(cache.images) - 1, min(rows, len(cache.images))).astype(int))
    return all(pixel_digest(np.asarray(cache.array[i])) == cache.row_digests[i] for i in picked)


def cache_meta_path(cache_path: Path) -> Path:
    return Path(cache_path).with_suffix(".json")


def write_cache_meta(
    out: Path, images: list[str], image_size: tuple[int, int], row_digests: list[str], prov: Provenance
) -> None:
    """Write the `.json` that completes cache `out` (its rows are `images`, in order); written last,
    with the size of the array it describes (and a digest of every row, spot-checked on load), so an
    index never passes for another array."""
    meta = {
        "images": list(images),
        "image_size": list(image_size),
        "row_digests": list(row_digests),
        "bytes": Path(out).stat().st_size,
        "provenance": json.loads(prov.to_json()),
    }
    atomic_write_text(cache_meta_path(out), json.dumps(meta))


def load_cache(path: Path, manifest: Manifest | None = None) -> ImageCache:
    """Open a built cache (memory-mapped); with `manifest`, it must have been built from it."""
    path, meta_path = Path(path), cache_meta_path(path)
    if not path.is_file() or not meta_path.is_file():
        raise ArtifactError(
            f"image cache {path} is missing or incomplete (no {meta_path.name}): run `acmnet cache` again"
        )
    try:
        meta = json.loads(meta_path.read_text())
        array = np.load(path, mmap_mode="r")
        prov = Provenance.from_json(json.dumps(meta["provenance"]), meta_path)
        cache = ImageCache(array, meta["images"], meta["row_digests"], path, prov)
    except (ValueError, KeyError, OSError) as exc:
        raise ArtifactError(f"image cache {path} cannot be read ({exc}): run `acmnet cache` again") from exc
    if meta.get("bytes") != path.stat().st_size or array.shape[0] != len(cache.images) or not _spot_check(cache):
        raise ArtifactError(
            f"image cache {path} is not the array its index {meta_path.name} describes (an interrupted or "
            "concurrent `acmnet cache`, or a file copied over it): run `acmnet cache` again"
        )
    if manifest is not None:
        check_made_from(cache, "manifest", manifest)
    return cache


# ---- checkpoint --------------------------------------------------------------------------


@dataclass
class Checkpoint:
    """A finished model (`checkpoint.pt`): weights, the settings that made it, its provenance."""

    model_state: dict[str, Any]
    model_config: dict[str, Any]
    train_config: dict[str, Any]
    info: dict[str, Any]  # method, epochs, steps, world size
    path: Path
    digest: str
    provenance: Provenance


def save_checkpoint(
    path: Path,
    model_state: dict[str, Any],
    model_config: dict[str, Any],
    train_config: dict[str, Any],
    info: dict[str, Any],
    prov: Provenance,
) -> None:
    import torch

    state = {
        "model": model_state,
        "model_config": model_config,
        "train_config": train_config,
        "info": info,
        "provenance": prov.to_json(),
        "kind": "acmnet-checkpoint",
    }
    with atomic_path(Path(path)) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: Path) -> Checkpoint:
    """A checkpoint written by `acmnet train` (loaded on the CPU, tensors only)."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"checkpoint {path} does not exist: train the method first (acmnet train)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ArtifactError(
            f"{path} is not an acmnet checkpoint ({type(exc).__name__}): give the checkpoint.pt "
            "written by `acmnet train`"
        ) from exc
    if not isinstance(state, dict) or state.get("kind") != "acmnet-checkpoint":
        hint = (
            " (it is a resumable training state, last.pt)" if isinstance(state, dict) and "optimizer" in state else ""
        )
        raise ArtifactError(
            f"{path} is not a finished acmnet checkpoint{hint}: give the checkpoint.pt written by `acmnet train`"
        )
    prov = Provenance.from_json(state["provenance"], path)
    return Checkpoint(
        state["model"], state["model_config"], state["train_config"], state["info"], path, file_digest(path), prov
    )


# ---- descriptors and retrieval -----------------------------------------------------------


@dataclass
class Descriptors:
    """L2-normalised descriptors: `reference` (R, D) and `query` (Q, D) float32, with the manifest
    row of each (`reference_rows`, `query_rows`, int64)."""

    reference: np.ndarray
    query: np.ndarray
    reference_rows: np.ndarray
    query_rows: np.ndarray
    path: Path
    digest: str
    provenance: Provenance


@dataclass
class Retrieval:
    """Top-K references per query: `indices` (Q, K) int64 positions in the reference set, best
    first, and `scores` (Q, K) float32 cosine similarities, with both sets' manifest rows."""

    indices: np.ndarray
    scores: np.ndarray
    reference_rows: np.ndarray
    query_rows: np.ndarray
    path: Path
    digest: str
    provenance: Provenance


@dataclass
class Positives:
    """Each query's positive references (`acmnet.data.positives.PositiveSets`, queries in manifest
    order), with both sets' manifest rows."""

    sets: PositiveSets
    reference_rows: np.ndarray
    query_rows: np.ndarray
    path: Path
    digest: str
    provenance: Provenance


_NPZ_FIELDS = {
    "descriptors": ("reference", "query", "reference_rows", "query_rows"),
    "retrieval": ("indices", "scores", "reference_rows", "query_rows"),
    "positives": ("indptr", "indices", "reference_rows", "query_rows"),
}
_MADE_BY = {"descriptors": "acmnet describe", "retrieval": "acmnet retrieve", "positives": "acmnet positives"}


def _save_npz(path: Path, arrays: dict[str, np.ndarray], prov: Provenance) -> str:
    with atomic_path(Path(path)) as tmp:
        np.savez(tmp, provenance=np.array(prov.to_json()), **arrays)
        return file_digest(tmp)


def _load_npz(path: Path, kind: str) -> tuple[dict[str, np.ndarray], Provenance, str]:
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{kind} file {path} does not exist: run `{_MADE_BY[kind]}` first")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in (*_NPZ_FIELDS[kind], "provenance")}
    except KeyError as exc:
        raise ArtifactError(f"{path} is not a {kind} file (it lacks {exc}): run `{_MADE_BY[kind]}` again") from exc
    except (zipfile.BadZipFile, EOFError, ValueError, OSError) as exc:
        raise ArtifactError(f"{path} is truncated or not a {kind} file ({exc}): run `{_MADE_BY[kind]}` again") from exc
    prov = Provenance.from_json(str(arrays.pop("provenance")), path)
    return arrays, prov, file_digest(path)


def _check_rows(artifact: Any, manifest: Manifest) -> None:
    """The artifact's row numbers must be the manifest's reference and query rows."""
    for role in ("reference", "query"):
        rows = getattr(artifact, f"{role}_rows")
        if not np.array_equal(rows, manifest.rows(role)):
            raise ProvenanceError(
                f"{artifact.path} holds {len(rows)} {role} rows that are not the {role} rows of "
                f"{manifest.path}: rerun describe and retrieve for this manifest"
            )


def save_descriptors(
    path: Path,
    reference: np.ndarray,
    query: np.ndarray,
    reference_rows: np.ndarray,
    query_rows: np.ndarray,
    prov: Provenance,
) -> Descriptors:
    arrays = {"reference": reference, "query": query, "reference_rows": reference_rows, "query_rows": query_rows}
    digest = _save_npz(path, arrays, prov)
    return Descriptors(**arrays, path=Path(path), digest=digest, provenance=prov)


def load_descriptors(path: Path, manifest: Manifest | None = None) -> Descriptors:
    """Descriptors file; with `manifest`, it must have been made from it."""
    arrays, prov, digest = _load_npz(path, "descriptors")
    out = Descriptors(**arrays, path=Path(path), digest=digest, provenance=prov)
    if manifest is not None:
        check_made_from(out, "manifest", manifest)
        _check_rows(out, manifest)
    return out


def save_retrieval(
    path: Path,
    indices: np.ndarray,
    scores: np.ndarray,
    reference_rows: np.ndarray,
    query_rows: np.ndarray,
    prov: Provenance,
) -> Retrieval:
    arrays = {"indices": indices, "scores": scores, "reference_rows": reference_rows, "query_rows": query_rows}
    digest = _save_npz(path, arrays, prov)
    return Retrieval(**arrays, path=Path(path), digest=digest, provenance=prov)


def load_retrieval(path: Path, manifest: Manifest | None = None, descriptors: Descriptors | None = None) -> Retrieval:
    """Retrieval file; with `manifest` / `descriptors`, it must have been made from them."""
    arrays, prov, digest = _load_npz(path, "retrieval")
    out = Retrieval(**arrays, path=Path(path), digest=digest, provenance=prov)
    if manifest is not None:
        check_made_from(out, "manifest", manifest)
        _check_rows(out, manifest)
    if descriptors is not None:
        check_made_from(out, "descriptors", descriptors)
    return out


def save_positives(
    path: Path, sets: PositiveSets, reference_rows: np.ndarray, query_rows: np.ndarray, prov: Provenance
) -> Positives:
    arrays = {
        "indptr": sets.indptr,
        "indices": sets.indices,
        "reference_rows": reference_rows,
        "query_rows": query_rows,
    }
    digest = _save_npz(path, arrays, prov)
    return Positives(sets, reference_rows, query_rows, Path(path), digest, prov)


def load_positives(path: Path, manifest: Manifest | None = None) -> Positives:
    """Positives file; with `manifest`, it must have been made from it."""
    arrays, prov, digest = _load_npz(path, "positives")
    indptr, indices = arrays["indptr"].astype(np.int64), arrays["indices"].astype(np.int64)
    n_refs, n_queries = len(arrays["reference_rows"]), len(arrays["query_rows"])
    if len(indptr) != n_queries + 1 or indptr[-1] != len(indices) or (len(indices) and indices.max() >= n_refs):
        raise ArtifactError(f"{path} is not a consistent positives file: run `acmnet positives` again")
    sets = PositiveSets(indptr, indices, n_refs)
    out = Positives(sets, arrays["reference_rows"], arrays["query_rows"], Path(path), digest, prov)
    if manifest is not None:
        check_made_from(out, "manifest", manifest)
        _check_rows(out, manifest)
    return out


# ---- tables ------------------------------------------------------------------------------


def save_table(frame: pd.DataFrame, path: Path, prov: Provenance) -> str:
    """A results CSV (metrics, recall curve, pose accuracy) with its provenance beside it; its digest."""
    return _write_csv(frame, Path(path), prov)


def table_provenance(path: Path) -> Provenance | None:
    """The provenance recorded beside a results CSV, or None (absent, or for another version of the file)."""
    return _read_sidecar(Path(path))[0]


METRICS_COLUMNS = ("dataset", "queries", "method", "n_queries", "n_references", "tolerance")
CURVE_COLUMNS = ("dataset", "queries", "method", "N", "recall")


def _read_results_csv(path: Path, what: str) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} file not found: {path}")
    try:
        frame = pd.read_csv(path, keep_default_na=False)  # `n/a` is named as written, not read as NaN
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{path}: not a readable CSV {what} file: {exc}") from exc
    if frame.empty:
        raise ArtifactError(f"{path}: the {what} file has no rows")
    return frame


def _shown(value: object) -> str:
    """A cell as it reads in the file: text quoted, numbers plain."""
    return repr(value) if isinstance(value, str) else f"{value:g}" if isinstance(value, float) else str(value)


def _numbers(path: Path, frame: pd.DataFrame, column: str, lo: float, hi: float | None = None) -> pd.Series:
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = values.isna() | (values < lo) | ((values > hi) if hi is not None else False)
    if bad.any():
        first = bad.to_numpy().nonzero()[0][0]
        limits = f"in [{lo:g}, {hi:g}]" if hi is not None else f">= {lo:g}"
        raise ArtifactError(
            f"{path}: column {column!r} must hold numbers {limits}; got {_shown(frame[column].iloc[first])} "
            f"on data row {first + 1}"
        )
    return values.astype(float)


def _check_percent_scale(path: Path, frame: pd.DataFrame, columns: list[str]) -> None:
    """Recall in [0, 1] everywhere looks like fractions, which would be shown as < 1 %."""
    values = frame[columns].to_numpy(dtype=float)
    if values.max() <= 1.0 and values.max() > 0 and table_provenance(path) is None:
        raise ArtifactError(
            f"{path}: every recall value is at most 1 ({', '.join(columns)}): these look like fractions, "
            "but metrics files hold percentages (0-100); multiply them by 100"
        )


def load_metrics(paths: list[Path]) -> pd.DataFrame:
    """Metrics files (as `acmnet score` writes them), validated and concatenated in order.

    Refused, naming the file: a missing or unreadable file, missing columns, a recall that is not
    a number in [0, 100] (or that looks like a fraction), counts that are not numbers, and a
    (dataset, queries, method) that appears twice in one file or across files.
    """
    frames, seen = [], {}
    for path in map(Path, paths):
        frame = _read_results_csv(path, "metrics")
        missing = [c for c in METRICS_COLUMNS if c not in frame.columns]
        recall = [c for c in frame.columns if re.fullmatch(r"R@\d+(_lo|_hi)?", str(c))]
        if missing or not recall:
            raise ArtifactError(
                f"{path}: metrics file lacks column(s) {missing or ['R@N']} (has {list(frame.columns)}; "
                f"expected {list(METRICS_COLUMNS)} and R@N columns)"
            )
        for c in ("dataset", "queries", "method"):
            frame[c] = frame[c].astype(str)
        for c in recall:
            frame[c] = _numbers(path, frame, c, 0.0, 100.0)
        _check_percent_scale(path, frame, recall)
        for c in ("n_queries", "n_references", "tolerance"):
            frame[c] = _numbers(path, frame, c, 0.0).astype(int)
        for key in zip(frame["dataset"], frame["queries"], frame["method"]):
            if key in seen:
                where = "twice in this file" if seen[key] == path else f"also in {seen[key]}"
                raise ArtifactError(
                    f"{path}: dataset {key[0]!r} (queries {key[1]!r}) appears {where} for method "
                    f"{key[2]!r}; each (dataset, queries, method) must appear once"
                )
            seen[key] = path
        frames.append(frame)
    if not frames:
        raise ArtifactError("no metrics files given")
    return pd.concat(frames, ignore_index=True)


def load_curves(paths: list[Path]) -> pd.DataFrame:
    """Recall-curve files (as `acmnet score` writes them), validated and concatenated."""
    frames = []
    for path in map(Path, paths):
        frame = _read_results_csv(path, "recall curve")
        missing = [c for c in CURVE_COLUMNS if c not in frame.columns]
        if missing:
            raise ArtifactError(f"{path}: recall curve file lacks column(s) {missing}; expected {list(CURVE_COLUMNS)}")
        frame["recall"] = _numbers(path, frame, "recall", 0.0, 100.0)
        frame["N"] = _numbers(path, frame, "N", 1.0).astype(int)
        frames.append(frame)
    if not frames:
        raise ArtifactError("no recall curve files given")
    return pd.concat(frames, ignore_index=True)


RANKS_COLUMNS = ("dataset", "queries", "method", "query_row", "first_hit")


def load_ranks(paths: list[Path]) -> pd.DataFrame:
    """Per-query first-hit rank files (as `acmnet score --ranks-out` writes them), checked and concatenated."""
    frames = []
    for path in map(Path, paths):
        frame = _read_results_csv(path, "ranks")
        missing = [c for c in RANKS_COLUMNS if c not in frame.columns]
        if missing:
            raise ArtifactError(f"{path}: ranks file lacks column(s) {missing}; expected {list(RANKS_COLUMNS)}")
        for column in ("query_row", "first_hit"):
            frame[column] = _numbers(path, frame, column, 0.0).astype(int)
        for column in ("dataset", "queries", "method"):
            frame[column] = frame[column].astype(str)
        frames.append(frame)
    if not frames:
        raise ArtifactError("no ranks files given")
    return pd.concat(frames, ignore_index=True)
