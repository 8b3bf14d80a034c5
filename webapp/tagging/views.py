"""Video tagging API: tags per video and per identity, supporting frames, the review queue, decisions, jobs.

Annotators read everything and confirm or reject tags; only admins start tagging jobs.
"""

import django_filters
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status, viewsets
from rest_framework.decorators import action, api_view, permission_classes
from rest_framework.response import Response

from webapp.core.params import IdFilter
from webapp.core.permissions import IsAdmin, IsAnnotator, ReadAnnotatorWriteAdmin
from webapp.core.schema import QUEUE_UNAVAILABLE
from webapp.core.serializers import JobSerializer
from webapp.core.services import job_require_sent
from webapp.media import views as media_views
from webapp.media.models import Video

from . import selectors, services
from .models import FacePrediction, TagEvidence, VideoTag
from .serializers import (
    FacePredictionSerializer,
    ReviewTagSerializer,
    TagDecisionRequestSerializer,
    TagDecisionResponseSerializer,
    TaggingStartSerializer,
    TaggingSummarySerializer,
    VideoSerializer,
    VideoTagDetailSerializer,
    VideoTagSerializer,
)

EVIDENCE_PREVIEW = 12  # supporting frames shown per tag in the review queue (all of them in a tag's detail)


class VideoTagFilter(django_filters.FilterSet):
    max_margin = django_filters.NumberFilter(
        method="filter_max_margin", help_text="Only tags whose confidence lies at most this far above their threshold."
    )

    class Meta:
        model = VideoTag
        fields = ["video", "identity", "status", "run"]

    def filter_max_margin(self, queryset, name, value):
        from django.db.models import F

        return queryset.filter(confidence__lte=F("threshold") + value)


def _decision_response(decision: services.TagDecision) -> Response:
    decision.tag.refresh_from_db()
    return Response(
        {
            "tag": VideoTagSerializer(decision.tag).data,
            "label_events": len(decision.events),
            "skipped": decision.skipped,
        }
    )


class VideoTagViewSet(viewsets.ReadOnlyModelViewSet):
    """Identities tagged in videos: proposed by a model, confirmed or rejected by annotators.

    `GET /tags/?video=` and `?identity=` list them; `GET /tags/{id}/` gives every supporting frame.
    """

    permission_classes = [IsAnnotator]
    filterset_class = VideoTagFilter
    ordering_fields = ["confidence", "created_at", "id", "frame_count"]

    def get_queryset(self):
        if self.action == "retrieve":
            return selectors.tags_with_evidence()
        if self.action == "review":
            preview = TagEvidence.objects.select_related("frame", "face").order_by("rank")[:EVIDENCE_PREVIEW]
            return selectors.tags_review_queue().prefetch_related(
                Prefetch("evidence", queryset=preview, to_attr="evidence_preview")
            )
        return selectors.tags_for_listing()

    def get_serializer_class(self):
        if self.action == "review":
            return ReviewTagSerializer
        return VideoTagDetailSerializer if self.action == "retrieve" else VideoTagSerializer

    @extend_schema(
        responses=ReviewTagSerializer(many=True),
        description=f"Proposed tags for annotators, the closest to the operating threshold first (least "
        f"certain); each with its {EVIDENCE_PREVIEW} best supporting frames. Filters: video, "
        f"identity, run, max_margin.",
    )
    @action(detail=False, methods=["get"], ordering_fields=[])
    def review(self, request):
        queryset = self.filter_queryset(self.get_queryset()).order_by("margin_value", "id")
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        request=TagDecisionRequestSerializer,
        responses=TagDecisionResponseSerializer,
        description="Confirm that the identity is in the video: the supporting faces (or the chosen ones) "
        "become verified faces of the identity, each with a LabelEvent. 409 if it was rejected.",
    )
    @action(detail=True, methods=["post"])
    def confirm(self, request, pk=None):
        body = TagDecisionRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        decision = services.tag_confirm(
            tag=self.get_object(),
            user=request.user,
            face_ids=body.validated_data.get("faces"),
            note=body.validated_data["note"],
        )
        return _decision_response(decision)

    @extend_schema(
        request=TagDecisionRequestSerializer,
        responses=TagDecisionResponseSerializer,
        description="Reject the tag: the identity is not in the video; no later model proposes it again "
        "for this video. Faces are left as they are. 409 if it was confirmed.",
    )
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        body = TagDecisionRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        decision = services.tag_reject(tag=self.get_object(), user=request.user, note=body.validated_data["note"])
        return _decision_response(decision)

    @extend_schema(
        request=None,
        responses=TagDecisionResponseSerializer,
        description="Undo a confirmation or rejection: the tag is proposed again; a confirmation's label "
        "events are undone too (409 when a face changed since). Annotators undo their own.",
    )
    @action(detail=True, methods=["post"])
    def undo(self, request, pk=None):
        return _decision_response(services.tag_decision_undo(tag=self.get_object(), user=request.user))

    @extend_schema(
        request=TaggingStartSerializer,
        responses={202: JobSerializer, 503: QUEUE_UNAVAILABLE},
        description="Start a tagging job on the gpu queue (admins): a scope (untagged, outdated, all) or a "
        "list of videos, with the active model and operating threshold. Follow it at /jobs/{id}/.",
    )
    @action(detail=False, methods=["post"], permission_classes=[IsAdmin])
    def start(self, request):
        body = TaggingStartSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        job = services.videos_tag_start(
            scope=body.validated_data.get("scope"), video_ids=body.validated_data.get("videos"), user=request.user
        )
        job_require_sent(job)
        return Response(JobSerializer(job, context={"request": request}).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses=TaggingSummarySerializer)
    @action(detail=False, methods=["get"])
    def summary(self, request):
        """The model in force and how many videos are tagged, outdated or untagged; tags by status."""
        return Response(selectors.tagging_summary())


@extend_schema(
    methods=["GET"],
    responses=VideoTagDetailSerializer(many=True),
    parameters=[OpenApiParameter("rejected", bool, description="Include rejected tags (default true).")],
    description="The video's tags, most confident first, with every supporting frame "
    "(frame id, timestamp, image URL, face box and crop).",
)
@extend_schema(
    methods=["POST"],
    request=None,
    responses={202: JobSerializer, 503: QUEUE_UNAVAILABLE},
    description="Tag (or re-tag) this video with the model in force (admins); a job on the gpu queue.",
)
@api_view(["GET", "POST"])
@permission_classes([ReadAnnotatorWriteAdmin])
def video_tags(request, pk: int):
    video = get_object_or_404(Video, pk=pk)
    if request.method == "POST":
        job = services.video_tag_start(video=video, user=request.user)
        job_require_sent(job)
        return Response(JobSerializer(job, context={"request": request}).data, status=status.HTTP_202_ACCEPTED)
    include_rejected = request.query_params.get("rejected", "true").lower() not in ("0", "false", "no")
    tags = selectors.video_tags(video=video, include_rejected=include_rejected)
    return Response(VideoTagDetailSerializer(tags, many=True).data)


class VideoPredictionList(generics.ListAPIView):
    """Each face of the video with the tagging model's top VIP and calibrated confidence; `accepted` false
    means an unknown person at the threshold the video was tagged at. `?accepted=true` keeps the accepted ones."""

    serializer_class = FacePredictionSerializer
    permission_classes = [IsAnnotator]
    filterset_fields = ["accepted"]
    ordering_fields: list[str] = []

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return FacePrediction.objects.none()
        video = get_object_or_404(Video, pk=self.kwargs["pk"])
        return selectors.face_predictions_for_video(video=video)


class VideoFilter(django_filters.FilterSet):
    identity = IdFilter(method="filter_identity", help_text="Videos tagged with this identity (proposed or confirmed).")

    class Meta:
        model = Video
        fields = ["status"]

    def filter_identity(self, queryset, name, value):
        return selectors.videos_tagged_with(queryset=queryset, identity_id=value)


class VideoViewSet(media_views.VideoViewSet):
    """Uploaded videos, sampled into frames."""

    serializer_class = VideoSerializer
    filterset_class = VideoFilter

    def get_queryset(self):
        return selectors.videos_for_listing()
