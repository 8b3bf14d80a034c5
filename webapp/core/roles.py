"""Who may do what. Two roles, stored as Django groups so the admin site can manage them.

- ``annotator``: review queues, relabel faces, add photos for an identity.
- ``admin``: everything an annotator does, plus bulk import, train, promote, choose the operating
  point, export and manage users. Django superusers are admins.
"""

from __future__ import annotations

from typing import TypeAlias

from django.contrib.auth.models import AnonymousUser, Group, User

#: Who does something, as services receive it: a user (``request.user``, a command's ``--user``),
#: Django's AnonymousUser (an unauthenticated request), or None (the system: a task, a migration, a
#: test). Rows record only a logged-in user (:func:`recorded_user`).
Actor: TypeAlias = User | AnonymousUser | None

ANNOTATOR = "annotator"
ADMIN = "admin"
ROLES = (ANNOTATOR, ADMIN)


def recorded_user(user: Actor) -> User | None:
    """``user`` when it is a logged-in user, else None: what a row's user column (``created_by``,
    ``decided_by``, ...) records for an action."""
    return user if user is not None and user.is_authenticated else None


def user_role(user: Actor) -> str | None:
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


def is_admin(user: Actor) -> bool:
    return user_role(user) == ADMIN


def is_annotator(user: Actor) -> bool:
    return user_role(user) in ROLES


def ensure_role_groups() -> None:
    for name in ROLES:
        Group.objects.get_or_create(name=name)
