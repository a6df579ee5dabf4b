"""The paper's Tables 2-4 as standalone LaTeX: published rows as printed, our rows, marks, captions."""

from __future__ import annotations

import re
import shutil
import subprocess
import warnings
from pathlib import Path

import pandas as pd
import pytest

from acmnet.config_loader import config_from_dict
from acmnet.report.paper_tables import PaperTablesError, render_paper_tables
from acmnet.report.published import TABLE4_CONDITIONS, TABLE4_THRESHOLDS, load_published

METRICS_HEADER = ["dataset", "queries", "method", "R@1", "R@5", "R@10", "n_queries", "n_references", "tolerance"]


def write_metrics(path: Path, rows: list[tuple]) -> Path:
    pd.DataFrame(rows, columns=METRICS_HEADER[: len(rows[0])]).to_csv(path, index=False)
    return path


def nordland(
    method: str, r1: float, r5: float = 10.0, r10: float = 20.0, queries: str = "winter", dataset: str = "nordland"
):
    return (dataset, queries, method, r1, r5, r10, 3450, 3450, 2)


# Dataset name -> paper table, as a config with these dataset types would say it.
NAMES = {"nordland": "table2", "alderley": "table3"}


def render(tmp_path: Path, **kwargs) -> dict[str, str]:
    paths = render_paper_tables(tmp_path / "out", **kwargs)
    assert [p.name for p in paths] == ["table2.tex", "table3.tex", "table4.tex"]
    return {p.stem: p.read_text() for p in paths}


def row_line(tex: str, label: str) -> str:
    lines = [line for line in tex.splitlines() if line.startswith(label + " & ")]
    assert len(lines) == 1, (label, lines)
    return lines[0]


def cells(line: str) -> list[str]:
    return [c.strip() for c in line.removesuffix(r"\\").strip().split(" & ")[1:]]


def plain(cell: str) -> str:
    return re.sub(r"^\\text(?:bf|it)\{(.*)\}$", r"\1", cell)


def robotcar_csv(
    path: Path, value, method="acmnet", query_set: str | None = "train", skip=(), condition_name=None
) -> Path:
    records = []
    for cond in TABLE4_CONDITIONS:
        for k, (m, deg) in enumerate(TABLE4_THRESHOLDS):
            if (cond, k) in skip:
                continue
            rec = {
                "method": method,
                "condition": (condition_name or {}).get(cond, cond),
                "threshold_m": m,
                "threshold_deg": deg,
                "value": value(cond, k),
                "n_queries": 100,
            }
            if query_set is not None:
                rec["query_set"] = query_set
            records.append(rec)
    pd.DataFrame.from_records(records).to_csv(path, index=False)
    return path


@pytest.fixture
def cfg():
    return config_from_dict(
        {
            "datasets": {"nordland": {"type": "nordland", "root": ".", "tolerance": 2}},
            "methods": {"acmnet": {"kind": "acmnet"}, "imagenet_avg": {"kind": "pretrained", "pool": "avg"}},
        }
    )


def test_published_only_holds_every_published_number_as_printed(tmp_path):
    tex = render(tmp_path)
    pub = load_published()
    for table in ("table2", "table3", "table4"):
        t = tex[table]
        assert (
            t.startswith(r"\documentclass") and r"\usepackage{booktabs}" in t and t.rstrip().endswith(r"\end{document}")
        )
        assert "(ours, " not in t and "No measured rows" in t
        for row in pub.tables[table].rows:
            label = "ACM-Net (published)" if row.ours_in_paper else row.label
            expected = [row.values[k].printed for k in row.values]  # columns / (condition, threshold) in paper order
            assert [plain(c) for c in cells(row_line(t, label))] == expected, (table, label)
    # spot checks, as printed (not re-rounded)
    assert cells(row_line(tex["table3"], "Seqslam [26]")) == ["9.90"]
    assert cells(row_line(tex["table3"], "CIM [8]")) == ["7.82"]
    assert [plain(c) for c in cells(row_line(tex["table2"], "Patch-NetVLAD [15]"))] == ["46.4", "58.0", "60.4"]
    assert plain(cells(row_line(tex["table4"], "TransVPR [47]"))[5]) == "100.0"  # dusk, 5 m / 10 deg
    assert "ACM-Net (Ours)" not in tex["table2"]


