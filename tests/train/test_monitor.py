"""The health measures against closed forms, lightly's own tests and Wang and Isola's reference code."""

import importlib.machinery
import importlib.util
import math

import pytest
import torch

from acmnet.train.logger import write_log
from acmnet.train.monitor import (
    alignment,
    collapse_markdown,
    collapse_measure,
    collapse_warning,
    std_of_l2_normalized,
    uniformity,
)
from tests.conftest import REPO


def _vendored(name: str, path: str):
    """A module from the verbatim source file tests/data/<path> (a .txt, which lint leaves as written)."""
    loader = importlib.machinery.SourceFileLoader(name, str(REPO / "tests" / "data" / path))
    spec = importlib.util.spec_from_loader(name, loader)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


LIGHTLY = _vendored("lightly_debug", "lightly/debug.py.txt")
WANG_ISOLA = _vendored("align_uniform", "align_uniform/align_uniform.py.txt")
BATCH_SIZE = DIMENSION = 10  # lightly's tests/utils/test_debug.py


def test_collapsed_outputs_measure_zero():  # lightly: test_std_of_l2_normalized_collapsed
    z = torch.ones(BATCH_SIZE, DIMENSION)
    assert std_of_l2_normalized(z) == 0.0
    assert collapse_measure(z) == 0.0


def test_orthonormal_outputs_measure_one_over_sqrt_d():  # lightly: test_std_of_l2_normalized_uniform
    z = torch.eye(BATCH_SIZE)
    assert abs(std_of_l2_normalized(z) - 1 / math.sqrt(z.shape[1])) <= 1e-5
    assert collapse_measure(z).item() == pytest.approx(1.0, abs=1e-5)


def test_isotropic_gaussian_outputs_measure_about_one():
    z = torch.randn(4096, 256, generator=torch.Generator().manual_seed(0))
    assert collapse_measure(z).item() == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize("shape", [(BATCH_SIZE,), (BATCH_SIZE, BATCH_SIZE, DIMENSION)])
def test_outputs_that_are_not_a_batch_of_vectors_are_refused(shape):  # lightly: test_std_of_l2_normalized_raises
    with pytest.raises(ValueError):
        std_of_l2_normalized(torch.zeros(shape))


def test_equals_lightly_on_random_outputs():
    z = torch.randn(64, 1024, generator=torch.Generator().manual_seed(1)) * 3 + 1
    assert std_of_l2_normalized(z).item() == pytest.approx(LIGHTLY.std_of_l2_normalized(z).item(), rel=1e-6)


def test_alignment_closed_forms():
    x = torch.nn.functional.normalize(torch.randn(8, 5), dim=1)
    assert alignment(x, x).item() == pytest.approx(0.0, abs=1e-7)
    assert alignment(x, -x).item() == pytest.approx(4.0)  # antipodal: ||2x||^2
    assert alignment(x, 3 * x).item() == pytest.approx(0.0, abs=1e-6)  # normalised first


def test_uniformity_closed_forms():
    assert uniformity(torch.ones(6, 4)).item() == pytest.approx(0.0, abs=1e-7)  # collapsed: exp(0)
    assert uniformity(torch.eye(6)).item() == pytest.approx(-4.0)  # every pair at squared distance 2, t = 2
    with pytest.raises(ValueError):
        uniformity(torch.ones(1, 4))


def test_equal_wang_and_isola_on_normalised_outputs():
    gen = torch.Generator().manual_seed(2)
    x, y = (torch.nn.functional.normalize(torch.randn(32, 16, generator=gen), dim=1) for _ in range(2))
    assert alignment(x, y).item() == pytest.approx(WANG_ISOLA.align_loss(x, y, alpha=2).item(), rel=1e-6)
    assert uniformity(x).item() == pytest.approx(WANG_ISOLA.uniform_loss(x, t=2).item(), rel=1e-6)


def test_warning_below_the_threshold_only():
    assert collapse_warning(0.5, 0.1, 3, "train acmnet") is None
    assert collapse_warning(float("nan"), 0.1, 3, "train acmnet") is None  # not measured
    text = collapse_warning(0.01, 0.1, 3, "train acmnet")
    assert "epoch 3" in text and "train.collapse_threshold = 0.1" in text and "0.0100" in text


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
