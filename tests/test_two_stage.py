"""MSLS-val (MixVPR's four files) and a NetVLAD dbStruct end to end through Snakemake with
VPR-methods-evaluation log folders as a row (R@N equal to brute force), the hloc pairs export, and
re-ranked lists read back as rows (`kind: reranked`) against their first stage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from acmnet.artifacts import ProvenanceError, load_manifest, load_retrieval, provenance, save_manifest, save_retrieval
from acmnet.evaluate.pairs import PairsError, import_ranking, read_ranking
from tests.data.datasets.test_dbstruct import DB, Q, dbstruct_tree
from tests.data.datasets.test_msls_val import msls_tree
from tests.test_workflow import _snakemake

D = 16
N = 10  # pairs exported per query = top_k


def _real_images(root: Path) -> None:
    """Every .jpg under `root` made a small decodable image (the retrieval figure draws them)."""
    for k, path in enumerate(sorted(root.rglob("*.jpg"))):
        pixels = np.random.default_rng(k).integers(0, 256, size=(16, 20, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(path)


def _log_folder(folder: Path, database: np.ndarray, queries: np.ndarray) -> Path:
    """VPR-methods-evaluation's --save_descriptors output: logs/<log_dir>/<timestamp>/."""
    folder.mkdir(parents=True)
    np.save(folder / "database_descriptors.npy", database.astype(np.float32))
    np.save(folder / "queries_descriptors.npy", queries.astype(np.float32))
    return folder


def brute_recall(database: np.ndarray, queries: np.ndarray, positives: list[set[int]], n: int) -> float:
    ref = database / np.linalg.norm(database, axis=1, keepdims=True)
    qry = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    top = np.argsort(-(qry @ ref.T), axis=1, kind="stable")[:, :n]
    return 100.0 * np.mean([bool(set(row) & pos) for row, pos in zip(top, positives)])


def _config(tmp: Path, logs: dict[str, Path], reranked: dict[str, dict[str, str]] | None = None) -> Path:
    cfg = {
        "experiment": "two_stage",
        "results_dir": str(tmp / "results"),
        "figures_dir": str(tmp / "figures"),
        "image_size": [16, 16],
        "datasets": {
            "msls": {"type": "msls_val", "root": str(tmp / "msls")},
            "pitts": {"type": "dbstruct", "root": str(tmp / "pitts")},
        },
        "methods": {"vme": {"kind": "external", "descriptors": {k: str(v) for k, v in logs.items()}}},
        "evaluate": {"top_k": N, "recall_at": [1, 5, N], "bootstrap_resamples": 200, "export_pairs": N},
    }
    for name, pairs in (reranked or {}).items():
        cfg["methods"][name] = {"kind": "reranked", "first_stage": "vme", "pairs": pairs, "label": f"{name} list"}
    path = tmp / "two_stage.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _moved(pairs: list[str], manifest: pd.DataFrame, positives: list[set[int]]) -> list[str]:
    """Each query's first positive (if any in its list) moved to rank 1, the rest in order."""
    references = manifest.loc[manifest["role"] == "reference", "image"].tolist()
    queries = manifest.loc[manifest["role"] == "query", "image"].tolist()
    by_query: dict[str, list[str]] = {}
    for line in pairs:
        q, r = line.split()
        by_query.setdefault(q, []).append(r)
    out = []
    for q, name in enumerate(queries):
        ranked = by_query[name]
        hit = next((r for r in ranked if references.index(r) in positives[q]), None)
        ranked = [hit] + [r for r in ranked if r != hit] if hit else ranked
        out += [f"{name} {r}" for r in ranked]
    return out


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("two_stage")
    rng = np.random.default_rng(3)
    database, _, scored, p_idx = msls_tree(tmp / "msls")
    dbstruct_tree(tmp / "pitts", DB, Q)
    _real_images(tmp)
    msls_db = rng.normal(size=(len(database), D))
    msls_q = msls_db[np.minimum(scored, len(database) - 1)] + rng.normal(scale=1.3, size=(len(scored), D))
    db_xy, q_xy = np.array(DB), np.array(Q)
    pitts_db = np.c_[db_xy / 30.0, rng.normal(size=(len(DB), D - 2))]
    pitts_q = np.c_[q_xy / 30.0, rng.normal(scale=0.8, size=(len(Q), D - 2))]
    logs = {
        "msls": _log_folder(tmp / "logs" / "msls" / "2024-05-01_12-00-00", msls_db, msls_q),
        "pitts": _log_folder(tmp / "logs" / "pitts" / "2024-05-01_12-30-00", pitts_db, pitts_q),
    }
    truth = {
        "msls": (msls_db, msls_q, [set(p.tolist()) for p in p_idx]),
        "pitts": (pitts_db, pitts_q, [set(np.flatnonzero(np.linalg.norm(db_xy - q, axis=1) <= 25.0)) for q in q_xy]),
    }
    _snakemake(["--cores", "2", "--configfile", str(_config(tmp, logs))], cwd=tmp)
    exp = tmp / "results" / "two_stage"
    first = pd.read_csv(exp / "metrics.csv")
    reranked = {"vme_same": {}, "vme_moved": {}}
    for dataset in ("msls", "pitts"):
        pairs = (exp / dataset / "vme" / "pairs.txt").read_text().split("\n")
        manifest = pd.read_csv(exp / dataset / "manifest.csv")
        (tmp / f"{dataset}_same.txt").write_text("\n".join(pairs))
        (tmp / f"{dataset}_moved.txt").write_text("\n".join(_moved(pairs, manifest, truth[dataset][2])))
        reranked["vme_same"][dataset] = str(tmp / f"{dataset}_same.txt")
        reranked["vme_moved"][dataset] = str(tmp / f"{dataset}_moved.txt")
    _snakemake(["--cores", "2", "--configfile", str(_config(tmp, logs, reranked))], cwd=tmp)
    return tmp, truth, first


