from django.contrib import admin

from .models import Job


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "queue", "state", "progress", "message", "created_by", "created_at"]
    list_filter = ["state", "queue", "kind"]
    readonly_fields = [f.name for f in Job._meta.fields]
