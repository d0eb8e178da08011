"""What a device can do, and moving the CPU's random draws to it without waiting.

Random draws (batch orders, crops, flips, the controls' permutations) are made on a CPU generator, so a run's draws
are the same on every device. `to_device` moves them in one copy from pinned memory that the host does not wait
for: on CUDA a pageable copy would make the host wait until the GPU has caught up, once per step.

`resolve_precision` turns a config's precision into what runs on a device: "auto" is bf16 where the GPU supports it
in hardware (compute capability 8.0 and up: A100, H100), fp16 with a gradient scaler on older GPUs (a Colab T4) and
fp32 on the CPU and MPS; "tf32" is fp32 with TensorFloat-32 matmuls and convolutions on CUDA, and fp32 elsewhere.
"""
from __future__ import annotations

import torch

PRECISIONS = ("fp32", "tf32", "bf16", "fp16", "auto")


def to_device(t: torch.Tensor, device) -> torch.Tensor:
    """A CPU tensor on `device`: itself on the CPU; elsewhere one non-blocking copy from pinned memory (PyTorch
    keeps the pinned block alive until the copy has run)."""
    device = torch.device(device)
    if device.type == "cpu":
        return t
    if device.type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


def bf16_in_hardware(device: torch.device) -> bool:
    """Whether `device` computes in bf16 natively (CUDA compute capability >= 8.0); emulation does not count."""
    return device.type == "cuda" and torch.cuda.get_device_capability(device) >= (8, 0)


def resolve_precision(precision: str, device) -> str:
    """The precision a run in `precision` uses on `device`: one of fp32, tf32, bf16, fp16 (see the module)."""
    device = torch.device(device)
    if precision == "auto":
        if device.type != "cuda":
            return "fp32"
        return "bf16" if bf16_in_hardware(device) else "fp16"
    if precision == "tf32" and device.type != "cuda":
        return "fp32"
    return precision


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux; else what `platform` knows)."""
    import platform
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(device) -> str:
    """Where a run ran, in one line: the GPU's name, or the CPU's model and the instruction set torch dispatches to
    there (`torch.backends.cpu.get_cpu_capability()`), with the torch build and the thread count. Two runs with the
    same line and the same config give the same numbers; another line may move them within the seeds' spread."""
    device = torch.device(device)
    if device.type == "cuda":
        where = torch.cuda.get_device_name(device)
    elif device.type == "mps":
        where = f"Apple MPS ({cpu_model()})"
    else:
        where = f"{cpu_model()} [{torch.backends.cpu.get_cpu_capability()}]"
    return f"{where}, torch {torch.__version__}, {torch.get_num_threads()} thread(s)"
