"""Data parallelism across the processes ``torchrun`` / ``accelerate launch`` start (lm-eval's rank protocol).

A launcher sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` in every process. :func:`start` joins them into one
process group (gloo for CPU tensors, NCCL for CUDA ones), once, before anything is read or written, so that only
rank 0 checks and claims the output folder while the other ranks wait. lm-eval's ``evaluate`` then gives each
rank every ``world_size``-th document (``lm.rank`` / ``lm.world_size``), and gathers the per-document results on
rank 0 through the model's :meth:`Collectives.all_gather` / :meth:`Collectives.gather_object` /
:meth:`Collectives.barrier`, which ``hf-causal`` exposes. Rank 0 alone writes result.json and the sample logs;
every rank keeps its own responses (``*.responses.rank<N>.jsonl``) so each resumes its share.

``WORLD_SIZE`` above 1 without the rest of a launcher's variables (``RANK``, ``MASTER_ADDR``, ``MASTER_PORT``) is
refused by :func:`start` (:func:`check_launch`) with one line naming what is missing, before torch is asked.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from lm_eval_ja.errors import UserError


#: what a launcher (torchrun, accelerate launch) sets in every process it starts, besides WORLD_SIZE
LAUNCHER_VARIABLES = ("RANK", "MASTER_ADDR", "MASTER_PORT")


def _int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:  # refused by check_launch(); until then (error reporting) a plain process
        return default


def launched() -> tuple[int, int, int]:
    """(rank, world size, local rank) as the launcher set them; (0, 1, 0) for a plain process. Never raises."""
    rank = _int("RANK", 0)
    return rank, _int("WORLD_SIZE", 1), _int("LOCAL_RANK", rank)


def is_main_process() -> bool:
    """Whether this process writes the run's outputs (rank 0, or no launcher)."""
    return launched()[0] == 0


def launch_problem() -> str | None:
    """What is wrong with the launch environment, as one sentence naming the fix; None when torch can join it.

    ``WORLD_SIZE`` above 1 means data parallelism, which needs what a launcher sets in every process (``RANK``,
    ``MASTER_ADDR``, ``MASTER_PORT``; ``LOCAL_RANK`` defaults to ``RANK``); ``WORLD_SIZE`` left in the environment
    of a plain process is the usual cause.
    """
    env = os.environ
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_PORT"):
        value = env.get(name)
        if value is not None and not value.strip().isdigit():
            return (f"{name}={value!r} is not a non-negative integer; start data-parallel runs with torchrun or "
                    "accelerate launch, which set it, or unset it for one process.")
    world = int(env.get("WORLD_SIZE", "1"))
    if world <= 1:
        return None
    missing = [name for name in LAUNCHER_VARIABLES if not env.get(name, "").strip()]
    if missing:
        names = ", ".join(missing[:-1]) + (" and " if len(missing) > 1 else "") + missing[-1]
        return (f"WORLD_SIZE={world} is set but {names} {'is' if len(missing) == 1 else 'are'} not: a data-parallel "
                "run needs the variables torchrun / accelerate launch set in every process (e.g. torchrun "
                f"--nproc_per_node {world} main.py ...); for one process, unset WORLD_SIZE.")
    rank = int(env["RANK"])
    if rank >= world:
        return (f"RANK={rank} is not below WORLD_SIZE={world}; start data-parallel runs with torchrun or accelerate "
                "launch, which set both.")
    return None


def check_launch() -> None:
    """Refuse a launch environment torch could not join: one :class:`UserError` line, not torch's traceback."""
    problem = launch_problem()
    if problem is not None:
        raise UserError(problem)


def start() -> "Collectives":
    """Join the launcher's process group (idempotent); one process without a launcher.

    The launch environment is checked first (:func:`check_launch`).
    """
    check_launch()
    _, world, local_rank = launched()
    if world <= 1:
        return Collectives(0, 1)
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        if torch.cuda.is_available():
            torch.cuda.set_device(local_rank)
            backend = "cpu:gloo,cuda:nccl"  # objects and counts travel over gloo, CUDA tensors over NCCL
        else:
            backend = "gloo"
        dist.init_process_group(backend=backend)
    return Collectives(dist.get_rank(), dist.get_world_size())


def finish() -> None:
    """Leave the process group once every rank is done (rank 0 has written the outputs)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


@dataclass(frozen=True)
class Collectives:
    """The collective operations lm-eval's evaluator asks a data-parallel model for (no-ops in one process)."""

    rank: int = 0
    world_size: int = 1

    def all_gather(self, tensor):
        """Every rank's ``tensor`` (a scalar becomes one element), concatenated in rank order, on every rank."""
        if self.world_size <= 1:
            return tensor
        import torch
        import torch.distributed as dist

        flat = tensor.reshape(-1) if tensor.dim() else tensor.reshape(1)
        parts = [torch.zeros_like(flat) for _ in range(self.world_size)]
        dist.all_gather(parts, flat)
        return torch.cat(parts)

    def gather_object(self, obj: Any, dst: int = 0) -> list | None:
        """Every rank's ``obj`` in rank order on ``dst``; None elsewhere."""
        if self.world_size <= 1:
            return [obj]
        import torch.distributed as dist

        out = [None] * self.world_size if self.rank == dst else None
        dist.gather_object(obj, out, dst=dst)
        return out

    def barrier(self) -> None:
        if self.world_size > 1:
            import torch.distributed as dist

            dist.barrier()


def shard(n: int, rank: int, world_size: int) -> list[int]:
    """The indices of ``n`` items rank ``rank`` takes: every ``world_size``-th, as lm-eval shards documents."""
    return list(range(rank, n, world_size))
