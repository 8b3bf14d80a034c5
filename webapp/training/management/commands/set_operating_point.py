"""Choose the active model's operating point: a false-tag rate, a target precision or a threshold."""

from django.core.management.base import BaseCommand, CommandError

from webapp.core.exceptions import DomainError
from webapp.training import selectors, services

from ._common import admin_user, fmt


class Command(BaseCommand):
    help = (
        "Set the active model's operating point by false-tag rate on unknown faces (--far 0.001, measured on val "
        "people never used in training), by target precision (read off the validation sweep) or by threshold; "
        "without any, show the trade-off."
    )

    def add_arguments(self, parser):
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--far", type=float, help="Share of unknown faces you accept to see tagged, e.g. 0.001.")
        group.add_argument("--target-precision", type=float)
        group.add_argument("--threshold", type=float)
        parser.add_argument(
            "--unknown-share",
            type=float,
            help="With --far: share of faces you expect to be unknown (default: tagged videos, else 0.9).",
        )
        parser.add_argument("--user", help="The admin to record as choosing it.")

    def handle(self, *args, far, target_precision, threshold, unknown_share, user, **options):
        admin = admin_user(user)
        run = selectors.active_run()
        if run is None:
            raise CommandError("No active model yet: accept a training run first.")
        if unknown_share is not None and far is None:
            raise CommandError("--unknown-share goes with --far.")
        if far is None and target_precision is None and threshold is None:
            self._show_tradeoff(run)
            return
        try:
            point = services.operating_point_set(
                user=admin, far=far, unknown_share=unknown_share, target_precision=target_precision, threshold=threshold
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        expected = point.expected
        if point.estimate:
            self.stdout.write(self.style.SUCCESS(f"run {run.pk}: {_far_sentence(point.estimate)}"))
            if point.reason:
                self.stdout.write(self.style.WARNING(f"  {point.reason}"))
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"run {run.pk}: threshold {point.threshold:.4f}"
                + (f" for target precision {target_precision:g}" if target_precision is not None else "")
            )
        )
        self.stdout.write(
            f"  on validation: precision {fmt(expected.get('precision'))}, identification "
            f"{fmt(expected.get('identification_accuracy'))}, distractors rejected "
            f"{fmt(expected.get('distractor_accuracy'))}, mean F1 {fmt(expected.get('mean_f1'))}"
        )
        if not expected.get("target_reached", True):
            self.stdout.write(self.style.WARNING("  no threshold reaches the target; the most precise one is used"))

    def _show_tradeoff(self, run):
        point = selectors.operating_point_current(run=run)
        self.stdout.write(f"run {run.pk}, current threshold {fmt(point.threshold if point else None, 4)}")
        sweep = selectors.run_sweep(run=run, split="val")
        if sweep is None:
            return
        curves = sweep.as_dict(max_points=12)
        self.stdout.write("  threshold  precision  recall  mean F1")
        for t, p, r, f in zip(
            curves["thresholds"],
            curves["kept_accuracy"],
            curves["identification_accuracy"],
            curves["mean_f1"],
            strict=True,
        ):
            self.stdout.write(f"  {fmt(t, 4):>9}  {fmt(p):>9}  {fmt(r):>6}  {fmt(f):>7}")


def _far_sentence(estimate: dict) -> str:
    """The estimate in one line, with the val faces and people behind it."""
    low, high = estimate["far_interval"]
    precision = "n/a" if estimate["precision"] is None else f"{estimate['precision']:.1%}"
    at_least = "n/a" if estimate["precision_low"] is None else f"{estimate['precision_low']:.1%}"
    return (
        f"threshold {estimate['threshold']:.4f} for a false-tag rate of {estimate['far_used']:.2g} "
        f"(val: {estimate['far_observed']:.2%} of {estimate['n_distractor_faces']} unknown faces from "
        f"{estimate['n_distractor_people']} people, 95% interval {low:.2%}-{high:.2%}, {estimate['method']}); "
        f"VIP faces recognised {estimate['recall']:.1%} of {estimate['n_vip_faces']}; implied precision "
        f"{precision} (at least {at_least}) if {estimate['unknown_share']:.0%} of faces are unknown"
    )
