import math
import re

import pytest

from acmnet.config import ConfigError
from acmnet.data import manifest as mf
from acmnet.data.datasets import dataset_type, utm
from acmnet.data.datasets.base import LayoutError


def prepare(root, options=None, name=None):
    return utm.DATASET.prepare_manifest(root, options or {}, name)


def image(east, north, zone="10", ext=".jpg"):
    """A VPR-datasets-downloader file name."""
    return f"@{east:010.2f}@{north:010.2f}@{zone}@S@037.75@-122.45@@@@@@@@{ext}"


def touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    return path


def tree(root, folders):
    """`folders`: {path relative to root: [file names]}; zero-byte files (nothing is decoded)."""
    for folder, names in folders.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        for name in names:
            touch(root / folder / name)
    return root


DB = [image(543256.96, 4178906.09), image(543200.0, 4178900.0), image(543300.5, 4179000.25)]
Q = [image(543256.0, 4178906.0), image(600000.0, 4000000.0)]  # the second has no database image near


@pytest.fixture
def pitts(tmp_path):
    return tree(tmp_path / "pitts", {"images/test/database": DB, "images/test/queries": Q})


def rows(frame, role, condition=None):
    sel = frame["role"] == role
    if condition is not None:
        sel &= frame["condition"] == condition
    return frame[sel]


def test_dataset_type_fields():
    assert dataset_type("utm") is utm.DATASET
    d = utm.DATASET
    assert d.ground_truth == "positions" and d.scoring == "recall"
    opts = d.parse_options({}, "datasets.x")
    assert opts == utm.UtmOptions(split="test", database=None, queries=[], positive_distance=25.0, train=None)
    assert d.route_order(opts) is False and d.route_order(d.parse_options({"route_order": True}, "x")) is True
    caption = d.protocol(d.parse_options({"positive_distance": 10, "split": "val"}, "x"))
    assert "within 10 m (UTM, Euclidean, inclusive)" in caption and "VPR-methods-evaluation" in caption
    assert caption.endswith("split val")


def test_rows_roles_order_and_positions(pitts):
    frame = prepare(pitts)
    assert list(frame.columns) == ["image", "role", "place", "condition", "x", "y"]
    assert frame["role"].tolist() == ["reference"] * 3 + ["query"] * 2  # no images/train: no training rows
    ref, query = rows(frame, "reference"), rows(frame, "query")
    assert ref["image"].tolist() == [f"images/test/database/{n}" for n in sorted(DB)]
    assert sorted(DB) != DB  # the test would not notice a missing sort otherwise
    assert ref["condition"].unique().tolist() == ["database"] and query["condition"].unique().tolist() == ["queries"]
    assert ref["place"].tolist() == [0, 1, 2] and query["place"].tolist() == [0, 1]
    first = ref.iloc[0]
    assert (first["x"], first["y"]) == (543200.0, 4178900.0)
    assert query["x"].tolist() == [543256.0, 600000.0] and query["y"].tolist() == [4178906.0, 4000000.0]
    assert frame["x"].dtype == float and frame["y"].dtype == float
    assert len(mf.validate(frame)) == 5  # the query without a database image near is kept


def test_coordinates():
    assert utm.coordinates("@0543256.96@4178906.09@10@S@037.75@-122.45@@@@@@@@.jpg") == (543256.96, 4178906.09, "10")
    assert utm.coordinates("@1@2@.jpg") == (1.0, 2.0, None)
    assert utm.coordinates("@1@2@@T@.jpg") == (1.0, 2.0, None)
    assert utm.coordinates("@1@2@09@T@.jpg")[2] == utm.coordinates("@1@2@9@T@.jpg")[2]
    for bad in ("0001.jpg", "@1.jpg", "@x@2@.jpg", "@nan@2@.jpg", "@1@inf@.jpg"):
        assert utm.coordinates(bad) is None


