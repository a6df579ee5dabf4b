"""`acmnet report` writes its outputs as one set: a failure or a stop leaves the previous set or none."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

import acmnet.report.results as results
from acmnet.config_loader import config_from_dict
from acmnet.report.results import ReportFiles, staged, write_report
from tests.conftest import REPO
from tests.report.test_results import _run_files

CONFIG = {
    "datasets": {"d": {"type": "folder_pair", "root": ".", "reference": "a", "query": "b"}},
    "methods": {"acmnet": {"kind": "pretrained"}, "pixels": {"kind": "pixels"}},
    "evaluate": {"bootstrap_resamples": 100},
}


def _outputs(tmp_path: Path) -> ReportFiles:
    out, fig = tmp_path / "results", tmp_path / "figures"  # two folders, as results/ and figures/
    return ReportFiles(
        out / "metrics.csv",
        out / "summary.csv",
        out / "summary.md",
        out / "tables" / "recall.tex",
        [fig / "curves.png", fig / "curves.pdf"],
        [fig / "seeds.png"],
        out / "config.yaml",
    )


def _runs(tmp_path: Path, r1: float) -> list[list[Path]]:
    rng = np.random.default_rng(0)
    (tmp_path / "in").mkdir(exist_ok=True)
    ranks = [rng.choice([0, 1], 100, p=[1 - r1, r1]), rng.choice([0, 1], 100, p=[0.8, 0.2])]
    return [_run_files(tmp_path / "in", name, r) for name, r in zip(("acmnet", "pixels"), ranks)]


def _report(tmp_path: Path, runs: list[list[Path]]) -> str:
    metrics, curves, ranks = (list(files) for files in zip(*runs))
    return write_report(config_from_dict(CONFIG), metrics, curves, ranks, _outputs(tmp_path))


def _state(tmp_path: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under the output folders (sidecars included) with its bytes and modification time."""
    found = {}
    for folder in ("results", "figures"):
        for p in sorted((tmp_path / folder).rglob("*")):
            if p.is_file():
                found[str(p.relative_to(tmp_path))] = (p.read_bytes(), p.stat().st_mtime_ns)
    return found


def _staging_left(tmp_path: Path) -> list[Path]:
    return [p for p in tmp_path.rglob(f"{results.STAGING_PREFIX}*")]


def test_a_failing_write_leaves_the_previous_outputs_untouched(tmp_path, monkeypatch, capsys):
    _report(tmp_path, _runs(tmp_path, 0.5))
    before = _state(tmp_path)
    assert "results/metrics.provenance.json" in before and "figures/curves.pdf" in before and len(before) == 10
    capsys.readouterr()

    def broken(*args, **kwargs):  # the last figure fails, after every table was (re)written
        raise OSError("disk full")

    monkeypatch.setattr(results, "seed_spread", broken)
    with pytest.raises(OSError, match="disk full"):
        _report(tmp_path, _runs(tmp_path, 0.9))
    assert _state(tmp_path) == before and not _staging_left(tmp_path)
    assert "the previous outputs are left as they were (all 8); none of the new ones" in capsys.readouterr().err
    monkeypatch.undo()
    _report(tmp_path, _runs(tmp_path, 0.9))  # and a report that completes replaces every one of them
    after = _state(tmp_path)
    assert after.keys() == before.keys() and all(after[k] != before[k] for k in before)


