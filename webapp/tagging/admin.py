from django.contrib import admin, messages

from webapp.core.exceptions import DomainError

from . import services
from .models import FacePrediction, TagEvidence, VideoTag, VideoTagging


class TagEvidenceInline(admin.TabularInline):
    model = TagEvidence
    fields = ["rank", "frame", "face", "confidence"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(VideoTag)
class VideoTagAdmin(admin.ModelAdmin):
    """Read-only: tags are made by tagging jobs and decided through the API (confirm / reject)."""

    list_display = ["id", "video", "identity", "status", "confidence", "threshold", "frame_count", "run",
                    "reviewed_by", "created_at"]
    list_filter = ["status", "run"]
    list_select_related = ["video", "identity", "run", "reviewed_by"]
    search_fields = ["identity__name", "video__original_name"]
    inlines = [TagEvidenceInline]
    actions = ["retag_videos"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in VideoTag._meta.fields]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Re-tag the videos of the selected tags with the active model")
    def retag_videos(self, request, queryset):
        try:
            job = services.videos_tag_start(video_ids=list(queryset.values_list("video_id", flat=True).distinct()),
                                            user=request.user)
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return
        self.message_user(request, f"Tagging job {job.pk} queued on '{job.queue}'.")


@admin.register(VideoTagging)
class VideoTaggingAdmin(admin.ModelAdmin):
    list_display = ["video", "run", "threshold", "min_frames", "faces", "faces_accepted", "faces_skipped", "job",
                    "tagged_at"]
    list_select_related = ["video", "run", "job"]
    list_filter = ["run"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in VideoTagging._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(FacePrediction)
class FacePredictionAdmin(admin.ModelAdmin):
    list_display = ["face", "video", "identity", "confidence", "accepted", "run"]
    list_select_related = ["identity"]
    list_filter = ["accepted", "run"]
    raw_id_fields = ["face", "video"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in FacePrediction._meta.fields]

    def has_add_permission(self, request):
        return False
