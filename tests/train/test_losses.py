import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from acmnet.train.losses import eq10, nt_xent, positive_alignment, rotation_loss


def _normalise(z):
    return z / np.linalg.norm(z, axis=1, keepdims=True)


def numpy_eq10(z0: np.ndarray, z1: np.ndarray, tau: float) -> float:
    """Eq. 9-10 transcribed literally: l_{a->b}(i), denominator over k != i and j in {0, 1}."""
    z = {0: _normalise(z0.astype(np.float64)), 1: _normalise(z1.astype(np.float64))}
    n = len(z0)
    total = 0.0
    for i in range(n):
        for a, b in ((0, 1), (1, 0)):
            num = z[a][i] @ z[b][i] / tau
            terms = [z[a][i] @ z[j][k] / tau for k in range(n) if k != i for j in (0, 1)]
            m = max(terms)
            total += -(num - (m + math.log(sum(math.exp(t - m) for t in terms))))
    return total / (2 * n)


def numpy_simclr(z0: np.ndarray, z1: np.ndarray, tau: float) -> float:
    """SimCLR NT-Xent: each of the 2N views against all 2N - 1 others (positive included)."""
    z = _normalise(np.concatenate([z0, z1]).astype(np.float64))
    n2 = len(z)
    n = n2 // 2
    total = 0.0
    for i in range(n2):
        pos = (i + n) % n2
        logits = np.array([z[i] @ z[k] / tau for k in range(n2) if k != i])
        m = logits.max()
        total += -(z[i] @ z[pos] / tau - (m + np.log(np.exp(logits - m).sum())))
    return total / n2


@pytest.mark.parametrize("tau", [0.5, 0.1, 0.01])
def test_losses_match_numpy_transcriptions(tau):
    rng = np.random.default_rng(0)
    z0, z1 = rng.normal(size=(6, 5)), rng.normal(size=(6, 5))
    t0, t1 = torch.tensor(z0, dtype=torch.float32), torch.tensor(z1, dtype=torch.float32)
    assert nt_xent(t0, t1, tau).item() == pytest.approx(numpy_simclr(z0, z1, tau), rel=1e-4, abs=1e-4)
    assert eq10(t0, t1, tau).item() == pytest.approx(numpy_eq10(z0, z1, tau), rel=1e-4, abs=1e-4)


def test_the_two_losses_differ_when_positives_are_close():
    rng = np.random.default_rng(1)
    z0 = rng.normal(size=(4, 8))
    z1 = z0 + 0.01 * rng.normal(size=(4, 8))
    t0, t1 = torch.tensor(z0, dtype=torch.float32), torch.tensor(z1, dtype=torch.float32)
    # With aligned positives, NT-Xent tends to 0 while eq. 10 (positive left out) goes negative.
    assert nt_xent(t0, t1, 0.1).item() > 0
    assert eq10(t0, t1, 0.1).item() < nt_xent(t0, t1, 0.1).item() - 1e-3


@pytest.mark.parametrize("n", [2, 5, 64])
def test_closed_form_when_every_embedding_is_equal(n):
    z = torch.ones(n, 16)
    assert nt_xent(z, z, 0.01).item() == pytest.approx(math.log(2 * n - 1), rel=1e-5)
    assert eq10(z, z, 0.01).item() == pytest.approx(math.log(2 * n - 2), rel=1e-5)


@pytest.mark.parametrize("loss", [nt_xent, eq10])
def test_finite_at_tau_001_under_bfloat16_inputs(loss):
    torch.manual_seed(0)
    z0 = torch.randn(64, 1024, dtype=torch.bfloat16, requires_grad=True)
    z1 = (z0.detach() + 0.001 * torch.randn_like(z0)).requires_grad_(True)
    value = loss(z0, z1, 0.01)
    value.backward()
    assert value.dtype == torch.float32
    assert torch.isfinite(value)
    assert torch.isfinite(z0.grad.float()).all() and torch.isfinite(z1.grad.float()).all()
    # The naive formula, exp(s / tau) in float32, overflows here (e^100 > 3.4e38): the loss
    # above stays finite only because it works with log-sum-exp.
    z = torch.nn.functional.normalize(torch.cat([z0, z1]).float(), dim=-1)
    assert torch.isinf(torch.exp(z @ z.T / 0.01)).any()


