"""The API benchmark's world: its own PostgreSQL database, Django set up on it, and a populated
curation (identities, faces with embeddings, VIPs promoted, open review queues) (``bench/api.py``)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from bench import common

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/facecurator"


BENCH_DATABASE = "facecurator_bench"


EMBEDDING_DIM = 128


COPY_CHUNK = 50_000


def bench_database_url(base: str, name: str) -> str:
    parts = urlsplit(base)
    if not parts.scheme.startswith("postgres"):
        raise SystemExit(f"bench/api.py needs PostgreSQL; DATABASE_URL is {base!r}")
    return urlunsplit(parts._replace(path=f"/{name}"))


def recreate_database(url: str, *, drop_only: bool = False) -> None:
    """Drop the bench database (closing its connections) and, unless ``drop_only``, create it empty."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            conn.execute(f'CREATE DATABASE "{name}"')


def setup_django(database_url: str, media: Path) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["MEDIA_ROOT"] = str(media)
    os.environ["DJANGO_SETTINGS_MODULE"] = "webapp.settings"
    os.environ.setdefault("DJANGO_DEBUG", "1")
    os.environ["FACECURATOR_REVIEW_MAX_ITEMS"] = "1000000"  # the whole chunk goes into its queue
    os.environ["LOG_LEVEL"] = "WARNING"
    import django

    django.setup()


def populate(
    *,
    faces: int,
    identities: int,
    promote: int,
    data: Path,
    media: Path,
    seed: int,
    annotators: int = 8,
    training_run: bool = False,
) -> dict[str, Any]:
    """Migrate, write identities and faces (COPY), promote a chunk (its review queue), create
    annotators (and an admin); with ``training_run``, start a training run (its job waits in the
    broker until a worker takes it)."""
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from ml.embedders import SFaceEmbedder
    from ml.splits import split_for_group
    from webapp.core.accounts import user_create
    from webapp.faces.models import Face
    from webapp.identities.models import Identity
    from webapp.review.models import Item
    from webapp.training.services import chunk_promote, training_run_start

    timings: dict[str, float] = {}
    clock = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    timings["migrate_s"] = time.perf_counter() - clock

    clock = time.perf_counter()
    crops = []
    folder = media / "faces" / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    glint = common.image_folder(data / "glint24")
    for name in list(glint)[:8]:
        source = glint[name][0]
        target = folder / f"{name.replace(' ', '_')}.jpg"
        shutil.copyfile(source, target)
        crops.append(f"faces/bench/{target.name}")
    people = Identity.objects.bulk_create(
        [
            Identity(name=f"Person {i:05d}", role=Identity.Role.CANDIDATE, popularity_rank=i + 1)
            for i in range(identities)
        ],
        batch_size=5000,
    )
    person_pk = [p.pk for p in people]
    rng = np.random.default_rng(seed)
    centroids = rng.normal(size=(identities, EMBEDDING_DIM)).astype(np.float32)
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    known = int(round(0.9 * faces))
    owner = np.full(faces, -1, dtype=np.int64)
    owner[:known] = np.arange(known) % identities
    now = timezone.now()
    columns = [
        "crop",
        "thumbnail",
        "source",
        "source_path",
        "content_sha256",
        "group_key",
        "identity_id",
        "status",
        "split",
        "version",
        "embedding",
        "embedding_model",
        "detector_score",
        "quality",
        "created_at",
        "updated_at",
    ]
    fields = {f.attname: f.column for f in Face._meta.concrete_fields}
    table = Face._meta.db_table
    connection.ensure_connection()
    with connection.connection.cursor() as cursor:
        with cursor.copy(f"COPY {table} ({', '.join(fields[c] for c in columns)}) FROM STDIN") as copy:
            for lo in range(0, faces, COPY_CHUNK):  # embeddings made a chunk at a time: 1M faces in ~100 MB
                own = owner[lo : lo + COPY_CHUNK]
                vectors = np.where(own[:, None] >= 0, centroids[np.maximum(own, 0)], 0.0)
                vectors = vectors + rng.normal(
                    scale=0.06, size=vectors.shape
                )  # ~cosine 0.6 to the centroid, like SFace
                vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
                for j, person in enumerate(own.tolist()):
                    i = lo + j
                    group = f"crop:bench/{i}"
                    copy.write_row(
                        (
                            crops[i % len(crops)],
                            "",
                            Face.Source.CROP,
                            f"bench/{i}.jpg",
                            "",
                            group,
                            person_pk[person] if person >= 0 else None,
                            Face.Status.UNVERIFIED,
                            split_for_group(group),
                            0,
                            vectors[j].tobytes(),
                            SFaceEmbedder.name,
                            None,
                            float(0.5 + 0.5 * ((i * 7919) % 1000) / 1000),
                            now,
                            now,
                        )
                    )
        cursor.execute(f"ANALYZE {table}")
    timings["insert_s"] = time.perf_counter() - clock

    clock = time.perf_counter()
    promotion = chunk_promote(size=promote, override_reason="benchmark")
    queue = promotion.review_queue
    assert queue is not None  # the promoted chunk has faces to verify
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Item._meta.db_table}")
    timings["promote_and_queue_s"] = time.perf_counter() - clock

    from rest_framework.authtoken.models import Token

    tokens = []
    for i in range(annotators):
        user = user_create(username=f"annotator{i}", password=None, role="annotator")
        tokens.append(Token.objects.create(user=user).key)
    admin = user_create(username="bench-admin", password=None, role="admin")
    run = None
    if training_run:
        clock = time.perf_counter()
        run = training_run_start(user=admin, note="bench/api.py: trains while the annotators work")
        timings["training_run_start_s"] = time.perf_counter() - clock
    return {
        "timings": timings,
        "queue": queue.pk,
        "queue_items": queue.items.count(),
        "identity_ids": [p.pk for p in people[:200]],
        "tokens": tokens,
        "admin_token": Token.objects.create(user=admin).key,
        "training_run": run.pk if run else None,
        "training_job": run.job_id if run else None,
        "faces": Face.objects.count(),
        "identities": Identity.objects.count(),
    }
