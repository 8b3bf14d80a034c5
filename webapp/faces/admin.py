from django.contrib import admin

from webapp.core.admin import ReadOnlyAdmin

from .models import Face, LabelEvent


@admin.register(Face)
class FaceAdmin(ReadOnlyAdmin):
    """Read-only: identity, status and split change through the API, which records a LabelEvent."""

    list_display = ["id", "identity", "status", "split", "source", "group_key", "quality", "created_at"]
    list_filter = ["status", "split", "source"]
    search_fields = ["identity__name", "source_path", "group_key"]
    raw_id_fields = ["identity", "photo", "frame", "video", "duplicate_of"]
    exclude = ["embedding"]


@admin.register(LabelEvent)
class LabelEventAdmin(ReadOnlyAdmin):
    """Read-only: the audit log is append-only; undo from the API or the review screens."""

    list_display = ["id", "face", "user", "from_identity", "to_identity", "from_status", "to_status", "created_at"]
    list_filter = ["to_status"]
    raw_id_fields = ["face"]
