import shutil

import numpy as np
import pandas as pd
import pytest

from acmnet import geometry as G
from acmnet.artifacts import load_manifest, provenance, save_manifest
from acmnet.config import ConfigError
from acmnet.data import download
from acmnet.data import manifest as mf
from acmnet.data import robotcar_files as P
from acmnet.data.datasets import robotcar as rc
from acmnet.data.datasets.base import LayoutError
from acmnet.data.download import Download

T0 = 1417176458999821  # a real-looking 16-digit microsecond timestamp


def _yaw_quats(n, seed):
    yaw = np.random.default_rng(seed).uniform(-np.pi, np.pi, n)
    return np.stack([np.cos(yaw / 2), np.zeros(n), np.zeros(n), np.sin(yaw / 2)], 1)


def _centres(n, seed):
    rng = np.random.default_rng(seed)
    return np.stack([rng.uniform(0, 3000, n), rng.uniform(0, 3000, n), rng.normal(size=n)], 1)


def build_tree(root, n_ref=8, n_train=2, n_test=2, cameras=("left", "rear", "right")):
    """A RobotCar Seasons v2 tree with real names and nesting: n_train / n_test queries per condition.

    The train list names `<condition>/rear/<timestamp>.jpg`, the test list `rear/<timestamp>.jpg`
    (no condition folder), the NVM `./<condition>/<camera>/<timestamp>.png`, as the real files do.
    info["test"] holds the test images with their condition folder."""
    images = root / "images"
    ref_ts = [T0 + 1_000_000 * i for i in range(n_ref)]
    for cam in cameras:
        (images / rc.REFERENCE_CONDITION / cam).mkdir(parents=True)
        for ts in ref_ts:
            (images / rc.REFERENCE_CONDITION / cam / f"{ts}.jpg").touch()
    # the all-merged model poses the three cameras; names as VisualSFM writes them
    q, c = _yaw_quats(n_ref * len(cameras), 1), _centres(n_ref * len(cameras), 2)
    lines = ["NVM_V3", "", str(n_ref * len(cameras))]
    k = 0
    for cam in cameras:
        for ts in reversed(ref_ts):  # model order is not name order
            quaternion, centre = " ".join(map(str, q[k])), " ".join(map(str, c[k]))
            lines.append(f"./{rc.REFERENCE_CONDITION}/{cam}/{ts}.png 400 {quaternion} {centre} 0 0")
            k += 1
    lines += ["", "1", "1 2 3 0 0 0 1 0 0 1.0 2.0", "", "0", ""]
    (root / "3D-models" / "all-merged").mkdir(parents=True)
    (root / "3D-models" / "all-merged" / "all.nvm").write_text("\n".join(lines))

    train, test = [], []
    ts = T0 + 10**10
    for condition in rc.QUERY_CONDITIONS:
        for cam in cameras:
            (images / condition / cam).mkdir(parents=True)
        for split, n in ((train, n_train), (test, n_test)):
            for _ in range(n):
                ts += 1_000_003
                for cam in cameras:
                    (images / condition / cam / f"{ts}.jpg").touch()
                split.append(f"{condition}/rear/{ts}.jpg")
    q_train, c_train = _yaw_quats(len(train), 3), _centres(len(train), 4)
    c2w = G.invert(G.pose_matrix(q_train, G.translation_from_centre(q_train, c_train)))
    (root / "robotcar_v2_train.txt").write_text(
        "".join(f"{n} {' '.join(f'{v:.15g}' for v in m.ravel())}\n" for n, m in zip(train, c2w))
    )
    (root / "robotcar_v2_test.txt").write_text("".join(f"rear/{n.split('/')[-1]}\n" for n in test))
    return {"ref_ts": ref_ts, "train": train, "test": test, "q_train": q_train, "c_train": c_train}


SMALL = {"expect_counts": False}


def prepare(root, options, name=None):
    return rc.DATASET.prepare_manifest(root, options, name)


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "RobotCar-Seasons"
    info = build_tree(root)
    return root, info


