"""The verdict beside every published number: reproduced, not reproduced, not comparable (never across protocols)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from acmnet.config import ConfigError
from acmnet.config_loader import config_from_dict
from acmnet.evaluate.signature import FIELDS, parse
from acmnet.report.published import PublishedResultsError, load_user_published
from acmnet.report.reproduction import markdown, reproduction
from acmnet.report.summary import summarise

REPO = Path(__file__).resolve().parents[2]
OURS = {
    "type": "folder_pair",
    "set": "night/day",
    "ref": "50",
    "q": "400",
    "pos": "1200",
    "gt": "0123456789ab",
    "rule": "places±1",
    "nopos": "none",
    "img": "32x32/resize",
    "dim": "1024",
    "dtype": "float32",
    "sim": "cos",
    "k": "25",
}
SIGNATURE = "|".join(f"{k}:{OURS[k]}" for k in FIELDS)


def _published(tmp_path, protocol=None, rows=None):
    """A user's published file with one table `crafted` (dataset d, night queries)."""
    data = {
        "methods": {
            "Mine": {"authors": ["Ada Lovelace"], "title": "Crafted", "venue": "a test", "year": 2024},
            "Wide": {"authors": ["Alan Turing"], "title": "Crafted at 224", "venue": "a test", "year": 2024},
        },
        "crafted": {
            "dataset": "d",
            "queries": "night",
            "units": "percent",
            "columns": ["R@1", "R@5"],
            "protocol": dict(OURS, k="unknown") if protocol is None else protocol,
            "rows": rows
            or [
                {"method": "Mine", "label": "Mine [1]", "values": ["50.0", "90.0"]},
                {
                    "method": "Wide",
                    "label": "Wide [2]",
                    "values": ["50.0", "90.0"],
                    "protocol": {"img": "224x224/resize"},
                },
            ],
        },
    }
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


def _cfg(published, seeds=(), rows=None, tables=None):
    return config_from_dict(
        {
            "seeds": list(seeds),
            "datasets": {"d": {"type": "folder_pair", "root": ".", "reference": "a", "query": "b", "tolerance": 1}},
            "methods": {"acmnet": {}, "wide": {"kind": "pixels"}},
            "evaluate": {"bootstrap_resamples": 500, "recall_at": [1, 5]},
            "report": {
                "published": [str(p) for p in published],
                "published_tables": tables if tables is not None else {"d": ["crafted"]},
                "published_rows": rows if rows is not None else {"acmnet": "Mine", "wide": "Wide"},
            },
        }
    )


def _inputs(runs: dict[str, np.ndarray], signature=SIGNATURE, queries="night"):
    """(metrics, ranks) of runs with first-hit ranks `runs[name]` (Q,)."""
    metrics, ranks = [], []
    for name, first in runs.items():
        row = {"dataset": "d", "queries": queries, "method": name, "n_queries": len(first), "n_references": 50}
        row |= {"tolerance": 1, "signature": signature}
        metrics.append(row | {f"R@{n}": 100.0 * np.mean((first > 0) & (first <= n)) for n in (1, 5)})
        ranks.append(
            pd.DataFrame(
                {"dataset": "d", "queries": queries, "method": name, "query_row": range(len(first)), "first_hit": first}
            )
        )
    return pd.DataFrame(metrics), pd.concat(ranks, ignore_index=True)


def _first_hits(rng, q, at1, at5):
    """First-hit ranks: exactly at1 of q queries at rank 1, at5 - at1 at rank 3, the rest missed, shuffled."""
    first = np.array([1] * at1 + [3] * (at5 - at1) + [0] * (q - at5))
    return rng.permutation(first)


def _table(cfg, runs, **kwargs):
    metrics, ranks = _inputs(runs, **kwargs)
    return reproduction(cfg, summarise(metrics, ranks, cfg), ranks)


