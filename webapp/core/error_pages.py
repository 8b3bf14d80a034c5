"""Django's last-resort error answers (``handler400``, ``handler404``, ``handler500``): JSON under /api/,
HTML elsewhere.

DRF's exception handler (exceptions.py) answers everything a view raises on purpose; these cover what is
left: requests Django refuses before a view runs (400: too many fields, a disallowed host), URLs no route
matches (404) and unexpected exceptions (500, with DEBUG off). An API client always
gets ``{"detail": ...}``, never an HTML page or a traceback; the traceback goes to the log only
(django.request logs it before calling ``handler500``).
"""

from __future__ import annotations

from django.http import JsonResponse
from django.views import defaults

API_PREFIX = "/api/"


def _is_api(request) -> bool:
    return request.path.startswith(API_PREFIX)


def bad_request(request, exception=None):
    if _is_api(request):
        return JsonResponse(
            {
                "detail": "Bad request: the request is malformed or too large (e.g. too many fields).",
                "code": "bad_request",
            },
            status=400,
        )
    return defaults.bad_request(request, exception)


def not_found(request, exception=None):
    if _is_api(request):
        return JsonResponse({"detail": "Not found: no such endpoint or object."}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    if _is_api(request):
        return JsonResponse(
            {
                "detail": "Internal server error: the request could not be completed; it is logged.",
                "code": "server_error",
            },
            status=500,
        )
    return defaults.server_error(request)
