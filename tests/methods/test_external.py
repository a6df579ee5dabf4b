"""`kind: external`: descriptors another tool computed, read into the manifest's order."""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from acmnet.artifacts import Manifest, provenance, save_manifest
from acmnet.config import Config, ConfigError
from acmnet.methods import method_kind
from acmnet.methods.external import METHOD, ExternalDescriptorsError, ExternalOptions
from acmnet.pickled import UnsafePickleError

try:
    from acmnet.config import config_from_dict
except ImportError:  # pragma: no cover - the loader may move
    from acmnet.config_loader import config_from_dict

D = 6
DB = "images/test/database"
# Not sorted on purpose: a pickle's rows follow the order the tool listed the images (the lines of an
# `_images_paths.txt` need not be sorted), which the `utm` and `vprbench` manifests keep.
REFS = [f"{DB}/@5@0@@@.jpg", f"{DB}/@1@0@@@.jpg", f"{DB}/@4@0@@@.jpg", f"{DB}/@2@0@@@.jpg", f"{DB}/@3@0@@@.jpg"]
QUERIES = {
    "queries": ["images/test/queries/@3@1@@@.jpg", "images/test/queries/@1@1@@@.jpg"],
    "queries_night": ["images/test/queries_night/@9@1@@@.jpg", "images/test/queries_night/@2@1@@@.jpg"],
}


def make_manifest(tmp_path: Path, sets: tuple[str, ...] = ("queries",)) -> Manifest:
    rows = [(im, "reference", i, "day") for i, im in enumerate(REFS)]
    rows += [(im, "query", i, s) for s in sets for i, im in enumerate(QUERIES[s])]
    frame = pd.DataFrame(rows, columns=["image", "role", "place", "condition"])
    return save_manifest(frame, tmp_path / "manifest.csv", provenance("prepare", {}))


def truth(images: list[str], seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {im: rng.normal(size=D).astype(np.float32) for im in images}


ALL = REFS + QUERIES["queries"] + QUERIES["queries_night"]
TRUE = truth(ALL)


def normalised(images: list[str], table: dict[str, np.ndarray] = TRUE) -> np.ndarray:
    rows = np.stack([table[im] for im in images]).astype(np.float64)
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def write_pickle(path: Path, queries: list[str], table: dict[str, np.ndarray] = TRUE) -> str:
    rows = np.stack([table[im] for im in REFS + queries])  # the tool's order = the manifest's
    with open(path, "wb") as fh:
        pickle.dump(rows.astype(np.float32), fh)
    return str(path)


def write_kapture(folder: Path, images: list[str], table: dict[str, np.ndarray] = TRUE) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "global_features.txt").write_text(
        f"# kapture format: 1.1\n# name, dtype, dsize, metric_type\nsalad, float32, {D}, L2"
    )
    for im in images:
        out = (folder / im.removeprefix("images/test/")).with_suffix(".jpg.gfeat")  # database/@..@.jpg.gfeat
        out.parent.mkdir(parents=True, exist_ok=True)
        table[im].tofile(out)
    return folder


def read(manifest: Manifest, descriptors: dict, normalize: bool = True) -> tuple[np.ndarray, np.ndarray]:
    options = ExternalOptions(descriptors={"d": descriptors}, normalize=normalize)
    options.check("methods.e")
    return METHOD.read(None, "e", options, "d", manifest)


def assert_rows(out: tuple[np.ndarray, np.ndarray], queries: list[str]) -> None:
    reference, query = out
    assert reference.dtype == np.float32 and query.dtype == np.float32
    np.testing.assert_array_equal(reference, normalised(REFS))
    np.testing.assert_array_equal(query, normalised(queries))


# ---- the forms ---------------------------------------------------------------------------------


