"""The Django admin site shows; it does not write around the services.

Every label change is a LabelEvent, every identity operation an IdentityOperation, every decision a
Decision: those rows are written by services only, so the domain models are read-only here
(``ReadOnlyAdmin``). Accounts are editable, but only a superuser changes a staff or superuser account
or grants staff, superuser, groups' permissions or per-user permissions.
"""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from rest_framework.authtoken.models import TokenProxy

from . import accounts
from .models import Job


class ReadOnlyAdmin(admin.ModelAdmin):
    """Shown, never added, edited or deleted here: the API and its services write these rows."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "queue", "state", "progress", "message", "created_by", "created_at"]
    list_filter = ["state", "queue", "kind"]


PRIVILEGE_FIELDS = ("is_staff", "is_superuser", "groups", "user_permissions")

admin.site.unregister(get_user_model())
admin.site.unregister(Group)
admin.site.unregister(TokenProxy)  # keys are secrets: revoke with DELETE /api/v1/users/<id>/token/


@admin.register(get_user_model())
class AccountAdmin(UserAdmin):
    """Staff who are not superusers manage plain accounts only, and grant no privileges."""

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            fields += [name for name in PRIVILEGE_FIELDS if name not in fields]
        return fields

    def _touches_protected(self, request, obj) -> bool:
        return obj is not None and accounts.user_is_protected(user=obj) and not request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and not self._touches_protected(request, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and not self._touches_protected(request, obj)


@admin.register(Group)
class RoleGroupAdmin(GroupAdmin):
    """Groups carry permissions: only superusers change them (roles are given on the users API)."""

    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser
