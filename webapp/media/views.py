from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFilesSent
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from webapp.core import roles
from webapp.core.exceptions import DomainError, PayloadTooLarge
from webapp.core.permissions import IsAdmin, IsAnnotator
from webapp.core.schema import QUEUE_UNAVAILABLE, QUEUE_UNAVAILABLE_TEXT
from webapp.core.serializers import JobSerializer
from webapp.core.services import job_require_sent

from . import selectors, services
from .serializers import (
    FaceImportRequestSerializer,
    FrameSerializer,
    PhotoSerializer,
    PhotoUploadSerializer,
    UploadQueueUnavailableSerializer,
    UploadResponseSerializer,
    VideoSerializer,
    VideoUploadSerializer,
)


class UploadParser(MultiPartParser):
    """Multipart uploads within the request-wide limits, refused with a JSON 413/400 before any
    file is stored: a body above ``FACECURATOR_MAX_UPLOAD_REQUEST_MB`` before a byte of it is
    read, more than ``DATA_UPLOAD_MAX_NUMBER_FILES`` files (``FACECURATOR_MAX_UPLOAD_FILES``) as
    soon as Django's parser counts one too many."""

    def parse(self, stream, media_type=None, parser_context=None):
        meta = parser_context["request"].META
        services.upload_check_request(content_length=_int(meta.get("CONTENT_LENGTH")))
        try:
            return super().parse(stream, media_type, parser_context)
        except TooManyFilesSent:
            raise services.upload_too_many_files() from None
        except RequestDataTooBig:
            raise PayloadTooLarge(
                f"The form fields are above {settings.DATA_UPLOAD_MAX_MEMORY_SIZE // 1024 // 1024} "
                "MB; send files in the 'files' field."
            ) from None


def _int(value) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


def _uploaded_files(request) -> list:
    files = request.FILES.getlist("files") + request.FILES.getlist("files[]") + request.FILES.getlist("file")
    if not files:
        raise DomainError("Send one or more files in the multipart field 'files'.")
    return files


UPLOAD_QUEUE_UNAVAILABLE = OpenApiResponse(
    UploadQueueUnavailableSerializer,
    description=(
        "The accepted files are stored (`files` lists each file's outcome, as a 202 would). " + QUEUE_UNAVAILABLE_TEXT
    ),
)


def _upload_response(result: services.UploadResult) -> Response:
    """202 when a job started; 503 when the task queue did not take it (the files are stored, the job
    queued and sent again automatically; the body lists every file); 413 when every file was too
    large; 400 when every file was refused."""
    body = result.as_dict()
    job_require_sent(*result.jobs, extra=body)
    outcomes = result.outcomes
    if result.job is not None:
        code: int = status.HTTP_202_ACCEPTED
    elif outcomes and all(o.status == "error" and o.code == "too_large" for o in outcomes):
        code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
        body["detail"] = (
            outcomes[0].error
            if len(outcomes) == 1
            else f"Every file is above the upload limit of {settings.FACECURATOR_MAX_UPLOAD_MB} MB."
        )
    elif outcomes and all(o.status == "error" for o in outcomes):
        code = status.HTTP_400_BAD_REQUEST
        body["detail"] = outcomes[0].error if len(outcomes) == 1 else "No file could be accepted; see 'files'."
    else:
        code = status.HTTP_200_OK  # only duplicates (and errors): nothing new to process
    return Response(body, status=code)


class PhotoViewSet(viewsets.ReadOnlyModelViewSet):
    """Uploaded source photos and the state of their face detection."""

    serializer_class = PhotoSerializer
    filterset_fields = ["status", "identity_hint"]
    ordering_fields = ["created_at", "id"]

    def get_queryset(self):
        return selectors.photos_for_listing()

    @extend_schema(
        request={"multipart/form-data": PhotoUploadSerializer},
        responses={202: UploadResponseSerializer, 200: UploadResponseSerializer, 503: UPLOAD_QUEUE_UNAVAILABLE},
    )
    @action(detail=False, methods=["post"], parser_classes=[UploadParser, FormParser], permission_classes=[IsAnnotator])
    def upload(self, request):
        """Upload photos; faces are detected in a job. With `identity`, the face matching it is proposed
        for that identity and the other faces are unknown people. Without, admins only (bulk import)."""
        identity_ref = request.data.get("identity") or request.query_params.get("identity")
        if not identity_ref and not roles.is_admin(request.user):
            raise PermissionDenied(
                "Uploading photos without an identity hint is a bulk import: admins only. "
                "Give 'identity' (the id or name of the person these photos were collected for)."
            )
        identity = services.identity_lookup(ref=identity_ref)
        result = services.photos_upload(files=_uploaded_files(request), identity=identity, user=request.user)
        return _upload_response(result)


class VideoViewSet(viewsets.ReadOnlyModelViewSet):
    """Uploaded videos, sampled into frames. The API serves ``tagging.views.VideoViewSet``, this with
    each video's tags (tagging sits above media)."""

    serializer_class = VideoSerializer
    filterset_fields = ["status"]
    ordering_fields = ["created_at", "id"]

    def get_queryset(self):
        return selectors.videos_for_listing()

    @extend_schema(
        request={"multipart/form-data": VideoUploadSerializer},
        responses={202: UploadResponseSerializer, 200: UploadResponseSerializer, 503: UPLOAD_QUEUE_UNAVAILABLE},
    )
    @action(detail=False, methods=["post"], parser_classes=[UploadParser, FormParser], permission_classes=[IsAdmin])
    def upload(self, request):
        """Upload videos (admins); each gets a job that samples frames and detects faces."""
        result = services.videos_upload(files=_uploaded_files(request), user=request.user)
        return _upload_response(result)


class FrameViewSet(viewsets.ReadOnlyModelViewSet):
    """Sampled video frames."""

    serializer_class = FrameSerializer
    filterset_fields = ["video"]
    ordering_fields = ["index"]

    def get_queryset(self):
        return selectors.frames_for_listing()


class ImportViewSet(viewsets.ViewSet):
    """Bulk imports from folders on the server (admins)."""

    permission_classes = [IsAdmin]

    @extend_schema(request=FaceImportRequestSerializer, responses={202: JobSerializer, 503: QUEUE_UNAVAILABLE})
    @action(detail=False, methods=["post"])
    def faces(self, request):
        """Import a face folder on the server (root/<identity name>/<image>) in a job; re-running is idempotent."""
        body = FaceImportRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        job = services.faces_import_start(
            root=data["path"],
            cropped=data["cropped"],
            role=data["role"],
            popularity_csv=data.get("popularity") or None,
            user=request.user,
        )
        job_require_sent(job)
        return Response(JobSerializer(job, context={"request": request}).data, status=status.HTTP_202_ACCEPTED)
