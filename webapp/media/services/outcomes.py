"""What becomes of each file of an upload or import: per-file errors, outcomes, the job
summary, and when a duplicate upload whose job never ran is accepted again."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from webapp.core.exceptions import DomainError
from webapp.core.models import Job

from ..models import Photo, ProcessingStatus, Video

logger = logging.getLogger(__name__)


Progress = Callable[[float, str], None]


class IngestError(DomainError):
    """One file that cannot be ingested. ``code`` says why; the rest of a batch goes on."""

    def __init__(self, message: str, *, code: str = "invalid", extra: dict | None = None):
        super().__init__(message, extra=extra)
        self.code = code


class TooManyFiles(DomainError):
    """An upload request with more files than one request may carry (400)."""

    code = "too_many_files"


@dataclass
class FileOutcome:
    """What happened to one file of a batch: ``accepted``, ``imported``, ``duplicate`` or ``error``."""

    name: str
    status: str
    code: str = ""
    error: str = ""
    photo: int | None = None
    video: int | None = None
    face: int | None = None
    faces: int = 0

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "status": self.status}
        for key in ("code", "error", "photo", "video", "face"):
            if getattr(self, key) not in ("", None):
                data[key] = getattr(self, key)
        if self.status == "imported" or self.faces:
            data["faces"] = self.faces
        return data

    @classmethod
    def failed(cls, name: str, exc: IngestError) -> FileOutcome:
        return cls(
            name=name,
            status="error",
            code=exc.code,
            error=exc.message,
            photo=exc.extra.get("photo"),
            video=exc.extra.get("video"),
            face=exc.extra.get("face"),
        )


def outcomes_summary(outcomes: list[FileOutcome], **extra: Any) -> dict[str, Any]:
    """A job result: counts by status, faces created, every per-file error (up to 1,000) and the
    first 500 other outcomes."""
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    errors = [o.as_dict() for o in outcomes if o.status == "error"]
    others = [o.as_dict() for o in outcomes if o.status != "error"]
    return {
        "files": len(outcomes),
        **{status: counts.get(status, 0) for status in ("imported", "duplicate", "error")},
        "faces_created": sum(o.faces for o in outcomes),
        **extra,
        "errors": errors[:1000],
        "outcomes": others[:500],
        **({"truncated": True} if len(errors) > 1000 or len(others) > 500 else {}),
    }


@dataclass
class UploadResult:
    outcomes: list[FileOutcome]
    job: Job | None = None
    jobs: list[Job] = field(default_factory=list)  # every job started or sent again (``job`` is the first)

    @property
    def accepted(self) -> int:
        return sum(o.status == "accepted" for o in self.outcomes)

    def as_dict(self) -> dict[str, Any]:
        return {
            "job": self.job.pk if self.job else None,
            "accepted": self.accepted,
            "duplicates": sum(o.status == "duplicate" for o in self.outcomes),
            "errors": sum(o.status == "error" for o in self.outcomes),
            "files": [o.as_dict() for o in self.outcomes],
        }


def upload_stranded_job(row: Photo | Video | None) -> tuple[bool, Job | None]:
    """Whether a stored photo or video still waits for a job that will never run, and that job.

    Pending with a job that ended (failed, cancelled) before processing it, or with no job for
    longer than FACECURATOR_JOB_RESEND_AFTER_SECONDS (a fresh row gets its job in a moment): it
    needs a new job. Pending with a job the broker never took (queued, no task id): that job is
    sent again (sending a job twice is harmless). Anything else (processed, or a job that is
    queued or running) is a duplicate.
    """
    from datetime import timedelta

    from django.utils import timezone

    if row is None or row.status != ProcessingStatus.PENDING:
        return False, None
    job = row.job
    settled = row.created_at < timezone.now() - timedelta(seconds=float(settings.FACECURATOR_JOB_RESEND_AFTER_SECONDS))
    if (job is None and settled) or (job is not None and job.is_finished):
        return True, None
    if job is None:
        return False, None
    if job.state == Job.State.QUEUED and not job.celery_task_id and job.queue != "here":
        return True, job
    return False, None


def upload_refused(name: str, exc: Exception) -> FileOutcome:
    """A file whose storing failed unexpectedly: a per-file error (logged), and the batch goes on."""
    logger.exception("upload of %r failed", name)
    return FileOutcome(
        name=name,
        status="error",
        code="internal",
        error=f"{name}: could not be stored ({type(exc).__name__}, logged on the server).",
    )
