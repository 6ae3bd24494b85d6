"""CLIP loading through open_clip: a hub tag, a local checkpoint, or a shipped tiny config with random weights.

The image preprocessing always comes with the weights: from the pretrained tag's config, from the
`open_clip_config.json` beside a checkpoint, or from the shipped config. When none of them says how
images were normalised, loading fails instead of falling back to a default. Hub weights are looked
up in the local caches first; when they are missing and the network is off (`HF_HUB_OFFLINE=1`,
`MINERALS_OFFLINE=1`, or no route to the host) loading fails at once with a message saying how to
get them, instead of entering the hub client's retry loop.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Callable, Sequence
from urllib.parse import urlparse

import torch
import torch.nn.functional as F

from minerals.models import offline

SHIPPED_DIR = "resources/clip"
RANDOM_SEED = 0  # random-weight models are initialised with this seed, so their caches are reusable
NETWORK_PROBE_TIMEOUT_S = 3.0
CONFIG_NAME = "open_clip_config.json"


class ClipError(RuntimeError):
    """A CLIP model cannot be loaded: unknown name, missing weights, undeterminable preprocessing."""


@dataclass
class ClipBundle:
    """A loaded CLIP model with the preprocessing and tokenizer that belong to its weights.

    `tag` is the pretrained tag, `"random"` for random weights, or the tag given with a checkpoint
    (`"checkpoint"` when none). `identity` is what caches are keyed by.
    """

    model: torch.nn.Module
    preprocess: Callable  # PIL.Image -> (3, H, W) float tensor
    tokenizer: Callable  # list[str] -> (T, L) int64 tensor
    name: str
    tag: str
    device: str = "cpu"
    preprocess_cfg: dict = field(default_factory=dict)
    checkpoint: str | None = None
    fingerprint: str = ""  # content hash of the checkpoint file, "" for tags and random weights

    @property
    def input_size(self) -> tuple[int, int]:
        """`(H, W)` px of the image tower's input (the preprocessing config's `size`)."""
        size = self.preprocess_cfg.get("size", 224)
        return (int(size), int(size)) if isinstance(size, (int, float)) else (int(size[0]), int(size[1]))

    @property
    def random_weights(self) -> bool:
        return self.tag == "random"

    @property
    def identity(self) -> dict:
        """JSON-able description of the weights, for cache keys and run records."""
        return {"model": self.name, "pretrained": self.tag, "fingerprint": self.fingerprint,
                "preprocess": {k: self.preprocess_cfg.get(k) for k in ("size", "mean", "std", "interpolation",
                                                                        "resize_mode")}}

    @torch.no_grad()
    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        """`(B, 3, H, W)` preprocessed images -> `(B, D)` L2-normalised float32 features."""
        feats = self.model.encode_image(images.to(self.device))
        return F.normalize(feats.float(), dim=-1)

    @torch.no_grad()
    def encode_texts(self, texts: Sequence[str]) -> torch.Tensor:
        """`T` strings -> `(T, D)` L2-normalised float32 features."""
        tokens = self.tokenizer(list(texts)).to(self.device)
        feats = self.model.encode_text(tokens)
        return F.normalize(feats.float(), dim=-1)


def shipped_models() -> list[str]:
    """Names of the model configs shipped in `minerals/resources/clip/` (weights: random)."""
    folder = resources.files("minerals").joinpath(SHIPPED_DIR)
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and p.joinpath(CONFIG_NAME).is_file())


def load_clip(model: str, pretrained: str | None = None, checkpoint: str | os.PathLike | None = None,
              device: str = "cpu", cache_dir: str | os.PathLike | None = None) -> ClipBundle:
    """Load an open_clip model in eval mode with the preprocessing that belongs to its weights.

    - `model` is an open_clip architecture (`ViT-B-32`) or a shipped config (`minerals-tiny`).
    - `pretrained` is an open_clip tag (`openai`, `laion2b_s34b_b79k`); with `checkpoint` it names
      what the file holds and supplies its preprocessing.
    - `checkpoint` is a weights file (its preprocessing from an `open_clip_config.json` beside it or
      from `pretrained`) or a folder holding `open_clip_config.json` and the weights (hub layout).
    - neither: random weights (seeded), for shipped configs (their config gives the preprocessing) and
      open_clip architectures (random weights were trained with no preprocessing; open_clip's default
      CLIP normalisation is used and `tag` says `random`).

    Raises ClipError saying what is missing and what to do.
    """
    import open_clip

    if checkpoint is not None:
        return _load_checkpoint(model, pretrained, Path(checkpoint).expanduser(), device)
    shipped = _shipped_dir(model)
    if shipped is not None:
        if pretrained:
            raise ClipError(f"{model} is a shipped test config without published weights; drop --pretrained "
                            f"{pretrained} or pass --checkpoint PATH")
        config = _read_config(shipped / CONFIG_NAME)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(RANDOM_SEED)
            net = open_clip.create_model(f"local-dir:{shipped}", device=device)
        return _bundle(net, f"local-dir:{shipped}", model, "random", device, config["preprocess_cfg"])
    if model not in open_clip.list_models():
        raise ClipError(f"unknown CLIP model {model!r}: use an open_clip architecture (open_clip.list_models()), "
                        f"a shipped config ({', '.join(shipped_models())}) or --checkpoint PATH")
    _check_text_tower(model)
    if not pretrained:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(RANDOM_SEED)
            net = open_clip.create_model(model, device=device, pretrained_text=False)
        return _bundle(net, model, model, "random", device, open_clip.get_model_preprocess_cfg(net))
    tag_cfg = open_clip.get_pretrained_cfg(model, pretrained)
    if not tag_cfg:
        tags = ", ".join(open_clip.list_pretrained_tags_by_model(model)) or "none"
        raise ClipError(f"{model} has no pretrained tag {pretrained!r} in open_clip; known tags: {tags}")
    path = resolve_tag_weights(model, pretrained, cache_dir)
    net = open_clip.create_model(model, pretrained=str(path), device=device,
                                 force_quick_gelu=bool(tag_cfg.get("quick_gelu", False)),
                                 force_preprocess_cfg=_preprocess_from(tag_cfg))
    return _bundle(net, model, model, pretrained, device, open_clip.get_model_preprocess_cfg(net))


def _load_checkpoint(model: str, pretrained: str | None, path: Path, device: str) -> ClipBundle:
    import open_clip

    if not path.exists():
        raise ClipError(f"checkpoint {path} does not exist; pass the weights file or the folder holding "
                        f"{CONFIG_NAME} and the weights")
    if path.is_dir():
        config = _read_config(path / CONFIG_NAME)
        weights = sorted(p for p in path.iterdir() if p.suffix in (".safetensors", ".bin", ".pth"))
        if not weights:
            raise ClipError(f"{path}: no weights file (.safetensors, .bin, .pth) beside {CONFIG_NAME}")
        _require_preprocess(config, path / CONFIG_NAME)
        net = open_clip.create_model(f"local-dir:{path}", device=device)
        return _bundle(net, f"local-dir:{path}", model or path.name, pretrained or "checkpoint", device,
                       open_clip.get_model_preprocess_cfg(net), path, fingerprint(*weights))
    sidecar = path.parent / CONFIG_NAME
    if sidecar.is_file():
        preprocess = _preprocess_from(_require_preprocess(_read_config(sidecar), sidecar))
        quick_gelu = False
    elif pretrained and open_clip.get_pretrained_cfg(model, pretrained):
        tag_cfg = open_clip.get_pretrained_cfg(model, pretrained)
        preprocess, quick_gelu = _preprocess_from(tag_cfg), bool(tag_cfg.get("quick_gelu", False))
    else:
        raise ClipError(f"{path}: cannot tell how images were preprocessed for these weights. Pass --pretrained "
                        f"TAG naming the weights the file holds (e.g. openai), or put an {CONFIG_NAME} with a "
                        "'preprocess_cfg' (mean, std, interpolation, resize_mode) beside the file")
    if model not in open_clip.list_models():
        raise ClipError(f"checkpoint {path}: --model must be an open_clip architecture, got {model!r}")
    _check_text_tower(model)
    try:
        net = open_clip.create_model(model, pretrained=str(path), device=device, force_quick_gelu=quick_gelu,
                                     force_preprocess_cfg=preprocess)
    except (RuntimeError, KeyError, ValueError, AssertionError) as exc:  # open_clip reports shape clashes all ways
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ClipError(f"{path}: these weights do not fit {model} ({first}); check --model") from exc
    return _bundle(net, model, model, pretrained or "checkpoint", device, open_clip.get_model_preprocess_cfg(net),
                   path, fingerprint(path))


def _bundle(net, tokenizer_name: str, name: str, tag: str, device: str, preprocess_cfg: dict,
            checkpoint: Path | None = None, fingerprint: str = "") -> ClipBundle:
    import open_clip
    from open_clip.transform import PreprocessCfg, image_transform_v2

    net.eval()
    cfg = {**open_clip.get_model_preprocess_cfg(net), **preprocess_cfg}
    cfg["size"] = open_clip.get_model_preprocess_cfg(net)["size"]
    known = set(PreprocessCfg.__dataclass_fields__)
    preprocess = image_transform_v2(PreprocessCfg(**{k: v for k, v in cfg.items() if k in known}), is_train=False)
    tokenizer = open_clip.get_tokenizer(tokenizer_name)
    return ClipBundle(model=net, preprocess=preprocess, tokenizer=tokenizer, name=name, tag=tag, device=str(device),
                      preprocess_cfg=_jsonable(cfg), checkpoint=str(checkpoint) if checkpoint else None,
                      fingerprint=fingerprint)


def _shipped_dir(model: str) -> Path | None:
    folder = Path(str(resources.files("minerals").joinpath(SHIPPED_DIR, model)))
    return folder if folder.joinpath(CONFIG_NAME).is_file() else None


def _read_config(path: Path) -> dict:
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ClipError(f"{path} is missing: a checkpoint folder needs the open_clip config of its weights") from exc
    except json.JSONDecodeError as exc:
        raise ClipError(f"{path}: not valid JSON ({exc})") from exc
    if "model_cfg" not in config:
        raise ClipError(f"{path}: no 'model_cfg' table; write the open_clip model config there")
    return config


def _require_preprocess(config: dict, path: Path) -> dict:
    pre = config.get("preprocess_cfg") or {}
    missing = [k for k in ("mean", "std") if k not in pre]
    if missing:
        raise ClipError(f"{path}: 'preprocess_cfg' lacks {', '.join(missing)}; the image normalisation of these "
                        "weights cannot be determined, so add it (open_clip's hub configs carry it)")
    return pre


def _preprocess_from(cfg: dict) -> dict:
    return {k: cfg[k] for k in ("mean", "std", "interpolation", "resize_mode", "fill_color") if k in cfg}


def _jsonable(cfg: dict) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()}


def fingerprint(*paths: Path, block: int = 1 << 20) -> str:
    """sha256 over each file's size and first and last MiB: cheap, and changes when the weights do."""
    digest = hashlib.sha256()
    for path in paths:
        size = path.stat().st_size
        digest.update(f"{path.name}:{size}".encode())
        with open(path, "rb") as fp:
            digest.update(fp.read(block))
            if size > block:
                fp.seek(max(block, size - block))
                digest.update(fp.read(block))
    return digest.hexdigest()[:16]


