"""Running an ingestion handler in this process (management commands), recorded on a Job row
like a worker run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from webapp.core.models import Job
from webapp.core.roles import Actor, recorded_user
from webapp.core.services import Progress


def job_run_here(
    *, kind: str, params: dict, handler: Callable, user: Actor = None, echo: Callable[[str], None] | None = None
) -> Job:
    """Run an ingestion handler in this process, recorded on a Job row exactly like a worker run.

    Management commands use this so an import from the shell shows in the jobs list with its
    progress and per-file result, without needing a worker. ``echo`` also prints the progress.
    """
    from webapp.core.services import job_execute

    job = Job.objects.create(
        kind=kind,
        queue="here",
        params=params,
        created_by=recorded_user(user),
    )

    def run(job_row: Job, progress: Progress) -> dict[str, Any] | None:
        if echo is None:
            return handler(job_row, progress)
        last = {"message": ""}

        def both(fraction: float, message: str = "") -> None:
            progress(fraction, message)
            if message and message != last["message"] and (fraction >= 0.99 or _every_tenth(fraction, last)):
                echo(f"  {fraction:5.0%}  {message}")
            last["message"] = message

        return handler(job_row, both)

    job_execute(job.pk, run)
    job.refresh_from_db()
    return job


def _every_tenth(fraction: float, last: dict) -> bool:
    step = int(fraction * 10)
    if step != last.get("step"):
        last["step"] = step
        return True
    return False
