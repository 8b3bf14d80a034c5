"""Runs, the active model, operating points and chunks change through the API and `manage.py`
commands (accept, promote, operating point): read-only here."""

from django.contrib import admin

from webapp.core.admin import ReadOnlyAdmin

from .models import ActiveModel, Chunk, OperatingPoint, TrainingRun


@admin.register(TrainingRun)
class TrainingRunAdmin(ReadOnlyAdmin):
    """Read-only: runs are started, cancelled and accepted from the API or `manage.py train`."""

    list_display = ["id", "mode", "loss", "chunk", "job", "device", "created_by", "created_at", "finished_at"]
    list_filter = ["mode", "loss"]
    list_select_related = ["job", "created_by"]
    exclude = ["curves"]


@admin.register(ActiveModel)
class ActiveModelAdmin(ReadOnlyAdmin):
    list_display = ["id", "run", "accepted_by", "automatic", "accepted_at"]


@admin.register(OperatingPoint)
class OperatingPointAdmin(ReadOnlyAdmin):
    list_display = ["id", "run", "target_precision", "threshold", "set_by", "set_at"]


@admin.register(Chunk)
class ChunkAdmin(ReadOnlyAdmin):
    list_display = ["number", "promoted_by", "promoted_at", "overridden", "run"]
