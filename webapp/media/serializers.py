from rest_framework import serializers

from webapp.core.schema import QueueUnavailableSerializer

from .models import Frame, Photo, Video


class PhotoSerializer(serializers.ModelSerializer):
    image_url = serializers.SerializerMethodField()
    face_count = serializers.IntegerField(read_only=True, required=False)

    class Meta:
        model = Photo
        fields = [
            "id",
            "original_name",
            "image_url",
            "sha256",
            "width",
            "height",
            "identity_hint",
            "status",
            "error",
            "face_count",
            "job",
            "created_at",
        ]
        read_only_fields = fields

    def get_image_url(self, obj) -> str | None:
        return obj.image.url if obj.image else None


class VideoSerializer(serializers.ModelSerializer):
    file_url = serializers.SerializerMethodField()
    face_count = serializers.IntegerField(read_only=True, required=False)

    class Meta:
        model = Video
        fields = [
            "id",
            "original_name",
            "file_url",
            "sha256",
            "duration",
            "fps",
            "width",
            "height",
            "frame_count",
            "codec",
            "status",
            "error",
            "face_count",
            "job",
            "created_at",
        ]
        read_only_fields = fields

    def get_file_url(self, obj) -> str | None:
        return obj.file.url if obj.file else None


class FrameSerializer(serializers.ModelSerializer):
    image_url = serializers.SerializerMethodField()

    class Meta:
        model = Frame
        fields = ["id", "video", "index", "timestamp", "image_url"]
        read_only_fields = fields

    def get_image_url(self, obj) -> str | None:
        return obj.image.url if obj.image else None


class FileOutcomeSerializer(serializers.Serializer):
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=["accepted", "duplicate", "error"])
    code = serializers.CharField(
        required=False,
        help_text="Why a file was refused: empty, too_large, "
        "not_an_image, too_many_pixels, corrupt, unsupported_video, duplicate, ...",
    )
    error = serializers.CharField(required=False)
    photo = serializers.IntegerField(required=False)
    video = serializers.IntegerField(required=False)


class UploadResponseSerializer(serializers.Serializer):
    job = serializers.IntegerField(allow_null=True, help_text="The job detecting faces (poll /api/v1/jobs/{id}/).")
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    # A field named like Serializer.errors: DRF's serializer metaclass takes declared fields out of the class,
    # the stubs cannot know that.
    errors = serializers.IntegerField()  # type: ignore[assignment]
    files = FileOutcomeSerializer(many=True)


class UploadQueueUnavailableSerializer(QueueUnavailableSerializer):
    """An upload's 503 when the task queue did not take its job: the accepted files are stored all the same,
    and the answer lists them as a 202 would (absent when the database was the unreachable service)."""

    job = serializers.IntegerField(allow_null=True, required=False, help_text="The job saved as queued.")
    accepted = serializers.IntegerField(required=False)
    duplicates = serializers.IntegerField(required=False)
    # A field named like Serializer.errors: DRF's serializer metaclass takes declared fields out of the class,
    # the stubs cannot know that.
    errors = serializers.IntegerField(required=False)  # type: ignore[assignment]
    files = FileOutcomeSerializer(many=True, required=False)


class PhotoUploadSerializer(serializers.Serializer):
    """Multipart form: one or more `files` (or `files[]`), and an optional identity hint."""

    files = serializers.ListField(child=serializers.FileField(allow_empty_file=True), required=False)
    identity = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="Identity id or exact name these photos were collected for. Annotators must give one; "
        "uploads without a hint are bulk imports (admins only).",
    )


class VideoUploadSerializer(serializers.Serializer):
    files = serializers.ListField(child=serializers.FileField(allow_empty_file=True), required=False)


class FaceImportRequestSerializer(serializers.Serializer):
    path = serializers.CharField(
        help_text="Folder on the server, inside one of the import roots "
        "(FACECURATOR_IMPORT_ROOTS): root/<identity name>/<image>."
    )
    cropped = serializers.BooleanField(default=False, help_text="Images are aligned crops: embed without detection.")
    role = serializers.ChoiceField(
        choices=["vip", "candidate"], default="candidate", help_text="Role of identities this import creates."
    )
    popularity = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="CSV on the server (inside an import root) with name,rank lines (1 = most popular).",
    )
