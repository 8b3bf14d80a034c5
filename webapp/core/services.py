"""Writes on jobs: starting one, running it inside a Celery task, reporting progress, cancelling."""
from __future__ import annotations

import logging
import os
import re
import signal
import socket
import threading
import time
import traceback
from collections.abc import Callable
from datetime import timedelta
from types import FrameType
from typing import Any

from celery import current_app, current_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from .exceptions import DomainError, InvalidTransition, QueueUnavailable
from .models import Job

logger = logging.getLogger(__name__)


# An absolute server path of two or more parts (/srv/media/x.jpg); an API address (/api/v1/...) is kept.
_SERVER_PATH = re.compile(
    r"(?P<api>(?<![\w.~-])/api/[^\s'\"`,;()]*)"
    r"|(?<![\w.~:/-])/(?:[^\s/'\"`,;:()\[\]{}<>]+/)+(?P<last>[^\s/'\"`,;:()\[\]{}<>]*)"
)


def text_without_paths(text: str) -> str:
    """``text`` with every absolute server path cut to its last part (``/srv/data/glint24`` →
    ``…/glint24``): what a job's short message and its params show to people who are not admins."""
    return _SERVER_PATH.sub(lambda match: match.group("api") or "…/" + match.group("last"), text)


def data_without_paths(value: Any) -> Any:
    """A JSON value (a job's params or result) with :func:`text_without_paths` applied to every string."""
    if isinstance(value, str):
        return text_without_paths(value)
    if isinstance(value, dict):
        return {key: data_without_paths(item) for key, item in value.items()}
    if isinstance(value, list):
        return [data_without_paths(item) for item in value]
    return value


def job_error_shown(*, job: Job, is_admin: bool) -> str:
    """What the API shows as a job's error: the whole record (traceback, paths) to admins; to
    anyone else only the short message, without server paths, and only when there was an error."""
    if is_admin:
        return job.error
    return text_without_paths(job.message) if job.error else ""


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


NOT_SENT_MESSAGE = "not sent to the task queue yet (broker unreachable); it is sent again automatically"


def job_start(*, kind: str, params: dict | None = None, user=None, queue: str | None = None) -> Job:
    """Create a job row and send its Celery task once the surrounding transaction commits.

    The row is the outbox: a job whose task the broker did not take stays ``queued`` with no
    ``celery_task_id`` and :func:`jobs_reap` sends it again. Views that answer with a started job
    call :func:`job_require_sent` after the transaction, to answer 503 in that case.
    """
    queue = queue or _queue_for(kind, settings.CELERY_TASK_ROUTES)
    job = Job.objects.create(
        kind=kind, queue=queue, params=params or {}, created_by=user if user and user.is_authenticated else None
    )
    transaction.on_commit(lambda: job_send(job=job))
    return job


def _queue_for(kind: str, routes: dict) -> str:
    from fnmatch import fnmatch

    for pattern, route in routes.items():
        if fnmatch(kind, pattern):
            return route["queue"]
    return "default"


def job_send(*, job: Job) -> bool:
    """Hand a job's task to the broker; True once the broker took it (``celery_task_id`` set).

    Never raises: when the broker is unreachable (after CELERY_TASK_PUBLISH_RETRY_POLICY's few
    quick retries) the job stays queued with no task id, which :func:`jobs_reap` re-sends and
    :func:`job_require_sent` reports; ``job.send_error`` says why.
    """
    try:
        result = current_app.send_task(job.kind, args=[job.pk], queue=job.queue)
    except Exception as exc:  # noqa: BLE001 - any broker failure: the row is the outbox, sent again later
        job.send_error = f"{type(exc).__name__}: {exc}"
        logger.warning("job %s (%s) not sent to the broker: %s", job.pk, job.kind, job.send_error)
        Job.objects.filter(pk=job.pk, state=Job.State.QUEUED, celery_task_id="").update(message=NOT_SENT_MESSAGE)
        job.message = NOT_SENT_MESSAGE
        return False
    job.send_error, job.celery_task_id = "", result.id or ""
    Job.objects.filter(pk=job.pk).update(celery_task_id=job.celery_task_id)
    return True


