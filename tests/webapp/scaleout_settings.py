"""Settings of the worker processes the scale-out tests start: the project's own settings (from the
environment, as on any host), with the S3 backend the app uses in production and short timings.

``MEDIA_STORAGE=s3`` with ``S3_*`` in the environment selects the object store exactly as
``webapp/settings.py`` does; the backend is :class:`webapp.core.storage.MediaS3Storage`. The job
timings are short so a killed worker is noticed within seconds.
"""

import os

from webapp.settings import *  # noqa: F403 - the project's settings, then what these tests vary
from webapp.settings import MEDIA_STORAGE, STORAGES

if MEDIA_STORAGE == "s3":
    STORAGES["default"]["BACKEND"] = "webapp.core.storage.MediaS3Storage"

FACECURATOR_JOB_HEARTBEAT_SECONDS = float(os.environ.get("FACECURATOR_JOB_HEARTBEAT_SECONDS", "0.5"))
FACECURATOR_JOB_LOST_AFTER_SECONDS = float(os.environ.get("FACECURATOR_JOB_LOST_AFTER_SECONDS", "2"))
FACECURATOR_ARTIFACT_CACHE = os.environ.get("FACECURATOR_ARTIFACT_CACHE", "")
