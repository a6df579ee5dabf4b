import numpy as np
import pytest

from acmnet import geometry as G
from acmnet.artifacts import ProvenanceError, table_provenance
from acmnet.data import manifest as mf
from acmnet.data import robotcar_files as F
from acmnet.data.datasets import robotcar as rc
from acmnet.evaluate import poses as P
from acmnet.evaluate.localization import localize
from tests.conftest import write_manifest, write_retrieval
from tests.data.datasets.test_robotcar import SMALL, build_tree


@pytest.fixture
def scored(tmp_path):
    """A RobotCar manifest whose train-split queries sit exactly at reference poses."""
    root = tmp_path / "rc"
    build_tree(root)
    frame = mf.validate(rc.DATASET.prepare_manifest(root, SMALL))
    refs = np.flatnonzero(frame["role"] == "reference")
    queries = np.flatnonzero(frame["role"] == "query")
    ref_poses = frame.loc[refs, F.POSE_COLUMNS].to_numpy(float)
    top1 = np.arange(len(queries)) % len(refs)
    split = (frame.loc[queries, "query_set"] == "train-split").to_numpy()
    # ground truth of each train-split query = the pose of the reference it will retrieve ...
    frame.loc[queries[split], F.POSE_COLUMNS] = ref_poses[top1[split]]
    # ... except the first dawn one, which retrieves a reference far away
    dawn = np.flatnonzero(split & (frame.loc[queries, "condition"] == "train-split-dawn").to_numpy())[0]
    top1[dawn] = (top1[dawn] + 3) % len(refs)
    manifest = write_manifest(frame, tmp_path / "manifest.csv")
    write_retrieval(tmp_path, manifest, np.stack([top1, (top1 + 1) % len(refs)], axis=1), name="retrieval")
    return tmp_path, frame, ref_poses, top1, queries


def test_submission_holds_the_top1_reference_pose_of_every_test_query(scored):
    path, frame, ref_poses, top1, queries = scored
    localize("acmnet", path / "manifest.csv", path / "retrieval.npz", path / "sub.txt", path / "acc.csv")
    sub = P.read_submission(path / "sub.txt").set_index("name")
    test = (frame.loc[queries, "query_set"] == "test").to_numpy()
    assert len(sub) == test.sum() == 18
    for q, k in zip(queries[test], top1[test]):
        name = F.submission_name(frame.loc[q, "image"])
        assert name.startswith("rear/") and name.endswith(".jpg")
        expected = G.canonical_quat(ref_poses[k, :4])
        np.testing.assert_allclose(sub.loc[name, F.QUAT_COLUMNS].to_numpy(float), expected, atol=1e-6)
        np.testing.assert_allclose(sub.loc[name, F.TRANS_COLUMNS].to_numpy(float), ref_poses[k, 4:], atol=1e-6)


def test_local_accuracy_per_condition_and_threshold(scored):
    path, *_ = scored
    acc = localize("acmnet", path / "manifest.csv", path / "retrieval.npz", path / "sub.txt", path / "acc.csv")
    assert set(acc["condition"]) == set(rc.QUERY_CONDITIONS)
    assert len(acc) == 9 * 3 and (acc["query_set"] == "train").all() and (acc["n_queries"] == 2).all()
    dawn = acc[acc["condition"] == "dawn"]["value"].tolist()
    assert dawn == [50.0, 50.0, 50.0]  # one of the two dawn queries got a reference kilometres away
    assert (acc[acc["condition"] != "dawn"]["value"] == 100.0).all()


def test_a_manifest_without_poses_is_refused(tmp_path):
    import pandas as pd

    frame = pd.DataFrame({"image": ["a", "b"], "role": ["reference", "query"], "place": [0, 0], "condition": "c"})
    write_retrieval(tmp_path, write_manifest(frame, tmp_path / "m.csv"), np.zeros((1, 1), int))
    with pytest.raises(ValueError, match="needs a RobotCar manifest with poses"):
        localize("m", tmp_path / "m.csv", tmp_path / "r.npz", tmp_path / "s.txt", tmp_path / "a.csv")


def test_another_methods_retrieval_is_refused_and_nothing_is_written(scored):
    """Issue 18: the rows carry the method's name, so another method's retrieval is refused naming both."""
    path, *_ = scored
    with pytest.raises(ProvenanceError, match=r"retrieval\.npz was made for method acmnet, not pixels"):
        localize("pixels", path / "manifest.csv", path / "retrieval.npz", path / "sub.txt", path / "acc.csv")
    assert not (path / "sub.txt").exists() and not (path / "acc.csv").exists()
    localize("acmnet", path / "manifest.csv", path / "retrieval.npz", path / "sub.txt", path / "acc.csv")
    assert table_provenance(path / "acc.csv").settings == {"method_name": "acmnet"}
