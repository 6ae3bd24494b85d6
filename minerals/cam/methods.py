"""Class-activation maps through the grad-cam package, batched, on CNN classifiers and CLIP image towers.

`CamExtractor` is the one object to use: a context manager that puts grad-cam's hooks on the model's
target layer, computes `(B, H, W)` CAMs in [0, 1] for a normalised `(B, 3, H, W)` batch, and releases
every hook (and any grad-cam layer swap) on exit, even after an error. `compute_cams` runs it over a
list of images with a progress bar. Masks from CAMs are in `minerals.cam.mask`, scoring in
`minerals.cam.section`.

Speed: gradient methods need d(score)/d(activation) at the target layer only, so the extractor freezes
every parameter for the duration of the call and makes the target layer's output a leaf of the graph:
the backward pass then runs through the head alone, not through the whole network.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch
from pytorch_grad_cam import (AblationCAM, AblationLayer, AblationLayerVit, EigenCAM, GradCAM, GradCAMPlusPlus,
                              HiResCAM, LayerCAM, ScoreCAM, XGradCAM)
from pytorch_grad_cam.utils.find_layers import replace_layer_recursive
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn

from minerals.models import distributed


class TopChannelScoreCAM(ScoreCAM):
    """grad-cam's ScoreCAM restricted to the `channels` activation maps of highest variance per image.

    ScoreCAM runs one forward pass per channel (1,280 for EfficientNet-Lite0); scoring only the
    most varied maps (the channel selection of Faster Score-CAM) cuts that to `channels`, and the
    other maps get weight 0. `channels=None` is plain ScoreCAM.
    """

    def __init__(self, model, target_layers, reshape_transform=None, channels: int | None = None):
        super().__init__(model, target_layers, reshape_transform=reshape_transform)
        self.channels = channels

    def get_cam_weights(self, input_tensor, target_layer, targets, activations, grads):
        if self.channels is None or self.channels >= activations.shape[1]:
            return super().get_cam_weights(input_tensor, target_layer, targets, activations, grads)
        flat = activations.reshape(*activations.shape[:2], -1)
        keep = np.argsort(-flat.var(axis=-1), axis=1)[:, :self.channels]  # (B, k)
        kept = np.take_along_axis(activations, keep[:, :, None, None], axis=1)
        weights = np.zeros(activations.shape[:2], dtype=np.float32)
        np.put_along_axis(weights, keep, super().get_cam_weights(input_tensor, target_layer, targets, kept, grads),
                          axis=1)
        return weights


def principal_projection(activations: np.ndarray) -> np.ndarray:
    """`(B, C, h, w)` -> `(B, h, w)`: each photo's centred maps projected on their first principal component.

    The same maps as grad-cam's `get_2d_projection`, from a thin SVD: grad-cam asks numpy for the full
    `C x C` factor (1,280 x 1,280 per photo for EfficientNet-Lite0), about 20 times slower there.
    """
    out = []
    for maps in np.nan_to_num(activations):
        pixels = maps.reshape(len(maps), -1).T
        pixels = pixels - pixels.mean(axis=0)
        first = np.linalg.svd(pixels, full_matrices=False)[2][0]
        out.append((pixels @ first).reshape(maps.shape[1:]))
    return np.float32(out)


class ThinEigenCAM(EigenCAM):
    """grad-cam's EigenCAM computed with `principal_projection`."""

    def get_cam_image(self, input_tensor, target_layer, target_category, activations, grads, eigen_smooth):
        return principal_projection(activations)


