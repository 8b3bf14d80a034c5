from django.contrib import admin

from .models import Face, LabelEvent


@admin.register(Face)
class FaceAdmin(admin.ModelAdmin):
    list_display = ["id", "identity", "status", "split", "source", "group_key", "quality", "created_at"]
    list_filter = ["status", "split", "source"]
    search_fields = ["identity__name", "source_path", "group_key"]
    raw_id_fields = ["identity", "photo", "frame", "video", "duplicate_of"]
    exclude = ["embedding"]


@admin.register(LabelEvent)
class LabelEventAdmin(admin.ModelAdmin):
    """Read-only: the audit log is append-only; undo from the API or the review screens."""

    list_display = ["id", "face", "user", "from_identity", "to_identity", "from_status", "to_status", "created_at"]
    list_filter = ["to_status"]
    raw_id_fields = ["face"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False
