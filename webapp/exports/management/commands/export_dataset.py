"""Create (or reuse) a dataset version and build formats of it in this process, no worker needed.

python manage.py export_dataset --name v1 --distractors --chunks 1 2 --format imagefolder parquet
python manage.py export_dataset --version-id 3 --format webdataset --shard-size 500 --out /data/exports
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand, CommandError

from webapp.core.exceptions import DomainError
from webapp.exports import selectors, services
from webapp.exports.filters import STATUS_CHOICES, STATUS_VERIFIED
from webapp.exports.models import DatasetVersion, ExportBuild
from webapp.faces.models import Face


class Command(BaseCommand):
    help = "Freeze a dataset version from a filter (or take --version) and build export formats of it."

    def add_arguments(self, parser):
        parser.add_argument("--version-id", type=int, help="Build formats of this existing version.")
        parser.add_argument("--name", default="")
        parser.add_argument(
            "--distractors", action="store_true", help="Also candidates and unknown people, labelled _distractor."
        )
        parser.add_argument("--status", choices=list(STATUS_CHOICES), default=STATUS_VERIFIED)
        parser.add_argument("--chunks", type=int, nargs="*", default=[])
        parser.add_argument("--splits", nargs="*", choices=Face.Split.values, default=[])
        parser.add_argument("--sources", nargs="*", choices=Face.Source.values, default=[])
        parser.add_argument("--format", nargs="*", choices=ExportBuild.Format.values, default=[], dest="formats")
        parser.add_argument("--shard-size", type=int, default=None)
        parser.add_argument("--out", type=Path, help="Also copy the finished files into this folder.")

    def _progress(self, fraction: float, message: str) -> None:
        if not sys.stderr.isatty():  # a progress line only on a terminal, never \r-lines in a log file
            return
        sys.stderr.write(f"\r{fraction:6.1%} {message:60.60}")
        sys.stderr.flush()

    def handle(self, *args, **options):
        try:
            if options["version_id"]:
                version = DatasetVersion.objects.filter(pk=options["version_id"]).first()
                if version is None:
                    raise CommandError(f"No dataset version {options['version_id']}.")
            else:
                filters = {key: options[key] for key in ("distractors", "status", "chunks", "splits", "sources")}
                version = services.version_create(filters=filters, name=options["name"], start_job=False)
                services.version_freeze(version_id=version.pk, progress=self._progress)
                version.refresh_from_db()
                sys.stderr.write("\n")
            self.stdout.write(
                f"version {version.pk}: {version.face_count} faces, {version.class_count} classes, "
                f"sha256 {version.content_hash}"
            )
            for format in options["formats"]:
                shard_size = options["shard_size"] if format == ExportBuild.Format.WEBDATASET else None
                build, started = services.build_request(
                    version=version, format=format, shard_size=shard_size, start_job=False
                )
                if not started and build.state != ExportBuild.State.READY:
                    self.stdout.write(f"{format}: already being built by job {build.job_id}; skipped")
                    continue
                if started:
                    services.build_run(build_id=build.pk, progress=self._progress)
                    sys.stderr.write("\n")
                for export_file in selectors.version_files(version=version, format=format):
                    self.stdout.write(f"{export_file.sha256}  {format}/{export_file.name}  ({export_file.size} bytes)")
                    if options["out"]:
                        target = options["out"] / f"v{version.pk}" / format / export_file.name
                        target.parent.mkdir(parents=True, exist_ok=True)
                        with default_storage.open(export_file.storage_name, "rb") as source, target.open("wb") as out:
                            shutil.copyfileobj(source, out, 1 << 20)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
