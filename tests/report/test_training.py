"""The report's collapse warning, from the runs' train_log.csv files."""

from acmnet.report.training import collapse_markdown
from acmnet.train.logger import write_log


def test_flagged_epochs_are_named_with_their_run_and_lowest_measure(tmp_path):
    healthy, collapsed = tmp_path / "healthy.csv", tmp_path / "collapsed.csv"
    write_log([{"epoch": e, "collapse_std": 0.8, "collapsed": 0} for e in (1, 2, 3)], healthy)
    measures = {1: 0.5, 2: 0.05, 3: 0.01, 4: 0.02}
    write_log([{"epoch": e, "collapse_std": m, "collapsed": int(m < 0.1)} for e, m in measures.items()], collapsed)
    text = collapse_markdown([healthy, collapsed])
    assert text.startswith("**Warning: training may have collapsed**")
    assert f"- {collapsed}: 3 epoch(s) flagged, 2 to 4; lowest collapse measure 0.0100 at epoch 3" in text
    assert str(healthy) not in text
    assert collapse_markdown([healthy]) == ""
