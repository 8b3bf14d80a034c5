"""What refuses or serialises training writes: the domain errors (each with its code) and the
advisory lock that lets one run start or promotion through at a time."""

from __future__ import annotations

from django.db import connection

from webapp.core.exceptions import Conflict, InvalidTransition

_LOCK_KEY = 0x7EA1_2C0D  # pg_advisory_xact_lock key: run starts and promotions, one at a time


class RunInProgress(Conflict):
    code = "run_in_progress"


class RunNotAcceptable(InvalidTransition):
    code = "run_not_acceptable"


class RunNotRestartable(InvalidTransition):
    code = "run_not_restartable"


class PromotionGateNotMet(Conflict):
    code = "gate_not_met"


class NoActiveModel(InvalidTransition):
    code = "no_active_model"


def serialise_writers() -> None:
    """Inside a transaction: one run start or promotion at a time (PostgreSQL advisory lock;
    SQLite's IMMEDIATE transactions already take the write lock)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
