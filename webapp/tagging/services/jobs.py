"""Starting tagging jobs with the model in force (its run, threshold and k pinned in the job's
parameters) and the body both tagging tasks run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from webapp.core.exceptions import InvalidTransition, NotFound
from webapp.core.models import Job
from webapp.core.roles import Actor, recorded_user
from webapp.core.services import job_start
from webapp.media.models import ProcessingStatus, Video
from webapp.training.services import NoActiveModel

from .. import selectors
from ..selectors import TaggingSettings
from .classifier import run_check
from .tagging import VideoNotReady, videos_tag

TAG_VIDEO_KIND = "tagging.tag_video"


TAG_VIDEOS_KIND = "tagging.tag_videos"


def _settings_or_refuse() -> TaggingSettings:
    config = selectors.tagging_settings_current()
    if config is None:
        raise NoActiveModel("No active model with an operating point: accept a training run first, then tag videos.")
    run_check(config.run)
    return config


def _new_job(*, kind: str, params: dict, user: Actor, dispatch: bool) -> Job:
    if dispatch:
        return job_start(kind=kind, params=params, user=user)
    return Job.objects.create(kind=kind, queue="here", params=params, created_by=recorded_user(user))


def video_tag_start(*, video: Video, user: Actor = None, dispatch: bool = True) -> Job:
    """Queue a ``tagging.tag_video`` job (gpu queue) for one processed video with the model in force."""
    if video.status != ProcessingStatus.DONE:
        raise VideoNotReady(f"Video {video.pk} is {video.status}: only processed videos can be tagged.")
    config = _settings_or_refuse()
    return _new_job(kind=TAG_VIDEO_KIND, params={"video": video.pk, **config.as_params()}, user=user, dispatch=dispatch)


def videos_tag_start(
    *, scope: str | None = None, video_ids: list[int] | None = None, user: Actor = None, dispatch: bool = True
) -> Job:
    """Queue a ``tagging.tag_videos`` job (gpu queue) over many videos: a scope (``untagged``,
    ``outdated``, ``all``; resolved when the job runs) or a list of video ids."""
    if (scope is None) == (video_ids is None):
        raise InvalidTransition("Give either a scope (untagged, outdated, all) or a list of videos.")
    if scope is not None and scope not in selectors.SCOPES:
        raise InvalidTransition(f"Unknown scope '{scope}'; expected one of {', '.join(selectors.SCOPES)}.")
    if video_ids is not None:
        video_ids = sorted({int(pk) for pk in video_ids})
        missing = sorted(set(video_ids) - set(Video.objects.filter(pk__in=video_ids).values_list("pk", flat=True)))
        if missing:
            raise NotFound(f"No video with id {', '.join(map(str, missing))}.")
    config = _settings_or_refuse()
    target: dict[str, Any] = {"scope": scope} if scope is not None else {"videos": video_ids}
    return _new_job(kind=TAG_VIDEOS_KIND, params={**target, **config.as_params()}, user=user, dispatch=dispatch)


def tagging_job_execute(*, job: Job, progress: Callable[[float, str], None]) -> dict:
    """The body of both tagging tasks: the videos of the job's params, with its pinned settings."""
    config = selectors.tagging_settings_from_params(params=job.params)
    if "video" in job.params:
        video_ids = [int(job.params["video"])]
    elif "videos" in job.params:
        video_ids = [int(pk) for pk in job.params["videos"]]
    else:
        progress(0.0, f"finding {job.params['scope']} videos")
        video_ids = list(selectors.videos_to_tag(scope=job.params["scope"], config=config).values_list("pk", flat=True))
    return videos_tag(video_ids=video_ids, config=config, job=job, progress=progress)
