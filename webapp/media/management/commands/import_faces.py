"""Import a face folder: root/<identity name>/<image>."""

from django.core.management.base import BaseCommand, CommandError

from webapp.core.exceptions import DomainError
from webapp.core.models import Job
from webapp.media import services

from ._common import report


class Command(BaseCommand):
    help = (
        "Import faces from ROOT/<identity name>/<image>. Identities are created by folder name; "
        "re-running skips files already imported (content hash)."
    )

    def add_arguments(self, parser):
        parser.add_argument("root", help="Folder whose sub-folders are identities.")
        parser.add_argument(
            "--cropped",
            action="store_true",
            help="Images are aligned face crops (e.g. 112x112): embed them without detection.",
        )
        parser.add_argument(
            "--role",
            choices=["vip", "candidate"],
            default="candidate",
            help="Role of the identities this import creates (existing ones keep theirs).",
        )
        parser.add_argument("--popularity", metavar="FILE", help="CSV of name,rank (1 = most popular).")
        parser.add_argument(
            "--background", action="store_true", help="Queue a job for the Celery workers instead of importing here."
        )

    def handle(self, *args, root, cropped, role, popularity, background, **options):
        from pathlib import Path

        root_path = Path(root).resolve()
        try:
            if background:
                job = services.faces_import_start(
                    root=str(root_path),
                    cropped=cropped,
                    role=role,
                    popularity_csv=str(Path(popularity).resolve()) if popularity else None,
                )
                self.stdout.write(f"queued job {job.pk} ({job.kind}); follow it at /api/v1/jobs/{job.pk}/")
                return
            ranks = services.popularity_read_csv(path=popularity) if popularity else None
            services.folder_scan(root=root_path)  # a missing folder fails here, before a job row exists
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        params = {"root": str(root_path), "cropped": cropped, "role": role, "popularity_csv": popularity or ""}
        job = services.job_run_here(
            kind="media.import_faces",
            params=params,
            echo=self.stdout.write,
            handler=lambda job, progress: services.faces_import_folder(
                root=root_path, cropped=cropped, role=role, popularity=ranks, progress=progress
            ),
        )
        report(self, job)
        if job.state != Job.State.SUCCEEDED:
            raise CommandError(f"import failed: {job.message}")
