"""How well a score tells two sets apart: ROC AUC with a DeLong 95 % interval, and the true-positive
rate at a 1 % false-positive rate (numpy and scipy only).

Convention: a higher score means "more likely a member" (positive). AUC = P(score of a random
member > score of a random non-member), ties counted half (the Mann-Whitney statistic): 0.5 when
the score says nothing, 1 when every member scores above every non-member. The 95 % interval is
the wider of two: DeLong's (DeLong, DeLong & Clarke-Pearson 1988), from the placement values,
and Newcombe's score interval (Newcombe 2006, "Confidence intervals for an effect size measure
based on the Mann-Whitney statistic", method 5), which solves (theta - AUC)^2 = z^2 V(theta) with
the Hanley-McNeil variance at theta. DeLong's collapses to a point when the two sets do not
overlap (five files against five all told apart gave [1.00-1.00]); Newcombe's does not (there
[0.69-1.00]). Both treat each scored item as independent, which overlapping windows of one
recording are not, so read the interval as a lower bound on the uncertainty.

TPR at FPR <= 1 %: the share of members scoring above a threshold that at most 1 % of the
non-members exceed (the attack's power when it may wrongly accuse 1 in 100). With fewer than 100
non-members no threshold can have an FPR of exactly 1 %: the one used lets none through
(`fpr_resolution` = 1 / non-members says how coarse the FPR steps are). An attacker who learns
nothing gets about 1 %.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.optimize import brentq
from scipy.stats import rankdata

__all__ = ["Z95", "auc_delong", "newcombe_interval", "roc_summary", "tpr_at_fpr"]

Z95 = 1.959963984540054  # the two-sided 95 % quantile of the standard normal


def auc_delong(pos: np.ndarray, neg: np.ndarray) -> tuple[float, float]:
    """(AUC, its DeLong standard error) of scores `pos` (members) against `neg` (non-members).

    Raises ValueError when a set is empty or a score is not finite. The standard error is 0 when
    a set holds a single score (no variance can be estimated from one placement)."""
    x = np.asarray(pos, dtype=np.float64).ravel()
    y = np.asarray(neg, dtype=np.float64).ravel()
    m, n = x.size, y.size
    if m == 0 or n == 0:
        raise ValueError("AUC needs at least one score on each side")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("AUC scores must be finite")
    ranks = rankdata(np.concatenate([x, y]))  # midranks: ties count half
    # Placement values: v10[i] = share of non-members below member i (ties half), v01[j] = share
    # of members above non-member j; the AUC is the mean of either.
    v10 = (ranks[:m] - rankdata(x)) / n
    v01 = 1.0 - (ranks[m:] - rankdata(y)) / m
    auc = float(v10.mean())
    var = (v10.var(ddof=1) / m if m > 1 else 0.0) + (v01.var(ddof=1) / n if n > 1 else 0.0)
    return auc, math.sqrt(max(var, 0.0))


def newcombe_interval(auc: float, m: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Newcombe's score interval (method 5) for an AUC from `m` members and `n` non-members: the
    thetas where (theta - auc)^2 = z^2 V(theta), V the Hanley-McNeil variance with both sample
    sizes replaced by their mean, V(theta) = theta (1 - theta) [1 + (N - 1) ((1 - theta) / (2 -
    theta) + theta / (1 + theta))] / (m n), N = (m + n) / 2 - 1."""
    big_n = (m + n) / 2.0 - 1.0

    def gap(theta: float) -> float:
        shape = 1.0 + (big_n - 1.0) * ((1.0 - theta) / (2.0 - theta) + theta / (1.0 + theta))
        return (theta - auc) ** 2 - z * z * theta * (1.0 - theta) * shape / (m * n)

    # gap(auc) < 0 inside (0, 1), gap(0) = auc^2 > 0 and gap(1) = (1 - auc)^2 > 0: one root on
    # each side. At an AUC of 1 (or 0) that side's root is the AUC itself; the other lies
    # strictly inside, where gap is still negative just short of the end.
    if auc >= 1.0:
        return float(brentq(gap, 0.0, 1.0 - 1e-12)), 1.0
    if auc <= 0.0:
        return 0.0, float(brentq(gap, 1e-12, 1.0))
    return float(brentq(gap, 0.0, auc)), float(brentq(gap, auc, 1.0))


def tpr_at_fpr(pos: np.ndarray, neg: np.ndarray, fpr: float = 0.01) -> float:
    """The largest share of `pos` scoring strictly above a threshold that at most `fpr` of `neg`
    score strictly above (see the module docstring)."""
    x = np.sort(np.asarray(pos, dtype=np.float64).ravel())
    y = np.sort(np.asarray(neg, dtype=np.float64).ravel())
    if x.size == 0 or y.size == 0:
        raise ValueError("TPR needs at least one score on each side")
    # Thresholds worth trying are the non-member scores themselves (and below them all): the
    # FPR only changes there. At most floor(fpr * n) non-members may lie strictly above.
    allowed = math.floor(fpr * y.size + 1e-9)
    threshold = y[y.size - 1 - allowed] if allowed < y.size else -np.inf
    return float((x.size - np.searchsorted(x, threshold, side="right")) / x.size)


def roc_summary(pos: np.ndarray, neg: np.ndarray) -> dict[str, Any]:
    """AUC, its 95 % interval (clipped to [0, 1]), TPR at 1 % FPR and the counts, as a dict
    (the JSON form of one attack on one unit)."""
    auc, se = auc_delong(pos, neg)
    n_pos, n_neg = int(np.asarray(pos).size), int(np.asarray(neg).size)
    lo, hi = newcombe_interval(auc, n_pos, n_neg)
    return {
        "auc": auc,
        "auc_ci95": [max(0.0, min(lo, auc - Z95 * se)), min(1.0, max(hi, auc + Z95 * se))],
        "tpr_at_1pct_fpr": tpr_at_fpr(pos, neg, 0.01),
        "fpr_resolution": 1.0 / n_neg,
        "members": n_pos,
        "non_members": n_neg,
    }
