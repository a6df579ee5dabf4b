"""`type: dbstruct`: NetVLAD's .mat files read by position, as the PyTorch ports' parse_dbStruct does."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from acmnet.data import positives as ps
from acmnet.data.datasets import dataset_type
from acmnet.data.datasets import dbstruct as dbs
from acmnet.data.datasets.base import LayoutError


def _touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))


def _cell(paths: list[str]) -> np.ndarray:
    cell = np.empty((len(paths), 1), dtype=object)
    cell[:, 0] = paths
    return cell


def netvlad_struct(db_xy: np.ndarray, q_xy: np.ndarray, threshold: float = 25.0, **override) -> dict:
    """A dbStruct's fields in NetVLAD's order (whichSet, dbImage, utmDb, qImage, utmQ, numDb, numQ,
    posDistThr, posDistSqThr, nonTrivPosDistSqThr); image names as Pittsburgh's."""
    database = [f"{k // 24:03d}/{k:06d}_pitch1_yaw{k % 12 + 1}.jpg" for k in range(len(db_xy))]
    queries = [f"{k // 24:03d}/{k:06d}_pitch2_yaw{k % 12 + 1}.jpg" for k in range(len(q_xy))]
    fields = {
        "whichSet": "test",
        "dbImage": _cell(database),
        "utmDb": np.asarray(db_xy, dtype=np.float64).T,
        "qImage": _cell(queries),
        "utmQ": np.asarray(q_xy, dtype=np.float64).T,
        "numDb": len(database),
        "numQ": len(queries),
        "posDistThr": threshold,
        "posDistSqThr": threshold**2,
        "nonTrivPosDistSqThr": 100.0,
    }
    fields.update(override)
    return fields


def dbstruct_tree(root: Path, db_xy, q_xy, mat: str = "datasets/pitts30k_test.mat", **override) -> dict:
    """The images and the .mat (scipy.io.savemat of a struct, fields in NetVLAD's order)."""
    fields = netvlad_struct(np.asarray(db_xy), np.asarray(q_xy), **override)
    for f in fields["dbImage"][:, 0]:
        _touch(root / f)
    for f in fields["qImage"][:, 0]:
        _touch(root / "queries_real" / f)
    (root / mat).parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(root / mat, {"dbStruct": fields})
    return fields


DB = [(10.0 * i, 5.0) for i in range(10)]
Q = [(3.0, 5.0), (45.0, 25.0), (500.0, 0.0), (90.0, 5.0)]


def parse_dbstruct(path: Path):
    """Nanne/pytorch-NetVlad pittsburgh.py's parse_dbStruct, transcribed (position by position)."""
    mat = scipy.io.loadmat(path)
    s = mat["dbStruct"].item()
    return [f[0].item() for f in s[1]], s[2].T, [f[0].item() for f in s[3]], s[4].T, s[7].item()


def test_rows_and_positives_as_the_ports_read_them(tmp_path):
    dbstruct_tree(tmp_path, DB, Q)
    frame = dbs.DATASET.prepare_manifest(tmp_path, {}, "pitts")
    db_image, utm_db, q_image, utm_q, threshold = parse_dbstruct(tmp_path / "datasets" / "pitts30k_test.mat")
    assert frame.loc[frame["role"] == "reference", "image"].tolist() == db_image
    assert frame.loc[frame["role"] == "query", "image"].tolist() == [f"queries_real/{q}" for q in q_image]
    sets = ps.positives_of(frame, "listed", 0, None)
    # getPositives: within posDistThr (inclusive), Euclidean in UTM
    expected = [np.flatnonzero(np.linalg.norm(utm_db - q, axis=1) <= threshold).tolist() for q in utm_q]
    assert [sets.of(i).tolist() for i in range(sets.n_queries)] == expected
    assert expected[1] == [3, 4, 5, 6] and expected[2] == []  # (45, 25) is exactly 25 m from (30, 5) and (60, 5)
    assert (
        dbs.ground_truth_note(tmp_path, dbs.DbStructOptions())
        == "within posDistThr = 25 m of pitts30k_test.mat (NetVLAD's dbStruct, fields read by name)"
    )


def test_threshold_comes_from_the_file(tmp_path):
    dbstruct_tree(tmp_path, DB, Q, mat="tokyo247.mat", threshold=5.0)
    frame = dbs.DATASET.prepare_manifest(tmp_path, {"mat": "tokyo247.mat"}, "tokyo")
    sets = ps.positives_of(frame, "listed", 0, None)
    assert [sets.of(i).tolist() for i in range(sets.n_queries)] == [[0], [], [], [9]]