class _LiveChannels:
    """Mixin for grad-cam's ablation layers: only channels that vary are candidates for ablation, and
    the objectness mask that ranks them comes from a thin SVD (`principal_projection`).

    With `ratio_channels_to_ablate` < 1, grad-cam 1.5.7 scores a constant (e.g. dead, all-zero)
    channel 0/0 = NaN, and its sort then picks those channels first, although ablating a constant
    map cannot move the CAM. Here they are left out before grad-cam picks among the others.
    """

    def objectiveness_mask_from_svd(self, activations, threshold=0.01):
        """grad-cam's objectness mask (|first principal component| above `threshold` of its range), thin SVD."""
        projection = np.abs(principal_projection(activations[None])[0])
        projection = projection - projection.min()
        return projection / max(float(projection.max()), 1e-12) > threshold

    def activations_to_be_ablated(self, activations, ratio_channels_to_ablate=1.0):
        if ratio_channels_to_ablate >= 1.0:
            return super().activations_to_be_ablated(activations, ratio_channels_to_ablate)
        flat = np.abs(activations).reshape(len(activations), -1)
        live = np.flatnonzero(flat.max(axis=1) > flat.min(axis=1))
        picked = super().activations_to_be_ablated(activations[live], ratio_channels_to_ablate) if len(live) else []
        self.indices = live[np.asarray(picked, dtype=int)].astype(np.int32)
        return self.indices


class LiveAblationLayer(_LiveChannels, AblationLayer):
    """grad-cam's AblationLayer for `(B, C, H, W)` maps, never ablating constant channels."""


class LiveAblationLayerVit(_LiveChannels, AblationLayerVit):
    """grad-cam's AblationLayerVit for token layers, never ablating constant channels."""


METHODS = {
    "gradcam": GradCAM, "gradcam++": GradCAMPlusPlus, "xgradcam": XGradCAM, "hirescam": HiResCAM,
    "layercam": LayerCAM, "eigencam": ThinEigenCAM, "scorecam": TopChannelScoreCAM, "ablationcam": AblationCAM,
}
GRADIENT_FREE = frozenset({"eigencam", "scorecam", "ablationcam"})
# Methods that run one extra forward pass per activation channel (per image); see `forwards_per_image`.
PERTURBATION = frozenset({"scorecam", "ablationcam"})
LAYOUTS = ("nchw", "tokens", "nhwc", "auto")


class CamError(ValueError):
    """A CAM cannot be computed: unknown method, no known target layer, an activation of the wrong shape."""


@dataclass(frozen=True)
class TargetLayer:
    """The layer whose activations a CAM weighs.

    `layout` is how its output is laid out: `nchw` (CNN maps), `tokens` (`(B, N, C)` ViT tokens, or
    `(N, B, C)` when not `batch_first`, of which the first `prefix_tokens` are class/register tokens;
    None = infer from the count), `nhwc` (Swin), or `auto` (3-D = tokens, 4-D = nchw).
    """

    name: str
    module: nn.Module
    layout: str = "nchw"
    prefix_tokens: int | None = None
    batch_first: bool = True


def _get(model: nn.Module, path: str) -> nn.Module:
    """The sub-module at a dotted path; integer parts index sequences (`blocks.-1.norm1`)."""
    module = model
    for part in path.split("."):
        if part.lstrip("-").isdigit():
            module = module[int(part)]
        else:
            module = getattr(module, part)
    return module


def _has(model: nn.Module, *names: str) -> bool:
    return all(hasattr(model, n) for n in names)


def _known_layer(model: nn.Module) -> tuple[str, str, int | None] | None:
    """(dotted path, layout, prefix tokens) of the usual CAM layer of a known architecture, or None."""
    if _has(model, "transformer", "class_embedding", "conv1"):  # open_clip VisionTransformer (class token first)
        return "transformer.resblocks.-1.ln_1", "tokens", 1
    if _has(model, "blocks", "num_prefix_tokens"):  # timm ViT / DeiT / EVA
        return "blocks.-1.norm1", "tokens", int(model.num_prefix_tokens)
    if _has(model, "layers", "patch_embed") and hasattr(model.layers[-1], "blocks"):  # timm Swin
        return "layers.-1.blocks.-1.norm1", "nhwc", None
    if _has(model, "bn2", "conv_head"):  # timm EfficientNet / MobileNet
        return "bn2", "nchw", None
    if _has(model, "layer4"):  # timm, torchvision and open_clip ResNets
        return "layer4.-1", "nchw", None
    if _has(model, "stages", "stem"):  # timm ConvNeXt, RegNet, ...
        return "stages.-1", "nchw", None
    if isinstance(getattr(model, "features", None), nn.Sequential):  # torchvision EfficientNet, VGG, DenseNet
        return "features.-1", "nchw", None
    return None


