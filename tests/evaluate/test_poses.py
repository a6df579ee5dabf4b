import numpy as np
import pandas as pd
import pytest

from acmnet.evaluate import poses as P

RZ90 = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])


def _random_quats(n, seed=0):
    return P.canonical_quat(np.random.default_rng(seed).normal(size=(n, 4)))


# ---- rotations and poses ----------------------------------------------------------------


def test_quaternion_matrix_round_trip_and_canonical_sign():
    q = _random_quats(500)
    rot = P.quat_to_rotmat(q)
    assert np.allclose(rot @ np.swapaxes(rot, -1, -2), np.eye(3), atol=1e-12)
    assert np.allclose(np.linalg.det(rot), 1.0)
    back = P.rotmat_to_quat(rot)
    assert np.allclose(back, q, atol=1e-12)
    assert (back[:, 0] >= 0).all()
    assert np.allclose(P.rotmat_to_quat(P.quat_to_rotmat(-q)), q, atol=1e-12)  # -q is the same rotation


def test_known_rotation_90_degrees_about_z():
    q = np.array([np.sqrt(0.5), 0, 0, np.sqrt(0.5)])
    assert np.allclose(P.quat_to_rotmat(q), RZ90)
    assert np.allclose(P.rotmat_to_quat(RZ90), q)
    assert np.allclose(P.quat_to_rotmat(q) @ [1, 0, 0], [0, 1, 0])  # Hamilton: x -> y
    assert P.rotation_angle_deg(RZ90) == pytest.approx(90.0)
    assert P.rotation_angle_deg(np.eye(3)) == 0.0


def test_small_angles_are_accurate():
    eps = 1e-7
    q = np.array([np.cos(eps / 2), np.sin(eps / 2), 0, 0])
    assert P.rotation_angle_deg(P.quat_to_rotmat(q)) == pytest.approx(np.degrees(eps), rel=1e-6)


def test_inversion_composition_and_centre():
    q, t = _random_quats(20, 1), np.random.default_rng(2).normal(size=(20, 3)) * 100
    mats = P.pose_matrix(q, t)
    assert np.allclose(P.compose(mats, P.invert(mats)), np.eye(4), atol=1e-9)
    centres = P.centre_from_translation(q, t)
    assert np.allclose(P.invert(mats)[:, :3, 3], centres)
    assert np.allclose(P.translation_from_centre(q, centres), t)
    # the centre maps to the camera origin
    assert np.allclose(np.einsum("nij,nj->ni", mats[:, :3, :3], centres) + t, 0, atol=1e-9)
    q2, t2 = P.matrix_to_pose(mats)
    assert np.allclose(q2, q) and np.allclose(t2, t)


# ---- NVM ----------------------------------------------------------------------------------


def _nvm_text(cameras, newline="\n", points=True):
    lines = ["NVM_V3", "", str(len(cameras))]
    for name, q, c in cameras:
        lines.append(f"{name} 400.5 {' '.join(map(str, q))} {' '.join(map(str, c))} -0.01 0")
    lines += ["", "2" if points else "0"]
    if points:
        lines += ["1 2 3 255 0 0 1 0 5 10.5 20.5", "4 5 6 0 255 0 1 1 7 1.5 2.5"]
    lines += ["", "0", ""]
    return newline.join(lines)


