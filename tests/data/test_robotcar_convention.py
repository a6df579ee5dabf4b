import numpy as np
import pandas as pd
import pytest

from acmnet import geometry as G
from acmnet.cli import main
from acmnet.data import robotcar_convention as C
from acmnet.data import robotcar_files as F
from tests.data.test_robotcar_files import _known_w2c, _nvm_text, _train_line


def test_both_conventions_on_a_known_pose(tmp_path):
    q, centres, t = _known_w2c()
    c2w = G.invert(G.pose_matrix(q, t))
    path = tmp_path / "robotcar_v2_train.txt"
    names = [f"night/rear/14187{i:011d}.jpg" for i in range(len(q))]
    path.write_text("\r\n".join(_train_line(n, m) for n, m in zip(names, c2w)) + "\r\n\r\n")

    right = F.read_v2_train(path, "c2w")
    assert right["image"].iloc[0] == "night/rear/1418700000000000.jpg"
    assert right[["condition", "camera"]].iloc[0].tolist() == ["night", "rear"]
    assert right["timestamp"].iloc[0] == "1418700000000000"
    assert np.allclose(right[F.QUAT_COLUMNS].to_numpy(float), q, atol=1e-12)
    assert np.allclose(right[F.TRANS_COLUMNS].to_numpy(float), t, atol=1e-6)
    assert np.allclose(right[F.CENTRE_COLUMNS].to_numpy(float), centres, atol=1e-6)
    wrong = F.read_v2_train(path, "w2c")
    assert not np.allclose(wrong[F.CENTRE_COLUMNS].to_numpy(float), centres, atol=1.0)

    # reference cameras 0.5 m beside the train cameras, same heading
    reference = pd.DataFrame(np.hstack([q, centres + [0, 0.5, 0]]), columns=[*F.QUAT_COLUMNS, *F.CENTRE_COLUMNS])
    report = C.compare_with_reference(path, reference)
    assert report.loc["c2w", "median_distance_m"] == pytest.approx(0.5, abs=1e-6)
    assert report.loc["c2w", "median_angle_deg"] == pytest.approx(0.0, abs=1e-6)
    assert report.loc["w2c", "median_distance_m"] > 1000
    assert C.suggest_convention(report) == "c2w"
    # written as w2c, the w2c reading wins
    path.write_text("\n".join(_train_line(n, m) for n, m in zip(names, G.pose_matrix(q, t))))
    assert C.suggest_convention(C.compare_with_reference(path, reference)) == "w2c"
    assert F.V2_TRAIN_CONVENTION in F.CONVENTIONS


def test_suggest_convention_refuses_inconclusive_reports():
    report = pd.DataFrame({"median_distance_m": [3.0, 4.0]}, index=["c2w", "w2c"])
    with pytest.raises(ValueError, match="inconclusive"):
        C.suggest_convention(report)


def test_acmnet_check_convention_on_road_cameras(tmp_path, capsys):
    q, centres, t = _known_w2c()
    train = tmp_path / "robotcar_v2_train.txt"
    train.write_text(
        "\n".join(_train_line(f"dusk/rear/{i}.jpg", m) for i, m in enumerate(G.invert(G.pose_matrix(q, t))))
    )
    nvm = tmp_path / "all.nvm"
    nvm.write_text(
        _nvm_text([(f"overcast-reference/rear/{100 + i}.jpg", qi, ci) for i, (qi, ci) in enumerate(zip(q, centres))])
    )
    assert main(["check-convention", "--nvm", str(nvm), "--train", str(train)]) == 0
    assert "suggested convention: c2w" in capsys.readouterr().out


