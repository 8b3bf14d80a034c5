"""Promote the next chunk of candidates to VIPs."""

from django.core.management.base import BaseCommand, CommandError

from webapp.core.exceptions import DomainError
from webapp.training import selectors, services

from ._common import admin_user, fmt


class Command(BaseCommand):
    help = (
        "Promote the next FACECURATOR_CHUNK_SIZE candidates (by popularity) to VIPs when the active model passes "
        "the gate; --override-reason promotes anyway and records why."
    )

    def add_arguments(self, parser):
        parser.add_argument("--size", type=int, help="How many candidates (default: FACECURATOR_CHUNK_SIZE).")
        parser.add_argument(
            "--override-reason", default="", help="Promote although the gate is not met, for this reason."
        )
        parser.add_argument("--dry-run", action="store_true", help="Only show the gate and who would be promoted.")
        parser.add_argument("--user", help="The admin to record as promoting.")

    def handle(self, *args, size, override_reason, dry_run, user, **options):
        admin = admin_user(user)
        gate = selectors.gate_status()
        self.stdout.write(
            f"gate: {'passed' if gate['passed'] else 'NOT met'}{'' if gate['required'] else ' (not required)'}"
            f" - {gate['reason']}"
        )
        for check in gate["checks"]:
            self.stdout.write(
                f"  {check['metric']}: {fmt(check['value'])} (minimum {check['minimum']:g})"
                f" {'ok' if check['passed'] else 'FAIL'}"
            )
        if dry_run:
            from django.conf import settings

            names = [i.name for i in selectors.next_chunk_candidates(size=size or settings.FACECURATOR_CHUNK_SIZE)]
            self.stdout.write("would promote: " + (", ".join(names) or "nobody (no candidates left)"))
            return
        try:
            promotion = services.chunk_promote(user=admin, override_reason=override_reason, size=size)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        chunk = promotion.chunk
        self.stdout.write(
            self.style.SUCCESS(
                f"chunk {chunk.number}: promoted {', '.join(i.name for i in promotion.identities)}"
                + (f" (gate overridden: {chunk.override_reason})" if chunk.overridden else "")
            )
        )
        if promotion.review_queue is not None:
            self.stdout.write(
                f"review queue {promotion.review_queue.pk}: {promotion.review_queue.items.count()} faces to verify"
            )
        self.stdout.write(promotion.message)
