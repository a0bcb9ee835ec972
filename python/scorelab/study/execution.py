"""Running tasks: the progress bar and Dask (client, address check, results)."""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from .tasks import Task, run_task

__all__ = ["check_dask", "dask_client"]


# ---------------------------------------------------------------------------
# progress
# ---------------------------------------------------------------------------
class _Progress:
    """tqdm bar (or a plain stderr line) with cells done/total, ETA, throughput."""

    def __init__(self, total: int, initial: int, enabled: bool, desc: str) -> None:
        self.total, self.done = total, initial
        self.enabled = enabled and total > initial
        self.start = time.perf_counter()
        self.new = 0
        self.psteps = 0.0
        self.bar: Any = None
        if not self.enabled:
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:
            return
        self.bar = tqdm(
            total=total,
            initial=initial,
            desc=desc,
            unit="cell",
            file=sys.stderr,
            dynamic_ncols=True,
            leave=True,
        )

    def update(self, rows: Sequence[Mapping[str, Any]], task: Task) -> None:
        self.done += 1
        self.new += 1
        if task.spec["n"]:
            self.psteps += float(task.spec["n"]) * float(task.spec["steps"])
        if not self.enabled:
            return
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        rate = self.psteps / elapsed
        if self.bar is not None:
            self.bar.set_postfix_str(f"{rate:.3g} particle-steps/s", refresh=False)
            self.bar.update(1)
            return
        left = self.total - self.done
        eta = elapsed / self.new * left
        sys.stderr.write(
            f"\r{self.done}/{self.total} cells | {self.new / elapsed:.3g} cells/s | "
            f"ETA {int(eta) // 60}:{int(eta) % 60:02d} | {rate:.3g} particle-steps/s "
        )
        sys.stderr.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.enabled:
            sys.stderr.write("\n")


# ---------------------------------------------------------------------------
# Dask
# ---------------------------------------------------------------------------
def check_dask(address: str) -> None:
    """Fail early (before anything is written) on a bad ``--dask`` value.

    Parameters
    ----------
    address : str
        ``"local"``, ``"local:N"`` or a scheduler address (see
        :func:`dask_client`).

    Raises
    ------
    ImportError
        dask.distributed is not installed.
    ValueError
        A malformed ``"local..."`` address.
    """
    if importlib.util.find_spec("distributed") is None:
        raise ImportError(
            "--dask needs dask.distributed; install it with "
            "pip install 'scorelab[dask]'"
        )
    if address.startswith("local"):
        _, sep, tail = address.partition(":")
        if address != "local" and (
            address[:6] != "local:" or not tail.isdigit() or int(tail) < 1
        ):
            raise ValueError(
                f"--dask: expected 'local', 'local:N' (N >= 1 workers) or a "
                f"scheduler address, got {address!r}"
            )


@contextlib.contextmanager
def dask_client(address: str) -> Iterator[Any]:
    """A ``distributed.Client``: ``"local"``/``"local:N"`` starts a LocalCluster.

    Parameters
    ----------
    address : str
        ``"local"`` (one single-threaded worker process per CPU), ``"local:N"``
        (N worker processes) or a scheduler address such as
        ``"tcp://host:8786"``.
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ImportError(
            "--dask needs dask.distributed; install it with "
            "pip install 'scorelab[dask]'"
        ) from None
    check_dask(address)
    if address == "local" or address.startswith("local:"):
        from .._runtime import default_threads

        _, _, tail = address.partition(":")
        n = int(tail) if tail else default_threads()
        import logging

        cluster = LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=logging.ERROR,
        )
        client = Client(cluster)
        try:
            yield client
        finally:
            client.close()
            cluster.close()
    else:
        client = Client(address)
        try:
            yield client
        finally:
            client.close()


def _dask_results(
    client: Any, tasks: Sequence[Task]
) -> Iterator[tuple[Task, list[dict[str, Any]]]]:
    from distributed import as_completed

    futures = {
        client.submit(run_task, t, key=f"scorelab-{t.id}", pure=False): t for t in tasks
    }
    try:
        for fut in as_completed(list(futures)):
            yield futures[fut], fut.result()
    finally:
        for fut in futures:
            fut.cancel()
