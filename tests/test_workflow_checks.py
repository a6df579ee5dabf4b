"""The workflow's optional checks: batch invariance per row (evaluate.check_invariance) reaches the report."""

from __future__ import annotations

from tests.conftest import REPO
from tests.test_workflow import _snakemake


def test_check_invariance_plans_one_job_per_described_row_and_hands_them_to_the_report(tmp_path):
    demo = str(REPO / "config" / "demo.yaml")
    out = _snakemake(["-n", "-p", "--cores", "1", "--configfile", demo], cwd=tmp_path).stdout
    assert "rule check_invariance:" not in out and "--invariance" not in out  # off by default
    switch = "evaluate={check_invariance: true}"
    out = _snakemake(["-n", "-p", "--cores", "1", "--configfile", demo, "--config", switch], cwd=tmp_path).stdout
    jobs = [block for block in out.split("\n\n") if "rule check_invariance:" in block]
    planned = sorted(b.split("wildcards: ")[1].split("\n")[0] for b in jobs)
    assert planned == [f"dataset=demo_route, method={m}" for m in ("acmnet", "acmnet_places", "imagenet_avg")]
    (report,) = [block for block in out.split("\n\n") if "rule report:" in block]
    assert report.count("invariance.csv") >= 6  # three inputs, and the same three on its command line
    assert "--invariance" in report
