"""Zero-shot CLIP classification and a linear probe on the same frozen image features.

- `text_classifier`: class names x templates -> a `(D, C)` matrix of L2-normalised class embeddings
  (the mean of each class's normalised prompt embeddings, normalised again), built in batches and
  cached on disk by model, weights, class list and templates.
- `image_features`: photos streamed through a DataLoader (decode, preprocess, encode) into `(N, D)`
  normalised features, cached in shards of `SHARD` photos so an interrupted run resumes.
- `evaluate`: scores in row blocks (`t * f @ W`, t = the model's learned temperature, `scoring`), so 44,784 photos x 5,139 classes never form
  one matrix: top-1/3/5/10, balanced accuracy, per-class recall.
- `linear_probe`: multinomial logistic regression on k photos per class, C chosen on the val split.
- `run`: the section's grid (models x subsets x ensembles, template ablation, probe) through a
  RunStore, returning the tables `zeroshot`, `zeroshot_templates`, `clip_probe`, `zeroshot_class_recall`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset, Subset
from tqdm.auto import tqdm

from minerals import metrics
from minerals.data.datasets import Photos
from minerals.data.fingerprint import files_fingerprint
from minerals.data.fingerprint import fingerprint as data_fingerprint
from minerals.data.splits import k_per_class
from minerals.models import distributed
from minerals.models.clip import ClipBundle, fingerprint, load_clip
from minerals.profiles import section_values
from minerals.results import RunStore, atomic_write, key_hash
from minerals.zeroshot import prompts
from minerals.zeroshot.scoring import DEFAULT_TEMPERATURE, temperature

SECTION = "zeroshot"
SHARD = 2048  # photos per feature-cache file
TOPK = (1, 3, 5, 10)


# --- image features -----------------------------------------------------------------------------

class _Preprocessed(Dataset):
    """Applies CLIP's preprocessing in the loader workers; drops labels (features only)."""

    def __init__(self, dataset: Dataset, preprocess):
        self.dataset = dataset
        self.preprocess = preprocess

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> torch.Tensor:
        item = self.dataset[i]
        image = item[0] if isinstance(item, tuple) else item
        return image if isinstance(image, torch.Tensor) else self.preprocess(image)


def _data_identity(dataset) -> dict:
    """What a feature cache is keyed by: the photos (`minerals.data.fingerprint`) and the decode size."""
    paths = getattr(dataset, "paths", None)
    if paths is None:
        raise ValueError(f"{type(dataset).__name__} has no .paths, so its features cannot be cached; "
                         "pass a list of paths, a minerals.data dataset, or cache=None")
    return {"paths": files_fingerprint(paths), "n": len(paths), "max_side": getattr(dataset, "max_side", None)}


def image_features(bundle: ClipBundle, dataset_or_paths, cache: str | os.PathLike | None = None,
                   batch_size: int = 64, num_workers: int = 0, max_side: int | None = None,
                   progress: bool = True) -> torch.Tensor:
    """`(N, D)` L2-normalised float32 image features, in dataset order.

    `dataset_or_paths`: a sequence of image paths (decoded at about `max_side` px) or a dataset whose
    items are images or `(image, label)` pairs (PIL images get `bundle.preprocess`). With `cache`
    (a folder), features are stored in shards keyed by the model's weights and the photos
    (`minerals.data.fingerprint`: relative paths and file sizes) and reused; a rerun computes only the
    missing shards. Under torchrun each rank encodes photos rank::world of every shard and all ranks get
    the gathered features (rank 0 writes the cache).
    """
    if isinstance(dataset_or_paths, (list, tuple)) and (not dataset_or_paths or
                                                        isinstance(dataset_or_paths[0], (str, os.PathLike))):
        dataset = Photos(dataset_or_paths, max_side=max_side)
    else:
        dataset = dataset_or_paths
    n = len(dataset)
    folder = None
    if cache is not None:
        folder = Path(cache) / key_hash({**bundle.identity, **_data_identity(dataset)})
    shards = []
    wrapped = _Preprocessed(dataset, bundle.preprocess)
    starts = range(0, n, SHARD)
    bar = tqdm(total=n, desc=f"image features {bundle.name}", unit="img", disable=not progress)
    for start in starts:
        stop = min(start + SHARD, n)
        path = folder / f"{start:08d}-{stop:08d}.npy" if folder else None
        if path is not None and distributed.broadcast(path.exists()):
            shards.append(np.load(path))
            bar.update(stop - start)
            continue

        def encode(indices: list[int], start: int = start) -> np.ndarray:
            loader = DataLoader(Subset(wrapped, [start + i for i in indices]), batch_size=batch_size, shuffle=False,
                                num_workers=num_workers, pin_memory=bundle.device.startswith("cuda"))
            parts = []
            for images in loader:
                parts.append(bundle.encode_images(images).cpu().numpy())
                bar.update(len(images))
            return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)

        shard = distributed.map_rows(encode, stop - start).astype(np.float32)  # photos split across torchrun ranks
        if path is not None and distributed.is_main():
            with atomic_write(path) as tmp:
                np.save(tmp, shard)
        shards.append(shard)
    bar.close()
    if not shards:
        return torch.empty(0, 0)
    return torch.from_numpy(np.concatenate(shards))