def test_read_nvm_centre_translation_prefixes_and_crlf(tmp_path):
    q_a = P.rotmat_to_quat(RZ90)
    cams = [
        ("./overcast-reference/rear/1417176458999821.png", q_a, (1.0, 2.0, 3.0)),
        ("overcast-reference/left/1417176458999821.jpg", (-1.0, 0, 0, 0), (10.0, 0.0, 0.0)),
        ("C:\\data\\overcast-reference\\right\\1417176459999821.jpg", (1.0, 0, 0, 0), (0.0, 0.0, 0.0)),
    ]
    path = tmp_path / "all.nvm"
    path.write_bytes(_nvm_text(cams, newline="\r\n").encode())
    frame = P.read_nvm(path)
    assert frame["image"].tolist() == [
        "overcast-reference/rear/1417176458999821.jpg",
        "overcast-reference/left/1417176458999821.jpg",
        "overcast-reference/right/1417176459999821.jpg",
    ]
    assert frame["name"].iloc[0] == "overcast-reference/rear/1417176458999821.png"
    assert frame["focal"].iloc[0] == 400.5
    assert frame["line"].tolist() == [4, 5, 6]
    # t = -R C for the 90-degree camera; C kept as written
    assert np.allclose(frame.loc[0, ["tx", "ty", "tz"]].to_numpy(float), -RZ90 @ [1, 2, 3])
    assert np.allclose(frame.loc[0, ["cx", "cy", "cz"]].to_numpy(float), [1, 2, 3])
    # sign made canonical (w >= 0); the pose round-trips to the centre
    assert frame.loc[1, ["qw", "qx", "qy", "qz"]].tolist() == [1.0, 0.0, 0.0, 0.0]
    assert np.allclose(
        P.centre_from_translation(frame[P.QUAT_COLUMNS].to_numpy(float), frame[P.TRANS_COLUMNS].to_numpy(float)),
        frame[P.CENTRE_COLUMNS].to_numpy(float),
    )


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda t: t.replace("NVM_V3", "NVM_V2"), "not an NVM_V3 model"),
        (lambda t: t.replace("\n2\n", "\nx\n", 1), r"line 3: expected the camera count"),
        (lambda t: t.replace(" -0.01 0", "", 1), r"line 4: a camera line has 11 fields"),
        (lambda t: t.replace("400.5", "abc", 1), r"line 4: .* must be numbers"),
        (lambda t: t.replace(" 1.0 0.0 0.0 0.0 ", " 2.0 0.0 0.0 0.0 ", 1), r"line 4: quaternion norm 2"),
        (lambda t: "\n".join(t.split("\n")[:5]).replace("\n2\n", "\n3\n", 1), "ends after 2 of the 3 cameras"),
    ],
)
def test_read_nvm_errors_name_file_and_line(tmp_path, mutate, message):
    cams = [
        ("overcast-reference/rear/1.jpg", (1.0, 0.0, 0.0, 0.0), (0, 0, 0)),
        ("overcast-reference/rear/2.jpg", (1.0, 0.0, 0.0, 0.0), (1, 0, 0)),
    ]
    path = tmp_path / "m.nvm"
    path.write_text(mutate(_nvm_text(cams, points=False)))
    with pytest.raises(P.PoseFileError, match=message) as info:
        P.read_nvm(path)
    assert str(path) in str(info.value)


def test_read_nvm_refuses_duplicate_cameras(tmp_path):
    cams = [("a/rear/1.jpg", (1, 0, 0, 0), (0, 0, 0)), ("./a/rear/1.png", (1, 0, 0, 0), (0, 0, 0))]
    path = tmp_path / "m.nvm"
    path.write_text(_nvm_text(cams))
    with pytest.raises(P.PoseFileError, match="more than once"):
        P.read_nvm(path)


# ---- v2 train / test files ----------------------------------------------------------------


def _train_line(name, mat):
    return name + " " + " ".join(f"{v:.15g}" for v in np.asarray(mat).ravel())


def _known_w2c(n=30, seed=3):
    """n world-to-camera poses of cameras along a 300 m road, all yawed about z."""
    rng = np.random.default_rng(seed)
    yaw = rng.uniform(-0.3, 0.3, n)
    q = np.stack([np.cos(yaw / 2), np.zeros(n), np.zeros(n), np.sin(yaw / 2)], 1)
    centres = np.stack([np.linspace(5000, 5300, n), 200 + rng.normal(size=n), np.full(n, 80.0)], 1)
    return q, centres, P.translation_from_centre(q, centres)


