"""Where curation stands, in one screen."""
import json

from django.core.management.base import BaseCommand
from django.core.serializers.json import DjangoJSONEncoder

from webapp.training import selectors

from ._common import fmt, metrics_line


class Command(BaseCommand):
    help = "VIP count, chunk, active model and key metrics, review queue sizes, promotion gate."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print the same data as GET /api/v1/status/.")

    def handle(self, *args, **options):
        status = selectors.curation_status()
        if options["json"]:
            self.stdout.write(json.dumps(status, cls=DjangoJSONEncoder, indent=2))
            return
        self.stdout.write(f"VIPs: {status['vip_count']} (chunk {status['chunk'] or '-'}), "
                          f"candidates: {status['candidate_count']}")
        model = status["active_model"]
        if model is None:
            self.stdout.write("active model: none")
        else:
            point = model["operating_point"] or {}
            self.stdout.write(f"active model: run {model['run']} ({model['mode']}/{model['loss']}, "
                              f"{model['vip_count']} VIPs), threshold {fmt(point.get('threshold'), 4)}")
            self.stdout.write(f"  val: {metrics_line((model['metrics'] or {}).get('val'))}")
        if status["run_in_progress"]:
            flight = status["run_in_progress"]
            self.stdout.write(f"run in progress: {flight['run']} ({flight['state']}, {flight['progress']:.0%})")
        self.stdout.write("review queues:" if status["queues"] else "review queues: none open")
        for queue in status["queues"]:
            self.stdout.write(f"  #{queue['queue']} {queue['kind']}: {queue['open']} open "
                              f"({queue['leased']} leased), {queue['decided']} decided")
        gate = status["gate"]
        self.stdout.write(f"gate: {'passed' if gate['passed'] else 'not met'} - {gate['reason']}")
