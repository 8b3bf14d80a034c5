from django.contrib import admin

from .models import Identity


@admin.register(Identity)
class IdentityAdmin(admin.ModelAdmin):
    list_display = ["name", "role", "popularity_rank", "chunk", "merged_into", "updated_at"]
    list_filter = ["role", "chunk"]
    search_fields = ["name", "aliases"]
