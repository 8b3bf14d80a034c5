"""Running a job inside a Celery task: progress reports, cancellation, time limits, the worker's
heartbeat, attempts, and the job's final state."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import traceback
from collections.abc import Callable
from datetime import datetime
from types import FrameType
from typing import Any

from celery import current_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from ..exceptions import DomainError
from ..models import Job
from .shown import text_without_paths

logger = logging.getLogger(__name__)


class JobCancelled(Exception):
    """Raised inside a running job when an admin asked to cancel it."""


class JobTimeLimitExceeded(Exception):
    """Raised inside a running job that passed its soft time limit (:func:`job_time_limits`)."""


class Progress:
    """Reports a job's progress to its row, at most a few times a second, and notices cancels.

    Long work calls ``progress(fraction, message)`` often; the row is written only when a
    quarter second has passed or the fraction moved by a percent, so reporting stays cheap.
    """

    def __init__(self, job_id: int, *, min_interval: float = 0.25, deadline: float | None = None):
        self.job_id = job_id
        self.min_interval = min_interval
        self.deadline = deadline  # time.monotonic() past which the job stops (its soft time limit)
        self._last_write = 0.0
        self._last_fraction = -1.0

    def __call__(self, fraction: float, message: str = "") -> None:
        fraction = min(max(float(fraction), 0.0), 1.0)
        now = time.monotonic()
        if self.deadline is not None and now > self.deadline:
            raise JobTimeLimitExceeded("soft time limit")
        if now - self._last_write < self.min_interval and fraction - self._last_fraction < 0.01:
            return
        self._last_write, self._last_fraction = now, fraction
        Job.objects.filter(pk=self.job_id).update(progress=fraction, message=message[:500])
        self.raise_if_cancelled()

    def cancelled(self) -> bool:
        return Job.objects.filter(pk=self.job_id, cancel_requested=True).exists()

    def raise_if_cancelled(self) -> None:
        if self.cancelled():
            raise JobCancelled("cancelled by request")


JobHandler = Callable[[Job, Progress], dict[str, Any] | None]


def job_limits() -> dict[str, float]:
    """How jobs survive lost workers: attempts allowed, heartbeat period, silence before "lost".

    Settings (with these defaults): FACECURATOR_JOB_MAX_ATTEMPTS (3), FACECURATOR_JOB_HEARTBEAT_SECONDS
    (15), FACECURATOR_JOB_LOST_AFTER_SECONDS (120; several heartbeats, so a busy worker is never
    taken for dead).
    """
    return {
        "max_attempts": int(settings.FACECURATOR_JOB_MAX_ATTEMPTS),
        "heartbeat_s": float(settings.FACECURATOR_JOB_HEARTBEAT_SECONDS),
        "lost_after_s": float(settings.FACECURATOR_JOB_LOST_AFTER_SECONDS),
    }


def last_sign_of_life(job: Job) -> datetime | None:
    return job.heartbeat_at or job.started_at


def _seems_alive(job: Job, lost_after_s: float) -> bool:
    beat = last_sign_of_life(job)
    return beat is not None and (timezone.now() - beat).total_seconds() < lost_after_s


def _worker_name() -> str:
    request = getattr(current_task, "request", None)
    node = getattr(request, "hostname", None) or socket.gethostname()
    return f"{node} pid {os.getpid()}"[:200]


class _Heartbeat:
    """While a job runs, a daemon thread stamps ``Job.heartbeat_at`` every few seconds.

    Its silence is how a dead worker is told from a busy one (:func:`jobs_fail_lost`, and a
    redelivered task meeting a job still running elsewhere). It beats only for its own attempt
    and uses its own database connection; inside an atomic block (tests, ``--here`` within a
    transaction) the row is not visible to another connection, so no thread is started.
    """

    def __init__(self, job_id: int, attempt: int, interval: float, *, hard_limit_s: float = 0.0):
        self.job_id, self.attempt, self.interval = job_id, attempt, interval
        self.hard_deadline = time.monotonic() + hard_limit_s if hard_limit_s > 0 else None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> _Heartbeat:
        if self.interval > 0 and not connection.in_atomic_block:
            self._thread = threading.Thread(target=self._beat, name=f"job-{self.job_id}-heartbeat", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval + 10)

    def _beat(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                if self.hard_deadline is not None and time.monotonic() > self.hard_deadline:
                    # The job ignored its soft limit (stuck in native code, say): it is failed now and
                    # stops beating; whatever it does later is dropped (job_finish checks the attempt).
                    job_finish(
                        self.job_id,
                        Job.State.FAILED,
                        attempt=self.attempt,
                        message="hard time limit exceeded: the job did not stop at its soft limit "
                        "(setting FACECURATOR_JOB_TIME_LIMITS)",
                    )
                    logger.error("job %s passed its hard time limit; failed, its worker may be stuck", self.job_id)
                    return
                try:
                    Job.objects.filter(pk=self.job_id, state=Job.State.RUNNING, attempts=self.attempt).update(
                        heartbeat_at=timezone.now()
                    )
                except Exception:  # noqa: BLE001 - a missed beat is retried; the job itself goes on
                    logger.warning("job %s: heartbeat not recorded", self.job_id, exc_info=True)
        finally:
            connection.close()  # this thread's own connection


def _defer_while_alive(job: Job, lost_after_s: float) -> None:
    """A task redelivered while its job still runs elsewhere (broker visibility timeout shorter
    than the job): ask again once the other worker had time to show it died; never run twice."""
    task = current_task._get_current_object() if current_task else None
    request = getattr(task, "request", None)
    if request is None or request.called_directly or request.is_eager or not request.id:
        logger.warning("job %s is still running on %s; not started a second time", job.pk, job.worker)
        return
    assert task is not None  # it has a request
    logger.info(
        "job %s is still running on %s (last heartbeat %s); checking again in %.0f s",
        job.pk,
        job.worker,
        last_sign_of_life(job),
        lost_after_s,
    )
    raise task.retry(countdown=max(1.0, lost_after_s), max_retries=None)


def job_execute(
    job_id: int, handler: JobHandler, *, max_attempts: int | None = None, lost_hint: str = "start it again"
) -> None:
    """Run ``handler`` for a job inside a Celery task, storing state, result and error on the row.

    Safe to run twice: a job that already finished is left alone. A job found ``running`` was
    redelivered by the broker: if its worker still beats (:class:`_Heartbeat`) the task is
    deferred, never run twice at once; if the worker is silent the job is started again from the
    beginning (handlers are written to be idempotent, so a rerun leaves the same result), unless
    it already had ``max_attempts`` (FACECURATOR_JOB_MAX_ATTEMPTS): then it fails with "worker
    lost while running" and ``lost_hint`` (a job that kills its worker must not loop forever).
    """
    limits = job_limits()
    limit = max(1, int(max_attempts or limits["max_attempts"]))
    decision = "run"
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None:
            logger.warning("job %s no longer exists; task dropped", job_id)
            return
        if job.is_finished:
            logger.info("job %s already %s; redelivered task ignored", job_id, job.state)
            return
        if job.cancel_requested:
            job.state, job.finished_at = Job.State.CANCELLED, timezone.now()
            job.save(update_fields=["state", "finished_at"])
            return
        rerun = job.state == Job.State.RUNNING
        requeued = job.state == Job.State.QUEUED and job.attempts > 0  # by jobs_reap, its worker lost
        if rerun and _seems_alive(job, limits["lost_after_s"]):
            decision = "defer"
        elif (rerun or requeued) and job.attempts >= limit:
            decision = "lost"
            reason = (
                f"worker lost while running (attempt {job.attempts} of {limit}, on {job.worker or 'unknown'}); "
                f"{lost_hint}"
            )
            job.state, job.finished_at, job.message, job.error = Job.State.FAILED, timezone.now(), reason[:500], reason
            job.save(update_fields=["state", "finished_at", "message", "error"])
        else:
            job.state = Job.State.RUNNING
            job.attempts += 1
            job.started_at = job.heartbeat_at = timezone.now()
            job.worker = _worker_name()
            job.message = "restarted after a worker was lost" if rerun or requeued else "started"
            job.save(update_fields=["state", "attempts", "started_at", "heartbeat_at", "worker", "message"])
    if decision == "defer":
        _defer_while_alive(job, limits["lost_after_s"])
        return
    if decision == "lost":
        logger.warning("job %s (%s) failed: %s", job_id, job.kind, job.message)
        return

    attempt = job.attempts
    # A management command running a job in the operator's shell (queue "here") has no time limit.
    soft_s, hard_s = job_time_limits(kind=job.kind) if job.queue != "here" else (0.0, 0.0)
    progress = Progress(job.pk, deadline=time.monotonic() + soft_s if soft_s else None)
    with _Heartbeat(job.pk, attempt, limits["heartbeat_s"], hard_limit_s=hard_s), _SoftTimeLimit(soft_s):
        try:
            result = handler(job, progress) or {}
        except JobCancelled:
            job_finish(job.pk, Job.State.CANCELLED, message="cancelled", attempt=attempt)
        except (JobTimeLimitExceeded, SoftTimeLimitExceeded):
            reason = (
                f"time limit exceeded: stopped after {soft_s:.0f} s, the limit for {job.kind} "
                "(setting FACECURATOR_JOB_TIME_LIMITS)"
            )
            logger.warning("job %s (%s): %s", job_id, job.kind, reason)
            job_finish(job.pk, Job.State.FAILED, message=reason, error=reason, attempt=attempt)
        except DomainError as exc:  # a refusal written for people: its message is the message
            job_finish(
                job.pk,
                Job.State.FAILED,
                message=text_without_paths(exc.message)[:500],
                error=exc.message,
                attempt=attempt,
            )
        except Exception as exc:  # noqa: BLE001 - any failure must land on the row, not vanish
            # The traceback (server paths, code) is for admins and the logs; the message anyone reads.
            logger.exception("job %s (%s) failed", job_id, job.kind)
            job_finish(
                job.pk,
                Job.State.FAILED,
                message=text_without_paths(f"{type(exc).__name__}: {exc}")[:500],
                error="".join(traceback.format_exception(exc))[-20000:],
                attempt=attempt,
            )
        else:
            job_finish(job.pk, Job.State.SUCCEEDED, message="done", result=result, progress=1.0, attempt=attempt)


def job_time_limits(*, kind: str) -> tuple[float, float]:
    """Soft and hard time limits, in seconds, of a job kind (0: none).

    FACECURATOR_JOB_TIME_LIMITS maps task-name patterns to the soft limit, first match wins
    (default: training 12 h, tagging 4 h, anything else 2 h). At the soft limit the job fails
    with "time limit exceeded"; FACECURATOR_JOB_TIME_LIMIT_GRACE_SECONDS later (the hard limit) a
    job that did not stop is failed by its heartbeat thread, and a prefork worker child is killed
    by Celery shortly after (``webapp.celery.JobTimeLimits``).
    """
    from fnmatch import fnmatch

    for pattern, seconds in settings.FACECURATOR_JOB_TIME_LIMITS.items():
        if fnmatch(kind, pattern):
            soft = float(seconds)
            return (soft, soft + float(settings.FACECURATOR_JOB_TIME_LIMIT_GRACE_SECONDS)) if soft > 0 else (0.0, 0.0)
    return 0.0, 0.0


class _SoftTimeLimit:
    """Raises JobTimeLimitExceeded in the running job when its soft limit passes.

    In a process's main thread (Celery's solo and prefork pools, a management command) a SIGALRM
    timer interrupts even a job that never reports progress; in any other thread (threads pool)
    :class:`Progress` checks the deadline at each report instead.
    """

    def __init__(self, seconds: float):
        self.seconds = seconds
        self._armed = False
        self._previous: Callable[[int, FrameType | None], Any] | int | None = None  # SIGALRM's handler before
        self._outer = self._started = 0.0

    def __enter__(self) -> _SoftTimeLimit:
        if self.seconds > 0 and hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread():
            self._outer = signal.getitimer(signal.ITIMER_REAL)[0]  # a timer already running (a job in a job)
            self._started = time.monotonic()
            self._previous = signal.signal(signal.SIGALRM, self._expired)
            signal.setitimer(signal.ITIMER_REAL, min(self.seconds, self._outer) if self._outer else self.seconds)
            self._armed = True
        return self

    @staticmethod
    def _expired(signum: int, frame: FrameType | None) -> None:
        raise JobTimeLimitExceeded("soft time limit")

    def __exit__(self, *exc_info: object) -> None:
        if self._armed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._previous or signal.SIG_DFL)
            if self._outer:  # give the enclosing timer back what is left of it
                signal.setitimer(signal.ITIMER_REAL, max(0.001, self._outer - (time.monotonic() - self._started)))


def job_finish(
    job_id: int,
    state: str,
    *,
    message: str,
    error: str = "",
    result: dict[str, Any] | None = None,
    progress: float | None = None,
    attempt: int | None = None,
) -> bool:
    """Record how a running job ended. Only the attempt that runs it may: an attempt whose job was
    meanwhile declared lost (and perhaps started again) leaves the row as it is."""
    fields: dict[str, Any] = {"state": state, "message": message, "error": error, "finished_at": timezone.now()}
    if result is not None:
        fields["result"] = result
    if progress is not None:
        fields["progress"] = progress
    rows = Job.objects.filter(pk=job_id).exclude(state__in=Job.FINISHED_STATES)
    if attempt is not None:
        rows = rows.filter(attempts=attempt)
    if rows.update(**fields):
        return True
    logger.warning(
        "job %s: attempt %s ended (%s) after the job was finished or taken over; outcome dropped",
        job_id,
        attempt,
        state,
    )
    return False
