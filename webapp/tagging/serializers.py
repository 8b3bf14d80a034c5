from rest_framework import serializers

from webapp.core.params import IdField
from webapp.core.serializers import username_field
from webapp.media import serializers as media_serializers

from .models import FacePrediction, TagEvidence, VideoTag
from .selectors import SCOPES


class EvidenceSerializer(serializers.ModelSerializer):
    """A supporting frame: where it is in the video, its image, and the face that supports the tag."""

    frame_index = serializers.IntegerField(source="frame.index", read_only=True)
    timestamp = serializers.FloatField(source="frame.timestamp", read_only=True)
    image_url = serializers.SerializerMethodField()
    box = serializers.JSONField(source="face.box", read_only=True, help_text="[x, y, w, h] in frame pixels.")
    crop_url = serializers.SerializerMethodField()
    face_status = serializers.CharField(source="face.status", read_only=True)
    face_identity = serializers.IntegerField(source="face.identity_id", read_only=True, allow_null=True)

    class Meta:
        model = TagEvidence
        fields = [
            "rank",
            "frame",
            "frame_index",
            "timestamp",
            "image_url",
            "face",
            "box",
            "crop_url",
            "confidence",
            "face_status",
            "face_identity",
        ]
        read_only_fields = fields

    def get_image_url(self, obj) -> str | None:
        return obj.frame.image.url if obj.frame.image else None

    def get_crop_url(self, obj) -> str | None:
        return obj.face.crop.url if obj.face.crop else None


class VideoTagSerializer(serializers.ModelSerializer):
    video_name = serializers.CharField(source="video.original_name", read_only=True)
    identity_name = serializers.CharField(source="identity.name", read_only=True)
    margin = serializers.FloatField(read_only=True, help_text="Confidence minus threshold: small means uncertain.")
    reviewed_by = username_field(allow_null=True)

    class Meta:
        model = VideoTag
        fields = [
            "id",
            "video",
            "video_name",
            "identity",
            "identity_name",
            "status",
            "confidence",
            "threshold",
            "margin",
            "min_frames",
            "frame_count",
            "run",
            "job",
            "created_at",
            "reviewed_by",
            "reviewed_at",
            "review_note",
            "label_operation",
        ]
        read_only_fields = fields


class VideoTagDetailSerializer(VideoTagSerializer):
    evidence = EvidenceSerializer(many=True, read_only=True, help_text="Supporting frames, most confident first.")

    class Meta(VideoTagSerializer.Meta):
        fields = [*VideoTagSerializer.Meta.fields, "evidence"]
        read_only_fields = fields


class ReviewTagSerializer(VideoTagSerializer):
    evidence = EvidenceSerializer(
        source="evidence_preview",
        many=True,
        read_only=True,
        help_text="The best supporting frames (all of them at /tags/{id}/).",
    )

    class Meta(VideoTagSerializer.Meta):
        fields = [*VideoTagSerializer.Meta.fields, "evidence"]
        read_only_fields = fields


class TagDecisionRequestSerializer(serializers.Serializer):
    faces = serializers.ListField(
        child=IdField(),
        required=False,
        allow_empty=True,
        max_length=10000,
        help_text="Confirm only: the supporting faces to verify (default: all of them).",
    )
    note = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class TagDecisionResponseSerializer(serializers.Serializer):
    tag = VideoTagSerializer()
    label_events = serializers.IntegerField(help_text="Faces that became verified faces of the identity.")
    skipped = serializers.ListField(child=serializers.DictField(), help_text="Supporting faces left alone, and why.")


class TaggingStartSerializer(serializers.Serializer):
    scope = serializers.ChoiceField(
        choices=SCOPES,
        required=False,
        help_text="untagged: never tagged; outdated: not tagged by the model and threshold "
        "in force; all: every processed video.",
    )
    videos = serializers.ListField(child=IdField(), required=False, allow_empty=False, max_length=10000)

    def validate(self, attrs):
        if ("scope" in attrs) == ("videos" in attrs):
            raise serializers.ValidationError("Send either a scope or a list of videos.")
        return attrs


class TaggingSummarySerializer(serializers.Serializer):
    run = serializers.IntegerField(allow_null=True, help_text="The active model's run.")
    threshold = serializers.FloatField(allow_null=True)
    min_frames = serializers.IntegerField()
    videos = serializers.IntegerField(help_text="Processed videos.")
    untagged = serializers.IntegerField()
    outdated = serializers.IntegerField(
        allow_null=True, help_text="Tagged, but not with the model and threshold in force."
    )
    tags = serializers.DictField(child=serializers.IntegerField(), help_text="Tags by status.")


class FacePredictionSerializer(serializers.ModelSerializer):
    frame = serializers.IntegerField(source="face.frame_id", read_only=True)
    frame_index = serializers.IntegerField(source="face.frame.index", read_only=True)
    timestamp = serializers.FloatField(source="face.frame.timestamp", read_only=True)
    box = serializers.JSONField(source="face.box", read_only=True)
    crop_url = serializers.SerializerMethodField()
    identity_name = serializers.CharField(source="identity.name", read_only=True)

    class Meta:
        model = FacePrediction
        fields = [
            "face",
            "frame",
            "frame_index",
            "timestamp",
            "box",
            "crop_url",
            "label",
            "identity",
            "identity_name",
            "confidence",
            "accepted",
            "run",
        ]
        read_only_fields = fields

    def get_crop_url(self, obj) -> str | None:
        return obj.face.crop.url if obj.face.crop else None


class VideoTagBriefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    identity = serializers.IntegerField(source="identity_id")
    identity_name = serializers.CharField(source="identity.name")
    status = serializers.CharField()
    confidence = serializers.FloatField()


class VideoSerializer(media_serializers.VideoSerializer):  # a video with when it was last tagged and its tags
    tagged_at = serializers.DateTimeField(
        read_only=True, allow_null=True, default=None, help_text="When it was last tagged (null: never)."
    )
    tags = VideoTagBriefSerializer(
        source="standing_tags",
        many=True,
        read_only=True,
        default=list,
        help_text="Its proposed and confirmed tags, most confident first.",
    )

    class Meta(media_serializers.VideoSerializer.Meta):
        # the media fields, with the tags before the job and the creation time (the order the client shows)
        _media = media_serializers.VideoSerializer.Meta.fields
        fields = [*_media[: _media.index("job")], "tagged_at", "tags", *_media[_media.index("job") :]]
        read_only_fields = fields
