"""Precision-recall under the `vprbench` and `tutorial` conventions, against both anchors' own code.

The anchors are transcribed below as they are written: VPR-Bench's `performance_comparison.py`
(compute_matches, compute_precision_recall, compute_auc_PR, compute_extendedprecision; scikit-learn
underneath) and VPR_Tutorial's `evaluation/metrics.py` (`createPR` and `recallAt100precision`,
`matching='single'`, with its demo's `AUC = np.trapz(P, R)`). They are fed the full similarity
matrix and ground truth, as those tools are; ours gets each query's top-1 label and score.
"""

import numpy as np
import pytest
from sklearn.metrics import auc, precision_recall_curve

from acmnet.data.positives import from_places
from acmnet.evaluate.precision import degenerate, pr_numbers, tutorial_curve, vprbench_curve

# ---- VPR-Bench, performance_comparison.py (transcribed) ---------------------------------------


def vb_compute_matches(retrieved_all, ground_truth_info):
    matches = []
    for itr, retr in enumerate(retrieved_all):
        if retr in ground_truth_info[itr][1]:
            matches.append(1)
        else:
            matches.append(0)
    return matches


def vb_compute_precision_recall(matches, scores_all):
    precision, recall, _ = precision_recall_curve(matches, scores_all)
    return precision, recall


def vb_compute_auc_PR(prec, recall):
    return auc(recall, prec)


def vb_compute_extendedprecision(precision, recall):
    precision_at_recall_zero = precision[-2]
    if precision_at_recall_zero < 1:
        recall_at_precision_one = 0
    else:
        recall_at_precision_one = recall[min(np.argwhere(precision == 1))]
    extended_precision = (precision_at_recall_zero + recall_at_precision_one) / 2
    return extended_precision


# ---- VPR_Tutorial, evaluation/metrics.py (transcribed, the branches matching='single' takes) -----


def tut_createPR(S_in, GThard, GTsoft=None, matching="multi", n_thresh=100):
    assert S_in.shape == GThard.shape
    GT = GThard.astype("bool")
    S = S_in.copy()
    if matching == "single":
        GTP = np.count_nonzero(GT.any(0))
        GT = GT[np.argmax(S, axis=0), np.arange(GT.shape[1])]
        S = np.max(S, axis=0)
    elif matching == "multi":
        GTP = np.count_nonzero(GT)
    R = [0]
    P = [1]
    startV = S.max()
    endV = S.min()
    for i in np.linspace(startV, endV, n_thresh):
        B = S >= i  # noqa: SIM300 (as written there)
        TP = np.count_nonzero(GT & B)
        FP = np.count_nonzero((~GT) & B)
        P.append(TP / (TP + FP))
        R.append(TP / GTP)
    return P, R


def tut_recallAt100precision(S_in, GThard, GTsoft=None, matching="multi", n_thresh=100):
    P, R = tut_createPR(S_in, GThard, GTsoft, matching=matching, n_thresh=n_thresh)
    P = np.array(P)
    R = np.array(R)
    R = R[P == 1]
    R = R.max()
    return R


# ---- the constructed sets ------------------------------------------------------------------------


def constructed(seed: int, n_ref: int = 40, n_query: int = 60, tolerance: int = 1, shift: int = 0):
    """Descriptors on a grid of few values (so top-1 scores tie across queries; some queries are
    exact duplicates), places with a window; `shift` moves query places so some have no positive.
    Returns the similarity matrix S (references x queries, the tutorial's layout) and GT."""
    rng = np.random.default_rng(seed)
    refs = rng.integers(-2, 3, size=(n_ref, 6)).astype(np.float64)
    queries = refs[rng.integers(0, n_ref, n_query)] + rng.integers(-1, 2, size=(n_query, 6))
    queries[1::7] = queries[0::7][: len(queries[1::7])]  # exact duplicates: tied scores
    ref_places = np.arange(n_ref)
    query_places = rng.integers(0, n_ref, n_query) + shift
    S = refs @ queries.T
    positives = from_places(query_places, ref_places, tolerance)
    GT = np.zeros((n_ref, n_query), dtype=bool)
    for q in range(n_query):
        GT[positives.of(q), q] = True
    return S, GT, positives


def ours(S, positives):
    """Our inputs as `score` derives them: the top-1 (the anchors' argmax), its label and score."""
    top1 = np.argmax(S, axis=0)
    correct = positives.hits(top1[:, None])[:, 0]
    return correct, S.max(axis=0), positives.counts() > 0


