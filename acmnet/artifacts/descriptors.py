"""Descriptors, written in parts (`descriptors/part-<s>-of-<K>.*`, made by `acmnet describe`), and what they cost."""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from acmnet.artifacts.manifest import Manifest
from acmnet.artifacts.npz import check_rows
from acmnet.artifacts.provenance import (
    ArtifactError,
    Provenance,
    ProvenanceError,
    check_external_sources,
    check_made_from,
    file_digest,
)
from acmnet.config import digest_of
from acmnet.io import atomic_path, atomic_write_text, reserve

if TYPE_CHECKING:
    from acmnet.artifacts.retrieval import Retrieval


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
        """The role's (rows, dim) float32 array, its file's blocks allocated first (`acmnet.io.reserve`):
        a full disk is a NoSpaceError naming the folder here, never a `Bus error` while it is filled."""
        tmp = self._tmp[role]
        array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(rows, dim))  # sparse so far
        reserve(tmp, os.path.getsize(tmp), f"the {role} descriptors ({rows} x {dim} float32)")
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
        check_rows(out, manifest)
    return out


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
