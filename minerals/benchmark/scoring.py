"""`evaluate(task, predictions, release, ...)`: score a predictions file with the sections' metric code.

Tasks and what is scored (metrics from `minerals.metrics`, intervals: percentile bootstrap over photos):

- `classification`: a subset's split, classes as in the few-shot section (English names sorted;
  submitted names matched as written, else after `zeroshot.prompts.normalise_name`): top-k,
  balanced accuracy, per-class recall;
- `zeroshot`: the same on the zero-shot section's normalised class list, numbered subsets or `full`;
- `size`: coverage, then MAE, RMSE, R², MAPE and bias on the photos with an estimate (`size.evaluate.summarise`);
- `segmentation`: IoU, Dice and pixel accuracy per photo, scored at the section's size (`max_side`), and their means.

The record also holds the split's sha256 (`splits.split_hash`), the data fingerprint, the file's sha256
and per-photo outcomes (for the leaderboard's paired tests).
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from minerals import __version__, metrics
from minerals.benchmark import formats, splits
from minerals.benchmark.formats import SubmissionError

KS = (1, 3, 5, 10)
TASKS = ("classification", "zeroshot", "size", "segmentation")


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a file, or of a folder's PNG files (names and bytes, sorted by name)."""
    path = Path(path)
    digest = hashlib.sha256()
    if path.is_dir():
        for p in sorted(q for q in path.iterdir() if q.suffix.lower() == ".png"):
            digest.update(p.name.encode() + b"\0" + p.read_bytes())
    else:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _fingerprint(release, frame: pd.DataFrame, columns: Sequence[str] = ()) -> str:
    from minerals.data.fingerprint import fingerprint

    root = Path(release.root)
    return fingerprint(root, [root / p for p in frame["path"]], [frame[c].tolist() for c in columns])


def class_vocabulary(release, task: str, subset) -> tuple[list[str], np.ndarray, callable]:
    """`(classes, new_label of each raw label, lookup name -> class index or None)` of a classification task."""
    from minerals.zeroshot.prompts import normalise_classes, normalise_name

    raw = release.classes(None if str(subset) == "full" else int(subset))
    if task == "zeroshot":
        classes, new_label = normalise_classes(list(raw))
    else:
        classes, new_label = list(raw), list(range(len(raw)))
    exact = {c.casefold(): i for i, c in enumerate(classes)}
    normal: dict[str, int] = {}
    for c, i in zip(raw, new_label):
        normal.setdefault(normalise_name(c).casefold(), i)

    def lookup(name: str) -> int | None:
        found = exact.get(name.casefold())
        return found if found is not None else normal.get(normalise_name(name).casefold())

    return classes, np.asarray(new_label, dtype=int), lookup


def classification_metrics(ranked: np.ndarray, labels: np.ndarray, classes: Sequence[str], ks: Sequence[int],
                           n_boot: int, seed: int) -> dict:
    """Top-k (k capped at the class count), balanced accuracy, per-class recall, bootstrap 95 % intervals."""
    n_classes = len(classes)
    out: dict = {}
    for k in ks:
        hits = metrics.ranked_hits(ranked, labels, min(k, n_classes)).astype(float)
        out[f"top{k}"] = float(hits.mean())
        out[f"top{k}_ci_low"], out[f"top{k}_ci_high"] = metrics.bootstrap_ci(hits, n_boot=n_boot, seed=seed)
    preds = ranked[:, 0]
    out["balanced_acc"] = metrics.balanced_accuracy(labels, preds)
    pairs = np.stack([labels, preds], axis=1)
    out["balanced_acc_ci_low"], out["balanced_acc_ci_high"] = metrics.bootstrap_ci(
        pairs, lambda p: metrics.balanced_accuracy(p[:, 0], p[:, 1]), n_boot=n_boot, seed=seed)
    recall = metrics.per_class_recall(labels, preds, n_classes)
    out["per_class_recall"] = {c: (None if np.isnan(r) else float(r)) for c, r in zip(classes, recall)}
    out["n"], out["n_classes"] = int(len(labels)), n_classes
    return out


def _rank_of_truth(ranked: np.ndarray, labels: np.ndarray) -> list[int]:
    """1-based position of the true class in each row's ranking; 0 = not ranked."""
    match = ranked == labels[:, None]
    return [int(np.argmax(m)) + 1 if m.any() else 0 for m in match]