def test_nested_folders_suffixes_and_string_order(tmp_path):
    names = {
        "images/test/database": [image(1, 1), "notes.txt", ".DS_Store", "._" + image(9, 9), "Thumbs.db"],
        "images/test/database/sub": [image(2, 2, ext=".png"), image(3, 3, ext=".JPEG")],
        "images/test/database/a": [image(4, 4)],
        "images/test/database/a.b": [image(5, 5, ext=".Jpg")],
        "images/test/database/.hidden": [image(6, 6)],
        "images/test/queries": [image(1, 1)],
    }
    frame = prepare(tree(tmp_path, names))
    got = [p.removeprefix("images/test/database/") for p in rows(frame, "reference")["image"]]
    # sorted as strings, like sorted(glob(...)): `a.b/` before `a/` ('.' < '/'), `@...` before `a`
    assert got == [
        image(1, 1),
        f"a.b/{image(5, 5, ext='.Jpg')}",
        f"a/{image(4, 4)}",
        f"sub/{image(2, 2, ext='.png')}",
        f"sub/{image(3, 3, ext='.JPEG')}",
    ]
    assert rows(frame, "reference")["x"].tolist() == [1.0, 5.0, 4.0, 2.0, 3.0]


def test_images_paths_txt_is_read_instead_of_searching(pitts, capsys):
    listed = [f"sub/{image(7, 7)}", DB[0], DB[2]]
    for name in listed:
        touch(pitts / "images/test/database" / name)
    (pitts / "images/test/database_images_paths.txt").write_text(f"{listed[0]}\n\n{listed[1]}\n{listed[2]}\n")
    frame = prepare(pitts)
    ref = rows(frame, "reference")
    # only the listed images (DB[1] is in the folder but not listed), in the list's order: the order
    # VPR-methods-evaluation reads (and saves descriptors in) when the list exists
    assert ref["image"].tolist() == [f"images/test/database/{n}" for n in listed]
    assert ref["x"].tolist() == [7.0, 543256.96, 543300.5] and ref["place"].tolist() == [0, 1, 2]
    assert "database_images_paths.txt: rows follow the list's order (not sorted)" in capsys.readouterr().err
    assert rows(frame, "query")["image"].tolist() == [f"images/test/queries/{n}" for n in sorted(Q)]


def test_images_paths_txt_refusals(pitts):
    txt = pitts / "images/test/queries_images_paths.txt"
    txt.write_text(f"{Q[0]}\n\nmissing/{image(1, 1)}\n")
    with pytest.raises(LayoutError, match=rf"queries_images_paths.txt, line 3: missing/{image(1, 1)} does not exist"):
        prepare(pitts)
    txt.write_text(f"{Q[0]}\n{Q[1]}\n{Q[0]}\n")
    with pytest.raises(LayoutError, match=r"queries_images_paths.txt, line 3: .* is listed again \(first on line 1\)"):
        prepare(pitts)
    txt.write_text("\n  \n")
    with pytest.raises(LayoutError, match=r"queries_images_paths.txt lists no images"):
        prepare(pitts)


def test_several_query_folders_are_separate_sets(pitts):
    tree(
        pitts,
        {
            "images/test/queries_snow": [image(5, 5)],
            "images/test/queries_night": [image(6, 6), image(7, 7)],
            "images/test/other": [image(8, 8)],
        },
    )
    frame = prepare(pitts)
    assert mf.query_sets(frame) == ["queries", "queries_night", "queries_snow"]
    assert rows(frame, "query", "queries_night")["image"].tolist() == [
        f"images/test/queries_night/{n}" for n in (image(6, 6), image(7, 7))
    ]
    assert rows(frame, "query", "queries_night")["place"].tolist() == [0, 1]
    assert "other" not in set(frame["condition"])
    picked = prepare(pitts, {"queries": "queries_night"})
    assert mf.query_sets(picked) == ["queries_night"] and len(rows(picked, "query")) == 2
    picked = prepare(pitts, {"queries": ["queries_snow", "other"]})
    assert mf.query_sets(picked) == ["queries_snow", "other"]
    with pytest.raises(
        LayoutError,
        match=r"datasets.utm.queries: .*queries_rain does not exist \(query folders found: "
        r"queries, queries_night, queries_snow\)",
    ):
        prepare(pitts, {"queries": ["queries_rain"]})


