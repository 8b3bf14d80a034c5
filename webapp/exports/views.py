"""Export API (admins only): versions, builds, files with checksums, downloads with Range support."""

from __future__ import annotations

import json
import re
from typing import Literal

from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponse
from django.http.response import HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from webapp.core.params import id_parameter, query_id
from webapp.core.permissions import IsAdmin
from webapp.core.schema import QUEUE_UNAVAILABLE
from webapp.core.services import job_require_sent

from . import selectors, services
from .models import ExportBuild, ExportFile
from .serializers import (
    BuildRequestSerializer,
    DatasetVersionSerializer,
    ExportBuildSerializer,
    ExportFileSerializer,
    VersionComparisonSerializer,
    VersionCreateSerializer,
    VersionFaceSerializer,
)

DOWNLOAD_BLOCK = 256 * 1024
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class AnyRenderer(BaseRenderer):
    """Accepts any ``Accept`` header on downloads (curl, browsers, ``Accept: application/zip``)."""

    media_type = "*/*"
    format = "bin"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, bytes):
            return data
        response = (renderer_context or {}).get("response")
        if response is not None:
            response["Content-Type"] = "application/json"  # an error answer: JSON, not "*/*"
        return json.dumps(data).encode()


@extend_schema_view(
    list=extend_schema(summary="Dataset versions, newest first, with counts per class and split and their builds."),
    retrieve=extend_schema(summary="One dataset version: state, filter, counts, content hash, builds and files."),
)
class DatasetVersionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Frozen dataset versions and their exports. Admins only (annotators 403)."""

    permission_classes = [IsAdmin]
    serializer_class = DatasetVersionSerializer
    filterset_fields = ["state"]
    ordering_fields = ["created_at", "id", "face_count"]

    def get_queryset(self):
        return selectors.versions_for_listing().prefetch_related("builds__files", "builds__job")

    @extend_schema(
        summary="Create a version from a filter; a job freezes its faces (poll /api/v1/jobs/{job}/).",
        request=VersionCreateSerializer,
        responses={202: DatasetVersionSerializer, 503: QUEUE_UNAVAILABLE},
    )
    def create(self, request):
        body = VersionCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        name = data.pop("name", "")
        version = services.version_create(filters=data, name=name, user=request.user)
        job_require_sent(version.job)
        version = self.get_queryset().get(pk=version.pk)
        return Response(self.get_serializer(version).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="Build one format of a version (202 started; 200 when the same build is already queued, "
        "running or ready: it is reused, never run twice).",
        request=BuildRequestSerializer,
        responses={200: ExportBuildSerializer, 202: ExportBuildSerializer, 503: QUEUE_UNAVAILABLE},
    )
    @action(detail=True, methods=["post"])
    def build(self, request, pk=None):
        version = self.get_object()
        body = BuildRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        build, started = services.build_request(
            version=version,
            format=body.validated_data["format"],
            shard_size=body.validated_data.get("shard_size"),
            user=request.user,
        )
        if started:
            job_require_sent(build.job)
        build = selectors.builds_for_version(version=version).get(pk=build.pk)
        return Response(
            ExportBuildSerializer(build, context=self.get_serializer_context()).data,
            status=status.HTTP_202_ACCEPTED if started else status.HTTP_200_OK,
        )

    @extend_schema(
        summary="The finished files of a version, with sizes, SHA-256 and download links.",
        parameters=[OpenApiParameter("export_format", str, enum=ExportBuild.Format.values, required=False)],
        responses=ExportFileSerializer(many=True),
    )
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def files(self, request, pk=None):
        files = selectors.version_files(version=self.get_object(), format=request.query_params.get("export_format"))
        return Response(ExportFileSerializer(files, many=True, context=self.get_serializer_context()).data)

    @extend_schema(
        summary="SHA256SUMS for a version's files (check with `sha256sum -c`).",
        parameters=[OpenApiParameter("export_format", str, enum=ExportBuild.Format.values, required=False)],
        responses={(200, "text/plain"): OpenApiTypes.STR},
    )
    @action(
        detail=True,
        methods=["get"],
        renderer_classes=[JSONRenderer, AnyRenderer],
        pagination_class=None,
        filter_backends=[],
    )
    def checksums(self, request, pk=None):
        version = self.get_object()
        files = selectors.version_files(version=version, format=request.query_params.get("export_format"))
        lines = [f"{f.sha256}  {f.build.format}/{f.name}\n" for f in files]
        return HttpResponse("".join(lines), content_type="text/plain; charset=utf-8")

    @extend_schema(
        summary="Compare this version with another: faces added, removed, relabelled, moved to another split.",
        parameters=[id_parameter("to", "The other version's id.", required=True)],
        responses=VersionComparisonSerializer,
    )
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def compare(self, request, pk=None):
        base = self.get_object()
        other_id = query_id(request.query_params, "to")
        if other_id is None:
            raise ValidationError({"to": ["Give the other version's id: ?to=<id>."]})
        other = self.get_queryset().filter(pk=other_id).first()
        if other is None:
            raise Http404
        return Response(selectors.version_compare(base=base, other=other))

    @extend_schema(
        summary="The frozen faces of a version (as they were when it was frozen).",
        parameters=[OpenApiParameter("split", str, required=False), OpenApiParameter("label_key", str, required=False)],
        responses=VersionFaceSerializer(many=True),
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def faces(self, request, pk=None):
        rows = self.get_object().faces.order_by("face_id")
        for key in ("split", "label_key"):
            if request.query_params.get(key):
                rows = rows.filter(**{key: request.query_params[key]})
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(VersionFaceSerializer(page, many=True).data)


class ExportFileViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Finished export files. Download streams from storage and honours `Range: bytes=…` (206)."""

    permission_classes = [IsAdmin]
    serializer_class = ExportFileSerializer
    filterset_fields = {"build__version": ["exact"], "build__format": ["exact"]}

    def get_queryset(self):
        return selectors.files_for_listing().order_by("-build__version_id", "build__format", "name")

    @extend_schema(
        summary="Download a file (streamed). Supports one byte range: `Range: bytes=START-END` answers 206.",
        parameters=[
            OpenApiParameter(
                "Range",
                str,
                OpenApiParameter.HEADER,
                required=False,
                description="e.g. bytes=0-1023, bytes=1024-, bytes=-512",
            )
        ],
        responses={
            (200, "*/*"): OpenApiResponse(
                OpenApiTypes.BINARY,
                description="The file, with its own content type (zip, tar, CSV, JSONL, Parquet, JSON).",
            ),
            (206, "*/*"): OpenApiResponse(OpenApiTypes.BINARY, description="Partial content"),
            416: OpenApiResponse(description="Range not satisfiable"),
        },
    )
    @action(detail=True, methods=["get"], renderer_classes=[JSONRenderer, AnyRenderer])
    def download(self, request, pk=None):
        export_file = self.get_object()
        return ranged_file_response(request, export_file=export_file)