def test_published_only_marks_match_the_paper(tmp_path):
    tex = render(tmp_path)
    assert cells(row_line(tex["table2"], "TransVPR [47]")) == [r"\textbf{58.8}", r"\textbf{75.0}", r"\textit{78.7}"]
    assert cells(row_line(tex["table2"], "ACM-Net (published)")) == [
        r"\textit{53.0}",
        r"\textit{73.8}",
        r"\textbf{80.2}",
    ]
    assert cells(row_line(tex["table3"], "ACM-Net (published)")) == [r"\textbf{25.2}"]
    # Table 3 prints the best alone (bold), as published.yaml records it: no italic second (AFD's 21.0)
    assert cells(row_line(tex["table3"], "AFD [40]")) == ["21.0"] and r"\textit" not in tex["table3"]
    assert "Best in bold, per column" in tex["table3"] and "second best" not in tex["table3"]
    t4 = cells(row_line(tex["table4"], "TransVPR [47]"))
    assert t4[0] == r"\textbf{18.5}" and t4[5] == r"\textbf{100.0}"
    # night-rain 5 m / 10 deg: DELG local 53.0 best, SuperGlue 31.8 second
    assert cells(row_line(tex["table4"], "DELG local [4]"))[-1] == r"\textbf{53.0}"
    assert cells(row_line(tex["table4"], "SuperGlue [37]"))[-1] == r"\textit{31.8}"
    # day/night groups and the paper's headers
    for token in (
        r"\multicolumn{21}{c}{Day conditions}",
        r"\multicolumn{6}{c}{Night conditions}",
        r"\multicolumn{3}{c}{OC-summer}",
        "m & .25 & .50 & 5.0",
        "deg & 2 & 5 & 10",
    ):
        assert token in tex["table4"], token


def test_measured_rows_recompute_the_marks(tmp_path, cfg):
    m = write_metrics(tmp_path / "metrics.csv", [nordland("acmnet", 60.0, 50.0, 81.04), nordland("imagenet_avg", 10.0)])
    tex = render(tmp_path, metrics=[m], cfg=cfg)
    t2 = tex["table2"]
    assert cells(row_line(t2, "ACM-Net (ours, acmnet)")) == [r"\textbf{60.0}", "50.0", r"\textbf{81.0}"]
    assert cells(row_line(t2, "TransVPR [47]")) == [r"\textit{58.8}", r"\textbf{75.0}", "78.7"]
    assert cells(row_line(t2, "ACM-Net (published)")) == ["53.0", r"\textit{73.8}", r"\textit{80.2}"]
    # a frozen pretrained backbone is not labelled ACM-Net
    assert cells(row_line(t2, r"resnet50.a1\_in1k ImageNet, frozen, average-pooled (ours, imagenet\_avg)")) == [
        "10.0",
        "10.0",
        "20.0",
    ]
    # ours after the published rows, behind a rule
    lines = t2.splitlines()
    assert lines.index(row_line(t2, "ACM-Net (ours, acmnet)")) == lines.index(row_line(t2, "ACM-Net (published)")) + 2
    # the other tables are untouched
    assert "(ours, " not in tex["table3"] and "(ours, " not in tex["table4"]


