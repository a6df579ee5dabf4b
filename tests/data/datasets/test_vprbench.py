import os
import re
import time

import numpy as np
import pytest

from acmnet.config import ConfigError
from acmnet.data import manifest as mf
from acmnet.data import positives as ps
from acmnet.data.datasets import dataset_type
from acmnet.data.datasets import vprbench as vb
from acmnet.data.datasets.base import LayoutError
from acmnet.pickled import UnsafePickleError

GT = "ground_truth_new.npy"


def prepare(root, options=None, name=None):
    return vb.DATASET.prepare_manifest(root, options or {}, name)


def _touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))


def _gt(root, rows, name=GT):
    """Save `rows` ([query, positives] pairs) as VPR-Bench does: an object array of shape (Q, 2)."""
    array = np.empty((len(rows), 2), dtype=object)
    for i, (query, positives) in enumerate(rows):
        array[i, 0] = query
        array[i, 1] = positives
    np.save(root / name, array, allow_pickle=True)
    return root / name


def _tree(root, refs=4, queries=3, rows=None):
    """refs/queries zero-byte images named 0000000.jpg...; ground truth query q -> [q] unless given."""
    for i in range(refs):
        _touch(root / "ref" / f"{i:07d}.jpg")
    for i in range(queries):
        _touch(root / "query" / f"{i:07d}.jpg")
    _gt(root, rows if rows is not None else [[q, [q]] for q in range(queries)])
    return root


def _query_positives(frame):
    return frame.loc[frame["role"] == "query", "positives"].tolist()


def test_rows_order_and_positives(tmp_path):
    rows = [
        [np.int64(3), 2],  # a single Python int
        [0, [3, 1, 3]],  # a list, unsorted, with a repeat
        [np.int32(4), []],  # no positive: the query is kept
        [1, np.array([2, 0], dtype=np.int32)],  # a 1-d integer array
        [2, (np.int64(1), np.uint8(2))],  # a tuple of NumPy integers
        [5, np.int16(0)],  # a single NumPy int
        [6, np.array([])],  # an empty list saved as an array (float64)
    ]
    root = _tree(tmp_path, refs=4, queries=7, rows=rows)
    frame = mf.validate(prepare(root))
    assert list(frame.columns) == ["image", "role", "place", "condition", "positives"]
    refs = [f"ref/{i:07d}.jpg" for i in range(4)]
    assert frame.loc[frame["role"] == "train", "image"].tolist() == refs
    assert frame.loc[frame["role"] == "reference", "image"].tolist() == refs
    assert frame["role"].tolist() == ["train"] * 4 + ["reference"] * 4 + ["query"] * 7
    assert frame["condition"].tolist() == ["ref"] * 8 + ["query"] * 7
    assert frame["place"].tolist() == [0, 1, 2, 3] * 2 + list(range(7))
    assert frame.loc[frame["role"] == "query", "image"].tolist() == [f"query/{i:07d}.jpg" for i in range(7)]
    assert _query_positives(frame) == ["1 3", "0 2", "1 2", "2", "", "0", ""]
    assert set(frame.loc[frame["role"] != "query", "positives"]) == {""}
    sets = ps.positives_of(frame, "listed", 0, None)
    assert [sets.of(q).tolist() for q in range(7)] == [[1, 3], [0, 2], [1, 2], [2], [], [0], []]


def test_shuffled_rows_map_to_their_query(tmp_path):
    root = _tree(tmp_path, refs=10, queries=6, rows=[[q, [9 - q]] for q in (4, 0, 5, 2, 1, 3)])
    assert _query_positives(prepare(root)) == ["9", "8", "7", "6", "5", "4"]


def test_numeric_array_with_one_positive_per_query(tmp_path):
    root = _tree(tmp_path, refs=3, queries=3)
    np.save(root / GT, np.array([[2, 0], [0, 1], [1, 1]], dtype=np.int64))
    assert _query_positives(prepare(root)) == ["1", "1", "0"]