# --- text classifier ----------------------------------------------------------------------------

def text_classifier(bundle: ClipBundle, classnames: Sequence[str], templates: Sequence[str],
                    cache_dir: str | os.PathLike | None = None, batch_size: int = 256,
                    extra_prompts: Sequence[Sequence[str]] | None = None, progress: bool = True) -> torch.Tensor:
    """`(D, C)` zero-shot weights: per class, the normalised mean of its normalised prompt embeddings.

    Prompts of class c are `t.format(classnames[c])` for each template, plus `extra_prompts[c]`
    (whole sentences, e.g. descriptions) when given. With `cache_dir`, the matrix is stored in
    `text-<hash>.pt`, keyed by the weights, the class list, the templates and the extra prompts.
    """
    classnames = list(classnames)
    templates = list(templates)
    extra = [list(p) for p in extra_prompts] if extra_prompts is not None else [[] for _ in classnames]
    if len(extra) != len(classnames):
        raise ValueError(f"extra_prompts has {len(extra)} entries for {len(classnames)} classes")
    empty = [c for c, e in zip(classnames, extra) if not templates and not e]
    if empty:
        raise ValueError(f"no prompts for classes {empty[:3]}: give templates or extra prompts")
    path = None
    if cache_dir is not None:
        key = {**bundle.identity, "classes": classnames, "templates": templates, "extra": extra}
        path = Path(cache_dir) / f"text-{key_hash(key)}.pt"
        if path.exists():
            return torch.load(path, map_location="cpu", weights_only=True)
    jobs = [(c, t.format(name)) for c, name in enumerate(classnames) for t in templates]
    jobs += [(c, text) for c, sentences in enumerate(extra) for text in sentences]
    sums = None
    counts = torch.zeros(len(classnames))
    for start in tqdm(range(0, len(jobs), batch_size), desc=f"text classifier {bundle.name}", unit="batch",
                      disable=not progress):
        batch = jobs[start:start + batch_size]
        index = torch.tensor([c for c, _ in batch])
        emb = bundle.encode_texts([text for _, text in batch]).cpu()
        if sums is None:
            sums = torch.zeros(len(classnames), emb.shape[1])
        sums.index_add_(0, index, emb)
        counts.index_add_(0, index, torch.ones(len(batch)))
    weights = torch.nn.functional.normalize(sums / counts[:, None], dim=-1).T.contiguous()
    if path is not None:
        with atomic_write(path) as tmp:
            torch.save(weights, tmp)
    return weights


# --- scoring ------------------------------------------------------------------------------------

@dataclass
class Scores:
    """Streamed zero-shot results: `hits[k]` `(N,)` bool, `top` `(N, 10)` classes, `prob` their softmax."""

    hits: dict[int, np.ndarray]
    top: np.ndarray
    prob: np.ndarray

    @property
    def preds(self) -> np.ndarray:
        return self.top[:, 0]


