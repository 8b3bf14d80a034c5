"""Import a folder of photos from the server's disk; faces are detected in a job."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from webapp.core.exceptions import DomainError
from webapp.core.models import Job
from webapp.media import services

from ._common import report


class Command(BaseCommand):
    help = (
        "Import the images in DIR (and its sub-folders) as photos and detect their faces. With --identity, "
        "the face matching that person is proposed for them and the other faces are unknown people."
    )

    def add_arguments(self, parser):
        parser.add_argument("dir", help="Folder of photos (or one image file).")
        parser.add_argument("--identity", help="Id or exact name of the person these photos were collected for.")
        parser.add_argument(
            "--background",
            action="store_true",
            help="Store the photos here, then queue face detection for the Celery workers.",
        )

    def handle(self, *args, dir, identity, background, **options):
        root = Path(dir).resolve()
        if root.is_file():
            paths, root = [root], root.parent
        elif root.is_dir():
            paths = sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
        else:
            raise CommandError(f"{dir} is neither a folder nor a file.")
        try:
            hint = services.identity_lookup(ref=identity)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        if background:
            result = services.photos_upload(files=_opened(paths, root), identity=hint)
            for outcome in result.outcomes:
                if outcome.status != "accepted":
                    self.stdout.write(f"  {outcome.status}: {outcome.error}")
            self.stdout.write(
                f"{result.accepted} photos stored; detection queued as job {result.job.pk if result.job else '-'}"
            )
            return
        job = services.job_run_here(
            kind="media.process_photos",
            params={"root": str(root), "identity": hint.pk if hint else None},
            echo=self.stdout.write,
            handler=lambda job, progress: services.photos_import_paths(
                paths=paths, root=root, identity=hint, progress=progress
            ),
        )
        report(self, job)
        if job.state != Job.State.SUCCEEDED:
            raise CommandError(f"import failed: {job.message}")


def _opened(paths, root):
    from django.core.files import File

    for path in paths:
        with open(path, "rb") as handle:
            yield File(handle, name=path.relative_to(root).as_posix())
