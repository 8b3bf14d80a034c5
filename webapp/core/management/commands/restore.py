"""Restore a backup made by `manage.py backup` (see webapp/core/backups.py)."""

from django.core.management.base import BaseCommand, CommandError

from webapp.core.backups import backup_restore
from webapp.core.exceptions import DomainError


class Command(BaseCommand):
    help = (
        "Restore DIR (made by `manage.py backup`) into this migrated database and MEDIA_ROOT, after checking "
        "every file's checksum and the migrations. Refuses a database or media folder holding data unless "
        "--force, which replaces them."
    )

    def add_arguments(self, parser):
        parser.add_argument("dir", help="The backup folder.")
        parser.add_argument(
            "--force", action="store_true", help="Replace the data already in the database and the media folder."
        )

    def handle(self, *args, **options):
        try:
            backup_restore(source=options["dir"], force=options["force"], out=self.stdout.write)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
