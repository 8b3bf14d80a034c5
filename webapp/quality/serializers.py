from rest_framework import serializers

from webapp.core.serializers import username_field
from webapp.review.models import Decision
from webapp.review.serializers import QueueSerializer


class RangeQuerySerializer(serializers.Serializer):
    since = serializers.DateTimeField(required=False, help_text="From (default: 30 days before 'until').")
    until = serializers.DateTimeField(required=False, help_text="Up to, excluded (default: now).")


class RangeSerializer(serializers.Serializer):
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()


class GoldScoreSerializer(serializers.Serializer):
    answered = serializers.IntegerField(help_text="Gold faces decided (skips aside) that still count.")
    correct = serializers.IntegerField()
    accuracy = serializers.FloatField(allow_null=True)
    low = serializers.FloatField(allow_null=True, help_text="95% Wilson interval, lower bound.")
    high = serializers.FloatField(allow_null=True, help_text="95% Wilson interval, upper bound.")


class AgreementSerializer(serializers.Serializer):
    pairs = serializers.IntegerField(help_text="Faces this annotator and another one both decided (pairs).")
    rate = serializers.FloatField(allow_null=True)


class QualityDaySerializer(serializers.Serializer):
    day = serializers.DateField()
    decisions = serializers.IntegerField()
    gold = serializers.IntegerField()
    gold_correct = serializers.IntegerField()
    gold_accuracy = serializers.FloatField(allow_null=True)


class AnnotatorQualitySerializer(serializers.Serializer):
    user = serializers.IntegerField()
    username = serializers.CharField()
    decisions = serializers.IntegerField(help_text="Decisions on ordinary items (gold faces aside).")
    gold = GoldScoreSerializer()
    decisions_per_hour = serializers.FloatField(
        allow_null=True,
        help_text="Items decided per hour of work (pauses over 10 minutes between pages are not counted).",
    )
    pages = serializers.IntegerField()
    pages_confirmed_unchanged = serializers.FloatField(
        allow_null=True, help_text="Share of pages whose every item was confirmed."
    )
    agreement = AgreementSerializer()
    flagged = serializers.BooleanField(
        help_text="At least FACECURATOR_QUALITY_MIN_GOLD gold answers, and the gold accuracy's upper bound under "
        "FACECURATOR_QUALITY_FLAG_BELOW."
    )
    held_decisions = serializers.IntegerField(
        help_text="Their decisions waiting for a second annotator or an admin (second opinions, and every "
        "label-changing decision while flagged when FACECURATOR_HOLD_FLAGGED is on)."
    )
    per_day = QualityDaySerializer(many=True)


class QualityReportSerializer(serializers.Serializer):
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    flag_below = serializers.FloatField()
    min_gold = serializers.IntegerField(
        help_text="FACECURATOR_QUALITY_MIN_GOLD: gold answers needed before an annotator can be flagged."
    )
    hold_flagged = serializers.BooleanField(
        help_text="FACECURATOR_HOLD_FLAGGED: a flagged annotator's decisions count only once reviewed."
    )
    second_opinions_queue = serializers.IntegerField(
        allow_null=True,
        help_text="The open 'Second opinions' queue, where held decisions are reviewed (none yet: null).",
    )
    annotators = AnnotatorQualitySerializer(many=True)


class AnnotatorDecisionSerializer(serializers.ModelSerializer):
    user = username_field(allow_null=False)
    queue = serializers.IntegerField(source="item.queue_id", allow_null=True, default=None)
    identity_name = serializers.CharField(source="identity.name", allow_null=True, default=None)
    from_identity = serializers.IntegerField(source="label_event.from_identity_id", allow_null=True, default=None)
    to_identity = serializers.IntegerField(source="label_event.to_identity_id", allow_null=True, default=None)

    class Meta:
        model = Decision
        fields = [
            "id",
            "item",
            "queue",
            "face",
            "user",
            "action",
            "identity",
            "identity_name",
            "from_identity",
            "to_identity",
            "label_event",
            "operation",
            "undone",
            "created_at",
        ]
        read_only_fields = fields


class RangeUndoResultSerializer(serializers.Serializer):
    undone_decisions = serializers.IntegerField()
    undone_label_events = serializers.IntegerField()
    reopened_items = serializers.IntegerField()
    kept_faces = serializers.ListField(
        child=serializers.IntegerField(), help_text="Faces changed since by someone else: left as they are."
    )


class SecondReviewResultSerializer(serializers.Serializer):
    queues = QueueSerializer(many=True)


class HeldRangeSerializer(serializers.Serializer):
    since = serializers.DateTimeField(required=False, help_text="Held decisions made from (default: all).")
    until = serializers.DateTimeField(required=False, help_text="Held decisions made before (default: all).")


class HeldSettleResultSerializer(serializers.Serializer):
    operation = serializers.UUIDField(help_text="Undo it with POST /api/v1/review/operations/{operation}/undo/.")
    settled = serializers.IntegerField(help_text="Held decisions accepted or discarded.")
    label_events = serializers.IntegerField(help_text="Labels changed (accept).")
    reopened_items = serializers.IntegerField(help_text="Items open again in their queues (discard).")
    changed_faces = serializers.ListField(
        child=serializers.IntegerField(),
        help_text="Faces relabelled by someone else since the annotator decided: left waiting (accept).",
    )
