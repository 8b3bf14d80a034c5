"""Writes on user accounts: creating users, giving them a role, their passwords and API tokens.

Who may touch whom: an app admin manages annotators and admins; only a superuser changes a staff or
superuser account (its password above all), so the users API is no way into the Django admin site.
Every password set here passes Django's validators (settings.AUTH_PASSWORD_VALIDATORS).
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import status
from rest_framework.authtoken.models import Token

from . import roles
from .exceptions import Conflict, DomainError, InvalidTransition


class ProtectedAccount(DomainError):
    """An account the acting user may not change (staff and superusers, for anyone but a superuser)."""

    status_code = status.HTTP_403_FORBIDDEN
    code = "protected_account"


def user_is_protected(*, user) -> bool:
    """Staff and superusers reach the Django admin site: only superusers change them."""
    return bool(user.is_staff or user.is_superuser)


def _check_may_change(*, actor, user) -> None:
    if actor is not None and user_is_protected(user=user) and not actor.is_superuser:
        raise ProtectedAccount(f"Only a superuser may change the staff or superuser account '{user.username}'.")


def password_validate(*, password: str, user) -> None:
    """Django's validators; a refusal is a 400 listing every message under ``password``."""
    try:
        password_validation.validate_password(password, user=user)
    except ValidationError as exc:
        raise ValidationError({"password": exc.messages}) from exc


def user_set_role(*, user, role: str) -> None:
    if role not in (*roles.ROLES, "none"):
        raise InvalidTransition(f"Unknown role '{role}'; expected annotator, admin or none.")
    roles.ensure_role_groups()
    user.groups.remove(*Group.objects.filter(name__in=roles.ROLES))
    if role != "none":
        user.groups.add(Group.objects.get(name=role))


def user_create(*, username: str, password: str | None, role: str, email: str = "", is_active: bool = True):
    """A new account with a role; ``password=None`` makes one that cannot log in (tokens only)."""
    if password is not None:
        password_validate(password=password, user=get_user_model()(username=username, email=email))
    try:
        with transaction.atomic():
            user = get_user_model().objects.create_user(
                username=username, password=password, email=email, is_active=is_active
            )
            user_set_role(user=user, role=role)
            return user
    except IntegrityError as exc:
        raise Conflict(f"A user named '{username}' already exists.") from exc


def user_update(
    *,
    user,
    actor=None,
    role: str | None = None,
    password: str | None = None,
    email: str | None = None,
    is_active: bool | None = None,
):
    """Change an account; ``actor`` (the user asking) may be refused a staff or superuser account."""
    _check_may_change(actor=actor, user=user)
    if email is not None:
        user.email = email
    if password:
        password_validate(password=password, user=user)
    with transaction.atomic():
        if role is not None:
            user_set_role(user=user, role=role)
        if password:
            user.set_password(password)
            Token.objects.filter(user=user).delete()  # a new password ends the old scripts' access too
        if is_active is not None:
            user.is_active = is_active
        user.save()
    return user


# --- API tokens --------------------------------------------------------------------------
def token_expires_at(*, token: Token) -> datetime:
    return token.created + settings.API_TOKEN_LIFETIME


def token_is_expired(*, token: Token) -> bool:
    return timezone.now() >= token_expires_at(token=token)


def token_get_or_create(*, user) -> Token:
    """The user's live token, or a new one when there is none or it expired."""
    with transaction.atomic():
        token = Token.objects.select_for_update().filter(user=user).first()
        if token is not None and not token_is_expired(token=token):
            return token
        if token is not None:
            token.delete()
        return Token.objects.create(user=user)


def token_rotate(*, user) -> Token:
    """A new key for the user; the old one stops working at once."""
    with transaction.atomic():
        Token.objects.filter(user=user).delete()
        return Token.objects.create(user=user)


def token_revoke(*, user) -> bool:
    """Delete the user's token (if any); True when there was one."""
    deleted, _ = Token.objects.filter(user=user).delete()
    return deleted > 0