def test_a_failing_first_report_leaves_no_output(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(results, "recall_curves", lambda *a, **k: (_ for _ in ()).throw(ValueError("bad curve")))
    with pytest.raises(ValueError, match="bad curve"):
        _report(tmp_path, _runs(tmp_path, 0.5))
    assert _state(tmp_path) == {} and not _staging_left(tmp_path)
    assert "none of its 8 outputs was written (there were none before)" in capsys.readouterr().err


def test_a_rename_that_fails_midway_puts_the_previous_files_back(tmp_path, monkeypatch, capsys):
    targets = [tmp_path / "a" / "one.txt", tmp_path / "b" / "two.txt", tmp_path / "b" / "three.txt"]
    for t in targets[:2]:
        t.parent.mkdir(exist_ok=True)
        t.write_text(f"old {t.name}")
    real, calls = os.replace, []

    def failing(src, dst):  # the new two.txt cannot be put in place (once: putting the old one back works)
        if Path(dst).name == "two.txt" and results.STAGING_PREFIX not in str(dst) and not calls:
            calls.append(dst)
            raise PermissionError(f"cannot replace {dst}")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", failing)
    with pytest.raises(PermissionError), staged(targets, "test") as stage:
        for t in targets:
            stage(t).write_text(f"new {t.name}")
    monkeypatch.undo()
    assert [t.read_text() if t.exists() else None for t in targets] == ["old one.txt", "old two.txt", None]
    assert not _staging_left(tmp_path)
    assert "(2 of 3 existed: one.txt, two.txt); none of the new ones was written" in capsys.readouterr().err


def test_a_folder_where_an_output_goes_is_refused_before_anything_is_written(tmp_path):
    (tmp_path / "results" / "summary.md").mkdir(parents=True)
    with pytest.raises(IsADirectoryError, match=r"summary.md is a folder"):
        _report(tmp_path, _runs(tmp_path, 0.5))
    assert _state(tmp_path) == {}


def test_a_figure_without_a_known_extension_names_the_extensions_it_accepts(tmp_path):
    out = _outputs(tmp_path)
    for bad, said in (("curves", "no extension"), ("curves.jpgg", "extension `.jpgg`, which is not a figure format")):
        runs = _runs(tmp_path, 0.5)
        metrics, curves, ranks = (list(files) for files in zip(*runs))
        files = ReportFiles(
            out.metrics, out.summary, out.markdown, out.table, [out.curves[0].with_name(bad)], out.seeds
        )
        with pytest.raises(ValueError, match=rf"figure file \S+{bad} has {said}: .*give one of .*\.pdf.*\.png.*\.svg"):
            write_report(config_from_dict(CONFIG), metrics, curves, ranks, files)
        assert _state(tmp_path) == {}


SLOW_REPORT = """
import sys, time
from pathlib import Path
import acmnet.report.results as results
real = results.seed_spread
def slow(*args, **kwargs):  # the test's stand-in for a slow figure: written, then the signal arrives
    real(*args, **kwargs)
    Path(sys.argv[1]).write_text("writing")
    time.sleep(120)
results.seed_spread = slow
from acmnet.cli import main
sys.exit(main(sys.argv[2:]))
"""


def _report_args(tmp_path: Path, runs: list[list[Path]]) -> list[str]:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    out = _outputs(tmp_path)
    metrics, curves, ranks = (list(files) for files in zip(*runs))
    return (
        ["report", "--config", str(config), "--metrics", *map(str, metrics), "--curves", *map(str, curves)]
        + ["--ranks", *map(str, ranks), "--out-metrics", str(out.metrics), "--out-summary", str(out.summary)]
        + ["--out-markdown", str(out.markdown), "--out-table", str(out.table)]
        + ["--figures", *map(str, out.curves), "--seed-figures", *map(str, out.seeds)]
        + ["--out-config", str(out.config)]
    )


@pytest.mark.parametrize("previous", [True, False])
def test_a_report_stopped_by_sigterm_leaves_the_previous_outputs_or_none_and_says_which(tmp_path, previous):
    if previous:
        _report(tmp_path, _runs(tmp_path, 0.5))
    before = _state(tmp_path)
    marker = tmp_path / "writing"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg"}
    args = [sys.executable, "-c", SLOW_REPORT, str(marker), *_report_args(tmp_path, _runs(tmp_path, 0.9))]
    proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists(), proc.communicate(timeout=60)
    assert _staging_left(tmp_path)  # the new set is staged, beside results/ and figures/
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert _state(tmp_path) == before and not _staging_left(tmp_path)
    said = "the previous outputs are left as they were (all 8)" if previous else "none of its 8 outputs was written"
    assert f"acmnet report: {said}" in err and "stopped by a signal" in err


def test_the_retrieval_grid_names_the_extensions_it_accepts(tmp_path):
    from acmnet.report.figures import retrieval_grid

    image = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match=r"grid has no extension: the extension picks the format; give one of .*\.png"):
        retrieval_grid([image], [[image]], [[True]], ["q"], [tmp_path / "grid.png", tmp_path / "grid"])
    assert not list(tmp_path.iterdir())  # checked before the first file is written
    retrieval_grid([image], [[image]], [[True]], ["q"], [tmp_path / "grid.PNG"])
    assert (tmp_path / "grid.PNG").stat().st_size > 0
