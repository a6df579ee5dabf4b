"""Fetching datasets: resumable, verified downloads, idempotent extraction, manual steps.

Three layers, each usable on its own:

* `download(url, dest)`: HTTP(S) download into `dest.part`, resumed with a `Range` request when a
  `.part` file is left over (a server that ignores `Range` and answers 200 is restarted cleanly
  from byte 0). Size and SHA-256 are checked where known; only a complete, verified file is renamed
  to `dest`, so the final name never holds a partial download. (The `.part` file is the temporary
  file here instead of `acmnet.io.atomic_path`'s random name, because resuming needs a fixed name.)
* `extract(archive, dest_dir)`: .zip, .tar, .tar.gz/.tgz (and .tar.bz2/.tar.xz). Members are
  unpacked into a staging folder beside the destination and moved into place; a marker file
  `.{archive}.extracted` is written last, and a rerun with the marker present does nothing. A
  truncated or corrupt archive raises `ExtractError` naming the file and saying to delete it and
  download it again.
* `fetch_dataset(name, root)`: reads the sources of dataset type `name` (`DATASET.sources`) and either
  downloads and extracts each `Download` entry, or, for `ManualDownload` entries whose host needs a
  browser, prints the exact steps (page, files, folder to drop them in) and raises
  `ManualDownloadRequired`; once the files are there, the same call extracts them.

Only the standard library (urllib) and tqdm are used.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import shutil
import socket
import tarfile
import urllib.error
import urllib.request
import zipfile
import zlib
from pathlib import Path

from tqdm import tqdm

from acmnet.data.sources import Download, ManualDownload, Source
from acmnet.io import atomic_write_text

CHUNK = 1 << 20
USER_AGENT = "acmnet-download/0.1 (+urllib)"


class DownloadError(RuntimeError):
    """A download failed (HTTP error, timeout, dropped connection); the message names the URL."""


class TransferInterrupted(DownloadError):
    """The transfer stopped part way (dropped connection, stalled server); a rerun resumes it."""


class ChecksumError(DownloadError):
    """A downloaded file has the wrong size or SHA-256; the partial file has been deleted."""


class ExtractError(RuntimeError):
    """An archive is truncated, corrupt or of an unknown kind; the message names the file."""


class ManualDownloadRequired(RuntimeError):
    """A dataset's host needs a browser; the message holds the steps."""


# ---- download ------------------------------------------------------------------------------


def _human(n: int | None) -> str:
    if n is None:
        return "unknown size"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def sha256_of(path: Path, chunk: int = CHUNK) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _mismatch(path: Path, sha256: str | None, size: int | None) -> str | None:
    """What is wrong with `path` against the known size and checksum, or None."""
    if size is not None and path.stat().st_size != size:
        return f"size mismatch, expected {size} bytes, got {path.stat().st_size}"
    if sha256 is not None:
        actual = sha256_of(path)
        if actual.lower() != sha256.lower():
            return f"SHA-256 mismatch, expected {sha256.lower()}, got {actual}"
    return None


def _verify(path: Path, shown: Path, sha256: str | None, size: int | None) -> None:
    """Check the downloaded `path`; on a mismatch delete it and raise ChecksumError."""
    problem = _mismatch(path, sha256, size)
    if problem:
        path.unlink(missing_ok=True)
        raise ChecksumError(
            f"{shown}: {problem}; the downloaded file was deleted: download it again (if this "
            "keeps happening, the file on the server has changed: check the source)"
        )


def _content_range_start(value: str | None) -> int | None:
    match = re.match(r"bytes\s+(\d+)-\d+/(\d+|\*)", value or "")
    return int(match.group(1)) if match else None


def _total_from_content_range(value: str | None) -> int | None:
    match = re.match(r"bytes\s+(?:\d+-\d+|\*)/(\d+)", value or "")
    return int(match.group(1)) if match else None


def _resume_offset(part: Path, size: int | None) -> int | None:
    """Where to resume `part` from; None when it is complete already (verified by the caller)."""
    offset = part.stat().st_size if part.exists() else 0
    if size is not None and offset > size:
        part.unlink()  # longer than the file can be: not ours, start again
        offset = 0
    if size is not None and offset == size:
        return None
    return offset


