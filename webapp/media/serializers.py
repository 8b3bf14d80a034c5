from rest_framework import serializers

from .models import Frame, Photo, Video


class PhotoSerializer(serializers.ModelSerializer):
    image_url = serializers.SerializerMethodField()
    face_count = serializers.IntegerField(read_only=True, required=False)

    class Meta:
        model = Photo
        fields = ["id", "original_name", "image_url", "sha256", "width", "height", "identity_hint", "status",
                  "error", "face_count", "job", "created_at"]
        read_only_fields = fields

    def get_image_url(self, obj) -> str | None:
        return obj.image.url if obj.image else None


class VideoSerializer(serializers.ModelSerializer):
    file_url = serializers.SerializerMethodField()
    face_count = serializers.IntegerField(read_only=True, required=False)

    class Meta:
        model = Video
        fields = ["id", "original_name", "file_url", "sha256", "duration", "fps", "width", "height",
                  "frame_count", "codec", "status", "error", "face_count", "job", "created_at"]
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
