"""Remove media files that no row refers to, once older than the grace period."""

from django.conf import settings
from django.core.management.base import BaseCommand

from webapp.core.sweep import media_sweep


class Command(BaseCommand):
    help = (
        "Delete stored media files (photos, videos, frames, face crops, models, exports) that no row "
        "refers to and that were last modified more than the grace period ago. Local or S3 storage."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="List what would be removed; remove nothing.")
        parser.add_argument(
            "--grace-hours",
            type=float,
            default=None,
            help=f"Keep files younger than this (default FACECURATOR_SWEEP_GRACE_HOURS, "
            f"now {settings.FACECURATOR_SWEEP_GRACE_HOURS:g}).",
        )

    def handle(self, *args, dry_run, grace_hours, **options):
        report = media_sweep(grace_hours=grace_hours, dry_run=dry_run)
        verb = "would remove" if dry_run else "removed"
        for path in report["paths"]:
            self.stdout.write(f"  {verb} {path}")
        more = " (list truncated)" if report.get("truncated") else ""
        self.stdout.write(
            f"{verb} {report['removed']} orphaned files, {report['bytes']} bytes{more}; checked {report['checked']}, "
            f"kept {report['kept_recent']} younger than {report['grace_hours']:g} h"
        )
