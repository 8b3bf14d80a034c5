"""Undo a merge or split by its operation id."""

from django.core.management.base import BaseCommand, CommandError

from webapp.core.exceptions import DomainError
from webapp.curation import services

from ._common import describe, user_named


class Command(BaseCommand):
    help = (
        "Undo identity operation ID (a merge or split): faces get their previous identity and status back "
        "through new label events; aliases, roles and tombstones are restored."
    )

    def add_arguments(self, parser):
        parser.add_argument("operation", type=int, help="IdentityOperation id (see identity_suggestions --operations).")
        parser.add_argument("--user", help="Username recorded as the author.")

    def handle(self, *args, operation, user, **options):
        try:
            record = services.identity_operation_undo(operation_id=operation, user=user_named(user))
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(self.style.SUCCESS(f"undid {describe(record)}"))
