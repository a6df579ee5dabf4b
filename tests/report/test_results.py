"""`acmnet report`: inputs checked before anything is written; the summary over seeds and queries."""

import numpy as np
import pandas as pd
import pytest

from acmnet.artifacts import ArtifactError, provenance, save_table, table_provenance
from acmnet.config_loader import config_from_dict
from acmnet.report.results import ReportFiles, write_report
from acmnet.report.summary import summarise

CFG = config_from_dict(
    {
        "datasets": {"d": {"type": "folder_pair", "root": ".", "reference": "a", "query": "b"}},
        "methods": {"acmnet": {}, "pixels": {"kind": "pixels"}},
        "evaluate": {"bootstrap_resamples": 500},
    }
)
ONE = config_from_dict(  # the runs of one method: the report takes a config's runs, all of them
    {
        "datasets": {"d": {"type": "folder_pair", "root": ".", "reference": "a", "query": "b"}},
        "methods": {"acmnet": {}},
        "evaluate": {"bootstrap_resamples": 500},
    }
)


def _run_files(tmp_path, name, ranks, ours=True, dataset="d"):
    """metrics, curve and ranks files of one run whose queries have the first-hit `ranks`."""
    ranks = np.asarray(ranks)
    row = {
        "dataset": dataset,
        "queries": "night",
        "method": name,
        "n_queries": len(ranks),
        "n_references": 50,
        "tolerance": 2,
    }
    for n in (1, 5, 10):
        r = 100.0 * np.mean((ranks > 0) & (ranks <= n))
        row.update({f"R@{n}": r, f"R@{n}_lo": max(r - 5, 0), f"R@{n}_hi": min(r + 5, 100)})
    metrics = pd.DataFrame([row])
    curve = pd.DataFrame(
        {
            "dataset": dataset,
            "queries": "night",
            "method": name,
            "N": [1, 2],
            "recall": [row["R@1"]] * 2,
            "lo": [0.0, 0.0],
            "hi": [100.0, 100.0],
        }
    )
    rank_frame = pd.DataFrame(
        {"dataset": dataset, "queries": "night", "method": name, "query_row": range(len(ranks)), "first_hit": ranks}
    )
    paths = [tmp_path / f"{dataset}.{name}.{k}.csv" for k in ("m", "c", "r")]
    for frame, path in zip((metrics, curve, rank_frame), paths):
        if ours:
            save_table(frame, path, provenance("score", {}))
        else:
            frame.to_csv(path, index=False)
    return paths


def _outputs(tmp_path):
    out = tmp_path / "out"
    return ReportFiles(
        out / "metrics.csv",
        out / "summary.csv",
        out / "summary.md",
        out / "recall.tex",
        [out / "curves.png"],
        [out / "seeds.png"],
        out / "config.yaml",
    )


def _report(tmp_path, runs, cfg=CFG):
    files = list(zip(*runs))
    return write_report(cfg, list(files[0]), list(files[1]), list(files[2]), _outputs(tmp_path))


def test_report_writes_every_output_with_provenance(tmp_path):
    rng = np.random.default_rng(0)
    runs = [
        _run_files(tmp_path, "acmnet", rng.choice([0, 1, 3], 200, p=[0.3, 0.5, 0.2])),
        _run_files(tmp_path, "pixels", rng.choice([0, 1, 3], 200, p=[0.6, 0.2, 0.2])),
    ]
    text = _report(tmp_path, runs)
    out = _outputs(tmp_path)
    assert "| d " in text and "acmnet" in text and "(best)" in text  # the Markdown summary the terminal shows
    assert "(p <= 0.004)" in text  # 50 % vs 20 % of 200 queries: at the floor of 500 resamples, 2 / 501
    assert out.markdown.read_text().strip() == text.strip()
    assert "Trained rows train (without labels) on: d: folder a, the reference images themselves" in text
    assert table_provenance(out.metrics).sources["metrics[0]"].path == str(runs[0][0])
    summary = pd.read_csv(out.summary)
    assert summary.set_index("method").loc["pixels", "R@1_p"] < 0.05  # 50 % vs 20 % of 200 queries
    tex = out.table.read_text()
    assert r"\textbf{" in tex and r"$\pm$" in tex and "bootstrap" in tex
    assert "experiment: paper" in out.config.read_text() and out.curves[0].stat().st_size > 1000
    assert out.seeds[0].stat().st_size > 1000