def _towers(model: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    """The model itself, then the image towers it wraps (`visual` of CLIP, `trunk` of open_clip timm)."""
    prefix, module = "", model
    while module is not None:
        yield prefix, module
        for attr in ("visual", "trunk"):
            inner = getattr(module, attr, None)
            if isinstance(inner, nn.Module):
                prefix, module = f"{prefix}{attr}.", inner
                break
        else:
            module = None


def find_target_layer(model: nn.Module, layer: str | None = None, layout: str = "auto") -> TargetLayer:
    """The CAM target layer of `model`: the given dotted path, or the known one for its architecture.

    Raises CamError naming the model (and listing its last convolution/normalisation layers) when the
    architecture is unknown, or naming the path when it does not exist.
    """
    if layout not in LAYOUTS:
        raise CamError(f"unknown layer layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    if layer:
        try:
            return TargetLayer(layer, _get(model, layer), layout)
        except (AttributeError, IndexError, TypeError) as exc:
            raise CamError(f"model {type(model).__name__} has no layer {layer!r} ({exc})") from exc
    for prefix, tower in _towers(model):
        known = _known_layer(tower)
        if known is not None:
            path, kind, prefix_tokens = known
            batch_first = bool(getattr(getattr(tower, "transformer", None), "batch_first", True))
            return TargetLayer(prefix + path, _get(tower, path), kind, prefix_tokens, batch_first)
    candidates = [n for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.BatchNorm2d, nn.LayerNorm))]
    hint = f" (its last conv/norm layers: {', '.join(candidates[-3:])})" if candidates else ""
    raise CamError(f"no known CAM target layer for model {type(model).__name__}; pass a dotted layer path "
                   f"(layer=... / --layer){hint}")


def token_grid(n_tokens: int, aspect: float = 1.0, prefix: int | None = None) -> tuple[int, int, int]:
    """(prefix tokens, grid rows, grid columns) of a ViT token sequence.

    `aspect` is the input's height / width. With `prefix=None` the smallest prefix (0-8 class or
    register tokens) that leaves a grid of that aspect is taken. Raises CamError when none fits.
    """
    options = [prefix] if prefix is not None else range(0, 9)
    for p in options:
        n = n_tokens - p
        if n <= 0:
            continue
        cols = round(math.sqrt(n / aspect))
        if cols > 0 and n % cols == 0 and n // cols == round(cols * aspect):
            return p, n // cols, cols
    raise CamError(f"cannot lay {n_tokens} tokens out as a grid of aspect {aspect:.3g} "
                   f"(prefix tokens tried: {list(options)}); pass the layer's layout explicitly")


class ReshapeTransform:
    """grad-cam `reshape_transform`: a target layer's output -> `(B, C, h, w)`.

    Tokens `(B, N, C)` (or sequence-first `(N, B, C)` when `batch_first` is False) drop their prefix
    tokens and fold into the grid `token_grid` infers; `nhwc` maps are permuted. `aspect` is set by
    `CamExtractor` from each input batch.
    """

    def __init__(self, layout: str, prefix_tokens: int | None = None, batch_first: bool = True):
        self.layout = layout
        self.prefix_tokens = prefix_tokens
        self.batch_first = batch_first
        self.aspect = 1.0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        layout = self.layout
        if layout == "auto":
            layout = {3: "tokens", 4: "nchw"}.get(x.dim(), "?")
        if layout == "nchw" and x.dim() == 4:
            return x
        if layout == "nhwc" and x.dim() == 4:
            return x.permute(0, 3, 1, 2)
        if layout == "tokens" and x.dim() == 3:
            if not self.batch_first:
                x = x.transpose(0, 1)
            prefix, rows, cols = token_grid(x.shape[1], self.aspect, self.prefix_tokens)
            return x[:, prefix:].reshape(x.shape[0], rows, cols, x.shape[2]).permute(0, 3, 1, 2)
        raise CamError(f"target layer output of shape {tuple(x.shape)} does not fit layout {self.layout!r}")


