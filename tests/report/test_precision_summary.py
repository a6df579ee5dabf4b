"""The summary's precision-recall columns: the resamples of R@N, intervals, paired tests, notes; costs."""

import numpy as np
import pandas as pd
import pytest

from acmnet.config_loader import config_from_dict
from acmnet.evaluate.precision import auc_pr, pr_numbers
from acmnet.evaluate.statistics import resampled_recall, resampled_statistic
from acmnet.report.precision import add_costs, add_precision, cost_markdown, precision_markdown
from acmnet.report.summary import summarise

ROUTE = {"type": "nordland", "root": "."}


def _ranks(name, correct, scores, positives=None, dataset="route"):
    q = len(correct)
    return pd.DataFrame(
        {
            "dataset": dataset,
            "queries": "winter",
            "method": name,
            "query_row": range(q),
            "first_hit": np.where(correct, 1, 0),
            "n_positives": np.ones(q, int) if positives is None else positives,
            "top1_score": scores,
        }
    )


def _cfg(block=None, resamples=400):
    return config_from_dict(
        {
            "datasets": {"route": ROUTE},
            "evaluate": {"recall_at": [1], "top_k": 1, "bootstrap_resamples": resamples, "bootstrap_block": block},
        }
    )


def _route(rng, q=600, length=30, recall=0.6):
    """Top-1 labels in stretches of `length` frames, and scores with a level of their own per
    stretch (a stretch's lighting or texture moves every similarity in it) besides the label's."""
    stretch = rng.random(q // length)
    correct = np.repeat(stretch < recall, length)
    scores = np.repeat(rng.normal(0, 0.3, q // length), length) + correct * 0.3 + rng.normal(0, 0.1, q)
    return correct, scores


def _summary(ranks, cfg):
    metrics = ranks.drop_duplicates(["dataset", "queries", "method"])[["dataset", "queries", "method"]]
    metrics = metrics.assign(n_queries=len(ranks["query_row"].unique()), n_references=100, tolerance=2)
    return add_precision(summarise(metrics, ranks, cfg), ranks, cfg).set_index("method")


def test_the_statistic_resamples_are_those_of_recall():
    """Same seed, block and seed counts: the same query positions and seeds drawn as R@N."""
    rng = np.random.default_rng(0)
    hits = [rng.random((2, 90)) < 0.6, rng.random((1, 90)) < 0.4, rng.random((3, 90)) < 0.5]
    want = resampled_recall([h.astype(float) for h in hits], 300, 7, block=5)
    got = resampled_statistic([(h,) for h in hits], lambda h: 100.0 * h.mean(), 300, 7, block=5)
    np.testing.assert_allclose(got, want, atol=1e-9)


def test_intervals_contain_estimates_and_blocks_widen_them_on_a_route():
    rng = np.random.default_rng(3)
    ranks = pd.concat(
        [_ranks(n, *_route(rng, recall=r)) for n, r in (("acmnet@s0", 0.6), ("acmnet@s1", 0.6), ("pixels", 0.4))]
    )
    iid, blocks = _summary(ranks, _cfg(block=1)), _summary(ranks, _cfg(block=30))
    for summary in (iid, blocks):
        assert (summary["AUC-PR_lo"] <= summary["AUC-PR"]).all() and (summary["AUC-PR"] <= summary["AUC-PR_hi"]).all()
        assert (summary["AUC-PR_hi"] - summary["AUC-PR_lo"] > 0).all()
    width = {name: s["AUC-PR_hi"] - s["AUC-PR_lo"] for name, s in (("iid", iid), ("blocks", blocks))}
    assert (width["blocks"] > 1.5 * width["iid"]).all(), width
    first = ranks[ranks["method"] == "pixels"]
    assert iid.loc["pixels", "AUC-PR"] == pytest.approx(auc_pr(first["first_hit"] == 1, first["top1_score"]), abs=1e-4)
    seeds = [ranks[ranks["method"] == f"acmnet@s{s}"] for s in (0, 1)]
    mean = np.mean([pr_numbers(r["first_hit"] == 1, r["top1_score"], r["n_positives"] > 0)["EP"] for r in seeds])
    assert iid.loc["acmnet", "EP"] == pytest.approx(mean, abs=1e-4)


def test_paired_test_against_the_best_and_degenerate_rows_are_empty_with_a_note():
    rng = np.random.default_rng(4)
    correct = rng.random(500) < 0.6
    good = correct * 0.5 + rng.normal(0, 0.1, 500)  # scores that separate right from wrong
    noise = rng.normal(0, 0.1, 500)  # scores that do not
    ranks = pd.concat(
        [
            _ranks("good", correct, good, dataset="route"),
            _ranks("noise", correct, noise, dataset="route"),
            _ranks("perfect", np.ones(500, bool), noise, dataset="route"),
        ]
    )
    summary = _summary(ranks, _cfg(block=1))
    assert summary.loc["good", "AUC-PR_p"] == 1.0 and summary.loc["good", "AUC-PR_same"]
    assert summary.loc["noise", "AUC-PR_p"] < 0.01 and not summary.loc["noise", "AUC-PR_same"]
    assert summary.loc["perfect", ["AUC-PR", "AUC-PR_lo", "AUC-PR_hi", "EP", "AUC-PR_tutorial"]].isna().all()
    assert "every top-1 is right" in summary.loc["perfect", "pr_note"]
    text = precision_markdown(summary.reset_index(), _cfg().evaluate)
    assert "vprbench" in text and "tutorial" in text and "createPR(matching='single')" in text
    assert "route/winter perfect: every top-1 is right" in text


def test_costs_are_averaged_over_seeds_and_external_rows_say_why_they_are_empty():
    metrics = pd.DataFrame(
        {
            "dataset": "route",
            "queries": "winter",
            "method": ["acmnet@s0", "acmnet@s1", "netvlad"],
            "dim": [128, 128, 4096],
            "bytes_per_image": [512, 512, 16384],
            "describe_ms_per_image": ["2.0", "4.0", ""],
            "search_ms_per_query": ["0.1", "0.3", "0.2"],
            "device": ["describe: CPU (2 threads); search: CPU, faiss (2 threads)"] * 2 + ["search: CPU"],
        }
    )
    summary = pd.DataFrame({"dataset": "route", "queries": "winter", "method": ["acmnet", "netvlad"]})
    costs = add_costs(summary, metrics).set_index("method")
    assert costs.loc["acmnet", "describe_ms_per_image"] == pytest.approx(3.0)
    assert costs.loc["acmnet", "search_ms_per_query"] == pytest.approx(0.2)
    assert np.isnan(costs.loc["netvlad", "describe_ms_per_image"]) and costs.loc["netvlad", "dim"] == 4096
    text = cost_markdown(costs.reset_index())
    assert "CPU (2 threads)" in text and "external rows" in text


def test_the_cost_note_names_each_device_once():
    """Issue 32 item 10: a +seq row's device ("describe: X") is not printed again beside its row's."""
    metrics = pd.DataFrame(
        {
            "dataset": "route",
            "queries": "winter",
            "method": ["a", "a+seq5"],
            "dim": [128, 128],
            "bytes_per_image": [512, 512],
            "describe_ms_per_image": ["2.0", "2.0"],
            "search_ms_per_query": ["0.1", ""],
            "device": ["describe: CPU (2 threads); search: CPU (faiss, 1 threads)", "describe: CPU (2 threads)"],
        }
    )
    summary = pd.DataFrame({"dataset": "route", "queries": "winter", "method": ["a", "a+seq5"]})
    text = cost_markdown(add_costs(summary, metrics))
    assert "Timed on describe: CPU (2 threads); search: CPU (faiss, 1 threads). " in text
    assert text.count("describe: CPU (2 threads)") == 1


def test_pr_figure_draws_both_conventions_and_names_a_degenerate_row(tmp_path, monkeypatch):
    import acmnet.report.figures as figures

    drawn = {}
    monkeypatch.setattr(figures, "_save", lambda fig, outs, dpi=150: drawn.update(fig=fig, outs=outs))
    rng = np.random.default_rng(5)
    correct = rng.random(80) < 0.5
    scores = correct * 0.4 + rng.normal(0, 0.2, 80)
    ranks = pd.concat(
        [
            _ranks("acmnet@s0", correct, scores),
            _ranks("acmnet@s1", correct, scores + rng.normal(0, 0.05, 80)),
            _ranks("acmnet+seq5", correct, scores),  # a sequence row: not drawn
            _ranks("pixels", np.ones(80, bool), scores),
        ]
    )
    figures.pr_curves(ranks, [tmp_path / "pr.png"])
    (ax,) = [a for a in drawn["fig"].axes if a.get_legend() is not None]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    runs = [ranks[ranks["method"] == f"acmnet@s{s}"] for s in (0, 1)]
    auc = np.mean([pr_numbers(r["first_hit"] == 1, r["top1_score"], r["n_positives"] > 0)["AUC-PR"] for r in runs])
    assert labels[0].startswith(f"acmnet: AUC-PR {auc:.3f} vprbench") and "tutorial" in labels[0]
    assert labels[1].startswith("pixels: degenerate (every top-1 is right")
    assert not any("seq" in label for label in labels)
    assert len([line for line in ax.get_lines() if len(line.get_xdata())]) == 4  # 2 seeds x 2 conventions


def test_auc_pr_of_a_four_query_set_gets_no_interval_and_no_test_as_recall_does():
    """Issue 33 item 4: one guard (`too_few`, in `query_resamples`) for every resampled statistic:
    four queries give R@N no interval, and AUC-PR none either (no "p = 0.0031")."""
    correct = {"a": [True, True, False, True], "b": [False, True, False, False]}
    scores = {"a": [0.9, 0.8, 0.3, 0.7], "b": [0.2, 0.9, 0.4, 0.1]}
    ranks = pd.concat([_ranks(n, np.array(correct[n]), np.array(scores[n])) for n in correct], ignore_index=True)
    summary = _summary(ranks, _cfg(block=1))
    assert summary[["R@1_lo", "R@1_hi", "R@1_p"]].isna().all().all()
    assert summary["AUC-PR"].notna().all()  # the estimate itself stays
    assert summary[["AUC-PR_lo", "AUC-PR_hi", "AUC-PR_p"]].isna().all().all() and not summary["AUC-PR_same"].any()
    text = precision_markdown(summary.reset_index(), _cfg(block=1).evaluate)
    assert "p =" not in text and "p <=" not in text and text.count("[no interval] (no test)") == 2


def test_every_resampled_statistic_refuses_too_few_queries_in_one_place():
    from acmnet.evaluate.statistics import TooFew, too_few

    hits = [np.ones((1, 4)), np.zeros((1, 4))]
    for resample in (
        lambda: resampled_recall(hits, 50, 0),
        lambda: resampled_statistic([(h,) for h in hits], np.mean, 50, 0),
        lambda: resampled_recall([np.ones((1, 9))], 50, 0, block=5),  # 9 queries, 1 block of 5
    ):
        with pytest.raises(TooFew) as err:
            resample()
        assert str(err.value) in (too_few(4, 1), too_few(9, 5))


def test_a_bar_in_a_name_keeps_the_precision_and_cost_tables_columns():
    """Issue 33 item 11: one escaping function for every Markdown table the report writes."""
    import re

    rng = np.random.default_rng(0)
    ranks = pd.concat([_ranks(n, *_route(rng, q=60, length=3)) for n in ("a|b", "c")], ignore_index=True)
    ranks["queries"] = "q|x"
    metrics = ranks.drop_duplicates(["dataset", "queries", "method"])[["dataset", "queries", "method"]]
    metrics = metrics.assign(n_queries=60, n_references=100, tolerance=2)
    costs = metrics.assign(dim=4, bytes_per_image=16, describe_ms_per_image=1.0, search_ms_per_query=0.1, device="x")
    summary = add_costs(add_precision(summarise(metrics, ranks, _cfg()), ranks, _cfg()), costs)
    for text in (precision_markdown(summary, _cfg().evaluate), cost_markdown(summary)):
        table = text.split("\n\n")[0].splitlines()
        assert len({len(re.findall(r"(?<!\\)\|", line)) for line in table}) == 1, table
        assert r"q\|x" in table[2] and r"a\|b" in table[2]


def test_every_markdown_table_of_the_report_goes_through_the_one_escaping_function():
    """Issue 33 item 11: `summary.markdown_table` is the only caller of tabulate's Markdown form in
    acmnet/report/, so a `|` in any name is escaped in every table the report writes."""
    from tests.conftest import REPO

    callers = [
        p.name
        for p in sorted((REPO / "acmnet" / "report").glob("*.py"))
        if 'tablefmt="github"' in p.read_text() or "tablefmt='github'" in p.read_text()
    ]
    assert callers == ["summary.py"]