@pytest.mark.parametrize(
    ("override", "pattern"),
    [
        ({"numDb": 11}, r"dbImage lists 10 images but numDb says 11: the counts disagree"),
        ({"numQ": 3}, r"qImage lists 4 images but numQ says 3"),
        ({"utmDb": np.zeros((2, 9))}, r"utmDb has shape \(2, 9\), but 10 images need \(2, 10\)"),
        (
            {"utmQ": np.array([["a", "b", "c", "d"], ["a", "b", "c", "d"]])},
            r"utmQ holds <U1 values, not UTM coordinates",
        ),
        (
            {"utmQ": np.array([[1.0, np.nan, 3, 4], [1, 2, 3, 4]])},
            r"utmQ column 1 \(000/000001_pitch2_yaw2.jpg\) is \[nan, 2.0\], not numbers",
        ),
        ({"posDistThr": -1.0}, r"posDistThr is -1.0, not a positive number of metres"),
    ],
)
def test_structs_that_disagree_are_refused(tmp_path, override, pattern):
    dbstruct_tree(tmp_path, DB, Q, **override)
    with pytest.raises(
        dbs.DbStructError, match=re.escape(str(tmp_path / "datasets" / "pitts30k_test.mat")) + ": " + pattern
    ):
        dbs.DATASET.prepare_manifest(tmp_path, {}, "pitts")


def test_other_files_are_refused(tmp_path):
    with pytest.raises(LayoutError, match="pitts30k_test.mat does not exist: copy NetVLAD's dbStruct file"):
        dbs.DATASET.prepare_manifest(tmp_path, {}, "pitts")
    (tmp_path / "datasets").mkdir()
    scipy.io.savemat(tmp_path / "datasets" / "pitts30k_test.mat", {"other": np.zeros(3)})
    with pytest.raises(dbs.DbStructError, match=r"holds no `dbStruct` \(variables: other\)"):
        dbs.DATASET.prepare_manifest(tmp_path, {}, "pitts")
    scipy.io.savemat(
        tmp_path / "datasets" / "pitts30k_test.mat", {"dbStruct": {"whichSet": "test", "dbImage": _cell(["a"])}}
    )
    with pytest.raises(
        dbs.DbStructError, match=r"dbStruct has no field utmDb, qImage, .* \(its fields: whichSet, dbImage\)"
    ):
        dbs.DATASET.prepare_manifest(tmp_path, {}, "pitts")
    scipy.io.savemat(tmp_path / "datasets" / "pitts30k_test.mat", {"dbStruct": _cell(["a", "b"]).T})  # a 1x2 cell
    with pytest.raises(dbs.DbStructError, match=r"dbStruct has 2 fields, not NetVLAD's 10"):
        dbs.DATASET.prepare_manifest(tmp_path, {}, "pitts")


def test_missing_query_image_is_named(tmp_path):
    fields = dbstruct_tree(tmp_path, DB, Q)
    gone = tmp_path / "queries_real" / fields["qImage"][2, 0]
    gone.unlink()
    with pytest.raises(LayoutError, match=re.escape(f"{gone} does not exist (1 of the 4 images")):
        dbs.DATASET.prepare_manifest(tmp_path, {}, "pitts")


def test_registered_without_route_order():
    kind = dataset_type("dbstruct")
    assert kind.ground_truth == "listed" and not kind.route_order(dbs.DbStructOptions())


def test_a_matlab_v73_file_is_named_as_such(tmp_path):
    """scipy.io.loadmat raises NotImplementedError for a MATLAB v7.3 (HDF5) file (read from its
    128-byte header: version 0x0200): say what it is and how to save it so that it can be read."""
    from acmnet.data.datasets import dbstruct

    mat = tmp_path / "pitts30k_test.mat"
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64".ljust(116, b" ") + b"\0" * 8 + b"\0\x02IM"
    mat.write_bytes(header + b"\0" * 512)
    with pytest.raises(dbstruct.DbStructError, match=r"MATLAB v7\.3 \(HDF5\).*-v7"):
        dbstruct._fields(mat)


# ---- issue 33 item 3: fields by name where the file stores names ----------------------------------


def _positives(root: Path) -> list[str]:
    frame = dbs.DATASET.prepare_manifest(root, {}, "pitts")
    return frame.loc[frame["role"] == "query", "positives"].tolist()


