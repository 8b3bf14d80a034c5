from django.contrib import admin

from .models import Frame, Photo, Video


@admin.register(Photo)
class PhotoAdmin(admin.ModelAdmin):
    list_display = ["id", "original_name", "status", "identity_hint", "created_at"]
    list_filter = ["status"]
    search_fields = ["original_name", "sha256"]
    raw_id_fields = ["identity_hint", "job"]


@admin.register(Video)
class VideoAdmin(admin.ModelAdmin):
    list_display = ["id", "original_name", "status", "duration", "frame_count", "created_at"]
    list_filter = ["status"]
    search_fields = ["original_name", "sha256"]


@admin.register(Frame)
class FrameAdmin(admin.ModelAdmin):
    list_display = ["id", "video", "index", "timestamp"]
    raw_id_fields = ["video"]
