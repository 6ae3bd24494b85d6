"""Classifiers to take CAMs of, by name: a few-shot checkpoint, an ImageNet model, or a CLIP tower with prompts.

A backbone spec is `KIND:NAME`:

    fewshot:tf_efficientnet_lite0     the few-shot classifier fine-tuned in this run (needs a session)
    checkpoint:PATH                   a few-shot checkpoint file (`best.pt` of `minerals fewshot train`)
    imagenet:tf_efficientnet_lite0    an ImageNet classifier by timm/torchvision name (pretrained)
    clip:ViT-B-32@openai              an open_clip image tower; the CAM target is the similarity to the
                                      mean embedding of the prompts (`clip:minerals-tiny`: random weights)

With each CAM the target is the backbone's top class, except CLIP, whose target is the prompt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from torch import nn

from minerals.cam.methods import CamError

KINDS = ("fewshot", "checkpoint", "imagenet", "clip")
DEFAULT_PROMPTS = ("a photo of a mineral specimen.", "a photo of a mineral.", "a photo of a rock.",
                   "a photo of a crystal.")


@dataclass
class Backbone:
    """A model in eval mode with its input preprocessing; `identity` (JSON-able) keys cached CAMs."""

    spec: str
    model: nn.Module
    resolution: int | tuple[int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    identity: dict = field(default_factory=dict)
    prompt_target: bool = False  # True: every image's CAM target is class 0 (the prompt), not its top class

    def targets(self, n: int) -> list[int] | None:
        """CAM targets of `n` images: the prompt for CLIP, None (each image's top class) otherwise."""
        return [0] * n if self.prompt_target else None


def load_backbone(spec: str, session=None, device: str = "cpu", prompts: Sequence[str] = DEFAULT_PROMPTS,
                  fewshot_subset: int = 10) -> Backbone:
    """Load a backbone from its spec (module doc). `session` is needed only for `fewshot:`."""
    kind, _, name = spec.partition(":")
    if kind not in KINDS or not name:
        raise CamError(f"unknown backbone {spec!r}: write KIND:NAME with KIND one of {', '.join(KINDS)} "
                       "(e.g. imagenet:tf_efficientnet_lite0, clip:ViT-B-32@openai, checkpoint:runs/best.pt)")
    if kind == "clip":
        return _clip_backbone(spec, name, device, prompts)
    from minerals.models.classifiers import create_classifier, preprocessing

    if kind == "imagenet":
        model = create_classifier(name, num_classes=1000, pretrained=True).to(device).eval()
        pre = preprocessing(name)
        return Backbone(spec, model, pre.resolution, pre.mean, pre.std, {"spec": spec})
    from minerals.models.clip import fingerprint
    from minerals.fewshot.section import load_checkpoint, trained_model

    if kind == "fewshot":
        if session is None:
            raise CamError(f"backbone {spec!r} is trained within a notebook session; from the command line use "
                           "checkpoint:PATH (a best.pt written by `minerals fewshot train`)")
        model, info = trained_model(session, subset=fewshot_subset, model=name, pretrained=True)
    else:
        model, info = load_checkpoint(name, device)
    pre = preprocessing(info)
    checkpoint = Path(info["checkpoint"])
    return Backbone(spec, model.to(device).eval(), pre.resolution, pre.mean, pre.std,
                    {"spec": spec, "checkpoint": fingerprint(checkpoint)})


def _clip_backbone(spec: str, name: str, device: str, prompts: Sequence[str]) -> Backbone:
    from minerals.models.clip import PromptHead, load_clip

    if not prompts:
        raise CamError(f"backbone {spec!r} needs at least one text prompt as its CAM target")
    model_name, _, tag = name.partition("@")
    bundle = load_clip(model_name, pretrained=tag or None, device=device)
    text = bundle.encode_texts(list(prompts)).mean(dim=0, keepdim=True)
    classifier = PromptHead(bundle.model.visual, text, cosine=False).to(device).eval()
    cfg = bundle.preprocess_cfg
    size = cfg.get("size", 224)
    resolution = int(size) if isinstance(size, (int, float)) else tuple(int(s) for s in size)
    return Backbone(spec, classifier, resolution, tuple(cfg["mean"]), tuple(cfg["std"]),
                    {"spec": spec, **bundle.identity, "prompts": list(prompts)}, prompt_target=True)