def score(features: torch.Tensor, classifier: torch.Tensor, labels: np.ndarray, ks: Sequence[int] = TOPK,
          block: int = 1024, scale: float = DEFAULT_TEMPERATURE) -> Scores:
    """Score `(N, D)` features against `(D, C)` weights in blocks of rows; memory O(block x C).

    `scale`: the softmax temperature of `prob` (`scoring.temperature(bundle)`).
    """
    labels = np.asarray(labels)
    if features.shape[0] != len(labels):
        raise ValueError(f"{features.shape[0]} feature rows for {len(labels)} labels")
    if features.shape[1] != classifier.shape[0]:
        raise ValueError(f"features have {features.shape[1]} dims, classifier {classifier.shape[0]}")
    keep = min(max(ks), classifier.shape[1])
    hits = {k: [] for k in ks}
    tops, probs = [], []
    weights = classifier.float()
    for start in range(0, len(labels), block):
        logits = (scale * features[start:start + block].float() @ weights).numpy()
        y = labels[start:start + block]
        for k in ks:
            hits[k].append(metrics.topk_hits(logits, y, k))
        top = metrics.topk_predictions(logits, keep)
        shifted = logits - logits.max(axis=1, keepdims=True)
        soft = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
        tops.append(top)
        probs.append(np.take_along_axis(soft, top, axis=1))
    cat = (lambda xs, shape: np.concatenate(xs) if xs else np.zeros(shape))
    return Scores({k: cat(v, (0,)).astype(bool) for k, v in hits.items()}, cat(tops, (0, keep)).astype(int),
                  cat(probs, (0, keep)))


def evaluate(features: torch.Tensor, classifier: torch.Tensor, labels: np.ndarray,
             ks: Sequence[int] = TOPK, scale: float = DEFAULT_TEMPERATURE) -> tuple[dict, Scores]:
    """Zero-shot metrics (fractions) and the streamed scores behind them.

    Metrics: `top1`.. (one per k), `balanced_acc`, `per_class_recall` (list, NaN = class absent),
    `n_images`, `n_classes`.
    """
    labels = np.asarray(labels)
    scores = score(features, classifier, labels, ks, scale=scale)
    n_classes = classifier.shape[1]
    out = {f"top{k}": float(scores.hits[k].mean()) if len(labels) else float("nan") for k in ks}
    recall = metrics.per_class_recall(labels, scores.preds, n_classes)
    out.update(balanced_acc=metrics.balanced_accuracy(labels, scores.preds), per_class_recall=recall.tolist(),
               n_images=int(len(labels)), n_classes=int(n_classes))
    return out, scores


def examples(scores: Scores, labels: np.ndarray, paths: Sequence[str], classes: Sequence[str], n: int,
             seed: int = 0, k: int = 5) -> list[dict]:
    """Up to `n` right and `n` wrong top-1 answers (seeded): path, true class, top-k classes and probabilities."""
    rng = np.random.default_rng(seed)
    right = np.flatnonzero(scores.preds == labels)
    wrong = np.flatnonzero(scores.preds != labels)
    out = []
    for kind, pool in (("right", right), ("wrong", wrong)):
        for i in rng.permutation(pool)[:n]:
            out.append({"kind": kind, "path": str(paths[i]), "true": classes[labels[i]],
                        "top": [classes[c] for c in scores.top[i, :k]],
                        "prob": [round(float(p), 4) for p in scores.prob[i, :k]]})
    return out


# --- linear probe -------------------------------------------------------------------------------

def _full_scores(model, x: np.ndarray, n_classes: int) -> np.ndarray:
    """`(N, C)` class log-probabilities; classes unseen in training get -inf."""
    out = np.full((len(x), n_classes), -np.inf)
    out[:, model.classes_] = model.predict_log_proba(x)
    return out


def linear_probe(train: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray],
                 test: tuple[np.ndarray, np.ndarray], n_classes: int, k: int, seed: int = 0,
                 c_grid: Sequence[float] = (0.1, 1.0, 10.0, 100.0, 1000.0)) -> dict:
    """Logistic-regression probe on k training photos per class; the inverse L2 strength C is chosen by
    val top-1 (the CLIP linear-probe protocol). Returns test `top1`, `top5`, the chosen `C`, `n_train`, `n_test`."""
    from sklearn.linear_model import LogisticRegression

    idx = k_per_class(train[1], k, seed)
    x, y = train[0][idx], train[1][idx]
    if len(np.unique(y)) < 2:
        raise ValueError(f"the {k}-shot probe needs photos of at least 2 classes in the train split")
    best, previous = None, None
    for c in sorted(c_grid):  # along the path: each fit starts from the previous C's solution (fewer L-BFGS steps)
        model = LogisticRegression(C=c, max_iter=2000, random_state=seed, warm_start=True)
        if previous is not None:
            model.coef_, model.intercept_ = previous.coef_.copy(), previous.intercept_.copy()
        previous = model.fit(x, y)
        val_top1 = metrics.topk_accuracy(_full_scores(model, val[0], n_classes), val[1], (1,))["top1"] \
            if len(val[1]) else 0.0
        if best is None or val_top1 > best[0]:
            best = (val_top1, c, model)
    acc = metrics.topk_accuracy(_full_scores(best[2], test[0], n_classes), test[1], (1, 5))
    return {**acc, "C": best[1], "val_top1": best[0], "n_train": int(len(idx)), "n_test": int(len(test[1]))}


