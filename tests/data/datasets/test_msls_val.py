"""`type: msls_val`: MSLS-val from MixVPR's four index files, as MixVPR's MapillaryDataset reads them."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

from acmnet.config import ConfigError
from acmnet.data import positives as ps
from acmnet.data.datasets import dataset_type
from acmnet.data.datasets import msls_val as mv
from acmnet.data.datasets.base import LayoutError

CITIES = ("cph", "sf")


def _touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))


def msls_tree(root: Path, n_db: int = 12, n_q: int = 9, unscored: tuple[int, ...] = (2, 7), index: Path | None = None):
    """train_val/<city>/{database,query}/images/*.jpg and MixVPR's four files (as np.save writes them:
    path arrays of str, qIdx int64, pIdx an object array of int64 arrays). Query q of qImages is near
    database image q; qIdx leaves out `unscored`. Returns (database, qImages, qIdx, pIdx)."""
    database = [f"train_val/{CITIES[i % 2]}/database/images/db{i:03d}.jpg" for i in range(n_db)]
    queries = [f"train_val/{CITIES[i % 2]}/query/images/q{i:03d}.jpg" for i in range(n_q)]
    for image in database + queries:
        _touch(root / image)
    scored = np.array([q for q in range(n_q) if q not in unscored], dtype=np.int64)
    positives = np.empty(len(scored), dtype=object)
    for i, q in enumerate(scored):
        positives[i] = np.array(sorted({q, min(q + 1, n_db - 1)}), dtype=np.int64)
    folder = index or root
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "msls_val_dbImages.npy", np.array(database))
    np.save(folder / "msls_val_qImages.npy", np.array(queries))
    np.save(folder / "msls_val_qIdx.npy", scored)
    np.save(folder / "msls_val_pIdx.npy", positives, allow_pickle=True)
    return database, queries, scored, positives


def prepare(root, **options):
    return mv.DATASET.prepare_manifest(root, options, "msls")


def test_rows_follow_mixvpr_order_and_lists(tmp_path):
    database, queries, scored, positives = msls_tree(tmp_path)
    frame = prepare(tmp_path)
    assert frame.loc[frame["role"] == "reference", "image"].tolist() == database
    assert frame.loc[frame["role"] == "train", "image"].tolist() == database
    # MixVPR: np.concatenate((dbImages, qImages[qIdx])): the scored queries only, in qIdx order
    assert frame.loc[frame["role"] == "query", "image"].tolist() == [queries[q] for q in scored]
    sets = ps.positives_of(frame, "listed", 0, None)
    assert [sets.of(i).tolist() for i in range(sets.n_queries)] == [p.tolist() for p in positives]
    assert (
        mv.ground_truth_note(tmp_path, mv.MslsValOptions())
        == "7 of 9 queries scored (msls_val_qIdx.npy, as MixVPR scores MSLS-val)"
    )


def test_index_folder_option(tmp_path):
    msls_tree(tmp_path, index=tmp_path / "msls_index")
    assert len(prepare(tmp_path, index="msls_index")) == 12 + 12 + 7
    with pytest.raises(LayoutError, match="msls_val_dbImages.npy does not exist: copy the four msls_val_"):
        prepare(tmp_path)
    with pytest.raises(ConfigError, match="index is empty"):
        prepare(tmp_path, index=" ")


def _resave(root: Path, name: str, array: np.ndarray) -> None:
    np.save(root / f"msls_val_{name}.npy", array, allow_pickle=array.dtype == object)


def _objects(*rows):
    out = np.empty(len(rows), dtype=object)
    for i, r in enumerate(rows):
        out[i] = r
    return out


@pytest.mark.parametrize(
    ("name", "array", "pattern"),
    [
        ("qIdx", np.array([0, 1, 9]), r"msls_val_qIdx.npy, entry 2: query 9 is outside qImages' 9 paths"),
        ("qIdx", np.array([0, 1, 1]), r"msls_val_qIdx.npy, entry 2: query 1 is scored twice \(entries 1 and 2\)"),
        ("qIdx", np.array([0.0, 1.0]), r"msls_val_qIdx.npy holds a float64 array"),
        (
            "pIdx",
            _objects([0], [1]),
            r"msls_val_pIdx.npy holds 2 positive lists for the 7 queries of msls_val_qIdx.npy",
        ),
        ("pIdx", np.zeros((7, 2)), r"msls_val_pIdx.npy holds a float64 array of shape \(7, 2\): not one positive list"),
        (
            "dbImages",
            np.arange(3),
            r"msls_val_dbImages.npy holds a int64 array of shape \(3,\), not a 1-d array of paths",
        ),
    ],
)
def test_files_that_disagree_are_refused(tmp_path, name, array, pattern):
    msls_tree(tmp_path)
    _resave(tmp_path, name, array)
    with pytest.raises(LayoutError, match=pattern):
        prepare(tmp_path)


def test_positives_outside_the_database_or_not_integers_are_refused(tmp_path):
    *_, positives = msls_tree(tmp_path)
    positives[3] = np.array([4, 12])
    _resave(tmp_path, "pIdx", positives)
    with pytest.raises(
        mv.MslsIndexError, match=r"entry 3: positive 12 is outside msls_val_dbImages.npy's 12 database images \(0..11\)"
    ):
        prepare(tmp_path)
    positives[3] = np.array([4.5])
    _resave(tmp_path, "pIdx", positives)
    with pytest.raises(mv.MslsIndexError, match=r"entry 3: the positives are not an integer"):
        prepare(tmp_path)


def test_missing_images_are_named_with_the_count(tmp_path):
    database, queries, _, _ = msls_tree(tmp_path)
    (tmp_path / database[5]).unlink()
    (tmp_path / database[6]).unlink()
    with pytest.raises(LayoutError, match=re.escape(f"{tmp_path / database[5]} does not exist (2 of the 12 images")):
        prepare(tmp_path)
    _touch(tmp_path / database[5])
    _touch(tmp_path / database[6])
    (tmp_path / queries[2]).unlink()  # not scored: not needed
    assert len(prepare(tmp_path)) == 31


def test_registered_without_route_order():
    kind = dataset_type("msls_val")
    assert kind.ground_truth == "listed" and not kind.route_order(mv.MslsValOptions())


# ---- issue 33 items 1, 2 and 9 ---------------------------------------------------------------------


def test_a_2d_integer_pidx_is_read_row_by_row_as_mixvpr_indexes_it(tmp_path):
    """Every query with as many positives: np.save writes a 2-d int64 array, and MixVPR's `pIdx[q]` is a row."""
    _, _, scored, _ = msls_tree(tmp_path)
    rows = np.array([[q, q + 1] for q in scored], dtype=np.int64)
    _resave(tmp_path, "pIdx", rows)
    frame = prepare(tmp_path)
    sets = ps.positives_of(frame, "listed", 0, None)
    assert [sets.of(i).tolist() for i in range(sets.n_queries)] == rows.tolist()


@pytest.mark.parametrize("name", ["dbImages", "qImages"])
def test_a_path_listed_twice_is_refused_at_prepare(tmp_path, name):
    database, queries, _, _ = msls_tree(tmp_path)
    paths = list(database if name == "dbImages" else queries)
    paths[3] = "./" + paths[1]  # the same image, written another way
    _resave(tmp_path, name, np.array(paths))
    with pytest.raises(
        LayoutError, match=rf"msls_val_{name}.npy, entry 3: {re.escape(paths[3])} is listed again \(first at entry 1\)"
    ):
        prepare(tmp_path)


@pytest.mark.parametrize("entry", ["../elsewhere/x.jpg", "/abs/x.jpg", "train_val/../../x.jpg"])
def test_image_paths_leaving_the_root_are_refused(tmp_path, entry):
    database, _, _, _ = msls_tree(tmp_path / "root")
    _touch(tmp_path / "elsewhere/x.jpg")
    _resave(tmp_path / "root", "dbImages", np.array([*database[:2], entry, *database[3:]]))
    with pytest.raises(
        LayoutError, match=rf"msls_val_dbImages.npy, entry 2: {re.escape(entry)} (leads out of|is an absolute)"
    ):
        prepare(tmp_path / "root")


def test_the_four_files_anywhere_are_files_read(tmp_path):
    index = tmp_path / "MixVPR/datasets/msls_val"
    files = mv.DATASET.files_read(tmp_path / "root", mv.MslsValOptions(index=str(index)))
    assert files == [index / name for name in mv.FILES]
