import django_filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from webapp.core.exceptions import NotFound
from webapp.core.params import id_parameter, path_id, query_choice, query_id
from webapp.core.permissions import IsAnnotator, ReadAnnotatorWriteAdmin

from . import selectors, services
from .models import Identity, IdentityOperation
from .serializers import (
    IdentityEventSerializer,
    IdentityOperationSerializer,
    IdentitySerializer,
)

OPERATION_ID = OpenApiParameter("operation_id", OpenApiTypes.INT, OpenApiParameter.PATH)


class IdentityFilter(django_filters.FilterSet):
    search = django_filters.CharFilter(field_name="name", lookup_expr="icontains")
    merged = django_filters.BooleanFilter(
        field_name="merged_into",
        lookup_expr="isnull",
        exclude=True,
        help_text="true: merged identities (tombstones) only; false: active ones only. Left out: active ones "
        "only, unless include_merged=true.",
    )
    include_merged = django_filters.BooleanFilter(
        method="filter_include_merged", help_text="true: list merged identities (tombstones) too."
    )

    class Meta:
        model = Identity
        fields = ["role", "chunk", "search", "merged", "include_merged"]

    def filter_include_merged(self, queryset, name, value):
        return queryset  # read by IdentityViewSet.get_queryset; declared here for the API schema


class IdentityViewSet(viewsets.ModelViewSet):
    """People: VIPs and candidates. Annotators read; admins create, rename and reorder (merges, splits
    and suggestions are added by ``curation.views.IdentityViewSet``, which the API serves).

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
        if (
            self.action == "list"
            and "merged" not in params
            and params.get("include_merged", "").lower() not in ("true", "1")
        ):
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
        identity = services.identity_update(
            identity_id=serializer.instance.pk, user=self.request.user, **serializer.validated_data
        )
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
    @action(
        detail=False,
        methods=["get"],
        url_path=r"operations/(?P<operation_id>[^/.]+)",
        permission_classes=[IsAnnotator],
        filter_backends=[],
    )
    def operation(self, request, operation_id=None):
        record = (
            selectors.identity_operations_for_listing().filter(pk=path_id(operation_id, "identity operation")).first()
        )
        if record is None:
            raise NotFound(f"No identity operation with id {operation_id}.")
        return Response(IdentityOperationSerializer(record).data)
