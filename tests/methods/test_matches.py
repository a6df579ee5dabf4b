"""VPR-Bench's stored matches as rows (`kind: matches`): the real files (copies in
vprbench_matches/, MIT, from the VPR-Bench repository at commit 77ad30f) for all ten methods on
Corridor and SPEDTEST, imported and scored by the suite's own steps (`acmnet prepare`,
`positives`, `import-ranking`, `score`), give VPR-Bench's own numbers: its functions of
`performance_comparison.py` are transcribed below and run on the same files."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import auc, precision_recall_curve

from acmnet.artifacts import load_positives, load_retrieval
from acmnet.cli import main
from acmnet.evaluate.precision import vprbench_numbers
from acmnet.evaluate.statistics import first_hit_ranks, recall_at

VENDORED = Path(__file__).parent / "vprbench_matches"
METHODS = ["AMOSNet", "AlexNet_VPR", "CALC", "CoHOG", "HOG", "HybridNet", "NetVLAD", "RegionVLAD"]
METHODS += ["ap-gem-r101", "denseVLAD"]
SIZES = {"corridor": 111, "SPEDTEST": 607}  # references = queries, as VPR-Bench's folders hold them


def stored(dataset: str, method: str) -> Path:
    return VENDORED / "precomputed_matches" / dataset / method / "precomputed_data_corrected.npy"


# ---- VPR-Bench's performance_comparison.py at 77ad30f, transcribed -----------------------------------


def compute_matches(retrieved_all, ground_truth_info):
    return [1 if retr in ground_truth_info[itr][1] else 0 for itr, retr in enumerate(retrieved_all)]


def compute_RecallRateAtN(N, all_retrievedindices_scores_allqueries, ground_truth_info):
    matches = []
    for query in range(len(all_retrievedindices_scores_allqueries)):
        top_n = np.argpartition(all_retrievedindices_scores_allqueries[query], -1 * N)[-1 * N :]
        matches.append(int(any(retr in ground_truth_info[query][1] for retr in top_n)))
    return float(np.sum(matches)) / float(len(all_retrievedindices_scores_allqueries))


def compute_extendedprecision(precision, recall):
    precision_at_recall_zero = precision[-2]
    recall_at_precision_one = 0 if precision_at_recall_zero < 1 else recall[min(np.argwhere(precision == 1))]
    return (precision_at_recall_zero + recall_at_precision_one) / 2


def vprbench_reference(dataset: str, method: str) -> dict[str, float]:
    """What VPR-Bench computes from its own file and ground truth (np.load as it loads them)."""
    data = np.load(stored(dataset, method), allow_pickle=True, encoding="latin1")
    truth = np.load(VENDORED / dataset / "ground_truth_new.npy", allow_pickle=True)
    matches = compute_matches(data[1], truth)
    precision, recall, _ = precision_recall_curve(matches, data[2])
    out = {f"R@{n}": compute_RecallRateAtN(n, data[3], truth) for n in (1, 5, 10)}
    out["AUC-PR"] = auc(recall, precision)
    out["EP"] = float(np.ravel(compute_extendedprecision(precision, recall))[0])
    out["R@100P"] = float(recall[min(np.argwhere(precision == 1))][0])  # the recall inside EP, unconditioned
    out["correct"] = int(np.sum(matches))
    return out


# ---- the suite, as Snakemake runs it --------------------------------------------------------------


def dataset_root(tmp: Path, dataset: str) -> Path:
    """Corridor as vendored (its real images); SPEDTEST's released ground truth with stand-in images
    named as VPR-Bench's (zero bytes: nothing is decoded on this path)."""
    if dataset == "corridor":
        return VENDORED / "corridor"
    root = tmp / "SPEDTEST"
    for folder in ("ref", "query"):
        (root / folder).mkdir(parents=True)
        for i in range(SIZES[dataset]):
            os.close(os.open(root / folder / f"{i:07d}.jpg", os.O_CREAT | os.O_WRONLY, 0o644))
    shutil.copy(VENDORED / dataset / "ground_truth_new.npy", root / "ground_truth_new.npy")
    return root