def _check_text_tower(model: str) -> None:
    """A Hugging Face text tower (multilingual models) needs `transformers` and its config and tokenizer
    files, which come from the hub: fail now, with what to do, rather than deep inside transformers."""
    import importlib.util

    import open_clip

    text_cfg = (open_clip.get_model_config(model) or {}).get("text_cfg", {})
    hf_name = text_cfg.get("hf_tokenizer_name") or text_cfg.get("hf_model_name")
    if not hf_name:
        return
    if importlib.util.find_spec("transformers") is None:
        raise ClipError(f"{model} has a Hugging Face text tower ({hf_name}): `pip install transformers` first")
    from huggingface_hub import try_to_load_from_cache

    cached = isinstance(try_to_load_from_cache(hf_name, "config.json"), str)
    if not cached and (offline() or not network_reachable("huggingface.co")):
        raise ClipError(f"{model}: the config and tokenizer of its text tower {hf_name} are not in the Hugging Face "
                        f"cache and the network is off; on a machine with network run `huggingface-cli download "
                        f"{hf_name}` and copy ~/.cache/huggingface here")


def network_reachable(host: str, port: int = 443, timeout: float = NETWORK_PROBE_TIMEOUT_S) -> bool:
    """One TCP connection attempt to `host:port` within `timeout` seconds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def resolve_tag_weights(model: str, tag: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """The local file of open_clip's `model`/`tag` weights: from the caches, or downloaded when online.

    Raises ClipError at once when the weights are not cached and the network is off or unreachable.
    """
    import open_clip
    from open_clip.constants import HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME

    cfg = open_clip.get_pretrained_cfg(model, tag)
    hub = cfg.get("hf_hub", "")
    if hub:
        from huggingface_hub import try_to_load_from_cache

        repo_id, filename = os.path.split(hub)
        names = [filename] if filename else [HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME]
        if filename.endswith((".bin", ".pth")):
            names.insert(0, filename[:-4] + ".safetensors")
        for name in names:
            found = try_to_load_from_cache(repo_id, name, cache_dir=str(cache_dir) if cache_dir else None)
            if isinstance(found, str):
                return Path(found)
        where, host = f"the Hugging Face cache (repo {repo_id})", "huggingface.co"
    else:
        url = cfg.get("url", "")
        local = Path(cache_dir or Path.home() / ".cache" / "clip") / os.path.basename(url)
        if local.is_file():
            return local
        where, host = str(local), urlparse(url).hostname or "openaipublic.azureedge.net"
    if offline() or not network_reachable(host):
        reason = "the network is off (HF_HUB_OFFLINE/MINERALS_OFFLINE)" if offline() else f"{host} is unreachable"
        raise ClipError(
            f"weights of {model}/{tag} are not in {where} and {reason}. On a machine with network run "
            f"`python -c \"import open_clip; open_clip.create_model('{model}', pretrained='{tag}')\"` and copy "
            f"~/.cache/huggingface (or ~/.cache/clip) here, or download the weights file yourself and pass "
            f"--checkpoint FILE --pretrained {tag}")
    return Path(open_clip.download_pretrained(cfg, cache_dir=str(cache_dir) if cache_dir else None))


class PromptHead(torch.nn.Module):
    """A CLIP image tower scored against K text embeddings: `(B, 3, H, W)` -> logits `(B, K)`.

    `text_embeddings` `(K, D)` are L2-normalised here (one row per class or averaged prompt ensemble).
    `cosine=True` also normalises the image features: the logits are CLIP's cosines, which
    `minerals.zeroshot.scoring` turns into probabilities. `cosine=False` keeps the raw image features
    (the CAM target of `minerals segment`: the similarity to prompt k, as its reference CAMs were made).
    """

    def __init__(self, visual: torch.nn.Module, text_embeddings: torch.Tensor, cosine: bool = True):
        super().__init__()
        self.visual = visual
        self.cosine = cosine
        self.register_buffer("text", F.normalize(text_embeddings.detach().float(), dim=-1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.visual(images)
        if isinstance(features, tuple):  # towers built with output_tokens=True
            features = features[0]
        features = features.float()
        return (F.normalize(features, dim=-1) if self.cosine else features) @ self.text.T