def test_ties_share_the_mark_as_printed(tmp_path):
    # 75.04 prints as 75.0 and ties TransVPR; 25.2 ties the paper's Alderley row
    m = write_metrics(
        tmp_path / "metrics.csv",
        [nordland("acmnet", 58.8, 75.04, 10.0), ("alderley", "night", "acmnet", 25.2, 30.0, 40.0, 14607, 14607, 2)],
    )
    tex = render(tmp_path, metrics=[m], dataset_tables=NAMES)
    assert cells(row_line(tex["table2"], "ACM-Net (ours, acmnet)")) == [r"\textbf{58.8}", r"\textbf{75.0}", "10.0"]
    assert cells(row_line(tex["table2"], "TransVPR [47]"))[:2] == [r"\textbf{58.8}", r"\textbf{75.0}"]
    assert cells(row_line(tex["table2"], "ACM-Net (published)"))[:2] == [r"\textit{53.0}", r"\textit{73.8}"]
    assert cells(row_line(tex["table3"], "ACM-Net (ours, acmnet)")) == [r"\textbf{25.2}"]
    assert cells(row_line(tex["table3"], "ACM-Net (published)")) == [r"\textbf{25.2}"]
    # Table 3 prints the best alone (bold), as published.yaml records it: no italic second (AFD's 21.0)
    assert cells(row_line(tex["table3"], "AFD [40]")) == ["21.0"] and r"\textit" not in tex["table3"]
    assert "Best in bold, per column" in tex["table3"] and "second best" not in tex["table3"]


def test_caption_states_protocol_and_choices(tmp_path, cfg):
    m = write_metrics(tmp_path / "metrics.csv", [nordland("acmnet", 60.0)])
    tex = render(tmp_path, metrics=[m], cfg=cfg)
    cap = re.search(r"\\caption\{(.*)\}\n\\label", tex["table2"], re.S).group(1)
    for fragment in (
        "Nordland [39]",
        "Queries: winter; reference: summer",
        "Recall@N",
        r"tolerance $\pm$2 frames",
        "[47] Wang et al., 2022",
        "ACM-Net (published) is the paper's own row",
        r"dataset nordland, winter queries (3450) against 3450 references, tolerance $\pm$2",
        "ntxent",
        r"$\tau$=0.01",
        r"224$\times$224",
        "1000 epochs",
        "Best in bold, second best in italic",
    ):
        assert fragment in cap, fragment
    cap3 = re.search(r"\\caption\{(.*)\}\n\\label", tex["table3"], re.S).group(1)
    assert "Queries: night; reference: day" in cap3 and "[26] Milford and Wyeth, 2012" in cap3
    assert "No measured rows" in cap3 and "ntxent" not in cap3  # no rows of ours: no settings of ours
    cap4 = re.search(r"\\caption\{(.*)\}\n\\label", tex["table4"], re.S).group(1)
    assert "(0.25 m, 2 deg), (0.5 m, 5 deg), (5 m, 10 deg)" in cap4 and "Oxford RobotCar Seasons v2" in cap4


def test_underscores_in_method_and_dataset_names_are_escaped(tmp_path):
    m = write_metrics(
        tmp_path / "metrics.csv",
        [nordland("my_method", 1.0, dataset="nord_full"), nordland("other_one", 2.0, dataset="nord_full")],
    )
    tex = render(tmp_path, metrics=[m], dataset_tables={"nord_full": "table2"})["table2"]
    assert r"ACM-Net (ours, my\_method) & 1.0" in tex and r"dataset nord\_full" in tex
    assert not re.search(r"(?<!\\)_", tex.replace(r"\_", ""))


def test_dataset_mapping_and_query_sets(tmp_path):
    m = write_metrics(
        tmp_path / "metrics.csv",
        [
            nordland("acmnet", 60.0),
            nordland("acmnet", 1.0, queries="fall"),
            nordland("acmnet", 2.0, dataset="nordland64"),
        ],
    )
    with pytest.warns(UserWarning, match="fall"):
        tex = render(tmp_path, metrics=[m], dataset_tables=NAMES)
    assert (
        cells(row_line(tex["table2"], "ACM-Net (ours, acmnet)"))[0] == r"\textbf{60.0}"
    )  # winter only, nordland64 not mapped
    # two datasets mapped to one table: the dataset joins the label
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tex = render(tmp_path, metrics=[m], dataset_tables={"nordland": "table2", "nordland64": "table2"})
    assert "ACM-Net (ours, acmnet; nordland64) & 2.0" in tex["table2"]
    with pytest.raises(ValueError, match="robotcar_scores"):
        render_paper_tables(tmp_path / "x", metrics=[m], dataset_tables={"nordland": "table4"})
    with pytest.raises(ValueError, match="need the config of the run"):
        render_paper_tables(tmp_path / "x", metrics=[m])