def test_one_number_is_reproduced_one_is_not_and_another_protocol_gets_no_verdict(tmp_path):
    rng = np.random.default_rng(0)
    cfg = _cfg([_published(tmp_path)])
    runs = {"acmnet": _first_hits(rng, 400, 200, 240), "wide": _first_hits(rng, 400, 200, 240)}
    table = _table(cfg, runs).set_index(["method", "metric"])
    r1, r5 = table.loc[("acmnet", "R@1")], table.loc[("acmnet", "R@5")]
    assert r1["ours"] == 50.0 and r1["ours_lo"] <= 50.0 <= r1["ours_hi"]
    assert r1["verdict"] == "reproduced" and r1["p"] > 0.5
    assert r5["ours"] == 60.0 and r5["published"] == 90.0 and r5["difference"] == -30.0
    assert r5["verdict"] == "not reproduced" and r5["p"] == pytest.approx(2 / 501, abs=1e-4)  # 60 % vs 90 %: the floor
    wide = table.loc[("wide", "R@1")]
    assert wide["verdict"] == "not comparable" and np.isnan(wide["p"])  # the same numbers, another protocol
    assert wide["reasons"] == "image size 32x32/resize (ours) vs 224x224/resize"
    text = markdown(table.reset_index(), 500)
    assert "not reproduced (p <= 0.004)" in text and "| reproduced" in text


def test_an_unknown_field_is_named_and_top_k_is_not_compared(tmp_path):
    protocol = dict(OURS, gt="unknown", k="100", dim="4096")
    cfg = _cfg([_published(tmp_path, protocol=protocol)])
    table = _table(cfg, {"acmnet": _first_hits(np.random.default_rng(1), 400, 200, 240)})
    assert set(table["verdict"]) == {"not comparable"}
    assert (
        table["reasons"].iloc[0] == "ground-truth digest unknown in mine.yaml; descriptor dimension 1024 (ours) vs 4096"
    )


def test_with_several_seeds_the_interval_and_gap_split_into_seeds_and_query_blocks(tmp_path):
    rng = np.random.default_rng(2)
    cfg = _cfg([_published(tmp_path)], seeds=[0, 1, 2], rows={"acmnet": "Mine"})
    runs = {f"acmnet@s{s}": _first_hits(rng, 400, at1, 240) for s, at1 in zip((0, 1, 2), (180, 190, 200), strict=True)}
    r1 = _table(cfg, runs).set_index("metric").loc["R@1"]
    per_seed = np.array([45.0, 47.5, 50.0])
    assert r1["n_seeds"] == 3 and r1["ours"] == pytest.approx(per_seed.mean(), abs=0.01)
    assert r1["seed_sd"] == pytest.approx(np.std(per_seed, ddof=1), abs=0.01)
    assert 45.0 <= r1["seed_lo"] <= r1["seed_hi"] <= 50.0  # seeds alone: within the seeds' range
    assert r1["query_lo"] < r1["ours"] < r1["query_hi"]
    assert r1["gap_in_seed_sd"] == pytest.approx(r1["difference"] / r1["seed_sd"], abs=0.01)
    assert "seed sd; over seeds alone" in markdown(_table(cfg, runs), 500)


def test_the_paper_is_never_given_a_verdict_across_protocols(tmp_path):
    cfg = _cfg([], rows={}, tables={"d": ["table2", "table3"]})
    table = _table(cfg, {"acmnet": _first_hits(np.random.default_rng(3), 400, 200, 240)}, queries="winter")
    assert list(table["table"]) == ["table2", "table2"]  # R@1 and R@5 of Table 2's winter queries; Table 3 is night
    assert set(table["published_method"]) == {"ACM-Net"} and set(table["verdict"]) == {"not comparable"}
    reasons = table["reasons"].iloc[0]
    for part in (
        "dataset type folder_pair (ours) vs nordland",
        "query set / reference night/day (ours) vs winter/summer",
        "references 50 (ours) vs 3450",
        "ground-truth digest unknown in the paper",
        "image size unknown in the paper",
    ):
        assert part in reasons
    assert "descriptor dimension" not in reasons and "similarity" not in reasons  # the paper states 1024-d, cosine