# --- the section's grid -------------------------------------------------------------------------

@dataclass(frozen=True)
class ModelSpec:
    """One CLIP of the grid: architecture, tag or checkpoint, language of the class names, ensembles."""

    model: str
    pretrained: str = ""
    checkpoint: str = ""
    names: str = "en"  # "en" or "ru"
    ensembles: tuple[str, ...] = ()  # empty = the config's

    @property
    def tag(self) -> str:
        if self.checkpoint:
            return self.pretrained or f"checkpoint:{Path(self.checkpoint).name}"
        return self.pretrained or "random"

    def key(self) -> dict:
        out = {"model": self.model, "pretrained": self.tag, "names": self.names}
        if self.checkpoint:
            out["fingerprint"] = fingerprint(Path(self.checkpoint).expanduser())
        return out


@dataclass(frozen=True)
class ZeroShotConfig:
    """The `[zeroshot]` table of a profile. Subsets are class counts or "full" (every species)."""

    models: tuple[ModelSpec, ...] = (ModelSpec("minerals-tiny"),)
    subsets: tuple = (10, "full")
    ensembles: tuple[str, ...] = ("bare", "mineral", "openai80")
    ablation: str = "mineral"  # template set scored one template at a time ("" = none)
    ablation_subsets: tuple = (10,)
    probe_k: tuple[int, ...] = (1, 2, 4, 8, 16, 0)  # 0 = every training photo
    probe_subsets: tuple = (10,)
    probe_c: tuple[float, ...] = (0.1, 1.0, 10.0, 100.0, 1000.0)
    split: str = "test"  # photos of a numbered subset that zero-shot is scored on ("test" or "all")
    batch_size: int = 64
    num_workers: int = 0
    decode_factor: float = 2.0  # decode JPEGs (draft mode) to about this x the model's input side
    examples: int = 6

    @classmethod
    def from_section(cls, section: dict) -> "ZeroShotConfig":
        values = section_values(cls, section, "zeroshot")
        if "models" in values:
            values["models"] = tuple(ModelSpec(**{**m, "ensembles": tuple(m.get("ensembles", ()))})
                                     for m in values["models"])
        for name in ("subsets", "ensembles", "ablation_subsets", "probe_k", "probe_subsets", "probe_c"):
            if name in values:
                values[name] = tuple(values[name])
        if values.get("split", "test") not in ("test", "all"):
            raise ValueError(f"[zeroshot] split must be 'test' or 'all', got {values['split']!r}")
        return cls(**values)


@dataclass
class SubsetData:
    """One subset's photos with normalised classes: `labels` over `classes`, `split` per photo."""

    name: str
    dataset: Dataset
    paths: list[str]
    labels: np.ndarray
    split: np.ndarray
    classes: list[str]
    ru_classes: list[str]
    root: Path
    descriptions: dict[int, list[str]] = field(default_factory=dict)

    def class_names(self, lang: str) -> list[str]:
        if lang == "en":
            return self.classes
        missing = [en for en, ru in zip(self.classes, self.ru_classes) if not ru]
        if missing:
            raise ValueError(f"subset {self.name}: no Russian name for {len(missing)} classes (e.g. {missing[0]}); "
                             "add them to the ru column of resources/class_names.csv")
        return self.ru_classes

    def identity(self) -> str:
        """The photos, labels and splits (`minerals.data.fingerprint`: the same wherever the release lies)."""
        return data_fingerprint(self.root, self.paths, [self.labels.tolist(), self.split.tolist()])


def subset_data(release, subset, max_side: int | None, seed: int = 0) -> SubsetData:
    """A numbered subset (all splits) or "full" (every photo, split "test"), class names normalised."""
    from minerals.data import ClassificationDataset, ZeroShotDataset

    if subset == "full":
        ds = ZeroShotDataset(release, None, max_side=max_side)
        split = np.full(len(ds), "test", dtype=object)
    else:
        ds = ClassificationDataset(release, int(subset), "all", None, max_side=max_side, seed=seed)
        split = ds.frame["split"].to_numpy(dtype=object)
    classes, new_label = prompts.normalise_classes(list(ds.classes))
    labels = np.asarray(new_label)[ds.labels]
    ru = prompts.russian_names(list(ds.classes), list(ds.ru_classes), classes, new_label)
    train = ds.frame[split == "train"].assign(label=labels[split == "train"])
    return SubsetData(str(subset), ds, list(ds.paths), labels, split, classes, ru, Path(release.root),
                      prompts.class_descriptions(train) if len(train) else {})