def test_training_folder(pitts):
    assert "train" not in set(prepare(pitts)["role"])
    tree(pitts, {"images/train/database": [image(1, 2), image(0, 3)], "images/train/queries": [image(4, 4)]})
    frame = prepare(pitts)
    train = rows(frame, "train")
    assert frame["role"].tolist()[:2] == ["train", "train"] and len(train) == 2
    assert train["image"].tolist() == [f"images/train/database/{n}" for n in (image(0, 3), image(1, 2))]
    assert set(train["condition"]) == {"train"} and train["x"].tolist() == [0.0, 1.0]
    tree(pitts, {"extra/frames": ["0001.jpg", "0000.jpg"]})
    train = rows(prepare(pitts, {"train": "extra/frames"}), "train")
    assert train["image"].tolist() == ["extra/frames/0000.jpg", "extra/frames/0001.jpg"]
    assert train["x"].isna().all()  # training images need no position
    with pytest.raises(
        LayoutError, match=r"datasets.utm.train: .*extra/nowhere does not exist \(folders in .*: frames\)"
    ):
        prepare(pitts, {"train": "extra/nowhere"})


def test_gallery_database(tmp_path, capsys):
    root = tree(tmp_path, {"images/test/gallery": DB, "images/test/queries": Q})
    frame = prepare(root)
    assert rows(frame, "reference")["image"].str.startswith("images/test/gallery/").all()
    assert set(rows(frame, "reference")["condition"]) == {"gallery"}
    assert "reading the database from" in capsys.readouterr().err
    tree(root, {"images/test/database": [image(1, 1)]})
    assert len(rows(prepare(root), "reference")) == 1  # `database` wins when both exist
    assert len(rows(prepare(root, {"database": "gallery"}), "reference")) == 3
    with pytest.raises(
        LayoutError,
        match=r"datasets.utm.database: .*images/test/db does not exist \(folders in .*: "
        r"database, gallery, queries\)",
    ):
        prepare(root, {"database": "db"})


def test_missing_tree_refusals(tmp_path, pitts):
    tree(tmp_path / "empty", {"data": []})
    with pytest.raises(LayoutError, match=r"empty has no images/ folder \(folders there: data\)"):
        prepare(tmp_path / "empty")
    with pytest.raises(LayoutError, match=r"images/val does not exist \(splits in .*images: test\)"):
        prepare(pitts, {"split": "val"})
    tree(tmp_path / "nodb", {"images/test/queries": Q, "images/test/db": DB})
    with pytest.raises(
        LayoutError,
        match=r"images/test holds neither `database` nor `gallery` \(folders there: db, "
        r"queries\)",
    ):
        prepare(tmp_path / "nodb")
    tree(tmp_path / "noq", {"images/test/database": DB, "images/test/query": Q})
    with pytest.raises(LayoutError, match=r"images/test holds no query folder .*folders there: database, query\)"):
        prepare(tmp_path / "noq")


def test_empty_folder_refused(pitts):
    tree(pitts, {"images/test/queries_night": ["readme.txt"]})
    with pytest.raises(LayoutError, match=r"images/test/queries_night holds no images \(.jpg, .jpeg, .png"):
        prepare(pitts)


def test_names_without_coordinates_refused(pitts):
    tree(pitts, {"images/test/queries/z": ["@12@north@.jpg", "0001.jpg"]})
    # the first such file in row order, with the expected pattern
    with pytest.raises(
        LayoutError,
        match=r"queries/z/0001.jpg: the file name holds no UTM easting and northing "
        r"\(expected @<easting>@<northing>@<zone>",
    ):
        prepare(pitts)
    with pytest.raises(LayoutError, match=r"queries/z/0001.jpg"):
        utm.DATASET.check_layout(pitts, utm.UtmOptions())


def test_other_utm_zone_refused(pitts):
    tree(pitts, {"images/test/queries_tokyo": [image(1, 1, zone="54")]})
    with pytest.raises(
        LayoutError,
        match=rf"queries_tokyo/{image(1, 1, zone='54')} is in UTM zone 54 but no database "
        rf"image is \(e.g. .*database/{sorted(DB)[0]} is in zone 10\)",
    ):
        prepare(pitts)
    tree(pitts, {"images/test/database": [image(2, 2, zone="54")]})
    assert mf.query_sets(prepare(pitts)) == ["queries", "queries_tokyo"]  # a database over both zones (MSLS val)


