"""The Celery app. Its configuration lives in settings.py (``CELERY_*``), like every setting."""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

app = Celery("facecurator")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
