"""Who may do what. Two roles, stored as Django groups so the admin site can manage them.

- ``annotator``: review queues, relabel faces, add photos for an identity.
- ``admin``: everything an annotator does, plus bulk import, train, promote, choose the operating
  point, export and manage users. Django superusers are admins.
"""

from __future__ import annotations

from django.contrib.auth.models import Group

ANNOTATOR = "annotator"
ADMIN = "admin"
ROLES = (ANNOTATOR, ADMIN)


def user_role(user) -> str | None:
    """The user's strongest role, or None for anonymous users and users with no role."""
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    if user.is_superuser:
        return ADMIN
    names = {group.name for group in user.groups.all()}
    if ADMIN in names:
        return ADMIN
    if ANNOTATOR in names:
        return ANNOTATOR
    return None


def is_admin(user) -> bool:
    return user_role(user) == ADMIN


def is_annotator(user) -> bool:
    return user_role(user) in ROLES


def ensure_role_groups() -> None:
    for name in ROLES:
        Group.objects.get_or_create(name=name)