class ForwardCounter:
    """Counts the forward calls of a model and the images they carried (context manager)."""

    def __init__(self, model: nn.Module):
        self.model = model
        self.calls = 0
        self.images = 0
        self._handle = None

    def _hook(self, module, args):
        self.calls += 1
        self.images += int(args[0].shape[0]) if args and torch.is_tensor(args[0]) else 1

    def __enter__(self) -> "ForwardCounter":
        self._handle = self.model.register_forward_pre_hook(self._hook)
        return self

    def __exit__(self, *exc) -> None:
        self._handle.remove()


def _leaf_output(module, args, output):
    """Forward hook: detach the target layer's output into a leaf that requires grad (see module doc)."""
    if torch.is_grad_enabled() and torch.is_tensor(output) and not output.requires_grad:
        return output.detach().requires_grad_(True)
    return None


class CamExtractor:
    """Batched CAMs of one method on one model (a context manager that owns the hooks).

    ::

        with CamExtractor(model, "gradcam") as cam:
            maps = cam(batch, targets=None)   # (B, H, W) float32 in [0, 1]; None = each image's top class

    `batch_size` splits large inputs (ScoreCAM always runs one image at a time: it holds `C` masked
    copies of its input). `perturbation_batch` is the batch of ScoreCAM/AblationCAM's per-channel
    passes; `ablation_ratio` < 1 ablates only that fraction of the channels (grad-cam's
    `ratio_channels_to_ablate`, picked by an SVD objectness score among the channels that are not
    constant, see `LiveAblationLayer`; 2 × ratio × C passes per image at most);
    `score_channels` limits ScoreCAM to that many channels (`TopChannelScoreCAM`; k + 1 passes per image).
    On exit every hook is removed, parameter `requires_grad` flags and the train/eval mode are
    restored, and a layer AblationCAM swapped out is put back.
    """

    def __init__(self, model: nn.Module, method: str = "gradcam", layer: str | None = None, layout: str = "auto",
                 batch_size: int = 16, perturbation_batch: int = 32, ablation_ratio: float = 1.0,
                 score_channels: int | None = None):
        self.method = method.lower()
        if self.method not in METHODS:
            raise CamError(f"unknown CAM method {method!r}; choose one of {', '.join(METHODS)}")
        if not 0 < ablation_ratio <= 1:
            raise CamError(f"ablation_ratio must be in (0, 1], got {ablation_ratio}")
        self.model = model
        self.target = find_target_layer(model, layer, layout)
        self.batch_size = 1 if self.method == "scorecam" else max(1, int(batch_size))
        self.perturbation_batch = max(1, int(perturbation_batch))
        self.ablation_ratio = float(ablation_ratio)
        self.score_channels = score_channels
        self.reshape = (None if self.target.layout == "nchw" else
                        ReshapeTransform(self.target.layout, self.target.prefix_tokens, self.target.batch_first))
        self._cam = None
        self._stack: contextlib.ExitStack | None = None

    def __enter__(self) -> "CamExtractor":
        stack = contextlib.ExitStack()
        try:
            self._enter(stack)
        except BaseException:
            stack.close()
            raise
        self._stack = stack
        return self

    def _enter(self, stack: contextlib.ExitStack) -> None:
        model, module = self.model, self.target.module
        flags = [(p, p.requires_grad) for p in model.parameters()]
        stack.callback(lambda: [p.requires_grad_(flag) for p, flag in flags])
        training = model.training
        stack.callback(model.train, training)
        for p, _ in flags:
            p.requires_grad_(False)
        # Registered before grad-cam's hooks so that theirs see the leaf output.
        stack.callback(module.register_forward_hook(_leaf_output).remove)
        kwargs = {}
        if self.method == "ablationcam":
            ablation = LiveAblationLayerVit() if self.target.layout == "tokens" else LiveAblationLayer()
            kwargs = {"ablation_layer": ablation, "batch_size": self.perturbation_batch,
                      "ratio_channels_to_ablate": self.ablation_ratio}
            stack.callback(replace_layer_recursive, model, ablation, module)  # no-op unless left swapped
        elif self.method == "scorecam":
            kwargs = {"channels": self.score_channels}
        self._cam = METHODS[self.method](model=model, target_layers=[module], reshape_transform=self.reshape,
                                         **kwargs)
        if self.method == "scorecam":
            self._cam.batch_size = self.perturbation_batch  # read by grad-cam's ScoreCAM
        stack.callback(self._cam.activations_and_grads.release)

    def __exit__(self, *exc) -> None:
        # Not grad-cam's own __exit__, which swallows IndexError.
        if self._stack is not None:
            self._stack.close()
            self._stack = None
        self._cam = None

    def __call__(self, images: torch.Tensor, targets: Sequence[int] | None = None) -> np.ndarray:
        """`(B, H, W)` float32 CAMs in [0, 1] of a normalised `(B, 3, H, W)` batch."""
        if self._cam is None:
            raise CamError("CamExtractor must be used as a context manager: `with CamExtractor(...) as cam:`")
        if images.dim() != 4:
            raise CamError(f"expected a (B, 3, H, W) batch, got shape {tuple(images.shape)}")
        if targets is not None and len(targets) != len(images):
            raise CamError(f"{len(targets)} targets for {len(images)} images")
        if self.reshape is not None:
            self.reshape.aspect = images.shape[-2] / images.shape[-1]
        grad_mode = torch.no_grad() if self.method in GRADIENT_FREE else contextlib.nullcontext()
        maps = []
        with grad_mode:
            for start in range(0, len(images), self.batch_size):
                chunk = images[start:start + self.batch_size]
                chunk_targets = (None if targets is None else
                                 [ClassifierOutputTarget(int(t)) for t in targets[start:start + self.batch_size]])
                maps.append(self._cam(input_tensor=chunk, targets=chunk_targets))
        return np.concatenate(maps).astype(np.float32, copy=False)