def test_pickle_rows_follow_the_manifest_order_not_a_resorting(tmp_path):
    manifest = make_manifest(tmp_path)
    assert sorted(REFS) != REFS and sorted(QUERIES["queries"]) != QUERIES["queries"]
    out = read(manifest, write_pickle(tmp_path / "global_features.pickle", QUERIES["queries"]))
    assert_rows(out, QUERIES["queries"])
    assert np.allclose(np.linalg.norm(out[0], axis=1), 1.0)
    # queries of two sets in one manifest: each pickle's query block is its own set, in manifest order
    both = make_manifest(tmp_path, ("queries", "queries_night"))
    sets = {s: write_pickle(tmp_path / f"{s}.pickle", QUERIES[s]) for s in QUERIES}
    assert_rows(read(both, sets), QUERIES["queries"] + QUERIES["queries_night"])


def test_without_normalize_rows_are_as_given_and_the_label_says_so(tmp_path):
    manifest = make_manifest(tmp_path)
    reference, query = read(manifest, write_pickle(tmp_path / "g.pkl", QUERIES["queries"]), normalize=False)
    np.testing.assert_array_equal(reference, np.stack([TRUE[im] for im in REFS]))
    np.testing.assert_array_equal(query, np.stack([TRUE[im] for im in QUERIES["queries"]]))
    label = METHOD.label(None, "e", ExternalOptions(descriptors={"d": "g.pkl"}, normalize=False, label="SALAD"))
    assert label.startswith("SALAD") and "not normalised" in label and "inner-product" in label
    default = METHOD.label(None, "e", ExternalOptions(descriptors={"d": "out/global_features.pickle"}))
    assert default == "external descriptors (out/global_features.pickle)"


@pytest.mark.parametrize("as_txt", [False, True])
def test_kapture_folder_or_its_txt(tmp_path, as_txt):
    manifest = make_manifest(tmp_path)
    folder = write_kapture(tmp_path / "kapture", REFS + QUERIES["queries"])
    path = folder / "global_features.txt" if as_txt else folder
    assert_rows(read(manifest, str(path)), QUERIES["queries"])


def test_kapture_float16_is_read_at_its_dtype(tmp_path):
    manifest = make_manifest(tmp_path)
    half = {im: v.astype(np.float16) for im, v in TRUE.items()}
    folder = write_kapture(tmp_path / "k", REFS + QUERIES["queries"], half)
    (folder / "global_features.txt").write_text(f"# c\nm, float16, {D}, L2\n")
    reference, _ = read(manifest, str(folder))
    np.testing.assert_array_equal(reference, normalised(REFS, half))


def test_npz_with_names(tmp_path):
    manifest = make_manifest(tmp_path)
    images = (QUERIES["queries"] + REFS)[::-1]  # any order
    names = np.array([im.removeprefix("images/") for im in images])  # test/database/...: an ending of the path
    np.savez(tmp_path / "d.npz", names=names, descriptors=np.stack([TRUE[im] for im in images]))
    assert_rows(read(manifest, str(tmp_path / "d.npz")), QUERIES["queries"])


def test_npz_with_absolute_names(tmp_path):
    manifest = make_manifest(tmp_path)
    images = REFS + QUERIES["queries"]
    names = np.array([f"/data/pitts30k/{im}" for im in images])
    np.savez(tmp_path / "d.npz", names=names, descriptors=np.stack([TRUE[im] for im in images]))
    assert_rows(read(manifest, str(tmp_path / "d.npz")), QUERIES["queries"])


def test_npy_with_names_txt(tmp_path):
    manifest = make_manifest(tmp_path)
    images = [QUERIES["queries"][1], *REFS[::-1], QUERIES["queries"][0]]
    np.save(tmp_path / "d.npy", np.stack([TRUE[im] for im in images]).astype(np.float64))
    (tmp_path / "d.txt").write_text("\n".join(images) + "\n")
    assert_rows(read(manifest, str(tmp_path / "d.npy")), QUERIES["queries"])


def test_npy_without_names_is_refused(tmp_path):
    manifest = make_manifest(tmp_path)
    np.save(tmp_path / "d.npy", np.ones((7, D), np.float32))
    with pytest.raises(ExternalDescriptorsError, match=r"d\.txt beside it"):
        read(manifest, str(tmp_path / "d.npy"))