class _Slice:
    """Reads at most ``length`` bytes from an open file, from where it stands."""

    def __init__(self, handle, length: int):
        self._handle, self._left = handle, length

    def read(self, size: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        size = self._left if size is None or size < 0 else min(size, self._left)
        data = self._handle.read(size)
        self._left -= len(data)
        return data

    def close(self) -> None:
        self._handle.close()


class _Download(FileResponse):
    block_size = DOWNLOAD_BLOCK


def _parse_range(header: str, size: int) -> tuple[int, int] | None | Literal["unsatisfiable"]:
    """``(start, end)`` inclusive for one satisfiable range; None to send the whole file (no range, several
    ranges or a malformed header); ``"unsatisfiable"`` for a range past the end."""
    match = _RANGE.match(header.strip().replace(" ", ""))
    if not match or (not match.group(1) and not match.group(2)):
        return None
    first, last = match.groups()
    if not first:  # suffix: the last N bytes
        length = int(last)
        if length == 0 or size == 0:
            return "unsatisfiable"
        return max(size - length, 0), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if last and int(last) < start:
        return None
    if start >= size:
        return "unsatisfiable"
    return start, end


def ranged_file_response(request, *, export_file: ExportFile) -> HttpResponseBase:
    """Stream a stored file, whole (200) or one byte range (206); ETag is the file's SHA-256."""
    if not default_storage.exists(export_file.storage_name):
        raise Http404("The file is missing from storage; build the format again.")
    size = export_file.size
    etag = f'"{export_file.sha256}"'
    filename = (
        f"facecurator-v{export_file.build.version_id}-{export_file.build.format}-{export_file.name.replace('/', '-')}"
    )
    wanted = _parse_range(request.headers.get("Range", ""), size) if request.headers.get("Range") else None
    if_range = request.headers.get("If-Range")
    if if_range and if_range != etag:
        wanted = None  # the client's copy is another file: send this one whole
    if wanted == "unsatisfiable":
        refused = HttpResponse(status=status.HTTP_416_REQUESTED_RANGE_NOT_SATISFIABLE)
        refused["Content-Range"] = f"bytes */{size}"
        return refused
    handle = default_storage.open(export_file.storage_name, "rb")
    if wanted is None:
        response = _Download(handle, content_type=export_file.content_type, as_attachment=True, filename=filename)
        response["Content-Length"] = str(size)
    else:
        start, end = wanted
        handle.seek(start)
        response = _Download(
            _Slice(handle, end - start + 1),
            status=status.HTTP_206_PARTIAL_CONTENT,
            content_type=export_file.content_type,
            as_attachment=True,
            filename=filename,
        )
        response["Content-Length"] = str(end - start + 1)
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    response["Accept-Ranges"] = "bytes"
    response["ETag"] = etag
    response["X-Checksum-SHA256"] = export_file.sha256
    response["Cache-Control"] = "private, no-transform"
    return response