def test_no_zone_field_is_not_checked(tmp_path):
    root = tree(tmp_path, {"images/test/database": ["@1@2@.jpg"], "images/test/queries": [image(1, 2, zone="54")]})
    assert len(prepare(root)) == 2


def test_check_layout_decodes_nothing(pitts, monkeypatch):
    import PIL.Image

    def refuse(*args, **kwargs):
        raise AssertionError("an image was decoded")

    monkeypatch.setattr(PIL.Image, "open", refuse)
    utm.DATASET.check_layout(pitts, utm.UtmOptions())
    assert len(prepare(pitts)) == 5


def test_archive_top_folder_and_msls_layout(tmp_path, pitts):
    frame = prepare(pitts.parent)  # the root holds the dataset's one top folder
    assert rows(frame, "reference")["image"].iloc[0] == f"pitts/images/test/database/{sorted(DB)[0]}"
    msls = tree(tmp_path / "msls", {"val/database": DB, "val/queries": Q, "train/database": [image(1, 1)]})
    frame = prepare(msls, {"split": "val"})
    assert frame["image"].tolist()[:2] == [f"train/database/{image(1, 1)}", f"val/database/{sorted(DB)[0]}"]


def test_option_refusals(pitts):
    with pytest.raises(ConfigError, match=r"datasets.p.positive_distance must be > 0, got 0"):
        prepare(pitts, {"positive_distance": 0}, "p")
    with pytest.raises(ConfigError, match=r"datasets.p.split is empty"):
        prepare(pitts, {"split": " "}, "p")
    with pytest.raises(ConfigError, match=r"queries names the database folder `database`"):
        prepare(pitts, {"database": "database", "queries": ["database"]})
    with pytest.raises(ConfigError, match=r"queries names the database folder `database`"):
        prepare(pitts, {"queries": ["database"]})  # the default database, found on disk
    with pytest.raises(ConfigError, match=r"queries names queries twice"):
        prepare(pitts, {"queries": ["queries", "queries"]})
    with pytest.raises(ConfigError, match=r"unknown config key `datasets.p.query`"):
        prepare(pitts, {"query": ["queries"]}, "p")
    assert math.isclose(utm.DATASET.parse_options({"positive_distance": 7}, "x").positive_distance, 7.0)


@pytest.mark.parametrize("line", ["../outside.jpg", "sub/../../outside.jpg", "/abs/outside.jpg", "C:\\outside.jpg"])
def test_images_paths_txt_outside_the_folder_is_refused_naming_the_line(pitts, line):
    # issue 26 item 3: a `../` line read an image outside the root (a change there never reran anything),
    # an absolute one failed only at the cache step with a path that never existed
    touch(pitts / "images/test/outside.jpg")
    (pitts / "images/test/queries_images_paths.txt").write_text(f"{Q[0]}\n{line}\n")
    with pytest.raises(
        LayoutError, match=rf"queries_images_paths.txt, line 2: {re.escape(line)} (is an absolute|leads out)"
    ):
        prepare(pitts)


def test_images_paths_txt_paths_are_normalised_before_the_listed_twice_check(pitts):
    # issue 26 item 9: `./x.jpg` and `x/../x.jpg` gave 8 references for 6 images
    (pitts / "images/test/queries/sub").mkdir()
    (pitts / "images/test/queries_images_paths.txt").write_text(f"{Q[0]}\n./{Q[1]}\nsub/../{Q[0]}\n")
    with pytest.raises(
        LayoutError,
        match=rf"line 3: sub/\.\./{re.escape(Q[0])} \(that is {re.escape(Q[0])}\) is listed again \(first on line 1\)",
    ):
        prepare(pitts)
    (pitts / "images/test/queries_images_paths.txt").write_text(f"\ufeff./{Q[1]}\n{Q[0]}\n")  # a BOM (issue 26 item 14)
    assert rows(prepare(pitts), "query")["image"].tolist() == [
        f"images/test/queries/{Q[1]}",
        f"images/test/queries/{Q[0]}",
    ]


