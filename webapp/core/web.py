"""Plain Django views: the single-page app's shell and login-protected media files."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, SuspiciousFileOperation
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils._os import safe_join
from django.utils.http import content_disposition_header
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


# Media a browser may show inline, by the suffix of a storage name. Uploads are stored as
# "<sha256>.<format the server detected>" and crops and frames are JPEGs we encode, so these are
# the only suffixes our own files carry; anything else (a file stored before names were derived,
# an export, a model) is sent as an opaque download. No type that can carry script (HTML, SVG,
# XHTML, XML, PDF) is ever served inline.
INLINE_MEDIA_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".gif": "image/gif",
    ".bmp": "image/bmp",
    ".avif": "image/avif",
    ".mp4": "video/mp4",
    ".webm": "video/webm",
}

# Every media answer: no script runs even if a browser rendered it (sandbox, no sources), no type
# sniffing, and nothing kept by the browser once the answer is shown: crops are personal data, and
# a browser whose user logged out must not be able to show them again from its cache.
MEDIA_SECURITY_HEADERS = {
    "Content-Security-Policy": "sandbox; default-src 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "private, no-store",
    "Accept-Ranges": "bytes",
}

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_CHUNK = 1 << 16


def _media_path(path: str) -> str:
    """The normalised storage name, or 404 for a name no stored file can have."""
    if any(ord(char) < 32 or char == "\x7f" for char in path) or "\\" in path:
        raise Http404("no such file")
    path = posixpath.normpath(path)  # "faces/../models/x" is models/x, and admin-only
    try:
        safe_join(str(settings.MEDIA_ROOT), path)
    except Exception as exc:  # noqa: BLE001 - a path leaving the media root is simply not found
        raise Http404("no such file") from exc
    return path


def _byte_range(header: str, size: int) -> tuple[int, int] | None:
    """``(first, last)`` of a single ``bytes=`` range, None to answer with the whole file.

    Raises ValueError for a range that starts past the end (416). Several ranges, or a header
    that is not a byte range, are ignored (the whole file is a valid answer to those).
    """
    match = _RANGE.match(header.strip())
    if not match or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if first and last and int(last) < int(first):
        return None  # not a valid range: ignored
    if first == "":  # "bytes=-N": the last N bytes
        if int(last) == 0:
            raise ValueError("empty suffix range")
        return max(size - int(last), 0), size - 1
    if int(first) >= size:
        raise ValueError("range starts past the end")
    return int(first), min(int(last), size - 1) if last else size - 1


def _read_span(handle, first: int, length: int) -> Iterator[bytes]:
    try:
        handle.seek(first)
        while length > 0:
            chunk = handle.read(min(_CHUNK, length))
            if not chunk:
                return
            length -= len(chunk)
            yield chunk
    finally:
        handle.close()


@require_GET
@login_required
def media_file(request, path: str):
    """Media for users with a role only: face crops are personal data, never public files.

    Served through the media storage, local or S3 alike: with an object store the web server
    streams the object (ranged reads, nothing buffered whole), so the store never needs to be
    reachable from browsers and no link outlives the session that asked for it. A single
    ``Range: bytes=…`` is honoured (206; 416 past the end) so videos can be seeked.
    """
    if not roles.is_annotator(request.user):
        raise PermissionDenied("You need the annotator or admin role.")
    path = _media_path(path)
    if path.startswith(ADMIN_ONLY_MEDIA_PREFIXES) and not roles.is_admin(request.user):
        raise PermissionDenied("Only admins may download exports and model files.")
    try:
        handle = default_storage.open(path, "rb")  # one request to the store, not exists() and then open()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, SuspiciousFileOperation, ValueError) as exc:
        raise Http404("no such file") from exc
    size = handle.size
    try:
        span = _byte_range(request.headers.get("Range", ""), size) if "Range" in request.headers else None
    except ValueError:
        handle.close()
        refused = HttpResponse(status=416)
        refused["Content-Range"] = f"bytes */{size}"
        return _with_media_headers(refused, path)
    response: StreamingHttpResponse
    if span is None:
        response = FileResponse(handle)
    else:
        first, last = span
        response = StreamingHttpResponse(_read_span(handle, first, last - first + 1), status=206)
        response["Content-Length"] = str(last - first + 1)
        response["Content-Range"] = f"bytes {first}-{last}/{size}"
    return _with_media_headers(response, path)


def _with_media_headers(response: HttpResponse | StreamingHttpResponse, path: str):
    inline_type = INLINE_MEDIA_TYPES.get(posixpath.splitext(path)[1].lower())
    if inline_type:
        response["Content-Type"] = inline_type
    else:
        response["Content-Type"] = "application/octet-stream"
        disposition = content_disposition_header(True, posixpath.basename(path))
        assert disposition is not None  # None only for an inline response without a file name
        response["Content-Disposition"] = disposition
    for header, value in MEDIA_SECURITY_HEADERS.items():
        response[header] = value
    return response
