"""Import video files from the server's disk: frames sampled, faces detected."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from webapp.core.models import Job
from webapp.media import services

from ._common import report


class Command(BaseCommand):
    help = (
        "Import videos (files, or folders of them): each is sampled into evenly spaced frames "
        "(FACECURATOR_VIDEO_FRAMES, fewer for short videos) and their faces detected."
    )

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", help="Video files or folders.")
        parser.add_argument("--frames", type=int, help="Frames to sample per video (default: the setting).")
        parser.add_argument(
            "--background", action="store_true", help="Store the videos here, then queue one processing job per video."
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
        failed = 0
        for path in files:
            if background:
                with open(path, "rb") as handle:
                    from django.core.files import File

                    result = services.videos_upload(files=[File(handle, name=path.name)])
                outcome = result.outcomes[0]
                self.stdout.write(
                    f"{path.name}: {outcome.status} {outcome.error or ''}"
                    f"{' job ' + str(result.job.pk) if result.job else ''}"
                )
                continue
            self.stdout.write(f"{path.name}")
            job = services.job_run_here(
                kind="media.process_video",
                params={"path": str(path)},
                echo=self.stdout.write,
                handler=lambda job, progress, path=path: services.video_import_path(
                    path=path, progress=progress, frames=frames
                ),
            )
            report(self, job)
            failed += job.state != Job.State.SUCCEEDED or bool((job.result or {}).get("errors"))
        if failed:
            raise CommandError(f"{failed} of {len(files)} videos could not be imported (see above).")