def test_the_table_of_a_dataset_is_its_types_not_its_names(tmp_path):
    m = write_metrics(
        tmp_path / "metrics.csv",
        [nordland("acmnet", 60.0, dataset="olid"), nordland("acmnet", 7.0, dataset="nordland")],
    )
    cfg = config_from_dict(
        {"datasets": {"olid": {"type": "nordland", "root": "."}, "nordland": {"type": "nordland64", "root": "."}}}
    )
    tex = render(tmp_path, metrics=[m], cfg=cfg)
    assert cells(row_line(tex["table2"], "ACM-Net (ours, acmnet)"))[0] == r"\textbf{60.0}"
    assert "7.0" not in tex["table2"]


def test_metrics_errors_name_the_file(tmp_path):
    lacking = tmp_path / "lacking.csv"
    pd.DataFrame({"dataset": ["nordland"], "method": ["a"], "R@1": [1.0]}).to_csv(lacking, index=False)
    with pytest.raises(ValueError, match=r"lacking\.csv.*lacks column\(s\) \['queries'"):
        render_paper_tables(tmp_path / "out", metrics=[lacking], dataset_tables=NAMES)
    no_r10 = write_metrics(tmp_path / "no_r10.csv", [nordland("a", 1.0)])
    pd.read_csv(no_r10).drop(columns=["R@10"]).to_csv(no_r10, index=False)
    with pytest.raises(ValueError, match=r"no_r10\.csv.*\['R@10'\].*table2"):
        render_paper_tables(tmp_path / "out", metrics=[no_r10], dataset_tables=NAMES)
    twice = write_metrics(tmp_path / "twice.csv", [nordland("acmnet", 1.0), nordland("acmnet", 2.0)])
    with pytest.raises(ValueError, match=r"twice\.csv.*'nordland'.*twice in this file.*'acmnet'"):
        render_paper_tables(tmp_path / "out", metrics=[twice], dataset_tables=NAMES)
    a = write_metrics(tmp_path / "a.csv", [nordland("acmnet", 1.0)])
    b = write_metrics(tmp_path / "b.csv", [nordland("acmnet", 2.0)])
    with pytest.raises(ValueError, match=r"b\.csv.*also in .*a\.csv"):
        render_paper_tables(tmp_path / "out", metrics=[a, b], dataset_tables=NAMES)
    bad = write_metrics(tmp_path / "bad.csv", [nordland("acmnet", 101.0)])
    with pytest.raises(ValueError, match=r"bad\.csv.*'R@1'.*\[0, 100\]"):
        render_paper_tables(tmp_path / "out", metrics=[bad], dataset_tables=NAMES)
    with pytest.raises(FileNotFoundError, match="missing.csv"):
        render_paper_tables(tmp_path / "out", metrics=[tmp_path / "missing.csv"], dataset_tables=NAMES)
    assert not (tmp_path / "out").exists()  # nothing written on error


def test_robotcar_scores_join_table4(tmp_path, cfg):
    scores = robotcar_csv(
        tmp_path / "rc.csv",
        lambda c, k: 20.0 if (c, k) == ("dawn", 0) else 1.0,
        skip={("night-rain", 2)},
        condition_name={"overcast-summer": "OC-summer", "night-rain": "Night_Rain"},
    )
    tex = render(tmp_path, robotcar_scores=scores, cfg=cfg)["table4"]
    line = row_line(tex, "ACM-Net (ours, acmnet; local score, train-split queries)")
    got = cells(line)
    # issue 24: a local train-split score is not ranked against the server-scored test rows
    assert len(got) == 27 and got[0] == "20.0" and got[-1] == "--" and got[1] == "1.0"
    assert cells(row_line(tex, "TransVPR [47]"))[0] == r"\textbf{18.5}"
    lines = tex.splitlines()
    assert lines[lines.index(line) - 1] == r"\midrule" and "(below the last rule, not ranked)" in tex
    assert "not directly comparable" in tex and "train-split queries (800 queries over 8 conditions)" not in tex
    assert "(900 queries over 9 conditions)" in tex and "experiment paper" in tex
    # no query_set column: the benchmark's test queries, no local-score flag
    plain_scores = robotcar_csv(tmp_path / "rc2.csv", lambda c, k: 2.0, query_set=None)
    tex = render(tmp_path, robotcar_scores=plain_scores)["table4"]
    assert "ACM-Net (ours, acmnet) & " in tex and "local score" not in tex