def test_protocol_roles_conditions_places_and_poses(tree):
    root, info = tree
    frame = mf.validate(prepare(root, SMALL))
    assert list(frame.columns) == rc.COLUMNS
    counts = frame.groupby(["role", "query_set"], dropna=False).size().to_dict()
    assert counts == {("train", ""): 8 + 18, ("reference", ""): 8, ("query", "test"): 18, ("query", "train-split"): 18}

    refs = frame[frame["role"] == "reference"]
    assert refs["image"].tolist() == [f"images/overcast-reference/rear/{ts}.jpg" for ts in info["ref_ts"]]
    assert refs["place"].tolist() == list(range(8))
    assert (refs["condition"] == "overcast-reference").all()
    # reference pose: NVM centre C becomes t = -R C
    model = P.read_nvm(root / "3D-models/all-merged/all.nvm").set_index("image")
    key = f"overcast-reference/rear/{info['ref_ts'][3]}.jpg"
    row = refs[refs["image"] == "images/" + key].iloc[0]
    assert np.allclose(
        G.centre_from_translation(row[P.QUAT_COLUMNS].to_numpy(float), row[P.TRANS_COLUMNS].to_numpy(float)),
        model.loc[key, P.CENTRE_COLUMNS].to_numpy(float),
    )

    queries = frame[frame["role"] == "query"]
    assert (queries["place"] == rc.QUERY_PLACE).all()
    test = queries[queries["query_set"] == "test"]
    assert test["image"].tolist() == ["images/" + n for n in info["test"]]
    assert test["condition"].tolist() == [n.split("/")[0] for n in info["test"]]
    assert test[P.POSE_COLUMNS].isna().all().all()
    split = queries[queries["query_set"] == "train-split"]
    assert split["condition"].tolist() == ["train-split-" + n.split("/")[0] for n in info["train"]]
    assert [rc.folder_condition(c) for c in split["condition"]] == [n.split("/")[0] for n in info["train"]]
    # the default reading (c2w) recovers the pose the fixture wrote as camera-to-world
    assert P.V2_TRAIN_CONVENTION == "c2w"
    assert np.allclose(split[P.QUAT_COLUMNS].to_numpy(float), info["q_train"], atol=1e-9)
    centres = G.centre_from_translation(split[P.QUAT_COLUMNS].to_numpy(float), split[P.TRANS_COLUMNS].to_numpy(float))
    assert np.allclose(centres, info["c_train"], atol=1e-6)
    # query sets: 9 test conditions, then 9 train-split ones; none mixes the two
    assert mf.query_sets(frame) == list(rc.QUERY_CONDITIONS) + [f"train-split-{c}" for c in rc.QUERY_CONDITIONS]
    # train: every rear overcast-reference image (with its pose) and the split images
    train = frame[frame["role"] == "train"]
    assert train["image"].str.contains("/rear/").all()
    assert not train[P.POSE_COLUMNS].isna().any().any()
    # a place window never reaches a reference from a query
    assert (refs["place"].to_numpy()[None] - queries["place"].to_numpy()[:, None]).min() > 10**8


def test_manifest_round_trip_keeps_query_set_and_poses(tree, tmp_path):
    root, _ = tree
    frame = prepare(root, SMALL)
    save_manifest(frame, tmp_path / "manifest.csv", provenance("prepare", {}))
    back = load_manifest(tmp_path / "manifest.csv").frame
    assert back["query_set"].fillna("").tolist() == frame["query_set"].tolist()
    assert np.allclose(back[P.POSE_COLUMNS].to_numpy(float), frame[P.POSE_COLUMNS].to_numpy(float), equal_nan=True)


