"""Zero-shot cost: the feature pipeline against the bare forward, warm caches, and memory at 5,139 classes.

Prints medians of `--repeats` runs (measured under whatever else the machine is doing: compare ratios):

1. Image-feature extraction of `--photos` photo-like 1024x768 JPEGs (from `bench_data.write_release`) with
   ViT-B/32 (random weights: the same arithmetic as trained ones) at batch 64 on the CPU: the whole
   pipeline (decode in draft mode, preprocess, forward, write the cache) against the forward alone on
   already-preprocessed tensors. Target: pipeline <= 1.3 x forward (issue 5).
2. The section grid (`zeroshot.run`) run cold, then again with the run records deleted but the caches
   kept: text prompts and photos encoded on the second run (must be 0) and the time saved.
3. Peak RSS (fresh process) of scoring 44,784 feature rows against 5,139 classes (the paper's full
   zero-shot set, class list scaled up from the synthetic names) with the tiny CLIP, against the size of
   the dense logit matrix that streaming avoids; and peak RSS of the image pipeline on 8x more photos
   (images are streamed, so it should not grow).

Run: `OMP_NUM_THREADS=1 python benchmarks/bench_zeroshot.py [--photos 64] [--repeats 3] [--workers 2]`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from bench_data import write_release
from minerals.zeroshot import section as zeroshot
from minerals.models.clip import load_clip
from minerals.data import open_release
from minerals.results import RunStore
from _timing import median_time  # benchmarks/_timing.py, beside this script

TARGET_RATIO = 1.3
FULL_IMAGES, FULL_CLASSES = 44_784, 5_139


def rss_mb(field: str = "VmHWM") -> float:
    """This process's peak (`VmHWM`) or current (`VmRSS`) resident set, MB. Unlike ru_maxrss, VmHWM does not
    count the parent's memory that a fork carried until exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {field} line: memory figures need Linux")


