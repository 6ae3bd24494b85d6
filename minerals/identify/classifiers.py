"""The species classifiers of `minerals identify`: a few-shot checkpoint, or zero-shot CLIP over a class list.

Both become a `minerals.models.registry.LoadedModel` with `classes`, the scoring `transform` it was
evaluated with, and a warning when its predictions are not meaningful (random weights, synthetic data).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from minerals.models.clip import PromptHead
from minerals.models.registry import LoadedModel, clip_spec
from minerals.zeroshot.scoring import temperature

RANDOM_WEIGHTS_WARNING = ("{name} has random weights (no checkpoint): its predictions and CAMs are not meaningful; "
                          "they only show that every step runs")
SYNTHETIC_WARNING = ("{name} was trained on the synthetic smoke photos: its predictions say nothing about real "
                     "specimens; train it on the real release (`minerals fewshot train --data-root DIR`)")


class IdentifyError(ValueError):
    """A classifier, class list or setting that cannot be used (the message names the file and what to do)."""


def fewshot_classifier(model: nn.Module, info: dict, device: str = "cpu", warning: str | None = None) -> LoadedModel:
    """A `LoadedModel` from a fine-tuned model and its checkpoint `info` (`minerals.fewshot.section.trained_model`).

    `warning`: why its predictions are not meaningful (e.g. trained on synthetic photos), or None.
    """
    from minerals.models.classifiers import preprocessing

    pre = preprocessing(info)
    source = Path(info["checkpoint"]).name if info.get("checkpoint") else "in memory"
    spec = f"checkpoint:{info['checkpoint']}" if info.get("checkpoint") else f"fewshot:{info['model']}"
    return LoadedModel(spec=spec, model=model.to(device).eval(), classes=list(info["classes"]),
                       transform=pre.eval_transform(), resolution=pre.resolution, mean=tuple(pre.mean),
                       std=tuple(pre.std), name=f"few-shot {info['model']} ({len(info['classes'])} classes, {source})",
                       device=device, warning=warning)


def load_fewshot(checkpoint: str | os.PathLike, device: str = "cpu") -> LoadedModel:
    """A `LoadedModel` from a checkpoint written by `minerals fewshot train` (its `best.pt`).

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
                        cache_dir: str | os.PathLike | None = None) -> LoadedModel:
    """A `LoadedModel` from a loaded CLIP (`minerals.models.clip.load_clip`) over `classes` with a prompt ensemble.

    The CAM model is the image tower scored against each class's averaged prompt embedding.
    """
    from minerals.zeroshot.prompts import ensemble_templates
    from minerals.zeroshot.section import text_classifier

    weights = text_classifier(bundle, list(classes), ensemble_templates(templates), cache_dir)  # (D, C)
    model = PromptHead(bundle.model.visual, torch.as_tensor(weights).T).to(bundle.device).eval()
    cfg = bundle.preprocess_cfg
    return LoadedModel(
        spec=clip_spec(bundle.name, bundle.tag), model=model, classes=list(classes), transform=bundle.preprocess,
        resolution=bundle.input_size, mean=tuple(cfg["mean"]), std=tuple(cfg["std"]), identity=bundle.identity,
        name=f"zero-shot CLIP {bundle.name}/{bundle.tag} ({len(classes)} classes, templates {templates})",
        device=bundle.device, logit_scale=temperature(bundle),
        warning=RANDOM_WEIGHTS_WARNING.format(name=f"CLIP {bundle.name}") if bundle.random_weights else None)


def load_zeroshot(model: str, classes: Sequence[str], pretrained: str | None = None,
                  checkpoint: str | os.PathLike | None = None, templates: str = "mineral", device: str = "cpu",
                  cache_dir: str | os.PathLike | None = None) -> LoadedModel:
    """Load CLIP (`minerals.models.clip.load_clip`: hub tag, local checkpoint, or a shipped random-weight config)."""
    from minerals.models.clip import load_clip

    return zeroshot_classifier(load_clip(model, pretrained, checkpoint, device), classes, templates, cache_dir)
