"""The registry of foreign forms: a path's form by its name, and the files each form reads."""

from __future__ import annotations

from pathlib import Path

from acmnet.config import ConfigError
from acmnet.methods.external import kapture, named, pair, pickles
from acmnet.methods.external.pair import pair_folder
from acmnet.methods.external.reader import Reader

FORMS = (
    "a VPR-methods-evaluation log folder (or its `database_descriptors.npy` / `queries_descriptors.npy`), "
    "a `global_features.pickle` (`.pickle`/`.pkl`), a kapture `global_features.txt` "
    "or its folder (a name without a suffix, or ending in `/`), an `.npz` with arrays `names` and "
    "`descriptors`, or an `.npy` with a `<same stem>.txt` of names beside it"
)


def _form(path: str, place: str) -> str:
    """`pair`, `pickle`, `npz`, `npy` or `kapture`, from the path's name (ConfigError for any other
    name); a folder holding a VPR-methods-evaluation pair is `pair`, any other folder `kapture`."""
    if pair_folder(path) is not None:
        return "pair"
    suffix = Path(path).suffix.lower()
    if suffix in (".pickle", ".pkl"):
        return "pickle"
    if suffix in (".npz", ".npy"):
        return suffix[1:]
    if suffix == ".txt" or not suffix or path.endswith(("/", "\\")):
        return "kapture"
    raise ConfigError(f"{place}: `{path}` is not a known form of descriptors; accepted: {FORMS}")


# form -> its reader (one module per form). A new form adds its module and its line here: the describe
# step then takes its `files` as inputs, records their content digest and every reader of the
# descriptors re-checks it, so a file replaced under its old time is never scored.
READERS: dict[str, Reader] = {
    "pickle": pickles.READER,
    "npz": named.NPZ_READER,
    "npy": named.NPY_READER,
    "kapture": kapture.READER,
    "pair": pair.READER,
}


def files_read(path: str) -> list[Path]:
    """Every file the descriptors at `path` (a configured path) are read from, in a fixed order."""
    return READERS[_form(path, path)].files(path)