@pytest.mark.parametrize(
    "bad, message",
    [
        ("n/a", r"column 'R@1' must hold numbers in \[0, 100\]; got 'n/a' on data row 1"),
        ("forty", r"column 'R@1' must hold numbers in \[0, 100\]; got 'forty'"),
        (140.0, r"column 'R@1' must hold numbers in \[0, 100\]; got 140"),
    ],
)
def test_a_metrics_file_with_a_bad_value_is_refused_and_nothing_is_written(tmp_path, bad, message):
    run = _run_files(tmp_path, "acmnet", [1, 2, 0], ours=False)
    frame = pd.read_csv(run[0]).astype({"R@1": object})
    frame.loc[0, "R@1"] = bad
    frame.to_csv(run[0], index=False)
    with pytest.raises(ArtifactError, match=message):
        _report(tmp_path, [run], ONE)
    assert not (tmp_path / "out").exists()


def test_fractions_are_refused_unless_the_file_is_ours(tmp_path):
    run = _run_files(tmp_path, "acmnet", [1, 0, 0, 0, 0], ours=False)
    frame = pd.read_csv(run[0])
    for col in [c for c in frame.columns if c.startswith("R@")]:
        frame[col] = frame[col] / 100
    frame.to_csv(run[0], index=False)
    with pytest.raises(ArtifactError, match=r"every recall value is at most 1.*multiply them by 100"):
        _report(tmp_path, [run], ONE)
    save_table(frame, run[0], provenance("score", {}))  # written by `acmnet score`: percent, however low
    _report(tmp_path, [run], ONE)
    assert pd.read_csv(_outputs(tmp_path).metrics)["R@1"].tolist() == [0.2]


def test_a_broken_ranks_file_is_refused_before_anything_is_written(tmp_path):
    run = _run_files(tmp_path, "acmnet", [1, 2, 0], ours=False)
    run[2].write_text("dataset,queries,method,query_row,first_hit\nd,night,acmnet,0,first\n")
    with pytest.raises(ArtifactError, match=r"first_hit"):
        _report(tmp_path, [run], ONE)
    assert not _outputs(tmp_path).metrics.exists()


@pytest.mark.parametrize("edited", [0, 1, 2])
def test_a_file_edited_after_score_wrote_it_is_refused_naming_the_step(tmp_path, edited):
    """Issue 18: a metrics, curve or ranks file whose bytes no longer match its provenance record
    is an error naming it and `acmnet score`, never read as a hand-made file."""
    run = _run_files(tmp_path, "acmnet", [1, 2, 0])
    run[edited].write_text(run[edited].read_text().replace("night", "nite"))
    with pytest.raises(ArtifactError, match=rf"{run[edited].name} was changed after `acmnet score` wrote it"):
        _report(tmp_path, [run], ONE)
    assert not _outputs(tmp_path).metrics.exists()


def test_the_report_takes_the_configured_runs_only_and_all_of_them(tmp_path):
    """Issue 18: a run of a method the config does not have, or a configured run left out, is refused."""
    acmnet, pixels = _run_files(tmp_path, "acmnet", [1, 2, 0]), _run_files(tmp_path, "pixels", [0, 1, 0])
    with pytest.raises(ArtifactError, match=r"d\.pixels\.m\.csv holds rows of method 'pixels', which is not a method"):
        _report(tmp_path, [acmnet, pixels], ONE)
    with pytest.raises(ArtifactError, match=r"no metrics file holds the rows of method 'pixels' on dataset 'd'"):
        _report(tmp_path, [acmnet])
    assert not _outputs(tmp_path).metrics.exists()