def bench_pipeline(paths: list[Path], repeats: int, workers: int, batch: int = 64) -> None:
    """Forward alone, decode alone and the pipeline, interleaved in each repeat so that load from other
    processes hits them alike; ratios are medians of the per-repeat ratios."""
    bundle = load_clip("ViT-B-32")  # random weights, no network
    side = bundle.preprocess_cfg["size"][0]
    tensors = torch.randn(batch, 3, side, side)
    n_batches = -(-len(paths) // batch)

    def forward():
        for _ in range(n_batches):
            bundle.encode_images(tensors)

    def decode():
        data = zeroshot._Preprocessed(zeroshot._Paths([str(p) for p in paths], 2 * side), bundle.preprocess)
        for _ in DataLoader(data, batch_size=batch):
            pass

    def pipeline(w):
        with tempfile.TemporaryDirectory() as cache:
            zeroshot.image_features(bundle, [str(p) for p in paths], cache, batch_size=batch, num_workers=w,
                                    max_side=2 * side, progress=False)

    modes = sorted({0, workers})
    forward()  # warm-up (allocator, kernels)
    times = {"forward": [], "decode": [], **{w: [] for w in modes}}
    for _ in range(repeats):
        times["forward"].append(median_time(forward, 1))
        times["decode"].append(median_time(decode, 1))
        for w in modes:
            times[w].append(median_time(lambda: pipeline(w), 1))
    t_forward = statistics.median(times["forward"])
    print(f"ViT-B/32, {len(paths)} photos 1024x768 -> {side} px, batch {batch}, "
          f"{torch.get_num_threads()} torch threads, {repeats} interleaved repeats")
    print(f"  forward alone          : {t_forward:7.2f} s  {len(paths) / t_forward:6.1f} img/s")
    ratios = [d / f for d, f in zip(times["decode"], times["forward"])]
    t_decode = statistics.median(times["decode"])
    print(f"  decode+preprocess alone: {t_decode:7.2f} s  {1000 * t_decode / len(paths):6.1f} ms/img, 0 workers "
          f"({statistics.median(ratios):4.2f} x forward)")
    for w in modes:
        ratios = [p / f for p, f in zip(times[w], times["forward"])]
        t = statistics.median(times[w])
        print(f"  pipeline, {w} workers    : {t:7.2f} s  {len(paths) / t:6.1f} img/s  ratio "
              f"{statistics.median(ratios):4.2f} x forward (per repeat {', '.join(f'{r:.2f}' for r in ratios)}; "
              f"target <= {TARGET_RATIO})")


def bench_warm_cache(root: Path) -> None:
    release = open_release(root)
    cfg = zeroshot.ZeroShotConfig(models=(zeroshot.ModelSpec("ViT-B-32"),), subsets=("full",),
                                  ensembles=("mineral",), ablation="", probe_subsets=(), batch_size=64)
    counts = {"texts": 0, "images": 0}
    real_load = zeroshot.load_clip

    def counting_load(*args, **kwargs):
        bundle = real_load(*args, **kwargs)
        encode_texts, encode_images = bundle.encode_texts, bundle.encode_images
        bundle.encode_texts = lambda t: counts.__setitem__("texts", counts["texts"] + len(t)) or encode_texts(t)
        bundle.encode_images = lambda x: counts.__setitem__("images", counts["images"] + len(x)) or encode_images(x)
        return bundle

    zeroshot.load_clip = counting_load
    try:
        with tempfile.TemporaryDirectory() as tmp:
            runs, art = Path(tmp) / "runs", Path(tmp) / "art"
            start = time.perf_counter()
            zeroshot.run_grid(release, cfg, RunStore(runs), art)
            cold = time.perf_counter() - start
            cold_counts = dict(counts)
            for record in runs.glob("*.json"):
                record.unlink()
            counts.update(texts=0, images=0)
            start = time.perf_counter()
            zeroshot.run_grid(release, cfg, RunStore(runs), art)
            warm = time.perf_counter() - start
    finally:
        zeroshot.load_clip = real_load
    print(f"grid (ViT-B/32, full set {len(release.full)} photos x {release.full['en_name'].nunique()} classes, "
          f"mineral = {len(zeroshot.prompts.ensemble_templates('mineral'))} templates)")
    print(f"  cold run               : {cold:7.2f} s  encoded {cold_counts['texts']} prompts, "
          f"{cold_counts['images']} photos")
    print(f"  warm caches, no records: {warm:7.2f} s  encoded {counts['texts']} prompts, {counts['images']} photos; "
          f"saved {cold - warm:.2f} s ({cold / warm:.1f} x faster; the rest is loading the model)")


def child_eval_rss() -> dict:
    """Score 44,784 x 5,139 with streamed blocks; return peak RSS and the dense alternative's size."""
    bundle = load_clip("minerals-tiny")
    names = [f"Species {i:04d}" for i in range(FULL_CLASSES)]
    weights = zeroshot.text_classifier(bundle, names, ["a photo of {}, a mineral."], progress=False)
    rng = np.random.default_rng(0)
    feats = torch.nn.functional.normalize(torch.from_numpy(rng.normal(size=(FULL_IMAGES, weights.shape[0]))
                                                           .astype(np.float32)), dim=-1)
    labels = rng.integers(0, FULL_CLASSES, FULL_IMAGES)
    before = rss_mb("VmRSS")
    start = time.perf_counter()
    out, _ = zeroshot.evaluate(feats, weights, labels)
    return {"peak_rss_mb": rss_mb(), "before_eval_mb": before,
            "dense_logits_mb": FULL_IMAGES * FULL_CLASSES * 4 / 2 ** 20, "eval_s": time.perf_counter() - start,
            "top1": out["top1"]}


def child_pipeline_rss(paths_file: str, repeat: int) -> dict:
    paths = json.loads(Path(paths_file).read_text()) * repeat
    bundle = load_clip("minerals-tiny")
    zeroshot.image_features(bundle, paths, batch_size=64, max_side=128, progress=False)
    return {"photos": len(paths), "peak_rss_mb": rss_mb()}


def in_child(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_memory(paths: list[Path]) -> None:
    ev = in_child("eval")
    print(f"scoring {FULL_IMAGES} photos x {FULL_CLASSES} classes (blocks of 1024 rows) in {ev['eval_s']:.1f} s: "
          f"peak RSS {ev['peak_rss_mb']:.0f} MB, {ev['peak_rss_mb'] - ev['before_eval_mb']:.0f} MB above the "
          f"{ev['before_eval_mb']:.0f} MB held before scoring (torch, tiny CLIP, features); one dense logit "
          f"matrix alone would be {ev['dense_logits_mb']:.0f} MB")
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fp:
        json.dump([str(p) for p in paths], fp)
    small, large = in_child("pipeline", fp.name, "1"), in_child("pipeline", fp.name, "8")
    Path(fp.name).unlink()
    print(f"image pipeline peak RSS: {small['photos']} photos {small['peak_rss_mb']:.0f} MB, "
          f"{large['photos']} photos {large['peak_rss_mb']:.0f} MB "
          f"(ratio {large['peak_rss_mb'] / small['peak_rss_mb']:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = child_eval_rss() if args.child[0] == "eval" else child_pipeline_rss(args.child[1], int(args.child[2]))
        print(json.dumps(result))
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = write_release(Path(tmp), args.photos)
        paths = sorted((root / "mineral_images").rglob("*.jpg"))
        bench_pipeline(paths, args.repeats, args.workers)
        bench_warm_cache(root)
        bench_memory(paths)


if __name__ == "__main__":
    main()
