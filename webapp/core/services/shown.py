"""What a job shows to people who are not admins: its messages, params and error with every
absolute server path cut to its last part."""

from __future__ import annotations

import re
from typing import Any

from ..models import Job

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
