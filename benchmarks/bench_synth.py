"""Synthetic photos per second on one core, at 512 and 1024 px, against the issue's target (>= 20/s at 1024).

Times the generator's per-photo path (render, JPEG encode, write, CSV facts) in this process with
OpenCV and BLAS limited to one thread. Prints the median over repeats of wall-clock and CPU rates;
on a shared machine the CPU rate is the fairer one-core figure.

    python benchmarks/bench_synth.py [--photos 30] [--repeats 3] [--sizes 512 1024]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2  # noqa: E402

from minerals.data import synth  # noqa: E402
from minerals.data.synth_scene import SynthStyle  # noqa: E402

TARGET_1024 = 20.0  # images per second on one core (issue 3)


def rate(size: int, photos: int, folder: str) -> tuple[float, float]:
    """(wall, cpu) photos per second for `photos` photos of longer side `size`."""
    synth._init_worker(SynthStyle(), 0, size, folder)
    species = len(synth.load_species())
    jobs = [("full", i, i % species, f"b/{size}_{i}.jpg") for i in range(photos)]
    wall, cpu = time.perf_counter(), time.process_time()
    for job in jobs:
        synth._render_job(job)
    return photos / (time.perf_counter() - wall), photos / (time.process_time() - cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    args = parser.parse_args()
    cv2.setNumThreads(1)
    print(f"synthetic photos, one core (cv2 threads = {cv2.getNumThreads()}), {args.photos} photos x "
          f"{args.repeats} repeats, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as folder:
        rate(256, 2, folder)  # warm-up: imports, caches, grain bank
        print(f"{'size':>6} {'wall img/s':>11} {'cpu img/s':>10} {'cpu ms/img':>11} {'cpu vs target':>14}")
        for size in args.sizes:
            runs = [rate(size, args.photos, folder) for _ in range(args.repeats)]
            wall = statistics.median(r[0] for r in runs)
            cpu = statistics.median(r[1] for r in runs)
            ratio = f"{cpu / TARGET_1024:.2f}x of {TARGET_1024:g}/s" if size == 1024 else "-"
            print(f"{size:>6} {wall:>11.1f} {cpu:>10.1f} {1000 / cpu:>11.1f} {ratio:>14}")


if __name__ == "__main__":
    main()
