"""Plain Django views: the single-page app's shell and login-protected media files."""
from __future__ import annotations

import mimetypes
import posixpath

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import render
from django.utils._os import safe_join
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET

from . import roles


@require_GET
@login_required
@ensure_csrf_cookie
def spa(request, path: str = ""):
    """The browser UI. Built assets come from frontend/dist; without a build, say how to make one."""
    index = settings.FRONTEND_DIST / "index.html"
    if index.exists():
        response = HttpResponse(index.read_text(encoding="utf-8"))
        # The shell names the current build's hashed assets (cached for good by WhiteNoise): always revalidate it.
        response["Cache-Control"] = "no-cache"
        return response
    return render(request, "no_frontend.html", status=200)


# Media an annotator never needs: dataset exports, model files and the similarity index.
ADMIN_ONLY_MEDIA_PREFIXES = ("exports/", "models/", "index/")


@require_GET
@login_required
def media_file(request, path: str):
    """Media for users with a role only: face crops are personal data, never public files.

    Served through the media storage, local or S3 alike: with an object store the web server
    streams the object (ranged reads, nothing buffered whole), so the store never needs to be
    reachable from browsers and no link outlives the session that asked for it.
    """
    if not roles.is_annotator(request.user):
        raise PermissionDenied("You need the annotator or admin role.")
    path = posixpath.normpath(path)  # "faces/../models/x" is models/x, and admin-only
    if path.startswith(ADMIN_ONLY_MEDIA_PREFIXES) and not roles.is_admin(request.user):
        raise PermissionDenied("Only admins may download exports and model files.")
    try:
        safe_join(str(settings.MEDIA_ROOT), path)
    except Exception as exc:  # noqa: BLE001 - a path leaving the media root is simply not found
        raise Http404("no such file") from exc
    try:
        handle = default_storage.open(path, "rb")  # one request to the store, not exists() and then open()
    except (FileNotFoundError, IsADirectoryError) as exc:
        raise Http404("no such file") from exc
    content_type, _ = mimetypes.guess_type(path)
    response = FileResponse(handle, content_type=content_type or "application/octet-stream")
    response["Cache-Control"] = "private, max-age=86400"
    return response
