"""Writes on jobs: starting one, running it inside a Celery task, reporting progress, cancelling.

One module per concern: ``sending`` (start, send, cancel), ``running`` (a job inside its task),
``reaping`` (jobs whose worker or message was lost) and ``shown`` (what non-admins see of a job).
The public names are imported here, so callers write ``core.services.<name>``.
"""

from .reaping import LOST_BY_BROKER_MESSAGE, job_fail_lost, jobs_fail_lost, jobs_reap
from .running import JobCancelled, JobHandler, JobTimeLimitExceeded, Progress, job_execute, job_limits, job_time_limits
from .sending import NOT_SENT_MESSAGE, job_cancel, job_require_sent, job_send, job_start
from .shown import data_without_paths, job_error_shown, text_without_paths

__all__ = [
    "NOT_SENT_MESSAGE",
    "job_start",
    "job_send",
    "job_require_sent",
    "job_cancel",
    "JobCancelled",
    "JobTimeLimitExceeded",
    "Progress",
    "JobHandler",
    "job_limits",
    "job_execute",
    "job_time_limits",
    "job_fail_lost",
    "jobs_fail_lost",
    "jobs_reap",
    "LOST_BY_BROKER_MESSAGE",
    "text_without_paths",
    "data_without_paths",
    "job_error_shown",
]
