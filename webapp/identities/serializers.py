from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from webapp.core.params import IdField
from webapp.core.serializers import username_field

from .models import Identity, IdentityEvent, IdentityOperation, IdentitySuggestion


class IdentitySerializer(serializers.ModelSerializer):
    face_count = serializers.IntegerField(read_only=True)
    verified_count = serializers.IntegerField(read_only=True)
    train_count = serializers.IntegerField(read_only=True)
    val_count = serializers.IntegerField(read_only=True)
    test_count = serializers.IntegerField(read_only=True)
    merged_into_name = serializers.CharField(source="merged_into.name", read_only=True, allow_null=True)
    redirect_to = serializers.SerializerMethodField(
        help_text="For a merged identity (tombstone): the API address of the identity it was merged into; else null.",
    )

    class Meta:
        model = Identity
        fields = [
            "id",
            "name",
            "aliases",
            "popularity_rank",
            "role",
            "chunk",
            "notes",
            "merged_into",
            "merged_into_name",
            "redirect_to",
            "face_count",
            "verified_count",
            "train_count",
            "val_count",
            "test_count",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["chunk", "merged_into", "created_at", "updated_at"]

    def get_redirect_to(self, obj) -> str | None:
        if obj.merged_into_id is None:
            return None
        return reverse("identity-detail", kwargs={"pk": obj.merged_into_id})

    def validate_name(self, value: str) -> str:
        value = value.strip()
        if not value:
            raise serializers.ValidationError("A name is required.")
        return value

    def validate_aliases(self, value):
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise serializers.ValidationError("Aliases must be a list of names.")
        return value


class IdentityBriefSerializer(serializers.ModelSerializer):
    """An identity as an operation or suggestion names it."""

    class Meta:
        model = Identity
        fields = ["id", "name", "aliases", "role", "popularity_rank", "chunk", "merged_into"]
        read_only_fields = fields


# --- Operations ---------------------------------------------------------------------------------
class MergeRequestSerializer(serializers.Serializer):
    """Merge this identity (A) into `into` (B)."""

    into = IdField(help_text="Id of the identity to keep (B): an active identity other than A.")
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
    suggestion = IdField(
        required=False,
        allow_null=True,
        default=None,
        help_text="The open merge suggestion this accepts (marked accepted).",
    )


class SplitRequestSerializer(serializers.Serializer):
    """Move some of this identity's (A's) faces to an existing identity (`into`) or a new one (`new_name`)."""

    faces = serializers.ListField(
        child=IdField(),
        allow_empty=False,
        max_length=10000,
        help_text="Ids of the faces to move; every one must currently be A's.",
    )
    into = IdField(
        required=False, allow_null=True, default=None, help_text="Id of an existing active identity to move them to."
    )
    new_name = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        default="",
        help_text="Name of a new identity (candidate) to create for them.",
    )
    status = serializers.ChoiceField(
        choices=["unverified", "verified"],
        required=False,
        allow_null=True,
        default=None,
        help_text="Set the moved faces' status (e.g. unverified: not yet confirmed as the new person); "
        "left out: statuses are kept.",
    )
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
    suggestion = IdField(
        required=False,
        allow_null=True,
        default=None,
        help_text="The open split suggestion this accepts (marked accepted).",
    )

    def validate(self, attrs):
        if (attrs.get("into") is None) == (not attrs.get("new_name", "").strip()):
            raise serializers.ValidationError("Give either `into` (an existing identity) or `new_name`, not both.")
        return attrs


class IdentityEventSerializer(serializers.ModelSerializer):
    """One edit of an identity: who, when, and each changed field's value before and after."""

    user = username_field(allow_null=True)
    changes = serializers.DictField(
        child=serializers.DictField(), help_text='{field: {"from": before, "to": after}} for each field that changed.'
    )

    class Meta:
        model = IdentityEvent
        fields = ["id", "identity", "user", "changes", "created_at"]
        read_only_fields = fields


class IdentityOperationSerializer(serializers.ModelSerializer):
    # A field named like Field.source: DRF's serializer metaclass takes declared fields out of the class, the
    # stubs cannot know that.
    source = IdentityBriefSerializer(read_only=True)  # type: ignore[assignment]
    target = IdentityBriefSerializer(read_only=True)
    user = username_field(allow_null=True)
    undone_by = username_field(allow_null=True)
    face_count = serializers.SerializerMethodField()

    class Meta:
        model = IdentityOperation
        fields = [
            "id",
            "kind",
            "source",
            "target",
            "target_created",
            "operation",
            "face_count",
            "face_ids",
            "reason",
            "suggestion",
            "user",
            "created_at",
            "undone_at",
            "undone_by",
        ]
        read_only_fields = fields

    def get_face_count(self, obj) -> int:
        return len(obj.face_ids)


# --- Suggestions --------------------------------------------------------------------------------
class SuggestionFaceSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    crop_url = serializers.CharField(allow_null=True)


class SuggestionSideSerializer(serializers.Serializer):
    """One side of a suggestion, shown side by side: an identity (merge) or a cluster (split)."""

    identity = serializers.IntegerField()
    name = serializers.CharField()
    faces = serializers.IntegerField(help_text="Faces examined on this side.")
    cohesion = serializers.FloatField(help_text="Mean cosine of its faces to their centroid (1 = all alike).")
    face_ids = serializers.ListField(
        child=serializers.IntegerField(),
        required=False,
        help_text="Split only: every face of this cluster (send them to split).",
    )
    examples = SuggestionFaceSerializer(many=True, help_text="A few typical faces, most typical first.")


class IdentitySuggestionSerializer(serializers.ModelSerializer):
    identity = IdentityBriefSerializer(read_only=True)
    other = IdentityBriefSerializer(read_only=True, allow_null=True)
    decided_by = username_field(allow_null=True)
    evidence = serializers.SerializerMethodField(
        help_text="Merge: centroid_cosine, neighbour_mixing, neighbours_k, confusion {a_as_b, b_as_a, mutual} "
        "when a run was given. Split: silhouette, centroid_cosine, between_within_ratio, faces. Both: run, "
        "embedding_model.",
    )
    sides = serializers.SerializerMethodField(
        help_text="Merge: [the identity to merge away, the one to keep]. Split: [the larger cluster (stays), "
        "the smaller cluster (to move)].",
    )

    class Meta:
        model = IdentitySuggestion
        fields = [
            "id",
            "kind",
            "status",
            "score",
            "identity",
            "other",
            "evidence",
            "sides",
            "created_at",
            "updated_at",
            "decided_by",
            "decided_at",
        ]
        read_only_fields = fields

    def get_evidence(self, obj) -> dict:
        return {key: value for key, value in obj.evidence.items() if key != "sides"}

    @extend_schema_field(SuggestionSideSerializer(many=True))
    def get_sides(self, obj):
        crops = self.context.get("crops", {})
        names = {obj.identity_id: obj.identity.name}
        if obj.other_id is not None:
            names[obj.other_id] = obj.other.name
        sides = []
        for side in obj.evidence.get("sides", []):
            shaped = {
                "identity": side["identity"],
                "name": names.get(side["identity"], ""),
                "faces": side["faces"],
                "cohesion": side.get("cohesion"),
                "examples": [{"id": pk, "crop_url": crops[pk]} for pk in side.get("examples", []) if pk in crops],
            }
            if "face_ids" in side:
                shaped["face_ids"] = side["face_ids"]
            sides.append(shaped)
        return sides
