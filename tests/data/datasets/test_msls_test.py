"""`type: msls_test`: SALAD's MSLS-test image lists, no ground truth, and the challenge file."""

import collections
import os
from pathlib import Path

import numpy as np
import pytest

from acmnet.config import ConfigError
from acmnet.config_loader import config_from_dict
from acmnet.data.datasets import dataset_type
from acmnet.data.datasets.base import LayoutError
from acmnet.data.datasets.msls_test import FILES, MslsTestError, read_paths
from acmnet.data.manifest import ManifestError
from acmnet.data.positives import positives_of
from acmnet.evaluate.msls_submission import submission_text, unscored_lines, write_submission
from tests.conftest import write_manifest, write_retrieval

RELEASE = Path(__file__).parent / "msls_test_release"
TYPE = dataset_type("msls_test")


def _lists(root, database, queries):
    """The two lists as SALAD saves them (object arrays of str) and zero-byte images under `root`."""
    for name, paths in zip(FILES, (database, queries)):
        np.save(root / name, np.array(paths, dtype=object), allow_pickle=True)
    for path in [*database, *queries]:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(b"")
    return root


DB = [f"test/athens/database/images/db{i}.jpg" for i in range(6)]


def test_the_released_query_list_as_salad_ships_it():
    paths = read_paths(RELEASE / FILES[1])
    assert len(paths) == 1135
    cities = collections.Counter(p.split("/")[1] for p in paths)
    assert cities == {"stockholm": 379, "bengaluru": 325, "buenosaires": 182, "athens": 85, "kampala": 85, "miami": 79}
    assert all(p.startswith(f"test/{p.split('/')[1]}/query/images/") and p.endswith(".jpg") for p in paths)


@pytest.mark.skipif(not os.environ.get("ACMNET_MSLS_TEST_INDEX"), reason="the 2.4 MB database list is not vendored")
def test_the_released_database_list():
    paths = read_paths(Path(os.environ["ACMNET_MSLS_TEST_INDEX"]) / FILES[0])
    cities = collections.Counter(p.split("/")[1] for p in paths)
    assert len(paths) == 36565 and len(cities) == 6 and cities["stockholm"] == 11965 and cities["kampala"] == 2043


def test_rows_in_salads_order_with_the_real_queries(tmp_path):
    queries = read_paths(RELEASE / FILES[1])
    frame = TYPE.prepare_manifest(_lists(tmp_path, DB, queries), {})
    assert frame.groupby("role", sort=False).size().to_dict() == {"train": 6, "reference": 6, "query": 1135}
    assert frame.loc[frame["role"] == "query", "image"].tolist() == queries
    assert list(frame.columns) == ["image", "role", "place", "condition"]  # no ground truth
    with pytest.raises(ManifestError, match="no public ground truth .* `acmnet export-msls`"):
        positives_of(frame, "none", 0, None)


@pytest.mark.parametrize(
    ("database", "message"),
    [
        ([*DB, "test/miami/database/images/db3.png"], r"entry 6: key db3 .* is the key of entry 3 too"),
        ([*DB, "test/a b.jpg"], r"entry 6: 'test/a b.jpg' is not an image path without white space"),
    ],
)
def test_bad_lists_refused_naming_the_entry(tmp_path, database, message):
    np.save(tmp_path / FILES[0], np.array(database, dtype=object), allow_pickle=True)
    with pytest.raises(MslsTestError, match=message):
        read_paths(tmp_path / FILES[0])


def test_missing_files_and_images_refused(tmp_path):
    with pytest.raises(LayoutError, match="msls_test_dbImages.npy does not exist: copy"):
        TYPE.prepare_manifest(tmp_path, {})
    _lists(tmp_path, DB, ["test/athens/query/images/q0.jpg"])
    (tmp_path / DB[2]).unlink()
    with pytest.raises(LayoutError, match=r"db2.jpg does not exist \(1 of the 6 images"):
        TYPE.prepare_manifest(tmp_path, {})
    np.save(tmp_path / FILES[1], np.array([["a"]], dtype=object), allow_pickle=True)
    with pytest.raises(MslsTestError, match="not a 1-d array of paths"):
        read_paths(tmp_path / FILES[1])


def _salad_save_predictions(q_images, db_images, preds, path):
    """SALAD's MSLSTest.save_predictions (dataloaders/val/MapillaryTestDataset.py), transcribed."""
    with open(path, "w") as f:
        for i in range(len(preds)):
            q = Path(q_images[i]).stem
            db = " ".join([Path(db_images[j]).stem for j in preds[i]])
            f.write(f"{q} {db}\n")


def test_submission_is_salads_file_byte_for_byte_and_reads_as_msls_evaluate_reads_it(tmp_path):
    queries = read_paths(RELEASE / FILES[1])[:4]
    frame = TYPE.prepare_manifest(_lists(tmp_path, DB, queries), {})
    manifest = write_manifest(frame, tmp_path / "m.csv")
    rng = np.random.default_rng(0)
    indices = np.stack([rng.permutation(6) for _ in range(4)])
    retrieval = write_retrieval(tmp_path, manifest, indices)
    out = tmp_path / "msls_predictions.txt"
    assert write_submission(manifest.path, retrieval.path, out, 3) == 4
    _salad_save_predictions(queries, DB, indices[:, :3], tmp_path / "salad.txt")
    assert out.read_bytes() == (tmp_path / "salad.txt").read_bytes()
    # mapillary_sls's own writer (create_dummy_predictions), without its `#` header: the same bytes
    keys = np.array([[Path(q).stem] for q in queries])
    ranks = np.array([[Path(DB[j]).stem for j in row] for row in indices[:, :3]])
    np.savetxt(tmp_path / "msls.txt", np.concatenate([keys, ranks], axis=1), fmt="%s")
    assert out.read_bytes() == (tmp_path / "msls.txt").read_bytes()
    read = np.loadtxt(out, ndmin=2, dtype=str)  # mapillary_sls evaluate.py's reader
    assert read.shape == (4, 4) and read[0, 0] == Path(queries[0]).stem and read[0, 1] == f"db{indices[0, 0]}"
    assert submission_text(manifest, indices[:, :1]).count("\n") == 4
    with pytest.raises(ValueError, match="fewer than evaluate.export_msls = 7"):
        write_submission(manifest.path, retrieval.path, out, 7)


def test_config_and_report_say_no_recall_is_computed():
    with pytest.raises(ConfigError, match="export_msls = 30 asks for more keys per query than the top_k = 25"):
        config_from_dict({"evaluate": {"export_msls": 30}})
    cfg = config_from_dict({"datasets": {"mslst": {"type": "msls_test", "root": "."}}})
    (line,) = unscored_lines(cfg)
    assert line.startswith("mslst (`msls_test`): no recall computed: MSLS-test's ground truth is not public")
    assert "mslst/<method>/msls_predictions.txt" in line and "top 25 database keys" in line
    wider = config_from_dict({"evaluate": {"top_k": 40}, "datasets": {"mslst": {"type": "msls_test", "root": "."}}})
    assert wider.evaluate.msls_keys() == 40  # unset: top_k
