"""The CPU kernel pin: which environment a profile asks for, that it takes effect before torch loads,
and the machine class a run records."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from minerals import runtime
from minerals.profiles import load_profile

HAS_AVX2 = "avx2" in open("/proc/cpuinfo", encoding="utf-8").read() if sys.platform == "linux" else False


def test_the_smoke_profile_pins_avx2_kernels_and_two_threads(monkeypatch):
    monkeypatch.delenv(runtime.PIN_SWITCH, raising=False)
    env = runtime.pin_env(load_profile("smoke").settings)
    assert env["ATEN_CPU_CAPABILITY"] == "avx2" and env["DNNL_MAX_CPU_ISA"] == "AVX2"
    assert env["MKL_CBWR"] == "AVX2,STRICT" and env["OMP_NUM_THREADS"] == "2"


def test_the_paper_profile_pins_nothing_and_the_switch_turns_the_pin_off(monkeypatch):
    assert runtime.pin_env(load_profile("paper").settings) == {}
    monkeypatch.setenv(runtime.PIN_SWITCH, "off")
    assert runtime.pin_env(load_profile("smoke").settings) == {}


def test_an_unknown_kernel_class_is_refused():
    with pytest.raises(runtime.RuntimeSetupError, match="cpu_isa 'avx9' is not a known kernel class"):
        runtime.pin_env({"cpu_isa": "avx9"})


def _child(code: str, env_extra: dict | None = None) -> dict:
    import os

    env = {k: v for k, v in os.environ.items() if k not in {*runtime.ISA_ENV["avx2"], runtime.PIN_SWITCH}}
    env.update(env_extra or {})
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not HAS_AVX2, reason="the AVX2 pin needs a CPU with AVX2")
def test_pinning_before_torch_loads_gives_the_avx2_class_in_the_run_record():
    machine = _child("import json; from minerals import runtime; from minerals.profiles import load_profile;"
                     "ok = runtime.pin_cpu(load_profile('smoke').settings); import torch;"
                     "print(json.dumps({**runtime.machine_class('cpu'), 'ok': ok}))")
    assert machine["ok"] and machine["aten_isa"] == "AVX2" and machine["dnnl_max_isa"] == "AVX2"
    assert machine["threads"] == 2 and machine["torch"] and machine["cpu"] and machine["arch"]


def test_pinning_after_torch_chose_its_kernels_warns():
    # ATen chooses its kernels at the first dispatch, not at import: ask for them first to fix them
    out = _child("import json, warnings; import torch; torch.backends.cpu.get_cpu_capability();"
                 "from minerals import runtime;"
                 "warnings.simplefilter('error');"
                 "\ntry:\n    runtime.pin_cpu({'cpu_isa': 'default'}); r = 'no warning'"
                 "\nexcept RuntimeWarning as e:\n    r = str(e)\nprint(json.dumps({'r': r}))")
    assert "torch was loaded before" in out["r"]


def test_class_differences_name_what_decides_the_bits():
    ref = {"arch": "x86_64", "device": "cpu", "aten_isa": "AVX2", "threads": 2, "torch": "2.14.1", "cpu": "A"}
    assert runtime.class_differences({**ref, "cpu": "B"}, ref) == []  # the CPU model alone is not a class
    assert runtime.class_differences({**ref, "aten_isa": "DEFAULT"}, ref) == ["aten_isa DEFAULT (reference AVX2)"]
