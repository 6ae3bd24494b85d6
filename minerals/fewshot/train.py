"""Fine-tuning loop of the few-shot section: data loaders, AdamW + warm-up/cosine, checkpoints, resume.

A run folder holds `best.pt` (best validation top-1: weights + `info`), `last.pt` (everything needed to
resume: weights, optimiser, schedule, epoch, history) and `train.jsonl` (one JSON line per epoch,
rewritten with `last.pt`).
Every epoch reseeds the global RNGs from (seed, epoch), so a resumed run matches an uninterrupted one.

Under `torchrun` (`minerals.models.distributed`) the same function trains data-parallel: the model is
wrapped in DistributedDataParallel, each rank draws its share of every epoch (`DistributedSampler`
with the epoch set) with `batch_size // world` photos per step (the global batch stays
`batch_size`), validation photos are split across ranks and the metrics summed over them, and only
rank 0 writes files. BatchNorm statistics stay per rank (no SyncBatchNorm).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, RandomSampler, Sampler, Subset, WeightedRandomSampler
from tqdm import tqdm

from minerals.models import distributed
from minerals.data.splits import k_per_class
from minerals.fewshot.config import FewShotConfig
from minerals.models.classifiers import Preprocessing, create_classifier, preprocessing
from minerals.results import atomic_write

BEST, LAST, LOG = "best.pt", "last.pt", "train.jsonl"


class CheckpointError(FileNotFoundError):
    """A checkpoint that is missing or unreadable."""


class CachedImages(Dataset):
    """Wrap a dataset of `(PIL image, label)`: decode each photo once, keep it, then apply `transform`.

    Memory is about `len(base) * max_side**2 * 2` bytes for 3:2 photos: use it for small subsets.
    With DataLoader workers each worker keeps its own cache, so use it with `num_workers=0`.
    """

    def __init__(self, base: Dataset, transform: Callable, cache: bool = True):
        self.base, self.transform, self.cache = base, transform, cache
        self._images: dict[int, object] = {}

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int):
        if i in self._images:
            image, label = self._images[i]
        else:
            image, label = self.base[i]
            if self.cache:
                self._images[i] = (image, label)
        return self.transform(image), label


class Shots(Dataset):
    """At most `shots` photos per class of a labelled dataset, drawn with `seed` (every photo when 0).

    Keeps the base's `labels`, `classes` and `frame` (restricted to the kept rows).
    """

    def __init__(self, base: Dataset, shots: int, seed: int):
        labels = np.asarray(base.labels)
        self.indices = k_per_class(labels, shots, seed)
        self.base, self.labels, self.classes = base, labels[self.indices], base.classes
        frame = getattr(base, "frame", None)
        self.frame = None if frame is None else frame.iloc[self.indices].reset_index(drop=True)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int):
        return self.base[int(self.indices[i])]


def decode_side(resolution: int) -> int:
    """Longest side (px) to decode photos at for a `resolution` input: twice the input keeps crop detail."""
    return 2 * int(resolution)


def epoch_seed(seed: int, epoch: int) -> int:
    """The RNG seed of one epoch (augmentations, sampling, dropout)."""
    return int(seed) * 100_003 + int(epoch)


def make_sampler(labels: np.ndarray, balanced: bool, generator: torch.Generator):
    """Random order over the training set, or class-balanced draws with replacement (same length)."""
    if not balanced:
        return RandomSampler(range(len(labels)), generator=generator)
    counts = np.bincount(labels)
    weights = torch.as_tensor(1.0 / counts[labels], dtype=torch.double)
    return WeightedRandomSampler(weights, num_samples=len(labels), replacement=True, generator=generator)


class RankSlice(Sampler):
    """This rank's share `order[rank::world]` of a sampler's order, padded by wrapping to equal lengths."""

    def __init__(self, base: Sampler, rank: int, world: int):
        self.base, self.rank, self.world = base, rank, world

    def __len__(self) -> int:
        return math.ceil(len(self.base) / self.world)

    def __iter__(self):
        order = list(self.base)
        order += order[:len(self) * self.world - len(order)]
        return iter(order[self.rank::self.world])


def rank_sampler(labels: np.ndarray, balanced: bool, generator: torch.Generator, seed: int, epoch: int):
    """This rank's sampler for one epoch: `DistributedSampler` (epoch set) or its share of balanced draws."""
    if balanced:  # the same seeded draws on every rank, then split
        return RankSlice(make_sampler(labels, True, generator), distributed.rank(), distributed.world())
    sampler = DistributedSampler(range(len(labels)), distributed.world(), distributed.rank(), shuffle=True, seed=seed)
    sampler.set_epoch(epoch)
    return sampler


