from django.db.models import Model
from rest_framework import serializers

from webapp.core.params import DB_INT_MAX, IdField
from webapp.core.serializers import username_field

from .models import Decision, Item, Queue


class SendFacesSerializer(serializers.Serializer):
    faces = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        allow_empty=False,
        max_length=1000,
        help_text="Face ids, in the order to review them.",
    )
    title = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class QueueSerializer(serializers.ModelSerializer):
    # a TrainingRun, typed as any model: training sits above review
    run: "serializers.PrimaryKeyRelatedField[Model]" = serializers.PrimaryKeyRelatedField(
        read_only=True, allow_null=True
    )
    chunk = serializers.IntegerField(source="chunk.number", read_only=True, allow_null=True)
    total_count = serializers.IntegerField(read_only=True)
    open_count = serializers.IntegerField(read_only=True)
    leased_count = serializers.IntegerField(read_only=True)
    decided_count = serializers.IntegerField(read_only=True)
    obsolete_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Queue
        fields = [
            "id",
            "kind",
            "title",
            "run",
            "chunk",
            "is_open",
            "payload",
            "total_count",
            "open_count",
            "leased_count",
            "decided_count",
            "obsolete_count",
            "created_at",
            "closed_at",
        ]
        read_only_fields = fields


class ItemFaceSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    crop_url = serializers.SerializerMethodField()
    identity = serializers.IntegerField(source="identity_id", allow_null=True)
    identity_name = serializers.CharField(source="identity.name", allow_null=True, default=None)
    status = serializers.CharField()
    split = serializers.CharField()
    version = serializers.IntegerField(help_text="Send it back with your decision; a changed face answers 409.")
    # A field named like Field.source: DRF's serializer metaclass takes declared fields out of the class, the
    # stubs cannot know that.
    source = serializers.CharField()  # type: ignore[assignment]
    detector_score = serializers.FloatField(allow_null=True)
    quality = serializers.FloatField(allow_null=True)

    def get_crop_url(self, face) -> str | None:
        return face.crop.url if face.crop else None


class ItemSerializer(serializers.ModelSerializer):
    """A face to review, why it is here, and the model's top-k identities as suggestions (in ``payload``)."""

    kind = serializers.CharField(source="queue.kind", read_only=True)
    face = ItemFaceSerializer(read_only=True)
    identity_name = serializers.CharField(source="identity.name", read_only=True, allow_null=True)
    leased_to = username_field(allow_null=True)

    class Meta:
        model = Item
        fields = [
            "id",
            "queue",
            "kind",
            "score",
            "state",
            "identity",
            "identity_name",
            "payload",
            "face",
            "served_version",
            "leased_to",
            "leased_until",
        ]
        read_only_fields = fields


class NextItemsRequestSerializer(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=200, default=20)


class DecisionRequestSerializer(serializers.Serializer):
    item = IdField()
    action = serializers.ChoiceField(choices=Decision.Action.choices)
    identity = IdField(required=False, allow_null=True, help_text="For relabel: the right identity.")
    version = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=DB_INT_MAX,
        help_text="The face version you saw (default: the version it was served with).",
    )


class DecisionBatchSerializer(serializers.Serializer):
    # many=True passes max_length on to the ListSerializer it makes (DRF >= 3.15); the stubs' __init__ lacks it.
    decisions = DecisionRequestSerializer(many=True, allow_empty=False, max_length=500)  # type: ignore[call-arg]


class DecisionSerializer(serializers.ModelSerializer):
    user = username_field(allow_null=True)

    class Meta:
        model = Decision
        fields = [
            "id",
            "item",
            "face",
            "user",
            "action",
            "identity",
            "served_version",
            "label_event",
            "operation",
            "undone",
            "created_at",
        ]
        read_only_fields = fields


_CREATED_AT = serializers.DateTimeField()


def decisions_data(decisions: list[Decision]) -> list[dict]:
    """What ``DecisionSerializer(decisions, many=True).data`` shows, written out for a page of new
    decisions (their user loaded): the answer to every post of a page, where the ModelSerializer's
    field-by-field machinery cost ~10% of the request's CPU for 40 decisions."""
    return [
        {
            "id": d.pk,
            "item": d.item_id,
            "face": d.face_id,
            "user": d.user.username if d.user_id is not None and d.user is not None else None,
            "action": d.action,
            "identity": d.identity_id,
            "served_version": d.served_version,
            "label_event": d.label_event_id,
            "operation": str(d.operation),
            "undone": d.undone,
            "created_at": _CREATED_AT.to_representation(d.created_at),
        }
        for d in decisions
    ]


class DecisionBatchResultSerializer(serializers.Serializer):
    operation = serializers.UUIDField(
        help_text="Undo the whole page with POST /api/v1/review/operations/{operation}/undo/."
    )
    decisions = DecisionSerializer(many=True)
    label_events = serializers.ListField(child=serializers.IntegerField())


class UndoResultSerializer(serializers.Serializer):
    operation = serializers.UUIDField()
    undone_decisions = serializers.IntegerField()
    undone_label_events = serializers.IntegerField()
    reopened_items = serializers.IntegerField()


class AnnotatorProgressSerializer(serializers.Serializer):
    user = serializers.IntegerField(allow_null=True)
    username = serializers.CharField(allow_null=True)
    decisions = serializers.IntegerField()
    by_action = serializers.DictField(child=serializers.IntegerField())


class ProgressSerializer(serializers.Serializer):
    annotators = AnnotatorProgressSerializer(many=True)
    queues = serializers.ListField(child=serializers.DictField())
