import django_filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from webapp.core.exceptions import NotFound
from webapp.core.params import id_parameter, path_id, query_choice, query_id
from webapp.core.permissions import IsAdmin, IsAnnotator, ReadAnnotatorWriteAdmin
from webapp.core.schema import QUEUE_UNAVAILABLE
from webapp.core.serializers import JobSerializer
from webapp.core.services import job_require_sent

from . import selectors, services
from .models import Identity, IdentityOperation, IdentitySuggestion
from .serializers import (
    IdentityEventSerializer,
    IdentityOperationSerializer,
    IdentitySerializer,
    IdentitySuggestionSerializer,
    MergeRequestSerializer,
    SplitRequestSerializer,
    SuggestionComputeRequestSerializer,
)

SUGGESTION_ID = OpenApiParameter("suggestion_id", OpenApiTypes.INT, OpenApiParameter.PATH)
OPERATION_ID = OpenApiParameter("operation_id", OpenApiTypes.INT, OpenApiParameter.PATH)


class IdentityFilter(django_filters.FilterSet):
    search = django_filters.CharFilter(field_name="name", lookup_expr="icontains")
    merged = django_filters.BooleanFilter(
        field_name="merged_into", lookup_expr="isnull", exclude=True,
        help_text="true: merged identities (tombstones) only; false: active ones only. Left out: active ones "
                  "only, unless include_merged=true.",
    )
    include_merged = django_filters.BooleanFilter(method="filter_include_merged",
                                                  help_text="true: list merged identities (tombstones) too.")

    class Meta:
        model = Identity
        fields = ["role", "chunk", "search", "merged", "include_merged"]

    def filter_include_merged(self, queryset, name, value):
        return queryset  # read by IdentityViewSet.get_queryset; declared here for the API schema


