from rest_framework import serializers

from webapp.core.params import DB_INT_MAX
from webapp.core.serializers import username_field
from webapp.identities.models import Identity

from .models import Face, LabelEvent


class FaceSerializer(serializers.ModelSerializer):
    crop_url = serializers.SerializerMethodField()
    identity_name = serializers.CharField(source="identity.name", read_only=True, allow_null=True)
    model_confidence = serializers.FloatField(
        read_only=True,
        allow_null=True,
        help_text="The active model's calibrated top-VIP confidence (the faces list only; null elsewhere).",
    )

    class Meta:
        model = Face
        fields = [
            "id",
            "crop_url",
            "identity",
            "identity_name",
            "status",
            "split",
            "version",
            "source",
            "photo",
            "frame",
            "video",
            "source_path",
            "group_key",
            "box",
            "landmarks",
            "detector_score",
            "quality",
            "embedding_model",
            "duplicate_of",
            "model_confidence",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_crop_url(self, obj) -> str | None:
        return obj.crop.url if obj.crop else None


class LabelRequestSerializer(serializers.Serializer):
    """A label decision on one face. Leave out `identity` to keep it; send null for 'unknown person'."""

    identity = serializers.PrimaryKeyRelatedField(queryset=Identity.objects.all(), allow_null=True, required=False)
    status = serializers.ChoiceField(choices=Face.Status.choices, required=False)
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
    expected_version = serializers.IntegerField(
        required=False, min_value=0, max_value=DB_INT_MAX, help_text="The version you saw; a changed face answers 409."
    )

    def validate(self, attrs):
        if "identity" not in attrs and "status" not in attrs:
            raise serializers.ValidationError("Send an identity (or null for unknown), a status, or both.")
        return attrs


class LabelEventSerializer(serializers.ModelSerializer):
    user = username_field(allow_null=True)
    from_identity_name = serializers.CharField(source="from_identity.name", read_only=True, allow_null=True)
    to_identity_name = serializers.CharField(source="to_identity.name", read_only=True, allow_null=True)
    undone_by: "serializers.PrimaryKeyRelatedField[LabelEvent]" = serializers.PrimaryKeyRelatedField(
        read_only=True, allow_null=True
    )
    face_crop_url = serializers.SerializerMethodField()

    class Meta:
        model = LabelEvent
        fields = [
            "id",
            "face",
            "face_crop_url",
            "user",
            "from_identity",
            "from_identity_name",
            "to_identity",
            "to_identity_name",
            "from_status",
            "to_status",
            "reason",
            "undoes",
            "undone_by",
            "operation",
            "created_at",
        ]
        read_only_fields = fields

    def get_face_crop_url(self, obj) -> str | None:
        crop = obj.face.crop if obj.face_id else None
        return crop.url if crop else None


class FaceLabelResponseSerializer(serializers.Serializer):
    face = FaceSerializer()
    event = LabelEventSerializer(allow_null=True)


class MeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    role = serializers.CharField(allow_null=True)
    decisions_today = serializers.IntegerField()
