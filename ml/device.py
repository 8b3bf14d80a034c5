"""Where training and inference run: device choice, mixed precision and batch sizes.

CUDA when present, CPU otherwise. Mixed precision is only ever switched on for CUDA: on CPU the
autocast context is a no-op, so the same training loop runs unchanged on both.
"""

from __future__ import annotations

import contextlib
from typing import Literal

import torch

Mode = Literal["head", "finetune"]

# Batch sizes that fit comfortably: CPU batches stay small so an epoch reports progress often.
# Heads on embeddings: small batches give enough SGD steps on the few thousand samples of a curation run.
_BATCH_SIZES: dict[tuple[str, str], int] = {
    ("cpu", "head"): 64,
    ("cpu", "finetune"): 32,
    ("cuda", "head"): 256,
    ("cuda", "finetune"): 128,
}


def pick_device(prefer: str | None = None) -> torch.device:
    """The device to run on: ``prefer`` when given ("cpu", "cuda", "cuda:1"), else CUDA if present.

    Asking for CUDA on a machine without it raises instead of silently training on CPU.
    """
    if prefer:
        device = torch.device(prefer)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"device {prefer!r} requested but CUDA is not available")
        return device
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def amp_dtype(device: torch.device) -> torch.dtype | None:
    """The mixed-precision dtype for ``device``: bfloat16 where supported, float16 on older GPUs, None on CPU."""
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def autocast_context(device: torch.device) -> contextlib.AbstractContextManager[object]:
    """Mixed precision on CUDA, a no-op elsewhere. Losses are computed in float32 regardless."""
    dtype = amp_dtype(device)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type="cuda", dtype=dtype)


def grad_scaler(device: torch.device) -> torch.amp.GradScaler:
    """A gradient scaler, enabled only when autocast runs in float16 (bfloat16 needs none)."""
    return torch.amp.GradScaler("cuda", enabled=amp_dtype(device) == torch.float16)


def pin_memory(device: torch.device) -> bool:
    """Whether data loaders should pin host memory (only useful when copying to a GPU)."""
    return device.type == "cuda"


def default_batch_size(device: torch.device, mode: Mode) -> int:
    """A batch size that suits ``mode`` ("head" on embeddings, "finetune" on images) on ``device``."""
    kind = "cuda" if device.type == "cuda" else "cpu"
    return _BATCH_SIZES[(kind, mode)]
