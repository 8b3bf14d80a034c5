from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from webapp.core.params import DB_INT_MAX
from webapp.core.serializers import request_is_admin, username_field
from webapp.core.services import job_error_shown, text_without_paths

from .models import Chunk, OperatingPoint, TrainingRun


class RunStartSerializer(serializers.Serializer):
    """Start a training run on the current VIPs and labels (admins)."""

    mode = serializers.ChoiceField(choices=TrainingRun.Mode.choices, default=TrainingRun.Mode.HEAD)
    loss = serializers.CharField(
        required=False,
        help_text="The trained head's loss: arcface (default), tsoftmax, me, ce, dce, zlog. Faces are scored by "
        "the VIP gallery fused with this head's evidence for the same VIP (ml/fusion.py).",
    )
    options = serializers.DictField(
        required=False,
        default=dict,
        help_text="Hyper-parameters of ml.train.TrainConfig: epochs, lr, batch_size, hidden, "
        "momentum, weight_decay, seed, backbone, ...",
    )
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=300)
    labels = serializers.ChoiceField(
        choices=TrainingRun.Labels.choices,
        default=TrainingRun.Labels.SETTLED,
        help_text="settled (default): leave out faces waiting for a second opinion or an admin's word on a "
        "disagreement; all: train on every label as it is.",
    )
    allow_concurrent = serializers.BooleanField(
        default=False, help_text="Start even while another run is in flight (up to FACECURATOR_MAX_CONCURRENT_RUNS)."
    )


class HeadlineSerializer(serializers.Serializer):
    """A run's metrics at one threshold on validation, named (selectors.run_metrics_at)."""

    threshold = serializers.FloatField()
    split = serializers.CharField()
    basis = serializers.CharField()
    # A field named like an attribute of DRF's Field: the serializer metaclass takes declared fields out of the
    # class, the stubs cannot know that.
    label = serializers.CharField(help_text='Where the numbers were read, e.g. "at the operating point 0.780".')  # type: ignore[assignment]
    precision = serializers.FloatField(allow_null=True, help_text="Share of tagged faces that are the right VIP.")
    recall = serializers.FloatField(allow_null=True, help_text="Share of VIP faces tagged with the right name.")
    mean_f1 = serializers.FloatField(allow_null=True)
    distractor_accuracy = serializers.FloatField(allow_null=True)
    vip_acceptance = serializers.FloatField(allow_null=True)
    total_accuracy = serializers.FloatField(allow_null=True, required=False)
    f1_auc = serializers.FloatField(allow_null=True, help_text="Threshold-free.")


