"""Celery workers give way to the web server: lower CPU priority and capped library threads.

On a host the web server shares with workers (``docker-compose.yml`` on one machine, ``make demo``,
the README's PostgreSQL and Redis recipe), a training run or an import would otherwise take every core
an annotator's request wants: a page of decisions is ~30 ms of CPU, and its p95 latency more than
doubled while a training run trained beside it (``bench/results/api_soak_15m.md``). So each worker process, as it
starts (``webapp/celery.py``), lowers its own priority to ``FACECURATOR_WORKER_NICENESS``, moves to
the ``SCHED_IDLE`` class (``FACECURATOR_WORKER_IDLE_CLASS``: the kernel then hands the core to a waking
web or database thread at once) and caps the threads of the numerical libraries it
loads (torch, BLAS, OpenMP, so faiss too) at ``FACECURATOR_WORKER_THREADS``, one core fewer than the
host has by default. Background work still gets every idle cycle; it only waits while a request runs.

Niceness orders processes within one control group. Containers are control groups of their own, so
``docker-compose.yml`` gives the workers a lower ``cpu_shares`` as well.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable

logger = logging.getLogger(__name__)

#: The environment variables numerical libraries read their thread count from when they load.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def host_cores() -> int:
    """The cores this process may run on (its affinity, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_worker_threads() -> int:
    """Every core but one, left to the web server; at least one."""
    return max(1, host_cores() - 1)


def _threads_of_this_process() -> list[int]:
    """Thread ids (Linux: niceness belongs to each thread, and a new thread takes its creator's), else
    just this process."""
    try:
        return [int(tid) for tid in os.listdir("/proc/self/task")]
    except OSError:
        return [0]


def _lower_niceness(tid: int, niceness: int) -> None:
    if os.getpriority(os.PRIO_PROCESS, tid) < niceness:
        os.setpriority(os.PRIO_PROCESS, tid, niceness)


def _to_idle_class(tid: int) -> None:
    os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))


def worker_cpu_yield(*, niceness: int, threads: int, idle_class: bool = False) -> None:
    """Lower this process's CPU priority to ``niceness`` (0: leave it; never raised: a process cannot
    take back priority it gave up), its threads started so far included, and cap the libraries' threads
    at ``threads`` (0: leave them): libraries loaded later read the environment, those loaded already
    are told (threadpoolctl, torch).

    ``idle_class`` (Linux) also moves every thread to the ``SCHED_IDLE`` scheduling class: a waking web
    or database thread then takes the core at once. Niceness alone only weighs the shares: under
    the EEVDF scheduler (Linux 6.6 and later) a niced worker keeps the core until its slice ends, and a
    request that waits on the database some 30 times pays that wait at each wake-up. Threads started
    later inherit the class.

    Where the host forbids either call (a strict seccomp profile answers EPERM), the worker says so
    in its log and runs on at the priority it has: a worker that does not start helps no one.
    """
    wanted: dict[str, Callable[[int], None]] = {}
    if niceness > 0:
        wanted["niceness"] = lambda tid: _lower_niceness(tid, niceness)
    if idle_class and hasattr(os, "SCHED_IDLE"):
        wanted["the idle class"] = _to_idle_class
    refused: set[str] = set()
    for tid in _threads_of_this_process():
        for what, step in wanted.items():
            if what in refused:
                continue
            try:
                step(tid)
            except ProcessLookupError:  # a thread that ended meanwhile
                pass
            except PermissionError:
                refused.add(what)
    if refused:
        logger.warning(
            "This host does not let the worker yield its CPU (%s refused, e.g. by a seccomp profile): it runs "
            "without it, and requests may wait behind its work.",
            " and ".join(sorted(refused)),
        )
    if threads > 0:
        for name in THREAD_VARIABLES:
            os.environ[name] = str(threads)
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=threads)
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(threads)
