"""`acmnet report`: every metrics and curve file is checked before anything is written."""

import pandas as pd
import pytest

from acmnet.artifacts import ArtifactError, provenance, save_table, table_provenance
from acmnet.config import config_from_dict
from acmnet.report.results import write_report

CFG = config_from_dict({"datasets": {"d": {"type": "folder_pair", "root": ".", "reference": "a", "query": "b"}}})


def _metrics(path, r1=(40.0, 20.0), methods=("acmnet", "imagenet_avg"), ours=True):
    frame = pd.DataFrame(
        {
            "dataset": "d",
            "queries": "night",
            "method": list(methods),
            "R@1": list(r1),
            "R@5": [60.0, 30.0],
            "R@10": [70.0, 35.0],
            "n_queries": 10,
            "n_references": 10,
            "tolerance": 2,
        }
    )
    if ours:
        save_table(frame, path, provenance("score", {}))
    else:
        frame.to_csv(path, index=False)
    return path


def _curves(path):
    pd.DataFrame({"dataset": "d", "queries": "night", "method": "acmnet", "N": [1, 2], "recall": [40.0, 50.0]}).to_csv(
        path, index=False
    )
    return path


def _outputs(tmp_path):
    return [
        tmp_path / "out" / "metrics.csv",
        tmp_path / "out" / "recall.tex",
        [tmp_path / "out" / "curves.png"],
        tmp_path / "out" / "config.yaml",
    ]


def test_report_writes_the_merged_table_with_its_provenance(tmp_path):
    out_metrics, table, figures, config = _outputs(tmp_path)
    merged = write_report(
        CFG, [_metrics(tmp_path / "m.csv")], [_curves(tmp_path / "c.csv")], out_metrics, table, figures, config
    )
    assert merged["R@1"].tolist() == [40.0, 20.0]
    assert table_provenance(out_metrics).sources["metrics[0]"].path == str(tmp_path / "m.csv")
    assert "experiment: paper" in config.read_text() and figures[0].stat().st_size > 1000


@pytest.mark.parametrize(
    "bad, message",
    [
        ("n/a", r"column 'R@1' must hold numbers in \[0, 100\]; got 'n/a' on data row 2"),
        ("forty", r"column 'R@1' must hold numbers in \[0, 100\]; got 'forty'"),
        (140.0, r"column 'R@1' must hold numbers in \[0, 100\]; got 140"),
    ],
)
def test_a_metrics_file_with_a_bad_value_is_refused_and_nothing_is_written(tmp_path, bad, message):
    path = _metrics(tmp_path / "m.csv", ours=False)
    frame = pd.read_csv(path).astype({"R@1": object})
    frame.loc[1, "R@1"] = bad
    frame.to_csv(path, index=False)
    out_metrics, table, figures, config = _outputs(tmp_path)
    with pytest.raises(ArtifactError, match=message):
        write_report(CFG, [path], [_curves(tmp_path / "c.csv")], out_metrics, table, figures, config)
    assert not (tmp_path / "out").exists()


def test_fractions_are_refused_unless_the_file_is_ours(tmp_path):
    frame = pd.read_csv(_metrics(tmp_path / "m.csv", ours=False))
    for col in ("R@1", "R@5", "R@10"):
        frame[col] = frame[col] / 100
    frame.to_csv(tmp_path / "fractions.csv", index=False)
    out_metrics, table, figures, _ = _outputs(tmp_path)
    with pytest.raises(ArtifactError, match=r"fractions.csv: every recall value is at most 1.*multiply them by 100"):
        write_report(CFG, [tmp_path / "fractions.csv"], [_curves(tmp_path / "c.csv")], out_metrics, table, figures)
    save_table(frame, tmp_path / "ours.csv", provenance("score", {}))  # written by `acmnet score`: percent, however low
    write_report(CFG, [tmp_path / "ours.csv"], [_curves(tmp_path / "c.csv")], out_metrics, table, figures)
    assert pd.read_csv(out_metrics)["R@1"].tolist() == [0.4, 0.2]


def test_a_broken_curve_file_is_refused_before_the_metrics_are_written(tmp_path):
    (tmp_path / "c.csv").write_text("dataset,queries,method,N,recall\nd,night,acmnet,1,abc\n")
    out_metrics, table, figures, config = _outputs(tmp_path)
    with pytest.raises(ArtifactError, match=r"c.csv: column 'recall'"):
        write_report(CFG, [_metrics(tmp_path / "m.csv")], [tmp_path / "c.csv"], out_metrics, table, figures, config)
    assert not out_metrics.exists()
