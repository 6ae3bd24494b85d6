"""Wall time and peak memory of the main job (`make book` with setup done): reproduce, then the book.

Samples the resident memory of the whole process tree (the reproduce process, its notebook kernels and
the book build) every 0.2 s with psutil, and prints per-notebook and total wall times.
Target (issue 2): the whole smoke profile, book included, under 5 minutes and 6 GB on 2 cores.

    .venv/bin/python benchmarks/book.py [--profile smoke] [--fresh]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]


def tree_rss(proc: psutil.Process) -> int:
    """Bytes resident in `proc` and all its descendants."""
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            continue
    return total


def run_sampled(cmd: list[str]) -> tuple[float, int]:
    """Run `cmd`, return (wall seconds, peak tree RSS bytes); raise on a non-zero exit."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO)
    ps = psutil.Process(proc.pid)
    peak = 0
    done = threading.Event()

    def sample():
        nonlocal peak
        while not done.is_set():
            try:
                peak = max(peak, tree_rss(ps))
            except psutil.Error:
                pass
            time.sleep(0.2)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    code = proc.wait()
    done.set()
    thread.join()
    if code:
        raise SystemExit(f"{' '.join(cmd)} exited with {code}")
    return time.perf_counter() - start, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="smoke")
    parser.add_argument("--fresh", action="store_true",
                        help="delete results/<profile> first, so every computation runs (no resume)")
    args = parser.parse_args()
    if args.fresh:
        shutil.rmtree(REPO / "results" / args.profile, ignore_errors=True)
    minerals = str(Path(sys.executable).with_name("minerals"))
    wall_r, peak_r = run_sampled([minerals, "reproduce", "--profile", args.profile, "--no-progress"])
    wall_b, peak_b = run_sampled([minerals, "book", "--profile", args.profile])
    record = json.loads((REPO / "results" / args.profile / "runs" / "reproduce.json").read_text())
    print(f"\nmain job, profile {args.profile}, {psutil.cpu_count()} cores"
          f"{' (fresh: every computation ran)' if args.fresh else ' (finished computations reused)'}")
    for notebook, wall in record["notebooks"].items():
        print(f"  {notebook:<18} {wall:7.1f} s")
    print(f"  {'reproduce total':<18} {wall_r:7.1f} s   peak RSS {peak_r / 2**30:.2f} GiB")
    print(f"  {'book build':<18} {wall_b:7.1f} s   peak RSS {peak_b / 2**30:.2f} GiB")
    total = wall_r + wall_b
    print(f"  {'total':<18} {total:7.1f} s   peak RSS {max(peak_r, peak_b) / 2**30:.2f} GiB"
          f"   (target < 300 s, < 6 GiB: {'met' if total < 300 and max(peak_r, peak_b) < 6 * 2**30 else 'NOT met'})")


if __name__ == "__main__":
    main()