def test_both_conventions_on_a_known_pose(tmp_path):
    q, centres, t = _known_w2c()
    c2w = P.invert(P.pose_matrix(q, t))
    path = tmp_path / "robotcar_v2_train.txt"
    names = [f"night/rear/14187{i:011d}.jpg" for i in range(len(q))]
    path.write_text("\r\n".join(_train_line(n, m) for n, m in zip(names, c2w)) + "\r\n\r\n")

    right = P.read_v2_train(path, "c2w")
    assert right["image"].iloc[0] == "night/rear/1418700000000000.jpg"
    assert right[["condition", "camera"]].iloc[0].tolist() == ["night", "rear"]
    assert right["timestamp"].iloc[0] == "1418700000000000"
    assert np.allclose(right[P.QUAT_COLUMNS].to_numpy(float), q, atol=1e-12)
    assert np.allclose(right[P.TRANS_COLUMNS].to_numpy(float), t, atol=1e-6)
    assert np.allclose(right[P.CENTRE_COLUMNS].to_numpy(float), centres, atol=1e-6)
    wrong = P.read_v2_train(path, "w2c")
    assert not np.allclose(wrong[P.CENTRE_COLUMNS].to_numpy(float), centres, atol=1.0)

    # reference cameras 0.5 m beside the train cameras, same heading
    reference = pd.DataFrame(np.hstack([q, centres + [0, 0.5, 0]]), columns=[*P.QUAT_COLUMNS, *P.CENTRE_COLUMNS])
    report = P.compare_with_reference(path, reference)
    assert report.loc["c2w", "median_distance_m"] == pytest.approx(0.5, abs=1e-6)
    assert report.loc["c2w", "median_angle_deg"] == pytest.approx(0.0, abs=1e-6)
    assert report.loc["w2c", "median_distance_m"] > 1000
    assert P.suggest_convention(report) == "c2w"
    # written as w2c, the w2c reading wins
    path.write_text("\n".join(_train_line(n, m) for n, m in zip(names, P.pose_matrix(q, t))))
    assert P.suggest_convention(P.compare_with_reference(path, reference)) == "w2c"
    assert P.V2_TRAIN_CONVENTION in P.CONVENTIONS


def test_suggest_convention_refuses_inconclusive_reports():
    report = pd.DataFrame({"median_distance_m": [3.0, 4.0]}, index=["c2w", "w2c"])
    with pytest.raises(ValueError, match="inconclusive"):
        P.suggest_convention(report)


def test_check_convention_command(tmp_path, capsys):
    q, centres, t = _known_w2c()
    train = tmp_path / "robotcar_v2_train.txt"
    train.write_text(
        "\n".join(_train_line(f"dusk/rear/{i}.jpg", m) for i, m in enumerate(P.invert(P.pose_matrix(q, t))))
    )
    nvm = tmp_path / "all.nvm"
    nvm.write_text(
        _nvm_text([(f"overcast-reference/rear/{100 + i}.jpg", qi, ci) for i, (qi, ci) in enumerate(zip(q, centres))])
    )
    assert P.main(["check-convention", "--nvm", str(nvm), "--train", str(train)]) == 0
    assert "suggested convention: c2w" in capsys.readouterr().out


