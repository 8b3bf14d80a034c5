"""Writes on user accounts: creating users and giving them a role."""
from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction

from . import roles
from .exceptions import Conflict, InvalidTransition


def user_set_role(*, user, role: str) -> None:
    if role not in (*roles.ROLES, "none"):
        raise InvalidTransition(f"Unknown role '{role}'; expected annotator, admin or none.")
    roles.ensure_role_groups()
    user.groups.remove(*Group.objects.filter(name__in=roles.ROLES))
    if role != "none":
        user.groups.add(Group.objects.get(name=role))


def user_create(*, username: str, password: str | None, role: str, email: str = "", is_active: bool = True):
    try:
        with transaction.atomic():
            user = get_user_model().objects.create_user(
                username=username, password=password, email=email, is_active=is_active
            )
            user_set_role(user=user, role=role)
            return user
    except IntegrityError as exc:
        raise Conflict(f"A user named '{username}' already exists.") from exc


def user_update(*, user, role: str | None = None, password: str | None = None, email: str | None = None,
                is_active: bool | None = None):
    with transaction.atomic():
        if role is not None:
            user_set_role(user=user, role=role)
        if password:
            user.set_password(password)
        if email is not None:
            user.email = email
        if is_active is not None:
            user.is_active = is_active
        user.save()
    return user
