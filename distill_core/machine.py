"""What machine a number was measured on: the CPU model or GPU name, its cores, torch's version.

Results (experiments), model cards, caches keyed by machine (precision, compiling) and the
benchmarks all name the machine with these, so a figure says where it was measured the same way
everywhere:

    describe_machine()        "Intel(R) Xeon(R) Platinum 8581C CPU @ 2.10GHz, 2 CPU cores, torch 2.5.1"
    machine_name("cuda")      "NVIDIA H100 80GB HBM3"
"""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

__all__ = ["cpu_model", "describe_machine", "machine_name"]


def cpu_model() -> str:
    """The CPU model as /proc/cpuinfo (or lscpu, or the platform) names it."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")) and ":" in line:
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=5).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def machine_name(device="cpu") -> str:
    """The GPU's name on a CUDA device, else the CPU model."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return cpu_model()


def describe_machine(device="cpu") -> str:
    """'<CPU model or GPU name>, <n> CPU cores, torch <version>': where a number was measured."""
    import torch

    return f"{machine_name(device)}, {os.cpu_count()} CPU cores, torch {torch.__version__}"
