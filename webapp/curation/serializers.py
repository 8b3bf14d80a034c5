from rest_framework import serializers

from webapp.core.params import IdField
from webapp.training.models import TrainingRun


class SuggestionComputeRequestSerializer(serializers.Serializer):
    run = IdField(
        required=False,
        allow_null=True,
        default=None,
        help_text="A training run whose model's confusion adds to the merge evidence.",
    )

    def validate_run(self, value):
        if value is not None and not TrainingRun.objects.filter(pk=value).exists():
            raise serializers.ValidationError(f"No training run with id {value}.")
        return value
