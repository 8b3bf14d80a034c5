import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action, api_view, permission_classes
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from webapp.core import roles
from webapp.core.params import IdInFilter

from . import selectors, services
from .models import Face, LabelEvent
from .serializers import (
    FaceLabelResponseSerializer,
    FaceSerializer,
    LabelEventSerializer,
    LabelRequestSerializer,
    MeSerializer,
)


class FaceFilter(django_filters.FilterSet):
    unknown = django_filters.BooleanFilter(
        field_name="identity", lookup_expr="isnull", help_text="true: faces of unknown people only."
    )
    role = django_filters.CharFilter(field_name="identity__role", help_text="vip or candidate.")
    labelled_by = django_filters.CharFilter(method="by_author", help_text="Username: faces whose label they changed.")
    ids = IdInFilter(field_name="id", help_text="Comma-separated face ids.")

    class Meta:
        model = Face
        fields = ["identity", "status", "split", "source", "video", "photo", "frame", "unknown", "role", "group_key"]

    def by_author(self, queryset, name, value):
        return selectors.faces_labelled_by(queryset, username=value)


class FaceViewSet(viewsets.ReadOnlyModelViewSet):
    """Faces with their label, split and source; `label` changes one face's label. The API serves
    ``curation.views.FaceViewSet``, this with the active model's confidence and review queues."""

    serializer_class = FaceSerializer
    filterset_class = FaceFilter
    ordering_fields = ["id", "created_at", "updated_at", "quality", "detector_score"]

    def get_queryset(self):
        return selectors.faces_for_listing()

    @extend_schema(request=LabelRequestSerializer, responses=FaceLabelResponseSerializer)
    @action(detail=True, methods=["post"])
    def label(self, request, pk=None):
        face = self.get_object()
        body = LabelRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        event = services.face_relabel(
            face=face,
            user=request.user,
            identity=data.get("identity", services.UNCHANGED),
            status=data.get("status"),
            reason=data.get("reason", ""),
            expected_version=data.get("expected_version"),
        )
        face.refresh_from_db()
        return Response(
            {"face": FaceSerializer(face).data, "event": LabelEventSerializer(event).data if event else None}
        )


class LabelEventViewSet(viewsets.ReadOnlyModelViewSet):
    """The audit log: who changed which face's label, when, from what to what. Undo writes a new event."""

    serializer_class = LabelEventSerializer
    filterset_fields = ["face", "user", "operation", "to_identity", "from_identity"]
    ordering_fields = ["created_at", "id"]

    def get_queryset(self):
        return selectors.label_events_for_listing()

    @extend_schema(request=None, responses=LabelEventSerializer)
    @action(detail=True, methods=["post"])
    def undo(self, request, pk=None):
        event = self.get_object()
        if not _may_undo(request.user, event):
            raise PermissionDenied("Annotators may only undo their own decisions.")
        undo = services.label_event_undo(event=event, user=request.user)
        return Response(LabelEventSerializer(undo).data)


def _may_undo(user, event: LabelEvent) -> bool:
    return roles.is_admin(user) or event.user_id == user.pk


@extend_schema(responses=MeSerializer)
@api_view(["GET"])
@permission_classes([IsAuthenticated])
def me(request):
    """The logged-in user, their role and how many of their label decisions made today still stand."""
    decisions = selectors.label_decisions_today(user=request.user)
    return Response(
        {
            "id": request.user.pk,
            "username": request.user.get_username(),
            "role": roles.user_role(request.user),
            "decisions_today": decisions,
        }
    )