class IdentityViewSet(viewsets.ModelViewSet):
    """People: VIPs and candidates. Annotators read; admins create, rename, reorder, merge and split.

    A merged identity stays as a tombstone: its detail answers with `merged_into` and
    `redirect_to`; listings leave tombstones out unless `merged` or `include_merged` is given.
    """

    serializer_class = IdentitySerializer
    permission_classes = [ReadAnnotatorWriteAdmin]
    filterset_class = IdentityFilter
    ordering_fields = ["name", "popularity_rank", "created_at", "face_count"]
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        queryset = selectors.identities_with_counts()
        params = self.request.query_params
        if self.action == "list" and "merged" not in params and params.get("include_merged", "").lower() not in ("true", "1"):
            queryset = queryset.filter(merged_into__isnull=True)  # tombstones only on request; detail still finds them
        return queryset

    def get_permissions(self):
        if self.action == "create":  # annotators add candidates (identity_create holds the rule)
            return [IsAnnotator()]
        return super().get_permissions()

    def perform_create(self, serializer):
        identity = services.identity_create(**serializer.validated_data, user=self.request.user)
        serializer.instance = selectors.identities_with_counts().get(pk=identity.pk)  # answered with its counts

    def perform_update(self, serializer):
        """Edits go through ``identity_update``: locked against a merge, recorded (``history``); 409 on a
        merged identity (``identity_merged``)."""
        identity = services.identity_update(identity_id=serializer.instance.pk, user=self.request.user,
                                            **serializer.validated_data)
        serializer.instance = selectors.identities_with_counts().get(pk=identity.pk)

    @extend_schema(responses=IdentityEventSerializer(many=True))
    @action(detail=True, methods=["get"], permission_classes=[IsAnnotator], filter_backends=[])
    def history(self, request, pk=None):
        """Every edit of this identity (rename, aliases, rank, role, notes), newest first: who, when, from, to.
        Its merges and splits are at `operations/?identity=<id>`."""
        identity_id = path_id(pk, "identity")
        if not Identity.objects.filter(pk=identity_id).exists():
            raise NotFound(f"No identity with id {pk}.")
        page = self.paginate_queryset(selectors.identity_events_for_listing(identity_id=identity_id))
        return self.get_paginated_response(IdentityEventSerializer(page, many=True).data)

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
        record = services.identity_merge(source_id=path_id(pk, "identity"), into_id=data["into"], user=request.user,
                                         reason=data["reason"], suggestion_id=data["suggestion"])
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
            source_id=path_id(pk, "identity"), face_ids=data["faces"], into_id=data["into"],
            new_name=data["new_name"], status=data["status"], user=request.user, reason=data["reason"],
            suggestion_id=data["suggestion"],
        )
        return Response(IdentityOperationSerializer(record).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        responses=IdentityOperationSerializer(many=True),
        parameters=[
            id_parameter("identity", "Operations with this identity as source or target."),
            OpenApiParameter("kind", OpenApiTypes.STR, enum=IdentityOperation.Kind.values),
            OpenApiParameter("undone", OpenApiTypes.BOOL),
        ],
    )
    @action(detail=False, methods=["get"], permission_classes=[IsAnnotator], filter_backends=[])
    def operations(self, request):
        """Merges and splits, newest first."""
        params = request.query_params
        undone = params.get("undone")
        queryset = selectors.identity_operations_for_listing(
            identity_id=query_id(params, "identity"),
            kind=query_choice(params, "kind", choices=IdentityOperation.Kind.values),
            undone=None if undone in (None, "") else undone.lower() in ("true", "1"),
        )
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(IdentityOperationSerializer(page, many=True).data)

    @extend_schema(parameters=[OPERATION_ID], responses=IdentityOperationSerializer)
    @action(detail=False, methods=["get"], url_path=r"operations/(?P<operation_id>[^/.]+)",
            permission_classes=[IsAnnotator], filter_backends=[])
    def operation(self, request, operation_id=None):
        record = selectors.identity_operations_for_listing().filter(pk=path_id(operation_id, "identity operation")).first()
        if record is None:
            raise NotFound(f"No identity operation with id {operation_id}.")
        return Response(IdentityOperationSerializer(record).data)

    @extend_schema(parameters=[OPERATION_ID], request=None, responses=IdentityOperationSerializer)
    @action(detail=False, methods=["post"], url_path=r"operations/(?P<operation_id>[^/.]+)/undo",
            permission_classes=[IsAdmin], filter_backends=[])
    def undo_operation(self, request, operation_id=None):
        """Undo a merge or split: every moved face gets its previous identity and status back (new label
        events), the identities' aliases, roles and tombstones are restored; a new identity made by a split
        becomes a tombstone redirecting to the split identity. 409: already undone, a face changed since, or a
        later operation on the same identities (undo that first)."""
        record = services.identity_operation_undo(operation_id=path_id(operation_id, "identity operation"), user=request.user)
        record = selectors.identity_operations_for_listing().get(pk=record.pk)
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
            OpenApiParameter("status", OpenApiTypes.STR, enum=IdentitySuggestion.Status.values,
                             description="Default: open."),
            id_parameter("identity", "Suggestions about this identity."),
        ],
    )
    @action(detail=False, methods=["get"], permission_classes=[IsAnnotator], filter_backends=[])
    def suggestions(self, request):
        """Merge and split suggestions, most likely first (highest score). Each has both sides' example faces
        (ids and crop URLs) to show side by side, and for a split both clusters' face ids."""
        params = request.query_params
        queryset = selectors.identity_suggestions_for_listing(
            kind=query_choice(params, "kind", choices=IdentitySuggestion.Kind.values),
            status=query_choice(params, "status", choices=IdentitySuggestion.Status.values,
                                default=IdentitySuggestion.Status.OPEN),
            identity_id=query_id(params, "identity"),
        )
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(self._suggestion_response(page, many=True))

    @extend_schema(parameters=[SUGGESTION_ID], responses=IdentitySuggestionSerializer)
    @action(detail=False, methods=["get"], url_path=r"suggestions/(?P<suggestion_id>[0-9]+)",
            permission_classes=[IsAnnotator], filter_backends=[])
    def suggestion(self, request, suggestion_id=None):
        found = selectors.identity_suggestions_for_listing().filter(pk=path_id(suggestion_id, "suggestion")).first()
        if found is None:
            raise NotFound(f"No suggestion with id {suggestion_id}.")
        return Response(self._suggestion_response(found, many=False))

    @extend_schema(parameters=[SUGGESTION_ID], request=None, responses=IdentitySuggestionSerializer)
    @action(detail=False, methods=["post"], url_path=r"suggestions/(?P<suggestion_id>[0-9]+)/dismiss",
            permission_classes=[IsAdmin], filter_backends=[])
    def dismiss_suggestion(self, request, suggestion_id=None):
        """Close a suggestion as wrong; the same pair (merge) or identity (split) is not suggested again."""
        services.identity_suggestion_dismiss(suggestion_id=path_id(suggestion_id, "suggestion"), user=request.user)
        found = selectors.identity_suggestions_for_listing().get(pk=path_id(suggestion_id, "suggestion"))
        return Response(self._suggestion_response(found, many=False))

    @extend_schema(request=SuggestionComputeRequestSerializer, responses={202: JobSerializer, 503: QUEUE_UNAVAILABLE})
    @action(detail=False, methods=["post"], url_path="suggestions/compute", permission_classes=[IsAdmin],
            filter_backends=[])
    def compute_suggestions(self, request):
        """Start a job (`identities.compute_suggestions`) that recomputes merge and split suggestions over every
        active identity's faces; with `run`, that training run's confusion adds to the merge evidence."""
        from webapp.core.services import job_start

        body = SuggestionComputeRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        job = job_start(kind="identities.compute_suggestions", params={"run": body.validated_data["run"]},
                        user=request.user)
        job_require_sent(job)
        return Response(JobSerializer(job, context={"request": request}).data, status=status.HTTP_202_ACCEPTED)
