"""The files that pass between steps: a typed save and load for each, with their provenance.

| file                     | made by   | type           | what it records it was made from                           |
|--------------------------|-----------|----------------|------------------------------------------------------------|
| manifest.csv             | prepare   | `Manifest`     | the dataset settings                                       |
| positives.npz            | positives | `Positives`    | the manifest, the ground-truth settings                    |
| cache/images.npy + .json | cache     | `ImageCache`   | the manifest, the image size (and the array's digest)      |
| checkpoint.pt            | train     | `Checkpoint`   | the training manifest and images, the settings, the method |
| descriptors/part-*       | describe  | `Descriptors`  | the manifest, the pixels, the checkpoint, the method       |
| retrieval.npz            | retrieve  | `Retrieval`    | the descriptors (and what they were made from), the method |
| metrics.csv, curve.csv   | score     | `pd.DataFrame` | the retrieval (and what it was made from), the method      |

Every file records a `Provenance`: the step, the settings it read (`Config.settings`) and the
digest of each input file, with the inputs' own provenance below them (their *lineage*, keys
such as `descriptors.checkpoint`). A load given the files the caller is combining checks them
against that lineage and refuses a mismatch (`ProvenanceError`, naming both files); a missing,
truncated or foreign file is an `ArtifactError` naming the file and the step to rerun. No step
reads an `.npz` or a checkpoint by its keys itself.

Descriptors are written in parts, one per describe job (`evaluate.describe_shards`, one by
default): `descriptors/part-<s>-of-<K>.reference.npy` and `.query.npy`, plain float32 arrays that
every reader memory-maps, and `part-<s>-of-<K>.json`, the part's record, written last: its shard,
the positions of its rows in the whole set, their manifest rows, each array's shape, size and
digest (checked on every load), the digest of the pixels it described, and the provenance (the
same for every part of a run). `load_descriptors` takes the parts (their records, or the folder)
and gives one `Descriptors`: every part present once, their slices contiguous, all made by the
same run, or an error naming the part to redo. CSV outputs keep their provenance in a JSON
file beside them (`metrics.provenance.json` for `metrics.csv`), with the CSV's digest: a CSV
whose bytes no longer match its record (a row deleted, a value edited) is an `ArtifactError`
naming the file and the step to rerun, never read as if the record were absent. A CSV with no
record at all is read only where a hand-made file is a documented input (metrics, recall curve
and ranks files: `acmnet report`, `acmnet tables --metrics`); a manifest must have its record.

Every file also records the *method* it was made for: a checkpoint in `info["method"]` (with its
training settings in its provenance), descriptors, retrievals and the tables made from them in
their settings' `method_name`. The steps given a method (`describe`, `retrieve`, `score`,
`localize`, `gradcam`, `figure-retrievals`) check it (`check_method`, and `check_trained_for` for
a checkpoint's training settings), so two methods' files swapped are refused, never scored as
each other's rows.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import shutil
import time
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
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


def check_external_sources(prov: Provenance, where: Path) -> None:
    """Another tool's files that descriptors were read from (sources `external<i>`, at any depth of
    the lineage) must still hold what they held then, by content (`acmnet.methods.external.entry_digest`):
    one replaced, even under its old modification time (`cp -p`, `rsync -t`), is a ProvenanceError
    naming it. Descriptors and retrievals are checked on every load (what retrieve, score, localize
    and the figures read); the CSV tables are not, so results copied without those files still report."""
    external = list(dict.fromkeys(v for k, v in prov.sources.items() if re.fullmatch(r"(.*\.)?external\d+", k)))
    if not external:
        return
    from acmnet.methods.external import entry_digest  # the forms' lists of files live with the forms

    for source in external:
        try:
            now = entry_digest(source.path)
        except ValueError as exc:
            raise ArtifactError(f"{where} was made from {source.path}, which cannot be read now ({exc})") from None
        if now != source.digest:
            raise ProvenanceError(
                f"{where} was made from {source.path} with content digest {source.digest}, but its files now "
                f"give {now}: they were replaced or edited since (or an older acmnet described them); describe "
                "again (Snakemake reruns describe and every step after it)"
            )


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


_STEP_OF = {"checkpoint": "acmnet train", "descriptors": "acmnet describe", "retrieval": "acmnet retrieve"}


def made_for(artifact: Any) -> str | None:
    """The method `artifact` was made for: a checkpoint's `info["method"]`, any other file's
    `method_name` setting; None when it does not record one (a file of an older acmnet)."""
    info = getattr(artifact, "info", None)
    if isinstance(info, dict):
        return info.get("method")
    return artifact.provenance.settings.get("method_name")


def check_method(artifact: Any, kind: str, method: str) -> None:
    """`artifact` (a `kind`: checkpoint, descriptors, retrieval) must have been made for `method`."""
    recorded = made_for(artifact)
    step = _STEP_OF.get(kind, "the step that made it")
    if recorded is None:
        raise ProvenanceError(
            f"{artifact.path} does not record which method it was made for, so it cannot be checked against "
            f"method {method}: make it again with this version of acmnet (`{step} --method {method}`)"
        )
    if recorded != method:
        raise ProvenanceError(
            f"{artifact.path} was made for method {recorded}, not {method}: the {kind} files of two methods were "
            f"swapped; give {method}'s own {kind} (or rerun `{step} --method {method}`)"
        )


def check_trained_for(checkpoint: Checkpoint, method: str, settings: dict[str, Any]) -> None:
    """`checkpoint` must have been trained with the training settings `settings`
    (`Config.settings("train", method=method)`) that the config gives `method` now: a checkpoint
    of another method, or a stale one of the same name, is refused. Rows whose training settings
    are equal share one training run (its folder is named by those settings), so a checkpoint
    first trained for another such row is the same model and is accepted."""
    recorded = {k: v for k, v in checkpoint.provenance.settings.items() if k != "train_images"}
    if digest_of(recorded) == digest_of(settings):
        return
    made_for = checkpoint.info.get("method")
    differ = sorted(k for k in {*recorded, *settings} if digest_of(recorded.get(k)) != digest_of(settings.get(k)))
    whose = f"for method {made_for}" if made_for == method else f"for method {made_for}, not {method},"
    raise ProvenanceError(
        f"{checkpoint.path} was trained {whose} with other settings than the config gives {method} "
        f"(training settings digest {digest_of(recorded)}, not {digest_of(settings)}; differing: "
        f"{', '.join(differ)}): a stale or foreign checkpoint; train it again (`acmnet train --method {method}`)"
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


def _read_sidecar(path: Path, made_by: str, required: bool = True) -> tuple[Provenance | None, str]:
    """(the CSV's provenance, its digest); None for a CSV without a record when not `required`.

    A record that cannot be read, or whose digest is not the CSV's (the file was edited or damaged
    after `made_by` wrote it), is an ArtifactError naming the file and the step to rerun."""
    path = Path(path)
    digest = file_digest(path)
    side = _sidecar(path)
    if not side.is_file():
        if required:
            raise ArtifactError(
                f"{path} has no provenance record ({side.name}) beside it, so what it was made from cannot be "
                f"checked: it was not written by `{made_by}` (or its record was removed); run `{made_by}` to make it"
            )
        return None, digest
    try:
        record = json.loads(side.read_text())
        prov = Provenance.from_json(json.dumps(record["provenance"]), side)
        recorded = record["digest"]
    except (ValueError, TypeError, KeyError) as exc:
        raise ArtifactError(
            f"{side}, the provenance record of {path}, cannot be read ({exc}): run `{made_by}` again"
        ) from exc
    if recorded != digest:
        step = f"acmnet {prov.step}" if prov.step else made_by
        raise ArtifactError(
            f"{path} was changed after `{step}` wrote it (its digest is {digest}, its record {side.name} says "
            f"{recorded}): a hand-edited or damaged file is not read; run `{step}` again"
        )
    return prov, digest


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
    if not path.is_file():
        mf.read(path)  # names the file and `acmnet prepare`
    prov, digest = _read_sidecar(path, "acmnet prepare")
    return Manifest(mf.read(path), path, digest, prov)


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


def _verify_rows(cache: ImageCache) -> bool:
    """Whether every row holds the pixels the index recorded for it (caches built before the index
    recorded a content digest)."""
    return all(pixel_digest(np.asarray(cache.array[i])) == digest for i, digest in enumerate(cache.row_digests))


def cache_meta_path(cache_path: Path) -> Path:
    return Path(cache_path).with_suffix(".json")


def write_cache_meta(
    out: Path,
    images: list[str],
    image_size: tuple[int, int],
    row_digests: list[str],
    prov: Provenance,
    content_digest: str | None = None,
) -> None:
    """Write the `.json` that completes cache `out` (its rows are `images`, in order); written last,
    with the size of the array it describes and the digest of its bytes (`content_digest`: taken
    by `build_cache` from the array it wrote, before the rename, so a concurrent build's array
    never passes under this index; the file's own digest when not given), so an index never
    passes for another array."""
    meta = {
        "images": list(images),
        "image_size": list(image_size),
        "row_digests": list(row_digests),
        "bytes": Path(out).stat().st_size,
        "content_digest": content_digest or file_digest(out),
        "provenance": json.loads(prov.to_json()),
    }
    atomic_write_text(cache_meta_path(out), json.dumps(meta))


def load_cache(path: Path, manifest: Manifest | None = None) -> ImageCache:
    """Open a built cache (memory-mapped); with `manifest`, it must have been built from it.

    The whole array is verified on every load, not a sample of rows: its size, then the SHA-256 of
    all its bytes (header and every row) against the digest the index recorded when the cache was
    built. Hashing is cheap beside what a step does with the cache: SHA-256 runs at about
    1.5 GB/s (measured: 20 ms for the demo's 15 MB cache; about 3 s for a 4.5 GB cache of 30k
    images at 224x224, which a describe or training step then reads anyway, mostly from the page
    cache the hash just filled). A cheaper key (size and mtime, with the full hash only when they
    change) was not chosen: an in-place edit or a copy that keeps the mtime (`cp -p`, `rsync -a`,
    a restored backup) passes it, a coarse-mtime file system hides a rewrite within its tick, and
    remembering "verified at this mtime" means readers writing beside the cache while parallel
    jobs read it. An index written before content digests is checked row by row against its
    recorded pixel digests instead (every row, as complete, a little slower).
    """
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
    content = meta.get("content_digest")
    if (
        meta.get("bytes") != path.stat().st_size
        or array.shape[0] != len(cache.images)
        or len(cache.row_digests) != len(cache.images)
        or (file_digest(path) != content if content else not _verify_rows(cache))
    ):
        raise ArtifactError(
            f"image cache {path} is not the array its index {meta_path.name} describes (an interrupted or "
            "concurrent `acmnet cache`, a file copied over it, or rows changed since it was built): "
            "run `acmnet cache` again"
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
    with atomic_path(Path(path)) as tmp, open(tmp, "wb") as fh:
        torch.save(state, fh)  # through a Python file: a full disk is OSError(ENOSPC), not torch's RuntimeError


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
    timing: dict[str, Any] | None = None  # the retrieve step's wall time (`record_timing`); None if not recorded


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
    "retrieval": ("indices", "scores", "reference_rows", "query_rows"),
    "positives": ("indptr", "indices", "reference_rows", "query_rows"),
}
_MADE_BY = {"retrieval": "acmnet retrieve", "positives": "acmnet positives"}


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


TIMING_KEY = "timing"  # an optional member of a retrieval.npz: the step's wall time, outside the provenance


def record_timing(path: Path, seconds: float, items: int, device: str) -> None:
    """Add the wall time of the step that wrote the `.npz` at `path` (`seconds` for `items` queries
    on `device`) to that file, as its `timing` member (JSON), atomically; the arrays and the
    provenance stay as they were."""
    timing = {"seconds": float(seconds), "items": int(items), "device": device}
    with atomic_path(Path(path)) as tmp:
        shutil.copyfile(path, tmp)
        with zipfile.ZipFile(tmp, "a") as archive, archive.open(f"{TIMING_KEY}.npy", "w") as fh:
            np.lib.format.write_array(fh, np.array(json.dumps(timing)))


def _timing_of(path: Path) -> dict[str, Any] | None:
    """The `timing` member of an `.npz` (`record_timing`), or None when it has none."""
    with np.load(path, allow_pickle=False) as data:
        return json.loads(str(data[TIMING_KEY])) if TIMING_KEY in data.files else None


def _check_rows(artifact: Any, manifest: Manifest) -> None:
    """The artifact's row numbers must be the manifest's reference and query rows."""
    for role in ("reference", "query"):
        rows = getattr(artifact, f"{role}_rows")
        if not np.array_equal(rows, manifest.rows(role)):
            raise ProvenanceError(
                f"{artifact.path} holds {len(rows)} {role} rows that are not the {role} rows of "
                f"{manifest.path}: rerun describe and retrieve for this manifest"
            )


# ---- descriptors, in parts -----------------------------------------------------------------

PART_KIND = "acmnet-descriptor-part"
ROLES = ("reference", "query")
_PART_RECORD = re.compile(r"part-(\d{4,})-of-(\d{4,})\.json")


def part_files(folder: Path, shard: int, shards: int) -> dict[str, Path]:
    """The files of part `shard` of `shards` in `folder`: `record` (.json) and one .npy per role."""
    if shards < 1:
        raise ValueError(f"descriptors are written in at least one part, not {shards}")
    if not 0 <= shard < shards:
        raise ValueError(f"shard {shard} of {shards} does not exist: shards are numbered 0 to {shards - 1}")
    stem = f"part-{shard:04d}-of-{shards:04d}"
    return {
        "record": Path(folder) / f"{stem}.json",
        "reference": Path(folder) / f"{stem}.reference.npy",
        "query": Path(folder) / f"{stem}.query.npy",
    }


def shard_slice(n: int, shard: int, shards: int) -> slice:
    """Positions of shard `shard` of `shards` among `n` rows: contiguous, in order, sizes within one."""
    return slice(n * shard // shards, n * (shard + 1) // shards)


@dataclass
class DescriptorPart:
    """One describe job's part: `reference` (r, D) and `query` (q, D) float32, L2-normalised,
    memory-mapped from their .npy files; their manifest rows; the part's `shard` of `shards` and
    `starts`, the positions of its first rows in the whole set (per role); `pixels`, the digest of
    the pixels it described per role (`ImageCache.rows_digest` of the same rows), None for another
    tool's descriptors. `path` is its record, `digest` the record's (which holds the arrays')."""

    reference: np.ndarray
    query: np.ndarray
    reference_rows: np.ndarray
    query_rows: np.ndarray
    shard: int
    shards: int
    starts: dict[str, int]
    pixels: dict[str, str] | None
    path: Path
    digest: str
    provenance: Provenance
    timing: dict[str, Any] | None = None  # the describe job's wall time: seconds, images, device; None: not timed


@dataclass
class Descriptors:
    """L2-normalised descriptors of a manifest's reference and query images, for one method: the
    parts of one describe run in shard order (one part when `evaluate.describe_shards` is 1).

    `reference_parts` are the parts' reference arrays as they are (memory-mapped: what retrieval
    searches, in a memory bound); `query` and `reference` are the whole sets in memory (the
    reference set read from every part: for sequence matching and small sets). `reference_rows`,
    `query_rows`: the manifest row of each, int64. `path`: the parts' folder; `digest`: of the
    parts' records; `provenance`: the run's, the same in every part."""

    parts: list[DescriptorPart]
    path: Path
    digest: str
    provenance: Provenance

    @cached_property
    def reference_rows(self) -> np.ndarray:
        return np.concatenate([p.reference_rows for p in self.parts]).astype(np.int64)

    @cached_property
    def query_rows(self) -> np.ndarray:
        return np.concatenate([p.query_rows for p in self.parts]).astype(np.int64)

    @property
    def dim(self) -> int:
        return next((a.shape[1] for p in self.parts for a in (p.reference, p.query) if len(a)), 0)

    @property
    def reference_parts(self) -> list[np.ndarray]:
        """The reference arrays of the parts that hold references, memory-mapped, in order."""
        return [p.reference for p in self.parts if len(p.reference)]

    @property
    def n_references(self) -> int:
        return sum(len(p.reference) for p in self.parts)

    @cached_property
    def query(self) -> np.ndarray:
        return self._whole("query")

    @cached_property
    def reference(self) -> np.ndarray:
        return self._whole("reference")

    def _whole(self, role: str) -> np.ndarray:
        arrays = [getattr(p, role) for p in self.parts if len(getattr(p, role))]
        if not arrays:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.concatenate(arrays).astype(np.float32, copy=False)


class DescriptorPartWriter:
    """What `descriptor_part_writer` yields: `array(role, rows, dim)` opens a role's array (float32,
    memory-mapped under a temporary name) to be filled; `finish(...)` gives what the record holds."""

    def __init__(self, tmp: dict[str, Path]):
        self._tmp = tmp
        self._arrays: dict[str, np.ndarray] = {}
        self.record: dict[str, Any] | None = None
        self.part: DescriptorPart | None = None

    def array(self, role: str, rows: int, dim: int) -> np.ndarray:
        array = np.lib.format.open_memmap(self._tmp[role], mode="w+", dtype=np.float32, shape=(rows, dim))
        self._arrays[role] = array
        return array

    def finish(
        self,
        reference_rows: np.ndarray,
        query_rows: np.ndarray,
        prov: Provenance,
        starts: dict[str, int] | None = None,
        pixels: dict[str, str] | None = None,
        timing: dict[str, Any] | None = None,
    ) -> None:
        self.record = {
            "timing": timing,
            "reference_rows": np.asarray(reference_rows, dtype=np.int64).tolist(),
            "query_rows": np.asarray(query_rows, dtype=np.int64).tolist(),
            "starts": {role: int((starts or {}).get(role, 0)) for role in ROLES},
            "pixels": pixels,
            "provenance": json.loads(prov.to_json()),
        }

    def _close(self) -> dict[str, dict[str, Any]]:
        """Flush the arrays (a role never opened gets (0, D)); each one's entry in the record."""
        dim = next((a.shape[1] for a in self._arrays.values()), 0)
        entries = {}
        for role in ROLES:
            if role not in self._arrays:
                self.array(role, 0, dim)
            array = self._arrays.pop(role)
            array.flush()
            shape = list(array.shape)
            del array
            rows = len(self.record[f"{role}_rows"])
            if shape[0] != rows:
                raise ValueError(f"{role} array of {shape[0]} rows given for {rows} {role} rows")
            tmp = self._tmp[role]
            entries[role] = {"shape": shape, "bytes": tmp.stat().st_size, "digest": file_digest(tmp)}
        return entries


@contextlib.contextmanager
def descriptor_part_writer(folder: Path, shard: int, shards: int) -> Iterator[DescriptorPartWriter]:
    """Write part `shard` of `shards` into `folder`: fill the arrays the writer opens, call its
    `finish`; on leaving the block the arrays are renamed into place and the record is written
    last (then `writer.part` is the part, as it loads). An error or a stop signal in the block
    leaves no array under its final name and no record."""
    files = part_files(folder, shard, shards)
    files["record"].unlink(missing_ok=True)  # an earlier record never passes for the arrays written now
    with atomic_path(files["reference"]) as ref_tmp, atomic_path(files["query"]) as query_tmp:
        writer = DescriptorPartWriter({"reference": ref_tmp, "query": query_tmp})
        yield writer
        if writer.record is None:
            raise RuntimeError("descriptor_part_writer: the block ended without finish()")
        entries = writer._close()
    record = {"kind": PART_KIND, "shard": shard, "shards": shards, **writer.record}
    for role in ROLES:
        record[role] = {"file": files[role].name, **entries[role]}
    atomic_write_text(files["record"], json.dumps(record))
    writer.part = load_descriptor_part(files["record"])


def save_descriptor_part(
    folder: Path,
    shard: int,
    shards: int,
    reference: np.ndarray,
    query: np.ndarray,
    reference_rows: np.ndarray,
    query_rows: np.ndarray,
    prov: Provenance,
    starts: dict[str, int] | None = None,
    pixels: dict[str, str] | None = None,
) -> DescriptorPart:
    """Part `shard` of `shards` of arrays in memory (`descriptor_part_writer` streams them)."""
    with descriptor_part_writer(folder, shard, shards) as writer:
        for role, array in (("reference", reference), ("query", query)):
            array = np.asarray(array, dtype=np.float32)
            if array.ndim != 2:
                raise ValueError(f"{role} descriptors must be a 2-d array, not of shape {array.shape}")
            writer.array(role, *array.shape)[:] = array
        writer.finish(reference_rows, query_rows, prov, starts, pixels)
    return writer.part


def save_descriptors(
    folder: Path,
    reference: np.ndarray,
    query: np.ndarray,
    reference_rows: np.ndarray,
    query_rows: np.ndarray,
    prov: Provenance,
) -> Descriptors:
    """Descriptors held in memory, as one part (shard 0 of 1) in `folder`."""
    part = save_descriptor_part(folder, 0, 1, reference, query, reference_rows, query_rows, prov)
    return load_descriptors([part.path])


def _record_of(path: Path) -> Path:
    """A part's record from the path of its record or of one of its arrays."""
    name = Path(path).name
    for role in ROLES:
        if name.endswith(f".{role}.npy"):
            return Path(path).with_name(name[: -len(f".{role}.npy")] + ".json")
    return Path(path)


def load_descriptor_part(path: Path) -> DescriptorPart:
    """One part (its record, or one of its arrays): the arrays memory-mapped, each checked against
    the size and digest its record holds; ArtifactError naming the part and the job to rerun."""
    record_path = _record_of(Path(path))
    match = _PART_RECORD.fullmatch(record_path.name)
    redo = f"`acmnet describe --shard {int(match[1])} --shards {int(match[2])}`" if match else "`acmnet describe`"
    if not record_path.is_file():
        raise ArtifactError(
            f"descriptor part {record_path} is missing or incomplete (no record): run {redo} (its describe job) again"
        )
    try:
        meta = json.loads(record_path.read_text())
        if meta.get("kind") != PART_KIND:
            raise ValueError(f"kind {meta.get('kind')!r}, not {PART_KIND!r}")
        prov = Provenance.from_json(json.dumps(meta["provenance"]), record_path)
        arrays = {}
        for role in ROLES:
            entry, file = meta[role], record_path.parent / meta[role]["file"]
            if not file.is_file() or file.stat().st_size != entry["bytes"] or file_digest(file) != entry["digest"]:
                raise ArtifactError(
                    f"descriptor part {record_path}: {file.name} is missing or not the array its record describes "
                    f"(changed, truncated or of another run): run {redo} again"
                )
            arrays[role] = np.load(file, mmap_mode="r")
            if arrays[role].dtype != np.float32 or list(arrays[role].shape) != list(entry["shape"]):
                raise ValueError(f"{file.name} holds {arrays[role].dtype} {arrays[role].shape}, not {entry['shape']}")
        rows = {role: np.asarray(meta[f"{role}_rows"], dtype=np.int64) for role in ROLES}
        if any(len(rows[role]) != len(arrays[role]) for role in ROLES):
            raise ValueError("its row lists and arrays differ in length")
        shard, shards = int(meta["shard"]), int(meta["shards"])
        starts = {role: int(meta["starts"][role]) for role in ROLES}
    except ArtifactError:
        raise
    except (ValueError, KeyError, TypeError, OSError) as exc:
        raise ArtifactError(f"descriptor part {record_path} cannot be read ({exc}): run {redo} again") from exc
    return DescriptorPart(
        arrays["reference"],
        arrays["query"],
        rows["reference"],
        rows["query"],
        shard,
        shards,
        starts,
        meta.get("pixels"),
        record_path,
        file_digest(record_path),
        prov,
        meta.get("timing"),
    )


def _lineage(prov: Provenance) -> tuple[str, str, dict[str, str]]:
    return prov.step, prov.settings_digest, {k: v.digest for k, v in prov.sources.items()}


def load_descriptors(paths: Path | str | Sequence[Path | str], manifest: Manifest | None = None) -> Descriptors:
    """The descriptors of one describe run, from its parts: their records (or arrays), or the
    folder holding them. Every part of the run must be there once (the same number of shards),
    their slices contiguous and all made by the same run (the same settings and inputs); with
    `manifest`, the run must have been made from it and hold its reference and query rows."""
    given = [paths] if isinstance(paths, (str, Path)) else list(paths)
    if not given:
        raise ArtifactError("no descriptor parts given: give the parts `acmnet describe` wrote (or their folder)")
    records: list[Path] = []
    for path in map(Path, given):
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if _PART_RECORD.fullmatch(p.name))
            if not found:
                raise ArtifactError(f"{path} holds no descriptor parts (part-*-of-*.json): run `acmnet describe`")
            records += found
        elif path.suffix == ".npz" and path.is_file():
            raise ArtifactError(
                f"{path} is a single-file descriptors.npz of an earlier acmnet: descriptors are now written in "
                "parts (descriptors/part-<s>-of-<K>.*); run `acmnet describe` again"
            )
        else:
            records.append(_record_of(path))
    records = list(dict.fromkeys(records))
    parts = [load_descriptor_part(r) for r in records]
    folder = records[0].parent
    counts = sorted({p.shards for p in parts})
    if len(counts) > 1:
        raise ArtifactError(
            f"{folder}: parts of runs of {' and '.join(map(str, counts))} shards given together: give the parts "
            "of one describe run (evaluate.describe_shards; delete the parts of the other)"
        )
    shards, by_shard = counts[0], {}
    for part in parts:
        if part.shard in by_shard:
            raise ArtifactError(f"{part.path} and {by_shard[part.shard].path} are both part {part.shard} of {shards}")
        by_shard[part.shard] = part
    missing = [s for s in range(shards) if s not in by_shard]
    if missing:
        where = part_files(folder, missing[0], shards)["record"]
        raise ArtifactError(
            f"{len(missing)} of the {shards} descriptor parts are missing (first: {where}): run "
            f"`acmnet describe --shard {missing[0]} --shards {shards}` (its describe job) for it"
        )
    parts = [by_shard[s] for s in range(shards)]
    first, at = parts[0], dict.fromkeys(ROLES, 0)
    for part in parts:
        if _lineage(part.provenance) != _lineage(first.provenance):
            raise ProvenanceError(
                f"{part.path} and {first.path} were made by different describe runs (other settings or inputs): "
                "parts of one set must come from one run; describe the stale part(s) again"
            )
        for role in ROLES:
            if part.starts[role] != at[role]:
                raise ArtifactError(
                    f"{part.path} holds {role} rows from position {part.starts[role]}, but the parts before it end "
                    f"at {at[role]}: the parts do not tile the set; describe them again"
                )
            at[role] += len(part.reference_rows if role == "reference" else part.query_rows)
    dims = {a.shape[1] for p in parts for a in (p.reference, p.query) if len(a)}
    if len(dims) > 1:
        raise ArtifactError(f"{folder}: the parts hold descriptors of {sorted(dims)} dimensions: describe them again")
    check_external_sources(first.provenance, folder)
    out = Descriptors(parts, folder, digest_of([p.digest for p in parts]), first.provenance)
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
    out = Retrieval(**arrays, path=Path(path), digest=digest, provenance=prov, timing=_timing_of(Path(path)))
    check_external_sources(prov, Path(path))
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
    """The provenance recorded beside a results CSV, or None when it has none (a hand-made file);
    ArtifactError when the CSV was changed after its record was written."""
    return _read_sidecar(Path(path), "acmnet score", required=False)[0]


METRICS_COLUMNS = ("dataset", "queries", "method", "n_queries", "n_references", "tolerance")
CURVE_COLUMNS = ("dataset", "queries", "method", "N", "recall")


def _read_results_csv(path: Path, what: str) -> pd.DataFrame:
    """A results CSV; one with a provenance record must still be the file its step wrote (a
    hand-made file, with no record, is read as it is)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} file not found: {path}")
    _read_sidecar(path, "acmnet score", required=False)
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


def _numbers(
    path: Path, frame: pd.DataFrame, column: str, lo: float, hi: float | None = None, empty: bool = False
) -> pd.Series:
    """The column as floats in [lo, hi]; `empty`: an empty cell is allowed (NaN), text never is."""
    values = pd.to_numeric(frame[column], errors="coerce")
    cells = frame[column]
    blank = (cells.isna() | (cells.astype(str) == "")) if empty else pd.Series(False, index=frame.index)
    bad = (values.isna() & ~blank) | (values < lo) | ((values > hi) if hi is not None else False)
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
    if np.nanmax(values) <= 1.0 and np.nanmax(values) > 0 and table_provenance(path) is None:
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
        for c in recall:  # an interval's bounds are empty where too few queries gave none
            frame[c] = _numbers(path, frame, c, 0.0, 100.0, empty=c.endswith(("_lo", "_hi")))
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
        for c in ("lo", "hi"):  # a band is empty where too few queries gave none
            if c in frame.columns:
                frame[c] = _numbers(path, frame, c, 0.0, 100.0, empty=True)
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
        for column in ("query_row", "first_hit", *(["n_positives"] if "n_positives" in frame.columns else [])):
            frame[column] = _numbers(path, frame, column, 0.0).astype(int)
        if "top1_score" in frame.columns:  # empty for a re-ranked list, which keeps its order but no scores
            frame["top1_score"] = _numbers(path, frame, "top1_score", -np.inf, empty=True)
        for column in ("dataset", "queries", "method"):
            frame[column] = frame[column].astype(str)
        frames.append(frame)
    if not frames:
        raise ArtifactError("no ranks files given")
    return pd.concat(frames, ignore_index=True)


# ---- what a row costs ----------------------------------------------------------------------


@dataclass(frozen=True)
class DescriptorCost:
    """What a method's descriptors cost, from their parts' records (no array is read): `dim`,
    `bytes_per_image` as stored (float32), and the describe jobs' summed wall time `seconds` over
    `images` images on `device`; `seconds` None when a part was not timed (another tool's)."""

    dim: int
    bytes_per_image: int
    seconds: float | None
    images: int
    device: str


def descriptor_cost(paths: Path | Sequence[Path], made_for: Retrieval | None = None) -> DescriptorCost:
    """The cost of the descriptor parts at `paths` (records, arrays or their folder); with
    `made_for`, they must be the parts that retrieval was made from (ProvenanceError otherwise)."""
    given = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
    records = []
    for path in given:
        found = sorted(p for p in path.iterdir() if _PART_RECORD.fullmatch(p.name)) if path.is_dir() else [path]
        records += [_record_of(p) for p in found]
    records = sorted(dict.fromkeys(records))  # shard order: the names are zero-padded
    if not records or not all(r.is_file() for r in records):
        raise ArtifactError(f"descriptor parts {[str(p) for p in given]} are missing: run `acmnet describe`")
    source = made_for.provenance.sources.get("descriptors") if made_for is not None else None
    if source is not None and digest_of([file_digest(r) for r in records]) != source.digest:
        raise ProvenanceError(
            f"{made_for.path} was not made from the descriptor parts {records[0].parent}: rerun `acmnet retrieve`"
        )
    metas = [json.loads(r.read_text()) for r in records]
    dim = next((m[role]["shape"][1] for m in metas for role in ROLES if m[role]["shape"][0]), 0)
    timings = [m.get("timing") for m in metas]
    timed = all(t is not None for t in timings)
    images = sum(len(m["reference_rows"]) + len(m["query_rows"]) for m in metas)
    devices = ", ".join(dict.fromkeys(t["device"] for t in timings if t is not None))
    seconds = sum(t["seconds"] for t in timings) if timed else None
    return DescriptorCost(int(dim), 4 * int(dim), seconds, images, devices)