def test_names_sorted_and_extensions_mixed(tmp_path):
    for name in ("c.png", "a.JPG", "b.jpeg", ".DS_Store", "._a.jpg", "Thumbs.db", "notes.txt"):
        _touch(tmp_path / "ref" / name)
    for name in ("z.jpg", "y.PNG"):
        _touch(tmp_path / "query" / name)
    _gt(tmp_path, [[0, [2]], [1, [0, 1]]])
    frame = prepare(tmp_path)
    assert frame.loc[frame["role"] == "reference", "image"].tolist() == ["ref/a.JPG", "ref/b.jpeg", "ref/c.png"]
    queries = frame[frame["role"] == "query"]
    assert queries["image"].tolist() == ["query/y.PNG", "query/z.jpg"]
    assert queries["positives"].tolist() == ["2", "0 1"]  # y (query 0) -> c.png, z -> a and b


def _refused(root, pattern, after=", "):
    with pytest.raises(vb.GroundTruthError, match=re.escape(str(root / GT)) + after + pattern) as info:
        prepare(root)
    assert "\n" not in str(info.value)
    return info


@pytest.mark.parametrize(
    ("rows", "pattern"),
    [
        ([[0, [0]], [1.0, [1]], [2, [2]]], r"row 1 \[1\.0, \[1\]\]: the query index 1\.0 is not an integer"),
        ([[0, [0]], [True, [1]], [2, [2]]], r"row 1 \[True, \[1\]\]: the query index True is not an integer"),
        ([[0, [0]], [1, [1]], [3, [2]]], r"row 2 \[3, \[2\]\]: query index 3 is out of range: .*query holds 3 images"),
        ([[-1, [0]], [1, [1]], [2, [2]]], r"row 0 \[-1, \[0\]\]: query index -1 is out of range"),
        ([[0, [0]], [1, [4, 5]], [2, [2]]], r"row 1 \[1, \[4, 5\]\]: every listed reference \(4, 5\) is outside"),
        ([[0, [-2]], [1, [1]], [2, [2]]], r"row 0 \[0, \[-2\]\]: every listed reference \(-2\) is outside"),
        (
            [[0, [0]], [1, [1.5]], [2, [2]]],
            r"row 1 \[1, \[1\.5\]\]: the positives \[1\.5\] are not an integer or a list",
        ),
        ([[0, [0]], [1, [[1, 2]]], [2, [2]]], r"row 1 .*: the positives \[\[1, 2\]\] are not an integer or a list"),
        ([[0, [0]], [1, "2"], [2, [2]]], r"row 1 .*: the positives '2' are not an integer"),
        ([[0, [0]], [1, [1]], [0, [2]]], r"row 2 \[0, \[2\]\]: query 0 is listed twice \(rows 0 and 2\)"),
    ],
)
def test_bad_rows_are_refused(tmp_path, rows, pattern):
    _refused(_tree(tmp_path, refs=4, queries=3, rows=rows), pattern)


def test_indices_naming_no_reference_are_dropped_as_vprbench_scores_them(tmp_path, capsys):
    """Changed by issue 22: `-1` (no positive) and indices past the last reference were refused; VPR-Bench's
    released files hold both, and its `retrieved_index in list` never matches them."""
    rows = [[0, [0, 4, 5]], [1, -1], [2, [-1]], [3, [3, -1]]]
    frame = prepare(_tree(tmp_path, refs=4, queries=4, rows=rows), name="v")
    assert _query_positives(frame) == ["0", "", "", "3"]
    err = capsys.readouterr().err
    assert "v: ground_truth_new.npy lists 2 reference indices outside 0..3 in rows 0 (row 0: 4, 5): dropped" in err
    assert "2 rows of ground_truth_new.npy list only -1 (no positive)" in err
    assert "2 of 4 queries have no positive" in err


def test_float_positive_array_is_refused(tmp_path):
    root = _tree(tmp_path, refs=4, queries=2, rows=[[0, [0]], [1, np.array([1.0, 2.0])]])
    _refused(root, r"row 1 \[1, \[1\.0, 2\.0\]\]: the positives")