def _refused_resume(exc: urllib.error.HTTPError, url: str, part: Path, offset: int) -> None:
    """HTTP 416 on a resume: return if `part` is already complete, else delete it and raise."""
    total = _total_from_content_range(exc.headers.get("Content-Range"))
    exc.close()
    if total is not None and total == offset:
        return  # the .part file is already complete
    part.unlink(missing_ok=True)  # the .part file does not fit the file on the server
    raise TransferInterrupted(
        f"{url}: the server refused to resume at byte {offset} (HTTP 416); the partial "
        f"file {part} was deleted, run again to download from the start"
    ) from exc


def _open(url: str, part: Path, offset: int, timeout: float):
    """The HTTP response for the bytes from `offset` on; None when a 416 says `part` is complete."""
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        return urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:
            return _refused_resume(exc, url, part, offset)
        exc.close()
        raise DownloadError(f"{url}: HTTP error {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, (socket.timeout, TimeoutError)):
            raise DownloadError(f"{url}: timed out after {timeout:g} s waiting for the server") from exc
        raise DownloadError(f"{url}: cannot connect ({exc.reason})") from exc
    except TimeoutError as exc:
        raise DownloadError(f"{url}: timed out after {timeout:g} s waiting for the server") from exc
    except (http.client.HTTPException, OSError) as exc:
        raise DownloadError(f"{url}: request failed ({exc})") from exc


def _write_mode(response, url: str, part: Path, offset: int) -> tuple[str, int]:
    """(file mode, offset the body starts at) for the response's status."""
    status = response.status
    if status == 206:
        start = _content_range_start(response.headers.get("Content-Range"))
        if start != offset:
            # a range we did not ask for: drop what we have and start again
            part.unlink(missing_ok=True)
            raise TransferInterrupted(
                f"{url}: the server answered a resume at byte {offset} with the range starting at "
                f"{start}; the partial file was deleted, run again to download from the start"
            )
        return "ab", offset
    if status == 200:
        return "wb", 0  # the server ignored Range (if any): restart cleanly, overwriting the .part file
    raise DownloadError(f"{url}: unexpected HTTP status {status}")


def _read_block(response, fh, url: str, part: Path, at: int, timeout: float) -> bytes:
    """The next block of the body; TransferInterrupted (after saving any partial data) on a drop."""
    try:
        return response.read(CHUNK)
    except TimeoutError as exc:
        raise TransferInterrupted(
            f"{url}: timed out after {timeout:g} s with no data at byte {at}; run again to resume from {part}"
        ) from exc
    except (http.client.IncompleteRead, ConnectionError, http.client.HTTPException, OSError) as exc:
        fh.write(getattr(exc, "partial", b"") or b"")
        raise TransferInterrupted(
            f"{url}: connection lost at byte {at} ({type(exc).__name__}); run again to resume from {part}"
        ) from exc


def _copy_body(
    response, part: Path, mode: str, url: str, offset: int, total: int | None, timeout: float, progress: bool
) -> int:
    """Write the response body to `part` (appending or from the start); return the bytes received."""
    received = 0
    bar = tqdm(
        total=total,
        initial=offset,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=part.name.removesuffix(".part"),
        disable=not progress,
        leave=False,
    )
    try:
        with open(part, mode) as fh:
            while block := _read_block(response, fh, url, part, offset + received, timeout):
                fh.write(block)
                received += len(block)
                bar.update(len(block))
    finally:
        bar.close()
    return received


def _transfer(url: str, part: Path, size: int | None, timeout: float, progress: bool) -> None:
    """One request: append to `part` from its current length (or restart); raise on failure."""
    offset = _resume_offset(part, size)
    if offset is None:
        return
    response = _open(url, part, offset, timeout)
    if response is None:
        return
    with response:
        mode, offset = _write_mode(response, url, part, offset)
        length = response.headers.get("Content-Length")
        length = int(length) if length is not None and length.isdigit() else None
        total = size if size is not None else (offset + length if length is not None else None)
        received = _copy_body(response, part, mode, url, offset, total, timeout, progress)
        if length is not None and received < length:
            raise TransferInterrupted(
                f"{url}: connection closed after {offset + received} of {offset + length} bytes; "
                f"run again to resume from {part}"
            )


def download(
    url: str,
    dest: Path,
    *,
    sha256: str | None = None,
    size: int | None = None,
    progress: bool = True,
    timeout: float = 60.0,
    retries: int = 3,
) -> Path:
    """Download `url` to `dest`, resumably and atomically; return `dest`.

    A leftover `dest.part` is continued with an HTTP Range request; a server that answers 200
    instead of 206 is restarted from byte 0. After a dropped connection or a timeout the transfer
    is resumed up to `retries` times before `DownloadError` is raised (the `.part` file is kept, so
    a later call resumes). `size` and `sha256` are verified when given: a mismatch deletes the
    `.part` file and raises `ChecksumError` naming the file and both values. `dest` appears only
    once the file is complete and verified. An existing `dest` is verified and returned as is.
    """
    dest = Path(dest)
    if dest.exists():
        problem = _mismatch(dest, sha256, size)
        if problem:
            raise ChecksumError(f"{dest} exists but does not match ({problem}): delete it to download it again")
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    for attempt in range(retries + 1):
        try:
            _transfer(url, part, size, timeout, progress)
            break
        except TransferInterrupted:
            if attempt == retries:
                raise  # the .part file stays: a later call resumes it
    if not part.exists():
        part.touch()  # an empty file (Content-Length 0)
    _verify(part, dest, sha256, size)
    os.replace(part, dest)
    return dest


# ---- extraction ----------------------------------------------------------------------------

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")


def marker_path(archive: Path, dest_dir: Path) -> Path:
    return Path(dest_dir) / f".{Path(archive).name}.extracted"


def _truncated(archive: Path, why: object) -> ExtractError:
    return ExtractError(f"{archive} is truncated or corrupt ({why}): delete it and download it again")


def _check_tar_end(archive: Path) -> None:
    """An uncompressed tar ends with two zero blocks; a cut-off download does not."""
    length = archive.stat().st_size
    if length < 1024 or length % 512:
        raise _truncated(archive, f"{length} bytes is not a whole number of 512-byte tar blocks")
    with open(archive, "rb") as fh:
        fh.seek(length - 1024)
        if fh.read(1024).strip(b"\0"):
            raise _truncated(archive, "the end-of-archive blocks are missing")


def _safe_members(tar: tarfile.TarFile, archive: Path) -> list[tarfile.TarInfo]:
    members = []
    for member in tar.getmembers():
        name = Path(member.name)
        if name.is_absolute() or ".." in name.parts:
            raise ExtractError(f"{archive} holds an unsafe path {member.name!r}; not extracting it")
        if member.issym() or member.islnk():
            continue  # datasets need no links
        members.append(member)
    return members


def _unpack(archive: Path, staging: Path, progress: bool) -> None:
    name = archive.name.lower()
    try:
        if name.endswith(".zip"):
            with zipfile.ZipFile(archive) as zf:
                members = [m for m in zf.infolist() if not m.filename.startswith("__MACOSX/")]
                for member in tqdm(
                    members, desc=f"extract {archive.name}", unit="file", disable=not progress, leave=False
                ):
                    zf.extract(member, staging)
        elif name.endswith(ARCHIVE_SUFFIXES[1:]):
            if name.endswith(".tar"):
                _check_tar_end(archive)
            with tarfile.open(archive, "r:*") as tar:
                members = _safe_members(tar, archive)
                kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
                for member in tqdm(
                    members, desc=f"extract {archive.name}", unit="file", disable=not progress, leave=False
                ):
                    tar.extract(member, staging, **kwargs)
        else:
            raise ExtractError(f"{archive}: unknown archive type; expected one of {', '.join(ARCHIVE_SUFFIXES)}")
    except ExtractError:
        raise
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise _truncated(archive, exc) from exc


def extract(archive: Path, dest_dir: Path, *, folder: str | None = None, progress: bool = True) -> Path:
    """Unpack `archive` into `dest_dir` once; return where its content now lies.

    With `folder`, the content must end up in `dest_dir/folder`: an archive whose only top-level
    entry is a folder of that name is moved as is, any other archive is unpacked into it (so
    `FRAMESA.zip` gives `FRAMESA/` whether or not it holds that folder itself). Idempotent: the
    marker file is written last, and with it present (and the archive unchanged in size) nothing
    is done. Entries of `dest_dir` with the names of the archive's top-level entries are replaced.
    """
    archive, dest_dir = Path(archive), Path(dest_dir)
    target = dest_dir / folder if folder else dest_dir
    marker = marker_path(archive, dest_dir)
    if marker.is_file():
        try:
            recorded = json.loads(marker.read_text()).get("size")
        except (ValueError, AttributeError):
            recorded = None
        if not archive.exists() or recorded == archive.stat().st_size:
            return target
    if not archive.is_file():
        raise FileNotFoundError(f"archive {archive} does not exist")
    dest_dir.mkdir(parents=True, exist_ok=True)
    staging = dest_dir / f".{archive.name}.partial"
    if staging.exists():
        shutil.rmtree(staging)  # left over from an interrupted run
    staging.mkdir()
    try:
        _unpack(archive, staging, progress)
        entries = sorted(staging.iterdir())
        if folder is not None and not (len(entries) == 1 and entries[0].is_dir() and entries[0].name == folder):
            wrapped = dest_dir / f".{archive.name}.wrap"
            if wrapped.exists():
                shutil.rmtree(wrapped)
            staging.rename(wrapped)
            staging.mkdir()
            wrapped.rename(staging / folder)
            entries = [staging / folder]
        for entry in entries:
            final = dest_dir / entry.name
            if final.is_dir() and not final.is_symlink():
                shutil.rmtree(final)
            elif final.exists() or final.is_symlink():
                final.unlink()
            os.replace(entry, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    atomic_write_text(marker, json.dumps({"archive": archive.name, "size": archive.stat().st_size}) + "\n")
    return target


# ---- datasets ------------------------------------------------------------------------------


def sources_of(name: str) -> list[Source]:
    """The download sources of dataset type `name` (e.g. `gardenspoint`): its `DATASET.sources`."""
    from acmnet.data.datasets import DATASET_TYPES, dataset_type

    sources = dataset_type(name).sources
    if not sources:
        raise ValueError(
            f"dataset type `{name}` describes no download (no sources in {DATASET_TYPES[name]}): "
            "see its module docstring for where to get it"
        )
    return list(sources)


def _done(entry: Source, root: Path) -> bool:
    present = (entry.present,) if isinstance(entry.present, str) else (entry.present or ())
    if any((root / p).exists() for p in present):
        return True
    archive = root / entry.filename
    return entry.extract and marker_path(archive, archive.parent).is_file()


def manual_steps(name: str, root: Path, entries: list[ManualDownload], extract: list[str] | None = None) -> str:
    """The exact steps for files the user has to fetch with a browser."""
    root = Path(root).resolve()
    lines = [f"dataset `{name}` must be downloaded by hand (its host needs a browser):"]
    pages = list(dict.fromkeys(e.page for e in entries))
    lines.append(f"  1. Open {' or '.join(pages)}")
    hints = list(dict.fromkeys(e.instructions for e in entries if e.instructions))
    for hint in hints:
        lines.append(f"     ({hint})")
    files = ", ".join(e.filename + (f" ({_human(e.size)})" if e.size else "") for e in entries)
    lines.append(f"  2. Download {files}")
    lines.append(
        f"  3. Put {'them' if len(entries) > 1 else 'it'} into the folder {root} so that "
        f"{root / entries[0].filename} exists (keep the file names)"
    )
    to_extract = extract if extract is not None else [e.filename for e in entries if e.extract]
    then = f"it extracts {', '.join(to_extract)} there; " if to_extract else ""
    lines.append(f"  4. Run the same command again: {then}`prepare` then checks the files and proceeds from there")
    return "\n".join(lines)


def fetch_dataset(name: str, root: Path, *, progress: bool = True, timeout: float = 60.0) -> Path:
    """Download and extract dataset type `name` into `root` (or print the manual steps); return root.

    Each archive is extracted into the folder that holds it (the root, or the subfolder its
    `filename` names).

    Entries already done (their `present` path exists, or their extraction marker does) are
    skipped, so rerunning is cheap. For `ManualDownload` entries whose files are not in `root`,
    `ManualDownloadRequired` is raised with the steps before anything is extracted.
    """
    root = Path(root)
    sources = sources_of(name)
    pending = [e for e in sources if not _done(e, root)]
    missing = [e for e in pending if isinstance(e, ManualDownload) and not (root / e.filename).is_file()]
    if missing:
        raise ManualDownloadRequired(manual_steps(name, root, missing, [e.filename for e in pending if e.extract]))
    root.mkdir(parents=True, exist_ok=True)
    for entry in pending:
        path = root / entry.filename
        if isinstance(entry, Download):
            download(entry.url, path, sha256=entry.sha256, size=entry.size, progress=progress, timeout=timeout)
        else:
            _verify_manual(path, entry)
        if entry.extract:
            extract(path, path.parent, folder=entry.folder, progress=progress)
    return root


def _verify_manual(path: Path, entry: ManualDownload) -> None:
    problem = _mismatch(path, entry.sha256, entry.size)
    if problem:
        raise ChecksumError(
            f"{path}: {problem}; the file is incomplete or another version: download it again from {entry.page}"
        )
