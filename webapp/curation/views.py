"""The API views that need apps above faces: the identities API's merge, split, undo and suggestion
actions, and the faces list with the active model's confidence and review-queue filter.

They extend ``identities.views.IdentityViewSet`` and ``faces.views.FaceViewSet`` (those apps sit
below faces, training and review and cannot serve them); the router registers these classes, so
the routes stay the same.
"""

import django_filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.response import Response

from webapp.core.exceptions import NotFound
from webapp.core.params import id_parameter, path_id, query_choice, query_id
from webapp.core.permissions import IsAdmin, IsAnnotator
from webapp.core.schema import QUEUE_UNAVAILABLE
from webapp.core.serializers import JobSerializer
from webapp.core.services import job_require_sent, job_start
from webapp.faces import views as face_views
from webapp.identities import selectors as identity_selectors
from webapp.identities import views as identity_views
from webapp.identities.models import IdentitySuggestion
from webapp.identities.serializers import (
    IdentityOperationSerializer,
    IdentitySuggestionSerializer,
    MergeRequestSerializer,
    SplitRequestSerializer,
)
from webapp.review import selectors as review_selectors
from webapp.review.models import Queue

from . import selectors, services
from .serializers import SuggestionComputeRequestSerializer

SUGGESTION_ID = OpenApiParameter("suggestion_id", OpenApiTypes.INT, OpenApiParameter.PATH)
OPERATION_ID = identity_views.OPERATION_ID