def warmup_cosine(step: int, total: int, warmup: int, floor: float = 0.01) -> float:
    """LR multiplier: linear from 1/warmup up to 1 over `warmup` steps, then cosine down to `floor`."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups: no weight decay on biases and normalisation weights (1-D tensors)."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (no_decay if p.ndim <= 1 else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def model_info(cfg: FewShotConfig, pre: Preprocessing, classes: list[str]) -> dict:
    """What a checkpoint needs to be used alone: architecture, classes in label order, preprocessing."""
    return {"model": cfg.model, "pretrained": cfg.pretrained, "subset": cfg.subset, "classes": list(classes),
            "num_classes": len(classes), "resolution": pre.resolution, "mean": list(pre.mean),
            "std": list(pre.std), "crop_pct": pre.crop_pct}


def save_checkpoint(path: Path, payload: dict) -> None:
    """`torch.save` atomically."""
    with atomic_write(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path, device: str = "cpu") -> tuple[nn.Module, dict]:
    """Rebuild a trained classifier: `(model in eval mode on device, info)`; info gains `checkpoint`."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path.resolve()}; train one with `minerals fewshot train` "
                              "or pass the path of a best.pt")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        info = dict(payload["info"])
        model = create_classifier(info["model"], int(info["num_classes"]), pretrained=False)
        model.load_state_dict(payload["model"])
    except (RuntimeError, KeyError, EOFError, OSError) as exc:
        raise CheckpointError(f"{path}: not a usable few-shot checkpoint ({type(exc).__name__}: {exc}); "
                              "delete it and train again") from exc
    info["checkpoint"] = str(path.resolve())
    return model.to(device).eval(), info


