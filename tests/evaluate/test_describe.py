import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from acmnet.artifacts import load_descriptors
from acmnet.config_loader import config_from_dict
from acmnet.evaluate.describe import describe
from tests.conftest import cuda, write_cache, write_manifest


def _describe(tmp_path, method, device="cpu"):
    rng = np.random.default_rng(0)
    names = []
    for i in range(5):
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(tmp_path / f"{i}.png")
        names.append(f"{i}.png")
    names = names[:3] + ["0.png", "4.png"]  # the first query is the first reference image
    frame = pd.DataFrame(
        {"image": names, "role": ["reference"] * 3 + ["query"] * 2, "place": [0, 1, 2, 0, 2], "condition": "c"}
    )
    write_cache(write_manifest(frame, tmp_path / "m.csv"), tmp_path, tmp_path / "c.npy", (32, 32))
    cfg = config_from_dict(
        {
            "image_size": [32, 32],
            "device": device,
            "model": {"backbone": "test_efficientnet", "pretrained": False},
            "methods": {
                "avg": {"kind": "pretrained"},
                "gem": {"kind": "pretrained", "pool": "gem"},
                "pix": {"kind": "pixels", "pixel_size": [32, 64], "pixel_patch": 8},
            },
            "datasets": {"d": {"type": "folder_pair", "root": ".", "reference": "a", "query": ["b"]}},
        }
    )
    torch.manual_seed(0)  # the same random backbone on every call
    describe(cfg, method, tmp_path / "m.csv", tmp_path / "c.npy", tmp_path / device, progress=False)
    assert sorted(p.name for p in (tmp_path / device).iterdir()) == [
        "part-0000-of-0001.json",
        "part-0000-of-0001.query.npy",
        "part-0000-of-0001.reference.npy",
    ]
    return load_descriptors(tmp_path / device)


@pytest.mark.parametrize("method, dim", [("avg", 256), ("gem", 256), ("pix", 2048)])
def test_untrained_methods_write_unit_descriptors_per_role(tmp_path, method, dim):
    data = _describe(tmp_path, method)
    assert data.reference.shape == (3, dim) and data.query.shape == (2, dim)
    assert data.reference_rows.tolist() == [0, 1, 2] and data.query_rows.tolist() == [3, 4]
    np.testing.assert_allclose(np.linalg.norm(data.query, axis=1), 1.0, rtol=1e-5)
    # query 3 is image 0: its descriptor equals reference 0's
    np.testing.assert_allclose(data.query[0], data.reference[0], rtol=1e-4, atol=1e-5)


@pytest.mark.gpu
@cuda
@pytest.mark.parametrize("method", ["avg", "gem", "pix"])
def test_descriptors_on_cuda_match_the_cpu(tmp_path, method):
    on_cpu, on_gpu = _describe(tmp_path, method, "cpu"), _describe(tmp_path, method, "cuda")
    for role in ("reference", "query"):  # cuDNN may use TF32: unit vectors agree to a few 1e-3
        np.testing.assert_allclose(getattr(on_gpu, role), getattr(on_cpu, role), atol=5e-3)


def _trained_config(**extra):
    from dataclasses import asdict

    from tests.conftest import TINY

    return config_from_dict(
        {
            "image_size": [32, 32],
            "model": asdict(TINY),
            "methods": {"acm": {}, "enc": {"kind": "acmnet", "descriptor": "encoder"}},
            "datasets": {"d": {"type": "folder_pair", "root": ".", "reference": "a", "query": ["b"]}},
            **extra,
        }
    )


def _checkpoints(tmp_path, cfg):
    """A checkpoint of each trained method of `cfg` (the same random weights), as `acmnet train` writes them."""
    from acmnet.methods.acmnet import build_model
    from tests.conftest import TINY, write_checkpoint

    torch.manual_seed(0)
    model = build_model(TINY)
    return {m: write_checkpoint(tmp_path / f"{m}.pt", model, cfg, m) for m in cfg.methods if m != "avg"}


