"""System checks that need the database (``manage.py check --database default``, and ``migrate``)."""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Tags, register
from django.core.checks import Warning as CheckWarning
from django.db import connections


@register(Tags.database)
def postgresql_autovacuum_is_on(app_configs: Any = None, databases: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Every lease and decision updates indexed columns, so each leaves a dead row version behind; without
    autovacuum they pile up and decision posts slowed from 42 to 126 ms after one annotator's 60,000
    decisions (README "Running it safely")."""
    found: list[CheckMessage] = []
    for alias in databases or []:
        connection = connections[alias]
        if connection.vendor != "postgresql":
            continue
        with connection.cursor() as cursor:
            cursor.execute("SHOW autovacuum")
            (setting,) = cursor.fetchone()
        if setting != "on":
            found.append(
                CheckWarning(
                    f"PostgreSQL ({alias}) runs with autovacuum off: review and face rows are updated on every "
                    "decision, and the dead rows they leave slow every request until a vacuum clears them.",
                    hint="Set autovacuum = on in postgresql.conf (its default), or VACUUM ANALYZE the review "
                    "and face tables regularly.",
                    id="core.W001",
                )
            )
    return found
