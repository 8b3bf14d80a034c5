"""Compute and list identity merge/split suggestions (and recent operations)."""

from django.core.management.base import BaseCommand, CommandError

from webapp.core.exceptions import DomainError
from webapp.curation import services
from webapp.identities import selectors


class Command(BaseCommand):
    help = (
        "List open merge and split suggestions, most likely first; --compute recomputes them first (here, or "
        "with --background as a job for the workers); --operations lists recent merges and splits."
    )

    def add_arguments(self, parser):
        parser.add_argument("--compute", action="store_true", help="Recompute suggestions before listing.")
        parser.add_argument("--background", action="store_true", help="With --compute: queue a job instead.")
        parser.add_argument("--run", type=int, help="Training run whose confusion adds to the merge evidence.")
        parser.add_argument("--kind", choices=["merge", "split"])
        parser.add_argument("--status", default="open", choices=["open", "accepted", "dismissed"])
        parser.add_argument("--limit", type=int, default=20)
        parser.add_argument("--operations", action="store_true", help="List recent merges and splits instead.")

    def handle(self, *args, compute, background, run, kind, status, limit, operations, **options):
        if operations:
            for record in selectors.identity_operations_for_listing()[:limit]:
                state = f"undone {record.undone_at:%Y-%m-%d %H:%M}" if record.undone_at else "in force"
                self.stdout.write(
                    f"{record.pk:>6} {record.created_at:%Y-%m-%d %H:%M} {record.kind:5} "
                    f"{record.source_id} '{record.source.name}' -> {record.target_id} "
                    f"'{record.target.name}' ({len(record.face_ids)} faces, {state})"
                )
            return
        if compute:
            if background:
                from webapp.core.services import job_start

                job = job_start(kind="identities.compute_suggestions", params={"run": run})
                self.stdout.write(f"queued job {job.pk} ({job.kind}); follow it at /api/v1/jobs/{job.pk}/")
                return
            try:
                result = services.identity_suggestions_compute(run_id=run)
            except DomainError as exc:
                raise CommandError(exc.message) from exc
            self.stdout.write(
                self.style.SUCCESS(
                    f"examined {result['faces']} faces of {result['identities']} identities: "
                    f"{result['merge']} merge and {result['split']} split suggestions open"
                )
            )
        for suggestion in selectors.identity_suggestions_for_listing(kind=kind, status=status)[:limit]:
            evidence = suggestion.evidence
            if suggestion.kind == "merge":
                assert suggestion.other is not None  # a merge suggestion names two identities
                detail = (
                    f"merge {suggestion.identity_id} '{suggestion.identity.name}' into {suggestion.other_id} "
                    f"'{suggestion.other.name}' (centroid cosine {evidence.get('centroid_cosine')}, "
                    f"neighbour mixing {evidence.get('neighbour_mixing')})"
                )
            else:
                sizes = " + ".join(str(side["faces"]) for side in evidence.get("sides", []))
                detail = (
                    f"split {suggestion.identity_id} '{suggestion.identity.name}' into {sizes} faces "
                    f"(silhouette {evidence.get('silhouette')}, centroid cosine {evidence.get('centroid_cosine')})"
                )
            self.stdout.write(f"{suggestion.pk:>6} {suggestion.score:.3f} {detail}")
