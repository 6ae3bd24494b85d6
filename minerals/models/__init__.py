"""Models: classifiers (timm, torchvision, offline EfficientNet-Lite0), CLIP, CAM backbones, checkpoints,
and `distributed`: the torchrun process group every section runs its networks under.

`offline()` is the one network switch: every loader (timm, torchvision, open_clip, Hugging Face)
checks it, and `hub_offline()` makes the Hugging Face hub honour `MINERALS_OFFLINE` as well.
"""

from __future__ import annotations

import contextlib
import os
from typing import Iterator

OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "MINERALS_OFFLINE")


def offline() -> bool:
    """Whether the user asked for no network: `HF_HUB_OFFLINE` or `MINERALS_OFFLINE` set to a true value."""
    return any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on") for v in OFFLINE_VARIABLES)


@contextlib.contextmanager
def hub_offline() -> Iterator[None]:
    """While inside, the Hugging Face hub (timm, open_clip, transformers) makes no request when `offline()`.

    huggingface_hub reads `HF_HUB_OFFLINE` once at import; `MINERALS_OFFLINE` is applied here.
    """
    if not offline():
        yield
        return
    import huggingface_hub.constants as hf

    before = hf.HF_HUB_OFFLINE
    hf.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        hf.HF_HUB_OFFLINE = before