@pytest.mark.parametrize(
    "problem, match",
    [
        ("condition", r"rc\.csv: unknown condition 'fog'"),
        ("threshold", r"rc\.csv: threshold \(1 m, 2 deg\)"),
        ("duplicate", r"rc\.csv: method 'acmnet', query set 'train', condition 'dawn'.*twice"),
        ("columns", r"rc\.csv: RobotCar scores file lacks column\(s\) \['threshold_deg'\]"),
        ("value", r"rc\.csv: column 'value'"),
    ],
)
def test_robotcar_errors_name_the_file(tmp_path, problem, match):
    path = robotcar_csv(tmp_path / "rc.csv", lambda c, k: 1.0)
    frame = pd.read_csv(path)
    if problem == "condition":
        frame.loc[3, "condition"] = "fog"
    elif problem == "threshold":
        frame.loc[0, "threshold_m"] = 1.0
    elif problem == "duplicate":
        frame = pd.concat([frame, frame.iloc[[0]]])
    elif problem == "columns":
        frame = frame.drop(columns=["threshold_deg"])
    else:
        frame["value"] = frame["value"].astype(object)
        frame.loc[2, "value"] = "n/a"
    frame.to_csv(path, index=False)
    with pytest.raises(PaperTablesError, match=match):
        render_paper_tables(tmp_path / "out", robotcar_scores=path)


def test_robotcar_scores_of_several_files_are_checked_each_naming_the_users_file(tmp_path, capsys):
    """One file per method, as `acmnet localize` writes them: joined in Table 4; a bad row is named
    by its own file and row, a cell two files give names both; never a merged temporary file."""
    from acmnet.cli import main

    first = robotcar_csv(tmp_path / "acmnet.csv", lambda c, k: 1.0)
    second = robotcar_csv(tmp_path / "pixels.csv", lambda c, k: 2.0, method="pixels")
    tex = render_paper_tables(tmp_path / "out", robotcar_scores=[first, second])[2].read_text()
    assert "(ours, acmnet; local" in tex and "(ours, pixels; local" in tex
    frame = pd.read_csv(second)
    frame.loc[4, "condition"] = "fog"
    frame.to_csv(second, index=False)
    out = tmp_path / "cli"
    assert main(["tables", "--out", str(out), "--robotcar-scores", str(first), str(second)]) == 2
    err = capsys.readouterr().err
    assert f"{second}: unknown condition 'fog' on data row 5" in err and "robotcar_scores.csv" not in err, err
    again = robotcar_csv(tmp_path / "again.csv", lambda c, k: 3.0)  # acmnet's cells a second time
    with pytest.raises(PaperTablesError, match=rf"{re.escape(str(again))}: method 'acmnet'.*appears twice \(also in "):
        render_paper_tables(tmp_path / "out", robotcar_scores=[first, again])
    assert not out.exists()


def _localized(tmp_path: Path, empty: bool = False) -> Path:
    """A pose_accuracy.csv as `acmnet localize` writes it: the table and its provenance record beside it."""
    from acmnet.artifacts import provenance, save_table

    path = tmp_path / "pose_accuracy.csv"
    frame = pd.read_csv(robotcar_csv(tmp_path / "made.csv", lambda c, k: 40.0))
    columns = ["method", "query_set", "condition", "threshold_m", "threshold_deg", "value", "n_queries"]
    save_table(frame[columns].iloc[: 0 if empty else None], path, provenance("localize", {"method_name": "acmnet"}))
    return path


