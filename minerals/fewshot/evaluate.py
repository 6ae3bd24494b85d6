"""Evaluation of a trained few-shot classifier: top-k, balanced accuracy, recall, confusion, predictions.

Writes `predictions.csv` (per image: true class and the top-10 classes with their probabilities) and
`confusion.csv` (rows = true class, columns = predicted class) into the given folder.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from torch import nn
from torch.utils.data import DataLoader, Dataset

from minerals import metrics
from minerals.fewshot.train import CachedImages, predict_scores
from minerals.models.classifiers import preprocessing
from minerals.results import atomic_write

KS = (1, 3, 5, 10)
PREDICTIONS, CONFUSION = "predictions.csv", "confusion.csv"


def evaluation_notes(labels: np.ndarray, classes: Sequence[str], ks: Sequence[int] = KS) -> list[str]:
    """Caveats of a top-k evaluation: k at or above the class count, classes with fewer than k test photos."""
    n_classes = len(classes)
    notes = [f"top{k} is capped at the {n_classes} classes of the subset, so it is 1 by construction"
             for k in ks if k >= n_classes]
    support = np.bincount(np.asarray(labels, dtype=np.int64), minlength=n_classes)
    absent = [classes[i] for i in np.flatnonzero(support == 0)]
    if absent:
        notes.append(f"{len(absent)} classes have no test photo (their recall is undefined): {', '.join(absent[:5])}"
                     + (" ..." if len(absent) > 5 else ""))
    k = min(max(ks), n_classes)
    few = [f"{classes[i]} ({support[i]})" for i in np.flatnonzero((support > 0) & (support < k))]
    if few:
        notes.append(f"{len(few)} classes have fewer than {k} test photos, so their per-class top-{k} figures "
                     f"rest on very few photos: {', '.join(few[:5])}" + (" ..." if len(few) > 5 else ""))
    return notes


def evaluate(model: nn.Module, info: dict, dataset: Dataset, out_dir: Path, device: str = "cpu",
             batch_size: int = 64, num_workers: int = 0, ks: Sequence[int] = KS, n_boot: int = 1000,
             seed: int = 0) -> dict:
    """Score `dataset` (items `(PIL image, label)`, a `frame` of its rows) and write the per-image files.

    Returns JSON-able metrics: `top<k>` and `balanced_acc` (fractions), the bootstrap 95 % interval of
    top-1, per-class recall by class name, sizes, notes, and the paths of the files written.
    """
    classes = list(info["classes"])
    data = CachedImages(dataset, preprocessing(info).eval_transform(), cache=False)
    start = time.perf_counter()
    scores, labels = predict_scores(model, DataLoader(data, batch_size=batch_size, num_workers=num_workers),
                                    device)
    eval_s = time.perf_counter() - start
    if not len(labels):
        raise ValueError("the evaluation split is empty: check the subset's split column or manifest")
    preds = scores.argmax(axis=1)
    hits = metrics.topk_hits(scores, labels, 1).astype(float)
    low, high = metrics.bootstrap_ci(hits, n_boot=n_boot, seed=seed)
    recall = metrics.per_class_recall(labels, preds, len(classes))
    out_dir = Path(out_dir)
    write_predictions(out_dir / PREDICTIONS, dataset, scores, labels, classes)
    cm = pd.DataFrame(metrics.confusion(labels, preds, len(classes)), index=classes, columns=classes)
    with atomic_write(out_dir / CONFUSION) as tmp:
        cm.to_csv(tmp, index_label="true\\predicted")
    return {**metrics.topk_accuracy(scores, labels, ks), "balanced_acc": metrics.balanced_accuracy(labels, preds),
            "top1_ci_low": low, "top1_ci_high": high, "n_test": int(len(labels)), "n_classes": len(classes),
            "per_class_recall": {c: (None if np.isnan(r) else float(r)) for c, r in zip(classes, recall)},
            "notes": evaluation_notes(labels, classes, ks), "eval_s": round(eval_s, 3),
            "test_images_per_s": round(len(labels) / eval_s, 2),
            "predictions": str(out_dir / PREDICTIONS), "confusion": str(out_dir / CONFUSION)}


def write_predictions(path: Path, dataset: Dataset, scores: np.ndarray, labels: np.ndarray,
                      classes: Sequence[str], k: int = 10) -> None:
    """Per-image CSV: id and path (from `dataset.frame` when present), true class, top-k classes and scores."""
    top = metrics.topk_predictions(scores, k)
    names = np.asarray(classes, dtype=object)
    frame = getattr(dataset, "frame", None)
    out = pd.DataFrame({c: frame[c].to_numpy() for c in ("id", "path") if frame is not None and c in frame})
    out["label"] = labels
    out["true"] = names[labels]
    out["correct_top1"] = top[:, 0] == labels
    for j in range(top.shape[1]):
        out[f"pred{j + 1}"] = names[top[:, j]]
        out[f"score{j + 1}"] = np.round(np.take_along_axis(scores, top[:, j:j + 1], axis=1)[:, 0], 6)
    with atomic_write(path) as tmp:
        out.to_csv(tmp, index=False)


def topk_curve(predictions: pd.DataFrame) -> pd.Series:
    """Top-k accuracy for k = 1 .. the number of `pred<k>` columns of a `predictions.csv` frame."""
    k_max = sum(c.startswith("pred") for c in predictions.columns)
    hits = np.column_stack([predictions[f"pred{k}"] == predictions["true"] for k in range(1, k_max + 1)])
    return pd.Series(np.cumsum(hits, axis=1).clip(max=1).mean(axis=0), index=pd.RangeIndex(1, k_max + 1, name="k"))
