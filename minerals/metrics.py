"""Metrics shared by the sections: classification, segmentation, size regression, bootstrap intervals.

Arrays are NumPy; scores are `(N, C)` with larger = more likely, labels are `(N,)` ints in [0, C).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
from sklearn.metrics import confusion_matrix, r2_score


def topk_hits(scores: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """`(N,)` bool: whether the true label is among the k highest scores (k is capped at C)."""
    scores = np.asarray(scores)
    labels = np.asarray(labels)
    if scores.ndim != 2 or len(scores) != len(labels):
        raise ValueError(f"scores must be (N, C) matching labels (N,), got {scores.shape} and {labels.shape}")
    k = min(k, scores.shape[1])
    true = scores[np.arange(len(labels)), labels]
    # Rank = number of classes scored strictly higher; ties count in the label's favour.
    rank = (scores > true[:, None]).sum(axis=1)
    return rank < k


def topk_accuracy(scores: np.ndarray, labels: np.ndarray, ks: Sequence[int] = (1, 3, 5, 10)) -> dict[str, float]:
    """`{"top1": .., "top3": .., ...}` as fractions in [0, 1]; monotone in k by construction."""
    return {f"top{k}": float(topk_hits(scores, labels, k).mean()) if len(labels) else float("nan") for k in ks}


def topk_predictions(scores: np.ndarray, k: int = 10) -> np.ndarray:
    """`(N, k)` class indices sorted by decreasing score."""
    scores = np.asarray(scores)
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.take_along_axis(scores, part, axis=1).argsort(axis=1)[:, ::-1]
    return np.take_along_axis(part, order, axis=1)


def balanced_accuracy(labels: np.ndarray, preds: np.ndarray) -> float:
    """Mean per-class recall over the classes present in `labels` (sklearn's definition).

    Counted with bincount, O(N + C) memory, so 5,139 classes need no C x C confusion matrix.
    """
    labels = np.asarray(labels)
    preds = np.asarray(preds)
    if len(labels) == 0:
        return float("nan")
    n_classes = int(max(labels.max(), preds.max(initial=0))) + 1
    return float(np.nanmean(per_class_recall(labels, preds, n_classes)))


def confusion(labels: np.ndarray, preds: np.ndarray, n_classes: int) -> np.ndarray:
    """`(C, C)` counts: row = true class, column = predicted class, over all `n_classes` labels."""
    return confusion_matrix(labels, preds, labels=np.arange(n_classes))


def per_class_recall(labels: np.ndarray, preds: np.ndarray, n_classes: int) -> np.ndarray:
    """`(C,)` recall per class; NaN for classes absent from `labels`. O(N + C) memory."""
    labels = np.asarray(labels, dtype=np.int64)
    preds = np.asarray(preds, dtype=np.int64)
    support = np.bincount(labels, minlength=n_classes)[:n_classes]
    correct = np.bincount(labels[preds == labels], minlength=n_classes)[:n_classes]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, correct / np.maximum(support, 1), np.nan)


def bootstrap_ci(values: np.ndarray, statistic: Callable[[np.ndarray], float] = np.mean, n_boot: int = 1000,
                 alpha: float = 0.05, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap `(low, high)` interval of `statistic` over the rows of `values`."""
    values = np.asarray(values)
    if len(values) == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(values), size=(n_boot, len(values)))
    stats = np.array([statistic(values[i]) for i in idx])
    return float(np.quantile(stats, alpha / 2)), float(np.quantile(stats, 1 - alpha / 2))


def mask_scores(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """IoU, Dice and pixel accuracy of two boolean `(H, W)` masks of the same shape.

    Both empty counts as a perfect match (IoU = Dice = 1).
    """
    pred = np.asarray(pred, dtype=bool)
    truth = np.asarray(truth, dtype=bool)
    if pred.shape != truth.shape:
        raise ValueError(f"mask shapes differ: prediction {pred.shape}, truth {truth.shape}")
    inter = np.logical_and(pred, truth).sum()
    union = np.logical_or(pred, truth).sum()
    total = pred.sum() + truth.sum()
    return {"iou": float(inter / union) if union else 1.0,
            "dice": float(2 * inter / total) if total else 1.0,
            "pixel_acc": float((pred == truth).mean())}


def size_errors(pred_cm: np.ndarray, true_cm: np.ndarray) -> dict[str, float]:
    """MAE and RMSE (cm), R², MAPE (a fraction) and bias (mean of pred - true, cm) over paired values."""
    pred = np.asarray(pred_cm, dtype=float)
    true = np.asarray(true_cm, dtype=float)
    if pred.shape != true.shape:
        raise ValueError(f"prediction and truth differ in length: {pred.shape} vs {true.shape}")
    if len(pred) == 0:
        return {k: float("nan") for k in ("mae_cm", "rmse_cm", "r2", "mape", "bias_cm")}
    err = pred - true
    return {"mae_cm": float(np.abs(err).mean()), "rmse_cm": float(np.sqrt((err ** 2).mean())),
            "r2": float(r2_score(true, pred)) if len(pred) > 1 else float("nan"),
            "mape": float(np.mean(np.abs(err) / np.abs(true))), "bias_cm": float(err.mean())}


def coverage(pred: np.ndarray) -> float:
    """Share of predictions that are finite numbers (an estimator that abstains gives NaN); NaN when empty."""
    pred = np.asarray(pred, dtype=float)
    return float(np.isfinite(pred).mean()) if len(pred) else float("nan")


def ranked_hits(ranked: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """`(N,)` bool: whether the true label is among the first k columns of `(N, R)` ranked class indices.

    The counterpart of `topk_hits` for a submitted ranking (no scores); k is capped at R.
    """
    ranked = np.asarray(ranked)
    labels = np.asarray(labels)
    if ranked.ndim != 2 or len(ranked) != len(labels):
        raise ValueError(f"ranked must be (N, R) matching labels (N,), got {ranked.shape} and {labels.shape}")
    return (ranked[:, :k] == labels[:, None]).any(axis=1)
