"""Alderley on small fixture trees with the real names and nesting (FRAMESA/Image00001.jpg ...,
1-based five-digit numbers, a header-less framematches.csv with one row per FRAMESB frame); the
documented counts are patched down, so the count check runs without writing 31 567 files."""

import io

import numpy as np
import pytest
from PIL import Image

from acmnet.config import ConfigError
from acmnet.data import manifest as mf
from acmnet.data.datasets import alderley as ald
from acmnet.data.datasets.base import LayoutError
from acmnet.data.download import ManualDownload

COUNT_A, COUNT_B = 60, 50


def _jpeg(level: int) -> bytes:
    rng = np.random.default_rng(level)
    pixels = np.clip(rng.normal(level, 8, (24, 48, 3)), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", quality=80)
    return buf.getvalue()


DARK, BRIGHT, GREY = _jpeg(20), _jpeg(170), _jpeg(100)


def _a_of(b: int) -> int:
    """The fixture's day->night map: FRAMESA frame for FRAMESB frame b (increasing, with gaps:
    night frames 1, 2, 13, 24, ... and 58..60 are named on no row)."""
    return b + b // 10 + 2


def prepare(root, options=None, name=None):
    return ald.DATASET.prepare_manifest(root, options or {}, name)


def _matches_text(header=False, rows=None):
    rows = rows if rows is not None else [(_a_of(b), b) for b in range(1, COUNT_B + 1)]
    return ("FRAMESA,FRAMESB\n" if header else "") + "".join(f"{a},{b}\n" for a, b in rows)


def _tree(root, a_bytes=DARK, b_bytes=BRIGHT, count_a=COUNT_A, count_b=COUNT_B, matches=None):
    for folder, count, data in (("FRAMESA", count_a, a_bytes), ("FRAMESB", count_b, b_bytes)):
        (root / folder).mkdir(parents=True)
        for i in range(1, count + 1):
            (root / folder / ald.image_name(i)).write_bytes(data)
    (root / "framematches.csv").write_text(matches if matches is not None else _matches_text())
    return root


@pytest.fixture(autouse=True)
def small_release(monkeypatch):
    monkeypatch.setattr(ald, "DOCUMENTED_FRAMES", {"FRAMESA": COUNT_A, "FRAMESB": COUNT_B})


@pytest.fixture
def alderley(tmp_path):
    return _tree(tmp_path / "alderley")


def test_default_protocol_is_the_papers_matched_query_set(alderley, capsys):
    frame = mf.validate(prepare(alderley))
    counts = frame.groupby(["role", "condition"]).size().to_dict()
    assert counts == {("train", "day"): 50, ("reference", "day"): 50, ("query", "night"): 50}
    ref = frame[frame["role"] == "reference"]
    assert ref["image"].iloc[0] == "FRAMESB/Image00001.jpg"
    assert ref["place"].tolist() == list(range(1, 51))
    q = frame[frame["role"] == "query"]
    # exactly the night frames the csv pairs with day frames, in night-frame order, at their day frame
    assert q["image"].tolist() == [f"FRAMESA/{ald.image_name(_a_of(b))}" for b in range(1, 51)]
    assert q["place"].tolist() == list(range(1, 51))
    assert "FRAMESA/Image00012.jpg" not in set(q["image"])  # on no row: not a query
    assert "50 queries = the night frames (FRAMESA)" in capsys.readouterr().err


def test_interpolated_query_set(alderley):
    with pytest.warns(UserWarning, match=r"5 of 60 night frames \(FRAMESA\) have no day frame"):
        frame = mf.validate(prepare(alderley, {"query_set": "interpolated"}))
    q = frame[frame["role"] == "query"].set_index("image")["place"]
    assert len(q) == 55 and q.index[0] == "FRAMESA/Image00003.jpg" and q.index[-1] == "FRAMESA/Image00057.jpg"
    assert q.index.tolist() == sorted(q.index)  # night-frame order
    assert q["FRAMESA/Image00011.jpg"] == 9  # matched: row b=9 names a=11
    assert q["FRAMESA/Image00013.jpg"] == 10
    assert q["FRAMESA/Image00012.jpg"] == 9  # on no row: nearest matched night frame, the earlier on a tie


def test_night_frame_named_on_several_rows(tmp_path):
    rows = [(24 if b == 21 else _a_of(b), b) for b in range(1, COUNT_B + 1)]  # b=20 and b=21 both name a=24
    root = _tree(tmp_path, matches=_matches_text(rows=rows))
    with pytest.warns(UserWarning, match=r"1 night frames \(FRAMESA\) are named on several rows"):
        frame = prepare(root)
    q = frame[frame["role"] == "query"].set_index("image")["place"]
    assert len(q) == 49 and q["FRAMESA/Image00024.jpg"] == 20  # the lower median of 20 and 21
    with pytest.warns(UserWarning):
        inter = prepare(root, {"query_set": "interpolated"}).set_index("image")
    assert inter.loc["FRAMESA/Image00025.jpg", "place"] == 20  # on no row, ties between 24 and 26 -> 24


def test_night_is_framesb_when_configured_and_the_images_agree(tmp_path):
    root = _tree(tmp_path, a_bytes=BRIGHT, b_bytes=DARK)
    frame = mf.validate(prepare(root, {"night_folder": "FRAMESB"}))
    counts = frame.groupby(["role", "condition"]).size().to_dict()
    assert counts == {("train", "day"): 60, ("reference", "day"): 60, ("query", "night"): 50}
    q = frame[frame["role"] == "query"]
    assert q["image"].tolist() == [f"FRAMESB/{ald.image_name(b)}" for b in range(1, 51)]
    assert q["place"].tolist() == [_a_of(b) for b in range(1, 51)]


def test_config_contradicting_the_images_says_to_flip(tmp_path):
    root = _tree(tmp_path, a_bytes=BRIGHT, b_bytes=DARK)
    with pytest.raises(
        LayoutError,
        match=r"the images say FRAMESB is the night drive "
        r".*flip the option, set datasets.alderley.night_folder: FRAMESB",
    ):
        prepare(root, {})


def test_ambiguous_brightness(tmp_path):
    root = _tree(tmp_path, a_bytes=GREY, b_bytes=GREY)
    with pytest.raises(LayoutError, match="cannot tell the night drive from the day drive.*check_brightness: false"):
        prepare(root, {})
    assert len(prepare(root, {"check_brightness": False})) == 150


def test_undecodable_sample_is_named(alderley):
    bad = alderley / "FRAMESA" / ald.image_name(ald.sample_frames(COUNT_A)[0])
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(LayoutError, match=rf"{bad.name} cannot be decoded"):
        prepare(alderley, {})


def test_framematches_with_a_header(tmp_path):
    plain = _tree(tmp_path / "plain")
    headed = _tree(tmp_path / "headed", matches=_matches_text(header=True))
    a = prepare(plain, {})
    b = prepare(headed, {})
    assert a.equals(b)
    assert ald.read_matches(headed / "framematches.csv").shape == (50, 2)


def test_wrong_row_count(tmp_path):
    short = _matches_text(rows=[(_a_of(b), b) for b in range(1, 41)])
    root = _tree(tmp_path / "short", matches=short)
    with pytest.raises(
        LayoutError,
        match=r"has 40 rows but FRAMESB holds 50 frames; it must have one row per FRAMESB frame "
        r"\(framematches.csv may be cut short",
    ):
        prepare(root, {})
    by_a = _matches_text(rows=[(a, min(a, 50)) for a in range(1, 61)])
    root = _tree(tmp_path / "by_a", matches=by_a)
    with pytest.raises(LayoutError, match="has 60 rows .*that is the FRAMESA count"):
        prepare(root, {})


def test_bad_matches_content(tmp_path):
    rows = [(_a_of(b), b) for b in range(1, 51)]
    rows[7] = (99, 8)
    root = _tree(tmp_path / "range", matches=_matches_text(rows=rows))
    with pytest.raises(LayoutError, match=r"1 FRAMESA frame number\(s\) outside 1..60 \(row 8: 99\)"):
        prepare(root, {})
    rows = [(_a_of(b), b) for b in range(1, 51)]
    rows[3] = (5, 3)
    root = _tree(tmp_path / "dup", matches=_matches_text(rows=rows))
    with pytest.raises(LayoutError, match=r"every FRAMESB frame 1..50 once; frames not named: 4"):
        prepare(root, {})
    root = _tree(tmp_path / "text", matches=_matches_text() + "12,abc\n")
    with pytest.raises(LayoutError, match=r"line 51: .* is not two integers"):
        prepare(root, {})


def test_zero_means_no_match(tmp_path):
    rows = [(0 if b in (1, 2) else _a_of(b), b) for b in range(1, 51)]
    root = _tree(tmp_path, a_bytes=BRIGHT, b_bytes=DARK, matches=_matches_text(rows=rows))
    with pytest.warns(UserWarning, match=r"2 rows of framematches.csv name FRAMESA frame 0, taken as 'no match'"):
        frame = prepare(root, {"night_folder": "FRAMESB"})
    assert (frame["role"] == "query").sum() == 48


def test_missing_folder_and_files(alderley):
    (alderley / "FRAMESB" / ald.image_name(30)).unlink()
    (alderley / "FRAMESB" / ald.image_name(7)).unlink()
    with pytest.raises(
        LayoutError, match=r"FRAMESB lacks 2 of the frames 1..50 \(first: Image00007.jpg, Image00030.jpg\)"
    ):
        prepare(alderley, {})
    for i in range(1, 51):
        (alderley / "FRAMESB" / ald.image_name(i)).unlink(missing_ok=True)
    (alderley / "FRAMESB").rmdir()
    with pytest.raises(LayoutError, match=r"lacks FRAMESB/ of the Alderley dataset.*Get FRAMESA.zip"):
        prepare(alderley, {})
    (alderley / "FRAMESB.zip").touch()
    with pytest.raises(LayoutError, match=r"FRAMESB.zip is here but not extracted"):
        prepare(alderley, {})


def test_missing_framematches(alderley):
    (alderley / "framematches.csv").unlink()
    with pytest.raises(LayoutError, match=r"lacks framematches.csv of the Alderley dataset"):
        prepare(alderley, {})


def test_half_extracted_tail_is_caught_by_counts(alderley):
    for i in range(41, 61):
        (alderley / "FRAMESA" / ald.image_name(i)).unlink()
    with pytest.raises(LayoutError, match=r"FRAMESA holds 40 frames .*about 60: the archive looks incomplete"):
        prepare(alderley, {})
    # without the count check, the csv still catches frames it names that are gone
    with pytest.raises(LayoutError, match=r"FRAMESA frame number\(s\) outside 1..40"):
        prepare(alderley, {"check_counts": False})


def test_extra_files(alderley):
    for junk in ("Thumbs.db", ".DS_Store", "readme.txt", "._Image00001.jpg", "._Image1.jpg"):
        (alderley / "FRAMESA" / junk).touch()
    (alderley / "notes.txt").touch()
    assert len(prepare(alderley, {})) == 150  # unknown, hidden and sidecar files are ignored
    (alderley / "FRAMESA" / "Image1.jpg").touch()
    with pytest.raises(LayoutError, match=r"FRAMESA holds 1 unexpected image name\(s\) \(Image1.jpg\)"):
        prepare(alderley, {})


def test_wrong_root(alderley):
    with pytest.raises(LayoutError, match=rf"one level deeper: use {alderley} as the root"):
        prepare(alderley.parent, {})
    with pytest.raises(LayoutError, match=rf"points inside FRAMESA: use {alderley} instead"):
        prepare(alderley / "FRAMESA", {})


def test_options_are_strict(alderley):
    with pytest.raises(ConfigError, match="unknown config key `datasets.ald.night`"):
        prepare(alderley, {"night": "FRAMESA"}, "ald")
    with pytest.raises(ConfigError, match="night_folder must be one of FRAMESA, FRAMESB"):
        prepare(alderley, {"night_folder": "night"})
    with pytest.raises(ConfigError, match="query_set must be one of matched, interpolated"):
        prepare(alderley, {"query_set": "all"})


def test_sample_frames_spread_over_the_drive():
    assert ald.sample_frames(16960) == [1697, 5089, 8481, 11873, 15265]
    assert ald.sample_frames(3) == [1, 2, 3]


def test_sources_are_manual_steps():
    assert [s.filename for s in ald.SOURCES] == ["FRAMESA.zip", "FRAMESB.zip", "framematches.csv"]
    assert all(isinstance(s, ManualDownload) and s.page == ald.PAGE for s in ald.SOURCES)
    assert [s.extract for s in ald.SOURCES] == [True, True, False]
    assert [s.folder for s in ald.SOURCES] == ["FRAMESA", "FRAMESB", None]