def _rows(tmp: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(tmp / "results" / "two_stage" / name).set_index(["dataset", "method"])


@pytest.mark.e2e
def test_msls_val_and_dbstruct_equal_brute_force(run):
    tmp, truth, first = run
    first = first.set_index("dataset")
    for dataset, (database, queries, positives) in truth.items():
        for n in (1, 5, N):
            assert first.loc[dataset, f"R@{n}"] == pytest.approx(
                brute_recall(database, queries, positives, n), abs=0.01
            )
    assert first.loc["msls", "n_queries"] == 7 and first.loc["pitts", "n_queries"] == 4
    assert 0 < first.loc["msls", "R@1"] < first.loc["msls", f"R@{N}"]
    summary = (tmp / "results" / "two_stage" / "summary.md").read_text()
    assert "7 of 9 queries scored (msls_val_qIdx.npy, as MixVPR scores MSLS-val)" in summary
    assert "within posDistThr = 25 m of pitts30k_test.mat (NetVLAD's dbStruct, fields read by name)" in summary
    assert "pitts/queries 1 of 4" in summary  # the query 500 m away has no positive and stays counted


@pytest.mark.e2e
def test_pairs_file_is_hlocs_form(run):
    tmp, _, _ = run
    exp = tmp / "results" / "two_stage"
    text = (exp / "msls" / "vme" / "pairs.txt").read_text()
    assert not text.endswith("\n")  # hloc: '\n'.join(' '.join([i, j]) for i, j in pairs)
    lines = [line.split(" ") for line in text.split("\n")]
    manifest = load_manifest(exp / "msls" / "manifest.csv").frame
    queries = manifest.loc[manifest["role"] == "query", "image"].tolist()
    references = manifest.loc[manifest["role"] == "reference", "image"].tolist()
    assert [q for q, _ in lines] == [q for q in queries for _ in range(N)]
    retrieval = np.load(exp / "msls" / "vme" / "retrieval.npz")
    assert [r for _, r in lines] == [references[i] for row in retrieval["indices"][:, :N] for i in row]
    assert not (exp / "msls" / "vme_same" / "pairs.txt").exists()  # a re-ranked list is the user's own file


@pytest.mark.e2e
def test_identity_reranking_gives_identical_numbers_and_p_1(run):
    tmp, _, _ = run
    metrics, summary = _rows(tmp, "metrics.csv"), _rows(tmp, "summary.csv")
    for dataset in ("msls", "pitts"):
        for n in (1, 5, N):
            for column in (f"R@{n}", f"R@{n}_lo", f"R@{n}_hi"):  # NaN == NaN where too few queries give none
                np.testing.assert_equal(
                    metrics.loc[(dataset, "vme_same"), column], metrics.loc[(dataset, "vme"), column]
                )
            p_first = summary.loc[(dataset, "vme_same"), f"R@{n}_p_first"]
            # msls: 7 queries, a test; pitts: 4 queries, fewer than an interval or a test needs
            assert p_first == 1.0 if dataset == "msls" else np.isnan(p_first)
        assert np.isnan(summary.loc[(dataset, "vme"), "R@1_p_first"])
    assert (
        "No interval and no test for pitts/queries: 4 queries"
        in (tmp / "results" / "two_stage" / "summary.md").read_text()
    )


@pytest.mark.e2e
def test_first_positive_moved_to_rank_1_gives_the_first_stage_recall_at_k(run):
    tmp, _, _ = run
    metrics = _rows(tmp, "metrics.csv")
    for dataset in ("msls", "pitts"):
        assert metrics.loc[(dataset, "vme_moved"), "R@1"] == metrics.loc[(dataset, "vme"), f"R@{N}"]
    assert metrics.loc[("msls", "vme_moved"), "R@1"] > metrics.loc[("msls", "vme"), "R@1"]
    text = (tmp / "results" / "two_stage" / "summary.md").read_text()
    assert "against their first stage (paired bootstrap, same resamples): msls/queries vme_moved: R@1 p = " in text
    assert "msls/queries vme_same: R@1 p = 1.000, R@5 p = 1.000, R@10 p = 1.000" in text
    table = (tmp / "results" / "two_stage" / "tables" / "recall.tex").read_text().replace(r"\_", "_")
    assert "row vme_moved: vme_moved list; re-ranks the top 10 of vme, same positives" in table


# ---- refusals of a re-ranked list, naming the first offender -------------------------------------


def _manifest(tmp_path: Path):
    rows = [(f"db/{i}.jpg", "reference", i, "database") for i in range(4)]
    rows += [(f"q/{i}.jpg", "query", i, "queries") for i in range(2)]
    frame = pd.DataFrame(rows, columns=["image", "role", "place", "condition"])
    return save_manifest(frame, tmp_path / "manifest.csv", provenance("prepare", {}))


@pytest.mark.parametrize(
    ("lines", "pattern"),
    [
        (["q/0.jpg db/1.jpg", "q/9.jpg db/0.jpg"], r"line 2: q/9.jpg is not a query image of"),
        (["q/0.jpg db/1.jpg", "q/1.jpg db/7.jpg"], r"line 2: db/7.jpg is not a reference image of"),
        (["q/0.jpg db/1.jpg", "q/0.jpg db/2.jpg"], r"ranks nothing for query q/1.jpg: every query of the manifest"),
        (["q/0.jpg db/1.jpg", "q/0.jpg db/1.jpg"], r"line 2: db/1.jpg is listed twice for query q/0.jpg"),
        (["q/0.jpg db/1.jpg", "q/1.jpg db/1.jpg"], r"ranks 1 references for query q/0.jpg, fewer than the R@2"),
        (["q/0.jpg db/1.jpg extra"], r"line 1: 'q/0.jpg db/1.jpg extra' is not `query_name reference_name`"),
    ],
)
def test_reranked_pairs_are_refused_naming_the_first_offender(tmp_path, lines, pattern):
    (tmp_path / "pairs.txt").write_text("\n".join(lines))
    with pytest.raises(PairsError, match=pattern):
        read_ranking(tmp_path / "pairs.txt", _manifest(tmp_path), top_k=4, needed=2)


def test_npz_of_indices(tmp_path):
    manifest = _manifest(tmp_path)
    np.savez(tmp_path / "r.npz", indices=np.array([[3, 1, 0], [2, 0, 1]]))
    assert read_ranking(tmp_path / "r.npz", manifest, top_k=2, needed=2).tolist() == [[3, 1], [2, 0]]
    np.savez(tmp_path / "r.npz", indices=np.array([[3, 1], [2, 4]]))
    with pytest.raises(PairsError, match=r"query 1 \(manifest row 5\), rank 2: position 4 is outside the 4 references"):
        read_ranking(tmp_path / "r.npz", manifest, top_k=2, needed=2)
    np.savez(tmp_path / "r.npz", indices=np.array([[3, 1]]))
    with pytest.raises(PairsError, match=r"not integer \(Q, K\) with the manifest's 2 queries"):
        read_ranking(tmp_path / "r.npz", manifest, top_k=2, needed=2)


@pytest.mark.e2e
def test_a_ranked_list_replaced_under_its_old_time_is_imported_again(run):
    """Issue 26 item 4 for re-ranked lists: a list replaced by other rows with its old modification
    time (cp -p) is an input by content, so the next run imports and scores it again."""
    import os
    import shutil

    tmp, _, _ = run
    same, moved = tmp / "msls_same.txt", tmp / "msls_moved.txt"
    stat = same.stat()
    shutil.copyfile(moved, same)
    os.utime(same, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    logs = {d: next((tmp / "logs" / d).iterdir()) for d in ("msls", "pitts")}
    lists = {
        n: {d: str(tmp / f"{d}_{n.split('_')[1]}.txt") for d in ("msls", "pitts")} for n in ("vme_same", "vme_moved")
    }
    dry = _snakemake(["-n", "--cores", "1", "--configfile", str(_config(tmp, logs, lists))], cwd=tmp)
    assert "import_ranking" in dry.stdout and "msls/vme_same/retrieval.npz" in dry.stdout
    assert "msls/vme_moved/retrieval.npz" not in dry.stdout  # only the replaced list is imported again


# ---- issue 33 items 6 and 9: repeated references, encodings, what a re-ranked list was made from ---


def test_an_npz_row_repeating_a_reference_is_refused_naming_the_query(tmp_path):
    """It was silently de-duplicated, shortening every list to the shortest; a pairs file is refused."""
    np.savez(tmp_path / "r.npz", indices=np.array([[3, 1, 0], [2, 1, 2]]))
    with pytest.raises(PairsError, match=r"query 1 \(q/1.jpg\) lists reference position 2 twice \(ranks 1 and 3\)"):
        read_ranking(tmp_path / "r.npz", _manifest(tmp_path), top_k=3, needed=2)


def test_a_pairs_file_with_a_byte_order_mark_is_read_and_utf16_is_named(tmp_path):
    manifest = _manifest(tmp_path)
    text = "q/0.jpg db/1.jpg\nq/0.jpg db/2.jpg\nq/1.jpg db/3.jpg\nq/1.jpg db/0.jpg"
    (tmp_path / "bom.txt").write_text(text, encoding="utf-8-sig")
    assert read_ranking(tmp_path / "bom.txt", manifest, top_k=2, needed=2).tolist() == [[1, 2], [3, 0]]
    (tmp_path / "u16.txt").write_text(text, encoding="utf-16")
    with pytest.raises(PairsError, match=r"u16.txt is UTF-16 .*save it as UTF-8"):
        read_ranking(tmp_path / "u16.txt", manifest, top_k=2, needed=2)
    (tmp_path / "latin.txt").write_bytes("q/0.jpg db/\xe9.jpg".encode("latin-1"))
    with pytest.raises(PairsError, match=r"latin.txt is not UTF-8 text"):
        read_ranking(tmp_path / "latin.txt", manifest, top_k=2, needed=2)


def _first_stage(tmp_path: Path, manifest, indices: list[list[int]]) -> Path:
    out = tmp_path / "first.npz"
    scores = np.zeros((len(indices), len(indices[0])), dtype=np.float32)
    prov = provenance("retrieve", {"method_name": "first"}, manifest=manifest)
    save_retrieval(out, np.array(indices), scores, manifest.rows("reference"), manifest.rows("query"), prov)
    return out


def test_a_reranked_list_records_its_first_stage_and_is_refused_when_that_changed(tmp_path):
    manifest = _manifest(tmp_path)
    (tmp_path / "r.txt").write_text("q/0.jpg db/1.jpg\nq/0.jpg db/0.jpg\nq/1.jpg db/3.jpg\nq/1.jpg db/2.jpg")
    first = _first_stage(tmp_path, manifest, [[0, 1], [2, 3]])
    args = (tmp_path / "r.txt", manifest.path, tmp_path / "out.npz", 2, 2, {}, "reranked")
    made = import_ranking(*args, first_stage=first)
    assert made.provenance.sources["first_stage"].path == str(first)
    load_retrieval(tmp_path / "out.npz")  # the first stage as it was: accepted
    # the first stage's descriptors change: its retrieval is made again, with other top 2s
    _first_stage(tmp_path, manifest, [[2, 3], [0, 1]])
    with pytest.raises(ProvenanceError, match=r"out.npz re-ranks the first stage's retrieval .*first.npz as it was"):
        load_retrieval(tmp_path / "out.npz")
    with pytest.raises(PairsError, match=r"r.txt: 4 of the 4 references it lists are not in the first stage's top 2"):
        import_ranking(*args, first_stage=first)


def test_a_cut_npz_of_indices_is_one_error_naming_it(tmp_path):
    np.savez(tmp_path / "r.npz", indices=np.arange(400).reshape(2, 200) % 4)
    (tmp_path / "r.npz").write_bytes((tmp_path / "r.npz").read_bytes()[:-40])
    with pytest.raises(ValueError, match=r"r.npz cannot be read as an .npz \(BadZipFile"):
        read_ranking(tmp_path / "r.npz", _manifest(tmp_path), top_k=2, needed=2)
