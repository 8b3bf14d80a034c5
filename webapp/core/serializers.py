from django.contrib.auth import get_user_model
from rest_framework import serializers

from . import roles
from .models import Job


class JobSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    duration_seconds = serializers.FloatField(read_only=True, allow_null=True)

    class Meta:
        model = Job
        fields = [
            "id", "kind", "queue", "state", "progress", "message", "params", "result", "error",
            "cancel_requested", "attempts", "created_by", "created_at", "started_at", "finished_at",
            "duration_seconds",
        ]
        read_only_fields = fields


class UserSerializer(serializers.ModelSerializer):
    role = serializers.ChoiceField(choices=[*roles.ROLES, "none"], write_only=False, required=False)
    password = serializers.CharField(write_only=True, required=False, min_length=8)

    class Meta:
        model = get_user_model()
        fields = ["id", "username", "email", "role", "is_active", "password", "last_login", "date_joined"]
        read_only_fields = ["id", "last_login", "date_joined"]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["role"] = roles.user_role(instance) or "none"
        return data


class MeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    role = serializers.CharField(allow_null=True)
    decisions_today = serializers.IntegerField()

