"""Train a VIP classifier on the current VIPs and labels."""

import json

from django.core.management.base import BaseCommand, CommandError

from webapp.core.commands import job_follow
from webapp.core.exceptions import DomainError
from webapp.core.models import Job
from webapp.training import selectors, services, tasks
from webapp.training.models import TrainingRun

from ._common import admin_user, fmt, metrics_line


def _option(text: str) -> tuple[str, object]:
    if "=" not in text:
        raise CommandError(f"--option takes NAME=VALUE, got '{text}'.")
    name, raw = text.split("=", 1)
    try:
        return name.strip(), json.loads(raw)
    except json.JSONDecodeError:
        return name.strip(), raw


def _snapshot(run: TrainingRun) -> str:
    counts = run.counts
    return (
        f"{counts.get('total', 0)} faces ({counts.get('vip', 0)} VIP, {counts.get('distractor', 0)} distractor)"
        f"{_left_out(run)}"
    )


def _left_out(run: TrainingRun) -> str:
    left_out = run.counts.get("unsettled_left_out", 0)
    return f" ({left_out} unsettled faces left out)" if left_out else ""


class Command(BaseCommand):
    help = (
        "Start a training run (head on stored embeddings, or finetune) on the current VIPs. By default the run "
        "is queued for a gpu worker; --wait follows it, --here runs it in this process."
    )

    def add_arguments(self, parser):
        parser.add_argument("--mode", choices=["head", "finetune"], default="head")
        parser.add_argument("--loss", help="arcface (default), tsoftmax, me, ce, dce, zlog.")
        parser.add_argument("--epochs", type=int)
        parser.add_argument("--lr", type=float)
        parser.add_argument("--batch-size", type=int)
        parser.add_argument("--hidden", type=int)
        parser.add_argument("--seed", type=int)
        parser.add_argument(
            "--option",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="Any other ml.train.TrainConfig field, e.g. --option noise_folds=3.",
        )
        parser.add_argument(
            "--labels",
            choices=["settled", "all"],
            default="settled",
            help="settled (default): leave out faces waiting for a second opinion or an admin's "
            "word on a disagreement; all: every label as it is.",
        )
        parser.add_argument("--note", default="")
        parser.add_argument("--wait", action="store_true", help="Follow the run until it finishes.")
        parser.add_argument(
            "--here", action="store_true", help="Run in this process (no worker needed); implies --wait."
        )
        parser.add_argument(
            "--allow-concurrent",
            action="store_true",
            help="Start even while another run is in flight (up to FACECURATOR_MAX_CONCURRENT_RUNS).",
        )
        parser.add_argument("--accept", action="store_true", help="Make the run the active model if it succeeds.")
        parser.add_argument("--user", help="The admin to record as starting the run.")
        parser.add_argument(
            "--restart",
            type=int,
            metavar="RUN",
            help="Train this failed or cancelled run again (e.g. its worker was lost) instead of "
            "starting a new one; training options are the run's own.",
        )

    def handle(self, *args, **o):
        user = admin_user(o["user"])
        options = dict(_option(text) for text in o["option"])
        for name in ("epochs", "lr", "batch_size", "hidden", "seed"):
            if o[name] is not None:
                options[name] = o[name]
        try:
            if o["restart"] is not None:
                found = TrainingRun.objects.filter(pk=o["restart"]).first()
                if found is None:
                    raise CommandError(f"No training run {o['restart']}.")
                run = services.training_run_restart(run=found, user=user, dispatch=not o["here"])
            else:
                run = services.training_run_start(
                    user=user,
                    mode=o["mode"],
                    loss=o["loss"],
                    options=options,
                    note=o["note"],
                    labels=o["labels"],
                    allow_concurrent=o["allow_concurrent"],
                    dispatch=not o["here"],
                )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            f"run {run.pk}: {len(run.vips)} VIPs, {run.get_labels_display()}; job {run.job_id}"
            + (f"; {_snapshot(run)}" if run.counts else "; its first step snapshots every usable face")
        )
        if o["here"]:
            tasks.training_run(run.job_id)
        elif not o["wait"]:
            self.stdout.write(f"queued on '{run.job.queue}'; follow it at /api/v1/runs/{run.pk}/")
            return
        job = self._follow(run.job_id)
        run = TrainingRun.objects.select_related("job").get(pk=run.pk)
        if job.state != Job.State.SUCCEEDED:
            raise CommandError(f"run {run.pk} {job.state}: {job.message}")
        self.stdout.write(f"run {run.pk} snapshot: {_snapshot(run)}")
        self.stdout.write(
            self.style.SUCCESS(f"run {run.pk} succeeded on {run.device} in {fmt(run.timings.get('total_s'), 1)} s")
        )
        for split in ("val", "test"):
            self.stdout.write(f"  {split}: {metrics_line(run.metrics.get(split))}")
        weak = [row for row in run.per_class if row.get("diagnosis") != "ok"]
        for row in weak:
            self.stdout.write(
                f"  {row['name']}: {row['diagnosis']} (precision {fmt(row['precision'])}, recall {fmt(row['recall'])})"
            )
        queues = (job.result or {}).get("queues", {})
        self.stdout.write("  review queues: " + ", ".join(f"{kind} {n}" for kind, n in queues.items()))
        if o["accept"]:
            try:
                services.training_run_accept(run=run, user=user)
            except DomainError as exc:
                raise CommandError(exc.message) from exc
            self.stdout.write(self.style.SUCCESS(f"run {run.pk} is now the active model"))
            point = selectors.operating_point_current(run=run)
            if point is not None:
                said = selectors.operating_point_rule_text(point)
                self.stdout.write(f"  operating point: threshold {point.threshold:.4f}, {said}")

    def _follow(self, job_id: int) -> Job:
        return job_follow(job_id=job_id, write=self.stdout.write)