def _published_fixture(tmp_path, convention="c2w", with_image=True):
    """A train file whose row for the published image is built from the published world-to-camera
    pose (written as `convention`), with other cameras along a road, and an NVM model whose rear
    reference cameras stand 0.5 m beside every train camera."""
    q, centres, t = _known_w2c()
    q_pub, t_pub = (np.array(v) for v in P.PUBLISHED_POSE)
    q, t = np.vstack([q, q_pub]), np.vstack([t, t_pub])
    centres = P.centre_from_translation(q, t)
    w2c = P.pose_matrix(q, t)
    mats = P.invert(w2c) if convention == "c2w" else w2c
    names = [f"overcast-summer/rear/14322937{i:08d}.jpg" for i in range(len(q) - 1)]
    names.append(P.PUBLISHED_IMAGE if with_image else "overcast-summer/rear/1432293799999999.jpg")
    train = tmp_path / "robotcar_v2_train.txt"
    train.write_text("\n".join(_train_line(n, m) for n, m in zip(names, mats)) + "\n")
    nvm = tmp_path / "all.nvm"
    nvm.write_text(
        _nvm_text(
            [
                (f"./overcast-reference/rear/{1417176458999821 + i}.png", qi, ci + [0, 0.5, 0])
                for i, (qi, ci) in enumerate(zip(q, centres))
            ]
            + [("./overcast-reference/left/1417176458999821.png", q[0], (0.0, 0.0, 0.0))]
        )
    )
    return nvm, train


def test_check_convention_reports_the_published_pose(tmp_path, capsys):
    nvm, train = _published_fixture(tmp_path)
    report = P.check_convention(nvm, train)
    assert "the model says: c2w" in report and "the published pose says: c2w" in report
    assert report.splitlines()[-1].startswith("suggested convention: c2w")
    assert "q = (0.76241, -0.61829, 0.12928, 0.1405) (w first), t = (430.283, -58.87, 240.563) m" in report
    names, mats = P.read_v2_train_matrices(train)
    table = P.published_pose_check(names, mats)
    assert table.loc["c2w", "rotation_error_deg"] < 1e-6 and table.loc["c2w", "translation_error_m"] < 1e-6
    assert table.loc["w2c", "rotation_error_deg"] > 10 and table.loc["w2c", "translation_error_m"] > 10
    assert table["matches"].tolist() == [True, False]
    assert P.main(["check-convention", "--nvm", str(nvm), "--train", str(train)]) == 0
    assert "suggested convention: c2w" in capsys.readouterr().out


def test_check_convention_other_reading_and_missing_image(tmp_path, capsys):
    nvm, train = _published_fixture(tmp_path, convention="w2c")
    report = P.check_convention(nvm, train)
    assert "the published pose says: w2c" in report and "suggested convention: w2c" in report
    nvm, train = _published_fixture(tmp_path, with_image=False)
    report = P.check_convention(nvm, train)
    assert f"has no row for {P.PUBLISHED_IMAGE}" in report and "suggested convention: c2w" in report
    with pytest.raises(ValueError, match="poses no `front` camera"):
        P.check_convention(nvm, train, camera="front")
    assert P.main(["check-convention", "--nvm", str(tmp_path / "nope.nvm"), "--train", str(train)]) == 2
    assert "nope.nvm does not exist" in capsys.readouterr().err


def test_check_convention_disagreement_is_no_conclusion(tmp_path, capsys):
    nvm, train = _published_fixture(tmp_path)
    _, mats = P.read_v2_train_matrices(train)
    last = P.invert(mats[-1])  # only the published image's row written the other way
    lines = train.read_text().splitlines()
    lines[-1] = _train_line(P.PUBLISHED_IMAGE, last)
    train.write_text("\n".join(lines) + "\n")
    report = P.check_convention(nvm, train)
    assert report.splitlines()[-1].startswith("no conclusion: the model says c2w, the published pose w2c")
    assert P.main(["check-convention", "--nvm", str(nvm), "--train", str(train)]) == 1
    capsys.readouterr()