class IdentityViewSet(identity_views.IdentityViewSet):
    """People: VIPs and candidates. Annotators read; admins create, rename, reorder, merge and split.

    A merged identity stays as a tombstone: its detail answers with `merged_into` and
    `redirect_to`; listings leave tombstones out unless `merged` or `include_merged` is given.
    """

    # --- merge, split, undo ---------------------------------------------------------------------
    @extend_schema(request=MergeRequestSerializer, responses={201: IdentityOperationSerializer})
    @action(detail=True, methods=["post"], permission_classes=[IsAdmin])
    def merge(self, request, pk=None):
        """Merge this identity (A) into `into` (B): all of A's faces move to B (one label event each, one
        operation id), A's name and aliases become B's aliases, A stays as a tombstone redirecting to B.
        400: into itself; 404: unknown id; 409 `identity_merged`: A or B was merged (a tombstone)."""
        body = MergeRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        record = services.identity_merge(
            source_id=path_id(pk, "identity"),
            into_id=data["into"],
            user=request.user,
            reason=data["reason"],
            suggestion_id=data["suggestion"],
        )
        return Response(IdentityOperationSerializer(record).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=SplitRequestSerializer, responses={201: IdentityOperationSerializer})
    @action(detail=True, methods=["post"], permission_classes=[IsAdmin])
    def split(self, request, pk=None):
        """Move the chosen faces of this identity (A) to an existing identity (`into`) or a new one (`new_name`).
        400: a face that is not A's, no faces, both or neither of into/new_name, into A; 404: unknown identity;
        409: `new_name` already taken, or A or `into` was merged (`identity_merged`)."""
        body = SplitRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        record = services.identity_split(
            source_id=path_id(pk, "identity"),
            face_ids=data["faces"],
            into_id=data["into"],
            new_name=data["new_name"],
            status=data["status"],
            user=request.user,
            reason=data["reason"],
            suggestion_id=data["suggestion"],
        )
        return Response(IdentityOperationSerializer(record).data, status=status.HTTP_201_CREATED)

    @extend_schema(parameters=[OPERATION_ID], request=None, responses=IdentityOperationSerializer)
    @action(
        detail=False,
        methods=["post"],
        url_path=r"operations/(?P<operation_id>[^/.]+)/undo",
        permission_classes=[IsAdmin],
        filter_backends=[],
    )
    def undo_operation(self, request, operation_id=None):
        """Undo a merge or split: every moved face gets its previous identity and status back (new label
        events), the identities' aliases, roles and tombstones are restored; a new identity made by a split
        becomes a tombstone redirecting to the split identity. 409: already undone, a face changed since, or a
        later operation on the same identities (undo that first)."""
        record = services.identity_operation_undo(
            operation_id=path_id(operation_id, "identity operation"), user=request.user
        )
        record = identity_selectors.identity_operations_for_listing().get(pk=record.pk)
        return Response(IdentityOperationSerializer(record).data)

    # --- suggestions ------------------------------------------------------------------------------
    def _suggestion_response(self, suggestions, *, many: bool):
        items = list(suggestions) if many else [suggestions]
        context = {"crops": selectors.suggestion_example_crops(suggestions=items)}
        return IdentitySuggestionSerializer(suggestions, many=many, context=context).data

    @extend_schema(
        responses=IdentitySuggestionSerializer(many=True),
        parameters=[
            OpenApiParameter("kind", OpenApiTypes.STR, enum=IdentitySuggestion.Kind.values),
            OpenApiParameter(
                "status", OpenApiTypes.STR, enum=IdentitySuggestion.Status.values, description="Default: open."
            ),
            id_parameter("identity", "Suggestions about this identity."),
        ],
    )
    @action(detail=False, methods=["get"], permission_classes=[IsAnnotator], filter_backends=[])
    def suggestions(self, request):
        """Merge and split suggestions, most likely first (highest score). Each has both sides' example faces
        (ids and crop URLs) to show side by side, and for a split both clusters' face ids."""
        params = request.query_params
        queryset = identity_selectors.identity_suggestions_for_listing(
            kind=query_choice(params, "kind", choices=IdentitySuggestion.Kind.values),
            status=query_choice(
                params, "status", choices=IdentitySuggestion.Status.values, default=IdentitySuggestion.Status.OPEN
            ),
            identity_id=query_id(params, "identity"),
        )
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(self._suggestion_response(page, many=True))

    @extend_schema(parameters=[SUGGESTION_ID], responses=IdentitySuggestionSerializer)
    @action(
        detail=False,
        methods=["get"],
        url_path=r"suggestions/(?P<suggestion_id>[0-9]+)",
        permission_classes=[IsAnnotator],
        filter_backends=[],
    )
    def suggestion(self, request, suggestion_id=None):
        found = (
            identity_selectors.identity_suggestions_for_listing()
            .filter(pk=path_id(suggestion_id, "suggestion"))
            .first()
        )
        if found is None:
            raise NotFound(f"No suggestion with id {suggestion_id}.")
        return Response(self._suggestion_response(found, many=False))

    @extend_schema(parameters=[SUGGESTION_ID], request=None, responses=IdentitySuggestionSerializer)
    @action(
        detail=False,
        methods=["post"],
        url_path=r"suggestions/(?P<suggestion_id>[0-9]+)/dismiss",
        permission_classes=[IsAdmin],
        filter_backends=[],
    )
    def dismiss_suggestion(self, request, suggestion_id=None):
        """Close a suggestion as wrong; the same pair (merge) or identity (split) is not suggested again."""
        services.identity_suggestion_dismiss(suggestion_id=path_id(suggestion_id, "suggestion"), user=request.user)
        found = identity_selectors.identity_suggestions_for_listing().get(pk=path_id(suggestion_id, "suggestion"))
        return Response(self._suggestion_response(found, many=False))

    @extend_schema(request=SuggestionComputeRequestSerializer, responses={202: JobSerializer, 503: QUEUE_UNAVAILABLE})
    @action(
        detail=False, methods=["post"], url_path="suggestions/compute", permission_classes=[IsAdmin], filter_backends=[]
    )
    def compute_suggestions(self, request):
        """Start a job (`identities.compute_suggestions`) that recomputes merge and split suggestions over every
        active identity's faces; with `run`, that training run's confusion adds to the merge evidence."""
        body = SuggestionComputeRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        job = job_start(
            kind="identities.compute_suggestions", params={"run": body.validated_data["run"]}, user=request.user
        )
        job_require_sent(job)
        return Response(JobSerializer(job, context={"request": request}).data, status=status.HTTP_202_ACCEPTED)


class FaceFilter(face_views.FaceFilter):
    queue_kind = django_filters.ChoiceFilter(
        choices=Queue.Kind.choices,
        method="in_queue",
        help_text="Faces waiting in an open review queue of this kind (why they are queued).",
    )
    confidence_min = django_filters.NumberFilter(
        field_name="model_confidence",
        lookup_expr="gte",
        help_text="The active model's confidence at least this (faces it never scored are left out).",
    )
    confidence_max = django_filters.NumberFilter(
        field_name="model_confidence", lookup_expr="lte", help_text="The active model's confidence at most this."
    )

    def in_queue(self, queryset, name, value):
        return review_selectors.faces_in_open_queue(queryset, kind=value)


class FaceViewSet(face_views.FaceViewSet):
    """Faces with their label, split and source; `label` changes one face's label."""

    filterset_class = FaceFilter
    ordering_fields = ["id", "created_at", "updated_at", "quality", "detector_score", "model_confidence"]

    def get_queryset(self):
        return selectors.faces_for_listing()
