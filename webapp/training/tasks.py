"""Training tasks: take a job id, load the run, call the service. Routed to the `gpu` queue by name."""

from celery import shared_task

from webapp.core.services import job_execute


@shared_task(name="training.run", acks_late=True)
def training_run(job_id: int) -> None:
    from . import services
    from .models import TrainingRun

    def handler(job, progress):
        run = TrainingRun.objects.select_related("job").get(job=job)
        return services.training_run_execute(run=run, progress=progress)

    # No automatic retry: a run that killed its worker (out of GPU memory, say) would kill the next
    # one too. A lost run fails with how to restart it (POST /api/v1/runs/<id>/restart/).
    job_execute(job_id, handler, max_attempts=1, lost_hint=services.LOST_HINT)
