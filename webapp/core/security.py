"""Browser-facing protections that Django 5.2 does not ship: the Content-Security-Policy header,
and the answer to a client locked out after too many failed logins (django-axes calls it)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.http import JsonResponse
from django.shortcuts import render


class ContentSecurityPolicyMiddleware:
    """Adds ``Content-Security-Policy`` to every answer that has none: the strict policy the SPA,
    the log-in page and the admin site run under, and a relaxed one for the API docs pages."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            docs = request.path.startswith(settings.CONTENT_SECURITY_POLICY_API_DOCS_PATHS)
            policy = settings.CONTENT_SECURITY_POLICY_API_DOCS if docs else settings.CONTENT_SECURITY_POLICY
            if policy:
                response["Content-Security-Policy"] = policy
        return response


def client_ip(request) -> str | None:
    """The client's address: REMOTE_ADDR, or behind NUM_PROXIES proxies the address the outermost
    one saw in X-Forwarded-For (the same rule as DRF's throttles), never a header a client forged."""
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if settings.NUM_PROXIES and forwarded:
        addresses = [address.strip() for address in forwarded.split(",")]
        return addresses[-min(settings.NUM_PROXIES, len(addresses))]
    return request.META.get("REMOTE_ADDR")


def lockout_message() -> str:
    minutes = round(settings.AXES_COOLOFF_TIME.total_seconds() / 60)
    return (
        f"Too many failed logins for this account: it is locked for {minutes} minutes. "
        "Try again later, or ask an admin to unlock it (manage.py axes_reset_username USERNAME)."
    )


def lockout_response(request, original_response=None, credentials=None):
    """429 for a locked-out login: JSON on the API, the log-in page with the reason elsewhere."""
    message = lockout_message()
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": message, "code": "locked_out"}, status=429)
    context = {
        "form": AuthenticationForm(request),
        "locked_out": message,
        "next": request.POST.get("next") or request.GET.get("next", ""),
    }
    return render(request, "login.html", context, status=429)
