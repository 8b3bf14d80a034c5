from django.contrib import admin, messages

from webapp.core.admin import ReadOnlyAdmin
from webapp.core.exceptions import DomainError

from . import services
from .models import FacePrediction, TagEvidence, VideoTag, VideoTagging


class TagEvidenceInline(admin.TabularInline):
    model = TagEvidence
    fields = ["rank", "frame", "face", "confidence"]
    readonly_fields = ["rank", "frame", "face", "confidence"]  # every field shown, none edited
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(VideoTag)
class VideoTagAdmin(ReadOnlyAdmin):
    """Read-only: tags are made by tagging jobs and decided through the API (confirm / reject).
    The one action starts a tagging job through the service."""

    list_display = [
        "id",
        "video",
        "identity",
        "status",
        "confidence",
        "threshold",
        "frame_count",
        "run",
        "reviewed_by",
        "created_at",
    ]
    list_filter = ["status", "run"]
    list_select_related = ["video", "identity", "run", "reviewed_by"]
    search_fields = ["identity__name", "video__original_name"]
    inlines = [TagEvidenceInline]
    actions = ["retag_videos"]

    @admin.action(description="Re-tag the videos of the selected tags with the active model")
    def retag_videos(self, request, queryset):
        try:
            job = services.videos_tag_start(
                video_ids=list(queryset.values_list("video_id", flat=True).distinct()), user=request.user
            )
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return
        self.message_user(request, f"Tagging job {job.pk} queued on '{job.queue}'.")


@admin.register(VideoTagging)
class VideoTaggingAdmin(ReadOnlyAdmin):
    list_display = [
        "video",
        "run",
        "threshold",
        "min_frames",
        "faces",
        "faces_accepted",
        "faces_skipped",
        "job",
        "tagged_at",
    ]
    list_select_related = ["video", "run", "job"]
    list_filter = ["run"]


@admin.register(FacePrediction)
class FacePredictionAdmin(ReadOnlyAdmin):
    list_display = ["face", "video", "identity", "confidence", "accepted", "run"]
    list_select_related = ["identity"]
    list_filter = ["accepted", "run"]
    raw_id_fields = ["face", "video"]
