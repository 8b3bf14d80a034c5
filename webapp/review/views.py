"""Review API: queues, leasing the next items, a page of decisions at once, undo, progress."""

import uuid

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action, api_view, permission_classes
from rest_framework.response import Response

from webapp.core.permissions import IsAnnotator

from . import selectors, services
from .checks import review_checks
from .models import Queue
from .serializers import (
    DecisionBatchResultSerializer,
    DecisionBatchSerializer,
    ItemSerializer,
    NextItemsRequestSerializer,
    ProgressSerializer,
    QueueSerializer,
    SendFacesSerializer,
    UndoResultSerializer,
    decisions_data,
)


class QueueFilter(django_filters.FilterSet):
    class Meta:
        model = Queue
        fields = ["kind", "is_open", "run", "chunk"]


class QueueViewSet(viewsets.ReadOnlyModelViewSet):
    """Review queues with their sizes; `next` leases the items to look at, most likely wrong first."""

    serializer_class = QueueSerializer
    permission_classes = [IsAnnotator]
    filterset_class = QueueFilter
    ordering_fields = ["created_at", "id", "open_count"]

    def get_queryset(self):
        if self.action in ("next", "release"):
            return Queue.objects.all()  # leasing needs the queue, not its sizes (a count over all its items)
        return selectors.queues_with_sizes()

    @extend_schema(
        request=SendFacesSerializer,
        responses={201: QueueSerializer},
        description="Send chosen faces to review: a new queue of them, in the order given "
        "(each item claims the face's current identity).",
    )
    @action(detail=False, methods=["post"], url_path="from-faces")
    def from_faces(self, request):
        body = SendFacesSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        queue = services.queue_create_from_faces(
            face_ids=body.validated_data["faces"], user=request.user, title=body.validated_data["title"]
        )
        return Response(QueueSerializer(self.get_queryset().get(pk=queue.pk)).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=NextItemsRequestSerializer,
        responses=ItemSerializer(many=True),
        description="Lease up to `limit` items to you for FACECURATOR_LEASE_SECONDS: your unexpired "
        "leases first (a reload loses nothing), then open items nobody holds.",
    )
    @action(detail=True, methods=["post"], pagination_class=None)
    def next(self, request, pk=None):
        body = NextItemsRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        items = services.queue_next_items(
            queue=self.get_object(), user=request.user, limit=body.validated_data["limit"]
        )
        shown = review_checks().present(items=selectors.items_by_ids([item.pk for item in items]))
        return Response(ItemSerializer(shown, many=True).data)

    @extend_schema(
        request=None,
        responses={200: {"type": "object", "properties": {"released": {"type": "integer"}}}},
        description="Give back the items of this queue leased to you.",
    )
    @action(detail=True, methods=["post"])
    def release(self, request, pk=None):
        return Response({"released": services.leases_release(queue=self.get_object(), user=request.user)})

    @extend_schema(responses=ItemSerializer(many=True), description="The queue's items, most likely wrong first.")
    @action(detail=True, methods=["get"])
    def items(self, request, pk=None):
        queue = self.get_object()
        items = selectors.items_for_listing().filter(queue=queue, gold_serve__isnull=True).order_by("-score", "id")
        if request.query_params.get("state"):
            items = items.filter(state=request.query_params["state"])
        page = self.paginate_queryset(items)
        return self.get_paginated_response(ItemSerializer(page, many=True).data)


@extend_schema(
    request=DecisionBatchSerializer,
    responses={201: DecisionBatchResultSerializer},
    description="Decide a page of items in one request: all or nothing. 409 when an item's face changed "
    "since it was served (the stale ones are listed), was decided already, or is leased to "
    "someone else. The operation id undoes the page.",
)
@api_view(["POST"])
@permission_classes([IsAnnotator])
def decisions(request):
    body = DecisionBatchSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    requests = [
        services.DecisionRequest(
            item_id=d["item"], action=d["action"], identity_id=d.get("identity"), version=d.get("version")
        )
        for d in body.validated_data["decisions"]
    ]
    outcome = services.decisions_apply(user=request.user, requests=requests)
    return Response(
        {
            "operation": outcome.operation,
            "decisions": decisions_data(outcome.decisions),
            "label_events": [event.pk for event in outcome.events],
        },
        status=status.HTTP_201_CREATED,
    )


@extend_schema(
    request=None,
    responses=UndoResultSerializer,
    description="Undo a page of decisions: labels restored (new label events), items reopened for you.",
)
@api_view(["POST"])
@permission_classes([IsAnnotator])
def operation_undo(request, operation: uuid.UUID):
    return Response(services.decision_operation_undo(operation=operation, user=request.user))


@extend_schema(responses=ProgressSerializer, description="Decisions per annotator today, and open queue sizes.")
@api_view(["GET"])
@permission_classes([IsAnnotator])
def progress(request):
    return Response({"annotators": selectors.decisions_per_annotator(), "queues": selectors.queue_sizes_open()})
