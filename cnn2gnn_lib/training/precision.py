"""Mixed precision by what the GPU can do: bfloat16 on Ampere and newer, float16 below, none on
the CPU.

bfloat16 keeps float32's exponent range, so it trains without loss scaling; cuDNN runs it
natively from compute capability 8.0 (A100, L4, H100). Below that (T4, V100: Colab's usual
GPUs) recent PyTorch still reports bfloat16 as supported, through emulation, while cuDNN has no
bfloat16 convolutions: a teacher would train very slowly or fail. There float16 is the native
half type, and it needs a gradient scaler so small gradients do not underflow. On the CPU the
library trains in float32. ``CNN2GNN_PRECISION`` (``auto``, ``bf16``, ``fp16``, ``fp32``)
overrides the choice. :func:`choose` decides and prints the decision once per process and
device; chapter 2 ("The CNN teacher") trains with it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

import torch

BF16_MIN_CAPABILITY = (8, 0)  # Ampere: the first GPUs whose cuDNN convolutions run bfloat16
CHOICES = ("auto", "bf16", "fp16", "fp32")
_announced: set[str] = set()


@dataclass(frozen=True)
class Precision:
    """How a device computes: the autocast type (``None``: float32) and whether gradients are
    scaled (float16 only)."""

    device_type: str
    dtype: torch.dtype | None
    reason: str

    @property
    def scaled(self) -> bool:
        return self.dtype == torch.float16

    def autocast(self):
        """The autocast context for one forward pass (a no-op in float32)."""
        if self.dtype is None:
            return torch.autocast(self.device_type, enabled=False)
        return torch.autocast(self.device_type, dtype=self.dtype)

    def scaler(self) -> torch.amp.GradScaler:
        """A gradient scaler, active only for float16."""
        return torch.amp.GradScaler("cuda", enabled=self.scaled)

    def describe(self) -> str:
        name = {None: "float32", torch.bfloat16: "bfloat16 autocast",
                torch.float16: "float16 autocast with a gradient scaler"}[self.dtype]
        return f"mixed precision: {name} ({self.reason})"


def choose(device: torch.device | str, capability: Callable[[torch.device], tuple[int, int]]
           | None = None, announce: bool = True) -> Precision:
    """The :class:`Precision` for ``device``. ``capability`` returns a CUDA device's compute
    capability (default: ``torch.cuda.get_device_capability``; tests pass a fake one)."""
    device = torch.device(device)
    requested = (os.environ.get("CNN2GNN_PRECISION") or "auto").strip().lower()
    if requested not in CHOICES:
        raise ValueError(f"CNN2GNN_PRECISION={requested!r} is not understood; use one of "
                         f"{', '.join(CHOICES)}")
    if device.type != "cuda":
        precision = Precision(device.type, None, f"{device.type}: the library trains in float32")
    elif requested != "auto":
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": None}[requested]
        precision = Precision("cuda", dtype, f"CNN2GNN_PRECISION={requested}")
    else:
        major, minor = (capability or torch.cuda.get_device_capability)(device)
        native = (major, minor) >= BF16_MIN_CAPABILITY
        precision = Precision("cuda", torch.bfloat16 if native else torch.float16,
                              f"compute capability {major}.{minor}")
    key = f"{device}|{precision}"
    if announce and device.type == "cuda" and key not in _announced:
        _announced.add(key)
        print(precision.describe(), flush=True)
    return precision
