"""Training API: runs and their diagnostics, the active model's operating point, VIP chunks, status.

Annotators read everything; only admins start, cancel or accept runs, set the operating point
and promote chunks.
"""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action, api_view, permission_classes
from rest_framework.response import Response

from ml.splits import SPLITS
from webapp.core.exceptions import InvalidTransition
from webapp.core.params import DB_ID_MAX, DB_ID_MIN, DB_SMALLINT_MAX, parse_int, query_choice, query_int
from webapp.core.permissions import IsAdmin, IsAnnotator, ReadAnnotatorWriteAdmin
from webapp.core.schema import QUEUE_UNAVAILABLE
from webapp.core.services import job_require_sent

from . import selectors, services
from .models import RunSample, TrainingRun
from .serializers import (
    ChunkSerializer,
    ClassRowSerializer,
    CurationStatusSerializer,
    GateSerializer,
    OperatingPointQuerySerializer,
    OperatingPointRequestSerializer,
    OperatingPointSerializer,
    OperatingPointStateSerializer,
    PromoteRequestSerializer,
    PromotionSerializer,
    RunCompareSerializer,
    RunCurvesSerializer,
    RunDetailSerializer,
    RunListSerializer,
    RunSampleSerializer,
    RunStartSerializer,
)

SAMPLE_SPLITS = list(SPLITS)


class RunViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Training runs: state and progress (from their job), metrics, per-class reports, curves."""

    permission_classes = [ReadAnnotatorWriteAdmin]
    filterset_fields = ["mode", "loss", "job__state"]
    ordering_fields = ["created_at", "id"]

    def get_queryset(self):
        if self.action in ("list", "compare"):
            return selectors.runs_for_listing()
        return TrainingRun.objects.select_related("job", "created_by")

    def get_serializer_class(self):
        return RunListSerializer if self.action == "list" else RunDetailSerializer

    def get_serializer_context(self):
        """The active run and its headline, read once per request (a fixed number of queries per page)."""
        activation = selectors.active_model()
        if activation is None:
            return {**super().get_serializer_context(), "active_run_id": None, "active_headline": None}
        return {
            **super().get_serializer_context(),
            "active_run_id": activation.run_id,
            "active_headline": selectors.run_headline(run=activation.run, active_id=activation.run_id),
        }

    @extend_schema(
        request=RunStartSerializer,
        responses={202: RunDetailSerializer, 503: QUEUE_UNAVAILABLE},
        description="Start a run (admins). 409 while another run is queued or running.",
    )
    def create(self, request, *args, **kwargs):
        body = RunStartSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        run = services.training_run_start(
            user=request.user,
            mode=data["mode"],
            loss=data.get("loss"),
            options=data.get("options") or {},
            note=data.get("note", ""),
            labels=data["labels"],
            allow_concurrent=data["allow_concurrent"],
        )
        job_require_sent(run.job)
        return Response(self._detail(run), status=status.HTTP_202_ACCEPTED)

    def _detail(self, run):
        return RunDetailSerializer(run, context=self.get_serializer_context()).data

    @extend_schema(
        request=None,
        responses=RunDetailSerializer,
        description="Make this succeeded run the active model (admins); the operating point carries over.",
    )
    @action(detail=True, methods=["post"], permission_classes=[IsAdmin])
    def accept(self, request, pk=None):
        run = self.get_object()
        services.training_run_accept(run=run, user=request.user)
        return Response(self._detail(run))

    @extend_schema(
        request=None,
        responses={202: RunDetailSerializer, 503: QUEUE_UNAVAILABLE},
        description="Train a failed or cancelled run again from its frozen snapshot, as a new job (admins), "
        "e.g. after its worker was lost. 400 for a run that succeeded; 409 while it or another "
        "run is queued or running.",
    )
    @action(detail=True, methods=["post"], permission_classes=[IsAdmin])
    def restart(self, request, pk=None):
        run = services.training_run_restart(run=self.get_object(), user=request.user)
        job_require_sent(run.job)
        return Response(self._detail(run), status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses=RunDetailSerializer, description="Cancel a queued or running run (admins).")
    @action(detail=True, methods=["post"], permission_classes=[IsAdmin])
    def cancel(self, request, pk=None):
        run = services.training_run_cancel(run=self.get_object())
        return Response(self._detail(run))

    @extend_schema(
        responses=ClassRowSerializer(many=True),
        description="Per VIP: precision/recall points, F1, support and diagnosis (ok, low_precision, low_recall).",
    )
    @action(detail=True, methods=["get"], pagination_class=None)
    def classes(self, request, pk=None):
        return Response(ClassRowSerializer(self.get_object().per_class, many=True).data)

    @extend_schema(responses=RunCurvesSerializer, description="Threshold sweeps and calibration curves (before/after).")
    @action(detail=True, methods=["get"])
    def curves(self, request, pk=None):
        run = self.get_object()
        return Response(
            {
                "sweeps": run.curves.get("sweeps", {}),
                "calibration": run.curves.get("calibration", {}),
                "operating_points": run.curves.get("operating_points", {}),
                "history": run.curves.get("history", {}),
            }
        )

    @extend_schema(
        responses={200: {"type": "array", "items": {"type": "object"}}},
        description="The most confused VIP pairs: {a, b, name_a, name_b, a_as_b, b_as_a, rate, identity_a, identity_b}.",
    )
    @action(detail=True, methods=["get"], url_path="confused-pairs")
    def confused_pairs(self, request, pk=None):
        return Response(self.get_object().confused_pairs)

    @extend_schema(
        parameters=[
            OpenApiParameter("split", str, enum=SAMPLE_SPLITS),
            OpenApiParameter(
                "label",
                {"type": "integer", "minimum": -1, "maximum": DB_SMALLINT_MAX},
                description="Class index; -1 for distractors.",
            ),
        ],
        responses=RunSampleSerializer(many=True),
        description="Per-face scores of a run, highest noise score first (paginated).",
    )
    @action(detail=True, methods=["get"])
    def samples(self, request, pk=None):
        run = self.get_object()
        rows = RunSample.objects.filter(run=run).order_by("-noise_score", "face_id")
        split = query_choice(request.query_params, "split", choices=SAMPLE_SPLITS)
        label = query_int(request.query_params, "label", min_value=-1, max_value=DB_SMALLINT_MAX)
        if split:
            rows = rows.filter(split=split)
        if label is not None:
            rows = rows.filter(label=label)
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(RunSampleSerializer(page, many=True).data)

    @extend_schema(
        parameters=[OpenApiParameter("ids", str, required=True, description="Run ids, comma-separated.")],
        responses=RunCompareSerializer,
        description="Runs side by side, and per identity across them.",
    )
    @action(detail=False, methods=["get"])
    def compare(self, request):
        ids = [parse_int(part) for part in request.query_params.get("ids", "").split(",") if part.strip()]
        if any(i is None or not DB_ID_MIN <= i <= DB_ID_MAX for i in ids):
            raise InvalidTransition("ids must be run ids separated by commas, e.g. ?ids=3,5.")
        if not ids:
            raise InvalidTransition("Give the runs to compare, e.g. ?ids=3,5.")
        found = TrainingRun.objects.in_bulk(ids)
        return Response(selectors.runs_compare(runs=[found[i] for i in ids if i in found]))


class ChunkViewSet(viewsets.ReadOnlyModelViewSet):
    """VIP chunks: each growth step with the metrics and the gate at promotion time."""

    serializer_class = ChunkSerializer
    permission_classes = [ReadAnnotatorWriteAdmin]

    def get_queryset(self):
        return selectors.chunks_for_listing()

    @extend_schema(
        request=PromoteRequestSerializer,
        responses={201: PromotionSerializer},
        description="Promote the next candidates by popularity (admins). 409 when the gate is not met "
        "and no override reason is given.",
    )
    @action(detail=False, methods=["post"], permission_classes=[IsAdmin])
    def promote(self, request):
        body = PromoteRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        promotion = services.chunk_promote(
            user=request.user,
            override_reason=body.validated_data["override_reason"],
            size=body.validated_data.get("size"),
        )
        return Response(
            {
                "chunk": ChunkSerializer(promotion.chunk).data,
                "review_queue": promotion.review_queue.pk if promotion.review_queue else None,
                "suggest_retrain": True,
                "message": promotion.message,
            },
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(responses=GateSerializer, description="Whether the next chunk may be promoted, and why.")
    @action(detail=False, methods=["get"])
    def gate(self, request):
        return Response(GateSerializer(selectors.gate_status()).data)


@extend_schema(
    methods=["GET"],
    responses=OperatingPointStateSerializer,
    parameters=[
        OpenApiParameter("unknown_share", float, description="Share of unknown faces the far options assume (0-1).")
    ],
    description="The active model's operating point, the precision/recall trade-off, and per false-tag "
    "rate the threshold and the precision it implies at the share of unknown faces.",
)
@extend_schema(
    methods=["POST"],
    request=OperatingPointRequestSerializer,
    responses={201: OperatingPointSerializer},
    description="Choose the operating point (admins): a false-tag rate on unknown faces (far, with "
    "unknown_share), a target precision, or a threshold.",
)
@api_view(["GET", "POST"])
@permission_classes([ReadAnnotatorWriteAdmin])
def operating_point(request):
    if request.method == "POST":
        body = OperatingPointRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        point = services.operating_point_set(user=request.user, **body.validated_data)
        return Response(OperatingPointSerializer(point).data, status=status.HTTP_201_CREATED)
    query = OperatingPointQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    state = selectors.operating_point_state(unknown_share=query.validated_data.get("unknown_share"))
    return Response(OperatingPointStateSerializer(state).data)


@extend_schema(
    request=None,
    responses=CurationStatusSerializer,
    description="Make the model that was active before the current one active again (admins), with the "
    "operating point it had. 400 when there is none. Answers the new curation status.",
)
@api_view(["POST"])
@permission_classes([IsAdmin])
def active_model_rollback(request):
    services.active_model_rollback(user=request.user)
    return Response(CurationStatusSerializer(selectors.curation_status()).data)


@extend_schema(
    responses=CurationStatusSerializer,
    description="Where curation stands: VIPs, chunk, active model and key metrics, queue sizes, gate.",
)
@api_view(["GET"])
@permission_classes([IsAnnotator])
def curation_status(request):
    return Response(CurationStatusSerializer(selectors.curation_status()).data)
