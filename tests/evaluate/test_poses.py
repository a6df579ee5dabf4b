import numpy as np
import pandas as pd
import pytest

from acmnet import geometry as G
from acmnet.data import robotcar_files as F
from acmnet.evaluate import poses as P


def _random_quats(n, seed=0):
    return G.canonical_quat(np.random.default_rng(seed).normal(size=(n, 4)))


# ---- submission ---------------------------------------------------------------------------

EXPECTED = [f"{c}/rear/{1418000000000000 + i}.jpg" for i, c in enumerate(["dawn", "night", "snow", "rain"])]


def _rows(names):
    q = _random_quats(len(names), 5) * -1  # negative-w signs on purpose: written canonical
    t = np.arange(len(names) * 3, dtype=float).reshape(-1, 3) - 2.5
    frame = pd.DataFrame(np.hstack([q, t]), columns=F.POSE_COLUMNS)
    frame.insert(0, "image", [f"images/{n}" for n in names])
    return frame


def test_submission_round_trip_format_and_order(tmp_path):
    rows = _rows(EXPECTED[::-1])
    path = tmp_path / "out" / "submission.txt"
    P.write_submission(rows, path, EXPECTED)
    lines = path.read_text().splitlines()
    assert [ln.split()[0] for ln in lines] == [f"rear/{1418000000000000 + i}.jpg" for i in range(4)]
    assert all(len(ln.split()) == 8 for ln in lines)
    back = P.read_submission(path)
    assert (back["qw"] >= 0).all()
    original = rows.iloc[::-1].reset_index(drop=True)
    assert np.allclose(back[F.TRANS_COLUMNS].to_numpy(float), original[F.TRANS_COLUMNS].to_numpy(float))
    # same rotations (q and -q), so zero error
    t_err, r_err = P.pose_errors(back, original)
    assert np.allclose(t_err, 0, atol=1e-9) and np.allclose(r_err, 0, atol=1e-5)
    assert [p.name for p in path.parent.iterdir()] == ["submission.txt"]  # no temporary left


def test_submission_refuses_missing_duplicate_and_unexpected(tmp_path):
    path = tmp_path / "submission.txt"
    with pytest.raises(
        ValueError, match=r"1 of the 4 expected queries have no pose \(first: rear/1418000000000003.jpg\)"
    ):
        P.write_submission(_rows(EXPECTED[:3]), path, EXPECTED)
    many = [f"night/rear/{i}.jpg" for i in range(12)]
    with pytest.raises(
        ValueError,
        match=r"12 of the 16 .*first: rear/0.jpg, rear/1.jpg, rear/10.jpg, rear/11.jpg, rear/2.jpg, \.\.\.\)",
    ):
        P.write_submission(_rows(EXPECTED), path, EXPECTED + many)
    with pytest.raises(ValueError, match=r"1 queries appear more than once \(first: rear/1418000000000001.jpg\)"):
        P.write_submission(_rows(EXPECTED + EXPECTED[1:2]), path, EXPECTED)
    with pytest.raises(ValueError, match="1 queries are not in the expected list"):
        P.write_submission(_rows(EXPECTED + ["sun/rear/7.jpg"]), path, EXPECTED)
    bad = _rows(EXPECTED)
    bad.loc[2, "qw"] = 5.0
    with pytest.raises(ValueError, match="not unit"):
        P.write_submission(bad, path, EXPECTED)
    assert not path.exists()


def test_read_submission_validates(tmp_path):
    path = tmp_path / "s.txt"
    path.write_text("rear/1.jpg 1 0 0 0 1 2 3\nrear/2.jpg 0.9 0 0 0 1 2 3\n")
    with pytest.raises(F.PoseFileError, match="line 2: quaternion norm 0.9"):
        P.read_submission(path)
    path.write_text("rear/1.jpg 1 0 0 0 1 2\n")
    with pytest.raises(F.PoseFileError, match="line 1: expected .* got 7 fields"):
        P.read_submission(path)
    path.write_text("rear/1.jpg 1 0 0 0 1 2 3\nrear/1.jpg 1 0 0 0 1 2 3\n")
    with pytest.raises(F.PoseFileError, match="more than once"):
        P.read_submission(path)


# ---- accuracy -----------------------------------------------------------------------------


def test_pose_errors_on_hand_made_examples():
    identity = [1, 0, 0, 0, 0, 0, 0]
    qz90 = [np.sqrt(0.5), 0, 0, np.sqrt(0.5)]
    # 1 m offset of the camera centre, same rotation: t = -R C with R = I
    t_err, r_err = P.pose_errors([1, 0, 0, 0, -1, 0, 0], identity)
    assert t_err[0] == pytest.approx(1.0) and r_err[0] == pytest.approx(0.0)
    # 90 degrees about z, same centre (origin)
    t_err, r_err = P.pose_errors([*qz90, 0, 0, 0], identity)
    assert t_err[0] == pytest.approx(0.0) and r_err[0] == pytest.approx(90.0)
    # same translation vector t but rotated: the centres differ (C = -R^T t), so the error is not |dt| = 0
    t_err, r_err = P.pose_errors([*qz90, 1, 0, 0], [1, 0, 0, 0, 1, 0, 0])
    assert t_err[0] == pytest.approx(np.sqrt(2)) and r_err[0] == pytest.approx(90.0)
    # both centres at C = (3, 4, 0), rotations differ: no translation error
    c = np.array([3.0, 4.0, 0.0])
    est = [*qz90, *G.translation_from_centre(np.array(qz90), c)]
    t_err, r_err = P.pose_errors(est, [1, 0, 0, 0, *(-c)])
    assert t_err[0] == pytest.approx(0.0, abs=1e-12) and r_err[0] == pytest.approx(90.0)


def test_localization_share_counts_every_query():
    errors = (np.array([0.1, 0.3, 0.3, 4.0, 10.0, np.nan]), np.array([1.0, 1.0, 4.0, 9.0, 1.0, np.nan]))
    assert P.localization_share(errors) == pytest.approx([100 / 6, 300 / 6, 400 / 6])
    assert P.localization_share(errors, thresholds=((0.1, 1.0),)) == pytest.approx([100 / 6])  # bounds inclusive
    with pytest.raises(ValueError, match="empty"):
        P.localization_share((np.array([]), np.array([])))
