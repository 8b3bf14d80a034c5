"""Back up the database and the media folder into a new folder (see webapp/core/backups.py)."""

from django.core.management.base import BaseCommand, CommandError

from webapp.core.backups import backup_create
from webapp.core.exceptions import DomainError


class Command(BaseCommand):
    help = (
        "Write a backup to DIR (must not exist): database.json (every table), media/ (a copy of MEDIA_ROOT "
        "when media are on local disk) and backup.json (migrations, row counts, media checksums). Written to "
        "a temporary folder and renamed, so DIR is complete or absent. Media on S3: database only."
    )

    def add_arguments(self, parser):
        parser.add_argument("dir", help="The backup folder to create.")

    def handle(self, *args, **options):
        try:
            backup_create(target=options["dir"], out=self.stdout.write)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