def _classification(task, path, release, subset, split, labels, ks, n_boot, seed):
    if subset is None:
        raise SubmissionError(f"{task}: give the subset (a class count, or 'full')")
    if task == "classification" and str(subset) == "full":
        raise SubmissionError("the full set (every species) is the zero-shot protocol: use task 'zeroshot'")
    frame = splits.classification_frame(release, subset, split, seed)
    classes, new_label, lookup = class_vocabulary(release, task, subset)
    truth = new_label[frame["label"].to_numpy()]
    ranked = formats.read_ranked(path, frame["id"].tolist(), lookup, len(classes), ks, labels)
    scores = classification_metrics(ranked, truth, classes, ks, n_boot, seed)
    per_item = {"id": frame["id"].tolist(), "rank": _rank_of_truth(ranked, truth)}
    protocol = {"subset": str(subset), "split": "all" if str(subset) == "full" else split, "ks": list(ks),
                "classes": "normalised" if task == "zeroshot" else "raw"}
    return frame, scores, per_item, protocol, _fingerprint(release, frame, ["label"])


def _size(path, release, n_boot, seed):
    from minerals.size.evaluate import summarise

    frame = splits.size_frame(release)
    pred = formats.read_sizes(path, frame["id"].tolist())
    true = release.size_table()["size_cm"].to_numpy(dtype=float)
    row = summarise(pd.DataFrame({"method": Path(path).stem, "size_cm": pred, "true_cm": true}), n_boot=n_boot,
                    seed=seed)
    row.pop("method")
    per_item = {"id": frame["id"].tolist(), "size_cm": [None if np.isnan(p) else float(p) for p in pred],
                "abs_err_cm": [None if np.isnan(p) else float(abs(p - t)) for p, t in zip(pred, true)]}
    return frame, row, per_item, {}, _fingerprint(release, frame.assign(size_cm=true), ["size_cm"])


def _segmentation(path, release, max_images, max_side, n_boot, seed):
    import cv2

    from minerals.cam.section import load_samples
    from minerals.data.images import load_mask

    pairs = splits.segmentation_pairs(release, max_images)
    frame = splits.segmentation_frame(release, max_images)
    samples = load_samples(pairs, max_side)
    full_shapes = [load_mask(m).shape for _, m in pairs]
    masks = formats.read_masks(path, frame["id"].tolist(), [[s.truth.shape, full] for s, full in
                                                             zip(samples, full_shapes)])
    rows = []
    for mask, sample in zip(masks, samples):
        if mask.shape != sample.truth.shape:  # a full-size mask: scaled like the truth (nearest neighbour)
            size = (sample.truth.shape[1], sample.truth.shape[0])
            mask = cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)
        rows.append(metrics.mask_scores(mask, sample.truth))
    scores = pd.DataFrame(rows)
    out: dict = {}
    for col, name in (("iou", "miou"), ("dice", "mdice"), ("pixel_acc", "mpixel_acc")):
        values = scores[col].to_numpy()
        out[name] = float(values.mean())
        out[f"{name}_low"], out[f"{name}_high"] = metrics.bootstrap_ci(values, n_boot=n_boot, seed=seed)
    out["n"] = len(scores)
    per_item = {"id": frame["id"].tolist(), **{c: scores[c].tolist() for c in ("iou", "dice", "pixel_acc")}}
    return frame, out, per_item, {"max_images": max_images, "max_side": max_side}, _fingerprint(release, frame)


def evaluate(task: str, predictions: str | os.PathLike, release, subset: int | str | None = None,
             split: str = "test", labels: bool = False, ks: Sequence[int] = KS, n_boot: int = 1000, seed: int = 0,
             max_images: int = 0, max_side: int = 0, method: dict | None = None) -> dict:
    """A result record of `predictions` (a CSV, or a folder of masks for segmentation) on the official split.

    `release`: an opened release (`minerals.data.open_release`). `seed`: the run seed, as in the sections
    (it seeds the subset's split manifest and the bootstrap; the official split is seed 0). `subset`/`split`/`labels`/`ks`: the
    classification protocol; `max_images`/`max_side`: the segmentation protocol (the profile's
    [segmentation] values). `method`: `name`, `link`, `description` of the submission. Raises
    SubmissionError (one line naming the file, the problem and the first offending ids).
    """
    path = Path(predictions)
    if not path.exists():
        raise SubmissionError(f"{path}: no such file or folder")
    start = time.perf_counter()
    if task in ("classification", "zeroshot"):
        frame, scores, per_item, protocol, data = _classification(task, path, release, subset, split, labels,
                                                                  tuple(ks), n_boot, seed)
    elif task == "size":
        frame, scores, per_item, protocol, data = _size(path, release, n_boot, seed)
    elif task == "segmentation":
        frame, scores, per_item, protocol, data = _segmentation(path, release, max_images, max_side, n_boot, seed)
    else:
        raise SubmissionError(f"unknown task {task!r}; choose from {', '.join(TASKS)}")
    return {"task": task, "protocol": {**protocol, "n_boot": n_boot, "seed": seed}, "metrics": scores,
            "split_sha256": splits.split_hash(frame), "data_fingerprint": data,
            "predictions": path.name, "predictions_sha256": file_sha256(path), "n": int(len(frame)),
            "method": dict(method or {}), "per_item": per_item, "minerals_version": __version__,
            "eval_s": round(time.perf_counter() - start, 3)}