def job_require_sent(*jobs: Job | None, extra: dict | None = None) -> None:
    """Raise QueueUnavailable (503) if the broker did not take one of these jobs when it started.

    Call it after the transaction that started them committed (a view, after the service); inside
    a transaction the sending is still to come and nothing is checked. The work is saved: the job
    is queued and the reaper sends it again, so the client may simply wait, or retry (a re-upload
    re-queues the photos whose job never ran).
    """
    ids = [job.pk for job in jobs if job is not None]
    if not ids or connection.in_atomic_block:
        return
    refused = list(Job.objects.filter(pk__in=ids, state=Job.State.QUEUED, celery_task_id="")
                   .exclude(queue="here").values_list("pk", flat=True))
    if refused:
        raise QueueUnavailable(
            f"The task queue is unreachable: the work is saved (job {', '.join(map(str, refused))}, queued) and "
            "is sent again automatically once the queue is back. Retry later if it does not start.",
            extra={"retryable": True, "jobs": refused, **(extra or {})},
        )


def job_cancel(*, job: Job) -> Job:
    """Ask a queued or running job to stop; a queued job is cancelled at once."""
    if job.is_finished:
        raise InvalidTransition(f"Job {job.pk} already {job.state}; nothing to cancel.")
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job.pk)
        job.cancel_requested = True
        fields = ["cancel_requested"]
        if job.state == Job.State.QUEUED:
            job.state, job.finished_at, job.message = Job.State.CANCELLED, timezone.now(), "cancelled"
            fields += ["state", "finished_at", "message"]
        job.save(update_fields=fields)
    return job


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


def _last_sign_of_life(job: Job):
    return job.heartbeat_at or job.started_at


def _seems_alive(job: Job, lost_after_s: float) -> bool:
    beat = _last_sign_of_life(job)
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

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval + 10)

    def _beat(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                if self.hard_deadline is not None and time.monotonic() > self.hard_deadline:
                    # The job ignored its soft limit (stuck in native code, say): it is failed now and
                    # stops beating; whatever it does later is dropped (_finish checks the attempt).
                    _finish(self.job_id, Job.State.FAILED, attempt=self.attempt,
                            message="hard time limit exceeded: the job did not stop at its soft limit "
                                    "(setting FACECURATOR_JOB_TIME_LIMITS)")
                    logger.error("job %s passed its hard time limit; failed, its worker may be stuck", self.job_id)
                    return
                try:
                    Job.objects.filter(pk=self.job_id, state=Job.State.RUNNING, attempts=self.attempt).update(
                        heartbeat_at=timezone.now())
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
    logger.info("job %s is still running on %s (last heartbeat %s); checking again in %.0f s",
                job.pk, job.worker, _last_sign_of_life(job), lost_after_s)
    raise task.retry(countdown=max(1.0, lost_after_s), max_retries=None)


def job_execute(job_id: int, handler: JobHandler, *, max_attempts: int | None = None,
                lost_hint: str = "start it again") -> None:
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
            reason = (f"worker lost while running (attempt {job.attempts} of {limit}, on {job.worker or 'unknown'}); "
                      f"{lost_hint}")
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
            _finish(job.pk, Job.State.CANCELLED, message="cancelled", attempt=attempt)
        except (JobTimeLimitExceeded, SoftTimeLimitExceeded):
            reason = (f"time limit exceeded: stopped after {soft_s:.0f} s, the limit for {job.kind} "
                      "(setting FACECURATOR_JOB_TIME_LIMITS)")
            logger.warning("job %s (%s): %s", job_id, job.kind, reason)
            _finish(job.pk, Job.State.FAILED, message=reason, error=reason, attempt=attempt)
        except DomainError as exc:  # a refusal written for people: its message is the message
            _finish(job.pk, Job.State.FAILED, message=text_without_paths(exc.message)[:500], error=exc.message,
                    attempt=attempt)
        except Exception as exc:  # noqa: BLE001 - any failure must land on the row, not vanish
            # The traceback (server paths, code) is for admins and the logs; the message anyone reads.
            logger.exception("job %s (%s) failed", job_id, job.kind)
            _finish(
                job.pk,
                Job.State.FAILED,
                message=text_without_paths(f"{type(exc).__name__}: {exc}")[:500],
                error="".join(traceback.format_exception(exc))[-20000:],
                attempt=attempt,
            )
        else:
            _finish(job.pk, Job.State.SUCCEEDED, message="done", result=result, progress=1.0, attempt=attempt)


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
    def _expired(signum, frame) -> None:
        raise JobTimeLimitExceeded("soft time limit")

    def __exit__(self, *exc_info) -> None:
        if self._armed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._previous or signal.SIG_DFL)
            if self._outer:  # give the enclosing timer back what is left of it
                signal.setitimer(signal.ITIMER_REAL, max(0.001, self._outer - (time.monotonic() - self._started)))


