"""Benchmark `minerals identify` on the CPU: model load time, and seconds per photo after loading.

Photos: synthetic museum photos at the release's 1024 px (generated into a temporary folder). Models:
the offline ImageNet EfficientNet-Lite0 with a 10-class head saved as a few-shot checkpoint, the
shipped tiny CLIP, and open_clip ViT-B-32 with random weights (the compute of the real model, no
download). Per-photo cost is split into its stages and set against the bare classifier forward on the
same batch (the reference: what scoring alone costs). Medians over --repeats.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_identify.py --photos 16 --threads 1
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import torch  # noqa: E402
from PIL import Image  # noqa: E402

from minerals.cam.methods import CamExtractor, to_batch  # noqa: E402
from minerals.identify.identifier import (IdentifyConfig, Identifier, load_fewshot, load_zeroshot,  # noqa: E402
                               measure_photo)
from _timing import median_time  # noqa: E402  (benchmarks/_timing.py, beside this script)

CLASSES = ["Azurite", "Calcite", "Fluorite", "Galena", "Malachite", "Pyrite", "Quartz", "Rhodochrosite",
           "Sphalerite", "Beryl"]


def make_photos(folder: Path, n: int, side: int) -> list[Path]:
    from minerals.data.synth import generate

    root = generate(folder / "synth", classes=4, per_class=max(2, n // 4 + 1), image_size=side, seed=0, n_segm=1)
    photos = sorted((root / "mineral_images").rglob("*.[jJ][pP][gG]"))
    return photos[:n]


def make_checkpoint(folder: Path) -> Path:
    from minerals.fewshot.train import save_checkpoint
    from minerals.models.classifiers import create_classifier, preprocessing

    model = create_classifier("tf_efficientnet_lite0", len(CLASSES), pretrained=True)
    pre = preprocessing("tf_efficientnet_lite0")
    info = {"model": "tf_efficientnet_lite0", "pretrained": True, "subset": 10, "classes": CLASSES,
            "num_classes": len(CLASSES), "resolution": pre.resolution, "mean": list(pre.mean), "std": list(pre.std),
            "crop_pct": 1.0}
    path = folder / "best.pt"
    save_checkpoint(path, {"model": model.state_dict(), "info": info})
    return path


def stages(classifier, photos: list[Path], cfg: IdentifyConfig, repeats: int, out: Path) -> dict[str, float]:
    """Seconds per photo of each stage and of the whole pass."""
    import numpy as np

    n = len(photos)
    measured = [measure_photo(p, cfg.size_method, cfg.max_side) for p in photos]
    images = [Image.fromarray(rgb) for _, rgb, _ in measured]
    batches = [images[i:i + cfg.batch_size] for i in range(0, n, cfg.batch_size)]
    tensors = [torch.stack([classifier.transform(im) for im in b]) for b in batches]

    @torch.no_grad()
    def bare_forward():
        for t in tensors:
            classifier.model(t)

    def cams():
        with CamExtractor(classifier.model, cfg.cam_method, batch_size=cfg.batch_size) as cam:
            for b in batches:
                probs = classifier.probabilities(b)
                cam(to_batch(b, classifier.resolution, classifier.mean, classifier.std),
                    targets=[int(np.argmax(p)) for p in probs])

    identifier = Identifier(classifier, cfg)
    return {
        "bare forward (reference)": median_time(bare_forward, repeats) / n,
        "decode + size": median_time(lambda: [measure_photo(p, cfg.size_method, cfg.max_side) for p in photos],
                                     repeats) / n,
        "preprocess + score": median_time(lambda: [classifier.probabilities(b) for b in batches], repeats) / n,
        "score + CAM": median_time(cams, repeats) / n,
        "identify, no files": median_time(lambda: list(identifier.run(photos, progress=False)), repeats) / n,
        "identify --out (reports)": median_time(lambda: list(identifier.run(photos, out, progress=False)), repeats) / n,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=16)
    parser.add_argument("--side", type=int, default=1024, help="photo longest side, px")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--skip-vit", action="store_true", help="skip the ViT-B-32 rows")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = IdentifyConfig(batch_size=args.batch_size)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        photos = make_photos(tmp, args.photos, args.side)
        checkpoint = make_checkpoint(tmp)
        print(f"{len(photos)} synthetic photos at {args.side} px, batch {args.batch_size}, {args.threads} torch "
              f"thread(s), median of {args.repeats}; CPU: {os.cpu_count()} cores, load average "
              f"{os.getloadavg()[0]:.1f}")
        loaders = {
            "few-shot EfficientNet-Lite0 (checkpoint)": lambda: load_fewshot(checkpoint),
            "zero-shot minerals-tiny (random weights)": lambda: load_zeroshot("minerals-tiny", CLASSES,
                                                                              cache_dir=None),
        }
        if not args.skip_vit:
            loaders["zero-shot ViT-B-32 (random weights)"] = lambda: load_zeroshot("ViT-B-32", CLASSES)
        print("\nmodel load (s, includes the text classifier for CLIP: 10 classes x 8 templates)")
        loaded = {}
        for name, load in loaders.items():
            seconds = median_time(lambda: loaded.__setitem__(name, load()), args.repeats)
            print(f"  {name:45s} {seconds:7.2f}")
        print("\nseconds per photo after loading (ratio to the bare forward)")
        for name, classifier in loaded.items():
            print(f"  {name}")
            per_photo = stages(classifier, photos, cfg, args.repeats, tmp / "out")
            ref = per_photo["bare forward (reference)"]
            for stage, seconds in per_photo.items():
                print(f"    {stage:32s} {seconds:7.3f} s  {seconds / ref:6.1f}x")


if __name__ == "__main__":
    main()
