from django.contrib import admin

from webapp.core.admin import ReadOnlyAdmin

from .models import Identity, IdentityEvent, IdentityOperation, IdentitySuggestion


@admin.register(Identity)
class IdentityAdmin(ReadOnlyAdmin):
    """Read-only: renames, roles, merges and splits go through the API and its services."""

    list_display = ["name", "role", "popularity_rank", "chunk", "merged_into", "updated_at"]
    list_filter = ["role", "chunk"]
    search_fields = ["name", "aliases"]


@admin.register(IdentityEvent)
class IdentityEventAdmin(ReadOnlyAdmin):
    list_display = ["id", "identity", "user", "created_at"]
    list_select_related = ["identity", "user"]


@admin.register(IdentityOperation)
class IdentityOperationAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "source", "target", "target_created", "user", "created_at", "undone_at"]
    list_filter = ["kind"]
    list_select_related = ["source", "target", "user"]


@admin.register(IdentitySuggestion)
class IdentitySuggestionAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "identity", "other", "score", "status", "updated_at"]
    list_filter = ["kind", "status"]
    list_select_related = ["identity", "other"]
