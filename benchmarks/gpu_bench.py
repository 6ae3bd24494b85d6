"""Can our data pipeline keep a GPU busy? Each figure printed as it is measured, as a ratio to a bare model pass.

    bash benchmarks/gpu.sh            # on the GPU box (installs missing wheels, sets PYTHONPATH)
    bash benchmarks/gpu.sh --small    # the same code on the CPU at toy sizes (a couple of minutes)

1. Synthesises a zero-shot photo set with every core (full: 20,000 JPEGs, 1024 px long side).
2. Zero-shot ViT-B/32 (random weights: no hub access): the whole pipeline (decode, preprocess,
   encode, feature cache; `zeroshot.section.image_features`) in photos/s against a bare forward on
   preloaded tensors at the same batch (target >= 0.8x); on CUDA also GPU JPEG decoding
   (`torchvision.io.decode_jpeg` on the device).
3. Few-shot ResNet-50 training at 224 px with AMP and channels-last (`fewshot.train.train`, one
   epoch) against a bare forward+backward+step on synthetic tensors (target >= 0.8x).
4. Batched Grad-CAM against one image at a time (target >= 2x).
5. Full mode only: the notebooks on the device (`minerals reproduce --profile smoke --device cuda`)
   and `minerals check --mode statistical` against the CPU reference.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import torch
from PIL import Image

SIZES = {
    "full": {"photos": 20_000, "side": 1024, "batch": 256, "train_photos": 6_144, "train_batch": 128, "cam_images": 128,
             "cam_batch": 32, "steps": 20},
    "small": {"photos": 48, "side": 320, "batch": 8, "train_photos": 32, "train_batch": 8, "cam_images": 6,
              "cam_batch": 6, "steps": 2},
}


def say(text: str) -> None:
    print(text, flush=True)


def ratio_line(name: str, value: float, reference_name: str, reference: float, target: str) -> None:
    say(f"{name:<34} {value:9.1f} photos/s | {reference_name:<26} {reference:9.1f} photos/s | "
        f"ratio {value / reference:5.2f}x (target {target})")


def _write_photo(job: tuple[str, int, int]) -> str:
    """One smooth random 3:2 JPEG (a colour field plus noise): decoding cost like a photo's."""
    path, side, seed = job
    rng = np.random.default_rng(seed)
    h, w = side * 2 // 3, side
    coarse = rng.integers(0, 255, (6, 9, 3), dtype=np.uint8)
    image = np.asarray(Image.fromarray(coarse).resize((w, h), Image.BICUBIC), dtype=np.int16)
    image = np.clip(image + rng.integers(-12, 12, image.shape), 0, 255).astype(np.uint8)
    Image.fromarray(image).save(path, quality=90)
    return path


def synthesise(folder: Path, n: int, side: int, workers: int) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    jobs = [(str(folder / f"{i:06d}.jpg"), side, i) for i in range(n)]
    start = time.perf_counter()
    with Pool(workers) as pool:
        paths = pool.map(_write_photo, jobs, chunksize=64)
    say(f"synthesised {n} photos at {side} px with {workers} processes in {time.perf_counter() - start:.1f} s")
    return paths


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn, device: str) -> float:
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - start


def zeroshot(paths: list[str], device: str, size: dict, workers: int, cache: Path) -> None:
    from minerals.models.clip import load_clip
    from minerals.zeroshot.section import image_features

    bundle = load_clip("ViT-B-32", device=device)
    batch = size["batch"]
    x = torch.randn(batch, 3, 224, 224, device=device)
    with torch.inference_mode():
        bundle.encode_images(x)  # warm-up
        bare_s = timed(lambda: [bundle.encode_images(x) for _ in range(size["steps"])], device)
    bare = batch * size["steps"] / bare_s
    image_features(bundle, paths[:batch], batch_size=batch, num_workers=workers, max_side=448, progress=False)
    with torch.inference_mode():
        pipe_s = timed(lambda: image_features(bundle, paths, cache=cache, batch_size=batch, num_workers=workers,
                                              max_side=448, progress=False), device)
    ratio_line("zero-shot ViT-B/32 whole pipeline", len(paths) / pipe_s, "bare forward", bare, ">= 0.8x")
    if device.startswith("cuda"):
        gpu = gpu_decode(bundle, paths, batch, device)
        ratio_line("zero-shot, JPEGs decoded on the GPU", gpu, "bare forward", bare, ">= 0.8x")


def gpu_decode(bundle, paths: list[str], batch: int, device: str) -> float:
    """Photos/s with `torchvision.io.decode_jpeg` on the device, resize + normalise on the device."""
    from torchvision.io import decode_jpeg, read_file

    mean = torch.tensor(bundle.preprocess_cfg.get("mean", (0.481, 0.458, 0.408)), device=device).view(1, 3, 1, 1)
    std = torch.tensor(bundle.preprocess_cfg.get("std", (0.269, 0.261, 0.276)), device=device).view(1, 3, 1, 1)

    def run():
        for start in range(0, len(paths), batch):
            data = [read_file(p) for p in paths[start:start + batch]]
            images = decode_jpeg(data, device=device)
            x = torch.stack([torch.nn.functional.interpolate(im[None].float(), size=(224, 224), mode="bilinear",
                                                             antialias=True)[0] for im in images])
            bundle.encode_images((x / 255 - mean) / std)

    with torch.inference_mode():
        seconds = timed(run, device)
    return len(paths) / seconds


