import numpy as np
import pytest

from acmnet import geometry as G
from acmnet.data import robotcar_files as F

RZ90 = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])


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
    q_a = G.rotmat_to_quat(RZ90)
    cams = [
        ("./overcast-reference/rear/1417176458999821.png", q_a, (1.0, 2.0, 3.0)),
        ("overcast-reference/left/1417176458999821.jpg", (-1.0, 0, 0, 0), (10.0, 0.0, 0.0)),
        ("C:\\data\\overcast-reference\\right\\1417176459999821.jpg", (1.0, 0, 0, 0), (0.0, 0.0, 0.0)),
    ]
    path = tmp_path / "all.nvm"
    path.write_bytes(_nvm_text(cams, newline="\r\n").encode())
    frame = F.read_nvm(path)
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
        G.centre_from_translation(frame[F.QUAT_COLUMNS].to_numpy(float), frame[F.TRANS_COLUMNS].to_numpy(float)),
        frame[F.CENTRE_COLUMNS].to_numpy(float),
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
    with pytest.raises(F.PoseFileError, match=message) as info:
        F.read_nvm(path)
    assert str(path) in str(info.value)


def test_read_nvm_refuses_duplicate_cameras(tmp_path):
    cams = [("a/rear/1.jpg", (1, 0, 0, 0), (0, 0, 0)), ("./a/rear/1.png", (1, 0, 0, 0), (0, 0, 0))]
    path = tmp_path / "m.nvm"
    path.write_text(_nvm_text(cams))
    with pytest.raises(F.PoseFileError, match="more than once"):
        F.read_nvm(path)


# ---- v2 train / test files ----------------------------------------------------------------


def _train_line(name, mat):
    return name + " " + " ".join(f"{v:.15g}" for v in np.asarray(mat).ravel())


def _known_w2c(n=30, seed=3):
    """n world-to-camera poses of cameras along a 300 m road, all yawed about z."""
    rng = np.random.default_rng(seed)
    yaw = rng.uniform(-0.3, 0.3, n)
    q = np.stack([np.cos(yaw / 2), np.zeros(n), np.zeros(n), np.sin(yaw / 2)], 1)
    centres = np.stack([np.linspace(5000, 5300, n), 200 + rng.normal(size=n), np.full(n, 80.0)], 1)
    return q, centres, G.translation_from_centre(q, centres)


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
    with pytest.raises(F.PoseFileError, match=message) as info:
        F.read_v2_train(path)
    assert f"{path}, line 3" in str(info.value)


def test_read_v2_test(tmp_path):
    path = tmp_path / "robotcar_v2_test.txt"
    path.write_text("rear/1418721355925183.jpg\r\n\r\nrear/1418139913236003.jpg\r\n")
    assert F.read_v2_test(path) == ["rear/1418721355925183.jpg", "rear/1418139913236003.jpg"]
    path.write_text("dawn/rear/1.jpg " + " ".join(["0"] * 16) + "\n")
    with pytest.raises(F.PoseFileError, match="line 1: the test list holds one image name"):
        F.read_v2_test(path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        F.read_v2_test(tmp_path / "nope.txt")
