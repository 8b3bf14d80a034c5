"""What the import commands share: printing a job's per-file result the same way."""

from __future__ import annotations

from webapp.core.models import Job


def report(command, job: Job, *, max_errors: int = 20) -> None:
    result = job.result or {}
    style = command.style.SUCCESS if job.state == Job.State.SUCCEEDED else command.style.ERROR
    counts = ", ".join(
        f"{key} {result[key]}"
        for key in ("files", "imported", "duplicate", "error", "faces_created", "frames", "identities_created")
        if key in result
    )
    command.stdout.write(style(f"job {job.pk} {job.state}: {counts or job.message}"))
    for error in (result.get("errors") or [])[:max_errors]:
        command.stdout.write(f"  ! {error.get('error') or error}")
    extra = len(result.get("errors") or []) - max_errors
    if extra > 0:
        command.stdout.write(f"  ... and {extra} more errors (see job {job.pk})")
    if job.state == Job.State.FAILED:
        command.stderr.write(job.message)