def test_options(tree):
    root, info = tree
    with pytest.raises(ConfigError, match="datasets.rc"):
        prepare(root, {**SMALL, "nvm_path": "x"}, "rc")
    with pytest.raises(ConfigError, match="train_convention must be one of c2w, w2c"):
        prepare(root, {**SMALL, "train_convention": "cam2world"})
    frame = prepare(root, {**SMALL, "train_convention": "w2c", "train_split_queries": False})
    assert set(frame.loc[frame["role"] == "query", "query_set"]) == {"test"}
    split = frame[(frame["role"] == "train") & (frame["condition"] != "overcast-reference")]
    assert not np.allclose(split[P.QUAT_COLUMNS].to_numpy(float), info["q_train"], atol=1e-3)


def test_counts_are_checked_when_expected(tree, monkeypatch):
    root, _ = tree
    monkeypatch.setattr(rc, "EXPECTED_COUNTS", {"reference": 8, "train_split": 18, "test_split": 18})
    assert len(prepare(root, {})) == 26 + 8 + 36
    (root / "robotcar_v2_test.txt").write_text(
        "".join(ln + "\n" for ln in (root / "robotcar_v2_test.txt").read_text().split()[1:])
    )
    with pytest.raises(LayoutError, match=r"\(test_split: expected 18, found 17\)"):
        prepare(root, {})


@pytest.mark.slow  # about 10 000 files: 5-15 s on a slow disk
def test_published_counts_are_checked(tmp_path):
    root = tmp_path / "full"
    # 6954 references; 1906 = 9 * 211 + 7 train and 1872 = 9 * 208 test lines
    build_tree(root, n_ref=6954, n_train=211, n_test=208, cameras=("rear",))
    extra = [("dawn", T0 + 5 * 10**10 + i) for i in range(7)]
    with open(root / "robotcar_v2_train.txt", "a") as fh:
        for condition, ts in extra:
            (root / "images" / condition / "rear" / f"{ts}.jpg").touch()
            fh.write(f"{condition}/rear/{ts}.jpg " + " ".join(map(str, np.eye(4).ravel())) + "\n")
    frame = prepare(root, {})
    assert (frame["role"] == "reference").sum() == 6954
    assert (frame["query_set"] == "test").sum() == 1872
    assert (frame["query_set"] == "train-split").sum() == 1906
    assert (frame["role"] == "train").sum() == 6954 + 1906

    lines = (root / "robotcar_v2_test.txt").read_text().splitlines()
    (root / "robotcar_v2_test.txt").write_text("\n".join(lines[:-2]) + "\n")
    with pytest.raises(LayoutError, match=r"test_split: expected 1872, found 1870.*expect_counts: false"):
        prepare(root, {})


def test_small_tree_fails_the_count_check_by_default(tree):
    root, _ = tree
    with pytest.raises(
        LayoutError,
        match="reference: expected 6954, found 8; train_split: expected 1906, found 18; "
        "test_split: expected 1872, found 18",
    ):
        prepare(root, {})


def test_missing_condition_folder(tree):
    root, _ = tree
    shutil.rmtree(root / "images" / "snow")
    shutil.rmtree(root / "images" / "dawn" / "rear")
    with pytest.raises(
        LayoutError, match=r"2 condition folder\(s\) missing: images/dawn/rear, images/snow/rear\. Download"
    ):
        prepare(root, SMALL)


def test_doubly_nested_zip_is_explained(tree):
    root, _ = tree
    night = root / "images" / "night"
    night.rename(root / "images" / "tmp")
    night.mkdir()
    (root / "images" / "tmp").rename(night / "night")
    with pytest.raises(LayoutError, match="images/night/night/rear exists: move its content up one level"):
        prepare(root, SMALL)


def test_split_line_pointing_at_a_missing_image(tree):
    root, info = tree
    gone = [info["train"][4], info["train"][0]]
    for name in gone:
        (root / "images" / name).unlink()
    first = ", ".join("images/" + n for n in [info["train"][0], info["train"][4]])
    with pytest.raises(
        LayoutError, match=rf"robotcar_v2_train.txt: 2 of its 18 images are not on disk \(first: {first}\)"
    ):
        prepare(root, SMALL)
    (root / "images" / gone[0]).touch()
    (root / "images" / gone[1]).touch()
    (root / "images" / info["test"][-1]).unlink()
    with pytest.raises(
        LayoutError,
        match=r"robotcar_v2_test.txt: 1 names are not in a query condition folder .*"
        rf"\(first: rear/{info['test'][-1].split('/')[-1]}\)",
    ):
        prepare(root, SMALL)


