from django.contrib import admin

from .models import Decision, Item, Queue


@admin.register(Queue)
class QueueAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "title", "run", "chunk", "is_open", "created_at"]
    list_filter = ["kind", "is_open"]
    raw_id_fields = ["run", "chunk"]


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ["id", "queue", "face", "identity", "score", "state", "leased_to", "leased_until"]
    list_filter = ["state", "queue__kind"]
    list_select_related = ["queue", "identity", "leased_to"]
    raw_id_fields = ["queue", "face", "identity", "leased_to"]


@admin.register(Decision)
class DecisionAdmin(admin.ModelAdmin):
    """Read-only: decisions are recorded by the review API, with their label events."""

    list_display = ["id", "face", "user", "action", "identity", "operation", "undone", "created_at"]
    list_filter = ["action", "undone"]
    raw_id_fields = ["item", "face", "identity", "label_event"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False