def _ranks(name, hits):
    return pd.DataFrame(
        {
            "dataset": "d",
            "queries": "q",
            "method": name,
            "query_row": range(len(hits)),
            "first_hit": np.where(hits, 1, 0),
        }
    )


def test_seeds_are_merged_with_their_spread_and_tests_are_paired():
    rng = np.random.default_rng(1)
    truth = rng.random(400) < 0.5
    runs = {
        "acmnet@s0": truth,
        "acmnet@s1": truth ^ (rng.random(400) < 0.1),
        "close": truth ^ (rng.random(400) < 0.04),  # a few queries differ: not significantly below
        "pixels": rng.random(400) < 0.2,  # far below
    }
    ranks = pd.concat([_ranks(n, h) for n, h in runs.items()], ignore_index=True)
    metrics = pd.DataFrame(
        {"dataset": "d", "queries": "q", "method": list(runs), "n_queries": 400, "n_references": 400, "tolerance": 2}
    )
    dataset = {"d": {"type": "folder_pair", "root": ".", "reference": "a", "query": "b"}}
    cfg = config_from_dict(
        {"datasets": dataset, "evaluate": {"recall_at": [1], "top_k": 1, "bootstrap_resamples": 2000}}
    )
    summary = summarise(metrics, ranks, cfg).set_index("method")
    assert list(summary.index) == ["acmnet", "close", "pixels"]
    per_seed = [100 * runs[f"acmnet@s{s}"].mean() for s in (0, 1)]
    assert summary.loc["acmnet", "n_seeds"] == 2
    assert summary.loc["acmnet", "R@1"] == pytest.approx(np.mean(per_seed), abs=0.01)
    assert summary.loc["acmnet", "R@1_sd"] == pytest.approx(np.std(per_seed, ddof=1), abs=0.01)
    assert summary.loc["acmnet", "R@1_lo"] < summary.loc["acmnet", "R@1"] < summary.loc["acmnet", "R@1_hi"]
    best = summary["R@1"].idxmax()
    assert summary.loc[best, "R@1_p"] == 1.0 and summary.loc[best, "R@1_same"]
    assert summary.loc["pixels", "R@1_p"] < 0.01 and not summary.loc["pixels", "R@1_same"]
    other = "close" if best == "acmnet" else "acmnet"
    assert summary.loc[other, "R@1_same"]  # paired: the few differing queries decide, not the interval width
    again = summarise(metrics, ranks, cfg).set_index("method")
    pd.testing.assert_frame_equal(summary, again)  # the bootstrap is seeded: the same numbers every time
    shuffled = pd.concat([g.sample(frac=1, random_state=0) for _, g in ranks.groupby("method", sort=False)])
    pd.testing.assert_frame_equal(summary, summarise(metrics, shuffled, cfg).set_index("method"))  # by query_row
    assert (summary["bootstrap_block"] == 1).all()  # independent queries: no blocks