def _finish(job_id: int, state: str, *, message: str, error: str = "", result=None, progress=None,
            attempt: int | None = None) -> bool:
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
    logger.warning("job %s: attempt %s ended (%s) after the job was finished or taken over; outcome dropped",
                   job_id, attempt, state)
    return False


def job_fail_lost(*, job: Job, reason: str) -> None:
    """Mark a job whose worker is gone for good as failed, with a message a person can act on."""
    _finish(job.pk, Job.State.FAILED, message=reason[:500], error=reason)


def jobs_fail_lost(*, kinds: list[str] | None = None, hint: str = "start it again") -> list[int]:
    """Fail the running jobs whose worker went silent (no heartbeat for FACECURATOR_JOB_LOST_AFTER_SECONDS).

    A worker that dies (killed, out of memory, host lost) leaves its job ``running``; the broker
    redelivers the task only after its visibility timeout (hours, so long jobs are never sent
    twice). Callers that need the truth now (starting or restarting a training run) call this
    first: such a job becomes ``failed`` with "worker lost while running" and ``hint``. Returns
    the ids failed. A late redelivery of a failed job is ignored.
    """
    limits = job_limits()
    now = timezone.now()
    cutoff = now - timedelta(seconds=limits["lost_after_s"])
    silent = Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
    rows = Job.objects.filter(silent, state=Job.State.RUNNING)
    if kinds:
        rows = rows.filter(kind__in=kinds)
    failed = []
    for job in rows.only("pk", "worker", "heartbeat_at", "started_at", "attempts"):
        silence = (now - _last_sign_of_life(job)).total_seconds()
        reason = (f"worker lost while running (no sign of life from {job.worker or 'its worker'} for {silence:.0f} s); "
                  f"{hint}")
        updated = Job.objects.filter(silent, pk=job.pk, state=Job.State.RUNNING, attempts=job.attempts).update(
            state=Job.State.FAILED, message=reason[:500], error=reason, finished_at=now)
        if updated:
            logger.warning("job %s: %s", job.pk, reason)
            failed.append(job.pk)
    return failed