def predict_scores(model: nn.Module, loader: DataLoader, device: str, amp: bool = False,
                   channels_last: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Softmax probabilities `(N, C)` (float32) and labels `(N,)` over a loader of `(images, labels)`."""
    model.eval()
    scores, labels = [], []
    with torch.inference_mode(), _autocast(device, amp):
        for x, y in loader:
            x = _to_device(x, device, channels_last)
            scores.append(model(x).float().softmax(dim=1).cpu())
            labels.append(torch.as_tensor(y))
    if not scores:
        return np.zeros((0, 0), np.float32), np.zeros(0, np.int64)
    return torch.cat(scores).numpy(), torch.cat(labels).numpy()


def _autocast(device: str, amp: bool):
    """bf16 autocast on CUDA when `amp`; a no-op context on the CPU."""
    return torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp and device.startswith("cuda"))


def _to_device(x: torch.Tensor, device: str, channels_last: bool) -> torch.Tensor:
    x = x.to(device, non_blocking=True)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def loader(dataset: Dataset, cfg: FewShotConfig, device: str, sampler=None, generator=None,
           batch_size: int | None = None) -> DataLoader:
    """A DataLoader with the config's batch size (or `batch_size`) and workers (pinned memory on CUDA)."""
    return DataLoader(dataset, batch_size=batch_size or cfg.batch_size, sampler=sampler, shuffle=False,
                      num_workers=cfg.num_workers, generator=generator, pin_memory=device.startswith("cuda"),
                      persistent_workers=False)


def _train_epoch(model, batches, optimizer, schedule, criterion, device, amp, channels_last, bar, epoch):
    """One pass over `batches`: `(photos seen, summed loss, correct top-1 on the augmented training photos)`."""
    model.train()
    seen, loss_sum, correct = 0, 0.0, 0
    for x, y in batches:
        x, y = _to_device(x, device, channels_last), y.to(device)
        with _autocast(device, amp):
            logits = model(x)
            loss = criterion(logits.float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        value = loss.item()
        seen += len(y)
        loss_sum += value * len(y)
        correct += int((logits.argmax(1) == y).sum())
        bar.update()
        bar.set_postfix(epoch=epoch + 1, loss=f"{value:.3f}")
    return seen, loss_sum, correct


def _val_sums(scores: np.ndarray, labels: np.ndarray) -> list[float]:
    """`[photos, correct top-1, summed negative log-likelihood]` of `(N, C)` probabilities."""
    if not len(labels):
        return [0.0, 0.0, 0.0]
    nll = -np.log(np.clip(scores[np.arange(len(labels)), labels], 1e-12, None)).sum()
    return [float(len(labels)), float((scores.argmax(1) == labels).sum()), float(nll)]


def _val_metrics(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Top-1 and mean negative log-likelihood of `(N, C)` probabilities; NaN for an empty split."""
    if not len(labels):
        return float("nan"), float("nan")
    top1 = float((scores.argmax(1) == labels).mean())
    nll = -np.log(np.clip(scores[np.arange(len(labels)), labels], 1e-12, None)).mean()
    return top1, float(nll)


def train(cfg: FewShotConfig, train_set: Dataset, val_set: Dataset, classes: list[str], run_dir: Path,
          device: str = "cpu", echo: bool = True, data: dict | None = None) -> dict:
    """Fine-tune `cfg.model` on `train_set`; resume from `run_dir/last.pt` when it exists.

    Datasets yield `(PIL image, label)` and expose `labels` (`(N,)` ints), like
    `minerals.data.ClassificationDataset` without a transform.

    Keeps the best validation top-1 in `run_dir/best.pt` (the last epoch when `val_set` is empty).
    Returns a JSON-able summary: checkpoint path, best epoch, history, sizes, throughput (photos/s
    of all ranks together). Raises DistributedError when torchrun starts more ranks than photos.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    pre = preprocessing(cfg.model, cfg.resolution)
    torch.manual_seed(cfg.seed)
    model = create_classifier(cfg.model, len(classes), cfg.pretrained).to(device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    train_set = Shots(train_set, cfg.shots, cfg.seed)
    ranks, rank = distributed.world(), distributed.rank()
    if ranks > len(train_set):
        raise distributed.DistributedError(
            f"torchrun started {ranks} ranks but the training split of the {cfg.subset}-class subset has "
            f"{len(train_set)} photos: use --nproc_per_node {max(1, len(train_set))} or fewer")
    train_ds = CachedImages(train_set, pre.train_transform() if cfg.augment else pre.eval_transform(), cfg.cache_images)
    val_ds = CachedImages(val_set, pre.eval_transform(), cfg.cache_images)
    labels = np.asarray(train_set.labels)
    batch_size = max(1, cfg.batch_size // ranks)  # per rank: the global batch stays cfg.batch_size
    steps_per_epoch = math.ceil(math.ceil(len(train_ds) / ranks) / batch_size)
    total = steps_per_epoch * cfg.epochs
    warmup = round(cfg.warmup_epochs * steps_per_epoch)
    optimizer = torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: warmup_cosine(s, total, warmup))
    criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    info = {**model_info(cfg, pre, classes), "data": dict(data or {})}  # data: provenance, e.g. synthetic
    state = {"epoch": 0, "best": None, "history": []}
    last = run_dir / LAST
    payload = None
    if distributed.is_main():
        if last.is_file() and not (run_dir / BEST).is_file():
            last.unlink()  # its best checkpoint was deleted: start again rather than finish without one
        if last.is_file():
            payload = torch.load(last, map_location="cpu", weights_only=True)
    payload = distributed.broadcast(payload)  # every rank resumes from rank 0's file
    if payload is not None:
        model.load_state_dict(payload["model"])
        optimizer.load_state_dict(payload["optimizer"])
        schedule.load_state_dict(payload["schedule"])
        state = payload["state"]
    amp = cfg.amp and device.startswith("cuda")
    net = model
    if ranks > 1:
        net = nn.parallel.DistributedDataParallel(
            model, device_ids=[torch.device(device).index] if device.startswith("cuda") else None)
    main = distributed.is_main()
    bar = tqdm(total=total, initial=state["epoch"] * steps_per_epoch, desc=f"{cfg.model} {pre.resolution}px",
               unit="batch", mininterval=2.0, disable=not main)
    for epoch in range(state["epoch"], cfg.epochs):
        torch.manual_seed(epoch_seed(cfg.seed, epoch) + 1_000_003 * rank)  # augmentations differ per rank
        generator = torch.Generator().manual_seed(epoch_seed(cfg.seed, epoch))
        if ranks > 1:
            sampler = rank_sampler(labels, cfg.balanced_sampler, generator, epoch_seed(cfg.seed, 0), epoch)
        else:
            sampler = make_sampler(labels, cfg.balanced_sampler, generator)
        start = time.perf_counter()
        sums = _train_epoch(net, loader(train_ds, cfg, device, sampler, generator, batch_size), optimizer, schedule,
                            criterion, device, amp, cfg.channels_last, bar, epoch)
        seen, loss_sum, correct = distributed.sum_all(list(sums)) if ranks > 1 else sums
        train_loss, train_top1 = loss_sum / max(seen, 1), correct / max(seen, 1)
        train_s = time.perf_counter() - start
        if ranks > 1:  # each rank scores photos rank::world; the sums are reduced
            part = Subset(val_ds, list(distributed.mine(len(val_ds))))
            n_val, val_correct, nll = distributed.sum_all(_val_sums(*predict_scores(
                model, loader(part, cfg, device), device, amp, cfg.channels_last)))
            val_top1, val_loss = (val_correct / n_val, nll / n_val) if n_val else (float("nan"), float("nan"))
        else:
            val_scores, val_labels = predict_scores(model, loader(val_ds, cfg, device), device, amp,
                                                    cfg.channels_last)
            val_top1, val_loss = _val_metrics(val_scores, val_labels)
            n_val = len(val_labels)
        line = {"epoch": epoch + 1, "train_loss": round(train_loss, 5), "train_top1": round(train_top1, 5),
                "val_loss": round(val_loss, 5), "val_top1": round(val_top1, 5), "lr": optimizer.param_groups[0]["lr"],
                "train_s": round(train_s, 3), "images_per_s": round(seen / train_s, 2)}
        state["history"].append(line)
        better = state["best"] is None or not n_val or (val_top1, -val_loss) > (
            state["best"]["val_top1"], -state["best"]["val_loss"])
        if better:
            state["best"] = {"epoch": epoch + 1, "val_top1": val_top1, "val_loss": val_loss}
            if main:
                save_checkpoint(run_dir / BEST, {"model": model.state_dict(), "info": {**info, **state["best"]}})
        state["epoch"] = epoch + 1
        if main:
            save_checkpoint(last, {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                   "schedule": schedule.state_dict(), "state": state})
            with atomic_write(run_dir / LOG) as tmp:
                tmp.write_text("".join(json.dumps(h) + "\n" for h in state["history"]), encoding="utf-8")
        if echo and main:
            tqdm.write(json.dumps(line))
    bar.close()
    history = state["history"]
    return {"checkpoint": str(run_dir / BEST), "best_epoch": state["best"]["epoch"],
            "best_val_top1": state["best"]["val_top1"], "history": history, "n_train": len(train_set),
            "n_val": len(val_set), "resolution": pre.resolution,
            "train_images_per_s": round(float(np.median([h["images_per_s"] for h in history])), 2)}
