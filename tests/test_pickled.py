"""`acmnet.pickled`: NumPy data from pickles without running code, and without unbounded allocation."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from acmnet.pickled import UnsafePickleError, load_npy, loads

TIB9 = 9 * 2**40 // 8  # float64 elements of a 9 TiB array


class Reconstruct:
    """Pickles as the allowed reconstructor's call with `args`, then `state` (as NumPy's own arrays do)."""

    def __init__(self, args: tuple, state: tuple | None = None) -> None:
        self.args, self.state = args, state

    def __reduce__(self):
        call = (np._core.multiarray._reconstruct, self.args)
        return call if self.state is None else (*call, self.state)


@pytest.mark.parametrize("protocol", [0, 2, 4])
def test_arrays_and_object_arrays_round_trip(protocol):
    plain = np.arange(12, dtype=np.float32).reshape(3, 4)
    for array in (plain, np.asfortranarray(plain)):
        out = loads(pickle.dumps(array, protocol=protocol), "x.pickle")
        np.testing.assert_array_equal(out, array)
        assert out.dtype == array.dtype and out.flags.f_contiguous == array.flags.f_contiguous
    objects = np.empty((3, 2), dtype=object)  # VPR-Bench's ground truth: (query, [positives]) rows
    for q in range(3):
        objects[q] = q, list(range(q))
    assert loads(pickle.dumps(objects, protocol=protocol), "gt").tolist() == objects.tolist()
    nones = np.full(1000, None, dtype=object)  # one opcode per element: still within the file's bound
    assert loads(pickle.dumps(nones, protocol=protocol), "gt").tolist() == [None] * 1000


@pytest.mark.parametrize(
    "crafted",
    [
        Reconstruct((np.ndarray, (TIB9,), b"f8")),  # the reconstructor asked for 9 TiB
        Reconstruct((np.ndarray, (0,), b"b"), (1, (TIB9,), np.dtype("f8"), False, b"\0" * 8)),  # its state
        Reconstruct((np.ndarray, (0,), b"b"), (1, (TIB9,), np.dtype(object), False, [1])),  # object pointers
    ],
)
def test_an_array_larger_than_the_file_is_refused_before_allocating(crafted, tmp_path):
    # issue 26 item 13: a MemoryError traceback before; now refused naming the file and the size asked for
    data = pickle.dumps(crafted, protocol=2)
    with pytest.raises(
        UnsafePickleError, match=r"f.pickle was refused: it asks for an array of shape \(1236950581248,\)"
    ):
        loads(data, "f.pickle")
    # the same inside a VPR-Bench-style object .npy (the payload after the header is a pickle)
    path = tmp_path / "ground_truth_new.npy"
    np.save(path, np.array([crafted, 1], dtype=object), allow_pickle=True)
    with pytest.raises(UnsafePickleError, match=r"ground_truth_new.npy was refused: it asks for an array"):
        load_npy(path)


def test_many_arrays_together_are_bounded_by_the_file():
    shape = (1 << 16,)  # 64 KiB each, asked for 64 times in a file of a few KiB
    data = pickle.dumps([Reconstruct((np.ndarray, shape, b"B")) for _ in range(64)], protocol=2)
    assert len(data) < 1 << 16
    with pytest.raises(UnsafePickleError, match="bytes left of the file's size"):
        loads(data, "f.pickle")


def test_calling_ndarray_directly_is_refused():
    class Direct:
        def __reduce__(self):
            return (np.ndarray, ((TIB9,),))

    with pytest.raises(UnsafePickleError, match=r"calls `numpy.ndarray` directly"):
        loads(pickle.dumps(Direct(), protocol=2), "f.pickle")