def _published_fixture(tmp_path, convention="c2w", with_image=True):
    """A train file whose row for the published image is built from the published world-to-camera
    pose (written as `convention`), with other cameras along a road, and an NVM model whose rear
    reference cameras stand 0.5 m beside every train camera."""
    q, centres, t = _known_w2c()
    q_pub, t_pub = (np.array(v) for v in C.PUBLISHED_POSE)
    q, t = np.vstack([q, q_pub]), np.vstack([t, t_pub])
    centres = G.centre_from_translation(q, t)
    w2c = G.pose_matrix(q, t)
    mats = G.invert(w2c) if convention == "c2w" else w2c
    names = [f"overcast-summer/rear/14322937{i:08d}.jpg" for i in range(len(q) - 1)]
    names.append(C.PUBLISHED_IMAGE if with_image else "overcast-summer/rear/1432293799999999.jpg")
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
    report = C.check_convention(nvm, train)
    assert "the model says: c2w" in report and "the published pose says: c2w" in report
    assert report.splitlines()[-1].startswith("suggested convention: c2w")
    assert "q = (0.76241, -0.61829, 0.12928, 0.1405) (w first), t = (430.283, -58.87, 240.563) m" in report
    names, mats = F.read_v2_train_matrices(train)
    table = C.published_pose_check(names, mats)
    assert table.loc["c2w", "rotation_error_deg"] < 1e-6 and table.loc["c2w", "translation_error_m"] < 1e-6
    assert table.loc["w2c", "rotation_error_deg"] > 10 and table.loc["w2c", "translation_error_m"] > 10
    assert table["matches"].tolist() == [True, False]
    assert main(["check-convention", "--nvm", str(nvm), "--train", str(train)]) == 0
    assert "suggested convention: c2w" in capsys.readouterr().out


def test_check_convention_other_reading_and_missing_image(tmp_path, capsys):
    nvm, train = _published_fixture(tmp_path, convention="w2c")
    report = C.check_convention(nvm, train)
    assert "the published pose says: w2c" in report and "suggested convention: w2c" in report
    nvm, train = _published_fixture(tmp_path, with_image=False)
    report = C.check_convention(nvm, train)
    assert f"has no row for {C.PUBLISHED_IMAGE}" in report and "suggested convention: c2w" in report
    with pytest.raises(ValueError, match="poses no `front` camera"):
        C.check_convention(nvm, train, camera="front")
    assert main(["check-convention", "--nvm", str(tmp_path / "nope.nvm"), "--train", str(train)]) == 2
    assert "nope.nvm does not exist" in capsys.readouterr().err


def test_check_convention_disagreement_is_no_conclusion(tmp_path, capsys):
    nvm, train = _published_fixture(tmp_path)
    _, mats = F.read_v2_train_matrices(train)
    last = G.invert(mats[-1])  # only the published image's row written the other way
    lines = train.read_text().splitlines()
    lines[-1] = _train_line(C.PUBLISHED_IMAGE, last)
    train.write_text("\n".join(lines) + "\n")
    report = C.check_convention(nvm, train)
    assert report.splitlines()[-1].startswith("no conclusion: the model says c2w, the published pose w2c")
    assert main(["check-convention", "--nvm", str(nvm), "--train", str(train)]) == 2
    captured = capsys.readouterr()
    assert captured.out.splitlines()[-1].startswith("no conclusion") and "could not be told apart" in captured.err


def test_acmnet_check_convention_subcommand(tmp_path, capsys):
    nvm, train = _published_fixture(tmp_path, convention="w2c")
    assert main(["check-convention", "--nvm", str(nvm), "--train", str(train)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1].startswith("suggested convention: w2c") and "the published pose says: w2c" in out
    assert main(["check-convention", "--nvm", str(tmp_path / "none.nvm"), "--train", str(train)]) == 2
    err = capsys.readouterr().err
    assert "none.nvm" in err and "Traceback" not in err


def test_check_convention_has_one_entry_point():
    """`acmnet check-convention` is the command; the modules that hold the readers have no CLI of their own."""
    from acmnet.evaluate import poses

    assert not hasattr(C, "main") and not hasattr(poses, "main")
