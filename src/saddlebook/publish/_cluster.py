"""Where chapters execute: a Dask client, on a running cluster named by its
scheduler's address, or on a local cluster of worker processes.

A local worker is a process with one thread, so it executes one chapter at a
time; the chapter's kernel is a process of its own, whose environment is
handed to its launch (:func:`saddlebook.publish.execute.kernel_env`), never
set in the worker. Like any spawned process pool, the local cluster needs a
script that calls it to guard its top level with ``if __name__ == "__main__":``
(``python -m saddlebook`` and notebooks need nothing). Workers of a remote
cluster must see this checkout at the same path (a shared file system), since
a chapter is executed from its source in place.
"""
from __future__ import annotations

import asyncio
import contextvars
import logging
import os
from contextlib import contextmanager

from ..errors import ParameterError

SCHEDULER_TIMEOUT = "20s"  # how long to wait for a scheduler's answer


def worker_env() -> dict:
    """The malloc settings of the book's kernels for local worker processes: this process's where it sets
    them, else :data:`saddlebook.publish.execute.MALLOC_ENV`.

    Dask's nanny sets ``MALLOC_TRIM_THRESHOLD_=65536`` in every worker it spawns
    (``distributed.nanny.pre-spawn-environ``); the kernels a worker starts would
    inherit it instead of the thresholds that :func:`~saddlebook.publish.execute.kernel_env`
    promises them (it keeps what the parent process sets).
    """
    from .execute import MALLOC_ENV

    return {k: os.environ.get(k, v) for k, v in MALLOC_ENV.items()}


@contextmanager
def dask_client(scheduler: str | None = None, workers: int | None = None):
    """A ``dask.distributed.Client``: connected to ``scheduler`` (``workers`` unused), or to a local cluster
    of ``workers`` single-threaded worker processes (default: the number of cores); closed on exit.

    Raises
    ------
    ParameterError
        ``workers`` < 1, or no scheduler answers at ``scheduler``.
    """
    from dask.distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=SCHEDULER_TIMEOUT)
        except (OSError, TimeoutError, ValueError) as err:
            raise ParameterError(f"parameter 'scheduler' = {scheduler!r}: no Dask scheduler answered there "
                                 f"({type(err).__name__}: {err})") from None
        with client:
            yield client
        return
    if workers is not None and workers < 1:
        raise ParameterError(f"parameter 'jobs' = {workers!r} must be a positive integer")
    n = workers or os.cpu_count() or 1
    # Processes, not threads: Python 3.11's compiler is not safe to run in two threads at once (ast.parse
    # failed with "AST constructor recursion depth mismatch" here). No dashboard (it wants bokeh and a port),
    # no memory limit (a worker's kernel is a child the nanny does not count), quiet logs.
    with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                      memory_limit=0, silence_logs=logging.ERROR, env=worker_env()) as cluster, \
            Client(cluster) as client:
        yield client


def worker_count(client) -> int:
    """Total worker threads of a client's cluster (at least 1)."""
    return max(1, sum(client.nthreads().values()))


def isolated(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` in an empty context with its own asyncio event loop, closed afterwards.

    papermill drives its kernel with ``run_until_complete`` on the loop that jupyter_core keeps in a
    context variable; a Dask worker thread inherits the context of the worker's own loop, which is
    already running.
    """
    def run():
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            return fn(*args, **kwargs)
        finally:
            asyncio.set_event_loop(None)
            loop.close()

    return contextvars.Context().run(run)
