"""Tag videos with the active model: queue a job for a gpu worker, follow it, or run it here.

python manage.py tag_videos --untagged --wait
python manage.py tag_videos --outdated          # after a new active model or operating point
python manage.py tag_videos --all --here        # every processed video, in this process
python manage.py tag_videos --video 12 --video 13 --wait
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from webapp.core import roles
from webapp.core.commands import job_follow
from webapp.core.exceptions import DomainError
from webapp.core.models import Job
from webapp.tagging import services, tasks


class Command(BaseCommand):
    help = (
        "Tag videos with the active model and its operating threshold. By default the job is queued on the gpu "
        "queue; --wait follows it, --here runs it in this process (no worker needed)."
    )

    def add_arguments(self, parser):
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--all", action="store_true", help="Every processed video (re-tags the tagged ones).")
        which.add_argument("--untagged", action="store_true", help="Processed videos never tagged.")
        which.add_argument(
            "--outdated", action="store_true", help="Videos never tagged or tagged with another model, threshold or k."
        )
        which.add_argument("--video", type=int, action="append", metavar="ID", help="This video (repeatable).")
        parser.add_argument("--wait", action="store_true", help="Follow the job until it finishes.")
        parser.add_argument("--here", action="store_true", help="Run in this process; implies --wait.")
        parser.add_argument("--user", help="The admin to record as starting the job.")

    def handle(self, *args, **o):
        user = self._admin(o["user"])
        scope = "all" if o["all"] else "untagged" if o["untagged"] else "outdated" if o["outdated"] else None
        try:
            job = services.videos_tag_start(
                scope=scope, video_ids=o["video"] if scope is None else None, user=user, dispatch=not o["here"]
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        params = job.params
        self.stdout.write(
            f"job {job.pk}: {scope or 'videos ' + ', '.join(map(str, params['videos']))} with run "
            f"{params['run']} at threshold {params['threshold']:.4f}, k = {params['min_frames']}"
        )
        if o["here"]:
            tasks.tag_videos(job.pk)
        elif not o["wait"]:
            self.stdout.write(f"queued on '{job.queue}'; follow it at /api/v1/jobs/{job.pk}/")
            return
        job = self._follow(job.pk)
        if job.state != Job.State.SUCCEEDED:
            raise CommandError(f"job {job.pk} {job.state}: {job.message}")
        result = job.result
        tags = result.get("tags", {})
        self.stdout.write(
            self.style.SUCCESS(
                f"{result.get('tagged', 0)}/{result.get('videos', 0)} videos tagged in {result.get('seconds', 0):.1f} s "
                f"({result.get('seconds_per_video', 0):.3f} s/video); tags: {tags.get('proposed', 0)} proposed "
                f"({tags.get('kept', 0)} unchanged), {tags.get('removed', 0)} removed, {tags.get('confirmed', 0)} "
                f"already confirmed, {tags.get('suppressed', 0)} suppressed by a rejection"
            )
        )
        for error in result.get("errors", [])[:20]:
            self.stdout.write(f"  video {error['video']}: {error['error']}")

    def _admin(self, username: str | None):
        if not username:
            return None
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named '{username}'.")
        if not roles.is_admin(user):
            raise CommandError(f"'{username}' is not an admin: only admins start tagging jobs.")
        return user

    def _follow(self, job_id: int) -> Job:
        return job_follow(job_id=job_id, write=self.stdout.write)