def test_two_query_sets_from_two_pickles(tmp_path):
    manifest = make_manifest(tmp_path, ("queries", "queries_night"))
    files = {s: write_pickle(tmp_path / f"{s}.pickle", QUERIES[s]) for s in ("queries_night", "queries")}
    assert_rows(read(manifest, files), QUERIES["queries"] + QUERIES["queries_night"])
    assert METHOD.files(ExternalOptions(descriptors={"d": files}), "d") == list(files.values())


def test_two_query_sets_with_different_databases_are_refused(tmp_path):
    manifest = make_manifest(tmp_path, ("queries", "queries_night"))
    other = {**TRUE, REFS[2]: TRUE[REFS[2]] + 0.5}
    files = {
        "queries": write_pickle(tmp_path / "day.pickle", QUERIES["queries"]),
        "queries_night": write_pickle(tmp_path / "night.pickle", QUERIES["queries_night"], other),
    }
    with pytest.raises(ExternalDescriptorsError, match=r"day\.pickle and .*night\.pickle hold different database"):
        read(manifest, files)


def test_database_rows_may_differ_by_float_noise(tmp_path):
    manifest = make_manifest(tmp_path, ("queries", "queries_night"))
    noisy = {im: v * np.float32(1 + 1e-6) for im, v in TRUE.items()}
    files = {
        "queries": write_pickle(tmp_path / "day.pickle", QUERIES["queries"]),
        "queries_night": write_pickle(tmp_path / "night.pickle", QUERIES["queries_night"], noisy),
    }
    reference, _ = read(manifest, files)
    np.testing.assert_array_equal(reference, normalised(REFS))  # the first file's database rows


def test_query_set_mapping_must_name_the_manifest_sets(tmp_path):
    manifest = make_manifest(tmp_path, ("queries", "queries_night"))
    path = write_pickle(tmp_path / "q.pickle", QUERIES["queries"])
    with pytest.raises(ExternalDescriptorsError, match="no file for query set `queries_night`"):
        read(manifest, {"queries": path})
    with pytest.raises(ExternalDescriptorsError, match="no query set `queries_nigth`.*did you mean `queries_night`"):
        read(manifest, {"queries": path, "queries_nigth": path})


# ---- what is refused ----------------------------------------------------------------------------


class RunsCode:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickle_that_would_run_code_is_refused(tmp_path):
    manifest = make_manifest(tmp_path)
    marker = tmp_path / "marker"
    with open(tmp_path / "evil.pickle", "wb") as fh:
        pickle.dump(RunsCode(marker), fh)
    with pytest.raises(UnsafePickleError, match="evil.pickle was refused"):
        read(manifest, str(tmp_path / "evil.pickle"))
    assert not marker.exists()


@pytest.mark.parametrize(
    "obj,match",
    [
        ({"descriptors": np.ones((7, D), np.float32)}, "is a dict"),
        (np.array([1, 2.0, 3], dtype=object), "is a object array"),
        (np.ones(7 * D, np.float32), r"shape \(42,\)"),
        ([[1.0] * D] * 7, "is a list"),
    ],
)
def test_pickle_of_anything_but_a_2d_numeric_array_is_refused(tmp_path, obj, match):
    manifest = make_manifest(tmp_path)
    with open(tmp_path / "g.pickle", "wb") as fh:
        pickle.dump(obj, fh)
    with pytest.raises((ExternalDescriptorsError, UnsafePickleError), match=match):
        read(manifest, str(tmp_path / "g.pickle"))


def test_pickle_with_the_wrong_count_names_both_counts(tmp_path):
    manifest = make_manifest(tmp_path)
    path = write_pickle(tmp_path / "g.pickle", QUERIES["queries"] + QUERIES["queries_night"])
    with pytest.raises(ExternalDescriptorsError, match=r"holds 9 rows.*5 reference and 2 query images \(7 rows\)"):
        read(manifest, path)


def test_missing_image_is_named(tmp_path):
    manifest = make_manifest(tmp_path)
    folder = write_kapture(tmp_path / "k", REFS + QUERIES["queries"])
    for im in (REFS[3], QUERIES["queries"][0]):
        (folder / im.removeprefix("images/test/")).with_suffix(".jpg.gfeat").unlink()
    with pytest.raises(ExternalDescriptorsError, match=rf"k has no row for image {REFS[3]} \(5 rows for 7"):
        read(manifest, str(folder))


