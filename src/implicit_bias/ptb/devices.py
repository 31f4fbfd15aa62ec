"""The device a process trains on: its GPU under torchrun, TF32 and CPU threads, its name."""

from __future__ import annotations

import os

import torch

from .configs import TrainConfig


def rank_device(device: str) -> str:
    """``device``, made ``cuda:LOCAL_RANK`` (and current) for a CUDA rank of a torchrun job."""
    if device == "cuda" and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"  # one GPU per torchrun rank
        torch.cuda.set_device(torch.device(device))
    return device


def configure_device(device: str, config: TrainConfig) -> torch.device:
    """Apply ``config``'s TF32 and thread settings for ``device``; return it as a torch device."""
    if device.startswith("cuda"):
        # TF32 matrix products (parameters, gradients, optimizer state stay fp32) unless
        # tf32=False (strict fp32, ~4x slower on an H200)
        torch.backends.cuda.matmul.allow_tf32 = config.tf32
        torch.backends.cudnn.allow_tf32 = config.tf32
    if config.threads:
        torch.set_num_threads(config.threads)
    return torch.device(device)


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU's (processor, else machine type)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    import platform

    return platform.processor() or platform.machine()
