"""The report's paragraph on training health: every epoch a run's `train_log.csv` flags as collapsed
(`collapsed` = 1: its collapse measure fell below `train.collapse_threshold`, acmnet/train/monitor.py)."""

from __future__ import annotations

import csv
from pathlib import Path


def collapse_markdown(train_logs: list[Path]) -> str:
    """A warning paragraph naming each train log with flagged epochs (first, last, lowest measure), or ''."""
    lines = []
    for path in train_logs:
        with open(path, newline="") as fh:
            flagged = [row for row in csv.DictReader(fh) if row.get("collapsed") == "1"]
        if flagged:
            low = min(flagged, key=lambda r: float(r["collapse_std"]))
            lines.append(
                f"- {path}: {len(flagged)} epoch(s) flagged, {flagged[0]['epoch']} to {flagged[-1]['epoch']}; lowest "
                f"collapse measure {float(low['collapse_std']):.4f} at epoch {low['epoch']}"
            )
    if not lines:
        return ""
    return (
        "**Warning: training may have collapsed** (the std of the L2-normalised projector outputs times sqrt(d) fell "
        "below train.collapse_threshold; ~1 is healthy, 0 is one output for every image): the rows of these runs "
        "may measure a collapsed model.\n" + "\n".join(lines)
    )
