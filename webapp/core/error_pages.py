"""Django's last-resort error answers (``handler404``, ``handler500``): JSON under /api/, HTML elsewhere.

DRF's exception handler (exceptions.py) answers everything a view raises on purpose; these cover what is
left: URLs no route matches (404) and unexpected exceptions (500, with DEBUG off). An API client always
gets ``{"detail": ...}``, never an HTML page or a traceback; the traceback goes to the log only
(django.request logs it before calling ``handler500``).
"""
from __future__ import annotations

from django.http import JsonResponse
from django.views import defaults

API_PREFIX = "/api/"


def _is_api(request) -> bool:
    return request.path.startswith(API_PREFIX)


def not_found(request, exception=None):
    if _is_api(request):
        return JsonResponse({"detail": "Not found: no such endpoint or object."}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    if _is_api(request):
        return JsonResponse({"detail": "Internal server error: the request could not be completed; it is logged.",
                             "code": "server_error"}, status=500)
    return defaults.server_error(request)