class RunListSerializer(serializers.ModelSerializer):
    state = serializers.CharField(source="job.state", read_only=True)
    progress = serializers.FloatField(source="job.progress", read_only=True)
    message = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()
    created_by = username_field(allow_null=True)
    is_active = serializers.SerializerMethodField()
    has_model = serializers.SerializerMethodField()
    headline = serializers.SerializerMethodField()

    class Meta:
        model = TrainingRun
        fields = [
            "id",
            "job",
            "state",
            "progress",
            "message",
            "error",
            "mode",
            "loss",
            "backbone",
            "labels",
            "chunk",
            "counts",
            "metrics",
            "headline",
            "device",
            "timings",
            "note",
            "has_model",
            "is_active",
            "created_by",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_message(self, obj) -> str:
        return obj.job.message if request_is_admin(self.context) else text_without_paths(obj.job.message)

    def get_error(self, obj) -> str:
        """The job's whole error record for admins; the short message without paths for annotators."""
        return job_error_shown(job=obj.job, is_admin=request_is_admin(self.context))

    def get_is_active(self, obj) -> bool:
        return obj.pk == self.context.get("active_run_id")

    def get_has_model(self, obj) -> bool:
        return bool(obj.model_file)

    @extend_schema_field(HeadlineSerializer(allow_null=True))
    def get_headline(self, obj) -> dict | None:
        """The one set of numbers shown for this run (see selectors.run_headline)."""
        from . import selectors

        if obj.job.state != "succeeded":
            return None
        if obj.pk == self.context.get("active_run_id") and "active_headline" in self.context:
            return self.context["active_headline"]
        return selectors.run_headline(run=obj, active_id=self.context.get("active_run_id"))


class RunDetailSerializer(RunListSerializer):
    class Meta(RunListSerializer.Meta):
        fields = [*RunListSerializer.Meta.fields, "config", "vips", "per_class", "confused_pairs"]
        read_only_fields = fields


class ClassRowSerializer(serializers.Serializer):
    """One VIP of a run: precision/recall (the diagnosis basis: test, else val), F1, support, diagnosis."""

    class_index = serializers.IntegerField()
    identity = serializers.IntegerField()
    name = serializers.CharField()
    chunk = serializers.IntegerField(allow_null=True)
    precision = serializers.FloatField(allow_null=True)
    recall = serializers.FloatField(allow_null=True)
    f1 = serializers.FloatField(allow_null=True)
    support = serializers.IntegerField(allow_null=True)
    diagnosis = serializers.CharField()
    reasons = serializers.ListField(child=serializers.CharField())
    val = serializers.DictField()
    test = serializers.DictField()


class RunCurvesSerializer(serializers.Serializer):
    sweeps = serializers.DictField(
        help_text="Per split: thresholds and the metrics at each (ml.metrics.ThresholdSweep)."
    )
    calibration = serializers.DictField(
        help_text="Per split: reliability curves and ECE before/after temperature scaling."
    )
    operating_points = serializers.DictField()
    history = serializers.DictField()


class RunCompareSerializer(serializers.Serializer):
    runs = serializers.ListField(child=serializers.DictField())
    identities = serializers.ListField(
        child=serializers.DictField(),
        help_text="Per identity: {identity, name, runs: {run id: {precision, recall, f1}}}.",
    )


class RunSampleSerializer(serializers.Serializer):
    face = serializers.IntegerField(source="face_id")
    identity = serializers.IntegerField(source="identity_id", allow_null=True)
    # A field named like an attribute of DRF's Field: the serializer metaclass takes declared fields out of the
    # class, the stubs cannot know that.
    label = serializers.IntegerField()  # type: ignore[assignment]
    split = serializers.CharField()
    version = serializers.IntegerField()
    noise_score = serializers.FloatField(allow_null=True)
    predicted = serializers.IntegerField(allow_null=True)
    confidence = serializers.FloatField(allow_null=True)


class OperatingPointSerializer(serializers.ModelSerializer):
    set_by = username_field(allow_null=True)

    class Meta:
        model = OperatingPoint
        fields = [
            "id",
            "run",
            "rule",
            "reason",
            "far",
            "unknown_share",
            "estimate",
            "target_precision",
            "threshold",
            "expected",
            "set_by",
            "set_at",
        ]
        read_only_fields = fields


class OperatingPointRequestSerializer(serializers.Serializer):
    """One of: a false-tag rate on unknown faces (with the share of unknown faces to expect), a
    target precision (the threshold is read off the validation sweep), or a threshold."""

    far = serializers.FloatField(
        required=False,
        min_value=0.0,
        max_value=1.0,
        help_text="Share of unknown faces you accept to see tagged as a VIP, e.g. 0.001.",
    )
    unknown_share = serializers.FloatField(
        required=False,
        min_value=0.0,
        max_value=1.0,
        help_text="Share of faces you expect to be unknown (with far only); "
        "default: what tagged videos show, else 0.9.",
    )
    target_precision = serializers.FloatField(required=False, min_value=0.0, max_value=1.0)
    threshold = serializers.FloatField(required=False, min_value=0.0, max_value=1.0)

    def validate(self, attrs):
        if sum(key in attrs for key in ("far", "target_precision", "threshold")) != 1:
            raise serializers.ValidationError("Send one of far, target_precision or threshold.")
        if "unknown_share" in attrs and "far" not in attrs:
            raise serializers.ValidationError("unknown_share goes with far.")
        if "far" in attrs and not 0.0 < attrs["far"] < 1.0:
            raise serializers.ValidationError({"far": "The false-tag rate must lie strictly between 0 and 1."})
        return attrs


class FarEstimateSerializer(serializers.Serializer):
    """The operating point for one false-tag rate (``ml.operating_point.OperatingPoint.as_dict``)."""

    threshold = serializers.FloatField()
    far_target = serializers.FloatField(help_text="The rate asked for.")
    far_used = serializers.FloatField(
        help_text="The rate the threshold is placed for: far_target, or the lowest "
        "rate val measures (1 / its unknown faces) when it holds too few."
    )
    far_rule = serializers.ChoiceField(choices=["requested", "lowest_measurable"])
    reason = serializers.CharField(allow_blank=True, help_text="Why far_used differs from far_target (else empty).")
    method = serializers.CharField(help_text="empirical, or tail (extrapolated: too few val faces for this rate)")
    far_observed = serializers.FloatField(help_text="Share of val unknown faces accepted at the threshold.")
    far_interval = serializers.ListField(child=serializers.FloatField(), help_text="95% Clopper-Pearson interval.")
    n_distractor_faces = serializers.IntegerField()
    n_distractor_people = serializers.IntegerField(allow_null=True)
    recall = serializers.FloatField(allow_null=True, help_text="Val VIP faces named right and accepted.")
    recall_interval = serializers.ListField(child=serializers.FloatField(), help_text="95% Wilson interval.")
    acceptance = serializers.FloatField(allow_null=True)
    n_vip_faces = serializers.IntegerField()
    unknown_share = serializers.FloatField()
    precision = serializers.FloatField(allow_null=True, help_text="Implied at unknown_share and far_used.")
    precision_low = serializers.FloatField(allow_null=True, help_text="At the pessimistic ends of both intervals.")
    confidence_level = serializers.FloatField()


class OperatingPointStateSerializer(serializers.Serializer):
    run = serializers.IntegerField(allow_null=True)
    current = OperatingPointSerializer(allow_null=True)
    threshold = serializers.FloatField(allow_null=True, help_text="What video tagging uses now.")
    tradeoff = serializers.DictField(
        allow_null=True,
        help_text="Validation sweep: thresholds, precision "
        "(kept accuracy), recall (identification accuracy), VIP acceptance, mean F1.",
    )
    presets = serializers.DictField(help_text="Thresholds the run reported: max mean F1, precision targets, ...")
    unknown_share = serializers.FloatField(help_text="The share of unknown faces the far options assume.")
    unknown_share_expected = serializers.DictField(
        help_text="{value, source: tagged_videos|default, faces}: the share of faces in tagged videos tagged as no VIP."
    )
    far_options = FarEstimateSerializer(
        many=True,
        help_text="Per offered false-tag rate: threshold, observed FAR and interval, recall and interval, implied "
        "precision and its pessimistic bound, val faces and people behind it (ml.operating_point).",
    )


class OperatingPointQuerySerializer(serializers.Serializer):
    unknown_share = serializers.FloatField(required=False, min_value=0.0, max_value=1.0)


class ChunkSerializer(serializers.ModelSerializer):
    promoted_by = username_field(allow_null=True)

    class Meta:
        model = Chunk
        fields = [
            "id",
            "number",
            "identities",
            "run",
            "metrics",
            "gate",
            "overridden",
            "override_reason",
            "promoted_by",
            "promoted_at",
        ]
        read_only_fields = fields


class PromoteRequestSerializer(serializers.Serializer):
    override_reason = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="Needed only when the gate is not met; recorded on the chunk.",
    )
    size = serializers.IntegerField(
        required=False, min_value=1, max_value=DB_INT_MAX, help_text="Default: FACECURATOR_CHUNK_SIZE."
    )


