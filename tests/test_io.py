import os
import stat
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from acmnet.io import atomic_path, atomic_write_text, is_sidecar, list_files, list_folders, load_rgb


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.csv"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_replaces_and_uses_normal_permissions(tmp_path):
    target = tmp_path / "a" / "b.txt"
    atomic_write_text(target, "one")
    atomic_write_text(target, "two")
    assert target.read_text() == "two"
    mode = stat.S_IMODE(os.stat(target).st_mode)
    assert mode & stat.S_IRGRP, "outputs must not stay 0600 like mkstemp's temporary files"


def test_load_rgb_resizes_grey_to_rgb(tmp_path):
    path = tmp_path / "g.png"
    Image.fromarray(np.full((32, 64), 200, dtype=np.uint8)).save(path)
    img = load_rgb(path, (16, 16))
    assert img.shape == (16, 16, 3) and img.dtype == np.uint8
    assert int(img.mean()) == 200


def test_load_rgb_names_missing_and_corrupt_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.png"):
        load_rgb(tmp_path / "nope.png")
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image at all")
    with pytest.raises(ValueError, match="bad.jpg.*cannot be decoded"):
        load_rgb(bad)


# ---- high bit depth --------------------------------------------------------------------------


def _png16(path, array, colour_type):
    """A 16-bit PNG written byte by byte (PIL cannot write 16-bit RGB): grey 0, RGB 2, grey+alpha 4."""
    height = array.shape[0]
    raw = b"".join(b"\0" + array[y].astype(">u2").tobytes() for y in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", array.shape[1], height, 16, colour_type, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    )


RAMP = (np.arange(32 * 64).reshape(32, 64) * 31).astype(np.uint16)  # 0 .. 63457


def test_16bit_grey_png_is_scaled_not_clipped(tmp_path):
    path = tmp_path / "g16.png"
    Image.fromarray(RAMP).save(path)
    with Image.open(path) as img:
        assert img.mode == "I;16"  # what PIL makes of a 16-bit grey PNG
    out = load_rgb(path)
    expected = np.rint(RAMP / 257.0).astype(np.uint8)
    assert out.shape == (32, 64, 3) and (out[..., 0] == expected).all() and (out[..., 2] == expected).all()
    assert out.max() == 247 and out.min() == 0  # 63457 -> 247, not 255 everywhere
    full = tmp_path / "white16.png"
    Image.fromarray(np.full((4, 4), 65535, dtype=np.uint16)).save(full)
    assert (load_rgb(full) == 255).all()
    _png16(tmp_path / "hand.png", RAMP, 0)
    assert (load_rgb(tmp_path / "hand.png")[..., 1] == expected).all()


def test_16bit_big_endian_int32_and_float_images(tmp_path):
    expected = np.rint(RAMP / 257.0).astype(np.uint8)
    big = Image.frombytes("I;16B", (64, 32), RAMP.astype(">u2").tobytes())
    big.save(tmp_path / "b.tif")
    with Image.open(tmp_path / "b.tif") as img:
        assert img.mode == "I;16B"
    assert (load_rgb(tmp_path / "b.tif")[..., 0] == expected).all()
    Image.fromarray(RAMP.astype(np.int32)).save(tmp_path / "i.tif")  # mode I, 32 bits declared
    with Image.open(tmp_path / "i.tif") as img:
        assert img.mode == "I"
    i32 = load_rgb(tmp_path / "i.tif")
    assert i32.max() == 0  # 63457 of 2**31 - 1 is black: scaled by the type's range
    Image.fromarray(RAMP.astype(np.float32) / 65535).save(tmp_path / "f.tif")
    assert np.abs(load_rgb(tmp_path / "f.tif")[..., 0].astype(int) - expected).max() <= 1
    Image.fromarray(RAMP.astype(np.float32)).save(tmp_path / "big.tif")
    with pytest.raises(ValueError, match="big.tif holds floating-point values up to 63457"):
        load_rgb(tmp_path / "big.tif")


def test_16bit_rgb_and_grey_alpha_pngs(tmp_path):
    rgb = np.stack([RAMP, RAMP // 2, 65535 - RAMP], -1)
    _png16(tmp_path / "rgb48.png", rgb, 2)
    out = load_rgb(tmp_path / "rgb48.png", (16, 32))
    assert out.shape == (16, 32, 3)
    full = load_rgb(tmp_path / "rgb48.png")
    assert np.abs(full.astype(int) - np.rint(rgb / 257.0)).max() <= 1  # PIL keeps the high byte
    grey_alpha = np.stack([RAMP, np.full_like(RAMP, 65535)], -1)
    _png16(tmp_path / "la.png", grey_alpha, 4)
    assert np.abs(load_rgb(tmp_path / "la.png")[..., 0].astype(int) - np.rint(RAMP / 257.0)).max() <= 1


# ---- listing ---------------------------------------------------------------------------------


def test_listing_leaves_out_sidecar_and_hidden_files(tmp_path):
    for name in ("b.png", "a.png", "._a.png", ".DS_Store", "Thumbs.db", "desktop.ini", ".hidden.jpg"):
        (tmp_path / name).touch()
    (tmp_path / "sub").mkdir()
    (tmp_path / ".git").mkdir()
    assert list_files(tmp_path) == ["a.png", "b.png"]
    assert list_folders(tmp_path) == ["sub"]
    assert list_folders(tmp_path / "nope") == []
    assert all(is_sidecar(n) for n in ("._x.jpg", ".DS_Store", "thumbs.db", ".x"))
    with pytest.raises(NotADirectoryError, match="nope is not a folder"):
        list_files(tmp_path / "nope")


def test_load_rgb_names_an_image_pillow_refuses_as_a_decompression_bomb(tmp_path, monkeypatch):
    path = tmp_path / "huge.png"
    Image.new("L", (64, 64)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 4096 pixels > 2 x the limit: Pillow raises
    with pytest.raises(ValueError, match=r"huge.png is refused by Pillow as a possible decompression bomb"):
        load_rgb(path)


# ---- what a viewer shows, and paths that are not images (issue 18) ---------------------------


def _upright_with_a_red_corner() -> Image.Image:
    """A 24 (H) x 48 (W) grey image whose top-left 8x8 block is red: shape and corner tell the turn."""
    array = np.full((24, 48, 3), 128, dtype=np.uint8)
    array[:8, :8] = (255, 0, 0)
    return Image.fromarray(array)


@pytest.mark.parametrize("orientation, stored", [(6, Image.Transpose.ROTATE_90), (8, Image.Transpose.ROTATE_270)])
def test_load_rgb_turns_the_image_upright_as_its_exif_orientation_says(tmp_path, orientation, stored):
    path = tmp_path / "turned.jpg"
    exif = Image.Exif()
    exif[0x0112] = orientation  # the camera stored the pixels turned; a viewer turns them back
    _upright_with_a_red_corner().transpose(stored).save(path, exif=exif, quality=95)
    img = load_rgb(path).astype(int)
    assert img.shape == (24, 48, 3)
    assert img[:6, :6, 0].mean() > 200 and img[:6, :6, 1:].mean() < 60  # red top-left corner, as shown
    assert abs(img[-6:, -6:].mean() - 128) < 10


def test_paths_that_are_not_image_files_are_named_with_what_to_do(tmp_path):
    (tmp_path / "gone.jpg").symlink_to(tmp_path / "nowhere.jpg")
    (tmp_path / "folder.jpg").mkdir()
    os.mkfifo(tmp_path / "pipe.jpg")  # like a device: not a regular file, and reading it would block
    (tmp_path / "device.jpg").symlink_to("/dev/null")
    expected = {
        "gone.jpg": r"gone\.jpg is a broken symbolic link \(to .*nowhere\.jpg.*restore the file",
        "folder.jpg": r"folder\.jpg is a folder, not an image file",
        "pipe.jpg": r"pipe\.jpg is not a regular file \(a device, pipe or socket\): replace it",
        "device.jpg": r"device\.jpg is not a regular file",
    }
    for name, message in expected.items():
        with pytest.raises(ValueError, match=message):
            load_rgb(tmp_path / name)


@pytest.mark.parametrize("make", ["broken_link", "folder", "pipe"])
def test_listing_refuses_an_image_name_that_is_not_a_regular_file(tmp_path, make):
    (tmp_path / "0.jpg").write_bytes(b"")
    target = tmp_path / "1.jpg"
    {
        "broken_link": lambda: target.symlink_to(tmp_path / "nowhere"),
        "folder": target.mkdir,
        "pipe": lambda: os.mkfifo(target),
    }[make]()
    with pytest.raises(ValueError, match=r"1\.jpg is (a broken symbolic link|a folder|not a regular file)"):
        list_files(tmp_path)  # never a silently shorter list of images


def test_text_under_an_image_name_is_named_as_text(tmp_path):
    path = tmp_path / "frame.jpg"
    path.write_text("<html><body>404 Not Found</body></html>\n")
    with pytest.raises(ValueError, match=r"frame\.jpg cannot be decoded: it holds text, not an image.*'<html>"):
        load_rgb(path)


def test_a_very_large_image_is_told_once_in_words_not_as_a_pillow_warning(tmp_path, monkeypatch, capsys):
    import warnings

    path = tmp_path / "big.png"
    Image.new("L", (40, 40)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 1600 pixels: over the limit, under twice it
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Pillow's DecompressionBombWarning would be raised here
        load_rgb(path)
        load_rgb(path)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "big.png is 40x40 pixels" in err and "DecompressionBomb" not in err


def test_read_npz_names_a_cut_file_in_one_line(tmp_path):
    """Issue 33 item 7: a truncated .npz raised zipfile.BadZipFile (a traceback) from every reader."""
    from acmnet.io import UnreadableFileError, read_npz

    np.savez(tmp_path / "a.npz", x=np.arange(1000), names=np.array(["a", "b"]))
    assert read_npz(tmp_path / "a.npz", "fix").keys() == {"x", "names"}
    whole = (tmp_path / "a.npz").read_bytes()
    for cut in (whole[: len(whole) // 2], whole[:-30], b""):
        (tmp_path / "a.npz").write_bytes(cut)
        with pytest.raises(
            UnreadableFileError, match=r"a.npz cannot be read as an .npz \(.*cut short.*; make it again"
        ):
            read_npz(tmp_path / "a.npz", "make it again")
    np.savez(tmp_path / "o.npz", names=np.array(["a", None], dtype=object))
    with pytest.raises(UnreadableFileError, match=r"o.npz cannot be read as an .npz \(ValueError: Object arrays"):
        read_npz(tmp_path / "o.npz", "fix")
