"""Domain errors and the one API exception handler that turns them into clear 4xx answers.

It also turns a lost database connection (PostgreSQL restarting, a network blip) into a 503 that says
the request may be retried, instead of a 500: the request's transaction was not committed.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler, set_rollback

logger = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 2


class DomainError(Exception):
    """A request that the domain refuses; ``status_code`` says how the API answers."""

    status_code: int = status.HTTP_400_BAD_REQUEST
    code = "invalid"

    def __init__(self, message: str, *, extra: dict | None = None):
        super().__init__(message)
        self.message = message
        self.extra = extra or {}


class NotFound(DomainError):
    status_code = status.HTTP_404_NOT_FOUND
    code = "not_found"


class Conflict(DomainError):
    """The state changed since the client saw it, or the operation clashes with another one."""

    status_code = status.HTTP_409_CONFLICT
    code = "conflict"


class InvalidTransition(DomainError):
    status_code = status.HTTP_400_BAD_REQUEST
    code = "invalid_transition"


class PayloadTooLarge(DomainError):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    code = "too_large"


class QueueUnavailable(DomainError):
    """The task queue (broker) did not take a job: the work is saved and is sent again automatically."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    code = "queue_unavailable"


def api_exception_handler(exc, context):
    if isinstance(exc, DomainError):
        body = {"detail": exc.message, "code": exc.code, **exc.extra}
        response = Response(body, status=exc.status_code)
        if isinstance(exc, QueueUnavailable):
            response["Retry-After"] = "30"
        return response
    if isinstance(exc, DjangoValidationError):
        detail: dict[str, Any] = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        if "detail" not in detail:
            detail = {"detail": "Invalid input.", "errors": detail}
        return Response(detail, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, (OperationalError, InterfaceError)):
        logger.warning("Database unavailable during %s: %s", context.get("request") and context["request"].path, exc)
        set_rollback()
        return Response(
            {
                "detail": "The database is unavailable for a moment; the request did not complete. Retry it.",
                "code": "unavailable",
                "retryable": True,
            },
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    handled = exception_handler(exc, context)
    if handled is not None and isinstance(exc, Http404):
        handled.data = {"detail": "Not found: no such object, or you may not see it."}
    return handled
