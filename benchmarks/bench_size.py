"""Size estimation speed at 1024 px on one core: baseline and improved side by side, in one run.

Times `minerals.size.predict.measure_file` (decode + estimate) per photo of a synthetic release at
1024 px and prints the median seconds per photo, photos per second and the improved/baseline ratio.
Target (issues 6, 15): at least 10 photos/s for the improved estimator, which reads the cube's text
(easyocr) only on photos whose cheap cues are ambiguous: the share of such photos and the seconds of
reading per such photo are printed too (mean photos/s beside the median: reading is what the median
hides), with the candidates read per such photo, the seconds per candidate read and the mean speed
of the photos read no text on (what reading costs, and what is left without it). Also compares the two label-card detectors (the fast card detector and CRAFT through easyocr)
on the photos that show a card: mean IoU with the true card box, share found (IoU >= 0.5), and
seconds per photo.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_size.py [--photos 30] [--craft 3] [--root DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core, before numpy / OpenCV start their pools

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from minerals.data import load_image, open_release  # noqa: E402
from minerals.size import ocr  # noqa: E402
from minerals.size.baseline import box_iou  # noqa: E402
from minerals.size.cards import find_cards, text_boxes_craft  # noqa: E402
from minerals.size.evaluate import size_photos  # noqa: E402
from minerals.size.predict import measure_file  # noqa: E402
from minerals.size.result import SizeConfig  # noqa: E402

TARGET_IMPROVED = 10.0  # photos per second


def release(root: str | None, photos: int) -> Path:
    if root:
        return Path(root)
    from minerals.data.synth import ensure_synthetic
    from minerals.cache import cache_dir

    params = {"classes": 4, "per_class": max(6, photos // 3), "image_size": 1024, "seed": 3, "n_size": photos,
              "n_segm": 1}
    return ensure_synthetic(cache_dir() / "synthetic" / f"bench-size-{photos}", **params)


def time_methods(table: pd.DataFrame, cfg: SizeConfig, rounds: int) -> dict[str, dict[str, list[float]]]:
    """Per-photo wall and CPU seconds of each method, methods interleaved photo by photo (same conditions).

    CPU time (this process only) is what one core costs when the machine is shared; wall time is what a
    user waits on an idle machine only.
    """
    times = {m: {"wall": [], "cpu": [], "ocr_s": [], "reads": []} for m in ("baseline", "improved")}
    photos = size_photos(table)
    for _ in range(rounds):
        for photo in photos:
            for method, t in times.items():
                wall, cpu = time.perf_counter(), time.process_time()
                est, _, _ = measure_file(photo, method, cfg)
                t["cpu"].append(time.process_time() - cpu)
                t["wall"].append(time.perf_counter() - wall)
                t["ocr_s"].append(est.ocr_seconds if est.ocr_reads else None)
                t["reads"].append(est.ocr_reads)
    return times


def card_scores(table: pd.DataFrame, craft: int) -> dict[str, dict]:
    """IoU with the true card box and seconds per photo for each card detector."""
    rows = table[table["card_box"].fillna("").astype(str).str.len() > 2]
    out = {}
    for name, detect, limit in (("card", lambda rgb: [c.box for c in find_cards(rgb)], len(rows)),
                                ("craft", text_boxes_craft, craft)):
        ious, secs = [], []
        for r in rows.head(limit).itertuples():
            rgb = np.asarray(load_image(r.path))
            truth = json.loads(r.card_box)
            start = time.perf_counter()
            boxes = detect(rgb)
            secs.append(time.perf_counter() - start)
            ious.append(max((box_iou(b, truth) for b in boxes), default=0.0))
        if ious:
            out[name] = {"photos": len(ious), "mean_iou": float(np.mean(ious)),
                         "found": float(np.mean(np.array(ious) >= 0.5)), "s_per_photo": statistics.median(secs)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=30, help="photos of the synthetic 1024-px release")
    ap.add_argument("--rounds", type=int, default=1, help="passes over the photos")
    ap.add_argument("--craft", type=int, default=3, help="photos for the slow CRAFT detector (0 = skip)")
    ap.add_argument("--root", help="an existing release instead of the synthetic one")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    table = open_release(release(args.root, args.photos)).size_table().head(args.photos)
    cfg = SizeConfig()
    measure_file(size_photos(table.head(1))[0], "improved", cfg)  # warm-up: imports, caches
    start = time.perf_counter()
    ocr.reader()  # built once per process, on the first ambiguous photo: not a per-photo cost
    print(f"text reader (easyocr) built in {time.perf_counter() - start:.1f} s, once per process")
    load = os.getloadavg()[0]
    times = time_methods(table, cfg, args.rounds)
    print(f"size estimation, {len(table)} photos x {args.rounds} round(s), longest side "
          f"{int(table['width'].max()) if 'width' in table else '?'} px, 1 thread (decode + estimate)")
    print(f"load average at start: {load:.1f} on {os.cpu_count()} cores")
    print(f"{'method':<10} {'clock':<5} {'median s/photo':>15} {'photos/s':>9} {'p90 s/photo':>12}")
    rate = {}
    for method, t in times.items():
        for clock in ("wall", "cpu"):
            ts = t[clock]
            med = statistics.median(ts)
            rate[method, clock] = 1.0 / med
            print(f"{method:<10} {clock:<5} {med:>15.4f} {1.0 / med:>9.1f} {np.quantile(ts, 0.9):>12.4f}"
                  f"   (mean: {1.0 / statistics.mean(ts):.1f} photos/s)")
    for clock in ("wall", "cpu"):
        print(f"{clock}: improved / baseline speed {rate['improved', clock] / rate['baseline', clock]:.2f}x; "
              f"improved vs target {TARGET_IMPROVED:.0f}/s: {rate['improved', clock] / TARGET_IMPROVED:.2f}x")
    imp = times["improved"]
    read = [s for s in imp["ocr_s"] if s is not None]
    print(f"improved read the cube's text (easyocr, ambiguous cheap cues only) on {len(read)} of "
          f"{len(imp['ocr_s'])} photos ({len(read) / max(1, len(imp['ocr_s'])):.0%})"
          + (f", {statistics.mean(read):.2f} s of reading per such photo (mean)" if read else ""))
    if read:  # where the mean goes: candidates read per such photo, seconds per read, the photos without reading
        reads = sum(imp["reads"])
        cheap = [w for w, s in zip(imp["wall"], imp["ocr_s"]) if s is None]
        rest = f"; photos without reading: {1.0 / statistics.mean(cheap):.1f} photos/s (wall, mean)" if cheap else ""
        print(f"  {reads / len(read):.1f} candidates read per such photo, {sum(read) / reads:.3f} s per candidate{rest}")
    if "card_box" in table:
        print(f"\nlabel-card detectors (photos with a card; CRAFT on the first {args.craft})")
        print(f"{'detector':<8} {'photos':>6} {'mean IoU':>9} {'found':>6} {'s/photo':>8}")
        for name, r in card_scores(table, args.craft).items():
            print(f"{name:<8} {r['photos']:>6} {r['mean_iou']:>9.2f} {r['found']:>6.2f} {r['s_per_photo']:>8.3f}")


if __name__ == "__main__":
    main()