def test_name_matching_no_image_is_refused(tmp_path):
    manifest = make_manifest(tmp_path)
    images = REFS + QUERIES["queries"]
    rows = np.stack([TRUE[im] for im in images])
    names = [*images[:-1], "images/test/queries/@7@7@@@.jpg"]
    np.savez(tmp_path / "a.npz", names=np.array(names), descriptors=rows)
    with pytest.raises(ExternalDescriptorsError, match=r"`images/test/queries/@7@7@@@\.jpg` matches no"):
        read(manifest, str(tmp_path / "a.npz"))


def test_name_matching_two_images_is_refused(tmp_path):
    frame = pd.DataFrame(
        [("db/a/x.jpg", "reference", 0, "day"), ("db/b/x.jpg", "reference", 1, "day"), ("q/y.jpg", "query", 0, "n")],
        columns=["image", "role", "place", "condition"],
    )
    manifest = save_manifest(frame, tmp_path / "m.csv", provenance("prepare", {}))
    np.savez(tmp_path / "a.npz", names=np.array(["x.jpg", "b/x.jpg", "y.jpg"]), descriptors=np.eye(3, D))
    with pytest.raises(ExternalDescriptorsError, match=r"`x\.jpg` matches 2 \(db/a/x\.jpg, db/b/x\.jpg\)"):
        read(manifest, str(tmp_path / "a.npz"))
    np.savez(tmp_path / "b.npz", names=np.array(["a/x.jpg", "b/x.jpg", "y.jpg", "q/y.jpg"]), descriptors=np.eye(4, D))
    with pytest.raises(ExternalDescriptorsError, match=r"image q/y\.jpg gets two rows \(`y\.jpg` and `q/y\.jpg`\)"):
        read(manifest, str(tmp_path / "b.npz"))


def test_wrong_gfeat_size_names_the_file(tmp_path):
    manifest = make_manifest(tmp_path)
    folder = write_kapture(tmp_path / "k", REFS + QUERIES["queries"])
    bad = (folder / REFS[1].removeprefix("images/test/")).with_suffix(".jpg.gfeat")
    np.ones(D + 1, np.float32).tofile(bad)
    with pytest.raises(
        ExternalDescriptorsError, match=rf"{bad.name} holds 28 bytes, not 6 float32 values \(24 bytes\)"
    ):
        read(manifest, str(folder))


def test_bad_kapture_header_is_refused(tmp_path):
    manifest = make_manifest(tmp_path)
    folder = write_kapture(tmp_path / "k", REFS + QUERIES["queries"])
    (folder / "global_features.txt").write_text("# only comments\nsalad, float32, L2\n")
    with pytest.raises(ExternalDescriptorsError, match="<name>, <dtype>, <dim>, <metric>"):
        read(manifest, str(folder))


def test_non_finite_rows_are_refused_naming_the_first(tmp_path):
    manifest = make_manifest(tmp_path)
    table = {**TRUE, REFS[4]: np.full(D, np.nan, np.float32), REFS[0]: np.full(D, np.inf, np.float32)}
    path = write_pickle(tmp_path / "g.pickle", QUERIES["queries"], table)
    with pytest.raises(ExternalDescriptorsError, match=rf"row 0 \({REFS[0]}\) holds non-finite"):  # first in file
        read(manifest, path)


def test_zero_rows_are_refused_when_normalising_only(tmp_path):
    manifest = make_manifest(tmp_path)
    table = {**TRUE, QUERIES["queries"][1]: np.zeros(D, np.float32)}
    path = write_pickle(tmp_path / "g.pickle", QUERIES["queries"], table)
    with pytest.raises(ExternalDescriptorsError, match=rf"row 6 \({QUERIES['queries'][1]}\) is all zeros"):
        read(manifest, path)
    _, query = read(manifest, path, normalize=False)
    np.testing.assert_array_equal(query[1], np.zeros(D))


