"""Reading pickled NumPy data without running the code a pickle may carry.

Two files of the field are pickles: VPR-Bench's `ground_truth_new.npy` (an object array, which a
`.npy` stores as a pickle after its header) and VPR-methods-evaluation's `global_features.pickle`.
`np.load(..., allow_pickle=True)` and `pickle.load` would import and call whatever a crafted file
names. Here the unpickler resolves only the few NumPy names that rebuild arrays, dtypes and scalars;
any other global (a function, a class, `os.system`) is refused with `UnsafePickleError` before
anything is called. The arrays it allocates are bounded, all together, by the file's size (an
honest pickle carries its arrays' bytes), so a file asking for a 9 TiB array is refused before any
memory is taken, never a MemoryError. Lists, tuples, ints, floats and bytes come from plain pickle opcodes.
"""

from __future__ import annotations

import codecs
import io
import math
import pickle
from pathlib import Path
from typing import Any, ClassVar

import numpy as np


class UnsafePickleError(ValueError):
    """A pickle names code beyond NumPy's array, dtype and scalar rebuilders (or is not a pickle)."""


# (module, name) -> the object it stands for; NumPy 1 wrote `numpy.core`, NumPy 2 writes `numpy._core`.
_RECONSTRUCT = {(module, "_reconstruct") for module in ("numpy.core.multiarray", "numpy._core.multiarray")}
_ALLOWED = {
    (module, "scalar"): np._core.multiarray.scalar for module in ("numpy.core.multiarray", "numpy._core.multiarray")
}
_ALLOWED[("numpy", "dtype")] = np.dtype
_ALLOWED[("_codecs", "encode")] = codecs.encode  # how pickle protocol 2 stores bytes (an array's buffer)


class _ArrayClass:
    """What `numpy.ndarray` stands for in a pickle: only the class `_reconstruct` is asked to build.
    Called itself it would allocate whatever shape the file names, so it is refused."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise UnsafePickleError("it calls `numpy.ndarray` directly, which NumPy's own pickles never do")


_ARRAY_CLASS = _ArrayClass()
_ALLOWED[("numpy", "ndarray")] = _ARRAY_CLASS


def _nbytes(shape: Any, dtype: Any) -> int:
    """The file bytes an array of `shape` and `dtype` needs at least: its data for a plain dtype, one
    opcode per element for an object dtype (whose 8-byte pointers are then at most 8x the file's
    size); ValueError when the shape is not a tuple of non-negative ints."""
    dims = [shape] if isinstance(shape, int) else list(shape)
    if not all(isinstance(n, int) and n >= 0 for n in dims):
        raise ValueError(f"shape {shape!r:.80} is not a tuple of non-negative ints")
    dtype = np.dtype(dtype)
    return math.prod(dims) * (1 if dtype.hasobject else dtype.itemsize)


class _TooLarge(UnsafePickleError):
    """A pickle asks for arrays larger than the file could hold."""


class _ArraysOnly(pickle._Unpickler):  # the Python unpickler: its BUILD can be checked (the C one's cannot)
    """Resolves only `_ALLOWED` (and `_reconstruct`, bounded): every array it allocates, together,
    fits in `budget` bytes (the pickle's own size: an honest array's bytes are in the file)."""

    def __init__(self, data: bytes, encoding: str = "ASCII") -> None:
        super().__init__(io.BytesIO(data), encoding=encoding)
        self.budget = len(data)

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _RECONSTRUCT:
            return self._reconstruct
        if (module, name) not in _ALLOWED:
            raise UnsafePickleError(f"it names `{module}.{name}`, which is not a NumPy array, dtype or scalar")
        return _ALLOWED[(module, name)]

    def _charge(self, shape: Any, dtype: Any) -> None:
        """Take an array of `shape` and `dtype` from the budget, or refuse it before it is allocated."""
        size = _nbytes(shape, dtype)
        if size > self.budget:
            raise _TooLarge(
                f"it asks for an array of shape {shape!r:.80} ({size:,} bytes), more than the {self.budget:,} "
                "bytes left of the file's size: no array the file holds is that large (a damaged or crafted file)"
            )
        self.budget -= size

    def _reconstruct(self, subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
        if subtype is not _ARRAY_CLASS:
            raise UnsafePickleError("it rebuilds an array of a class other than `numpy.ndarray`")
        self._charge(shape, dtype)
        return np._core.multiarray._reconstruct(np.ndarray, shape, dtype)

    def load_build(self) -> None:
        """BUILD: an array's `__setstate__` ((version,) shape, dtype, fortran, data) allocates `shape` first."""
        inst, state = self.stack[-2], self.stack[-1]
        if isinstance(inst, np.ndarray):
            if not isinstance(state, tuple) or len(state) not in (4, 5):
                raise ValueError("an array's state is not (version, shape, dtype, fortran, data)")
            self._charge(state[-4], state[-3])
        super().load_build()

    dispatch: ClassVar[dict] = {**pickle._Unpickler.dispatch, pickle.BUILD[0]: load_build}

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError("it uses persistent ids, which plain NumPy data never does")


def loads(data: bytes, where: str, encoding: str = "ASCII") -> Any:
    """Unpickle `data` allowing only NumPy arrays, dtypes, scalars and plain containers and numbers.

    `where` names the file in errors: UnsafePickleError when it names any other code or is not a
    readable pickle. `encoding`: how Python 2 strings are decoded (`latin1` for a Python 2 pickle of
    arrays, whose buffers are such strings, as `np.load(..., encoding='latin1')` reads them).
    """
    try:
        return _ArraysOnly(data, encoding).load()
    except _TooLarge as exc:
        raise UnsafePickleError(f"{where} was refused: {exc}") from None
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


def load_npy(path: Path, encoding: str = "ASCII") -> np.ndarray:
    """A `.npy` file's array; an object array's pickled payload is read with `loads` (Python 2 strings
    decoded with `encoding`), never `allow_pickle`."""
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
        array = loads(fh.read(), str(path), encoding)
    if not isinstance(array, np.ndarray) or array.shape != tuple(shape):
        raise UnsafePickleError(f"{path}: its pickled payload is not the {shape} array its header announces")
    return np.asfortranarray(array) if fortran else array