def test_a_trained_method_records_its_checkpoint_and_its_descriptor_choice(tmp_path):
    _describe(tmp_path, "avg")  # writes the images, manifest and cache
    cfg = _trained_config()
    checkpoints = _checkpoints(tmp_path, cfg)
    for method, dim in (("acm", 16), ("enc", 256)):
        out = describe(
            cfg,
            method,
            tmp_path / "m.csv",
            tmp_path / "c.npy",
            tmp_path / method,
            checkpoints[method],
            progress=False,
        )
        assert out.reference.shape == (3, dim)
        assert out.provenance.find("checkpoint")[1].path == str(checkpoints[method])
        assert out.provenance.settings["method_name"] == method
        assert out.provenance.settings["method"]["options"]["descriptor"] == (
            "projector" if method == "acm" else "encoder"
        )
    with pytest.raises(ValueError, match="give its checkpoint"):
        describe(cfg, "acm", tmp_path / "m.csv", tmp_path / "c.npy", tmp_path / "x.npz", progress=False)
    with pytest.raises(ValueError, match="not an acmnet checkpoint"):
        describe(
            cfg, "acm", tmp_path / "m.csv", tmp_path / "c.npy", tmp_path / "x.npz", tmp_path / "m.csv", progress=False
        )


def test_another_methods_or_a_stale_checkpoint_is_refused_naming_both(tmp_path):
    """Issue 18: two methods' checkpoints swapped, or one trained with settings the config no
    longer gives the method, are refused, never described as the asked method."""
    from acmnet.artifacts import ProvenanceError

    _describe(tmp_path, "avg")
    cfg = _trained_config(
        methods={
            **{m: {} for m in ("acm",)},
            "enc": {"kind": "acmnet", "descriptor": "encoder"},
            "fast": {"kind": "acmnet", "train": {"lr": 0.01}},
        }
    )
    checkpoints = _checkpoints(tmp_path, cfg)
    args = (tmp_path / "m.csv", tmp_path / "c.npy", tmp_path / "x")
    with pytest.raises(ProvenanceError, match=r"fast\.pt was trained for method fast, not acm, with other settings"):
        describe(cfg, "acm", *args, checkpoints["fast"], progress=False)
    assert not (tmp_path / "x").exists()
    # rows with equal training settings (they differ in the descriptor only) share one training run
    assert describe(cfg, "acm", *args, checkpoints["enc"], progress=False).query.shape[1] == 16
    stale = _trained_config(train={"lr": 0.5})
    with pytest.raises(
        ProvenanceError,
        match=r"acm\.pt was trained for method acm with other settings than the config gives acm \(training settings "
        r"digest \w+, not \w+; differing: method\.options\.train\)",
    ):
        describe(stale, "acm", *args, checkpoints["acm"], progress=False)


# ---- parts, and images from their files ------------------------------------------------------


def _config(device="cpu", root=".", **evaluate):
    return config_from_dict(
        {
            "image_size": [32, 32],
            "device": device,
            "model": {"backbone": "test_efficientnet", "pretrained": False},
            "evaluate": {"batch_size": 2, **evaluate},
            "methods": {
                "avg": {"kind": "pretrained"},
                "gem": {"kind": "pretrained", "pool": "gem"},
                "pix": {"kind": "pixels", "pixel_size": [32, 64], "pixel_patch": 8},
            },
            "datasets": {"d": {"type": "folder_pair", "root": str(root), "reference": "a", "query": ["b"]}},
        }
    )


def _dataset(tmp_path, n_ref=7, n_query=5):
    """`n_ref` reference and `n_query` query images of several kinds (RGB and grey PNG, JPEG, 16-bit
    PNG, other sizes than the image size), their manifest and their cache; the images' root."""
    from acmnet.artifacts import load_manifest

    root = tmp_path / "data"
    root.mkdir()
    rng = np.random.default_rng(1)
    names = []
    for i in range(n_ref + n_query):
        name = f"{i}.jpg" if i % 4 == 1 else f"{i}.png"
        if i % 4 == 2:
            image = Image.fromarray(rng.integers(0, 255, (30 + i, 44), dtype=np.uint8), "L")
        elif i % 4 == 3:
            image = Image.fromarray(rng.integers(0, 65535, (36, 28 + i), dtype=np.uint16))
        else:
            image = Image.fromarray(rng.integers(0, 255, (40 + i, 48, 3), dtype=np.uint8))
        image.save(root / name)
        names.append(name)
    frame = pd.DataFrame(
        {
            "image": names,
            "role": ["reference"] * n_ref + ["query"] * n_query,
            "place": list(range(n_ref)) + list(range(n_query)),
            "condition": "c",
        }
    )
    write_cache(write_manifest(frame, tmp_path / "m.csv"), root, tmp_path / "c.npy", (32, 32))
    return root, load_manifest(tmp_path / "m.csv")


