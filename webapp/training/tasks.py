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

    job_execute(job_id, handler)
