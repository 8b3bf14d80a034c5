"""Domain errors and the one API exception handler that turns them into clear 4xx answers."""
from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler


class DomainError(Exception):
    """A request that the domain refuses; ``status_code`` says how the API answers."""

    status_code = status.HTTP_400_BAD_REQUEST
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
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        if "detail" not in detail:
            detail = {"detail": "Invalid input.", "errors": detail}
        return Response(detail, status=status.HTTP_400_BAD_REQUEST)
    response = exception_handler(exc, context)
    if response is not None and isinstance(exc, Http404):
        response.data = {"detail": "Not found: no such object, or you may not see it."}
    return response