def anchors(S, GT):
    """Every number both anchors print for (S, GT)."""
    gt_info = [[q, list(np.flatnonzero(GT[:, q]))] for q in range(S.shape[1])]
    matches = vb_compute_matches(np.argmax(S, axis=0), gt_info)
    prec, recall = vb_compute_precision_recall(matches, S.max(axis=0))
    P, R = tut_createPR(S, GT, matching="single")
    return {
        "AUC-PR": vb_compute_auc_PR(prec, recall),
        "EP": float(np.asarray(vb_compute_extendedprecision(prec, recall)).ravel()[0]),
        "R@100P": float(recall[min(np.argwhere(prec == 1))][0]),
        "AUC-PR_tutorial": np.trapezoid(P, R),
        "R@100P_tutorial": tut_recallAt100precision(S, GT, matching="single"),
        "curves": (prec, recall, P, R),
    }


@pytest.mark.parametrize("seed,shift", [(0, 0), (1, 0), (2, 6), (3, 12), (4, 3)])
def test_every_number_equals_both_anchors(seed, shift):
    S, GT, positives = constructed(seed, shift=shift)
    correct, scores, has_positive = ours(S, positives)
    assert degenerate(correct, has_positive) is None
    assert len(np.unique(scores)) < len(scores), "the set must hold tied top-1 scores"
    if shift:
        assert not has_positive.all(), "the shifted set must hold queries without a positive"
    want, got = anchors(S, GT), pr_numbers(correct, scores, has_positive)
    for column in ("AUC-PR", "EP", "R@100P", "AUC-PR_tutorial", "R@100P_tutorial"):
        assert got[column] == pytest.approx(want[column], abs=1e-9, rel=0), column
    prec, recall, P, R = want["curves"]
    vb, tut = vprbench_curve(correct, scores), tutorial_curve(correct, scores, has_positive)
    np.testing.assert_allclose(vb.precision, prec, atol=1e-12)
    np.testing.assert_allclose(vb.recall, recall, atol=1e-12)
    np.testing.assert_allclose(tut.precision, P, atol=1e-12)
    np.testing.assert_allclose(tut.recall, R, atol=1e-12)


def test_conventions_differ_when_queries_lack_positives():
    """Recall over correct matches (vprbench) vs over queries with a positive (tutorial): their
    loosest points differ once some queries have no positive."""
    S, _, positives = constructed(7, shift=10)
    correct, scores, has_positive = ours(S, positives)
    vb, tut = vprbench_curve(correct, scores), tutorial_curve(correct, scores, has_positive)
    assert vb.recall[0] == 1.0 and vb.precision[0] == pytest.approx(correct.mean())
    assert tut.recall[-1] == pytest.approx(correct.sum() / has_positive.sum())
    assert tut.recall[-1] < 1.0


def test_no_positive_at_all_is_degenerate_not_zero():
    S, GT, positives = constructed(5, shift=100)
    correct, scores, has_positive = ours(S, positives)
    assert not has_positive.any()
    with np.errstate(invalid="ignore"):  # the tutorial's own code divides 0 by 0: recall NaN
        _, R = tut_createPR(S, GT, matching="single")
    assert np.isnan(R[1:]).all()
    got = pr_numbers(correct, scores, has_positive)
    assert all(np.isnan(v) for v in got.values())
    assert degenerate(correct, has_positive) == "no query has a positive"


def test_every_top1_right_is_degenerate_not_one():
    S, GT, positives = constructed(6, tolerance=1000)  # every reference is a positive
    correct, scores, has_positive = ours(S, positives)
    assert correct.all()
    want = anchors(S, GT)
    assert want["AUC-PR"] == pytest.approx(1.0) and want["AUC-PR_tutorial"] == pytest.approx(1.0)  # made-up ones
    got = pr_numbers(correct, scores, has_positive)
    assert all(np.isnan(v) for v in got.values())
    assert "every top-1 is right" in degenerate(correct, has_positive)


def test_every_top1_wrong_is_degenerate():
    correct = np.zeros(10, dtype=bool)
    assert all(np.isnan(v) for v in pr_numbers(correct, np.arange(10.0), np.ones(10, bool)).values())


def test_a_ranking_without_scores_has_no_precision_recall_and_says_why():
    """A re-ranked list keeps another tool's order with NaN scores: nothing to threshold, so every
    PR number is empty and the note says why (never numbers made from NaN)."""
    from acmnet.evaluate.precision import PR_COLUMNS, degenerate, pr_numbers

    correct = np.array([True, False, True, False])
    scores = np.full(4, np.nan)
    has_positive = np.ones(4, bool)
    assert "re-ranked" in degenerate(correct, has_positive, scores)
    assert all(np.isnan(pr_numbers(correct, scores, has_positive)[c]) for c in PR_COLUMNS)
    assert degenerate(correct, has_positive, np.array([0.9, 0.8, 0.7, 0.6])) is None