def test_a_row_without_signature_is_not_comparable_and_says_how_to_get_one(tmp_path):
    cfg = _cfg([_published(tmp_path)], rows={"acmnet": "Mine"})
    table = _table(cfg, {"acmnet": _first_hits(np.random.default_rng(4), 400, 200, 240)}, signature="")
    assert set(table["verdict"]) == {"not comparable"}
    assert table["reasons"].iloc[0] == "our row has no signature (rerun `acmnet score`)"


def test_nothing_to_compare_says_so():
    cfg = _cfg([], rows={}, tables={})
    assert reproduction(cfg, pd.DataFrame(columns=["dataset", "queries", "method"]), pd.DataFrame()).empty
    assert "no published number has a counterpart" in markdown(pd.DataFrame(), 500)


def test_malformed_published_files_and_mappings_are_refused_naming_the_key(tmp_path):
    path = _published(tmp_path, protocol={"colour": "red"})
    with pytest.raises(PublishedResultsError, match=r"mine\.yaml: crafted protocol: unknown field 'colour'"):
        load_user_published(path)
    rows = [{"method": "Mine", "label": "Mine", "values": ["50.0"]}]
    with pytest.raises(PublishedResultsError, match=r"crafted rows\[0\]: values must list 2 numbers"):
        load_user_published(_published(tmp_path, rows=rows))
    cfg = _cfg([_published(tmp_path)], tables={"d": ["table9"]})
    with pytest.raises(ConfigError, match=r"report\.published_tables\.d names \['table9'\]"):
        _table(cfg, {"acmnet": _first_hits(np.random.default_rng(5), 400, 200, 240)})
    assert parse(SIGNATURE).fields == OURS


def test_the_nordland64_preset_compares_both_acmnet_rows_with_table_2_and_says_why_not(tmp_path):
    """The committed run's counts (results/nordland64/metrics.csv), signed as `acmnet score` signs them."""
    from acmnet.config_loader import load_config
    from acmnet.data.positives import from_places
    from acmnet.evaluate.signature import make_signature

    cfg = load_config(REPO / "config" / "nordland64.yaml")
    committed = pd.read_csv(REPO / "results" / "nordland64" / "metrics.csv")
    rows = committed[~committed["method"].str.contains("+seq", regex=False)].copy()
    rows["method"] = rows["method"].str.replace(r"@s\d+$", "", regex=True)
    rows = rows.drop_duplicates(["dataset", "method"])
    signatures = []
    for _, r in rows.iterrows():
        places = np.arange(int(r["n_queries"]))
        truth = from_places(places, places, int(r["tolerance"]))
        signatures.append(
            make_signature(cfg, r["dataset"], r["method"], r["method"], "winter", ["summer"], truth, 25, int(r["dim"]))
        )
    summary = rows.assign(n_seeds=1, signature=[s.text() for s in signatures])
    table = reproduction(cfg, summary, pd.DataFrame())
    assert sorted(set(zip(table["dataset"], table["method"]))) == [
        (d, m) for d in ("east", "west") for m in ("acmnet_grid", "acmnet_projector")
    ]  # the trained rows against the paper's own row; the untrained and pixel rows have no published counterpart
    assert set(table["published_method"]) == {"ACM-Net"} and set(table["metric"]) == {"R@1", "R@5", "R@10"}
    assert (table["verdict"] == "not comparable").all()
    assert table["reasons"].str.contains("dataset type nordland64 (ours) vs nordland", regex=False).all()
    assert table["reasons"].str.contains("image size unknown in the paper", regex=False).all()
    grid = table[table["method"] == "acmnet_grid"]["reasons"]
    assert grid.str.contains("descriptor dimension 2560 (ours) vs 1024", regex=False).all()
