"""Bring your own model: score any callable `photos -> ranked species names` on an official split.

`score_callable(predict, release, subset, split, out)` calls `predict(paths)` (absolute photo paths,
a list) and expects one ranked list of species names per photo; it writes the submission CSV and
returns the `evaluate` record. Two trivial real baselines: `most_frequent` (the train split's class
counts) and `colour_histogram_nn` (nearest train photo by colour histogram).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from tqdm.auto import tqdm

from minerals.benchmark import export, splits
from minerals.benchmark.scoring import KS, evaluate

Predictor = Callable[[list[str]], Sequence[Sequence[str]]]


def score_callable(predict: Predictor, release, subset: int | str, split: str = "test",
                   out: str | os.PathLike = "predictions.csv", ks: Sequence[int] = KS, n_boot: int = 1000,
                   seed: int = 0, method: dict | None = None) -> dict:
    """Run `predict` on the split's photos, write its ranks to `out` and return the result record."""
    frame = splits.split_frame(release, "classification", subset, split, seed)
    paths = [str(Path(release.root) / p) for p in frame["path"]]
    ranked = [list(r) for r in predict(paths)]
    if len(ranked) != len(paths):
        raise ValueError(f"the predictor returned {len(ranked)} rankings for {len(paths)} photos")
    width = max(len(r) for r in ranked)
    table = np.array([r + [""] * (width - len(r)) for r in ranked], dtype=object)
    export.write_ranked(out, frame["id"], table)
    task = "zeroshot" if str(subset) == "full" else "classification"
    return evaluate(task, out, release, subset=subset, split=split, ks=ks, n_boot=n_boot, seed=seed, method=method)


def _train(release, subset: int, seed: int):
    train = splits.split_frame(release, "classification", subset, "train", seed)
    return train, [str(Path(release.root) / p) for p in train["path"]]


def most_frequent(release, subset: int, seed: int = 0) -> Predictor:
    """Always the train split's species by decreasing photo count (ties by name): the floor to beat."""
    train, _ = _train(release, subset, seed)
    counts = train["en_name"].value_counts()
    order = sorted(counts.index, key=lambda name: (-counts[name], name))
    return lambda paths: [order for _ in paths]


def colour_histogram(path: str, bins: int = 8, max_side: int = 128) -> np.ndarray:
    """`(bins**3,)` L1-normalised RGB histogram of a photo decoded at about `max_side` px."""
    from minerals.data.images import load_image

    rgb = np.asarray(load_image(path, max_side)).reshape(-1, 3) // (256 // bins)
    index = (rgb[:, 0] * bins + rgb[:, 1]) * bins + rgb[:, 2]
    hist = np.bincount(index, minlength=bins ** 3).astype(float)
    return hist / hist.sum()


def colour_histogram_nn(release, subset: int, seed: int = 0, bins: int = 8) -> Predictor:
    """Species ranked by the nearest train photo of each species (chi-squared distance of colour histograms)."""
    train, train_paths = _train(release, subset, seed)
    names = train["en_name"].to_numpy()
    feats = np.stack([colour_histogram(p, bins) for p in tqdm(train_paths, desc="train histograms", unit="img")])
    species = sorted(set(names))

    def predict(paths: list[str]) -> list[list[str]]:
        out = []
        for p in tqdm(paths, desc="colour-histogram NN", unit="img"):
            h = colour_histogram(p, bins)
            dist = 0.5 * (((feats - h) ** 2) / (feats + h + 1e-12)).sum(axis=1)
            best = {s: dist[names == s].min() for s in species}
            out.append(sorted(species, key=lambda s: (best[s], s)))
        return out

    return predict
