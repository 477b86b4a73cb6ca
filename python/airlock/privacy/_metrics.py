"""ROC curves, true-positive rates at low false-positive rates, and canary
exposure: the numbers every privacy attack here reports, in plain Python so
they are the same whatever produced the scores."""

from __future__ import annotations

import math
from typing import Dict, List, Sequence, Tuple

# Most points kept of a ROC curve for the report (the curve is exact; the
# plot only needs its shape).
MAX_CURVE_POINTS = 200


def roc(member_scores: Sequence[float], nonmember_scores: Sequence[float]) -> List[Tuple[float, float]]:
    """The ROC curve of "higher score means member": (FPR, TPR) points from
    (0, 0) to (1, 1), one per distinct threshold (ties move together)."""
    scored = [(s, 1) for s in member_scores] + [(s, 0) for s in nonmember_scores]
    scored.sort(key=lambda t: -t[0])
    p, n = len(member_scores), len(nonmember_scores)
    if p == 0 or n == 0:
        raise ValueError("a ROC curve needs members and non-members")
    points, tp, fp, i = [(0.0, 0.0)], 0, 0, 0
    while i < len(scored):
        s = scored[i][0]
        while i < len(scored) and scored[i][0] == s:
            tp += scored[i][1]
            fp += 1 - scored[i][1]
            i += 1
        points.append((fp / n, tp / p))
    return points


def auc(points: Sequence[Tuple[float, float]]) -> float:
    """Area under a ROC curve (trapezoids)."""
    return sum((x1 - x0) * (y0 + y1) / 2 for (x0, y0), (x1, y1) in zip(points, points[1:]))


def tpr_at(points: Sequence[Tuple[float, float]], fpr: float) -> float:
    """The highest TPR of a threshold whose FPR is at most ``fpr``."""
    return max(y for x, y in points if x <= fpr + 1e-12)


def thin(points: Sequence[Tuple[float, float]], most: int = MAX_CURVE_POINTS) -> List[List[float]]:
    """At most ``most`` points of a curve, its ends and its low-FPR start kept."""
    if len(points) <= most:
        return [[round(x, 6), round(y, 6)] for x, y in points]
    step = (len(points) - 1) / (most - 1)
    keep = sorted({round(i * step) for i in range(most)} | {0, len(points) - 1})
    return [[round(points[i][0], 6), round(points[i][1], 6)] for i in keep]


def summary(member_scores: Sequence[float], nonmember_scores: Sequence[float]) -> Dict[str, object]:
    """AUC, TPR at 0.1% and 1% FPR (with the lowest FPR the sample can
    show), balanced accuracy at the best threshold, and the curve."""
    points = roc(member_scores, nonmember_scores)
    n = len(nonmember_scores)
    best = max((y + (1 - x)) / 2 for x, y in points)
    return {
        "auc": round(auc(points), 6),
        "tpr_at_0.1%_fpr": round(tpr_at(points, 0.001), 6),
        "tpr_at_1%_fpr": round(tpr_at(points, 0.01), 6),
        "lowest_measurable_fpr": round(1 / n, 6),
        "balanced_accuracy": round(best, 6),
        "members": len(member_scores),
        "nonmembers": n,
        "roc": thin(points),
    }


def exposure(canary_loss: float, candidate_losses: Sequence[float], space: float) -> Dict[str, float]:
    """The Secret Sharer's rank exposure, ``log2 |R| - log2 rank``, with the
    rank estimated from random candidates of the same space ``R``: the
    fraction of candidates the model finds at least as likely as the
    canary, ``(k + 1) / (m + 1)`` (so the estimate never claims more than
    the sample shows: at most ``log2(m + 1)`` bits)."""
    m = len(candidate_losses)
    k = sum(1 for c in candidate_losses if c <= canary_loss)
    frac = (k + 1) / (m + 1)
    return {
        "exposure": round(min(-math.log2(frac), math.log2(space)), 4),
        "max_measurable": round(math.log2(m + 1), 4),
        "max_possible": round(math.log2(space), 4),
        "candidates_as_likely": k,
        "candidates": m,
    }
