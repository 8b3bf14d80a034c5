"""Queues, items and decisions are written by the review services (leases, decisions with their
label events): read-only here."""

from django.contrib import admin

from webapp.core.admin import ReadOnlyAdmin

from .models import Decision, Item, Queue


@admin.register(Queue)
class QueueAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "title", "run", "chunk", "is_open", "created_at"]
    list_filter = ["kind", "is_open"]
    raw_id_fields = ["run", "chunk"]


@admin.register(Item)
class ItemAdmin(ReadOnlyAdmin):
    list_display = ["id", "queue", "face", "identity", "score", "state", "leased_to", "leased_until"]
    list_filter = ["state", "queue__kind"]
    list_select_related = ["queue", "identity", "leased_to"]
    raw_id_fields = ["queue", "face", "identity", "leased_to"]


@admin.register(Decision)
class DecisionAdmin(ReadOnlyAdmin):
    """Read-only: decisions are recorded by the review API, with their label events."""

    list_display = ["id", "face", "user", "action", "identity", "operation", "undone", "created_at"]
    list_filter = ["action", "undone"]
    raw_id_fields = ["item", "face", "identity", "label_event"]
