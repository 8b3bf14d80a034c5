from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from . import accounts, roles, services
from .models import Job

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def username_field(*, allow_null: bool) -> "serializers.SlugRelatedField[User]":
    """A user shown by username, read-only (``allow_null`` where the user may be gone or unset)."""
    return serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=allow_null)


def request_is_admin(context: dict) -> bool:
    """Whether the serializer's request comes from an admin; asked once per response (a list shares it)."""
    if "request_is_admin" not in context:
        request = context.get("request")
        context["request_is_admin"] = bool(request is not None and roles.is_admin(request.user))
    return context["request_is_admin"]


class JobSerializer(serializers.ModelSerializer):
    """A job. ``error`` is the whole record (traceback) for admins; anyone else (and a serializer
    without a request in its context) gets the short message without server paths, and params and
    result with server paths cut to their last part."""

    created_by = username_field(allow_null=True)
    duration_seconds = serializers.FloatField(read_only=True, allow_null=True)
    error = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = [
            "id",
            "kind",
            "queue",
            "state",
            "progress",
            "message",
            "params",
            "result",
            "error",
            "cancel_requested",
            "attempts",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
            "duration_seconds",
        ]
        read_only_fields = fields

    def get_error(self, obj) -> str:
        return services.job_error_shown(job=obj, is_admin=request_is_admin(self.context))

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if not request_is_admin(self.context):
            data["message"] = services.text_without_paths(data["message"])
            data["params"] = services.data_without_paths(data["params"])
            data["result"] = services.data_without_paths(data["result"])
        return data


class UserSerializer(serializers.ModelSerializer):
    role = serializers.ChoiceField(choices=[*roles.ROLES, "none"], write_only=False, required=False)
    password = serializers.CharField(
        write_only=True,
        required=False,
        style={"input_type": "password"},
        help_text="Checked by the server's password validators (length, common, numeric-only, like the username).",
    )

    class Meta:
        model = get_user_model()
        fields = ["id", "username", "email", "role", "is_active", "password", "last_login", "date_joined"]
        read_only_fields = ["id", "last_login", "date_joined"]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["role"] = roles.user_role(instance) or "none"
        return data

    def validate(self, attrs):
        """A weak password is a field error listing every validator's message (the service checks again)."""
        if attrs.get("password"):
            user = self.instance or get_user_model()(username=attrs.get("username", ""), email=attrs.get("email", ""))
            try:
                accounts.password_validate(password=attrs["password"], user=user)
            except DjangoValidationError as exc:
                raise serializers.ValidationError(exc.message_dict) from exc
        return attrs


class TokenRequestSerializer(serializers.Serializer):
    """Username and password for a script; a logged-in session may send neither."""

    username = serializers.CharField(required=False)
    password = serializers.CharField(required=False, write_only=True, style={"input_type": "password"})


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send as `Authorization: Token <token>`.")
    created = serializers.DateTimeField()
    expires = serializers.DateTimeField()
