"""Where tensors live and in which precision: the helpers every step that runs a network shares.

Images leave the uint8 cache as (N, H, W, 3) arrays and enter every network as float32
(N, 3, H, W) in [0, 1] (`to_float_images`); `autocast` gives the mixed-precision context of a
training config on a device.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch

from acmnet.config import ConfigError, TrainConfig


def resolve_device(name: str) -> torch.device:
    """`auto` -> CUDA when available, else CPU; a named device must exist."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device `{name}` was asked for but CUDA is not available: set device: cpu or auto")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"device `{name}` was asked for but MPS is not available: set device: cpu or auto")
    return device


def device_name(device: torch.device) -> str:
    """The device a timing was measured on, in words: `NVIDIA H100 80GB HBM3 (cuda:0)`, `CPU (2 threads)`."""
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} ({device})"
    if device.type == "cpu":
        return f"CPU ({torch.get_num_threads()} threads)"
    return str(device)


def amp_dtype_for(tcfg: TrainConfig, device: torch.device) -> torch.dtype | None:
    """bf16 autocast when asked for, or by default on CUDA; None means full float32."""
    return torch.bfloat16 if (tcfg.amp == "bf16" or (tcfg.amp == "auto" and device.type == "cuda")) else None


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """torch.autocast for `dtype` on `device`; a null context for full precision (dtype None)."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def to_float_images(
    batch: np.ndarray | torch.Tensor, device: torch.device, channels_last: bool = False
) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float32 (N, 3, H, W) in [0, 1] on `device`.

    On CUDA the uint8 batch goes through pinned memory, so the copy is queued on the current
    stream without making the host wait for the work already queued there.
    """
    tensor = torch.as_tensor(batch)
    if device.type == "cuda":
        tensor = tensor.pin_memory()
    tensor = tensor.to(device, non_blocking=True).permute(0, 3, 1, 2).float().div_(255.0)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    return tensor.contiguous(memory_format=memory_format)
