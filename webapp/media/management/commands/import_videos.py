"""Import video files from the server's disk: frames sampled, faces detected."""

from contextlib import ExitStack
from pathlib import Path

from django.core.files import File
from django.core.management.base import BaseCommand, CommandError

from webapp.core.models import Job
from webapp.media import services
from webapp.media.models import Video

from ._common import report


class Command(BaseCommand):
    help = (
        "Import videos (files, or folders of them): each is sampled into evenly spaced frames "
        "(FACECURATOR_VIDEO_FRAMES, fewer for short videos) and their faces detected, "
        "FACECURATOR_VIDEOS_PER_BATCH videos at a time (their frames batched together)."
    )

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", help="Video files or folders.")
        parser.add_argument("--frames", type=int, help="Frames to sample per video (default: the setting).")
        parser.add_argument(
            "--background",
            action="store_true",
            help="Store the videos here, then queue their processing (a job per FACECURATOR_VIDEOS_PER_BATCH videos).",
        )

    def handle(self, *args, paths, frames, background, **options):
        files = []
        for item in map(Path, paths):
            if item.is_dir():
                files += sorted(p for p in item.iterdir() if p.suffix.lower() in services.VIDEO_SUFFIXES)
            elif item.is_file():
                files.append(item)
            else:
                raise CommandError(f"{item} is neither a file nor a folder.")
        if background:
            self._queue(files)
            return
        failed = 0
        for _, job in services.videos_import_here(paths=files, frames=frames, echo=self.stdout.write):
            report(self, job)
            videos = len(job.params["paths"]) if "paths" in job.params else 1
            failed += len((job.result or {}).get("errors") or []) if job.state == Job.State.SUCCEEDED else videos
        if failed:
            raise CommandError(f"{failed} of {len(files)} videos could not be imported (see above).")

    def _queue(self, files: list[Path]) -> None:
        """Store the videos here and queue their processing, a job per FACECURATOR_VIDEOS_PER_BATCH of them."""
        for group in services.video_job_groups(files):
            with ExitStack() as stack:
                uploads = [File(stack.enter_context(open(path, "rb")), name=path.name) for path in group]
                result = services.videos_upload(files=uploads)
            jobs = dict(
                Video.objects.filter(pk__in=[o.video for o in result.outcomes if o.video]).values_list("pk", "job")
            )
            for path, outcome in zip(group, result.outcomes, strict=True):
                job = jobs.get(outcome.video) if outcome.status == "accepted" and outcome.video else None
                self.stdout.write(
                    f"{path.name}: {outcome.status} {outcome.error or ''}{' job ' + str(job) if job else ''}"
                )