def _same_bits(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and np.asarray(a).tobytes() == np.asarray(b).tobytes()


def test_shards_tile_the_set_each_its_own_part_and_read_memory_mapped(tmp_path, capsys):
    from acmnet.artifacts import part_files

    root, manifest = _dataset(tmp_path)
    cfg = _config(root=root)
    torch.manual_seed(0)
    one = describe(cfg, "avg", tmp_path / "m.csv", tmp_path / "c.npy", tmp_path / "one", progress=False)
    for shard in range(3):
        torch.manual_seed(0)
        part = describe(
            cfg,
            "avg",
            tmp_path / "m.csv",
            tmp_path / "c.npy",
            tmp_path / "three",
            shard=shard,
            shards=3,
            progress=False,
        )
        assert part.path == part_files(tmp_path / "three", shard, 3)["record"] and (part.shard, part.shards) == (
            shard,
            3,
        )
    out = capsys.readouterr().out
    assert "describe avg, part 2 of 3: reference 2..4 of 7, query 1..3 of 5, from the image cache" in out
    three = load_descriptors(tmp_path / "three", manifest)
    assert [len(p.reference_rows) for p in three.parts] == [2, 2, 3]  # contiguous slices, sizes within one
    assert [len(p.query_rows) for p in three.parts] == [1, 2, 2]
    assert [p.starts for p in three.parts] == [{"reference": a, "query": b} for a, b in ((0, 0), (2, 1), (4, 3))]
    assert all(isinstance(a, np.memmap) for a in three.reference_parts)  # read as they are, never gathered
    whole = load_descriptors(tmp_path / "one", manifest)
    assert len(whole.parts) == 1 and one.path == whole.parts[0].path
    np.testing.assert_array_equal(three.reference_rows, whole.reference_rows)
    np.testing.assert_array_equal(three.query_rows, whole.query_rows)
    for role in ("reference", "query"):  # other batches, the same images: equal up to float rounding
        np.testing.assert_allclose(getattr(three, role), getattr(whole, role), rtol=0, atol=1e-6)
    # the records given one by one, in any order, are the same set
    records = [p.path for p in reversed(three.parts)]
    assert load_descriptors(records).digest == three.digest


def test_a_missing_changed_or_foreign_part_is_named_and_redone_alone(tmp_path):
    from acmnet.artifacts import ArtifactError, ProvenanceError, part_files

    root, manifest = _dataset(tmp_path)
    cfg, folder = _config(root=root), tmp_path / "parts"
    args = (tmp_path / "m.csv", tmp_path / "c.npy", folder)
    for shard in range(3):
        describe(cfg, "pix", *args, shard=shard, shards=3, progress=False)
    files = [part_files(folder, s, 3) for s in range(3)]
    kept = {s: files[s]["reference"].stat().st_mtime_ns for s in (0, 2)}
    files[1]["record"].unlink()  # an interrupted job leaves no record
    with pytest.raises(
        ArtifactError, match=r"1 of the 3 descriptor parts are missing .*part-0001-of-0003\.json.*--shard 1"
    ):
        load_descriptors(folder, manifest)
    describe(cfg, "pix", *args, shard=1, shards=3, progress=False)  # that job alone
    assert {s: files[s]["reference"].stat().st_mtime_ns for s in (0, 2)} == kept
    assert load_descriptors(folder, manifest).n_references == 7
    array = np.load(files[2]["query"], mmap_mode="r+")
    array[0, 0] += 1.0  # in place: same size
    array.flush()
    del array
    with pytest.raises(
        ArtifactError, match=r"part-0002-of-0003\.json: part-0002-of-0003\.query\.npy is .*not the array"
    ):
        load_descriptors(folder, manifest)
    describe(cfg, "pix", *args, shard=2, shards=3, progress=False)
    describe(cfg, "avg", *args, shard=0, shards=3, progress=False)  # another method's part among them
    with pytest.raises(ProvenanceError, match="made by different describe runs"):
        load_descriptors(folder, manifest)
    describe(cfg, "pix", *args, shard=0, shards=3, progress=False)
    describe(cfg, "pix", *args, shard=0, shards=2, progress=False)  # a part of a run in 2 shards
    with pytest.raises(ArtifactError, match="parts of runs of 2 and 3 shards given together"):
        load_descriptors(folder, manifest)
    assert load_descriptors([f["record"] for f in files], manifest).n_references == 7
    with pytest.raises(ValueError, match="shard 3 of 3 does not exist"):
        describe(cfg, "pix", *args, shard=3, shards=3, progress=False)
    np.savez(tmp_path / "descriptors.npz", reference=np.zeros((1, 2), np.float32))  # the file before parts
    with pytest.raises(ArtifactError, match=r"descriptors\.npz is a single-file descriptors\.npz of an earlier"):
        load_descriptors(tmp_path / "descriptors.npz")


def test_more_shards_than_queries_leave_some_parts_without_queries(tmp_path):
    root, manifest = _dataset(tmp_path)
    for shard in range(6):
        describe(
            _config(root=root), "pix", tmp_path / "m.csv", None, tmp_path / "p", dataset="d", shard=shard, shards=6
        )
    out = load_descriptors(tmp_path / "p", manifest)
    assert [len(p.query_rows) for p in out.parts] == [0, 1, 1, 1, 1, 1]
    assert out.parts[0].query.shape == (0, 2048) and out.query.shape == (5, 2048) and len(out.reference_parts) == 6


def test_describing_from_the_files_gives_the_cached_pixels_and_descriptors_bit_for_bit(tmp_path, capsys):
    """Issue 19: a dataset that is not cached (or above evaluate.cache_images_max images) is described
    from its files through the multi-worker loader, with the cache's own decoding: the same pixels
    (their recorded digests) and the same descriptors, bit for bit."""
    root, _ = _dataset(tmp_path)
    m, c = tmp_path / "m.csv", tmp_path / "c.npy"
    parts = {}
    for name, cfg, cache, workers in (
        ("cache", _config(root=root), c, 0),
        ("files", _config(root=root), None, 2),
        ("over", _config(root=root, cache_images_max=11), c, 0),  # 12 images: the cache is not read
    ):
        torch.manual_seed(0)
        parts[name] = describe(cfg, "avg", m, cache, tmp_path / name, dataset="d", workers=workers, progress=False)
    out = capsys.readouterr().out
    assert "12 images, more than evaluate.cache_images_max = 11: describing from the image files" in out
    assert "from the image files under" in out and "(2 workers)" in out
    for name in ("files", "over"):
        assert parts[name].pixels == parts["cache"].pixels and parts[name].pixels["reference"]
        for role in ("reference", "query"):
            assert _same_bits(getattr(parts[name], role), getattr(parts["cache"], role)), (name, role)
    with pytest.raises(ValueError, match="give the image cache .* or the dataset"):
        describe(_config(root=root), "avg", m, None, tmp_path / "x", progress=False)


def test_another_tools_descriptors_are_written_in_parts_too(tmp_path):
    root, manifest = _dataset(tmp_path)
    rows = np.random.default_rng(0).normal(size=(12, 6)).astype(np.float32)
    np.savez(tmp_path / "ext.npz", names=np.array(list(manifest.frame["image"]), dtype=str), descriptors=rows)
    cfg = config_from_dict(
        {
            "methods": {"ext": {"kind": "external", "descriptors": {"d": str(tmp_path / "ext.npz")}}},
            "datasets": {"d": {"type": "folder_pair", "root": str(root), "reference": "a", "query": ["b"]}},
        }
    )
    for shard in range(2):
        describe(cfg, "ext", tmp_path / "m.csv", None, tmp_path / "ext", dataset="d", shard=shard, shards=2)
    out = load_descriptors(tmp_path / "ext", manifest)
    expected = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    np.testing.assert_allclose(out.reference, expected[:7], rtol=1e-6)
    np.testing.assert_allclose(out.query, expected[7:], rtol=1e-6)
    assert [p.pixels for p in out.parts] == [None, None] and out.provenance.find("external0") is not None


# ---- issue 33 item 7: a full disk while a part is written -------------------------------------------


def _write_part(folder):
    from acmnet.artifacts import provenance, save_descriptor_part

    rows = np.ones((50, 64), np.float32)
    return save_descriptor_part(folder, 0, 1, rows, rows, np.arange(50), np.arange(50, 100), provenance("describe", {}))


@pytest.mark.parametrize("how", ["free_space", "fallocate"])
def test_a_full_disk_is_no_space_left_naming_the_folder_and_leaves_no_temporaries(tmp_path, monkeypatch, how):
    """The parts are written through a memory map: on a full disk a write to a sparse page was a
    `Bus error` that killed the job and left its temporaries. The blocks are now allocated first."""
    import errno
    import os
    import shutil

    from acmnet import io

    if how == "free_space":
        monkeypatch.setattr(io.shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**9, 10**9 - 100, 100))
    else:
        if not hasattr(os, "posix_fallocate"):
            pytest.skip("no posix_fallocate here")

        def full(fd, offset, length):
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(io.os, "posix_fallocate", full)
    folder = tmp_path / "descriptors"
    with pytest.raises(io.NoSpaceError, match=rf"no space left on {folder}: the reference descriptors \(50 x 64"):
        _write_part(folder)
    assert list(folder.iterdir()) == []  # no temporary part file is left filling the disk
    monkeypatch.undo()
    assert _write_part(folder).reference.shape == (50, 64)  # with room, the same part is written