def test_nvm_image_missing_from_the_folder(tree):
    root, info = tree
    (root / "images" / "overcast-reference" / "rear" / f"{info['ref_ts'][2]}.jpg").unlink()
    with pytest.raises(
        LayoutError,
        match=rf"all.nvm \(the reference model\): 1 of its 8 images are not on disk "
        rf"\(first: images/overcast-reference/rear/{info['ref_ts'][2]}.jpg\)",
    ):
        prepare(root, SMALL)


def test_unposed_reference_images(tree):
    root, _ = tree
    stray = root / "images" / "overcast-reference" / "rear" / f"{T0 - 5}.jpg"
    stray.touch()
    with pytest.raises(
        LayoutError,
        match=rf"1 of the 9 rear overcast-reference images have no pose .*{T0 - 5}.jpg.*unposed_references: drop",
    ):
        prepare(root, SMALL)
    frame = prepare(root, {**SMALL, "unposed_references": "drop"})
    row = frame[frame["image"] == f"images/overcast-reference/rear/{T0 - 5}.jpg"]
    assert row["role"].tolist() == ["train"] and row["place"].tolist() == [rc.QUERY_PLACE]
    assert row[P.POSE_COLUMNS].isna().all().all()
    assert (frame["role"] == "reference").sum() == 8


def test_wrong_root_is_explained(tree, tmp_path):
    root, _ = tree
    with pytest.raises(LayoutError, match="points inside images/"):
        prepare(root / "images", SMALL)
    with pytest.raises(LayoutError, match="points at a condition folder"):
        prepare(root / "images" / "night", SMALL)
    with pytest.raises(LayoutError, match="one level deeper: use .*RobotCar-Seasons as the root"):
        prepare(tmp_path, SMALL)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(LayoutError, match="Download it from https://data.ciirc.cvut.cz/"):
        prepare(empty, SMALL)


def test_split_file_elsewhere_is_pointed_at(tree):
    root, _ = tree
    (root / "metadata").mkdir()
    (root / "robotcar_v2_train.txt").rename(root / "metadata" / "robotcar_v2_train.txt")
    with pytest.raises(
        LayoutError,
        match="Found metadata/robotcar_v2_train.txt: "
        "set the dataset option `train_split: metadata/robotcar_v2_train.txt`",
    ):
        prepare(root, SMALL)
    frame = prepare(root, {**SMALL, "train_split": "metadata/robotcar_v2_train.txt"})
    assert (frame["query_set"] == "train-split").sum() == 18
    (root / "3D-models" / "all-merged" / "all.nvm").unlink()
    with pytest.raises(LayoutError, match="all.nvm \\(the reference 3D model\\) does not exist"):
        prepare(root, {**SMALL, "train_split": "metadata/robotcar_v2_train.txt"})


def test_test_names_are_found_by_timestamp(tree):
    root, info = tree
    # the real list names no condition folder; a list with condition folders is accepted too
    (root / "robotcar_v2_test.txt").write_text("".join(n + "\n" for n in info["test"]))
    frame = prepare(root, SMALL)
    test = frame[frame["query_set"] == "test"]
    assert test["image"].tolist() == ["images/" + n for n in info["test"]]
    (root / "robotcar_v2_test.txt").write_text("123.jpg\n")
    with pytest.raises(
        LayoutError,
        match=r"robotcar_v2_test.txt: image name `123.jpg` lacks the <camera>/ folder; expected rear/<timestamp>.jpg",
    ):
        prepare(root, SMALL)
    (root / "robotcar_v2_test.txt").write_text("rear/123.jpg\n")
    with pytest.raises(LayoutError, match=r"1 names are not in a query condition folder .* \(first: rear/123.jpg\)"):
        prepare(root, SMALL)