def to_batch(images: Sequence, resolution: int | tuple[int, int], mean: Sequence[float],
             std: Sequence[float]) -> torch.Tensor:
    """Normalised `(B, 3, h, w)` float tensor of RGB PIL images or uint8 `(H, W, 3)` arrays.

    The whole image is resized to `resolution` (no crop, so that the CAM covers every pixel).
    """
    from PIL import Image
    from torchvision.transforms.functional import normalize, to_tensor

    size = (resolution, resolution) if isinstance(resolution, int) else tuple(resolution)
    tensors = []
    for image in images:
        pil = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image, dtype=np.uint8))
        tensors.append(to_tensor(pil.convert("RGB").resize(size[::-1], Image.BILINEAR)))
    return normalize(torch.stack(tensors), list(mean), list(std))


def compute_cams(model: nn.Module, images: Sequence, method: str = "gradcam", *, resolution: int = 224,
                 mean: Sequence[float] = (0.5, 0.5, 0.5), std: Sequence[float] = (0.5, 0.5, 0.5),
                 targets: Sequence[int] | None = None, device: str | torch.device = "cpu", layer: str | None = None,
                 batch_size: int = 16, perturbation_batch: int = 32, ablation_ratio: float = 1.0,
                 score_channels: int | None = None, progress: bool = True) -> np.ndarray:
    """`(N, h, w)` float32 CAMs in [0, 1] at the model resolution for N images (PIL or uint8 arrays).

    Images are preprocessed a batch at a time; `targets` are class indices (None = top class).
    Under torchrun each rank computes images rank::world and every rank gets all N maps in order.
    """
    from tqdm.auto import tqdm

    model = model.to(device)
    empty = np.zeros((0, *((resolution,) * 2 if isinstance(resolution, int) else resolution)), np.float32)

    def cams(indices: list[int]) -> np.ndarray:
        mine = [images[i] for i in indices]
        mine_targets = None if targets is None else [targets[i] for i in indices]
        out = []
        with CamExtractor(model, method, layer, batch_size=batch_size, perturbation_batch=perturbation_batch,
                          ablation_ratio=ablation_ratio, score_channels=score_channels) as cam:
            step = cam.batch_size
            for start in tqdm(range(0, len(mine), step), desc=f"CAM {method}", unit="batch", disable=not progress,
                              leave=False):
                batch = to_batch(mine[start:start + step], resolution, mean, std).to(device)
                chunk_targets = None if mine_targets is None else mine_targets[start:start + step]
                out.append(cam(batch, chunk_targets))
        return np.concatenate(out) if out else empty

    return distributed.map_rows(cams, len(images))
