"""The species classifiers of `minerals identify`: a few-shot checkpoint, or zero-shot CLIP over a class list.

Both become a `Classifier`: a model that maps a normalised batch to logits over its classes (and is
also the CAM model), the preprocessing it was evaluated with, and a warning when its predictions are
not meaningful (random weights).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from PIL import Image
from torch import nn

from minerals.zeroshot.scoring import softmax, temperature

RANDOM_WEIGHTS_WARNING = ("{name} has random weights (no checkpoint): its predictions and CAMs are not meaningful; "
                          "they only show that every step runs")
SYNTHETIC_WARNING = ("{name} was trained on the synthetic smoke photos: its predictions say nothing about real "
                     "specimens; train it on the real release (`minerals fewshot train --data-root DIR`)")


class IdentifyError(ValueError):
    """A classifier, class list or setting that cannot be used (the message names the file and what to do)."""


@dataclass
class Classifier:
    """A loaded species classifier: what `Identifier` needs from a few-shot model or a zero-shot CLIP.

    `model` maps a normalised `(B, 3, H, W)` batch to `(B, C)` logits over `classes` and is also the
    CAM model; `transform` is the scoring preprocessing (PIL image -> `(3, H, W)`), the one the
    model was evaluated with; CAMs use the whole photo resized to `cam_resolution` with `mean`/`std`.
    Probabilities are `softmax(logit_scale * logits)` (`minerals.zeroshot.scoring`: CLIP's learned scale). `warning` says why predictions are not
    meaningful (random weights, ...) or is None.
    """

    model: nn.Module
    classes: list[str]
    transform: Callable
    cam_resolution: int | tuple[int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    name: str
    device: str = "cpu"
    logit_scale: float = 1.0
    warning: str | None = None

    @torch.no_grad()
    def probabilities(self, images: Sequence[Image.Image]) -> np.ndarray:
        """`(B, C)` float32 class probabilities of RGB PIL images (one batched forward)."""
        batch = torch.stack([self.transform(im) for im in images]).to(self.device)
        return softmax(self.model(batch), self.logit_scale)


def fewshot_classifier(model: nn.Module, info: dict, device: str = "cpu", warning: str | None = None) -> Classifier:
    """A `Classifier` from a fine-tuned model and its checkpoint `info` (`minerals.fewshot.section.trained_model`).

    `warning`: why its predictions are not meaningful (e.g. trained on synthetic photos), or None.
    """
    from minerals.models.classifiers import preprocessing

    pre = preprocessing(info)
    source = Path(info["checkpoint"]).name if info.get("checkpoint") else "in memory"
    return Classifier(model=model.to(device).eval(), classes=list(info["classes"]), transform=pre.eval_transform(),
                      cam_resolution=pre.resolution, mean=tuple(pre.mean), std=tuple(pre.std),
                      name=f"few-shot {info['model']} ({len(info['classes'])} classes, {source})", device=device,
                      warning=warning)


def load_fewshot(checkpoint: str | os.PathLike, device: str = "cpu") -> Classifier:
    """A `Classifier` from a checkpoint written by `minerals fewshot train` (its `best.pt`).

    Raises IdentifyError naming the path when it is missing or not a few-shot checkpoint.
    """
    from minerals.fewshot.section import CheckpointError, load_checkpoint

    try:
        model, info = load_checkpoint(checkpoint, device)
    except CheckpointError as exc:
        raise IdentifyError(str(exc)) from exc
    synthetic = info.get("data", {}).get("synthetic")
    warning = SYNTHETIC_WARNING.format(name=f"few-shot {info['model']}") if synthetic else None
    return fewshot_classifier(model, info, device, warning)


def zeroshot_classifier(bundle, classes: Sequence[str], templates: str = "mineral",
                        cache_dir: str | os.PathLike | None = None) -> Classifier:
    """A `Classifier` from a loaded CLIP (`minerals.models.clip.load_clip`) over `classes` with a prompt ensemble.

    The CAM model is the image tower scored against each class's averaged prompt embedding.
    """
    from minerals.zeroshot.prompts import ensemble_templates
    from minerals.zeroshot.section import text_classifier

    weights = text_classifier(bundle, list(classes), ensemble_templates(templates), cache_dir)  # (D, C)
    from minerals.models.clip import PromptHead

    model = PromptHead(bundle.model.visual, torch.as_tensor(weights).T).to(bundle.device).eval()
    cfg = bundle.preprocess_cfg
    return Classifier(
        model=model, classes=list(classes), transform=bundle.preprocess,
        cam_resolution=_pair(cfg["size"]), mean=tuple(cfg["mean"]), std=tuple(cfg["std"]),
        name=f"zero-shot CLIP {bundle.name}/{bundle.tag} ({len(classes)} classes, templates {templates})",
        device=bundle.device, logit_scale=temperature(bundle),
        warning=RANDOM_WEIGHTS_WARNING.format(name=f"CLIP {bundle.name}") if bundle.random_weights else None)


def load_zeroshot(model: str, classes: Sequence[str], pretrained: str | None = None,
                  checkpoint: str | os.PathLike | None = None, templates: str = "mineral", device: str = "cpu",
                  cache_dir: str | os.PathLike | None = None) -> Classifier:
    """Load CLIP (`minerals.models.clip.load_clip`: hub tag, local checkpoint, or a shipped random-weight config)."""
    from minerals.models.clip import load_clip

    return zeroshot_classifier(load_clip(model, pretrained, checkpoint, device), classes, templates, cache_dir)


def _pair(size) -> tuple[int, int]:
    return (int(size), int(size)) if np.isscalar(size) else (int(size[0]), int(size[1]))