def suite_config(tmp: Path, dataset: str) -> Path:
    cfg = {
        "experiment": "matches",
        "results_dir": str(tmp / "results"),
        "datasets": {dataset: {"type": "vprbench", "root": str(dataset_root(tmp, dataset))}},
        "methods": {m: {"kind": "matches", "matches": {dataset: str(stored(dataset, m))}} for m in METHODS},
        "evaluate": {"top_k": 10, "recall_at": [1, 5, 10], "bootstrap_resamples": 100, "pr": True},
    }
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def run_suite(tmp: Path, dataset: str, method: str, config: Path) -> tuple[Path, Path, pd.DataFrame]:
    manifest, positives = tmp / "manifest.csv", tmp / "positives.npz"
    if not positives.exists():
        root = yaml.safe_load(config.read_text())["datasets"][dataset]["root"]
        assert main(["prepare", "vprbench", "--root", root, "--out", str(manifest)]) == 0
        common = ["--config", str(config), "--dataset", dataset, "--manifest", str(manifest)]
        assert main(["positives", *common, "--out", str(positives)]) == 0
    out = tmp / method
    out.mkdir()
    common = ["--config", str(config), "--dataset", dataset, "--method", method, "--manifest", str(manifest)]
    assert main(["import-ranking", *common, "--out", str(out / "retrieval.npz")]) == 0
    files = ["--positives", str(positives), "--retrieval", str(out / "retrieval.npz"), "--out", str(out / "m.csv")]
    assert main(["score", *common, *files, "--curve-out", str(out / "c.csv"), "--ranks-out", str(out / "r.csv")]) == 0
    return manifest, out / "retrieval.npz", pd.read_csv(out / "m.csv", comment="#")


@pytest.mark.parametrize("dataset", list(SIZES))
def test_stored_matches_give_vprbench_numbers(tmp_path, dataset):
    config = suite_config(tmp_path, dataset)
    for method in METHODS:
        expected = vprbench_reference(dataset, method)
        manifest, retrieval_path, metrics = run_suite(tmp_path, dataset, method, config)
        from acmnet.artifacts import load_manifest

        manifest = load_manifest(manifest)
        retrieval = load_retrieval(retrieval_path, manifest)
        sets = load_positives(tmp_path / "positives.npz", manifest).sets
        ranks = first_hit_ranks(sets.hits(retrieval.indices))
        row = metrics.iloc[0]
        for n in (1, 5, 10):  # exactly: the same count of queries
            assert round(recall_at(ranks, n) * SIZES[dataset] / 100) == round(expected[f"R@{n}"] * SIZES[dataset])
            assert row[f"R@{n}"] == round(100 * expected[f"R@{n}"], 2), (method, n)
        ours = vprbench_numbers(ranks == 1, retrieval.scores[:, 0])
        for key in ("AUC-PR", "EP", "R@100P"):
            assert ours[key] == pytest.approx(expected[key], abs=1e-9), (method, key)
            assert row[key] == round(expected[key], 4), (method, key)
        assert int((ranks == 1).sum()) == expected["correct"]


def test_corridor_netvlad_is_75_of_111():
    expected = vprbench_reference("corridor", "NetVLAD")
    assert expected["correct"] == 75 and expected["R@1"] == 75 / 111


