"""The content digest of a configured path: the name and sha256 of every file its form reads."""

from __future__ import annotations

import hashlib
import os
from functools import cache
from pathlib import Path

from acmnet.config import digest_of
from acmnet.methods.external.forms import files_read
from acmnet.methods.external.reader import ExternalDescriptorsError


@cache
def _file_digest(path: str, size: int, mtime_ns: int, ctime_ns: int, inode: int) -> str:
    """sha256 of a file's bytes, once per process for one state of the file (the change time, which
    no copy can set back, is part of the key)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()[:16]


def _contents(path: str) -> list[tuple[str, str]]:
    """(name relative to the path's folder, sha256 of its bytes) of every file `files_read` lists;
    ExternalDescriptorsError naming the first missing file."""
    out = []
    for file in files_read(path):
        try:
            stat = os.stat(file)
        except OSError:
            raise ExternalDescriptorsError(
                f"descriptor file {file} (read for `{path}`) does not exist: check the path in methods.*.descriptors"
            ) from None
        state = (stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)
        out.append((Path(os.path.relpath(file, Path(path).parent)).as_posix(), _file_digest(str(file), *state)))
    return out


def entry_digest(path: str) -> str:
    """Content digest of the descriptors at `path`: the name and bytes of every file they are read from."""
    return digest_of(_contents(path))
