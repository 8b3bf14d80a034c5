from django.contrib import admin

from .models import ActiveModel, Chunk, OperatingPoint, TrainingRun


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    """Read-only: runs are started, cancelled and accepted from the API or `manage.py train`."""

    list_display = ["id", "mode", "loss", "chunk", "job", "device", "created_by", "created_at", "finished_at"]
    list_filter = ["mode", "loss"]
    list_select_related = ["job", "created_by"]
    exclude = ["curves"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in TrainingRun._meta.fields if f.name != "curves"]

    def has_add_permission(self, request):
        return False


@admin.register(ActiveModel)
class ActiveModelAdmin(admin.ModelAdmin):
    list_display = ["id", "run", "accepted_by", "automatic", "accepted_at"]
    readonly_fields = ["run", "accepted_by", "automatic", "accepted_at"]

    def has_add_permission(self, request):
        return False


@admin.register(OperatingPoint)
class OperatingPointAdmin(admin.ModelAdmin):
    list_display = ["id", "run", "target_precision", "threshold", "set_by", "set_at"]
    readonly_fields = ["run", "target_precision", "threshold", "expected", "set_by", "set_at"]

    def has_add_permission(self, request):
        return False


@admin.register(Chunk)
class ChunkAdmin(admin.ModelAdmin):
    list_display = ["number", "promoted_by", "promoted_at", "overridden", "run"]
    readonly_fields = ["number", "identities", "run", "metrics", "gate", "overridden", "override_reason",
                       "promoted_by", "promoted_at"]

    def has_add_permission(self, request):
        return False
