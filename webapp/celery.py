"""The Celery app. Its configuration lives in settings.py (``CELERY_*``), like every setting."""

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

app = Celery("facecurator")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


class JobTimeLimits:
    """Task annotation (``CELERY_TASK_ANNOTATIONS``): each task's hard time limit from
    FACECURATOR_JOB_TIME_LIMITS, plus 30 s so the job's own hard limit (its heartbeat thread
    fails the row) comes first; a prefork pool then kills the stuck child. The solo pool cannot
    kill: there the row is failed and the worker is left to finish or be restarted."""

    def annotate(self, task):
        from webapp.core.services import job_time_limits

        soft, hard = job_time_limits(kind=task.name)
        return {"time_limit": hard + 30} if hard else None


@signals.worker_init.connect  # the worker's main process (where the solo pool runs tasks), before its pool
@signals.worker_process_init.connect  # each child of a prefork pool
def _give_way_to_the_web_server(**kwargs) -> None:
    """Lower priority and capped threads (:mod:`webapp.core.workers`), from FACECURATOR_WORKER_*."""
    from django.conf import settings

    from webapp.core.workers import default_worker_threads, worker_cpu_yield

    worker_cpu_yield(
        niceness=settings.FACECURATOR_WORKER_NICENESS,
        threads=settings.FACECURATOR_WORKER_THREADS or default_worker_threads(),
        idle_class=settings.FACECURATOR_WORKER_IDLE_CLASS,
    )