def jobs_reap() -> dict[str, list[int]]:
    """The periodic check of jobs (task ``maintenance.reap_jobs``, run by Celery beat every
    FACECURATOR_REAPER_SECONDS): no job stays ``running`` or ``queued`` forever.

    - A running job whose worker went silent (no heartbeat for FACECURATOR_JOB_LOST_AFTER_SECONDS:
      killed, out of memory, host lost; or the filesystem broker, which deletes a message once
      fetched, so nothing is ever redelivered) is queued again and re-sent: the worker that takes
      it runs it again from the start, or fails it as lost once it used up the attempts of its
      kind (:func:`job_execute`; a training run has one, and says how to restart it). A cancel
      asked for meanwhile makes it ``cancelled``; a job run by a management command in its own
      process (queue ``here``) cannot be re-sent and fails as lost.
    - A queued job the broker never took (no task id after FACECURATOR_JOB_RESEND_AFTER_SECONDS:
      the broker was down when it started) is sent again: the row is the outbox.
    - A queued job whose message the broker lost (a Redis restarted without persistence forgets
      its queues) is sent again too, once it is that old: the broker is asked which messages it
      holds (Redis and the filesystem transport can say; with others this step is skipped).

    Returns the job ids by what was done: ``requeued``, ``failed``, ``cancelled``, ``resent``.
    """
    limits = job_limits()
    now = timezone.now()
    cutoff = now - timedelta(seconds=limits["lost_after_s"])
    silent = Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
    report: dict[str, list[int]] = {"requeued": [], "failed": [], "cancelled": [], "resent": []}
    to_send: list[Job] = []
    lost = Job.objects.filter(silent, state=Job.State.RUNNING).only(
        "pk", "kind", "queue", "worker", "heartbeat_at", "started_at", "attempts", "cancel_requested")
    for job in lost:
        silence = (now - _last_sign_of_life(job)).total_seconds()
        gone = f"no sign of life from {job.worker or 'its worker'} for {silence:.0f} s"
        same = Job.objects.filter(silent, pk=job.pk, state=Job.State.RUNNING, attempts=job.attempts)
        if job.cancel_requested:
            if same.update(state=Job.State.CANCELLED, message=f"cancelled ({gone})", finished_at=now):
                report["cancelled"].append(job.pk)
        elif job.queue == "here":
            reason = f"worker lost while running ({gone}; it ran in a command's own process); start it again"
            if same.update(state=Job.State.FAILED, message=reason[:500], error=reason, finished_at=now):
                report["failed"].append(job.pk)
        elif same.update(state=Job.State.QUEUED, celery_task_id="",
                         message=f"worker lost ({gone}); queued again (attempt {job.attempts} done)"[:500]):
            logger.warning("job %s (%s): %s; queued again", job.pk, job.kind, gone)
            report["requeued"].append(job.pk)
            to_send.append(job)
    resend_before = now - timedelta(seconds=float(settings.FACECURATOR_JOB_RESEND_AFTER_SECONDS))
    to_send += list(Job.objects.filter(state=Job.State.QUEUED, celery_task_id="", cancel_requested=False,
                                       created_at__lt=resend_before)
                    .exclude(queue="here").exclude(pk__in=report["requeued"]).only("pk", "kind", "queue"))
    for job in to_send:
        if job_send(job=job) and job.pk not in report["requeued"]:
            report["resent"].append(job.pk)
    report["resent"] += _jobs_resend_lost_by_broker(before=resend_before, skip=report["requeued"] + report["resent"])
    return report


LOST_BY_BROKER_MESSAGE = "its task was lost by the broker (restarted without saving its queues?); sent again"


def _jobs_resend_lost_by_broker(*, before, skip: list[int]) -> list[int]:
    """Send again the queued jobs whose message the broker no longer holds (:mod:`webapp.core.broker`).

    The jobs are read first, the broker second, and a job is re-sent only if it is still queued
    with the same task id after that: a message taken by a worker in between is either still
    held (delivered, not acknowledged: tasks acknowledge late) or its job is running or done. A
    message in flight at that very moment may be sent twice, which :func:`job_execute` makes
    harmless. With a transport that cannot be asked, nothing is re-sent.
    """
    from .broker import broker_task_ids

    waiting = list(Job.objects.filter(state=Job.State.QUEUED, cancel_requested=False, created_at__lt=before)
                   .exclude(celery_task_id="").exclude(queue="here").exclude(pk__in=skip)
                   .values_list("pk", "queue", "celery_task_id"))
    if not waiting:
        return []
    held = broker_task_ids(queues={queue for _, queue, _ in waiting})
    if held is None:
        return []
    resent = []
    for pk, _queue, task_id in waiting:
        if task_id in held:
            continue
        if not Job.objects.filter(pk=pk, state=Job.State.QUEUED, celery_task_id=task_id).update(
                celery_task_id="", message=LOST_BY_BROKER_MESSAGE):
            continue  # taken by a worker meanwhile
        job = Job.objects.only("pk", "kind", "queue").get(pk=pk)
        logger.warning("job %s (%s): task %s no longer in the broker; sent again", pk, job.kind, task_id)
        if job_send(job=job):
            resent.append(pk)
    return resent
