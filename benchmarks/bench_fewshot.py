"""Few-shot throughput: training and inference images/s at 224 px, EfficientNet-Lite0 against ResNet-50.

Random weights (speed does not depend on them), synthetic input tensors, so data loading is not
counted. For each model and memory layout (NCHW, channels-last) it times whole steps (forward,
backward, AdamW update) and inference batches, and prints medians over the repeats, per wall-clock
second and per CPU second of this process, with ratios against the reference (EfficientNet-Lite0,
NCHW). On CUDA it uses bf16 autocast.

    python benchmarks/bench_fewshot.py                      # CPU, torch's default threads
    python benchmarks/bench_fewshot.py --threads 1 --batch 8 --repeats 5
    python benchmarks/bench_fewshot.py --device cuda --batch 128
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

from minerals.models.classifiers import create_classifier

REFERENCE = ("tf_efficientnet_lite0", "nchw")


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_steps(model: torch.nn.Module, x: torch.Tensor, train: bool, repeats: int, device: str) -> tuple[list, list]:
    """Wall and CPU seconds of `repeats` steps after one warm-up step."""
    y = torch.randint(0, 10, (len(x),), device=device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    model.train(train)
    walls, cpus = [], []
    for i in range(repeats + 1):
        _sync(device)
        wall, cpu = time.perf_counter(), time.process_time()
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.startswith("cuda")):
            if train:
                loss = torch.nn.functional.cross_entropy(model(x).float(), y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            else:
                with torch.inference_mode():
                    model(x)
        _sync(device)
        if i:  # the first step warms up allocators and kernels
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
    return walls, cpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["tf_efficientnet_lite0", "resnet50"])
    parser.add_argument("--resolution", type=int, default=224)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} "
          f"threads, device {args.device}, batch {args.batch}, {args.resolution} px, median of {args.repeats} "
          "steps after 1 warm-up; random weights, synthetic tensors (no data loading)")
    rows = []
    for name in args.models:
        for layout in ("nchw", "channels_last"):
            fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
            model = create_classifier(name, 10, pretrained=False).to(args.device, memory_format=fmt)
            x = torch.randn(args.batch, 3, args.resolution, args.resolution, device=args.device)
            x = x.contiguous(memory_format=fmt)
            for mode in ("train", "infer"):
                walls, cpus = time_steps(model, x, mode == "train", args.repeats, args.device)
                rows.append({"model": name, "layout": layout, "mode": mode,
                             "img_s": args.batch / statistics.median(walls),
                             "img_cpu_s": args.batch / statistics.median(cpus)})
                print(f"  {name:24s} {layout:14s} {mode:5s} {rows[-1]['img_s']:8.1f} img/s "
                      f"{rows[-1]['img_cpu_s']:8.1f} img/CPU-s", flush=True)
    ref = {r["mode"]: r for r in rows if (r["model"], r["layout"]) == REFERENCE}
    print(f"\n{'model':24s} {'layout':14s} {'mode':5s} {'img/s':>8s} {'img/CPU-s':>10s} {'x ref (wall)':>13s} "
          f"{'x ref (CPU)':>12s}")
    for r in rows:
        base = ref[r["mode"]]
        print(f"{r['model']:24s} {r['layout']:14s} {r['mode']:5s} {r['img_s']:8.1f} {r['img_cpu_s']:10.1f} "
              f"{r['img_s'] / base['img_s']:13.2f} {r['img_cpu_s'] / base['img_cpu_s']:12.2f}")
    print(f"(reference: {REFERENCE[0]} {REFERENCE[1]}; ratios > 1 are faster)")


if __name__ == "__main__":
    main()
