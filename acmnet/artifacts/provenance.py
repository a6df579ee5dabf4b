"""Provenance: what every file between steps records it was made from, and the checks on it.

Also the CSV sidecar record (`<name>.provenance.json` beside a CSV, with the CSV's digest).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from acmnet import __version__
from acmnet.config import digest_of
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


def check_file_sources(prov: Provenance, where: Path) -> None:
    """Another tool's stored matches a retrieval was read from (sources `matches`, at any depth of
    the lineage) must still hold the bytes they held then (`file_digest`), like `check_external_sources`."""
    for key, source in prov.sources.items():
        if not re.fullmatch(r"(.*\.)?matches", key):
            continue
        try:
            now = file_digest(Path(source.path))
        except OSError as exc:
            raise ArtifactError(f"{where} was made from {source.path}, which cannot be read now ({exc})") from None
        if now != source.digest:
            raise ProvenanceError(
                f"{where} was made from {source.path} with content digest {source.digest}, but the file now gives "
                f"{now}: it was replaced or edited since; import it again (Snakemake reruns import_ranking and "
                "every step after it)"
            )


def check_first_stage_source(prov: Provenance, where: Path) -> None:
    """A re-ranked list's first stage (source `first_stage`: the retrieval it re-ranked, by content)
    must still be that retrieval: one made again since (other descriptors) is a ProvenanceError."""
    source = prov.sources.get("first_stage")
    if source is None:
        return
    try:
        now = file_digest(Path(source.path))
    except OSError:
        now = "absent"
    if now != source.digest:
        raise ProvenanceError(
            f"{where} re-ranks the first stage's retrieval {source.path} as it was (digest {source.digest}), but "
            f"that file now gives {now}: the first stage changed since the list was made, so the re-ranked row "
            "cannot be compared with it; export its pairs again, re-rank them and import the new list"
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


def sidecar_path(path: Path) -> Path:
    return Path(path).with_suffix(".provenance.json")


def write_csv(frame: pd.DataFrame, path: Path, prov: Provenance) -> str:
    """Write `frame` as CSV atomically, its provenance (with the CSV's digest) beside it; the digest."""
    path = Path(path)
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
        digest = file_digest(tmp)
        atomic_write_text(sidecar_path(path), json.dumps({"digest": digest, "provenance": json.loads(prov.to_json())}))
    return digest


def read_sidecar(path: Path, made_by: str, required: bool = True) -> tuple[Provenance | None, str]:
    """(the CSV's provenance, its digest); None for a CSV without a record when not `required`.

    A record that cannot be read, or whose digest is not the CSV's (the file was edited or damaged
    after `made_by` wrote it), is an ArtifactError naming the file and the step to rerun."""
    path = Path(path)
    digest = file_digest(path)
    side = sidecar_path(path)
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
