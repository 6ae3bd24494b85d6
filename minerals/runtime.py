"""The process a run computes in: CPU kernel class, threads, seeds, and a description of the machine.

PyTorch picks its CPU kernels at run time from the instruction sets the CPU has (ATen's vectorised
kernels, oneDNN's JIT convolutions, MKL's BLAS), so one commit gives different bits on an AVX-512
machine than on an AVX2 one. A profile that promises bit-exact tables declares the kernel class it is
referenced on (`cpu_isa = "avx2"` beside `threads`), and every process that computes its numbers calls
`pin_cpu(profile)` before torch loads: the environment variables below are read once, at load time.
A process cannot change its kernels once torch has chosen them (at its first dispatch, soon after
import); `pin_cpu` then says so, and the run
record shows which class was really in effect (`machine_class`), so `minerals check` can tell an
exact comparison from a statistical one.

Set `MINERALS_CPU_PIN=off` to run with the machine's own kernels (the check then compares within
sampling noise).
"""

from __future__ import annotations

import contextlib
import os
import platform
import random
import re
import sys
import warnings
from functools import lru_cache
from typing import Iterator

PIN_SWITCH = "MINERALS_CPU_PIN"
# Environment of each kernel class: ATen's dispatch, oneDNN's JIT ceiling, MKL's conditional numerical
# reproducibility (the same code path on every CPU that has it; STRICT also ignores memory alignment),
# and OpenBLAS's core type (numpy and scikit-learn). Values are the libraries' own spellings.
ISA_ENV = {
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "DNNL_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2,STRICT",
             "MKL_ENABLE_INSTRUCTIONS": "AVX2", "OPENBLAS_CORETYPE": "Haswell"},
    "default": {"ATEN_CPU_CAPABILITY": "default", "DNNL_MAX_CPU_ISA": "SSE41", "MKL_CBWR": "SSE4_2,STRICT",
                "MKL_ENABLE_INSTRUCTIONS": "SSE4_2", "OPENBLAS_CORETYPE": "Nehalem"},
}
THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
# ATen's names for the classes, as torch.backends.cpu.get_cpu_capability() reports them.
ATEN_NAME = {"avx2": "AVX2", "default": "DEFAULT", "avx512": "AVX512"}


class RuntimeSetupError(ValueError):
    """A profile asks for a kernel class this code does not know."""


def pin_enabled() -> bool:
    """False when `MINERALS_CPU_PIN=off` (or 0/false/no): run with the machine's own kernels."""
    return os.environ.get(PIN_SWITCH, "on").strip().lower() not in {"off", "0", "false", "no"}


def pin_env(settings: dict) -> dict[str, str]:
    """The environment variables a profile's top-level settings ask for (`cpu_isa`, `threads`).

    Empty for a profile that declares neither, or when the pin is switched off.
    """
    if not pin_enabled():
        return {}
    env = {}
    isa = settings.get("cpu_isa")
    if isa:
        if isa not in ISA_ENV:
            raise RuntimeSetupError(f"cpu_isa {isa!r} is not a known kernel class; use one of {', '.join(ISA_ENV)}")
        env.update(ISA_ENV[isa])
    if settings.get("threads"):
        env.update({name: str(int(settings["threads"])) for name in THREAD_ENV})
    return env


def pin_cpu(settings: dict) -> bool:
    """Put the profile's kernel class and threads into `os.environ` (inherited by child processes).

    Returns True when the current process runs with that class: torch not loaded yet, or loaded with
    the same ATen capability. Otherwise warns that this process keeps the kernels it loaded with.
    """
    env = pin_env(settings)
    os.environ.update(env)
    if not env or "torch" not in sys.modules:
        return True
    import torch

    want = env.get("ATEN_CPU_CAPABILITY")
    have = torch.backends.cpu.get_cpu_capability()
    if want and ATEN_NAME.get(want, want.upper()) != have:
        warnings.warn(f"torch was loaded before the profile's CPU kernel class {want!r} could be applied (this "
                      f"process runs {have}); start a fresh process (or a new kernel) for exact reproduction",
                      RuntimeWarning, stacklevel=2)
        return False
    return True


def seed_everything(seed: int, threads: int | None = None) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA); pin torch's CPU threads when `threads` is given.

    CPU results depend on the thread count (reduction order), so a profile that promises identical
    tables on every machine pins it.
    """
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if threads and pin_enabled():  # with the pin off, torch keeps OMP_NUM_THREADS (or its own default)
        torch.set_num_threads(int(threads))



@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with `n` intra-op torch threads (0: leave the current setting), then restore it.

    One thread is the most CPU-efficient for small batches on a busy machine: with more, OpenMP
    threads spin while waiting for a share of the cores.
    """
    import torch

    old = torch.get_num_threads()
    if n:
        torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)

@lru_cache(maxsize=1)
def cpu_model() -> str:
    """The CPU's model name (`/proc/cpuinfo` on Linux, else what `platform` knows)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _onednn_version(config: str) -> str:
    match = re.search(r"(?:MKL-DNN|oneDNN)\s+v?([\d.]+)", config)
    return match.group(1) if match else ""


def machine_class(device: str = "cpu") -> dict:
    """What decides the bits of a run: architecture, kernel class in effect, threads, library versions.

    `class_fields()` of it must agree for two runs to be compared exactly; `cpu` (the model name) is
    recorded for the reader only. Loads torch.
    """
    import torch

    device_type = str(device or "cpu").split(":")[0]
    record = {
        "arch": platform.machine(),
        "device": device_type,
        "aten_isa": torch.backends.cpu.get_cpu_capability(),
        "dnnl_max_isa": os.environ.get("DNNL_MAX_CPU_ISA", ""),
        "mkl_cbwr": os.environ.get("MKL_CBWR", ""),
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", ""),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "onednn": _onednn_version(torch.__config__.show()),
        "cpu": cpu_model(),
    }
    if device_type == "cuda" and torch.cuda.is_available():
        record["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return record


CLASS_FIELDS = ("arch", "device", "aten_isa", "dnnl_max_isa", "mkl_cbwr", "openblas_coretype", "torch", "onednn")


def class_differences(ours: dict, reference: dict) -> list[str]:
    """`field: ours != reference` for every field that decides the bits and differs (threads per section
    are compared too: they are part of the record of each run)."""
    out = []
    for name in (*CLASS_FIELDS, "threads"):
        if str(ours.get(name, "")) != str(reference.get(name, "")):
            out.append(f"{name} {ours.get(name, '?')} (reference {reference.get(name, '?')})")
    return out
