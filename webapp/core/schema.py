"""What the OpenAPI schema says about errors every operation may answer (a drf-spectacular hook).

drf-spectacular documents the success answers each view declares; the error answers come from shared
code (permissions, the paginator and parameter checks, the one exception handler, error_pages), so
they are documented here, once, for every operation: 400 bad input, 401/403 not logged in or not
allowed, 404 no such object, 429 throttled, 503 the database is unreachable (retry); 409 on writes,
413 on uploads.
Codes a view documents itself are left as it wrote them: an operation that starts a job documents its
own 503 with :data:`QUEUE_UNAVAILABLE` (the broker did not take the job: the work is saved and sent again).
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

ERROR_COMPONENT = "Error"
ERROR_SCHEMA = {
    "type": "object",
    "description": "An error: `detail` says what went wrong; validation errors name the fields instead "
    "(`{field: [messages]}`), and some answers add `code`, `errors`, `retryable` and context.",
    "properties": {
        "detail": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        "code": {"type": "string"},
        "retryable": {"type": "boolean", "description": "true: the same request may succeed if sent again later."},
    },
    "additionalProperties": True,
}
EVERY_OPERATION = {
    "400": "Bad input: a parameter or field is invalid (named in the answer).",
    "401": "Not authenticated.",
    "403": "Not logged in, or your role may not do this.",
    "404": "No such object (or you may not see it).",
    "429": "Too many requests: slow down and retry later.",
    "503": "A service the app needs (the database) is unreachable: retry later.",
}
WRITES = {"409": "Conflict: the state changed since you read it, or clashes with another operation."}
UPLOADS = {"413": "Too large: every file is above the upload limit (the answer lists each file's outcome)."}
WRITE_METHODS = {"post", "put", "patch", "delete"}


def _component_name(code: str) -> str:
    return f"Error{code}"


def document_error_responses(result, generator, request, public):
    """Postprocessing hook: add the shared error answers to every operation (as references)."""
    components = result.setdefault("components", {})
    components.setdefault("schemas", {})[ERROR_COMPONENT] = ERROR_SCHEMA
    reference = {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}
    responses = components.setdefault("responses", {})
    for code, description in {**EVERY_OPERATION, **WRITES, **UPLOADS}.items():
        responses[_component_name(code)] = {
            "description": description,
            "content": {"application/json": {"schema": reference}},
        }
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            uploads = "multipart/form-data" in operation.get("requestBody", {}).get("content", {})
            codes = [*EVERY_OPERATION, *(WRITES if method in WRITE_METHODS else {}), *(UPLOADS if uploads else {})]
            for code in codes:
                operation["responses"].setdefault(code, {"$ref": f"#/components/responses/{_component_name(code)}"})
    return result


class QueueUnavailableSerializer(serializers.Serializer):
    """The 503 of an operation that starts a job, when the task queue (broker) did not take it."""

    detail = serializers.CharField()
    code = serializers.CharField(
        help_text="`queue_unavailable`: the broker did not take the job; `unavailable`: the database is unreachable."
    )
    retryable = serializers.BooleanField(help_text="Always true: the same request may succeed later.")
    jobs = serializers.ListField(
        child=serializers.IntegerField(),
        required=False,
        help_text="The jobs saved as queued: the reaper sends them again once the "
        "queue is back (poll /api/v1/jobs/{id}/).",
    )


QUEUE_UNAVAILABLE_TEXT = (
    "The task queue (broker) is unreachable: the work is saved, its job stays queued (`jobs`) and is sent "
    "again automatically within a minute of the queue's return, so waiting is enough; sending the request "
    "again is safe too. Or the database is unreachable. `retryable` is true; `Retry-After` says when to retry."
)
QUEUE_UNAVAILABLE = OpenApiResponse(QueueUnavailableSerializer, description=QUEUE_UNAVAILABLE_TEXT)
