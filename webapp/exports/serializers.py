from django.urls import reverse
from rest_framework import serializers

from webapp.core.params import DB_INT_MAX
from webapp.core.serializers import username_field
from webapp.faces.models import Face

from .filters import FILTER_FIELDS, STATUS_CHOICES, STATUS_VERIFIED
from .layout import FROZEN_COLUMNS
from .models import DatasetVersion, ExportBuild, ExportFile, VersionFace
from .services import DEFAULT_SHARD_SIZE, MAX_SHARD_SIZE


class VersionCreateSerializer(serializers.Serializer):
    """A new dataset version: a name and the filter that selects its faces. Unknown fields are refused."""

    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    distractors = serializers.BooleanField(
        required=False,
        default=False,
        help_text="false: VIPs only. true: also candidate identities and unknown people, under the label `_distractor`.",
    )
    status = serializers.ChoiceField(
        choices=list(STATUS_CHOICES),
        required=False,
        default=STATUS_VERIFIED,
        help_text="verified: verified faces only. non_excluded: unverified and verified (never not_a_face or excluded).",
    )
    chunks = serializers.ListField(
        child=serializers.IntegerField(min_value=0, max_value=DB_INT_MAX),
        required=False,
        default=list,
        help_text="VIP chunks to keep (empty: all). VIPs of other chunks are left out.",
    )
    splits = serializers.ListField(
        child=serializers.ChoiceField(choices=Face.Split.choices),
        required=False,
        default=list,
        help_text="Splits to keep (empty: all).",
    )
    sources = serializers.ListField(
        child=serializers.ChoiceField(choices=Face.Source.choices),
        required=False,
        default=list,
        help_text="Face sources to keep (empty: all).",
    )

    def to_internal_value(self, data):
        if hasattr(data, "keys"):
            unknown = sorted(set(data.keys()) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {
                        key: [f"Unknown filter '{key}'; allowed: {', '.join(FILTER_FIELDS)} (and name)."]
                        for key in unknown
                    }
                )
        return super().to_internal_value(data)


class BuildRequestSerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=ExportBuild.Format.choices)
    shard_size = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_SHARD_SIZE,
        help_text=f"Samples per WebDataset shard (default {DEFAULT_SHARD_SIZE}); webdataset only.",
    )


class ExportFileSerializer(serializers.ModelSerializer):
    format = serializers.CharField(source="build.format", read_only=True)
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = ExportFile
        fields = ["id", "format", "name", "size", "sha256", "content_type", "download_url", "created_at"]
        read_only_fields = fields

    def get_download_url(self, obj) -> str:
        url = reverse("exportfile-download", kwargs={"pk": obj.pk})
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request else url


class ExportBuildSerializer(serializers.ModelSerializer):
    job_state = serializers.CharField(source="job.state", read_only=True, allow_null=True)
    progress = serializers.FloatField(source="job.progress", read_only=True, allow_null=True)
    files = ExportFileSerializer(many=True, read_only=True)

    class Meta:
        model = ExportBuild
        fields = [
            "id",
            "version",
            "format",
            "shard_size",
            "state",
            "job",
            "job_state",
            "progress",
            "error",
            "total_bytes",
            "files",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields


class ClassCountSerializer(serializers.Serializer):
    class_index = serializers.IntegerField()
    label_key = serializers.CharField(help_text="Folder name in the ImageFolder layout.")
    # A field named like Field.label: DRF's serializer metaclass takes declared fields out of the class, the
    # stubs cannot know that.
    label = serializers.CharField(help_text="The identity's name, or `_distractor`.")  # type: ignore[assignment]
    identity_id = serializers.IntegerField(allow_null=True)
    role = serializers.CharField(help_text="vip or distractor.")
    train = serializers.IntegerField()
    val = serializers.IntegerField()
    test = serializers.IntegerField()
    total = serializers.IntegerField()


class DatasetVersionSerializer(serializers.ModelSerializer):
    created_by = username_field(allow_null=True)
    job_state = serializers.CharField(source="job.state", read_only=True, allow_null=True)
    counts = ClassCountSerializer(many=True, read_only=True)
    builds = ExportBuildSerializer(many=True, read_only=True)

    class Meta:
        model = DatasetVersion
        fields = [
            "id",
            "name",
            "filters",
            "state",
            "job",
            "job_state",
            "error",
            "face_count",
            "class_count",
            "classes",
            "counts",
            "content_hash",
            "builds",
            "created_by",
            "created_at",
            "frozen_at",
        ]
        read_only_fields = fields


class VersionFaceSerializer(serializers.ModelSerializer):
    class Meta:
        model = VersionFace
        # what the version froze, but the crop: an image is a file of the export, not JSON
        fields = [column for column in FROZEN_COLUMNS if column != "crop"]
        read_only_fields = fields


class ChangeExamplesSerializer(serializers.Serializer):
    added = serializers.ListField(child=serializers.DictField())
    removed = serializers.ListField(child=serializers.DictField())
    relabelled = serializers.ListField(child=serializers.DictField())
    moved_split = serializers.ListField(child=serializers.DictField())


class LabelChangesSerializer(serializers.Serializer):
    # A field named like Field.label: DRF's serializer metaclass takes declared fields out of the class, the
    # stubs cannot know that.
    label = serializers.CharField(help_text="The identity's name (as frozen), or the distractor label.")  # type: ignore[assignment]
    added = serializers.IntegerField()
    removed = serializers.IntegerField()
    relabelled_in = serializers.IntegerField(
        help_text="Faces that had another label in `base` and have this one in `other`."
    )
    relabelled_out = serializers.IntegerField(
        help_text="Faces that had this label in `base` and another one in `other`."
    )


class VersionComparisonSerializer(serializers.Serializer):
    base = serializers.IntegerField()
    other = serializers.IntegerField()
    identical = serializers.BooleanField(help_text="Same content hash.")
    added = serializers.IntegerField(help_text="Faces in `other` and not in `base`.")
    removed = serializers.IntegerField(help_text="Faces in `base` and not in `other`.")
    relabelled = serializers.IntegerField(help_text="Faces in both whose label or identity differs.")
    moved_split = serializers.IntegerField(help_text="Faces in both whose split differs.")
    per_identity = LabelChangesSerializer(many=True, help_text="The changes per label, labels sorted.")
    examples = ChangeExamplesSerializer()
