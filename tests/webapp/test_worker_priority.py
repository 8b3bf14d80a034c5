"""Celery workers give way to the web server on a shared host: a lower CPU priority and a cap on the threads
of the numerical libraries they load (webapp.core.workers)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from webapp.core.workers import default_worker_threads, host_cores, worker_cpu_yield

from .conftest import REPO_ROOT

YIELD_THEN_REPORT = """
import json, os, threading
import numpy  # a BLAS already loaded when the worker starts
from threadpoolctl import threadpool_info
from webapp.core.workers import worker_cpu_yield
started, stop = threading.Thread(target=lambda: stop.wait()), threading.Event()  # a thread of the worker's
started.start()
worker_cpu_yield(niceness={niceness}, threads={threads}, idle_class={idle_class})
worker_cpu_yield(niceness=3, threads={threads})  # asked again (a prefork child): never raised back
import torch  # loaded afterwards: reads the environment
later = threading.Thread(target=lambda: stop.wait())  # a thread the worker starts afterwards
later.start()
threads = [int(tid) for tid in os.listdir("/proc/self/task")]
print(json.dumps({{
    "nice": sorted({{os.getpriority(os.PRIO_PROCESS, tid) for tid in threads}}),
    "idle_class": sorted({{os.sched_getscheduler(tid) == os.SCHED_IDLE for tid in threads}}),
    "blas": sorted({{pool["num_threads"] for pool in threadpool_info()}}),
    "torch": torch.get_num_threads(),
}}))
stop.set()
"""


def run_in_a_process_of_its_own(niceness: int, threads: int, idle_class: bool = False) -> dict:
    """A process's priority cannot be raised again: each case runs in a Python of its own."""
    code = YIELD_THEN_REPORT.format(niceness=niceness, threads=threads, idle_class=idle_class)
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_worker_process_lowers_its_priority_and_caps_its_library_threads():
    ours = os.getpriority(os.PRIO_PROCESS, 0)

    seen = run_in_a_process_of_its_own(niceness=10, threads=1)

    assert seen["nice"] == [max(10, ours)]  # every thread, those started before included
    assert seen["blas"] == [1] and seen["torch"] == 1


def test_a_worker_in_the_idle_class_runs_every_thread_there_those_started_later_included():
    seen = run_in_a_process_of_its_own(niceness=10, threads=1, idle_class=True)

    assert seen["idle_class"] == [True]


def test_without_the_idle_class_a_worker_keeps_the_normal_one():
    seen = run_in_a_process_of_its_own(niceness=10, threads=1, idle_class=False)

    assert seen["idle_class"] == [False]


def test_a_host_that_forbids_the_idle_class_gets_a_warning_not_a_worker_that_fails_to_start(monkeypatch, caplog):
    def forbidden(*args: object) -> None:
        raise PermissionError(1, "Operation not permitted")  # what a strict seccomp profile answers

    monkeypatch.setattr(os, "sched_setscheduler", forbidden)

    worker_cpu_yield(niceness=0, threads=0, idle_class=True)

    assert "the idle class refused" in caplog.text


def test_by_default_a_worker_leaves_one_core_to_the_web_server():
    assert default_worker_threads() == max(1, host_cores() - 1)


@pytest.mark.slow
def test_a_real_worker_runs_below_the_web_servers_priority(celery_worker_process, settings):
    threads = os.listdir(f"/proc/{celery_worker_process.pid}/task")

    assert settings.FACECURATOR_WORKER_NICENESS == 10
    assert {os.getpriority(os.PRIO_PROCESS, int(tid)) for tid in threads} == {
        max(10, os.getpriority(os.PRIO_PROCESS, 0))
    }
    assert settings.FACECURATOR_WORKER_IDLE_CLASS
    assert {os.sched_getscheduler(int(tid)) for tid in threads} == {os.SCHED_IDLE}
