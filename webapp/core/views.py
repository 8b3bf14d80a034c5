from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.signals import user_logged_in
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action, api_view, permission_classes
from rest_framework.exceptions import AuthenticationFailed, NotAuthenticated, PermissionDenied, Throttled
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from . import accounts, roles, services
from .models import Job
from .permissions import IsAdmin, IsAnnotator
from .schema import QUEUE_UNAVAILABLE
from .security import lockout_message
from .serializers import JobSerializer, TokenRequestSerializer, TokenSerializer, UserSerializer


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

    @extend_schema(request=None, responses={202: JobSerializer, 503: QUEUE_UNAVAILABLE})
    @action(detail=False, methods=["post"], url_path="reassign-splits", permission_classes=[IsAdmin])
    def reassign_splits(self, request):
        """Re-apply the split rule to every group, after FACECURATOR_SPLIT_SEED or _PROPORTIONS changed.

        The rule's settings are the ones new imports use, so old and new faces follow one rule.
        """
        job = services.job_start(kind="maintenance.reassign_splits", user=request.user)
        services.job_require_sent(job)
        return Response(JobSerializer(job, context={"request": request}).data, status=status.HTTP_202_ACCEPTED)


class UserViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Accounts and their roles (admins only)."""

    serializer_class = UserSerializer
    permission_classes = [IsAdmin]
    queryset = get_user_model().objects.prefetch_related("groups").order_by("username")
    filterset_fields = ["is_active"]
    ordering_fields = ["username", "date_joined", "last_login", "id"]

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = accounts.user_create(
            username=data["username"],
            password=data.get("password"),
            role=data.get("role", roles.ANNOTATOR),
            email=data.get("email", ""),
            is_active=data.get("is_active", True),
        )

    def perform_update(self, serializer):
        data = serializer.validated_data
        serializer.instance = accounts.user_update(
            user=serializer.instance,
            actor=self.request.user,
            role=data.get("role"),
            password=data.get("password"),
            email=data.get("email"),
            is_active=data.get("is_active"),
        )

    @extend_schema(request=None, responses={204: None})
    @action(detail=True, methods=["delete"], url_path="token")
    def revoke_token(self, request, pk=None):
        """Revoke this user's API token (their scripts get 401 until they ask for a new one)."""
        accounts.token_revoke(user=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


def _token_answer(token) -> Response:
    data = {"token": token.key, "created": token.created, "expires": accounts.token_expires_at(token=token)}
    return Response(TokenSerializer(data).data)


def _user_from_password(request):
    """The user a username and password name, through Django's backends (django-axes counts failures)."""
    body = TokenRequestSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    username, password = body.validated_data.get("username"), body.validated_data.get("password")
    if not username or not password:
        raise NotAuthenticated("Send a username and password, or log in first.")
    django_request = request._request  # axes marks a locked-out client on the request Django's middleware sees
    user = authenticate(django_request, username=username, password=password)
    if getattr(django_request, "axes_locked_out", False):
        raise Throttled(detail=lockout_message())
    if user is None:
        raise AuthenticationFailed("Wrong username or password.")
    user_logged_in.send(sender=type(user), request=django_request, user=user)  # resets axes' count, sets last_login
    return user


@extend_schema(
    methods=["POST"],
    request=TokenRequestSerializer,
    responses={
        200: TokenSerializer,
        401: OpenApiResponse(description="Wrong username or password"),
        429: OpenApiResponse(description="Locked out after too many failed logins, or throttled"),
    },
)
@extend_schema(methods=["DELETE"], request=None, responses={204: None})
@api_view(["POST", "DELETE"])
@permission_classes([AllowAny])
def token(request):
    """Your API token for scripts: send it as `Authorization: Token <key>`.

    POST with `{"username": ..., "password": ...}` (no session or CSRF needed), or logged in with an
    empty body. Returns your live token, or a new one if you had none or it expired (tokens live
    API_TOKEN_LIFETIME_DAYS). Failed passwords count towards the log-in lock-out. DELETE revokes it.
    """
    if request.method == "DELETE":
        if not request.user.is_authenticated:
            raise NotAuthenticated()
        accounts.token_revoke(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
    user = request.user if request.user.is_authenticated else _user_from_password(request)
    if not roles.is_annotator(user):
        raise PermissionDenied(IsAnnotator.message)
    return _token_answer(accounts.token_get_or_create(user=user))


@extend_schema(request=None, responses=TokenSerializer)
@api_view(["POST"])
@permission_classes([IsAnnotator])
def token_rotate(request):
    """A new API token in place of your current one, which stops working at once."""
    return _token_answer(accounts.token_rotate(user=request.user))
