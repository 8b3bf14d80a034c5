"""Helpers shared by management commands."""

from __future__ import annotations

import time
from collections.abc import Callable

from .models import Job


def job_follow(*, job_id: int, write: Callable[[str], None], poll_seconds: float = 1.0) -> Job:
    """Print a job's progress lines as they change until it finishes (`--wait` in commands)."""
    last = None
    while True:
        job = Job.objects.get(pk=job_id)
        line = f"  {job.progress:5.0%}  {job.message}"
        if line != last:
            write(line)
            last = line
        if job.is_finished:
            return job
        time.sleep(poll_seconds)
