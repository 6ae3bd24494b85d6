"""CAM throughput against the model's own passes, and proof that the threshold sweep adds no model pass.

    python benchmarks/bench_cam.py [--device cpu] [--batch 16] [--resolution 224] [--repeats 3]

Prints, for EfficientNet-Lite0 (offline ImageNet weights) on one random batch: images/s of a bare
forward, of a bare forward+backward (the reference), and of every CAM method; each method's time as a
ratio to forward+backward (gradient methods: target <= 1.5) and to forward (EigenCAM: target near 1);
ScoreCAM and AblationCAM with their cost in forward passes per image. Then batched against one image
at a time, and the model passes of a threshold sweep with 1 and with 6 mask rules (and of a rerun).
Medians over `--repeats` runs after one warm-up.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from minerals.cam.methods import METHODS, PERTURBATION, CamExtractor, ForwardCounter
from minerals.models.registry import LoadedModel
from minerals.cam.section import Sample, SegmentationConfig, evaluate
from minerals.models.classifiers import create_classifier
from minerals.results import RunStore

GRADIENT = ("gradcam", "gradcam++", "xgradcam", "hirescam", "layercam")


def round_robin(jobs: dict, repeats: int, device: str) -> dict[str, float]:
    """Median wall seconds of each `jobs[name]()`; one warm-up each, then `repeats` rounds over all jobs.

    Interleaving keeps a drifting load (a shared machine) from favouring the jobs timed first.
    """
    times = {name: [] for name in jobs}
    for round_ in range(repeats + 1):
        for name, fn in jobs.items():
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            start = time.perf_counter()
            fn()
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            if round_:
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def forward(model, x):
    with torch.no_grad():
        model(x)


def forward_backward(model, x):
    model.zero_grad(set_to_none=True)
    logits = model(x)
    logits.max(dim=1).values.sum().backward()


def cam_once(model, method, x, **options):
    with CamExtractor(model, method, batch_size=len(x), **options) as cam:
        cam(x)


def sweep_passes(model, device) -> tuple[int, int, int]:
    """Model forward calls of `evaluate` with 1 rule, with 6 rules (fresh stores), and a rerun with 3 new rules."""
    rng = np.random.default_rng(0)
    samples = []
    for i in range(4):
        image = rng.integers(80, 160, (96, 128, 3), dtype=np.uint8)
        truth = np.zeros((96, 128), bool)
        truth[20 + i:70, 30:100 - i] = True
        image[truth] = [200, 60, 40]
        samples.append(Sample(f"photo{i}", image, truth))
    backbone = LoadedModel("imagenet:tf_efficientnet_lite0", model, 224, (0.5,) * 3, (0.5,) * 3, {"spec": "bench"})
    runs = [("a", ("otsu",)), ("b", ("otsu", "pct50", "pct80", "frac0.15", "otsu+lcc+fill", "otsu+grabcut")),
            ("b", ("otsu", "pct90", "frac0.3"))]
    counts = []
    with tempfile.TemporaryDirectory() as tmp:
        for store, rules in runs:
            cfg = SegmentationConfig(methods=("gradcam", "eigencam"), thresholds=rules, n_boot=10)
            with ForwardCounter(model) as counter:
                evaluate(samples, [backbone], cfg, RunStore(Path(tmp) / store), Path(tmp) / store / "cams", device)
            counts.append(counter.calls)
    return tuple(counts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--resolution", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--perturbation-images", type=int, default=2, help="photos for ScoreCAM / AblationCAM")
    parser.add_argument("--score-channels", type=int, default=64, help="ScoreCAM channels (0 = all 1,280)")
    parser.add_argument("--ablation-ratio", type=float, default=0.025, help="AblationCAM channel fraction (1 = all)")
    args = parser.parse_args()

    torch.manual_seed(0)
    model = create_classifier("tf_efficientnet_lite0", 1000, pretrained=True).to(args.device).eval()
    x = torch.randn(args.batch, 3, args.resolution, args.resolution, device=args.device)
    print(f"EfficientNet-Lite0, {args.resolution} px, batch {args.batch}, device {args.device}, "
          f"torch threads {torch.get_num_threads()}, median of {args.repeats}")

    options = {"score_channels": args.score_channels or None, "ablation_ratio": args.ablation_ratio,
               "perturbation_batch": 64}
    inputs = {m: x[:args.perturbation_images] if m in PERTURBATION else x for m in METHODS}
    passes = {}
    for method in METHODS:
        with ForwardCounter(model) as counter:
            cam_once(model, method, inputs[method], **options)
        passes[method] = counter.images / len(inputs[method])

    def per_image():
        for i in range(len(x)):
            cam_once(model, "gradcam", x[i:i + 1])

    jobs = {"forward": lambda: forward(model, x), "fwd+bwd (ref)": lambda: forward_backward(model, x),
            **{m: (lambda m=m: cam_once(model, m, inputs[m], **options)) for m in METHODS},
            "gradcam 1-by-1": per_image}
    seconds = round_robin(jobs, args.repeats, args.device)
    t_fwd, t_fb = seconds["forward"], seconds["fwd+bwd (ref)"]
    print(f"\n{'what':<16}{'images/s':>10}{'s/call':>9}{'x fwd+bwd':>11}{'x fwd':>8}{'passes/img':>12}")
    for name, t in seconds.items():
        n = len(inputs.get(name, x))
        per_batch = t * args.batch / n  # per image, scaled to the reference batch
        print(f"{name:<16}{n / t:>10.2f}{t:>9.3f}{per_batch / t_fb:>11.2f}{per_batch / t_fwd:>8.2f}"
              f"{passes.get(name, 1.0):>12.1f}")
    print(f"\nGrad-CAM batched ({args.batch}) against one image at a time: "
          f"{seconds['gradcam 1-by-1'] / seconds['gradcam']:.2f}x")

    counts = sweep_passes(model, args.device)
    print(f"threshold sweep, model forward calls (Grad-CAM + EigenCAM on 4 photos): 1 rule {counts[0]}, "
          f"6 rules {counts[1]}, rerun with 3 new rules {counts[2]}")


if __name__ == "__main__":
    main()
