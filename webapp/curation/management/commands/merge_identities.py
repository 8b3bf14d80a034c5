"""Merge identity A into identity B (A's faces move to B, A becomes a tombstone redirecting to B)."""

from django.core.management.base import BaseCommand, CommandError

from webapp.core.exceptions import DomainError
from webapp.curation import services

from ._common import describe, identity_id, user_named


class Command(BaseCommand):
    help = (
        "Merge identity SOURCE into INTO (ids or exact names): every face moves with a label event, SOURCE's "
        "name and aliases become INTO's aliases, SOURCE stays as a tombstone. Undo with undo_identity_operation."
    )

    def add_arguments(self, parser):
        parser.add_argument("source", help="Identity to merge away (id or name).")
        parser.add_argument("into", help="Identity to keep (id or name).")
        parser.add_argument("--reason", default="", help="Why (stored on the operation and its label events).")
        parser.add_argument("--user", help="Username recorded as the author.")

    def handle(self, *args, source, into, reason, user, **options):
        try:
            record = services.identity_merge(
                source_id=identity_id(source), into_id=identity_id(into), user=user_named(user), reason=reason
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            self.style.SUCCESS(f"merged identity {record.source_id} into {record.target_id} ({describe(record)})")
        )
