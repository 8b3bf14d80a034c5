from django.contrib.auth import get_user_model
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.authtoken.models import Token
from rest_framework.decorators import action, api_view, permission_classes
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from . import accounts, roles, services
from .models import Job
from .permissions import IsAdmin, IsAnnotator
from .serializers import JobSerializer, MeSerializer, UserSerializer


class JobViewSet(viewsets.ReadOnlyModelViewSet):
    """Background jobs (imports, training, exports, tagging) with live progress and errors."""

    serializer_class = JobSerializer
    queryset = Job.objects.select_related("created_by")
    filterset_fields = ["kind", "state", "queue"]
    ordering_fields = ["created_at", "id"]

    @extend_schema(request=None, responses=JobSerializer)
    @action(detail=True, methods=["post"], permission_classes=[IsAdmin])
    def cancel(self, request, pk=None):
        job = services.job_cancel(job=self.get_object())
        return Response(JobSerializer(job, context={"request": request}).data)

    @extend_schema(request=None, responses={202: JobSerializer})
    @action(detail=False, methods=["post"], url_path="reassign-splits", permission_classes=[IsAdmin])
    def reassign_splits(self, request):
        """Re-apply the split rule to every group, after FACECURATOR_SPLIT_SEED or _PROPORTIONS changed.

        The rule's settings are the ones new imports use, so old and new faces follow one rule.
        """
        job = services.job_start(kind="maintenance.reassign_splits", user=request.user)
        return Response(JobSerializer(job, context={"request": request}).data, status=status.HTTP_202_ACCEPTED)


class UserViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                  mixins.UpdateModelMixin, viewsets.GenericViewSet):
    """Accounts and their roles (admins only)."""

    serializer_class = UserSerializer
    permission_classes = [IsAdmin]
    queryset = get_user_model().objects.prefetch_related("groups").order_by("username")

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = accounts.user_create(
            username=data["username"], password=data.get("password"), role=data.get("role", roles.ANNOTATOR),
            email=data.get("email", ""), is_active=data.get("is_active", True),
        )

    def perform_update(self, serializer):
        data = serializer.validated_data
        serializer.instance = accounts.user_update(
            user=serializer.instance, role=data.get("role"), password=data.get("password"),
            email=data.get("email"), is_active=data.get("is_active"),
        )


@extend_schema(responses=MeSerializer)
@api_view(["GET"])
@permission_classes([IsAuthenticated])
def me(request):
    """The logged-in user, their role and how many label decisions they made today."""
    from webapp.faces.models import LabelEvent

    start_of_day = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    decisions = LabelEvent.objects.filter(user=request.user, created_at__gte=start_of_day).count()
    return Response(
        {"id": request.user.pk, "username": request.user.get_username(),
         "role": roles.user_role(request.user), "decisions_today": decisions}
    )


@extend_schema(request=None, responses={200: {"type": "object", "properties": {"token": {"type": "string"}}}})
@api_view(["POST"])
@permission_classes([IsAnnotator])
def token(request):
    """Your API token for scripts (created on first call): send it as `Authorization: Token <key>`."""
    key, _ = Token.objects.get_or_create(user=request.user)
    return Response({"token": key.key}, status=status.HTTP_200_OK)
