"""Versions are frozen and builds are made by jobs: the admin site shows them, never edits them.
Deleting is off too: it would drop rows and leave their stored files behind."""

from django.contrib import admin

from webapp.core.admin import ReadOnlyAdmin

from .models import DatasetVersion, ExportBuild, ExportFile


@admin.register(DatasetVersion)
class DatasetVersionAdmin(ReadOnlyAdmin):
    list_display = ["id", "name", "state", "face_count", "class_count", "content_hash", "created_by", "created_at"]
    list_filter = ["state"]
    search_fields = ["name", "content_hash"]


class ExportFileInline(admin.TabularInline):
    model = ExportFile
    fields = ["name", "size", "sha256", "storage_name"]
    readonly_fields = ["name", "size", "sha256", "storage_name"]  # every field shown, none edited
    extra = 0
    can_delete = False


@admin.register(ExportBuild)
class ExportBuildAdmin(ReadOnlyAdmin):
    list_display = ["id", "version", "format", "shard_size", "state", "total_bytes", "finished_at"]
    list_filter = ["format", "state"]
    raw_id_fields = ["version", "job"]
    inlines = [ExportFileInline]