def _stretches(rng, q, length, recall):
    """First-hit ranks of a route whose hits and misses come in stretches of `length` queries."""
    return np.repeat(rng.random(q // length) < recall, length).astype(int)


def test_summary_md_and_caption_name_the_resampling_of_each_dataset(tmp_path):
    cfg = config_from_dict(
        {
            "datasets": {
                "route": {"type": "folder_pair", "root": ".", "reference": "a", "query": "b"},
                "city": {"type": "utm", "root": ".", "positive_distance": 25},
            },
            "methods": {"acmnet": {}, "pixels": {"kind": "pixels"}},
            "seeds": [0, 1],
            "evaluate": {"bootstrap_resamples": 200},
        }
    )
    rng = np.random.default_rng(0)
    runs = [
        _run_files(tmp_path, "acmnet@s0", _stretches(rng, 400, 10, 0.6), dataset="route"),
        _run_files(tmp_path, "acmnet@s1", _stretches(rng, 400, 10, 0.6), dataset="route"),
        _run_files(tmp_path, "pixels", _stretches(rng, 400, 10, 0.3), dataset="route"),
        *(  # stretches, but no route
            _run_files(tmp_path, name, _stretches(rng, 400, 10, 0.6), dataset="city")
            for name in ("acmnet@s0", "acmnet@s1", "pixels")
        ),
    ]
    text = _report(tmp_path, runs, cfg)
    summary = pd.read_csv(_outputs(tmp_path).summary).set_index(["dataset", "method"])
    block = int(summary.loc[("route", "acmnet"), "bootstrap_block"])
    assert 1 < block <= 400 // 4 and summary.loc[("route", "pixels"), "bootstrap_block"] == block
    assert summary.loc[("city", "acmnet"), "bootstrap_block"] == 1
    said = (
        f"route: moving blocks of {block} queries and the 2 training seeds resampled; "
        "city: queries iid and the 2 training seeds resampled"
    )
    assert f"Intervals and tests: {said}." in text and said in _outputs(tmp_path).markdown.read_text()
    assert f"(200 resamples, seed 0; {said})" in _outputs(tmp_path).table.read_text()


def test_a_set_block_length_applies_to_route_datasets_only():
    rng = np.random.default_rng(2)
    ranks = pd.concat(
        [_ranks(name, rng.random(300) < 0.5).assign(dataset=d) for d in ("route", "city") for name in ("a", "b")]
    )
    metrics = ranks.drop_duplicates(["dataset", "method"])[["dataset", "queries", "method"]]
    metrics = metrics.assign(n_queries=300, n_references=300, tolerance=0)
    datasets = {
        "route": {"type": "nordland", "root": "."},
        "city": {"type": "vprbench", "root": "."},  # route_order false by default
    }
    for block, route in ((7, 7), (1, 1), (None, 1)):  # None: from the data, here independent queries
        cfg = config_from_dict(
            {"datasets": datasets, "evaluate": {"recall_at": [1], "top_k": 1, "bootstrap_block": block}}
        )
        summary = summarise(metrics, ranks, cfg).set_index(["dataset", "method"])["bootstrap_block"]
        assert summary.loc["route"].tolist() == [route, route] and summary.loc["city"].tolist() == [1, 1]


def test_summary_md_states_level_method_and_holm_adjusted_p_beside_the_raw_ones():
    """Issue 24 item 6: several rows against one best: Holm's adjustment beside each raw p."""
    from acmnet.evaluate.statistics import holm, p_text
    from acmnet.report.summary import markdown

    rng = np.random.default_rng(5)
    best = rng.random(400) < 0.6
    runs = {"best": best, "b": best & (rng.random(400) < 0.93), "c": best & (rng.random(400) < 0.96)}
    runs["d"] = rng.random(400) < 0.2
    ranks = pd.concat([_ranks(n, h) for n, h in runs.items()], ignore_index=True)
    metrics = pd.DataFrame(
        {"dataset": "d", "queries": "q", "method": list(runs), "n_queries": 400, "n_references": 400, "tolerance": 2}
    )
    dataset = {"d": {"type": "folder_pair", "root": ".", "reference": "a", "query": "b"}}
    cfg = config_from_dict({"datasets": dataset, "evaluate": {"recall_at": [1], "top_k": 1, "confidence": 0.9}})
    summary = summarise(metrics, ranks, cfg)
    text = markdown(summary, cfg.evaluate)
    raw = summary.set_index("method")["R@1_p"]
    adjusted = dict(zip(["b", "c", "d"], holm(raw[["b", "c", "d"]].to_numpy()), strict=True))
    assert adjusted["c"] > raw["c"]  # the adjustment is not the identity here
    for method in ("b", "c", "d"):
        line = next(line for line in text.splitlines() if line.split("|")[3].strip() == method)
        bound = "<=" if raw[method] < 0.003 else "="  # at the floor of 1000 resamples, both are bounds
        assert f"({p_text(raw[method], 1000)}; Holm {bound} {adjusted[method]:.3f})" in line, line
    assert "(best)" in next(line for line in text.splitlines() if line.split("|")[3].strip() == "best")
    assert "Method: nominal 90% percentile bootstrap intervals (1000 resamples, seed 0; coverage below nominal" in text
    assert "two-sided paired bootstrap test" in text and "is not shown to be equivalent to it" in text


def test_holm_by_hand():
    from acmnet.evaluate.statistics import holm

    # sorted 0.01, 0.03, 0.04 times 3, 2, 1: 0.03, 0.06, 0.04 -> running maximum 0.03, 0.06, 0.06
    np.testing.assert_allclose(holm(np.array([0.01, 0.04, 0.03])), [0.03, 0.06, 0.06])
    np.testing.assert_allclose(holm(np.array([0.5, np.nan, 0.4])), [0.8, np.nan, 0.8])
    np.testing.assert_allclose(holm(np.array([0.9, 0.8])), [1.0, 1.0])  # capped at 1


def test_a_bar_in_a_query_folder_name_keeps_summary_md_columns():
    """Issue 26 item 11: a `|` in a name is escaped, so every row has the header's columns."""
    from acmnet.report.summary import markdown

    rng = np.random.default_rng(0)
    ranks = pd.concat([_ranks(n, rng.random(50) < 0.5) for n in ("a|b", "c")], ignore_index=True)
    ranks["queries"] = "queries_night|2"
    metrics = pd.DataFrame(
        {"dataset": "d", "queries": "queries_night|2", "method": ["a|b", "c"], "n_queries": 50}
    ).assign(n_references=50, tolerance=2)
    dataset = {"d": {"type": "folder_pair", "root": ".", "reference": "a", "query": "b"}}
    cfg = config_from_dict({"datasets": dataset, "evaluate": {"recall_at": [1], "top_k": 1}})
    table = markdown(summarise(metrics, ranks, cfg), cfg.evaluate).split("\n\n")[0].splitlines()
    import re

    columns = [len(re.findall(r"(?<!\\)\|", line)) for line in table]
    assert len(set(columns)) == 1, table
    assert r"queries_night\|2" in table[2] and r"a\|b" in table[2]


def test_a_set_block_longer_than_half_the_queries_is_refused_naming_the_key():
    """Issue 26 item 8: bootstrap_block 1000 on 10 queries is refused, not clipped to 10."""
    from acmnet.config import ConfigError

    ranks = pd.concat([_ranks(n, np.arange(10) % 3 == 0) for n in ("a", "b")], ignore_index=True)
    metrics = pd.DataFrame({"dataset": "d", "queries": "q", "method": ["a", "b"]}).assign(
        n_queries=10, n_references=10, tolerance=0
    )
    datasets = {"d": {"type": "nordland", "root": "."}}
    for block, refused in ((1000, True), (6, True), (5, False)):
        cfg = config_from_dict(
            {"datasets": datasets, "evaluate": {"recall_at": [1], "top_k": 1, "bootstrap_block": block}}
        )
        if refused:
            with pytest.raises(ConfigError, match=rf"evaluate.bootstrap_block is {block}, but query set 'q' of "):
                summarise(metrics, ranks, cfg)
        else:
            assert (summarise(metrics, ranks, cfg)["bootstrap_block"] == 5).all()


def test_recall_curve_legend_says_a_seeded_band_is_the_mean_of_its_seeds_bands(monkeypatch, tmp_path):
    """Issue 24 item 6: the band of a seeded row is the mean of per-seed bands, and the figure says so."""
    from acmnet.report import figures

    drawn = {}
    monkeypatch.setattr(figures, "_save", lambda fig, outs: drawn.setdefault("fig", fig))
    rows = [
        {"dataset": "d", "queries": "q", "method": m, "N": n, "recall": r, "lo": r - 5, "hi": r + 5}
        for m, r in (("acmnet@s0", 50.0), ("acmnet@s1", 60.0), ("pixels", 20.0))
        for n in (1, 2)
    ]
    figures.recall_curves(pd.DataFrame(rows), [tmp_path / "c.png"])
    ax = drawn["fig"].axes[0]
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels == ["acmnet (mean of 2 seeds and of their bands)", "pixels"]
    assert ax.lines[0].get_ydata().tolist() == [55.0, 55.0]


def test_a_report_of_query_sets_too_small_for_intervals_is_written_without_them(tmp_path):
    """Issue 26 item 8, end to end: empty bounds in metrics and curves are read, drawn and summarised."""
    runs = []
    for name, ranks in (("acmnet", [1, 0, 2]), ("pixels", [0, 0, 1])):
        paths = _run_files(tmp_path, name, ranks)
        for path, columns in (
            (paths[0], [f"R@{n}_{b}" for n in (1, 5, 10) for b in ("lo", "hi")]),
            (paths[1], ["lo", "hi"]),
        ):
            frame = pd.read_csv(path)
            frame[columns] = np.nan  # as `acmnet score` writes them for 3 queries
            save_table(frame, path, provenance("score", {}))
        runs.append(paths)
    text = _report(tmp_path, runs)
    assert "[no interval]" in text and "p <=" not in text and "No interval and no test for d/night: 3 queries" in text
    summary = pd.read_csv(_outputs(tmp_path).summary)
    assert summary["R@1_lo"].isna().all() and summary["R@1_p"].isna().all()
    assert "[no interval]" in _outputs(tmp_path).table.read_text()


def test_a_collapsed_training_run_is_warned_about_in_the_summary(tmp_path):
    from acmnet.train.logger import write_log

    log = tmp_path / "train_log.csv"
    write_log([{"epoch": 1, "collapse_std": 0.02, "collapsed": 1}], log)
    runs = [_run_files(tmp_path, name, np.zeros(50, dtype=int)) for name in ("acmnet", "pixels")]
    files = list(zip(*runs))
    text = write_report(CFG, list(files[0]), list(files[1]), list(files[2]), _outputs(tmp_path), train_logs=[log])
    assert "**Warning: training may have collapsed**" in text and f"- {log}: 1 epoch(s) flagged" in text
    assert "Warning" in _outputs(tmp_path).markdown.read_text()


def _holm_family_summary():
    """Four single-image rows against one best: `tied` has the best's very hits (p = 1), `a` and `b`
    are far below it (p at the floor), `c` a little below."""
    rng = np.random.default_rng(5)
    best = rng.random(400) < 0.6
    runs = {"best": best, "tied": best.copy(), "a": rng.random(400) < 0.2, "b": rng.random(400) < 0.2}
    runs["c"] = best & (np.random.default_rng(103).random(400) < 0.98)  # raw p about 0.036
    ranks = pd.concat([_ranks(n, h) for n, h in runs.items()], ignore_index=True)
    metrics = pd.DataFrame(
        {"dataset": "d", "queries": "q", "method": list(runs), "n_queries": 400, "n_references": 400, "tolerance": 2}
    )
    dataset = {"d": {"type": "folder_pair", "root": ".", "reference": "a", "query": "b"}}
    cfg = config_from_dict({"datasets": dataset, "evaluate": {"recall_at": [1], "top_k": 1}})
    return summarise(metrics, ranks, cfg), cfg


def test_holm_family_is_every_test_made_against_the_best_row():
    """Issue 32 item 3, issue 33 item 5: a row tied with the best (p = 1) was tested and stays in the
    family: Holm over the 4 tests made, not the 3 with p < 1 (committed east +seq R@1: <= 0.008)."""
    from acmnet.evaluate.statistics import holm
    from acmnet.report.summary import markdown

    summary, cfg = _holm_family_summary()
    table = summary.set_index("method")
    assert table.loc["tied", "R@1_p"] == 1.0 and np.isnan(table.loc["best", "R@1_holm"])
    family = ["tied", "a", "b", "c"]
    np.testing.assert_allclose(table.loc[family, "R@1_holm"], holm(table.loc[family, "R@1_p"].to_numpy()), atol=1e-4)
    assert table.loc["a", "R@1_holm"] == pytest.approx(4 * 2 / 1001, abs=1e-4)  # 4 tests, raw p at its floor
    text = markdown(summary, cfg.evaluate)
    line = {row.split("|")[3].strip(): row for row in text.splitlines() if row.count("|") > 4}
    assert "(best)" in line["best"] and "(p = 1.000; Holm = 1.000)" in line["tied"]
    assert "p <= 0.002; Holm <= 0.008" in line["a"]


def test_recall_tex_daggers_follow_the_holm_p_that_summary_md_prints():
    """Issue 32 item 3: a dagger (not significantly below the best) wherever summary.md's Holm p is
    >= 1 - confidence, and nowhere else; the caption says the daggers are Holm-adjusted."""
    from acmnet.report.tables import caption, latex_table

    summary, cfg = _holm_family_summary()
    raw, adjusted = summary.set_index("method")["R@1_p"], summary.set_index("method")["R@1_holm"]
    assert raw["c"] < 0.05 <= adjusted["c"]  # unadjusted, c would lose its dagger
    tex = latex_table(summary, [1], caption(cfg, None, summary), "tab:x")
    rows = {line.split(" & ")[2]: line for line in tex.splitlines() if line.startswith("d & q & ")}
    assert r"\textbf" in rows["tied"]  # tied with the best: bold, as the best, and no dagger
    for method in ("a", "b", "c"):
        assert ("dagger" in rows[method]) == (adjusted[method] >= 0.05), (method, rows[method])
    assert "Holm-adjusted" in tex.split(r"\caption")[1]


def test_per_run_blocks_are_floored_at_the_pooled_block_of_their_query_set():
    """Issue 32 item 4: a per-run row whose own hits chose block 1 (iid) on a route-ordered set
    (committed: east acmnet_projector@s1) gets the pooled block and its interval from it."""
    from acmnet.evaluate.statistics import bootstrap_interval
    from acmnet.report.summary import floor_run_blocks

    rng = np.random.default_rng(0)
    hits = {"a@s0": rng.random(200) < 0.5, "a@s1": rng.random(200) < 0.5, "b": rng.random(200) < 0.5}
    ranks = pd.concat([_ranks(n, h) for n, h in hits.items()], ignore_index=True)
    metrics = pd.DataFrame(
        {"dataset": "d", "queries": "q", "method": list(hits), "R@1": 50.0, "R@1_lo": 45.0, "R@1_hi": 55.0}
    ).assign(bootstrap_block=[1, 12, 9])
    summary = pd.DataFrame({"dataset": ["d"], "queries": ["q"], "bootstrap_block": [9]})
    ev = config_from_dict({"datasets": {"d": {"type": "nordland", "root": "."}}}).evaluate
    floored = floor_run_blocks(metrics, ranks, summary, ev).set_index("method")
    assert floored["bootstrap_block"].tolist() == [9, 12, 9]
    lo, hi = bootstrap_interval(np.where(hits["a@s0"], 1, 0), [1], 1000, 0, 0.95, block=9)[1]
    assert (floored.loc["a@s0", "R@1_lo"], floored.loc["a@s0", "R@1_hi"]) == (round(lo, 2), round(hi, 2))
    assert floored.loc[["a@s1", "b"], "R@1_lo"].tolist() == [45.0, 45.0]  # at or above the pooled block: kept