def test_missing_file_is_named(tmp_path):
    manifest = make_manifest(tmp_path)
    with pytest.raises(ExternalDescriptorsError, match=r"nope\.pickle does not exist"):
        read(manifest, str(tmp_path / "nope.pickle"))


# ---- config -------------------------------------------------------------------------------------


def config(descriptors: dict, **extra) -> Config:
    datasets = {"gp": {"type": "gardenspoint", "root": "x"}, "route": {"type": "synthetic", "root": "y"}}
    return config_from_dict(
        {"datasets": datasets, "methods": {"salad": {"kind": "external", "descriptors": descriptors, **extra}}}
    )


def test_config_checks_entries_without_opening_files():
    cfg = config({"gp": "no/such/global_features.pickle", "route": {"queries": "no/such/folder"}})
    spec = cfg.method("salad")
    assert spec.kind == "external" and spec.options.normalize is True and spec.options.label is None
    assert METHOD.files(spec.options, "route") == ["no/such/folder/global_features.txt"]
    assert method_kind("external") is METHOD and not METHOD.trains and not METHOD.uses_gpu
    with pytest.raises(
        ConfigError, match="methods.salad.descriptors has no entry for dataset `route`.*descriptors.route:"
    ):
        config({"gp": "a.pickle"})
    with pytest.raises(ConfigError, match="descriptors.rout: `rout` is not a configured dataset.*did you mean `route`"):
        config({"gp": "a.pickle", "route": "b.npz", "rout": "c.npz"})


def test_config_refuses_unknown_forms_and_bad_entries():
    with pytest.raises(ConfigError, match=r"descriptors\.gp: `a\.h5` is not a known form.*global_features\.pickle"):
        config({"gp": "a.h5", "route": "b.npz"})
    with pytest.raises(ConfigError, match=r"descriptors\.gp must be a path or a mapping"):
        config({"gp": 3, "route": "b.npz"})
    with pytest.raises(ConfigError, match="normalize must be true or false"):
        config({"gp": "a.npz", "route": "b.npz"}, normalize="yes")


def test_build_is_refused():
    cfg = config({"gp": "a.npz", "route": "b.npz"})
    with pytest.raises(ConfigError, match="methods.salad reads descriptors another tool computed; it has no describer"):
        METHOD.build(cfg, "salad", cfg.method("salad").options, None)


# ---- issue 26: files read by content, query sets, overflow, kapture dtype, BOM, positional forms ------


def replace_keeping_time(path: Path, write) -> None:
    """Rewrite `path` with `write(path)` and set its old access and modification times back (`cp -p`)."""
    before = path.stat()
    write(path)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_mtime_ns == before.st_mtime_ns


def test_every_file_a_form_reads_is_an_input_and_in_its_digest(tmp_path):
    folder = write_kapture(tmp_path / "k", REFS + QUERIES["queries"])
    options = ExternalOptions(descriptors={"d": str(folder)})
    gfeats = sorted(str(p) for p in folder.rglob("*.gfeat"))
    assert METHOD.files(options, "d") == [str(folder / "global_features.txt"), *gfeats]
    npy = ExternalOptions(descriptors={"d": {"queries": str(tmp_path / "d.npy"), "night": str(tmp_path / "n.pkl")}})
    assert METHOD.files(npy, "d") == [str(tmp_path / "d.npy"), str(tmp_path / "d.txt"), str(tmp_path / "n.pkl")]
    # a .gfeat rewritten under its old time (the txt untouched) changes the digest the record holds
    before = METHOD.digests(options, "d")
    assert list(before) == [str(folder)]
    replace_keeping_time(Path(gfeats[2]), lambda p: (TRUE[REFS[0]] * 2).tofile(p))
    assert METHOD.digests(options, "d")[str(folder)] != before[str(folder)]


def _describe_external(tmp_path: Path, path: str):
    from acmnet.evaluate.describe import describe

    make_manifest(tmp_path)
    cfg = config_from_dict(
        {
            "methods": {"ext": {"kind": "external", "descriptors": {"d": path}}},
            "datasets": {"d": {"type": "gardenspoint", "root": "x"}},
        }
    )
    return describe(cfg, "ext", tmp_path / "manifest.csv", None, tmp_path / "out", progress=False, dataset="d")


