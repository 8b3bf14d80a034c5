"""FaceCurator settings: every setting comes from the environment, here and nowhere else.

With no configuration at all the app runs on embedded defaults: a SQLite file and a local media
folder under ``var/``, and Celery on kombu's filesystem transport (a real worker process, no
broker server). ``DATABASE_URL`` and ``CELERY_BROKER_URL`` switch to PostgreSQL and Redis.
The README's configuration table lists every variable read below.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default  # unset or empty: the default


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default  # unset or empty: the default


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if not value:  # unset or empty
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


# --- Core ---------------------------------------------------------------------------------
DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DJANGO_DEBUG is off (set DJANGO_DEBUG=1 for local use)."
        )
    SECRET_KEY = "insecure-development-key-only-for-debug"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
VAR_DIR = Path(env_str("FACECURATOR_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "axes",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "webapp.core",
    "webapp.identities",
    "webapp.media",
    "webapp.faces",
    "webapp.training",
    "webapp.review",
    "webapp.quality",
    "webapp.exports",
    "webapp.tagging",
    "webapp.curation",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "webapp.core.security.ContentSecurityPolicyMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a lock-out flagged during the view into a 429
]

# --- HTTPS and browser protections (README, "Running it safely") ----------------------------
# With debug off: secure cookies and a year of HSTS unless the environment says otherwise.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
# Behind a TLS-terminating proxy: the header it sets on https requests, e.g. X-Forwarded-Proto.
if env_str("SECURE_PROXY_SSL_HEADER"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + env_str("SECURE_PROXY_SSL_HEADER").upper().replace("-", "_"), "https")
# Proxies in front of Django that append to X-Forwarded-For (client addresses for the throttles).
NUM_PROXIES = env_int("NUM_PROXIES", 0) if env_str("NUM_PROXIES") else None
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (webapp.core.security): the SPA is a Vite build with no inline script;
# React and Recharts set style attributes, hence 'unsafe-inline' for styles only.
CONTENT_SECURITY_POLICY = env_str(
    "CONTENT_SECURITY_POLICY",
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'",
)
# The API docs (Swagger UI, Redoc) run a small inline script and Redoc a blob: worker.
CONTENT_SECURITY_POLICY_API_DOCS = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' blob:; worker-src 'self' blob:; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
CONTENT_SECURITY_POLICY_API_DOCS_PATHS = ("/api/docs/", "/api/redoc/")

# Throttle counters and other short-lived state: per process unless CACHE_URL names a Redis
# (set it when several web processes serve, so a client's rate is counted once).
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
if env_str("CACHE_URL").startswith(("redis://", "rediss://")):
    CACHES["default"] = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": env_str("CACHE_URL")}

ROOT_URLCONF = "webapp.urls"
WSGI_APPLICATION = "webapp.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "webapp" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
        conn_health_checks=True,  # a connection kept across requests is checked first: a restarted server costs no 500
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Workers and the web server share the file: wait for locks instead of failing at once.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 30
    DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Accounts: passwords, log-in lock-out, API tokens ------------------------------------
# The validators run wherever a password is set: the users API, the admin site, changepassword.
PASSWORD_MIN_LENGTH = env_int("PASSWORD_MIN_LENGTH", 12)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": PASSWORD_MIN_LENGTH},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# django-axes counts failed logins (log-in form, admin site, token endpoint) in the database and
# locks the username out for a cool-off after too many in a row.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_COOLOFF_MINUTES", 15))
# Either trips the lock: a username (a guessed account stays shut whatever the address) or a client
# address (one trying many usernames). Behind a proxy, set NUM_PROXIES so the address is the client's.
AXES_LOCKOUT_PARAMETERS = env_list("LOGIN_LOCKOUT_BY", ["username", "ip_address"])
AXES_CLIENT_IP_CALLABLE = "webapp.core.security.client_ip"
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False  # the cool-off runs from the last counted failure
AXES_LOCKOUT_CALLABLE = "webapp.core.security.lockout_response"
AXES_VERBOSE = False
# API tokens for scripts (`Authorization: Token <key>`) stop working this long after they were made.
API_TOKEN_LIFETIME = timedelta(days=env_float("API_TOKEN_LIFETIME_DAYS", 30))

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Files: static assets and media -------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
FRONTEND_DIST = BASE_DIR / "frontend" / "dist"
STATICFILES_DIRS = [FRONTEND_DIST] if FRONTEND_DIST.exists() else []


def _hashed_build_asset(path: str, url: str) -> bool:
    """The frontend build names its assets by content hash (assets/index-CSliV9zW.js): WhiteNoise may
    let browsers cache them for good; index.html, which names them, is never cached (core.web.spa)."""
    return bool(re.match(r"^.+[.-][0-9a-zA-Z_-]{8,12}\.(?:js|css|woff2?|svg|png)$", url))


WHITENOISE_IMMUTABLE_FILE_TEST = _hashed_build_asset

MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_STORAGE = env_str("MEDIA_STORAGE", "local")
STORAGES: dict[str, dict[str, Any]] = {
    # FileSystemStorage whose files appear whole or not at all (a full disk leaves no truncated file).
    "default": {"BACKEND": "webapp.core.storage.MediaFileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
if MEDIA_STORAGE == "s3":
    STORAGES["default"] = {
        "BACKEND": "webapp.core.storage.MediaS3Storage",
        "OPTIONS": {
            "bucket_name": env_str("S3_BUCKET", "facecurator"),
            "endpoint_url": env_str("S3_ENDPOINT_URL") or None,
            "access_key": env_str("S3_ACCESS_KEY_ID") or None,
            "secret_key": env_str("S3_SECRET_ACCESS_KEY") or None,
            "region_name": env_str("S3_REGION", "us-east-1"),
            "file_overwrite": False,
            "querystring_auth": True,
        },
    }
elif MEDIA_STORAGE != "local":
    raise ImproperlyConfigured("MEDIA_STORAGE must be 'local' or 's3'.")

# Uploads: limits are settings so an admin can raise them; above them the API answers 413/400.
# Per file (FACECURATOR_MAX_UPLOAD_MB), per request (the body's Content-Length, refused before a
# byte of it is read) and files per request (Django stops parsing past that many).
FACECURATOR_MAX_UPLOAD_MB = env_int("FACECURATOR_MAX_UPLOAD_MB", 200)
FACECURATOR_MAX_UPLOAD_REQUEST_MB = env_int("FACECURATOR_MAX_UPLOAD_REQUEST_MB", 1024)
FACECURATOR_MAX_IMAGE_PIXELS = env_int("FACECURATOR_MAX_IMAGE_PIXELS", 50_000_000)
DATA_UPLOAD_MAX_NUMBER_FILES = env_int("FACECURATOR_MAX_UPLOAD_FILES", 100)
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024  # form fields other than files
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024  # larger files are spooled to a temporary file

# --- REST API -----------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: a request without credentials, or with an expired token, answers 401.
        "webapp.core.authentication.ExpiringTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["webapp.core.permissions.IsAnnotator"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "webapp.core.filters.AllowListOrderingFilter",
    ],
    # Writes per user, and anything anonymous (which is only the token endpoint), per client address.
    "DEFAULT_THROTTLE_CLASSES": [
        "webapp.core.throttles.AnonymousRateThrottle",
        "webapp.core.throttles.UserWriteRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_str("THROTTLE_ANON_RATE", "60/min"),
        "user_write": env_str("THROTTLE_USER_WRITE_RATE", "600/min"),
    },
    "NUM_PROXIES": NUM_PROXIES,
    "DEFAULT_PAGINATION_CLASS": "webapp.core.pagination.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "webapp.core.exceptions.api_exception_handler",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "FaceCurator API",
    "DESCRIPTION": "Curate face-recognition datasets of VIPs among distractors: identities, "
    "faces, label events, imports, jobs, training runs, review queues and exports.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_PERMISSIONS": ["webapp.core.permissions.IsAnnotator"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "webapp.core.schema.document_error_responses",
    ],
    "ENUM_NAME_OVERRIDES": {
        "FaceStatusEnum": "webapp.faces.models.Face.Status",
        "ProcessingStatusEnum": "webapp.media.models.ProcessingStatus",
        "JobStateEnum": "webapp.core.models.Job.State",
        "IdentityRoleEnum": "webapp.identities.models.Identity.Role",
        # One name per choice set, so the schema check (part of `check --deploy`) has nothing to warn of.
        "MergeSplitKindEnum": "webapp.identities.models.IdentitySuggestion.Kind",
        "VideoTagStatusEnum": "webapp.tagging.models.VideoTag.Status",
        "SplitEnum": "webapp.faces.models.Face.Split",
        "SourceEnum": "webapp.faces.models.Face.Source",
        "OperatingPointRuleEnum": "webapp.training.models.OperatingPoint.Rule",
    },
}

# --- Celery -------------------------------------------------------------------------------
# No broker configured: kombu's filesystem transport, so `make demo` needs no server.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
BROKER_DIR = VAR_DIR / "broker"
if CELERY_BROKER_URL.startswith("filesystem://"):
    for folder in ("queue", "processed", "control"):
        (BROKER_DIR / folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
else:
    # Redelivery after a worker dies: a long task is not re-sent before it could have finished.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 6 * 3600)}
    if env_str("CELERY_BROKER_KEYPREFIX"):
        # Several deployments (or test runs) can share one Redis without taking each other's tasks.
        CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"] = env_str("CELERY_BROKER_KEYPREFIX")
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_IGNORE_RESULT = True  # results live on Job rows, which survive restarts
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Sending a task gives up fast when the broker is down: the job stays queued (its row is the outbox),
# the request answers 503, and the reaper sends it again once the broker is back.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": env_int("CELERY_PUBLISH_RETRIES", 2),
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 1,
}
CELERY_BROKER_CONNECTION_TIMEOUT = env_float("CELERY_BROKER_CONNECTION_TIMEOUT", 4)
if not CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS.setdefault("socket_connect_timeout", CELERY_BROKER_CONNECTION_TIMEOUT)
# Hard time limits per task (prefork pool kills the child); soft limits are enforced by job_execute.
CELERY_TASK_ANNOTATIONS = ["webapp.celery.JobTimeLimits"]
# Celery beat (`celery -A webapp worker -B`, or `celery -A webapp beat`): the job reaper and the media sweep.
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Queues by kind of work, never by host: GPU workers anywhere consume `gpu` only.
GPU_TASK_NAMES = ["training.*", "faces.embed_*", "tagging.*"]
# Video face extraction (decode, YuNet, SFace), one video per job or several (FACECURATOR_VIDEOS_PER_BATCH),
# on the GPU workers instead of the CPU ones.
FACECURATOR_VIDEOS_ON_GPU = env_bool("FACECURATOR_VIDEOS_ON_GPU", False)
if FACECURATOR_VIDEOS_ON_GPU:
    GPU_TASK_NAMES += ["media.process_video", "media.process_videos"]
CELERY_TASK_ROUTES = {pattern: {"queue": "gpu"} for pattern in GPU_TASK_NAMES}
# Workers give way to the web server on a shared host (webapp.core.workers): each worker process lowers
# its CPU priority to this niceness (0: leaves it) and caps torch/BLAS/OpenMP threads (0: every core but one).
FACECURATOR_WORKER_NICENESS = env_int("FACECURATOR_WORKER_NICENESS", 10)
FACECURATOR_WORKER_THREADS = env_int("FACECURATOR_WORKER_THREADS", 0)
# ... and runs in Linux's SCHED_IDLE class, so a waking web or database thread takes the core at once.
FACECURATOR_WORKER_IDLE_CLASS = env_bool("FACECURATOR_WORKER_IDLE_CLASS", True)

# --- Face pipeline, splits, curation ------------------------------------------------------
FACECURATOR_FACE_DETECTOR = env_str("FACECURATOR_FACE_DETECTOR", "yunet")  # yunet | dlib_hog | dlib_cnn
FACECURATOR_FACE_EMBEDDER = env_str("FACECURATOR_FACE_EMBEDDER", "sface")  # sface | dlib
FACECURATOR_CROP_SIZE = env_int("FACECURATOR_CROP_SIZE", 112)
# YuNet and SFace run on ONNX Runtime (batched; CUDA when onnxruntime-gpu sees a GPU) or OpenCV.
FACECURATOR_FACE_RUNTIME = env_str("FACECURATOR_FACE_RUNTIME", "onnxruntime")  # onnxruntime | opencv
FACECURATOR_FACE_DEVICE = env_str("FACECURATOR_FACE_DEVICE") or None  # cpu | cuda | cuda:N; unset: CUDA if present
FACECURATOR_FACE_THREADS = env_int(
    "FACECURATOR_FACE_THREADS", 1
)  # CPU threads per network (ml.inference.DEFAULT_THREADS); 0: one per core
FACECURATOR_VIDEO_FRAMES = env_int("FACECURATOR_VIDEO_FRAMES", 300)
FACECURATOR_VIDEO_MAX_SIDE = env_int("FACECURATOR_VIDEO_MAX_SIDE", 960)  # detector input cap on video frames
# Videos per processing job: the videos of one upload or import go out as `media.process_videos` jobs of
# up to this many, decoded at once and their frames detected and embedded together (what a GPU needs
# to stay busy); 1: one `media.process_video` job per video. The device is picked by ONNX Runtime in
# the worker that loads the networks, which the process starting the jobs cannot see, so the default
# follows the configuration: 8 where videos go to GPU workers (FACECURATOR_VIDEOS_ON_GPU) or faces are
# set to run on CUDA (FACECURATOR_FACE_DEVICE=cuda[:N]), else 1 (on a CPU a batch costs no less per
# frame, and a worker's processes, one per core, already keep the cores busy).
FACECURATOR_VIDEOS_PER_BATCH = env_int(
    "FACECURATOR_VIDEOS_PER_BATCH",
    8 if FACECURATOR_VIDEOS_ON_GPU or (FACECURATOR_FACE_DEVICE or "").startswith("cuda") else 1,
)
if FACECURATOR_VIDEOS_PER_BATCH < 1:
    raise ImproperlyConfigured("FACECURATOR_VIDEOS_PER_BATCH must be at least 1 (1: one video per job).")
FACECURATOR_SPLIT_SEED = env_int("FACECURATOR_SPLIT_SEED", 0)
# train, val, test shares: ml.splits refuses any other number of them when a face is given its split.
FACECURATOR_SPLIT_PROPORTIONS = cast(
    tuple[float, float, float],
    tuple(float(part) for part in env_list("FACECURATOR_SPLIT_PROPORTIONS", ["0.8", "0.1", "0.1"])),
)
FACECURATOR_NEAR_DUPLICATE_COSINE = env_float("FACECURATOR_NEAR_DUPLICATE_COSINE", 0.97)
FACECURATOR_NEAR_DUPLICATE_PHASH_BITS = env_int("FACECURATOR_NEAR_DUPLICATE_PHASH_BITS", 4)
FACECURATOR_INDEX_IVF_THRESHOLD = env_int("FACECURATOR_INDEX_IVF_THRESHOLD", 200_000)
FACECURATOR_CHUNK_SIZE = env_int("FACECURATOR_CHUNK_SIZE", 20)
FACECURATOR_GATE_MIN_PRECISION = env_float("FACECURATOR_GATE_MIN_PRECISION", 0.9)
FACECURATOR_GATE_MIN_RECALL = env_float("FACECURATOR_GATE_MIN_RECALL", 0.7)
FACECURATOR_GATE_MIN_MEAN_F1 = env_float("FACECURATOR_GATE_MIN_MEAN_F1", 0.8)
# The operating point a newly active model starts at, until an admin picks one. High on purpose: a
# wrong tag is worse than a missing one (0.9 let a pedestrian of the crowd clip be tagged as a VIP).
FACECURATOR_DEFAULT_TARGET_PRECISION = env_float("FACECURATOR_DEFAULT_TARGET_PRECISION", 0.99)
# A newly active model (with no earlier choice to carry over) starts at this false-tag rate on
# unknown faces, measured on val people never used in training; the default target precision
# above is the fallback when the run's val set holds no such person.
FACECURATOR_DEFAULT_FAR = env_float("FACECURATOR_DEFAULT_FAR", 0.001)
FACECURATOR_AUTO_ACCEPT_RUNS = env_bool("FACECURATOR_AUTO_ACCEPT_RUNS", False)
FACECURATOR_LEASE_SECONDS = env_int("FACECURATOR_LEASE_SECONDS", 600)
FACECURATOR_MAX_CONCURRENT_RUNS = env_int("FACECURATOR_MAX_CONCURRENT_RUNS", 1)  # training runs queued or running
# Annotator quality: the share of review items that are gold faces (honeypots), the share of those
# shown with a wrong label, how long before a gold face may be shown to the same annotator again,
# and the gold accuracy whose upper confidence bound flags an annotator.
FACECURATOR_GOLD_RATE = env_float("FACECURATOR_GOLD_RATE", 0.05)
FACECURATOR_GOLD_DECOY_SHARE = env_float("FACECURATOR_GOLD_DECOY_SHARE", 0.5)
FACECURATOR_GOLD_WINDOW_DAYS = env_float("FACECURATOR_GOLD_WINDOW_DAYS", 7)
# 0.9 flags a 25%-error annotator within 60 gold answers 88% of the time (0.85: 45%) and leaves a 2%-error
# one unflagged (bench/annotators.py, "flag threshold").
FACECURATOR_QUALITY_FLAG_BELOW = env_float("FACECURATOR_QUALITY_FLAG_BELOW", 0.9)
# No flag before this many gold answers stand behind the accuracy (one wrong answer of one has an upper
# bound of 0.79). 15 takes a 2%-error annotator's false alarms within 100 answers from 2.0% to none (of
# 2000 streams), a 5%-error one's from 6.8% to 0.9%, and still first flags a 25%-error one within 60
# answers 95% of the time (without a minimum: 96%) (bench/annotators.py, "flag threshold").
FACECURATOR_QUALITY_MIN_GOLD = env_int("FACECURATOR_QUALITY_MIN_GOLD", 15)
# The checks review makes on leases and decisions (webapp.review.checks): the quality app's gold faces and
# second opinions. Review never imports the app above it; this names it.
FACECURATOR_REVIEW_CHECKS = "webapp.quality.checks.QualityChecks"
# Decisions held until a second annotator agrees (admins' decisions never are), per action:
# relabel_vip (a VIP face relabelled as another VIP), relabel_vip_other (a VIP face relabelled as a
# person who is not a VIP), unknown_vip (a VIP face called an unknown person), not_a_face_vip (a VIP
# face called not a face), confirm_likely_wrong (a confirm of a label the latest run puts at least
# FACECURATOR_VERY_LIKELY_WRONG likely wrong: ml.label_quality's p_wrong). "none": no second opinions.
SECOND_OPINION_KINDS = ("relabel_vip", "relabel_vip_other", "unknown_vip", "not_a_face_vip", "confirm_likely_wrong")
FACECURATOR_SECOND_OPINION = [
    kind for kind in env_list("FACECURATOR_SECOND_OPINION", ["relabel_vip"]) if kind != "none"
]
if set(FACECURATOR_SECOND_OPINION) - set(SECOND_OPINION_KINDS):
    raise ImproperlyConfigured(
        f"FACECURATOR_SECOND_OPINION: unknown kind(s) {', '.join(sorted(set(FACECURATOR_SECOND_OPINION) - set(SECOND_OPINION_KINDS)))}; "
        f"expected a comma-separated list of {', '.join(SECOND_OPINION_KINDS)}, or none."
    )
FACECURATOR_VERY_LIKELY_WRONG = env_float("FACECURATOR_VERY_LIKELY_WRONG", 0.9)
# A relabel or unknown does not wait for a second annotator when the latest run's scorer puts the old
# label at p_wrong >= FACECURATOR_VERY_LIKELY_WRONG and says the face is that identity (its "likely
# wrong" item's hint) at a posterior of at least this: the model is the second opinion. Above 1: never.
FACECURATOR_MODEL_AGREES = env_float("FACECURATOR_MODEL_AGREES", 0.5)
# Flagged annotators' label-changing decisions are held (applied only once a second annotator or an
# admin agrees, like a second opinion) while their gold accuracy keeps them flagged.
FACECURATOR_HOLD_FLAGGED = env_bool("FACECURATOR_HOLD_FLAGGED", False)
# A second opinion that differs from a flagged annotator's held decision settles it, instead of a
# dispute for the admins, when the latest run backs it (a relabel the run agrees with, or a confirm of a
# label it puts at p_wrong <= 1 - FACECURATOR_VERY_LIKELY_WRONG; quality.agreement.model_backs).
FACECURATOR_OVERRULE_FLAGGED = env_bool("FACECURATOR_OVERRULE_FLAGGED", True)
FACECURATOR_REVIEW_MAX_ITEMS = env_int("FACECURATOR_REVIEW_MAX_ITEMS", 1000)  # items per review queue
FACECURATOR_PRETRAINED_WEIGHTS = env_str("FACECURATOR_PRETRAINED_WEIGHTS")  # local path only
FACECURATOR_TAG_MIN_FRAMES = env_int("FACECURATOR_TAG_MIN_FRAMES", 3)
# Workers on several hosts: a local cache of versioned model files and index versions, and how a
# job notices that the worker running it is gone.
FACECURATOR_ARTIFACT_CACHE = env_str("FACECURATOR_ARTIFACT_CACHE", str(VAR_DIR / "cache" / "artifacts"))
FACECURATOR_ARTIFACT_CACHE_KEEP = env_int("FACECURATOR_ARTIFACT_CACHE_KEEP", 3)
FACECURATOR_JOB_MAX_ATTEMPTS = env_int("FACECURATOR_JOB_MAX_ATTEMPTS", 3)
FACECURATOR_JOB_HEARTBEAT_SECONDS = env_float("FACECURATOR_JOB_HEARTBEAT_SECONDS", 15)
FACECURATOR_JOB_LOST_AFTER_SECONDS = env_float("FACECURATOR_JOB_LOST_AFTER_SECONDS", 120)
# Time limits by task name pattern (first match): "pattern=seconds,...", 0 = none. At the soft limit a job
# fails with "time limit exceeded"; one that does not stop is failed GRACE seconds later.
FACECURATOR_JOB_TIME_LIMITS = {
    pattern.strip(): float(seconds)
    for pattern, _, seconds in (
        item.partition("=")
        for item in env_list("FACECURATOR_JOB_TIME_LIMITS", ["training.*=43200", "tagging.*=14400", "*=7200"])
    )
}
FACECURATOR_JOB_TIME_LIMIT_GRACE_SECONDS = env_float("FACECURATOR_JOB_TIME_LIMIT_GRACE_SECONDS", 120)
# The reaper (Celery beat): silent running jobs queued again or failed, unsent queued jobs re-sent.
FACECURATOR_REAPER_SECONDS = env_float("FACECURATOR_REAPER_SECONDS", 60)
FACECURATOR_JOB_RESEND_AFTER_SECONDS = env_float("FACECURATOR_JOB_RESEND_AFTER_SECONDS", 30)
# The orphaned-media sweep (Celery beat and `manage.py sweep_media`).
FACECURATOR_SWEEP_GRACE_HOURS = env_float("FACECURATOR_SWEEP_GRACE_HOURS", 24)
FACECURATOR_SWEEP_EVERY_HOURS = env_float("FACECURATOR_SWEEP_EVERY_HOURS", 24)
CELERY_BEAT_SCHEDULE = {
    "reap-jobs": {"task": "maintenance.reap_jobs", "schedule": FACECURATOR_REAPER_SECONDS},
    **(
        {"sweep-media": {"task": "maintenance.sweep_media", "schedule": FACECURATOR_SWEEP_EVERY_HOURS * 3600}}
        if FACECURATOR_SWEEP_EVERY_HOURS > 0
        else {}
    ),
}
FACECURATOR_DEMO_DATA = env_str(
    "FACECURATOR_DEMO_DATA",
    str(BASE_DIR.parent / "shared" / "data") if (BASE_DIR.parent / "shared" / "data").exists() else "",
)

# Server folders an admin may import from over the API (faces import: the folder and its popularity
# CSV). A path is accepted only if its real path (symlinks resolved) lies inside one of these.
# Default: MEDIA_ROOT/imports, plus the demo data folder when DJANGO_DEBUG is on. Management commands
# run by the operator on the host are not limited by it.
FACECURATOR_IMPORT_ROOTS = env_list(
    "FACECURATOR_IMPORT_ROOTS",
    [str(MEDIA_ROOT / "imports")] + ([FACECURATOR_DEMO_DATA] if DEBUG and FACECURATOR_DEMO_DATA else []),
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # faiss probes for its AVX512/AVX2 builds at import and logs each failed probe at INFO, on every command.
    "loggers": {"faiss.loader": {"level": "WARNING"}},
}