class PromotionSerializer(serializers.Serializer):
    chunk = ChunkSerializer()
    review_queue = serializers.IntegerField(allow_null=True)
    suggest_retrain = serializers.BooleanField()
    message = serializers.CharField()


class GateCheckSerializer(serializers.Serializer):
    metric = serializers.CharField()
    value = serializers.FloatField(allow_null=True)
    minimum = serializers.FloatField()
    passed = serializers.BooleanField()


class GateSerializer(serializers.Serializer):
    # A field named like an attribute of DRF's Field: the serializer metaclass takes declared fields out of the
    # class, the stubs cannot know that.
    required = serializers.BooleanField()  # type: ignore[assignment]
    passed = serializers.BooleanField()
    run = serializers.IntegerField(allow_null=True)
    threshold = serializers.FloatField(allow_null=True)
    checks = GateCheckSerializer(many=True)
    minima = serializers.DictField()
    reason = serializers.CharField()
    operating_point = serializers.DictField(
        required=False,
        allow_null=True,
        help_text="{rule, reason, text}: which rule chose the threshold the gate reads, and why.",
    )
    weak_identities = serializers.ListField(child=serializers.DictField(), required=False)
    headline = HeadlineSerializer(required=False, help_text="The model's numbers the gate read, named.")


class CurationStatusSerializer(serializers.Serializer):
    vip_count = serializers.IntegerField()
    candidate_count = serializers.IntegerField()
    chunk = serializers.IntegerField(allow_null=True)
    active_model = serializers.DictField(allow_null=True)
    previous_model = serializers.DictField(allow_null=True, help_text="{run, accepted_at}: what a rollback returns to.")
    latest_run = serializers.DictField(allow_null=True)
    run_in_progress = serializers.DictField(allow_null=True)
    queues = serializers.ListField(child=serializers.DictField())
    gate = GateSerializer()