@pytest.mark.parametrize("form", ["pickle", "kapture", "npy names"])
def test_a_file_replaced_under_its_old_time_is_refused_by_every_reader(tmp_path, form):
    from acmnet.artifacts import ProvenanceError, load_descriptors

    if form == "pickle":
        path, changed = write_pickle(tmp_path / "g.pickle", QUERIES["queries"]), tmp_path / "g.pickle"
        other = {**TRUE, REFS[0]: TRUE[REFS[1]], REFS[1]: TRUE[REFS[0]]}  # other rows, the same size
        rewrite = lambda p: write_pickle(p, QUERIES["queries"], other)
    elif form == "kapture":
        path = str(write_kapture(tmp_path / "k", REFS + QUERIES["queries"]))
        changed = (tmp_path / "k" / REFS[3].removeprefix("images/test/")).with_suffix(".jpg.gfeat")
        rewrite = lambda p: (-TRUE[REFS[3]]).tofile(p)
    else:
        images = REFS + QUERIES["queries"]
        np.save(tmp_path / "d.npy", np.stack([TRUE[im] for im in images]))
        (tmp_path / "d.txt").write_text("\n".join(images) + "\n")
        path, changed = str(tmp_path / "d.npy"), tmp_path / "d.txt"
        swapped = [images[1], images[0], *images[2:]]  # two names swapped: other rows for two images
        rewrite = lambda p: p.write_text("\n".join(swapped) + "\n")
    part = _describe_external(tmp_path, path)
    assert part.provenance.sources["external0"].path == path
    load_descriptors(tmp_path / "out")  # unchanged: read
    replace_keeping_time(changed, rewrite)
    with pytest.raises(ProvenanceError, match=rf"made from {re.escape(path)} with content digest .* replaced"):
        load_descriptors(tmp_path / "out")


def test_one_file_for_two_query_sets_is_refused_naming_both(tmp_path):
    manifest = make_manifest(tmp_path, ("queries", "queries_night"))
    day = write_pickle(tmp_path / "day.pickle", QUERIES["queries"])  # 2 queries each: the counts agree
    with pytest.raises(
        ExternalDescriptorsError, match=r"\.queries_night: .*day\.pickle is the same file as .*\.queries "
    ):
        read(manifest, {"queries": day, "queries_night": day})
    copy = tmp_path / "night.pickle"
    copy.write_bytes(Path(day).read_bytes())
    with pytest.raises(
        ExternalDescriptorsError, match=r"\.queries_night: .*night\.pickle holds the same bytes as .*\.queries \(.*day"
    ):
        read(manifest, {"queries": day, "queries_night": str(copy)})


@pytest.mark.parametrize("factor", [1e200, 1e-200, 1e300, 1e-300])
def test_rows_of_any_finite_magnitude_are_normalised_exactly(tmp_path, factor):
    manifest = make_manifest(tmp_path)
    table = {im: v.astype(np.float64) for im, v in TRUE.items()}
    table[QUERIES["queries"][0]] = table[QUERIES["queries"][0]] * factor  # float64 overflow/underflow of x^2
    path = tmp_path / "g.pickle"
    with open(path, "wb") as fh:
        pickle.dump(np.stack([table[im] for im in REFS + QUERIES["queries"]]), fh)
    assert_rows(read(manifest, str(path)), QUERIES["queries"])  # bit for bit the unscaled row's direction