def test_fields_are_read_by_the_names_the_file_stores(tmp_path):
    """posDistThr and posDistSqThr in each other's places (and every field in another order): read by
    position, the threshold would be 625 m; by name it stays 25 m, with the same positives."""
    expected = _positives(dbstruct_tree(tmp_path / "a", DB, Q) and tmp_path / "a")
    fields = netvlad_struct(np.asarray(DB), np.asarray(Q))
    dbstruct_tree(tmp_path / "b", DB, Q)
    shuffled = {k: fields[k] for k in reversed(list(fields))}  # posDistSqThr before posDistThr, ...
    scipy.io.savemat(tmp_path / "b/datasets/pitts30k_test.mat", {"dbStruct": shuffled})
    assert (
        scipy.io.loadmat(tmp_path / "b/datasets/pitts30k_test.mat")["dbStruct"].dtype.names[0] == "nonTrivPosDistSqThr"
    )
    assert _positives(tmp_path / "b") == expected
    assert dbs.read_struct(tmp_path / "b/datasets/pitts30k_test.mat").positive_distance == 25.0
    assert "fields read by name" in dbs.ground_truth_note(tmp_path / "b", dbs.DbStructOptions())


def test_a_cell_without_names_is_read_by_position_and_says_so(tmp_path):
    fields = dbstruct_tree(tmp_path, DB, Q)
    cell = np.empty((1, 10), dtype=object)
    for i, name in enumerate(dbs.FIELDS):
        cell[0, i] = fields[name]
    scipy.io.savemat(tmp_path / "datasets/pitts30k_test.mat", {"dbStruct": cell})
    struct = dbs.read_struct(tmp_path / "datasets/pitts30k_test.mat")
    assert struct.read == "by position" and struct.positive_distance == 25.0 and len(struct.database) == 10
    assert "fields read by position" in dbs.ground_truth_note(tmp_path, dbs.DbStructOptions())


def test_a_1x2_struct_an_empty_and_a_cut_file_are_one_line_naming_the_file(tmp_path):
    fields = dbstruct_tree(tmp_path, DB, Q)
    mat = tmp_path / "datasets/pitts30k_test.mat"
    whole = mat.read_bytes()
    pair = np.empty((1, 2), dtype=[(name, object) for name in fields])  # a 1x2 struct array
    for name, value in fields.items():
        pair[name][0, 0] = pair[name][0, 1] = value
    scipy.io.savemat(mat, {"dbStruct": pair})
    with pytest.raises(dbs.DbStructError, match=r"pitts30k_test.mat: dbStruct is a 1x2 struct array, not one struct"):
        dbs.read_struct(mat)
    mat.write_bytes(b"")
    with pytest.raises(dbs.DbStructError, match=r"pitts30k_test.mat cannot be read by scipy.io.loadmat \(MatReadError"):
        dbs.read_struct(mat)
    mat.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(dbs.DbStructError, match=r"pitts30k_test.mat cannot be read by scipy.io.loadmat .*cut short"):
        dbs.read_struct(mat)


# ---- issue 33 item 2: image paths stay inside the root; item 1: the .mat is read by content -------


@pytest.mark.parametrize(("field", "entry"), [("dbImage", "../outside.jpg"), ("qImage", "/abs/q.jpg")])
def test_image_paths_leaving_the_root_are_refused(tmp_path, field, entry):
    fields = dbstruct_tree(tmp_path / "root", DB, Q)
    fields[field][1, 0] = entry
    scipy.io.savemat(tmp_path / "root/datasets/pitts30k_test.mat", {"dbStruct": fields})
    _touch(tmp_path / "outside.jpg")
    with pytest.raises(
        LayoutError, match=rf"pitts30k_test.mat, {field} entry 1: {re.escape(entry)} (leads out|is an abs)"
    ):
        dbs.DATASET.prepare_manifest(tmp_path / "root", {}, "pitts")
    with pytest.raises(LayoutError, match=r"the option `queries` of pitts30k_test.mat: ../q leads out of"):
        dbs.DATASET.prepare_manifest(tmp_path / "root", {"queries": "../q"}, "pitts")


def test_the_mat_anywhere_is_a_file_read(tmp_path):
    outside = tmp_path / "netvlad/pitts30k_test.mat"
    assert dbs.DATASET.files_read(tmp_path / "root", dbs.DbStructOptions(mat=str(outside))) == [outside]
