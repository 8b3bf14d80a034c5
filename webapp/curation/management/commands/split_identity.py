"""Move chosen faces of an identity to a new identity or an existing one."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from webapp.core.exceptions import DomainError
from webapp.curation import services

from ._common import describe, identity_id, user_named


def _face_ids(text: str) -> list[int]:
    try:
        return [int(part) for part in text.replace("\n", ",").replace(" ", ",").split(",") if part.strip()]
    except ValueError as exc:
        raise CommandError(f"Face ids must be integers: {exc}") from exc


class Command(BaseCommand):
    help = (
        "Split identity SOURCE (id or name): move the given faces to --new-name (a new identity) or --into (an "
        "existing one). Undo with undo_identity_operation."
    )

    def add_arguments(self, parser):
        parser.add_argument("source", help="Identity whose faces move (id or name).")
        faces = parser.add_mutually_exclusive_group(required=True)
        faces.add_argument("--faces", help="Comma-separated face ids.")
        faces.add_argument("--faces-file", help="A file of face ids (one per line or comma-separated).")
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--new-name", help="Create a new identity with this name for the faces.")
        target.add_argument("--into", help="An existing identity (id or name) for the faces.")
        parser.add_argument(
            "--status", choices=["unverified", "verified"], help="Set the moved faces' status (default: keep it)."
        )
        parser.add_argument("--reason", default="")
        parser.add_argument("--user", help="Username recorded as the author.")

    def handle(self, *args, source, faces, faces_file, new_name, into, status, reason, user, **options):
        ids = _face_ids(faces if faces is not None else Path(faces_file).read_text())
        try:
            record = services.identity_split(
                source_id=identity_id(source),
                face_ids=ids,
                into_id=identity_id(into) if into else None,
                new_name=new_name,
                status=status,
                user=user_named(user),
                reason=reason,
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(self.style.SUCCESS(f"split {describe(record)}"))
