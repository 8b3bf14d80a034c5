"""Ordering that only ever reaches the fields a view names.

DRF's OrderingFilter falls back, for a view without ``ordering_fields``, to every readable
serializer field: a computed one (the users API's ``role``) then answers 500, and a dotted source
(``created_by.username``) lets a client sort by a related user's columns, which is how one learns
a column's values one comparison at a time. Here a view orders by what it lists and nothing else.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from rest_framework.filters import OrderingFilter


class AllowListOrderingFilter(OrderingFilter):
    def get_valid_fields(self, queryset, view, context=None):
        fields = getattr(view, "ordering_fields", None)
        if fields is None:
            return []
        if fields == "__all__" or "__all__" in fields:
            raise ImproperlyConfigured(f"{type(view).__name__}.ordering_fields must list fields, not '__all__'.")
        return [(field, field) if isinstance(field, str) else tuple(field) for field in fields]