def test_rotation_loss_mean_and_sum():
    logits = torch.tensor([[2.0, 0.0, 0.0, 0.0], [0.0, 0.0, 3.0, 0.0]])
    labels = torch.tensor([0, 1])
    per_item = [-torch.log_softmax(logits[0], 0)[0], -torch.log_softmax(logits[1], 0)[1]]
    assert rotation_loss(logits, labels, "sum").item() == pytest.approx(sum(per_item).item(), rel=1e-6)
    assert rotation_loss(logits, labels, "mean").item() == pytest.approx(sum(per_item).item() / 2, rel=1e-6)


def test_positive_alignment_is_mean_cosine():
    z0 = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    z1 = torch.tensor([[1.0, 0.0], [2.0, 0.0]])
    assert positive_alignment(z0, z1).item() == pytest.approx(0.5)


@pytest.mark.parametrize("name", ["ntxent", "eq10"])
def test_contrastive_logits_stay_float32_inside_autocast(name):
    """Under bf16 autocast the similarity matmul would run in bf16 (logits off by up to ~0.5 at
    tau 0.01); the losses switch autocast off and match the float32 computation."""
    from acmnet.train.losses import CONTRASTIVE_LOSSES

    g = torch.Generator().manual_seed(0)
    z0, z1 = torch.randn(16, 64, generator=g), torch.randn(16, 64, generator=g)
    exact = CONTRASTIVE_LOSSES[name](z0, z1, 0.01)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = CONTRASTIVE_LOSSES[name](z0.bfloat16(), z1.bfloat16(), 0.01)
        naive = F.normalize(z0, dim=-1) @ F.normalize(z1, dim=-1).T / 0.01  # what autocast would compute
    assert mixed.dtype == torch.float32
    bf16_inputs = CONTRASTIVE_LOSSES[name](z0.bfloat16().float(), z1.bfloat16().float(), 0.01)
    torch.testing.assert_close(mixed, bf16_inputs, rtol=1e-6, atol=1e-6)  # only the inputs' rounding remains
    assert naive.dtype == torch.bfloat16
    exact_logits = F.normalize(z0, dim=-1) @ F.normalize(z1, dim=-1).T / 0.01
    assert (naive.float() - exact_logits).abs().max() > 0.05  # the error the guard removes
    assert abs(mixed.item() - exact.item()) < 0.05


@pytest.mark.parametrize("tau", [1.0, 0.5])
def test_eq10_as_printed_by_hand_on_a_batch_of_two(tau):
    """Issue 24 item 3: eq. 10 as printed, worked by hand. N = 2 places, 2-d unit projections.

    z0 = (e1, e2), z1 = (e2, e1): every positive pair is orthogonal (similarity 0) and, for each
    anchor, the other place's two views are itself and its positive's direction (similarities 0 and 1).
    Eq. 10 sums its denominator over the other place's views only (k != i): -log(e^0 / (e^0 + e^(1/tau)))
    = log(1 + e^(1/tau)) for each of the 4 anchors. NT-Xent adds the positive e^0: log(2 + e^(1/tau)).
    """
    z0 = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    z1 = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    assert eq10(z0, z1, tau).item() == pytest.approx(math.log(1 + math.exp(1 / tau)), rel=1e-6)
    assert nt_xent(z0, z1, tau).item() == pytest.approx(math.log(2 + math.exp(1 / tau)), rel=1e-6)
    # identical positives (similarity 1), the other place orthogonal: -log(e^(1/tau) / 2) = log 2 - 1/tau
    same = torch.eye(2)
    assert eq10(same, same, tau).item() == pytest.approx(math.log(2) - 1 / tau, rel=1e-6)
    assert nt_xent(same, same, tau).item() == pytest.approx(math.log(1 + 2 * math.exp(-1 / tau)), rel=1e-6)
