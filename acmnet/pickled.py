"""Reading pickled NumPy data without running the code a pickle may carry.

Two files of the field are pickles: VPR-Bench's `ground_truth_new.npy` (an object array, which a
`.npy` stores as a pickle after its header) and VPR-methods-evaluation's `global_features.pickle`.
`np.load(..., allow_pickle=True)` and `pickle.load` would import and call whatever a crafted file
names. Here the unpickler resolves only the few NumPy names that rebuild arrays, dtypes and scalars;
any other global (a function, a class, `os.system`) is refused with `UnsafePickleError` before
anything is called. Lists, tuples, ints, floats and bytes come from plain pickle opcodes.
"""

from __future__ import annotations

import codecs
import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np


class UnsafePickleError(ValueError):
    """A pickle names code beyond NumPy's array, dtype and scalar rebuilders (or is not a pickle)."""


# (module, name) -> the object it stands for; NumPy 1 wrote `numpy.core`, NumPy 2 writes `numpy._core`.
_ALLOWED = {
    (module, name): obj
    for module in ("numpy.core.multiarray", "numpy._core.multiarray")
    for name, obj in (("_reconstruct", np._core.multiarray._reconstruct), ("scalar", np._core.multiarray.scalar))
}
_ALLOWED[("numpy", "ndarray")] = np.ndarray
_ALLOWED[("numpy", "dtype")] = np.dtype
_ALLOWED[("_codecs", "encode")] = codecs.encode  # how pickle protocol 2 stores bytes (an array's buffer)


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise UnsafePickleError(f"it names `{module}.{name}`, which is not a NumPy array, dtype or scalar")
        return _ALLOWED[(module, name)]

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError("it uses persistent ids, which plain NumPy data never does")


def loads(data: bytes, where: str) -> Any:
    """Unpickle `data` allowing only NumPy arrays, dtypes, scalars and plain containers and numbers.

    `where` names the file in errors: UnsafePickleError when it names any other code or is not a
    readable pickle.
    """
    try:
        return _ArraysOnly(io.BytesIO(data)).load()
    except UnsafePickleError as exc:
        raise UnsafePickleError(
            f"{where} was refused: {exc}; only plain NumPy arrays and lists of numbers are read from a pickle, "
            "so a file that would import or call other code is never loaded"
        ) from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, AttributeError) as exc:
        raise UnsafePickleError(f"{where} is not a readable pickle of NumPy data ({exc})") from None


def load_pickle(path: Path) -> Any:
    """A `.pickle` file's object, read with `loads` (arrays, lists and numbers only)."""
    return loads(Path(path).read_bytes(), str(path))


def load_npy(path: Path) -> np.ndarray:
    """A `.npy` file's array; an object array's pickled payload is read with `loads`, never `allow_pickle`."""
    path = Path(path)
    with open(path, "rb") as fh:
        try:
            version = np.lib.format.read_magic(fh)
            header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = header(fh)
        except ValueError as exc:
            raise UnsafePickleError(f"{path} is not a .npy file ({exc})") from None
        if not dtype.hasobject:
            fh.seek(0)
            return np.load(fh, allow_pickle=False)
        array = loads(fh.read(), str(path))
    if not isinstance(array, np.ndarray) or array.shape != tuple(shape):
        raise UnsafePickleError(f"{path}: its pickled payload is not the {shape} array its header announces")
    return np.asfortranarray(array) if fortran else array
