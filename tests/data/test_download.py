"""acmnet.data.download against a local HTTP server (127.0.0.1 only, no internet)."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from acmnet.data import download as dl

PAYLOAD = bytes(range(256)) * 4096 + b"tail"  # 1 MiB + 4 bytes, not a multiple of anything
SHA = hashlib.sha256(PAYLOAD).hexdigest()


class Handler(BaseHTTPRequestHandler):
    files: ClassVar[dict[str, bytes]] = {}
    drop_after: int | None = None  # send this many body bytes, then close the connection (once)
    ignore_range = False
    stall = threading.Event()  # set: wait before answering (timeout test)
    release = threading.Event()
    log: ClassVar[list[str | None]] = []

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_GET(self):
        cls = type(self)
        cls.log.append(self.headers.get("Range"))
        if cls.stall.is_set():
            cls.release.wait(5)
            return
        body = cls.files.get(self.path)
        if body is None:
            self.send_error(404, "Not Found")
            return
        start = 0
        rng = self.headers.get("Range")
        if rng and not cls.ignore_range:
            start = int(rng.removeprefix("bytes=").split("-")[0])
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        chunk = body[start:]
        self.send_header("Content-Length", str(len(chunk)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if cls.drop_after is not None:
            cut, cls.drop_after = cls.drop_after, None
            self.wfile.write(chunk[:cut])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(chunk)


@pytest.fixture
def server():
    Handler.files = {"/data.bin": PAYLOAD}
    Handler.drop_after = None
    Handler.ignore_range = False
    Handler.stall = threading.Event()
    Handler.release = threading.Event()
    Handler.log = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", Handler
    Handler.release.set()
    httpd.shutdown()
    httpd.server_close()


def test_plain_download_with_checks(server, tmp_path):
    base, _ = server
    out = dl.download(f"{base}/data.bin", tmp_path / "data.bin", sha256=SHA, size=len(PAYLOAD), progress=False)
    assert out.read_bytes() == PAYLOAD
    assert not (tmp_path / "data.bin.part").exists()
    # an existing, verified file is not fetched again
    dl.download(f"{base}/data.bin", out, sha256=SHA, progress=False)
    assert len(server[1].log) == 1


def test_interrupted_transfer_resumes_to_identical_bytes(server, tmp_path):
    base, handler = server
    handler.drop_after = 300_000
    dest = tmp_path / "data.bin"
    with pytest.raises(dl.DownloadError, match=r"127\.0\.0\.1.*run again to resume"):
        dl.download(f"{base}/data.bin", dest, sha256=SHA, progress=False, retries=0)
    part = tmp_path / "data.bin.part"
    assert not dest.exists()  # the final name appears only when complete
    assert part.stat().st_size == 300_000
    dl.download(f"{base}/data.bin", dest, sha256=SHA, progress=False, retries=0)
    assert handler.log == [None, "bytes=300000-"]
    assert dest.read_bytes() == PAYLOAD
    assert not part.exists()


def test_retries_resume_within_one_call(server, tmp_path):
    base, handler = server
    handler.drop_after = 123_457
    dest = dl.download(f"{base}/data.bin", tmp_path / "d.bin", size=len(PAYLOAD), progress=False, retries=2)
    assert dest.read_bytes() == PAYLOAD
    assert handler.log == [None, "bytes=123457-"]


def test_server_ignoring_range_restarts_cleanly(server, tmp_path):
    base, handler = server
    handler.ignore_range = True
    (tmp_path / "data.bin.part").write_bytes(b"X" * 5000)  # stale bytes that must not survive
    dest = dl.download(f"{base}/data.bin", tmp_path / "data.bin", sha256=SHA, progress=False)
    assert handler.log == ["bytes=5000-"]
    assert dest.read_bytes() == PAYLOAD


def test_complete_part_file_is_verified_without_refetching_the_body(server, tmp_path):
    base, handler = server
    (tmp_path / "data.bin.part").write_bytes(PAYLOAD)
    dest = dl.download(f"{base}/data.bin", tmp_path / "data.bin", sha256=SHA, progress=False)
    assert dest.read_bytes() == PAYLOAD
    assert handler.log == [f"bytes={len(PAYLOAD)}-"]  # answered 416 with the total


def test_checksum_and_size_mismatch_delete_the_part_file(server, tmp_path):
    base, _ = server
    wrong = "0" * 64
    with pytest.raises(dl.ChecksumError, match=rf"data\.bin: SHA-256 mismatch, expected {wrong}, got {SHA}"):
        dl.download(f"{base}/data.bin", tmp_path / "data.bin", sha256=wrong, progress=False)
    assert not (tmp_path / "data.bin").exists()
    assert not (tmp_path / "data.bin.part").exists()
    with pytest.raises(dl.ChecksumError, match=rf"size mismatch, expected 999 bytes, got {len(PAYLOAD)}"):
        dl.download(f"{base}/data.bin", tmp_path / "data.bin", size=999, progress=False)
    assert not list(tmp_path.iterdir())
    # an existing final file that does not match is reported, not deleted
    (tmp_path / "data.bin").write_bytes(b"old")
    with pytest.raises(
        dl.ChecksumError,
        match=r"data\.bin exists but does not match \(size mismatch, expected 999 bytes, got 3\): delete it",
    ):
        dl.download(f"{base}/data.bin", tmp_path / "data.bin", size=999, progress=False)
    assert (tmp_path / "data.bin").read_bytes() == b"old"


def test_http_error_names_the_url(server, tmp_path):
    base, _ = server
    with pytest.raises(dl.DownloadError, match=rf"{base}/missing\.zip: HTTP error 404"):
        dl.download(f"{base}/missing.zip", tmp_path / "missing.zip", progress=False)
    assert not list(tmp_path.iterdir())


def test_timeout_names_the_url(server, tmp_path):
    base, handler = server
    handler.stall.set()
    with pytest.raises(dl.DownloadError, match=rf"{base}/data\.bin: timed out after 0.3 s"):
        dl.download(f"{base}/data.bin", tmp_path / "data.bin", progress=False, timeout=0.3, retries=0)


def test_unreachable_host_names_the_url(tmp_path):
    with pytest.raises(dl.DownloadError, match=r"http://127\.0\.0\.1:9/x\.zip: cannot connect"):
        dl.download("http://127.0.0.1:9/x.zip", tmp_path / "x.zip", progress=False, timeout=2)


# ---- extraction ----------------------------------------------------------------------------


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _tar(path: Path, members: dict[str, bytes], mode: str = "w") -> Path:
    with tarfile.open(path, mode) as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


MEMBERS = {"day/a.jpg": os.urandom(3000), "day/b.jpg": os.urandom(3000), "night/a.jpg": os.urandom(3000)}


@pytest.mark.parametrize("kind", ["zip", "tar", "tar.gz"])
def test_extract_is_idempotent(tmp_path, kind):
    archive = tmp_path / f"set.{kind}"
    if kind == "zip":
        _zip(archive, MEMBERS)
    else:
        _tar(archive, MEMBERS, "w:gz" if kind == "tar.gz" else "w")
    dest = tmp_path / "root"
    assert dl.extract(archive, dest, progress=False) == dest
    for name, data in MEMBERS.items():
        assert (dest / name).read_bytes() == data
    marker = dl.marker_path(archive, dest)
    assert marker.is_file()
    (dest / "day" / "a.jpg").write_bytes(b"edited")  # a rerun must not touch the tree
    dl.extract(archive, dest, progress=False)
    assert (dest / "day" / "a.jpg").read_bytes() == b"edited"
    assert sorted(p.name for p in dest.iterdir()) == sorted(["day", "night", marker.name])


def test_extract_into_named_folder_with_or_without_top_folder(tmp_path):
    flat = _zip(tmp_path / "FRAMESA.zip", {"Image00001.jpg": b"1", "Image00002.jpg": b"2"})
    nested = _zip(tmp_path / "FRAMESB.zip", {"FRAMESB/Image00001.jpg": b"3"})
    root = tmp_path / "root"
    assert dl.extract(flat, root, folder="FRAMESA", progress=False) == root / "FRAMESA"
    assert dl.extract(nested, root, folder="FRAMESB", progress=False) == root / "FRAMESB"
    assert sorted(os.listdir(root / "FRAMESA")) == ["Image00001.jpg", "Image00002.jpg"]
    assert os.listdir(root / "FRAMESB") == ["Image00001.jpg"]
    assert not [p for p in root.iterdir() if p.name.endswith((".partial", ".wrap"))]


@pytest.mark.parametrize("kind", ["zip", "tar", "tar.gz"])
def test_truncated_archive_is_detected(tmp_path, kind):
    archive = tmp_path / f"cut.{kind}"
    if kind == "zip":
        _zip(archive, MEMBERS)
    else:
        _tar(archive, MEMBERS, "w:gz" if kind == "tar.gz" else "w")
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    dest = tmp_path / "root"
    with pytest.raises(
        dl.ExtractError, match=rf"{archive.name} is truncated or corrupt .*delete it and download it again"
    ):
        dl.extract(archive, dest, progress=False)
    assert not dl.marker_path(archive, dest).exists()
    assert not [p for p in dest.iterdir() if p.name.endswith(".partial")]


def test_tar_cut_at_a_block_boundary_is_detected(tmp_path):
    archive = _tar(tmp_path / "cut.tar", MEMBERS)
    data = archive.read_bytes()
    archive.write_bytes(data[:2048])  # whole 512-byte blocks, but no end-of-archive blocks
    with pytest.raises(dl.ExtractError, match="end-of-archive blocks are missing"):
        dl.extract(archive, tmp_path / "root", progress=False)


def test_unsafe_tar_member_is_refused(tmp_path):
    archive = _tar(tmp_path / "evil.tar", {"../outside.txt": b"x"})
    with pytest.raises(dl.ExtractError, match="unsafe path"):
        dl.extract(archive, tmp_path / "root", progress=False)
    assert not (tmp_path / "outside.txt").exists()


# ---- fetch_dataset -------------------------------------------------------------------------


def test_fetch_dataset_downloads_extracts_and_skips_on_rerun(server, tmp_path, monkeypatch):
    from acmnet.data.datasets import gardenspoint

    base, handler = server
    members = {f"{t}/Image{i:03d}.jpg": b"" for t in gardenspoint.TRAVERSALS for i in range(200)}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    handler.files["/GardensPoint_Walking.zip"] = buf.getvalue()
    entry = dl.Download(
        url=f"{base}/GardensPoint_Walking.zip",
        filename="GardensPoint_Walking.zip",
        size=len(buf.getvalue()),
        extract=True,
        present="night_right",
    )
    monkeypatch.setattr(gardenspoint, "DATASET", dataclasses.replace(gardenspoint.DATASET, sources=[entry]))
    root = tmp_path / "gp"
    assert dl.fetch_dataset("gardenspoint", root, progress=False) == root
    frame = gardenspoint.DATASET.prepare_manifest(root, {})
    assert len(frame) == 600
    dl.fetch_dataset("gardenspoint", root, progress=False)
    assert len(handler.log) == 1  # nothing fetched the second time


def test_fetch_dataset_extracts_next_to_the_archive(server, tmp_path, monkeypatch):
    from acmnet.data.datasets import gardenspoint

    base, handler = server
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("night/rear/1.jpg", b"x")
    handler.files["/images/night.zip"] = buf.getvalue()
    entry = dl.Download(url=f"{base}/images/night.zip", filename="images/night.zip", extract=True)
    monkeypatch.setattr(gardenspoint, "DATASET", dataclasses.replace(gardenspoint.DATASET, sources=[entry]))
    dl.fetch_dataset("gardenspoint", tmp_path, progress=False)
    assert (tmp_path / "images" / "night" / "rear" / "1.jpg").read_bytes() == b"x"
    dl.fetch_dataset("gardenspoint", tmp_path, progress=False)
    assert len(handler.log) == 1


def test_fetch_dataset_gives_manual_steps_then_extracts(tmp_path):
    root = tmp_path / "alderley"
    with pytest.raises(dl.ManualDownloadRequired, match="must be downloaded by hand") as first:
        dl.fetch_dataset("alderley", root, progress=False)
    out = str(first.value)
    assert "https://wiki.qut.edu.au/pages/viewpage.action?pageId=181178395" in out
    assert "FRAMESA.zip, FRAMESB.zip, framematches.csv" in out
    assert f"Put them into the folder {root.resolve()} so that" in out
    root.mkdir()
    _zip(root / "FRAMESA.zip", {"FRAMESA/Image00001.jpg": b"a"})
    _zip(root / "FRAMESB.zip", {"Image00001.jpg": b"b"})
    with pytest.raises(dl.ManualDownloadRequired) as info:
        dl.fetch_dataset("alderley", root, progress=False)
    steps = str(info.value)
    assert "2. Download framematches.csv\n" in steps
    assert "it extracts FRAMESA.zip, FRAMESB.zip there" in steps
    assert not (root / "FRAMESA").exists()  # nothing extracted before every file is there
    (root / "framematches.csv").write_text("1,1\n")
    dl.fetch_dataset("alderley", root, progress=False)
    assert (root / "FRAMESA" / "Image00001.jpg").read_bytes() == b"a"
    assert (root / "FRAMESB" / "Image00001.jpg").read_bytes() == b"b"


def test_fetch_dataset_unknown_or_without_sources():
    with pytest.raises(ValueError, match="unknown dataset type `nosuch`"):
        dl.fetch_dataset("nosuch", Path("/nonexistent"))
    with pytest.raises(ValueError, match="describes no download"):
        dl.fetch_dataset("folder_pair", Path("/nonexistent"))