@pytest.mark.parametrize(
    ("east", "north", "what"),
    [
        (1e22, 4178906.0, "easting 1e\\+22 m"),
        (543256.0, 1e22, "northing 1e\\+22 m"),
        (-5.0, 0.0, "easting -5 m"),
        (543256.0, -2e7, "northing -2e\\+07 m"),
    ],
)
def test_coordinates_outside_the_utm_range_are_refused(pitts, east, north, what):
    # issue 26 item 9: at 1e22 every database image became a positive of every query (float precision)
    name = f"@{east}@{north}@10@S@037.75@-122.45@@@@@@@@.jpg"
    tree(pitts, {"images/test/queries": [name]})
    with pytest.raises(
        LayoutError, match=rf"queries/{re.escape(name)}: {what} is outside the UTM range .*0 \.\. 1,000,000"
    ):
        prepare(pitts)


def _frames_tree(root, n=12):
    """Olid's Nordland partition as `@UTM@` names: frame i at (i, i), database summer, queries winter."""
    names = [f"@{i:07d}@{i:07d}@@@@@{i:05d}@.jpg" for i in range(n)]
    return tree(root, {"images/test/database": names, "images/test/queries": names})


def test_positive_frames_are_exact_in_integers_where_a_radius_of_2_sqrt2_sits_on_the_boundary(tmp_path, capsys):
    """Patch-NetVLAD #64: (i, i) names with radius 2*sqrt(2) mean +/-2 frames only if the float distance of
    (i+2, i+2) rounds to at most the radius; `positive_frames: 2` counts +/-2 exactly, and the radius is warned."""
    from sklearn.neighbors import NearestNeighbors

    from acmnet.data.positives import positives_of

    frame = prepare(_frames_tree(tmp_path), {"positive_frames": 2})
    sets = positives_of(frame, "frames", 2, None)
    assert [sets.of(q).tolist() for q in (0, 5, 11)] == [[0, 1, 2], [3, 4, 5, 6, 7], [9, 10, 11]]
    capsys.readouterr()
    xy = frame.loc[frame["role"] == "reference", ["x", "y"]].to_numpy()
    by_radius = positives_of(frame, "positions", 0, 2 * math.sqrt(2))
    assert "pairs lie within 1e-6 m of positive_distance 2.828" in capsys.readouterr().err
    # VPR-methods-evaluation's rule (sklearn radius_neighbors) on the same radius, transcribed
    knn = NearestNeighbors(n_jobs=1).fit(xy)
    theirs = knn.radius_neighbors(xy, radius=2 * math.sqrt(2), return_distance=False)
    assert [sorted(t.tolist()) for t in theirs] == [by_radius.of(q).tolist() for q in range(len(xy))]
    positives_of(frame, "positions", 0, 25.0)
    assert "warning" not in capsys.readouterr().err  # no distance near 25 m: no warning


def test_positive_frames_refuse_fractional_coordinates(tmp_path):
    root = _frames_tree(tmp_path)
    touch(root / "images/test/queries/@3.5@3@@@@@x@.jpg")
    with pytest.raises(LayoutError, match=r"@3.5@3@@@@@x@.jpg: coordinates 3.5, 3 are not frame numbers"):
        prepare(root, {"positive_frames": 2})
    assert len(prepare(root)) == 25  # metres: fractional coordinates are fine


def test_positive_frames_set_the_ground_truth_and_the_tolerance_grid():
    from acmnet.config_loader import config_from_dict
    from acmnet.data.positives import ground_truth_of
    from acmnet.evaluate.tolerance import grid

    cfg = config_from_dict({"datasets": {"nl": {"type": "utm", "root": ".", "positive_frames": 2}}})
    assert ground_truth_of(cfg.dataset("nl")) == ("frames", 2, None)
    assert grid(cfg, "nl")[:2] == ("frames", "frames") and grid(cfg, "nl")[3] == 2.0
