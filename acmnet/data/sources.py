"""Where a dataset's files come from: `Download` (over HTTP(S)) or `ManualDownload` (by hand, in a browser).

A dataset type lists its sources (`DatasetType.sources`); `acmnet.data.download.fetch_dataset` fetches them.
They live apart from the fetching code so that the dataset types can name them without importing it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Download:
    """A file fetched over HTTP(S) into the dataset root (and extracted if `extract`).

    `filename` is relative to the root and may name a subfolder (`images/night.zip`); an archive
    is extracted into the folder that holds it.
    """

    url: str
    filename: str  # where the downloaded file goes, relative to the dataset root
    sha256: str | None = None
    size: int | None = None  # bytes
    extract: bool = True
    folder: str | None = None  # extracted content must end up in root/folder (see `extract`)
    present: str | tuple[str, ...] | None = None  # path(s) under root; any existing means this entry is done


@dataclass(frozen=True)
class ManualDownload:
    """A file the user downloads by hand (browser-only host) and drops into the dataset root."""

    page: str  # where to get it
    filename: str  # the file to put into the dataset root
    instructions: str = ""  # extra hints (mirrors, what to click)
    sha256: str | None = None
    size: int | None = None
    extract: bool = False
    folder: str | None = None
    present: str | tuple[str, ...] | None = None


Source = Download | ManualDownload