@pytest.mark.parametrize(
    "line, message",
    [
        ("night/rear/1.jpg 1 0 0", r"expected `<condition>/rear/<timestamp>.jpg` and 16 numbers .*got 4 fields"),
        ("1.jpg " + " ".join(["0"] * 16), "lacks the <condition>/<camera>/ folders"),
        (
            "night/rear/1.jpg " + " ".join(map(str, np.eye(4).T.ravel() + np.r_[[0] * 12, 5, 6, 7, 0])),
            "looks column-major",
        ),
        ("night/rear/1.jpg " + " ".join(map(str, (np.eye(4) * [2, 1, 1, 1]).ravel())), "not a rotation"),
        ("night/rear/1.jpg " + " ".join(["nan"] + ["0"] * 15), "must be finite"),
    ],
)
def test_read_v2_train_errors(tmp_path, line, message):
    path = tmp_path / "t.txt"
    path.write_text("night/rear/0.jpg " + " ".join(map(str, np.eye(4).ravel())) + "\n\n" + line + "\n")
    with pytest.raises(P.PoseFileError, match=message) as info:
        P.read_v2_train(path)
    assert f"{path}, line 3" in str(info.value)


def test_read_v2_test(tmp_path):
    path = tmp_path / "robotcar_v2_test.txt"
    path.write_text("rear/1418721355925183.jpg\r\n\r\nrear/1418139913236003.jpg\r\n")
    assert P.read_v2_test(path) == ["rear/1418721355925183.jpg", "rear/1418139913236003.jpg"]
    path.write_text("dawn/rear/1.jpg " + " ".join(["0"] * 16) + "\n")
    with pytest.raises(P.PoseFileError, match="line 1: the test list holds one image name"):
        P.read_v2_test(path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        P.read_v2_test(tmp_path / "nope.txt")


# ---- submission ---------------------------------------------------------------------------

EXPECTED = [f"{c}/rear/{1418000000000000 + i}.jpg" for i, c in enumerate(["dawn", "night", "snow", "rain"])]


def _rows(names):
    q = _random_quats(len(names), 5) * -1  # negative-w signs on purpose: written canonical
    t = np.arange(len(names) * 3, dtype=float).reshape(-1, 3) - 2.5
    frame = pd.DataFrame(np.hstack([q, t]), columns=P.POSE_COLUMNS)
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
    assert np.allclose(back[P.TRANS_COLUMNS].to_numpy(float), original[P.TRANS_COLUMNS].to_numpy(float))
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
    with pytest.raises(P.PoseFileError, match="line 2: quaternion norm 0.9"):
        P.read_submission(path)
    path.write_text("rear/1.jpg 1 0 0 0 1 2\n")
    with pytest.raises(P.PoseFileError, match="line 1: expected .* got 7 fields"):
        P.read_submission(path)
    path.write_text("rear/1.jpg 1 0 0 0 1 2 3\nrear/1.jpg 1 0 0 0 1 2 3\n")
    with pytest.raises(P.PoseFileError, match="more than once"):
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
    est = [*qz90, *P.translation_from_centre(np.array(qz90), c)]
    t_err, r_err = P.pose_errors(est, [1, 0, 0, 0, *(-c)])
    assert t_err[0] == pytest.approx(0.0, abs=1e-12) and r_err[0] == pytest.approx(90.0)


def test_localization_share_counts_every_query():
    errors = (np.array([0.1, 0.3, 0.3, 4.0, 10.0, np.nan]), np.array([1.0, 1.0, 4.0, 9.0, 1.0, np.nan]))
    assert P.localization_share(errors) == pytest.approx([100 / 6, 300 / 6, 400 / 6])
    assert P.localization_share(errors, thresholds=((0.1, 1.0),)) == pytest.approx([100 / 6])  # bounds inclusive
    with pytest.raises(ValueError, match="empty"):
        P.localization_share((np.array([]), np.array([])))


def test_acmnet_check_convention_subcommand(tmp_path, capsys):
    from acmnet.cli import main

    nvm, train = _published_fixture(tmp_path, convention="w2c")
    assert main(["check-convention", "--nvm", str(nvm), "--train", str(train)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1].startswith("suggested convention: w2c") and "the published pose says: w2c" in out
    assert main(["check-convention", "--nvm", str(tmp_path / "none.nvm"), "--train", str(train)]) == 2
    err = capsys.readouterr().err
    assert "none.nvm" in err and "Traceback" not in err