@pytest.mark.parametrize(
    ("factor", "match"),
    [
        (1e39, r"row 5 \(.*\) holds a value beyond float32's range \(\|value\| up to [\d.]+e\+39, float32 ends"),
        (1e-200, r"row 5 \(.*\) is all zeros in float32 .* its largest is [\d.]+e-200"),
        (1e20, r"row 5 \(.*\) has a norm whose square exceeds float32's range"),
    ],
)
def test_without_normalize_rows_float32_cannot_hold_are_refused(tmp_path, factor, match):
    manifest = make_manifest(tmp_path)
    rows = np.stack([TRUE[im] for im in REFS + QUERIES["queries"]]).astype(np.float64)
    rows[5] *= factor
    path = tmp_path / "g.pickle"
    with open(path, "wb") as fh:
        pickle.dump(rows, fh)
    with pytest.raises(ExternalDescriptorsError, match=match + r".*`normalize: false`"):
        read(manifest, str(path), normalize=False)
    assert np.isfinite(read(manifest, str(path))[1]).all()  # normalised, the same file is fine


def test_kapture_header_dtype_that_the_bytes_contradict_is_refused(tmp_path):
    manifest = make_manifest(tmp_path)
    folder = write_kapture(tmp_path / "k", REFS + QUERIES["queries"])  # float32, D values each
    (folder / "global_features.txt").write_text(f"salad, float64, {D // 2}, L2\n")  # the same byte count
    with pytest.raises(
        ExternalDescriptorsError,
        match=rf"says float64, {D // 2}, .* same bytes read as {D} float32 values all lie within it: the header's "
        rf"dtype is probably wrong; fix its line to `<name>, float32, {D}, <metric>`",
    ):
        read(manifest, str(folder))
    wide = {im: v.astype(np.float64) for im, v in TRUE.items()}  # float64 files under a float32 header
    folder = write_kapture(tmp_path / "w", REFS + QUERIES["queries"], wide)
    (folder / "global_features.txt").write_text(f"salad, float32, {2 * D}, L2\n")
    with pytest.raises(ExternalDescriptorsError, match=r"the header's dtype (may not be the one|is probably wrong)"):
        read(manifest, str(folder))
    # a true float32 file with a few tiny values (outside 1e-8 .. 1e8) is read as it is: its bytes read as
    # float16 are not all ordinary (224 random low halves), nor as float64
    rng = np.random.default_rng(1)
    tiny = {im: rng.normal(size=64).astype(np.float32) for im in ALL}
    tiny[REFS[0]][:4] = [1e-12, 0, -1e-9, 1e9]
    folder = write_kapture(tmp_path / "t", REFS + QUERIES["queries"], tiny)
    (folder / "global_features.txt").write_text("salad, float32, 64, L2\n")
    np.testing.assert_array_equal(read(manifest, str(folder))[0], normalised(REFS, tiny))


def test_names_txt_with_a_byte_order_mark(tmp_path):
    manifest = make_manifest(tmp_path)
    images = REFS + QUERIES["queries"]
    np.save(tmp_path / "d.npy", np.stack([TRUE[im] for im in images]))
    (tmp_path / "d.txt").write_text("\n".join(images) + "\n", encoding="utf-8-sig")
    assert (tmp_path / "d.txt").read_bytes().startswith(b"\xef\xbb\xbf")
    assert_rows(read(manifest, str(tmp_path / "d.npy")), QUERIES["queries"])


def test_positional_forms_say_they_cannot_tell_database_from_query_rows():
    from acmnet.methods import external
    from tests.conftest import REPO

    docs = (REPO / "docs" / "external-descriptors.md").read_text()
    assert "docs/external-descriptors.md" in " ".join(external.__doc__.split())  # the docstring links the one source
    for text in (external.__doc__, docs):
        flat = " ".join(text.split())
        assert "cannot tell database rows from query rows" in flat
        assert "database rows first, then the query rows" in flat


def test_a_cut_npz_is_one_error_naming_it(tmp_path):
    """Issue 33 item 7: np.load's BadZipFile was a traceback."""
    manifest = make_manifest(tmp_path)
    images = REFS + QUERIES["queries"]
    np.savez(tmp_path / "d.npz", names=np.array(images), descriptors=np.stack([TRUE[im] for im in images]))
    (tmp_path / "d.npz").write_bytes((tmp_path / "d.npz").read_bytes()[:-40])
    with pytest.raises(ValueError, match=r"d.npz cannot be read as an .npz \(BadZipFile"):
        read(manifest, str(tmp_path / "d.npz"))
