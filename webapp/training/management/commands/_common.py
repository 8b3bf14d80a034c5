"""What the curation commands share: acting as a named admin, printing metrics."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from webapp.core import roles


def admin_user(username: str | None):
    """The admin a command acts as (recorded on runs, acceptances, chunks); None when not given."""
    if not username:
        return None
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise CommandError(f"No user named '{username}'.")
    if not roles.is_admin(user):
        raise CommandError(f"'{username}' is not an admin: only admins train, promote or set the operating point.")
    return user


def fmt(value, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def metrics_line(metrics: dict | None) -> str:
    if not metrics:
        return "no metrics"
    return (
        f"mean F1 {fmt(metrics.get('mean_f1'))}, precision {fmt(metrics.get('kept_accuracy'))}, "
        f"identification {fmt(metrics.get('identification_accuracy'))}, F1 AUC {fmt(metrics.get('f1_auc'))}, "
        f"ECE {fmt(metrics.get('ece_before'))} -> {fmt(metrics.get('ece_after'))}"
    )
