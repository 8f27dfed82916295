"""Where sweep tasks run: a concurrent.futures executor.

- default: a process pool over this machine's cores (``--workers N``);
- ``inline``: in this process, one task at a time (debugging, tiny runs);
- ``dask://HOST:PORT``: an existing Dask distributed cluster, through
  ``Client.get_executor()`` -- the same tasks and the same futures API, so the
  sweep code does not know which one it runs on. Dask is an optional extra
  (``pip install 'cockpit[dask]'``).
"""
from __future__ import annotations

import os
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Optional

from ..config import ConfigError


class InlineExecutor(Executor):
    """Runs each task when submitted, in this process."""

    def submit(self, fn: Callable, /, *args: Any, **kwargs: Any) -> Future:
        fut: Future = Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller through the future
            if isinstance(exc, KeyboardInterrupt):
                raise
            fut.set_exception(exc)
        return fut


@dataclass
class ExecutorHandle:
    executor: Executor
    description: str
    workers: int
    _close: Optional[Callable[[bool], None]] = None

    def close(self, cancel: bool = False) -> None:
        if self._close is not None:
            self._close(cancel)


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def make_executor(spec: Optional[str] = None, workers: Optional[int] = None, client: Any = None) -> ExecutorHandle:
    """An executor for ``--executor SPEC`` (None = local processes). ``client`` may
    be a ready dask.distributed Client (tests use a LocalCluster's)."""
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers {workers}: must be >= 1")
    if client is not None:
        n = sum(w.get("nthreads", 1) for w in client.scheduler_info().get("workers", {}).values()) or 1
        return ExecutorHandle(client.get_executor(), f"dask {client.scheduler.address}", n)
    if spec in (None, "", "process", "processes"):
        n = workers or default_workers()
        if n == 1:
            return ExecutorHandle(InlineExecutor(), "inline (1 worker)", 1)
        pool = ProcessPoolExecutor(max_workers=n)
        return ExecutorHandle(pool, f"{n} worker processes", n,
                              lambda cancel: pool.shutdown(wait=not cancel, cancel_futures=cancel))
    if spec == "inline":
        return ExecutorHandle(InlineExecutor(), "inline (1 worker)", 1)
    if spec.startswith("dask://") or spec.startswith("tcp://"):
        try:
            from distributed import Client
        except ImportError:
            raise ConfigError("--executor dask://... needs Dask distributed: pip install 'cockpit[dask]' "
                              "(or 'dask[distributed]')") from None
        address = "tcp://" + spec.split("://", 1)[1]
        try:
            cl = Client(address, timeout=10)
        except Exception as exc:  # noqa: BLE001 - any connection failure is a user-fixable problem
            raise ConfigError(f"--executor {spec}: cannot connect to the Dask scheduler: {exc}") from None
        n = sum(w.get("nthreads", 1) for w in cl.scheduler_info().get("workers", {}).values()) or 1
        return ExecutorHandle(cl.get_executor(), f"dask {address} ({n} threads)", n, lambda cancel: cl.close())
    raise ConfigError(f"--executor {spec!r}: allowed: process (default), inline, dask://HOST:PORT")
