from rest_framework.permissions import BasePermission

from . import roles


class IsAnnotator(BasePermission):
    """Logged in with the annotator or admin role: read everything, label faces."""

    message = "You need the annotator or admin role."

    def has_permission(self, request, view) -> bool:
        return roles.is_annotator(request.user)


class IsAdmin(BasePermission):
    """Logged in with the admin role: import in bulk, train, promote, export, manage users."""

    message = "Only admins may do this."

    def has_permission(self, request, view) -> bool:
        return roles.is_admin(request.user)


class ReadAnnotatorWriteAdmin(BasePermission):
    """Annotators read; writes need an admin."""

    message = "Only admins may change this."

    def has_permission(self, request, view) -> bool:
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return roles.is_annotator(request.user)
        return roles.is_admin(request.user)
