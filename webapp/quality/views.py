"""Annotator quality API: numbers per annotator (admins: everyone, annotators: their own), one
annotator's decisions in a time range, undoing them or sending them to a second annotator."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import api_view, permission_classes
from rest_framework.response import Response

from webapp.core.pagination import Pagination
from webapp.core.permissions import IsAdmin, IsAnnotator
from webapp.review.selectors import queues_with_sizes
from webapp.review.serializers import QueueSerializer

from . import selectors, services
from .serializers import (
    AnnotatorDecisionSerializer,
    HeldRangeSerializer,
    HeldSettleResultSerializer,
    QualityReportSerializer,
    RangeQuerySerializer,
    RangeSerializer,
    RangeUndoResultSerializer,
    SecondReviewResultSerializer,
)

RANGE = [
    OpenApiParameter("since", str, description="ISO date-time (default: 30 days before 'until')"),
    OpenApiParameter("until", str, description="ISO date-time, excluded (default: now)"),
]


def _range(request) -> tuple:
    query = RangeQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    until = query.validated_data.get("until") or timezone.now()
    return query.validated_data.get("since") or until - timedelta(days=30), until


def _report(since, until, rows) -> dict:
    return {
        "since": since,
        "until": until,
        "flag_below": settings.FACECURATOR_QUALITY_FLAG_BELOW,
        "min_gold": settings.FACECURATOR_QUALITY_MIN_GOLD,
        "hold_flagged": settings.FACECURATOR_HOLD_FLAGGED,
        "second_opinions_queue": selectors.second_opinions_queue_id(),
        "annotators": rows,
    }


@extend_schema(
    parameters=RANGE,
    responses=QualityReportSerializer,
    description="Every annotator with a decision in the range: gold accuracy (count, 95% Wilson "
    "interval), decisions per hour, pages confirmed unchanged, agreement, per day; "
    "flagged ones first. Admins only.",
)
@api_view(["GET"])
@permission_classes([IsAdmin])
def quality(request):
    since, until = _range(request)
    return Response(
        QualityReportSerializer(_report(since, until, selectors.annotators_quality(since=since, until=until))).data
    )


@extend_schema(parameters=RANGE, responses=QualityReportSerializer, description="Your own quality numbers.")
@api_view(["GET"])
@permission_classes([IsAnnotator])
def quality_me(request):
    since, until = _range(request)
    return Response(
        QualityReportSerializer(
            _report(since, until, selectors.annotators_quality(user_ids=[request.user.pk], since=since, until=until))
        ).data
    )


@extend_schema(
    parameters=[
        *RANGE,
        *(
            OpenApiParameter(p["name"], p["schema"], OpenApiParameter.QUERY, description=p["description"])
            for p in Pagination().get_schema_operation_parameters(None)
        ),
    ],
    responses=inline_serializer(
        "PaginatedAnnotatorDecisionList",
        {
            "count": serializers.IntegerField(),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": AnnotatorDecisionSerializer(many=True),
        },
    ),
    description="One annotator's decisions in the range, newest first (paginated). Admins only.",
)
@api_view(["GET"])
@permission_classes([IsAdmin])
def decisions(request, pk: int):
    since, until = _range(request)
    paginator = Pagination()  # the one page rule (page_size 1-500, else 400)
    page = paginator.paginate_queryset(selectors.decisions_of_annotator(user_id=pk, since=since, until=until), request)
    return paginator.get_paginated_response(AnnotatorDecisionSerializer(page, many=True).data)


@extend_schema(
    request=RangeSerializer,
    responses=RangeUndoResultSerializer,
    description="Undo every decision of this annotator in [since, until): labels restored by new "
    "label events, items open again in their queues. Faces changed since by someone "
    "else are kept (listed). Admins only.",
)
@api_view(["POST"])
@permission_classes([IsAdmin])
def decisions_undo(request, pk: int):
    body = RangeSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    return Response(services.annotator_decisions_undo(annotator_id=pk, user=request.user, **body.validated_data))


@extend_schema(
    request=RangeSerializer,
    responses={201: SecondReviewResultSerializer},
    description="Send the faces this annotator decided in [since, until) to review by someone else "
    "(new queues the annotator is not served). Admins only.",
)
@api_view(["POST"])
@permission_classes([IsAdmin])
def decisions_second_review(request, pk: int):
    body = RangeSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    queues = services.annotator_decisions_send_to_review(annotator_id=pk, user=request.user, **body.validated_data)
    rows = queues_with_sizes().filter(pk__in=[q.pk for q in queues]).order_by("id")
    return Response({"queues": QueueSerializer(rows, many=True).data}, status=status.HTTP_201_CREATED)


def _held_settle(request, pk: int, *, accept: bool) -> Response:
    body = HeldRangeSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    result = services.held_decisions_settle(annotator_id=pk, accept=accept, user=request.user, **body.validated_data)
    return Response(HeldSettleResultSerializer(result).data)


@extend_schema(
    request=HeldRangeSerializer,
    responses=HeldSettleResultSerializer,
    description="Accept every decision of this annotator that waits for a second opinion (made in [since, "
    "until) if given), in one operation: each proposed label applied as your decision, a label event each. "
    "Faces relabelled since by someone else stay waiting (listed). Undo with POST "
    "/api/v1/review/operations/{operation}/undo/. Admins only.",
)
@api_view(["POST"])
@permission_classes([IsAdmin])
def held_accept(request, pk: int):
    return _held_settle(request, pk, accept=True)


@extend_schema(
    request=HeldRangeSerializer,
    responses=HeldSettleResultSerializer,
    description="Discard every decision of this annotator that waits for a second opinion (made in [since, "
    "until) if given), in one operation: no label changes, the items they were made on open again in their "
    "queues. Undo with POST /api/v1/review/operations/{operation}/undo/. Admins only.",
)
@api_view(["POST"])
@permission_classes([IsAdmin])
def held_discard(request, pk: int):
    return _held_settle(request, pk, accept=False)


@extend_schema(
    request=None,
    responses={200: {"type": "object", "properties": {"new_gold_faces": {"type": "integer"}}}},
    description="Look at every settled face and make gold those an admin or two annotators agreed on.",
)
@api_view(["POST"])
@permission_classes([IsAdmin])
def gold_refresh(request):
    return Response({"new_gold_faces": services.gold_faces_refresh()})
