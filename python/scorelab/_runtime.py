"""Run-time defaults shared by the samplers and metrics: seeds and thread counts."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ._validate import check_int

__all__ = ["as_seed", "default_threads"]


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


def default_threads() -> int:
    """Number of CPU threads used by default (the CPUs this process may use)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)