def test_missing_query_is_refused(tmp_path):
    root = _tree(tmp_path, refs=4, queries=3, rows=[[0, [0]], [2, [2]]])
    _refused(root, r"holds 2 rows for the 3 images of .*query: query 1 \(query/0000001\.jpg\) has no row", " ")


@pytest.mark.parametrize("array", [np.empty((3,), dtype=object), np.zeros((3, 3), dtype=object), np.zeros((3, 2, 1))])
def test_wrong_shape_is_refused(tmp_path, array):
    root = _tree(tmp_path, refs=4, queries=3)
    np.save(root / GT, array, allow_pickle=True)
    with pytest.raises(vb.GroundTruthError, match=re.escape(f"{root / GT} holds an array of shape {array.shape}")):
        prepare(root)


def test_long_rows_are_shortened(tmp_path):
    root = _tree(tmp_path, refs=4, queries=1, rows=[[0, [*range(1000), 1.5]]])
    info = _refused(root, r"row 0 \[0, \[0, 1, 2, .*\.\.\.: the positives \[0, 1, 2, .*\.\.\. are not an integer")
    assert len(str(info.value)) < 500


def test_crafted_file_is_refused_and_never_run(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    root = _tree(tmp_path, refs=2, queries=2, rows=[[0, [0]], [1, Payload()]])
    vb.check_layout(root, vb.VprBenchOptions())  # nothing is decoded by the layout check
    with pytest.raises(
        UnsafePickleError, match=re.escape(str(root / GT)) + r" was refused: it names `(posix|os)\.system`"
    ):
        prepare(root)
    assert not marker.exists()
    np.load(root / GT, allow_pickle=True)  # control: the file is armed, an unrestricted load runs it
    assert marker.exists()


def test_unreadable_files_are_refused(tmp_path):
    root = _tree(tmp_path, refs=2, queries=2)
    (root / GT).write_bytes(b"not a numpy file")
    with pytest.raises(UnsafePickleError, match=re.escape(str(root / GT)) + " is not a .npy file"):
        prepare(root)
    np.save(root / GT, np.zeros((2, 2), dtype=np.int64))
    (root / GT).write_bytes((root / GT).read_bytes()[:-8])  # truncated
    with pytest.raises(vb.GroundTruthError, match=re.escape(str(root / GT)) + " cannot be read"):
        prepare(root)


def test_layout_errors(tmp_path):
    root = _tree(tmp_path / "Corridor", refs=2, queries=2)
    hint = re.escape(f"{tmp_path / 'ref'} does not exist (folders in {tmp_path}: Corridor)")
    with pytest.raises(
        LayoutError, match=hint + re.escape(f". The dataset is one level deeper: use {root} as the root")
    ):
        prepare(tmp_path)
    (root / GT).unlink()
    with pytest.raises(LayoutError, match=r"Corridor/ground_truth_new\.npy does not exist"):
        vb.check_layout(root, vb.VprBenchOptions())
    for name in os.listdir(root / "query"):
        (root / "query" / name).unlink()
    _touch(root / "query" / ".DS_Store")
    _touch(root / "query" / "readme.txt")
    with pytest.raises(LayoutError, match=r"Corridor/query holds no images \(\.jpg, \.jpeg, \.png\)"):
        vb.check_layout(root, vb.VprBenchOptions())


def test_options_and_type_fields(tmp_path):
    for i in range(2):
        _touch(tmp_path / "db" / f"{i}.jpg")
        _touch(tmp_path / "live" / f"{i}.jpg")
    _gt(tmp_path, [[0, [1]], [1, [0]]], name="gt.npy")
    opts = {"reference": "db", "query": "live", "ground_truth": "gt.npy", "route_order": True}
    frame = prepare(tmp_path, opts)
    assert frame.loc[frame["role"] == "query", "image"].tolist() == ["live/0.jpg", "live/1.jpg"]
    assert set(frame.loc[frame["role"] != "query", "condition"]) == {"db"}
    assert _query_positives(frame) == ["1", "0"]
    dataset = dataset_type("vprbench")
    assert dataset is vb.DATASET
    assert (dataset.ground_truth, dataset.scoring) == ("listed", "recall")
    assert dataset.route_order(dataset.parse_options({}, "d")) is False
    assert dataset.route_order(dataset.parse_options({"route_order": True}, "d")) is True
    assert "gt.npy" in dataset.protocol(dataset.parse_options(opts, "d"))
    with pytest.raises(ConfigError, match="both the reference and the query folder"):
        prepare(tmp_path, {"reference": "db", "query": "db"})
    with pytest.raises(ConfigError, match=r"datasets.vprbench.query is empty"):
        prepare(tmp_path, {"query": ""})
    with pytest.raises(ConfigError, match="unknown config key `datasets.vprbench.refs`"):
        prepare(tmp_path, {"refs": "db"})


def test_natural_order_is_asked_for_where_the_two_orders_differ(tmp_path):
    """`img2` and `img10`: plain order puts img10 first, AnyLoc's natsorted img2; without `order` the
    folder is refused naming the two files, and each order lines the listed ground truth up its way."""
    for name in ("img1.jpg", "img2.jpg", "img10.jpg"):
        _touch(tmp_path / "ref" / name)
        _touch(tmp_path / "query" / name)
    _gt(tmp_path, [[0, [0]], [1, [1]], [2, [2]]])
    with pytest.raises(LayoutError, match=r"ref: img10.jpg comes before img2.jpg in plain name order .* set `order"):
        prepare(tmp_path)
    natural = prepare(tmp_path, {"order": "natural"})
    assert natural.loc[natural["role"] == "reference", "image"].tolist() == [
        "ref/img1.jpg",
        "ref/img2.jpg",
        "ref/img10.jpg",
    ]
    plain = prepare(tmp_path, {"order": "plain"})
    assert plain.loc[plain["role"] == "query", "image"].tolist() == [
        "query/img1.jpg",
        "query/img10.jpg",
        "query/img2.jpg",
    ]
    with pytest.raises(ConfigError, match="order"):
        prepare(tmp_path, {"order": "natsort"})


# ---- issue 33 items 1, 2 and 7 ---------------------------------------------------------------------


def test_a_row_of_shared_nested_lists_is_shown_with_bounded_work(tmp_path):
    """60 levels of [a, a] sharing one list: a few hundred bytes pickled, 2**60 leaves as text. The
    message used to expand the row before shortening it, and `prepare` never returned."""
    nested = [1.5]
    for _ in range(60):
        nested = [nested, nested]
    root = _tree(tmp_path, refs=2, queries=1, rows=[[0, nested]])
    assert (root / GT).stat().st_size < 2000
    started = time.perf_counter()
    info = _refused(root, r"row 0 \[0, \[\[\[\[.*\.\.\.: the positives \[\[\[\[.*\.\.\. are not an integer")
    assert time.perf_counter() - started < 5 and len(str(info.value)) < 500


def test_a_ground_truth_outside_the_root_is_noted_and_a_file_read(tmp_path, capsys):
    root = _tree(tmp_path / "root", refs=2, queries=2)
    (root / GT).rename(tmp_path / "gt.npy")
    assert len(prepare(root, {"ground_truth": "../gt.npy"})) == 2 + 2 + 2
    assert "the ground truth is read from" in capsys.readouterr().err
    assert vb.DATASET.files_read(root, vb.VprBenchOptions(ground_truth="../gt.npy")) == [root / "../gt.npy"]


def test_image_folders_outside_the_root_are_refused(tmp_path):
    root = _tree(tmp_path / "root", refs=2, queries=2)
    (tmp_path / "other").mkdir()
    _touch(tmp_path / "other" / "0000000.jpg")
    with pytest.raises(LayoutError, match=r"the option `query`: ../other leads out of"):
        prepare(root, {"query": "../other"})