class _Photos(torch.utils.data.Dataset):
    """`(PIL image, label)` of photo files, 10 labels in turn (decoded at 2x the training input)."""

    def __init__(self, paths: list[str], max_side: int):
        self.paths, self.max_side = paths, max_side
        self.labels = np.arange(len(paths)) % 10
        self.classes = [f"class {i}" for i in range(10)]

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        from minerals.data.images import load_image

        return load_image(self.paths[i], self.max_side), int(self.labels[i])


def fewshot(paths: list[str], device: str, size: dict, workers: int, run_dir: Path) -> None:
    from minerals.fewshot.config import FewShotConfig
    from minerals.fewshot.train import decode_side, train
    from minerals.models.classifiers import create_classifier

    batch = size["train_batch"]
    net = create_classifier("resnet50", 10, pretrained=False).to(device).to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-4)
    x = torch.randn(batch, 3, 224, 224, device=device).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch,), device=device)

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.startswith("cuda")):
            loss = torch.nn.functional.cross_entropy(net(x).float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step()
    bare = batch * size["steps"] / timed(lambda: [step() for _ in range(size["steps"])], device)
    cfg = FewShotConfig(subset=10, model="resnet50", pretrained=False, resolution=224, epochs=1, batch_size=batch,
                        num_workers=workers, cache_images=False, amp=True, channels_last=True)
    photos = paths[:size["train_photos"]]
    summary = train(cfg, _Photos(photos, decode_side(224)), _Photos(paths[-batch:], decode_side(224)),
                    [f"class {i}" for i in range(10)], run_dir, device, echo=False)
    ratio_line("few-shot ResNet-50 training (AMP)", summary["train_images_per_s"], "bare forward+backward", bare,
               ">= 0.8x")


def cam(paths: list[str], device: str, size: dict) -> None:
    from minerals.cam.methods import compute_cams
    from minerals.data.images import load_image
    from minerals.models.classifiers import create_classifier

    net = create_classifier("resnet50", 10, pretrained=False).eval()
    images = [np.asarray(load_image(p, 448)) for p in paths[:size["cam_images"]]]
    kw = {"resolution": 224, "mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225), "device": device,
          "progress": False}
    compute_cams(net, images[:2], "gradcam", batch_size=2, **kw)
    batched = len(images) / timed(lambda: compute_cams(net, images, "gradcam", batch_size=size["cam_batch"], **kw),
                                  device)
    single = len(images) / timed(lambda: compute_cams(net, images, "gradcam", batch_size=1, **kw), device)
    ratio_line(f"Grad-CAM ResNet-50, batch {size['cam_batch']}", batched, "one image at a time", single, ">= 2x")


def notebooks(results: Path, device: str, timeout: int) -> None:
    """`minerals reproduce` on the device, then `minerals check --mode statistical` against the CPU reference."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    commands = [["reproduce", "--profile", "smoke", "--device", device, "--results", str(results), "--no-progress"],
                ["check", "--profile", "smoke", "--results", str(results), "--mode", "statistical"]]
    for args in commands:
        start = time.perf_counter()
        try:
            out = subprocess.run([sys.executable, "-m", "minerals", *args], env=env, capture_output=True, text=True,
                                 timeout=timeout)
        except subprocess.TimeoutExpired:
            say(f"minerals {args[0]}: stopped after {timeout} s")
            return
        tail = (out.stdout + out.stderr).strip().splitlines()[-12:]
        say(f"minerals {' '.join(args[:5])}: exit {out.returncode} in {time.perf_counter() - start:.0f} s")
        say("\n".join("    " + line for line in tail))
        if out.returncode:
            return


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--small", action="store_true", help="toy sizes on the CPU (a couple of minutes)")
    p.add_argument("--device", default="", help="default: cuda when available (cpu with --small)")
    p.add_argument("--photos", type=int, help="zero-shot photos to synthesise (default 20,000; --small 48)")
    p.add_argument("--workers", type=int, default=0, help="decoder processes (default: every core)")
    p.add_argument("--notebook-timeout", type=int, default=240, help="seconds for each notebook command")
    args = p.parse_args(argv)
    size = dict(SIZES["small" if args.small else "full"])
    if args.photos:
        size["photos"] = args.photos
    device = args.device or ("cpu" if args.small or not torch.cuda.is_available() else "cuda")
    workers = args.workers or os.cpu_count() or 1
    if not args.small:
        torch.backends.cudnn.benchmark = True
    name = torch.cuda.get_device_name() if device.startswith("cuda") else f"CPU, {os.cpu_count()} cores"
    say(f"device {device} ({name}); torch {torch.__version__}; {workers} decoder processes; "
        f"{'small' if args.small else 'full'} sizes")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="minerals-gpu-bench-") as tmp:
        tmp = Path(tmp)
        paths = synthesise(tmp / "photos", size["photos"], size["side"], workers)
        zeroshot(paths, device, size, workers, tmp / "features")
        fewshot(paths, device, size, 0 if args.small else workers, tmp / "fewshot")
        cam(paths, device, size)
        if args.small:
            say("notebooks on the device: skipped with --small (the smoke reproduction takes minutes on a CPU)")
        else:
            notebooks(tmp / "results", device, args.notebook_timeout)
    say(f"total {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
