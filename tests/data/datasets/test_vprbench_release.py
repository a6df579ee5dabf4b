"""VPR-Bench's ground truth as released: the real files (copies in vprbench_release/, MIT, from the
VPR-Bench repository at commit 77ad30f) are read, and recall@N equals VPR-Bench's own rule
(`compute_RecallRateAtN` of its `performance_comparison.py`, transcribed below) on descriptors made here."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from acmnet.cli import main
from acmnet.config import Config, DatasetConfig
from acmnet.data import positives as ps
from acmnet.data.datasets import vprbench as vb
from acmnet.evaluate.statistics import first_hit_ranks, recall_at
from acmnet.report.tables import ground_truth_text

RELEASE = Path(__file__).parent / "vprbench_release"
# file -> (reference images, query images), as VPR-Bench's datasets/<name>/ref and query hold them
SIZES = {"GardensPointWalking": (200, 200), "17places": (406, 406), "GardensPoint_TN": (200, 400), "Living": (32, 32)}


def _touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))


def release_tree(root: Path, name: str) -> Path:
    """A VPR-Bench dataset folder: zero-byte images named as VPR-Bench's, and the released file."""
    refs, queries = SIZES[name]
    for i in range(refs):
        _touch(root / "ref" / f"image{i:04d}.jpg")
    for i in range(queries):
        _touch(root / "query" / f"image{i:04d}.jpg")
    shutil.copy(RELEASE / f"{name}.npy", root / vb.VprBenchOptions.ground_truth)
    return root


def vprbench_recall_at_n(n: int, scores: np.ndarray, ground_truth_info: np.ndarray) -> float:
    """VPR-Bench's compute_RecallRateAtN (performance_comparison.py at 77ad30f), transcribed: the top
    N by np.argpartition of each query's scores, correct when `retr in ground_truth_info[query][1]`."""
    matches = []
    for query in range(len(scores)):
        top_n = np.argpartition(scores[query], -1 * n)[-1 * n :]
        matches.append(int(any(retr in ground_truth_info[query][1] for retr in top_n)))
    return float(np.sum(matches)) / float(len(scores))


def suite_recall(frame, scores: np.ndarray, ns: list[int]) -> dict[int, float]:
    """The suite's recall@N: its positives (the manifest's `listed` column) and first-hit ranks."""
    sets = ps.positives_of(frame, "listed", 0, None)
    found = np.argsort(-scores, axis=1, kind="stable")[:, : max(ns)]
    ranks = first_hit_ranks(sets.hits(found))
    return {n: recall_at(ranks, n) for n in ns}


@pytest.mark.parametrize("name", list(SIZES))
def test_release_files_score_as_vprbench_does(tmp_path, name):
    frame = vb.DATASET.prepare_manifest(release_tree(tmp_path, name), {}, name)
    refs, queries = SIZES[name]
    rng = np.random.default_rng(len(name))
    # descriptors where each query resembles the references around its own index, so the end-of-route
    # rows and the true negatives are retrieved near the listed indices
    ref = rng.normal(size=(refs, 32))
    query = ref[np.minimum(np.arange(queries), refs - 1)] + rng.normal(scale=1.5, size=(queries, 32))
    scores = query @ ref.T
    released = np.load(RELEASE / f"{name}.npy", allow_pickle=True)  # VPR-Bench's own reading of its file
    ours = suite_recall(frame, scores, [1, 5, 10])
    for n in (1, 5, 10):
        assert ours[n] == pytest.approx(100.0 * vprbench_recall_at_n(n, scores, released), abs=1e-9)
    assert 0 < ours[1] < min(ours[10], 100)  # the descriptors discriminate: the comparison is not trivial


def test_end_of_route_indices_are_dropped_and_reported(tmp_path, capsys):
    for name, rows, last in (("GardensPointWalking", (198, 199), 199), ("17places", (404, 405), 405)):
        root = release_tree(tmp_path / name, name)
        assert main(["prepare", "vprbench", "--root", str(root), "--out", str(tmp_path / f"{name}.csv")]) == 0
        err = capsys.readouterr().err
        assert f"lists 3 reference indices outside 0..{last} in rows {rows[0]}, {rows[1]}" in err
        assert "dropped, as VPR-Bench's `in` rule never matches them" in err
        frame = vb.DATASET.prepare_manifest(root, {}, name)
        positives = frame.loc[frame["role"] == "query", "positives"].tolist()
        assert positives[rows[1]] == f"{last - 2} {last - 1} {last}"  # 200/201 (406/407) dropped
        assert positives[rows[0]] == f"{last - 3} {last - 2} {last - 1} {last}"
        assert vb.ground_truth_note(root, vb.VprBenchOptions()) == (
            f"3 listed indices outside 0..{last} dropped (rows {rows[0]}, {rows[1]})"
        )


def test_true_negatives_have_no_positive_and_stay_counted(tmp_path, capsys):
    root = release_tree(tmp_path, "GardensPoint_TN")
    assert main(["prepare", "vprbench", "--root", str(root), "--out", str(tmp_path / "m.csv")]) == 0
    out, err = capsys.readouterr()
    assert "queries query 400 (200 without a positive)" in out
    assert "200 rows of ground_truth_new.npy list only -1 (no positive)" in err
    assert "restore" not in out + err
    frame = vb.DATASET.prepare_manifest(root, {}, "tn")
    sets = ps.positives_of(frame, "listed", 0, None)
    assert sets.n_queries == 400 and (sets.counts()[200:] == 0).all() and (sets.counts()[:200] > 0).all()
    assert vb.ground_truth_note(root, vb.VprBenchOptions()) is None  # nothing dropped: -1 is VPR-Bench's marker


def test_caption_phrase_names_what_was_dropped(tmp_path):
    root = release_tree(tmp_path, "GardensPointWalking")
    spec = DatasetConfig("vprbench", str(root), options=vb.DATASET.parse_options({}, "gpw"))
    text = ground_truth_text(Config(datasets={"gpw": spec}, methods={}), {})
    assert "gpw as the dataset's ground-truth file lists them; 3 listed indices outside 0..199 dropped" in text


def test_a_file_of_another_dataset_is_still_refused(tmp_path):
    """Every listed reference of a row outside the folder: not an end-of-route quirk; no advice to restore."""
    root = release_tree(tmp_path, "17places")
    shutil.rmtree(root / "ref")
    for i in range(100):
        _touch(root / "ref" / f"image{i:04d}.jpg")
    pattern = r"row 102 \[102, \[100, 101, 102, 103, 104\]\]: every listed reference"
    with pytest.raises(vb.GroundTruthError, match=pattern) as info:
        vb.DATASET.prepare_manifest(root, {}, "17places")
    assert "restore" not in str(info.value)
