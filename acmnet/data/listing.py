"""What a dataset's folder holds, cheaply: the `prepare` rule's rerun trigger for changed raw data.

`folder_listing(root)` walks the dataset root (`os.scandir`, following linked folders once) and
digests every file's path under the root, size and modification time; no file is opened, so
100,000 images take well under a second. Replacing, adding, removing or renaming an image (the
same name with other bytes included: its time changes) changes the digest, and the Snakefile
passes it to `prepare` as a parameter, so the next `snakemake` redoes `prepare` and everything
after it. Hidden and sidecar entries (`.DS_Store`, `._x.jpg`, `Thumbs.db`, a writer's temporary
`.name.tmp`) are left out, as every dataset reader leaves them out (`acmnet.io.is_sidecar`).

A root that does not exist yet (a dataset still to be downloaded or rendered) is `absent`, never
an error: Snakemake evaluates parameters while it builds the plan, before any job runs.

The files a dataset type reads besides its images (`DatasetType.files_read`: MixVPR's index files,
NetVLAD's `.mat`, VPR-Bench's ground truth) may live anywhere, and are read by content:
`files_read_digests` gives each one's sha256 (or `absent`), and `prepare_trigger` joins them to the
listing, so a file rewritten under its old size and time reruns `prepare` too.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from acmnet.io import is_sidecar

_read_cache: dict[tuple[str, int, int, int, int], str] = {}


def _walk(folder: str, prefix: str, seen: set[tuple[int, int]], out: list[tuple[str, int, int]]) -> None:
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except FileNotFoundError:  # removed meanwhile
        return
    except OSError:  # unreadable (permissions): listed as such, its files unseen
        out.append((prefix or ".", -2, -2))
        return
    for entry in entries:
        if is_sidecar(entry.name):
            continue
        name = prefix + entry.name
        try:
            if entry.is_dir():  # a linked folder too, each real folder once (no loops)
                st = entry.stat()
                if (st.st_dev, st.st_ino) not in seen:
                    seen.add((st.st_dev, st.st_ino))
                    _walk(entry.path, name + "/", seen, out)
                continue
            st = entry.stat()
            out.append((name, st.st_size, st.st_mtime_ns))
        except FileNotFoundError:  # a dangling link (or a file removed meanwhile): listed as such
            out.append((name, -1, -1))


def folder_listing(root: str | Path) -> str:
    """`absent`, or `<files> files, <bytes> bytes, <digest>`: the digest (16 hex digits) of every
    file's relative path, size and modification time (ns) under `root`, hidden entries left out."""
    root = str(root)
    if not os.path.isdir(root):
        return "absent"
    entries: list[tuple[str, int, int]] = []
    st = os.stat(root)
    _walk(root, "", {(st.st_dev, st.st_ino)}, entries)
    digest = hashlib.sha256()
    for name, size, mtime in entries:
        digest.update(f"{name}\0{size}\0{mtime}\n".encode("utf-8", "surrogateescape"))
    total = sum(size for _, size, _ in entries if size > 0)
    return f"{len(entries)} files, {total} bytes, {digest.hexdigest()[:16]}"


def _content(path: Path) -> str:
    """sha256 of a file's bytes (16 hex digits), `absent` when it is not a file; once per process
    for one state of the file (its change time, which no copy can set back, is part of the key)."""
    try:
        st = os.stat(path)
    except OSError:
        return "absent"
    key = (str(path), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    if key not in _read_cache:
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            while block := fh.read(1 << 20):
                digest.update(block)
        _read_cache[key] = digest.hexdigest()[:16]
    return _read_cache[key]


def files_read_digests(files: list[Path]) -> dict[str, str]:
    """{path: sha256 of its bytes (16 hex digits), or `absent`} of every file a dataset type reads."""
    return {str(path): _content(Path(path)) for path in files}


def prepare_trigger(root: str | Path, files: list[Path]) -> str:
    """`prepare`'s rerun trigger: the root's listing, and the content of every file read besides it."""
    listing = folder_listing(root)
    if not files:
        return listing
    digests = files_read_digests(files)
    joined = hashlib.sha256("\n".join(f"{k}\0{v}" for k, v in sorted(digests.items())).encode()).hexdigest()[:16]
    return f"{listing}; {len(files)} files read, {joined}"
