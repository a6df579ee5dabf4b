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
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from acmnet.io import is_sidecar


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
