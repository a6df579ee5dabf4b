"""SALAD's / CliqueMining's image lists as released (copies in image_lists_release/, GPL-3.0, from
github.com/serizba/salad at e593005; CliqueMining's f7c4e8f holds the same bytes): read in their
order with their positives, and row for row the positives of VPR-Bench's own ground truth of the
same sets (vprbench_release/Nordland.npy, SPEDTEST.npy)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from acmnet.data import positives as ps
from acmnet.data.datasets import LayoutError
from acmnet.data.datasets import image_lists as il
from acmnet.evaluate.statistics import first_hit_ranks, recall_at

RELEASE = Path(__file__).parent / "image_lists_release"
VPRBENCH = Path(__file__).parent / "vprbench_release"
# name -> (references, queries, listed positives), VPR-Bench's file of the same set
COUNTS = {"Nordland": (27592, 2760, 8279), "SPED": (607, 607, 607)}
VPRBENCH_FILE = {"Nordland": "Nordland.npy", "SPED": "SPEDTEST.npy"}


def _touch(path: Path) -> None:
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))


def stand_in_tree(root: Path, name: str) -> Path:
    """The dataset root with a zero-byte stand-in for every listed image and the three released files."""
    for suffix in il.SUFFIXES:
        (root / "lists").mkdir(parents=True, exist_ok=True)
        shutil.copy(RELEASE / name / f"{name}{suffix}", root / "lists" / f"{name}{suffix}")
    for suffix in il.SUFFIXES[:2]:
        for image in np.load(RELEASE / name / f"{name}{suffix}"):
            (root / image).parent.mkdir(parents=True, exist_ok=True)
            _touch(root / image)
    return root


@pytest.fixture(scope="module", params=list(COUNTS))
def released(request, tmp_path_factory):
    name = request.param
    root = stand_in_tree(tmp_path_factory.mktemp(name), name)
    return name, root, il.DATASET.prepare_manifest(root, {"lists": "lists"}, name)


def test_counts_and_order_as_released(released):
    name, _, frame = released
    n_refs, n_queries, n_positives = COUNTS[name]
    refs, queries = frame[frame.role == "reference"], frame[frame.role == "query"]
    assert (len(refs), len(queries)) == (n_refs, n_queries)
    assert refs.image.tolist() == np.load(RELEASE / name / f"{name}_dbImages.npy").tolist()
    assert queries.image.tolist() == np.load(RELEASE / name / f"{name}_qImages.npy").tolist()
    assert frame[frame.role == "train"].image.tolist() == refs.image.tolist()
    sets = ps.positives_of(frame, "listed", 0, None)
    assert int(sets.counts().sum()) == n_positives


def test_positives_are_vprbench_ground_truth_row_for_row(released):
    name, _, frame = released
    queries = frame[frame.role == "query"].image.tolist()
    ours = [set(map(int, p.split())) for p in frame[frame.role == "query"].positives]
    truth = np.load(VPRBENCH / VPRBENCH_FILE[name], allow_pickle=True)  # VPR-Bench's own reading
    assert len(truth) == len(queries)
    for q, listed in truth:
        assert queries[q] == f"query/{q:07d}.jpg"  # VPR-Bench's query q is the sorted folder's q-th image
        assert ours[q] == set(listed), q


def test_release_read_as_salad_loads_it(released):
    """SALAD's NordlandDataset/SPEDDataset: images = concatenate(dbImages, qImages), ground truth
    np.load(..., allow_pickle=True); recall as its eval counts `np.any(np.in1d(pred[:n], gt[q]))`."""
    name, _, frame = released
    gt = np.load(RELEASE / name / f"{name}_gt.npy", allow_pickle=True)
    rng = np.random.default_rng(0)
    n_refs = COUNTS[name][0]
    predictions = rng.integers(0, n_refs, size=(len(gt), 10))
    predictions[::3, 2] = [np.atleast_1d(g)[0] for g in gt[::3]]  # a third of the queries hit at rank 3
    salad = [np.any(np.isin(predictions[q][:5], gt[q])) for q in range(len(gt))]
    sets = ps.positives_of(frame, "listed", 0, None)
    ours = recall_at(first_hit_ranks(sets.hits(predictions)), 5)
    assert ours == pytest.approx(100 * np.mean(salad), abs=1e-9) and ours > 30


def small_tree(root: Path, db: list[str], q: list[str], gt: object, name: str = "Mine") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    np.save(root / f"{name}_dbImages.npy", np.array(db))
    np.save(root / f"{name}_qImages.npy", np.array(q))
    np.save(root / f"{name}_gt.npy", gt, allow_pickle=True)
    for image in [*db, *q]:
        if ".." not in image and not image.startswith("/"):
            (root / image).parent.mkdir(parents=True, exist_ok=True)
            _touch(root / image)
    return root


def _object(rows: list[list[int]]) -> np.ndarray:
    out = np.empty(len(rows), dtype=object)
    out[:] = [np.array(r, dtype=np.int64) for r in rows]
    return out


def test_list_order_kept_and_empty_row_never_correct(tmp_path):
    db = ["ref/b.jpg", "ref/a.jpg", "ref/c.jpg"]  # not sorted: the list's order is the positions' order
    root = small_tree(tmp_path, db, ["query/x.jpg", "query/y.jpg"], _object([[1], []]))
    frame = il.DATASET.prepare_manifest(root, {}, "mine")  # `name` found: the only *_dbImages.npy
    assert frame[frame.role == "reference"].image.tolist() == db
    assert frame[frame.role == "query"].positives.tolist() == ["1", ""]
    sets = ps.positives_of(frame, "listed", 0, None)
    ranks = first_hit_ranks(sets.hits(np.array([[1, 0], [0, 1]])))
    assert recall_at(ranks, 2) == 50.0  # the query without a positive counts, as VPR-Bench's [-1] row
    assert "1 queries without one" in il.ground_truth_note(root, il.ImageListsOptions())


@pytest.mark.parametrize(
    ("db", "q", "gt", "message"),
    [
        (
            ["../ref/a.jpg"],
            ["q.jpg"],
            _object([[0]]),
            r"Mine_dbImages.npy, entry 0: '../ref/a.jpg' is not a path inside",
        ),
        (
            ["ref/a.jpg"],
            ["/abs/q.jpg"],
            _object([[0]]),
            r"Mine_qImages.npy, entry 0: '/abs/q.jpg' is not a path inside",
        ),
        (["a.jpg", "a.jpg"], ["q.jpg"], _object([[0]]), r"Mine_dbImages.npy, entries 0 and 1: 'a.jpg' is listed twice"),
        (["a.jpg"], ["q.jpg", "r.jpg"], _object([[0]]), r"Mine_gt.npy holds \(1,\) rows for the 2 queries"),
        (["a.jpg"], ["q.jpg"], _object([[1]]), r"Mine_gt.npy, row 0: positive 1 is outside the 1 references"),
        (["a.jpg"], ["q.jpg"], np.array([[0.5]]), r"Mine_gt.npy, row 0: the positives are not an integer"),
    ],
)
def test_refusals_name_the_file_and_entry(tmp_path, db, q, gt, message):
    root = small_tree(tmp_path, db, q, gt)
    with pytest.raises(LayoutError, match=message):
        il.DATASET.prepare_manifest(root, {}, "mine")


def test_missing_files_and_images_are_named(tmp_path):
    with pytest.raises(LayoutError, match="holds no \\*_dbImages.npy: set the option `name`"):
        il.DATASET.prepare_manifest(tmp_path, {}, "mine")
    root = small_tree(tmp_path / "a", ["a.jpg"], ["q.jpg"], _object([[0]]))
    small_tree(root, ["a.jpg"], ["q.jpg"], _object([[0]]), name="Other")
    with pytest.raises(LayoutError, match=r"holds 2 lists \(Mine, Other\)"):
        il.DATASET.prepare_manifest(root, {}, "mine")
    assert len(il.DATASET.prepare_manifest(root, {"name": "Other"}, "mine")) == 3
    (root / "q.jpg").unlink()
    with pytest.raises(LayoutError, match=r"q.jpg does not exist \(1 of the 1 images .*Mine_qImages.npy lists"):
        il.DATASET.prepare_manifest(root, {"name": "Mine"}, "mine")