def test_a_hand_edited_pose_accuracy_is_refused_naming_the_step(tmp_path, capsys):
    from acmnet.cli import main

    path = _localized(tmp_path)
    assert "(ours, acmnet; local" in render(tmp_path, robotcar_scores=path)["table4"]
    path.write_text(path.read_text().replace(",40.0,", ",94.0,", 1))  # one number changed, by hand
    with pytest.raises(PaperTablesError, match=r"pose_accuracy\.csv was changed after `acmnet localize` wrote it"):
        render_paper_tables(tmp_path / "out", robotcar_scores=path)
    assert main(["tables", "--out", str(tmp_path / "cli"), "--robotcar-scores", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "run `acmnet localize` again" in err, err
    assert not (tmp_path / "cli").exists()


def test_a_pose_accuracy_without_rows_gives_table4_without_our_rows(tmp_path):
    """`acmnet localize` on a manifest without train-split queries writes the header alone."""
    path = _localized(tmp_path, empty=True)
    assert len(pd.read_csv(path)) == 0
    assert "(ours" not in render(tmp_path, robotcar_scores=path)["table4"]


def _latex_compiler() -> list[str] | None:
    for exe, args in (
        ("pdflatex", ["-interaction=nonstopmode", "-halt-on-error"]),
        ("latexmk", ["-pdf", "-interaction=nonstopmode", "-halt-on-error"]),
        ("tectonic", []),
    ):
        if shutil.which(exe):
            return [exe, *args]
    return None


@pytest.mark.e2e
@pytest.mark.parametrize("with_rows", [False, True], ids=["published-only", "with-measured-rows"])
def test_tables_compile(tmp_path, cfg, with_rows):
    compiler = _latex_compiler()
    if compiler is None:
        pytest.skip("no LaTeX compiler (pdflatex, latexmk or tectonic) on PATH")
    kwargs = {}
    if with_rows:
        kwargs["metrics"] = [
            write_metrics(
                tmp_path / "m.csv",
                [
                    nordland("acmnet", 60.0),
                    nordland("imagenet_avg", 5.0),
                    ("alderley", "night", "my_method", 30.0, 1.0, 2.0, 9, 9, 2),
                ],
            )
        ]
        kwargs["robotcar_scores"] = robotcar_csv(tmp_path / "rc.csv", lambda c, k: 50.0, skip={("sun", 1)})
        kwargs["cfg"] = cfg
    for path in render_paper_tables(tmp_path / "out", **kwargs):
        proc = subprocess.run([*compiler, path.name], cwd=path.parent, capture_output=True, text=True, timeout=180)
        assert proc.returncode == 0, f"{path.name} does not compile:\n{proc.stdout[-3000:]}"
        assert path.with_suffix(".pdf").is_file()


def test_labels_name_each_kind_of_method(tmp_path):
    from acmnet.config_loader import config_from_dict
    from acmnet.report.paper_tables import _method_label

    cfg = config_from_dict(
        {
            "methods": {
                "acmnet": {},
                "imagenet_gem": {"kind": "pretrained", "pool": "gem"},
                "pixels": {"kind": "pixels"},
            },
            "datasets": {"nordland": {"type": "nordland", "root": "."}},
        }
    )
    assert _method_label("acmnet", cfg).startswith("ACM-Net (ours")
    assert _method_label("imagenet_gem", cfg).startswith(r"resnet50.a1\_in1k ImageNet, frozen, GeM (p=3)-pooled")
    assert _method_label("pixels+seq10", cfg).startswith(
        "Raw pixels 64x32, patch-normalised (8 px), ranked by SSD (SeqSLAM: SAD) + sequence matching over its "
        "descriptors (10 queries)"
    )


def test_sequence_rows_sit_below_a_line_and_are_never_ranked(tmp_path):
    """A +seq row matches several queries at once: Table 2's marks come from single-image rows only."""
    m = write_metrics(tmp_path / "metrics.csv", [nordland("acmnet", 60.0), nordland("acmnet+seq10", 95.0)])
    tex = render(tmp_path, metrics=[m], dataset_tables={"nordland": "table2"})["table2"]
    single = cells(row_line(tex, "ACM-Net (ours, acmnet)"))
    label = "ACM-Net + sequence matching over its descriptors (10 queries) (ours, acmnet+seq10)"
    sequence = cells(row_line(tex, label))
    assert single[0] == r"\textbf{60.0}" and sequence[0] == "95.0"  # best of the single-image rows, seq unmarked
    lines = tex.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("ACM-Net + sequence matching"))
    assert lines[at - 1] == r"\midrule" and "not comparable with the single-image rows" in tex


def test_alderley_caption_states_the_query_count_measured_not_the_papers(tmp_path):
    """The measured count comes from the metrics (the manifest's query rows), never a hard-coded 14607."""
    cfg = config_from_dict(
        {"datasets": {"alderley": {"type": "alderley", "root": "."}}, "methods": {"acmnet": {"kind": "acmnet"}}}
    )
    m = write_metrics(tmp_path / "m.csv", [("alderley", "night", "acmnet", 20.0, 30.0, 40.0, 14512, 14607, 2)])
    tex = render(tmp_path, metrics=[m], cfg=cfg)["table3"]
    assert "night queries (14512) against 14607 references" in tex
    assert "the paper reports 14607 per sequence; the count measured is given with the rows" in tex
    assert "the paper's 14607" not in tex


def test_table4_local_rows_merge_seeds_as_mean_and_sd_below_a_rule(tmp_path, cfg):
    """Issue 24 item 2: one row per method over its seeds (mean ± sd, the count stated), unranked."""
    first = robotcar_csv(tmp_path / "s0.csv", lambda c, k: 80.0, method="acmnet@s0")
    second = robotcar_csv(tmp_path / "s1.csv", lambda c, k: 90.0 if k == 0 else 80.0, method="acmnet@s1")
    tex = render(tmp_path, robotcar_scores=[first, second], cfg=cfg)["table4"]
    assert "acmnet@s" not in tex.split(r"\begin{tabular}")[1]  # one row, not one per seed
    got = cells(row_line(tex, r"ACM-Net (ours, acmnet; local score, train-split queries; mean $\pm$ sd over 2 seeds)"))
    assert got[0] == r"85.0 $\pm$7.1" and got[1] == r"80.0 $\pm$0.0"  # sd over seeds (n - 1), never ranked
    assert "rows of 2 training seeds: mean $\\pm$ sd over the seeds" in tex


def test_table2_prints_the_interval_itself_over_queries_and_seeds(tmp_path, cfg):
    """Issue 24 item 6: [lo, hi], not a half-width of an asymmetric interval; seeds named where resampled."""
    row = dict(zip(METRICS_HEADER, nordland("acmnet", 81.2)))
    row |= {"R@1_lo": 73.0, "R@1_hi": 90.8, "n_seeds": 2}
    path = tmp_path / "summary.csv"
    pd.DataFrame([row]).to_csv(path, index=False)
    tex = render(tmp_path, metrics=[path], cfg=cfg)["table2"]
    assert cells(row_line(tex, "ACM-Net (ours, acmnet)"))[0] == r"\textbf{81.2} [73.0, 90.8]"
    assert (
        "in brackets the nominal 95\\% percentile bootstrap interval over queries and training seeds (rows with 2"
        in tex
    )
    assert "half-width" not in tex and "8.9" not in tex


def test_our_rows_signatures_are_in_the_caption(tmp_path):
    sig = "type:nordland|set:winter/summer|ref:3450|q:3450|pos:17242|gt:0123456789ab|rule:places±2|nopos:none|"
    sig += "img:224x224/resize|dim:1024|dtype:float32|sim:cos|k:25"
    frame = pd.DataFrame([nordland("acmnet", 40.0)], columns=METRICS_HEADER[:9]).assign(signature=sig)
    frame.to_csv(tmp_path / "m.csv", index=False)
    caption = render(tmp_path, metrics=[tmp_path / "m.csv"], dataset_tables=NAMES)["table2"]
    assert r"Protocol signatures (docs/statistics.md): sig " in caption
    assert r"rule:places$\pm$2|nopos:none|img:224x224/resize" in caption


def test_the_marks_of_each_table_are_read_from_published_yaml(tmp_path):
    """Issue 32 item 7: `marks` of published.yaml decides which marks a table prints."""
    import dataclasses

    from acmnet.report.published import load_published

    pub = load_published()
    assert dict(pub.tables["table3"].facts["marks"]) == {"best": "bold"}
    table2 = pub.tables["table2"]
    only_best = dataclasses.replace(table2, facts={**table2.facts, "marks": {"best": "bold"}})
    changed = dataclasses.replace(pub, tables={**pub.tables, "table2": only_best})
    tex = render(tmp_path, published=changed)
    assert cells(row_line(tex["table2"], "TransVPR [47]")) == [r"\textbf{58.8}", r"\textbf{75.0}", "78.7"]
    bad = dataclasses.replace(table2, facts={**table2.facts, "marks": {"best": "underline"}})
    with pytest.raises(ValueError, match=r"table2.marks \{'best': 'underline'\}"):
        render(tmp_path, published=dataclasses.replace(pub, tables={**pub.tables, "table2": bad}))


def test_the_documented_server_scores_file_renders_a_ranked_test_row(tmp_path, cfg):
    """Issue 32 item 6: docs/paper-run.md's example file (the paper's ACM-Net row in the form the
    server's scores are written in) renders a `test` row ranked with the published rows: the same
    cells and marks as the paper's own row. Local rows alone: the caption says 'ours' is not the
    paper's measure."""
    from tests.conftest import REPO

    example = REPO / "docs" / "examples" / "robotcar_test_scores.csv"
    assert "](examples/robotcar_test_scores.csv)" in (REPO / "docs" / "paper-run.md").read_text()
    t4 = render(tmp_path, cfg=cfg, robotcar_scores=example)["table4"]
    ours, paper = cells(row_line(t4, "ACM-Net (ours, acmnet)")), cells(row_line(t4, "ACM-Net (published)"))
    assert ours == paper and any(r"\text" in c for c in ours)  # ranked: marked where the paper's row is
    assert "not the paper's measure" not in t4
    local = robotcar_csv(tmp_path / "local.csv", lambda c, k: 5.0, query_set="train")
    t4_local = render(tmp_path, cfg=cfg, robotcar_scores=local)["table4"]
    assert "'ours' here is not the paper's measure" in t4_local and "docs/paper-run.md" in t4_local
    label = "ACM-Net (ours, acmnet; local score, train-split queries)"
    assert all(r"\text" not in c for c in cells(row_line(t4_local, label)))


def test_every_printed_interval_level_says_nominal_and_points_to_the_coverage_note(tmp_path, cfg):
    """Issue 32 item 2: recall.tex, Tables 2-3 and summary.md print "nominal 95%" and the pointer."""
    from acmnet.report.summary import COVERAGE_NOTE, method_text
    from acmnet.report.tables import caption
    from tests.conftest import REPO

    assert (REPO / COVERAGE_NOTE.split(",")[0]).is_file()
    note = "Over queries"
    assert f"**{note}**" in (REPO / "docs" / "statistics.md").read_text() and note in COVERAGE_NOTE
    metrics = write_metrics(tmp_path / "m.csv", [nordland("acmnet", 50.0, 60.0, 70.0)])
    frame = pd.read_csv(metrics).assign(**{"R@1_lo": 45.0, "R@1_hi": 55.0})
    frame.to_csv(metrics, index=False)
    texts = {
        "table2": render(tmp_path, metrics=[metrics], cfg=cfg)["table2"],
        "recall.tex": caption(cfg),
        "summary.md": method_text(cfg.evaluate),
    }
    for name, text in texts.items():
        flat = text.replace("\\%", "%").replace("\\_", "_")
        assert "nominal 95%" in flat and COVERAGE_NOTE in flat, name