def test_timestamp_in_two_condition_folders_is_refused(tree):
    root, info = tree
    name = info["test"][0].split("/")[-1]
    (root / "images" / "sun" / "rear" / name).touch()
    with pytest.raises(
        LayoutError, match=rf"1 names are in several query condition folders \(first: rear/{name} \(dawn and sun\)\)"
    ):
        prepare(root, SMALL)


def test_queries_in_time_order_within_each_condition(tree):
    root, info = tree
    lines = (root / "robotcar_v2_test.txt").read_text().splitlines()
    (root / "robotcar_v2_test.txt").write_text("\n".join(lines[::-1]) + "\n")
    train = (root / "robotcar_v2_train.txt").read_text().splitlines()
    (root / "robotcar_v2_train.txt").write_text("\n".join(train[::-1]) + "\n")
    frame = prepare(root, SMALL)
    test = frame[frame["query_set"] == "test"]
    assert test["image"].tolist() == ["images/" + n for n in info["test"]]  # grouped by condition, by timestamp
    split = frame[frame["query_set"] == "train-split"]
    assert split["image"].tolist() == ["images/" + n for n in info["train"]]
    assert np.allclose(split[P.QUAT_COLUMNS].to_numpy(float), info["q_train"], atol=1e-9)  # poses follow their rows


def test_sidecar_files_are_not_images(tree):
    root, _ = tree
    for junk in (f"._{T0}.jpg", ".DS_Store", "Thumbs.db"):
        (root / "images" / "overcast-reference" / "rear" / junk).touch()
    frame = prepare(root, SMALL)  # an unposed `._<ts>.jpg` would be refused
    assert not frame["image"].str.contains("/[._]", regex=True).any()
    rc.DATASET.check_layout(root, rc.RobotCarOptions(expect_counts=False))


def test_split_overlap_and_wrong_camera_are_refused(tree):
    root, info = tree
    (root / "robotcar_v2_test.txt").write_text(
        "\n".join(["rear/" + n.split("/")[-1] for n in info["test"]] + [info["train"][0]])
    )
    with pytest.raises(LayoutError, match="1 images are in both the train and the test split"):
        prepare(root, SMALL)
    (root / "robotcar_v2_test.txt").write_text("left/" + info["test"][0].split("/")[-1])
    with pytest.raises(LayoutError, match=r"names camera\(s\) \['left'\]"):
        prepare(root, SMALL)


def test_sources_describe_the_tree_prepare_reads(tree):
    root, _ = tree
    assert rc.BASE_URL == "https://data.ciirc.cvut.cz/public/projects/2020VisualLocalization/RobotCar-Seasons/"
    assert all(isinstance(s, Download) and s.url == rc.BASE_URL + s.filename for s in rc.SOURCES)
    names = [s.filename for s in rc.SOURCES]
    assert pd.Series(names).is_unique
    defaults = rc.RobotCarOptions()
    assert {defaults.nvm, defaults.train_split, defaults.test_split} <= set(names)
    assert {f"images/{c}.zip" for c in rc.CONDITIONS} <= set(names)
    # every entry counts as done on a complete tree (what fetch_dataset checks before downloading)
    for source in rc.SOURCES:
        if source.filename != "README_RobotCar_v2.md":
            assert (root / (source.present or source.filename)).exists(), source
    assert download.sources_of("robotcar") == rc.SOURCES  # what `fetch_dataset("robotcar", root)` reads


def test_zip_not_yet_unzipped_is_explained(tree):
    root, _ = tree
    shutil.rmtree(root / "images" / "sun")
    (root / "images" / "sun.zip").touch()
    with pytest.raises(
        LayoutError, match=r"images/sun.zip is there: unzip it inside images/ \(cd .*images && unzip sun.zip\)"
    ):
        prepare(root, SMALL)