def _input_side(bundle: ClipBundle) -> int:
    return max(bundle.input_size)


class _Section:
    """Lazy state of one `run`: a model is loaded, and features extracted, only when a record is missing."""

    def __init__(self, release, cfg: ZeroShotConfig, artifacts: Path, device: str, seed: int):
        self.release, self.cfg, self.artifacts, self.device, self.seed = release, cfg, Path(artifacts), device, seed
        self._bundle: tuple[ModelSpec, ClipBundle] | None = None
        self._features: dict[tuple, torch.Tensor] = {}
        self._data: dict[tuple, SubsetData] = {}

    def bundle(self, spec: ModelSpec) -> ClipBundle:
        if self._bundle is None or self._bundle[0] != spec:
            self._bundle = None
            self._features.clear()
            self._bundle = (spec, load_clip(spec.model, spec.pretrained or None, spec.checkpoint or None, self.device))
        return self._bundle[1]

    def data(self, subset, max_side: int | None) -> SubsetData:
        key = (str(subset), max_side)
        if key not in self._data:
            self._data[key] = subset_data(self.release, subset, max_side, self.seed)
        return self._data[key]

    def features(self, spec: ModelSpec, subset) -> tuple[torch.Tensor, SubsetData]:
        bundle = self.bundle(spec)
        data = self.data(subset, int(self.cfg.decode_factor * _input_side(bundle)) or None)
        if str(subset) not in self._features:
            self._features[str(subset)] = image_features(bundle, data.dataset, self.artifacts / "features",
                                                         self.cfg.batch_size, self.cfg.num_workers)
        return self._features[str(subset)], data

    def classifier(self, spec: ModelSpec, data: SubsetData, templates: list[str], descriptions: bool) -> torch.Tensor:
        extra = [data.descriptions.get(c, []) for c in range(len(data.classes))] if descriptions else None
        return text_classifier(self.bundle(spec), data.class_names(spec.names), templates, self.artifacts / "text",
                               extra_prompts=extra)


def _eval_mask(data: SubsetData, split: str) -> np.ndarray:
    return np.ones(len(data.labels), bool) if split == "all" or data.name == "full" else data.split == "test"


def run(session, cfg: ZeroShotConfig) -> dict[str, pd.DataFrame]:
    """The section for a session (`run_grid` on its release, store, artifacts, device and seed)."""
    from minerals.benchmark.export import predictions_dir

    return run_grid(session.release, cfg, session.store(SECTION), session.artifacts(SECTION), session.device,
                    session.seed, predictions_dir(session.root, SECTION))


