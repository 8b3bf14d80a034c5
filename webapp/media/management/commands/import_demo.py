"""Import the demo data set (FACECURATOR_DEMO_DATA) through the same services users run."""

import json
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from webapp.media import services


class Command(BaseCommand):
    help = (
        "Import the demo data: glint24 crops, LFW known people (candidates) and unknown people, "
        "photos and videos. Re-running imports only what is missing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--data", help="Demo data folder (default: FACECURATOR_DEMO_DATA).")
        parser.add_argument("--quick", action="store_true", help="Import a small subset only (tests, smoke runs).")
        parser.add_argument(
            "--per-identity",
            type=int,
            default=None,
            help="Import at most this many images per identity (default: all).",
        )
        parser.add_argument("--json", action="store_true", help="Print the summary as JSON.")

    def handle(self, *args, data, quick, per_identity=None, json: bool = False, **options):
        folder = Path(data or settings.FACECURATOR_DEMO_DATA or "")
        if not str(data or settings.FACECURATOR_DEMO_DATA or "") or not folder.is_dir():
            self.stdout.write(
                "No demo data found (set FACECURATOR_DEMO_DATA or pass --data DIR).\n"
                "Import your own faces instead, from a folder laid out as root/<identity name>/<image>:\n"
                "  python manage.py import_faces /path/to/root            # photos: faces are detected\n"
                "  python manage.py import_faces /path/to/root --cropped  # already aligned face crops\n"
                "  python manage.py import_photos DIR [--identity NAME]   # photos, optionally for one person\n"
                "  python manage.py import_videos FILE_OR_DIR ..."
            )
            return
        started = time.monotonic()
        summary = services.demo_import(
            data_dir=folder, quick=quick, per_identity=per_identity or None, echo=self.stdout.write
        )
        summary["seconds"] = round(time.monotonic() - started, 1)
        if json:
            self.stdout.write(_json(summary))
            return
        totals = summary["totals"]
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data imported in {summary['seconds']} s: {totals['identities']} identities, "
                f"{totals['faces']} faces ({', '.join(f'{k} {v}' for k, v in sorted(totals['faces_by_source'].items()))}; "
                f"{totals['unknown_faces']} of unknown people, {totals['near_duplicates']} near duplicates), "
                f"{totals['photos']} photos, {totals['videos']} video(s), {totals['frames']} frames."
            )
        )
        errors = sum(step["errors"] for step in summary["jobs"].values())
        if errors:
            self.stdout.write(f"{errors} files gave per-file errors (no face found, ...): see each job's result.")


def _json(summary) -> str:
    return json.dumps(summary, indent=2, default=str)
