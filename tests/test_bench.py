"""The benchmark scripts' arithmetic (their timings are not tests)."""

import math

import numpy as np
import pytest

from acmnet.config_loader import load_config
from bench.paper_cost import H200_IMAGES_PER_S, MARGIN, jobs
from tests.conftest import REPO


def test_paper_cost_counts_every_training_job_and_the_slurm_runtime_follows_from_it():
    cfg = load_config(REPO / "config" / "config.yaml")
    table = jobs(cfg, {})
    assert len(table) == 8 * 3  # eight trained rows on three datasets
    # issue 24: the losses as printed each have an ablation row; the full model described with E(x)
    # shares acmnet's training run and costs no job of its own
    assert {"acmnet_eq10", "acmnet_rotation_sum"} <= set(table["method"])
    assert cfg.train_for("acmnet_eq10").contrastive == "eq10"
    assert cfg.train_for("acmnet_rotation_sum").rotation_reduction == "sum"
    assert cfg.methods["acmnet_encoder"].options.descriptor == "encoder" and "acmnet_encoder" not in set(
        table["method"]
    )
    nordland = table[(table["method"] == "acmnet") & (table["dataset"] == "nordland")].iloc[0]
    assert nordland["images_per_epoch"] == (24570 // 64) * 64 and nordland["epochs"] == 1000
    hours = table["epochs"] * table["images_per_epoch"] / H200_IMAGES_PER_S / 3600
    assert hours.sum() == pytest.approx(126.8, abs=0.5)
    assert cfg.resources.train_runtime == math.ceil(hours.max() * 60 * MARGIN)


def test_identical_allows_ties_that_run_past_the_end_of_the_list():
    """A reference tied with the last listed score may be listed by either tool (ours: the lower
    index); a different index above the last score, or different score bits, is not identical."""
    import numpy as np

    from bench.retrieval_speed import identical

    scores = np.array([[0.9, 0.5, 0.3]], np.float32)
    ours = (scores, np.array([[4, 7, 2]]))
    assert identical(ours, (scores, np.array([[4, 7, 9]])))  # reference 9 ties with 2 at 0.3, past the list
    assert not identical(ours, (scores, np.array([[4, 8, 2]])))
    assert not identical(ours, (np.nextafter(scores, 1.0), np.array([[4, 7, 2]])))


def test_matches_memory_writes_the_matrix_it_reads(tmp_path):
    """bench.matches_memory's writer (row blocks into an .npz member) gives the file np.load reads,
    and the stored-matches reader ranks it in blocks as a whole-matrix stable sort does."""
    from acmnet.evaluate.matches import read_matches
    from bench.matches_memory import write_scores

    path = tmp_path / "s.npz"
    write_scores(path, 50, 40, seed=0, rows=7)
    scores = np.load(path)["scores"]
    assert scores.shape == (50, 40) and scores.dtype == np.float32
    names = [f"q{i}" for i in range(50)], [f"r{i}" for i in range(40)]
    found = read_matches(path, *names, top_k=5, needed=5, block_bytes=40 * 17 * 3)  # blocks of 3 rows
    np.testing.assert_array_equal(found.indices, np.argsort(-scores, axis=1, kind="stable")[:, :5])