def run_grid(release, cfg: ZeroShotConfig, store: RunStore, artifacts: str | os.PathLike, device: str = "cpu",
             seed: int = 0, predictions: str | os.PathLike | None = None) -> dict[str, pd.DataFrame]:
    """Run (or resume) the grid; return the tables `zeroshot`, `zeroshot_templates`, `clip_probe`,
    `zeroshot_class_recall` and the `examples` of right and wrong answers (a DataFrame).

    With `predictions` (a folder), each `zeroshot` row's ranked classes are written there as a benchmark
    submission (`<subset>-<model>-<tag>-<templates>.csv`, `minerals.benchmark.export`); a missing file is
    recomputed.
    """
    section = _Section(release, cfg, Path(artifacts), device, seed)
    rows: dict[str, list[dict]] = {"zeroshot": [], "zeroshot_templates": [], "clip_probe": [],
                                   "zeroshot_class_recall": [], "examples": []}
    for spec in cfg.models:
        ident = {"model": spec.model, "pretrained": spec.tag}
        for subset in cfg.subsets:
            data_key = _data_key(section, subset)
            for ensemble in spec.ensembles or cfg.ensembles:
                key = {"kind": "zeroshot", **spec.key(), "subset": str(subset), "split": cfg.split, "data": data_key,
                       "ensemble": ensemble, "templates": prompts.ensemble_templates(ensemble),
                       "descriptions": prompts.uses_descriptions(ensemble), "temperature": "learned"}
                export = Path(predictions) / (f"{subset}-{spec.model}-{spec.tag}-{ensemble}.csv".replace("/", "_")
                                              .replace("+", "_")) if predictions else None
                m = store.run(key, lambda: _zeroshot_record(section, spec, subset, ensemble, export),
                              force=export is not None and not export.exists())
                rows["zeroshot"].append({"subset": str(subset), **ident, "templates": ensemble,
                                         **{c: m[c] for c in ("n_classes", "n_images", "top1", "top3", "top5",
                                                              "top10", "balanced_acc")}})
                rows["zeroshot_class_recall"] += [
                    {"subset": str(subset), **ident, "templates": ensemble, "class": name, "recall": r,
                     "n_images": n} for name, r, n in zip(m["classes"], m["per_class_recall"], m["class_images"])]
                rows["examples"] += [{"subset": str(subset), **ident, "templates": ensemble,
                                      **{c: e[c] for c in ("kind", "path", "true", "top", "prob")}}
                                     for e in m["examples"]]
            if cfg.ablation and subset in cfg.ablation_subsets:
                for template in prompts.ensemble_templates(cfg.ablation):
                    key = {"kind": "template", **spec.key(), "subset": str(subset), "split": cfg.split,
                           "data": data_key, "template": template}
                    m = store.run(key, lambda: _template_record(section, spec, subset, template))
                    rows["zeroshot_templates"].append({"subset": str(subset), **ident, "template_set": cfg.ablation,
                                                       "template": template, "top1": m["top1"], "top5": m["top5"],
                                                       "balanced_acc": m["balanced_acc"],
                                                       "n_images": m["n_images"]})
            if subset in cfg.probe_subsets and subset != "full":
                for k in cfg.probe_k:
                    key = {"kind": "probe", **spec.key(), "subset": str(subset), "data": data_key, "k": k,
                           "c_grid": list(cfg.probe_c), "seed": seed}
                    m = store.run(key, lambda: _probe_record(section, spec, subset, k))
                    rows["clip_probe"].append({"subset": str(subset), **ident, "k": "all" if k == 0 else str(k),
                                               "top1": m["top1"], "top5": m["top5"], "C": m["C"],
                                               "n_train": m["n_train"], "n_test": m["n_test"]})
    return {name: pd.DataFrame(r) for name, r in rows.items()}


def _data_key(section: _Section, subset) -> str:
    """Identity of a subset's photos, labels and splits (decode size excluded: it is in the feature cache key)."""
    return section.data(subset, None).identity()


def _zeroshot_record(section: _Section, spec: ModelSpec, subset, ensemble: str, export: Path | None = None) -> dict:
    feats, data = section.features(spec, subset)
    mask = _eval_mask(data, section.cfg.split)
    weights = section.classifier(spec, data, prompts.ensemble_templates(ensemble), prompts.uses_descriptions(ensemble))
    labels = data.labels[mask]
    out, scores = evaluate(feats[torch.from_numpy(mask)], weights, labels, scale=temperature(section.bundle(spec)))
    paths = [p for p, keep in zip(data.paths, mask) if keep]
    out["examples"] = examples(scores, labels, paths, data.classes, section.cfg.examples, section.seed)
    out["classes"] = data.classes
    out["class_images"] = np.bincount(labels, minlength=len(data.classes)).tolist()
    if export is not None and distributed.is_main():
        from minerals.benchmark.export import write_ranked

        ids = data.dataset.frame["id"].to_numpy()[mask]
        write_ranked(export, ids, np.asarray(data.classes, dtype=object)[scores.top])
    return out


def _template_record(section: _Section, spec: ModelSpec, subset, template: str) -> dict:
    feats, data = section.features(spec, subset)
    mask = _eval_mask(data, section.cfg.split)
    out, _ = evaluate(feats[torch.from_numpy(mask)], section.classifier(spec, data, [template], False),
                      data.labels[mask], (1, 5))
    return {k: out[k] for k in ("top1", "top5", "balanced_acc", "n_images", "n_classes")}


def _probe_record(section: _Section, spec: ModelSpec, subset, k: int) -> dict:
    feats, data = section.features(spec, subset)
    x = feats.numpy()
    part = {s: (x[data.split == s], data.labels[data.split == s]) for s in ("train", "val", "test")}
    return linear_probe(part["train"], part["val"], part["test"], len(data.classes), k, section.seed,
                        section.cfg.probe_c)
