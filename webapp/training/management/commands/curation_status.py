"""Where curation stands, in one screen."""

import json

from django.core.management.base import BaseCommand
from django.core.serializers.json import DjangoJSONEncoder

from webapp.training import selectors

from ._common import fmt


class Command(BaseCommand):
    help = "VIP count, chunk, active model and key metrics, review queue sizes, promotion gate."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print the same data as GET /api/v1/status/.")

    def handle(self, *args, **options):
        status = selectors.curation_status()
        if options["json"]:
            self.stdout.write(json.dumps(status, cls=DjangoJSONEncoder, indent=2))
            return
        self.stdout.write(
            f"VIPs: {status['vip_count']} (chunk {status['chunk'] or '-'}), candidates: {status['candidate_count']}"
        )
        model = status["active_model"]
        if model is None:
            self.stdout.write("active model: none")
        else:
            point = model["operating_point"] or {}
            self.stdout.write(
                f"active model: run {model['run']} ({model['mode']}/{model['loss']}, "
                f"{model['vip_count']} VIPs), threshold {fmt(point.get('threshold'), 4)}"
            )
            headline = model.get("headline")
            if headline:
                self.stdout.write(
                    f"  val {headline['label']}: precision {fmt(headline['precision'])}, recall "
                    f"{fmt(headline['recall'])}, mean F1 {fmt(headline['mean_f1'])}, "
                    f"F1 AUC {fmt(headline['f1_auc'])}"
                )
            if point.get("rule_text"):
                self.stdout.write(f"  threshold {point['rule_text']}")
            estimate = point.get("estimate") or {}
            if point.get("far") is not None and estimate:
                self.stdout.write(
                    f"  at a false-tag rate of {estimate.get('far_used', point['far']):g}: implied precision "
                    f"{fmt(estimate.get('precision'))} (at least {fmt(estimate.get('precision_low'))}) "
                    f"if {estimate['unknown_share']:.0%} of faces are unknown, from "
                    f"{estimate['n_distractor_faces']} val unknown faces of "
                    f"{estimate['n_distractor_people']} people"
                )
        if status["run_in_progress"]:
            flight = status["run_in_progress"]
            self.stdout.write(f"run in progress: {flight['run']} ({flight['state']}, {flight['progress']:.0%})")
        self.stdout.write("review queues:" if status["queues"] else "review queues: none open")
        for queue in status["queues"]:
            worth = f", {queue['worth_a_look']} worth a look" if queue.get("worth_a_look") is not None else ""
            self.stdout.write(
                f"  #{queue['queue']} {queue['kind']}: {queue['open']} open "
                f"({queue['leased']} leased), {queue['decided']} decided{worth}"
            )
        gate = status["gate"]
        self.stdout.write(f"gate: {'passed' if gate['passed'] else 'not met'} - {gate['reason']}")
