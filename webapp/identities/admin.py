from django.contrib import admin

from .models import Identity, IdentityOperation, IdentitySuggestion


@admin.register(Identity)
class IdentityAdmin(admin.ModelAdmin):
    list_display = ["name", "role", "popularity_rank", "chunk", "merged_into", "updated_at"]
    list_filter = ["role", "chunk"]
    search_fields = ["name", "aliases"]


class ReadOnlyAdmin(admin.ModelAdmin):
    """Written only through the services (merge, split, undo, compute): shown, never edited here."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


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
