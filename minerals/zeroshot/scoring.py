"""The one zero-shot scoring path: `zeroshot run`, `zeroshot classify`, `identify` and CAM prompts use it.

- Class names: `class_list` / `read_classes` normalise every name with `prompts.normalise_name`
  (spacing, case, known misspellings) and refuse repeats, so one species is one class everywhere.
- Scores: cosine similarities `(N, C)` of L2-normalised image features with the `(D, C)` class
  embeddings of `section.text_classifier` (the prompt head `minerals.models.clip.PromptHead` computes
  the same on a batch of images).
- Temperature: probabilities are `softmax(t * cos)` with `t = temperature(bundle)`, the model's own
  learned `logit_scale.exp()`: 100 for OpenAI's CLIP weights, the scale each model was trained with
  (1/0.07 = 14.3 for a freshly initialised open_clip model), so a probability is the model's own.
  Rankings and top-k accuracies do not depend on it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from minerals.zeroshot.prompts import PromptError, normalise_name

DEFAULT_TEMPERATURE = 100.0  # a tower without a learned logit_scale: CLIP's trained value


class ClassListError(PromptError):
    """A zero-shot class list that cannot be used (unreadable file, fewer than two names, a repeat)."""


def temperature(bundle) -> float:
    """The softmax temperature of a loaded CLIP (`ClipBundle`): its learned `logit_scale.exp()`."""
    scale = getattr(bundle.model, "logit_scale", None)
    return float(scale.detach().exp()) if scale is not None else DEFAULT_TEMPERATURE


def softmax(logits: np.ndarray | torch.Tensor, scale: float) -> np.ndarray:
    """`(N, C)` float32 probabilities `softmax(scale * logits)` along the last axis."""
    logits = torch.as_tensor(logits).float() * scale
    return torch.softmax(logits, dim=-1).cpu().numpy()


def class_list(names: Sequence[str], source: str = "class list") -> list[str]:
    """Normalised class names in the given order; blanks dropped.

    Raises ClassListError naming `source` on a repeat (after normalisation) or fewer than two names.
    """
    normal = [normalise_name(n) for n in names]
    normal = [n for n in normal if n]
    seen: set[str] = set()
    repeated = sorted({n for n in normal if n.casefold() in seen or seen.add(n.casefold())})
    if repeated:
        raise ClassListError(f"{source}: species listed more than once: {', '.join(repeated[:5])}; list each once")
    if len(normal) < 2:
        raise ClassListError(f"{source}: {len(normal)} species name(s); a zero-shot class list needs at least two, "
                             "one per line")
    return normal


def read_classes(path: str | os.PathLike) -> list[str]:
    """Species names from a text file: one per line, `#` comments and blank lines skipped (`class_list`)."""
    path = Path(path).expanduser()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ClassListError(f"{path}: cannot read the class list ({exc}); pass a UTF-8 text file with one species "
                             "name per line") from exc
    return class_list([line.split("#", 1)[0] for line in lines], str(path))
