"""Several processes (torchrun, or gloo on CPU): the process group and the collectives of a run.

Rank ``r`` of ``W`` takes chunks ``r, r+W, ...``; the gradient sums are all-reduced so the step
equals the single-process step, and every rank stops, writes and waits at the same steps.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

from . import results
from .configs import TrainConfig


def init_distributed(device: str) -> tuple[int, int]:
    """(rank, world size); initialise the default process group under torchrun."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        backend = "nccl" if device.startswith("cuda") else "gloo"
        dist.init_process_group(backend)
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def all_reduce_sums(params, loss_sum: torch.Tensor) -> None:
    """Sum ``p.grad`` of every parameter, and ``loss_sum``, over the ranks, in place."""
    # one all-reduce of the flattened gradient sums (plus one for the float64 loss sum)
    flat = torch.cat([p.grad.reshape(-1) for p in params])
    dist.all_reduce(flat)
    dist.all_reduce(loss_sum)
    offset = 0
    for p in params:
        p.grad.copy_(flat[offset: offset + p.numel()].view_as(p))
        offset += p.numel()


def any_rank(flag: bool, device) -> bool:
    """Whether ``flag`` holds on any rank (so that every rank stops at the same step)."""
    flags = torch.tensor([float(flag)], device=device)
    dist.all_reduce(flags, op=dist.ReduceOp.MAX)
    return bool(flags.item())


def barrier(world: int) -> None:
    """Wait for every rank (nothing to wait for in a single process)."""
    if world > 1:
        dist.barrier()


def _gloo_worker(rank: int, world: int, port: int, config: TrainConfig, out_dir, data_dir):
    from .trainer import Trainer  # here: the trainer imports this module

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        Trainer(config, data_dir=data_dir, show_progress=False).run(out_dir)
    finally:
        dist.destroy_process_group()


def run_gloo(config: TrainConfig, out_dir, world_size: int = 2, data_dir=None) -> dict:
    """Run ``config`` as ``world_size`` CPU processes (gloo), as ``torchrun`` would; return run.json.

    Used to check that the sharded step equals the single-process full-batch step.
    """
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as sock:  # a free local port for the rendezvous
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # fork: the children inherit the imported modules (spawn would re-import torch in each)
    mp.start_processes(_gloo_worker, args=(world_size, port, config, str(out_dir), data_dir),
                       nprocs=world_size, join=True, start_method="fork")
    return results.read_run_json(out_dir)