def test_cost_cells_are_the_stored_times_or_empty_with_the_reason(tmp_path):
    config = suite_config(tmp_path, "corridor")
    _, _, netvlad = run_suite(tmp_path, "corridor", "NetVLAD", config)
    data = np.load(stored("corridor", "NetVLAD"), allow_pickle=True, encoding="latin1")
    assert netvlad.loc[0, "describe_ms_per_image"] == round(data[4] * 1e3, 3)
    assert netvlad.loc[0, "search_ms_per_query"] == round(data[5] * 111 * 1e3, 4)
    assert "stored by VPR-Bench, not timed here" in netvlad.loc[0, "device"]
    _, _, apgem = run_suite(tmp_path, "corridor", "ap-gem-r101", config)
    assert np.isnan(apgem.loc[0, "describe_ms_per_image"]) and np.isnan(apgem.loc[0, "search_ms_per_query"])
    assert "placeholders" in apgem.loc[0, "device"]


def test_a_replaced_file_is_refused_on_load(tmp_path):
    config = suite_config(tmp_path, "corridor")
    copy = tmp_path / "NetVLAD.npy"
    shutil.copy(stored("corridor", "NetVLAD"), copy)
    text = yaml.safe_load(config.read_text())
    text["methods"]["NetVLAD"]["matches"]["corridor"] = str(copy)
    config.write_text(yaml.safe_dump(text))
    manifest, retrieval_path, _ = run_suite(tmp_path, "corridor", "NetVLAD", config)
    shutil.copy(stored("corridor", "HOG"), copy)  # another method's matrix under the configured name
    from acmnet.artifacts import ProvenanceError, load_manifest

    with pytest.raises(ProvenanceError, match="NetVLAD.npy with content digest"):
        load_retrieval(retrieval_path, load_manifest(manifest))


def _config_with(matches: dict, **evaluate):
    from acmnet.config_loader import config_from_dict

    return config_from_dict(
        {
            "datasets": {"corridor": {"type": "vprbench", "root": "data/corridor", "route_order": True}},
            "methods": {"netvlad": {"kind": "matches", **matches}},
            "evaluate": {"top_k": 10, **evaluate},
        }
    )


def test_label_and_kind():
    from acmnet.methods import method_kind

    cfg = _config_with({"matches": {"corridor": "m.npy"}})
    kind = method_kind("matches")
    assert kind.imports_ranking and kind.import_ranking is not None and not kind.trains
    assert kind.label(cfg, "netvlad", cfg.methods["netvlad"].options) == "stored matches (m.npy)"


@pytest.mark.parametrize(
    ("matches", "evaluate", "pattern"),
    [
        ({"matches": {}}, {}, r"methods.netvlad.matches has no entry for dataset `corridor`"),
        ({"matches": {"corridor": "a.npy", "coridor": "b.npy"}}, {}, r"matches.coridor: `coridor` is not a configured"),
        ({"matches": {"corridor": ""}}, {}, r"matches.corridor must be the path of a stored-matches file"),
        ({"matches": {"corridor": "a.npy"}}, {"sequence_lengths": [3]}, r"stored matches without descriptors"),
    ],
)
def test_config_refusals(matches, evaluate, pattern):
    from acmnet.config import ConfigError

    with pytest.raises(ConfigError, match=pattern):
        _config_with(matches, **evaluate)


def test_import_refusal_names_the_row_and_key(tmp_path, capsys):
    config = suite_config(tmp_path, "corridor")
    text = yaml.safe_load(config.read_text())
    text["methods"]["NetVLAD"]["matches"]["corridor"] = str(stored("SPEDTEST", "NetVLAD"))  # another dataset's
    config.write_text(yaml.safe_dump(text))
    manifest = tmp_path / "manifest.csv"
    assert main(["prepare", "vprbench", "--root", str(VENDORED / "corridor"), "--out", str(manifest)]) == 0
    common = ["--config", str(config), "--dataset", "corridor", "--method", "NetVLAD", "--manifest", str(manifest)]
    assert main(["import-ranking", *common, "--out", str(tmp_path / "r.npz")]) != 0
    err = capsys.readouterr().err
    assert "methods.NetVLAD.matches.corridor:" in err and "shape (607, 607), but the manifest has 111" in err
    assert "Traceback" not in err
