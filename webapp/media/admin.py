"""Photos, videos and frames are made by imports and uploads (with their faces): read-only here."""

from django.contrib import admin

from webapp.core.admin import ReadOnlyAdmin

from .models import Frame, Photo, Video


@admin.register(Photo)
class PhotoAdmin(ReadOnlyAdmin):
    list_display = ["id", "original_name", "status", "identity_hint", "created_at"]
    list_filter = ["status"]
    search_fields = ["original_name", "sha256"]
    raw_id_fields = ["identity_hint", "job"]


@admin.register(Video)
class VideoAdmin(ReadOnlyAdmin):
    list_display = ["id", "original_name", "status", "duration", "frame_count", "created_at"]
    list_filter = ["status"]
    search_fields = ["original_name", "sha256"]


@admin.register(Frame)
class FrameAdmin(ReadOnlyAdmin):
    list_display = ["id", "video", "index", "timestamp"]
    raw_id_fields = ["video"]
