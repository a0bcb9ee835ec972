"""Run-time defaults shared by the samplers and metrics: seeds and thread counts."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ._validate import check_int

__all__ = ["as_seed", "child_seed", "child_seeds", "default_threads"]


def as_seed(seed: Any, name: str = "seed") -> np.random.SeedSequence:
    """Normalise a seed (int >= 0 or ``numpy.random.SeedSequence``)."""
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if seed is None:
        raise TypeError(
            f"{name} must be an int >= 0 or a numpy.random.SeedSequence, got None "
            "(scorelab is reproducible by default; pass a seed explicitly)"
        )
    check_int(seed, name, 0)
    return np.random.SeedSequence(int(seed))


def child_seed(seed: Any, i: int, name: str = "seed") -> np.random.SeedSequence:
    """The ``i``-th child of a seed, without changing the seed object.

    Equals ``as_seed(seed).spawn(i + 1)[i]`` for a fresh ``SeedSequence``, but
    does not depend on (or advance) the object's ``n_children_spawned`` counter,
    so the same seed object always gives the same children.
    """
    ss = as_seed(seed, name)
    return np.random.SeedSequence(
        ss.entropy,
        spawn_key=tuple(ss.spawn_key) + (int(i),),
        pool_size=ss.pool_size,
    )


def child_seeds(seed: Any, n: int, name: str = "seed") -> list[np.random.SeedSequence]:
    """Children ``0 .. n-1`` of a seed (see :func:`child_seed`); no mutation."""
    ss = as_seed(seed, name)
    return [child_seed(ss, i) for i in range(int(n))]


def default_threads() -> int:
    """Number of CPU threads used by default (the CPUs this process may use)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)
