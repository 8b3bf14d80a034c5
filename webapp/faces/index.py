"""The similarity index over face embeddings, persisted through Django's default storage.

``ml.index.FaceIndex`` does the searching; this module decides what goes in it and where it
lives. Embeddings stay in ``Face.embedding`` (the source of truth), so the index can always be
rebuilt from the database (job ``faces.rebuild_index``); imports add their faces incrementally.

Layout in storage: ``index/faces-<version>.faiss`` and, written *after* it, the manifest
``index/faces-<version>.json`` ({version, count, dim, embedding_model, created_at}). The writer
then publishes the version in the database (``core.Artifact`` "faces-index", same transaction as
its lock), so a reader on any host learns the current version from one query and never sees a
half-written index; it loads the file through the local artefact cache
(:func:`webapp.core.artifacts.artifact_local_path`). Indexes written before versions were
recorded are found by listing the manifests. Writers take a database lock (PostgreSQL advisory
lock; SQLite's write lock) so two imports never both build version N+1 from version N. Older
versions are deleted after a new one is complete (the previous one is kept for readers mid-load).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.utils import timezone

from webapp.core.artifacts import artifact_forget, artifact_latest, artifact_local_path, artifact_publish
from webapp.core.storage import storage_listdir

from .models import Face, embedding_array

logger = logging.getLogger(__name__)

INDEX_DIR = "index"
INDEX_ARTIFACT = "faces-index"
_VERSION_RE = re.compile(r"^faces-(\d+)\.json$")
_LOCK_KEY = 0x0FAC_E1DE  # pg_advisory_xact_lock key for index writers
_cache_lock = threading.Lock()
_cache: dict[str, Any] = {"version": None, "index": None}


def _index_name(version: int) -> str:
    return f"{INDEX_DIR}/faces-{version:06d}.faiss"


def _manifest_name(version: int) -> str:
    return f"{INDEX_DIR}/faces-{version:06d}.json"


def new_index(dim: int):
    """An empty index with the configured IVF threshold."""
    from ml.index import FaceIndex

    return FaceIndex(dim, ivf_threshold=settings.FACECURATOR_INDEX_IVF_THRESHOLD)


def embedding_model() -> str:
    """The embedding space faces are embedded in now (``Face.embedding_model``), e.g.
    ``sface-2021dec-int8bq``; the index holds only faces of this space. Known without loading
    any model."""
    from ml.faces import EMBEDDERS

    return EMBEDDERS[settings.FACECURATOR_FACE_EMBEDDER].name


def embedding_match_threshold() -> float:
    """Cosine above which the configured embedder takes two faces for the same person."""
    from ml.embedders import MATCH_THRESHOLDS

    return MATCH_THRESHOLDS[embedding_model()]


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------
def index_versions() -> list[int]:
    """Complete versions in storage (those with a manifest), oldest first."""
    _dirs, files = storage_listdir(INDEX_DIR)  # object stores have no folder to ask exists() about
    return sorted(int(m.group(1)) for m in map(_VERSION_RE.match, files) if m)


def index_manifest() -> dict[str, Any] | None:
    """The newest complete index's manifest, or None when no index was written yet."""
    published = artifact_latest(kind=INDEX_ARTIFACT)
    if published is not None:
        return published.meta
    versions = index_versions()
    if not versions:
        return None
    with default_storage.open(_manifest_name(versions[-1]), "rb") as handle:
        return json.loads(handle.read())


def index_load():
    """A fresh, private copy of the newest index (None when there is none): safe to modify."""
    from ml.index import FaceIndex

    manifest = index_manifest()
    if manifest is None:
        return None
    return FaceIndex.load(
        artifact_local_path(_index_name(manifest["version"])), ivf_threshold=settings.FACECURATOR_INDEX_IVF_THRESHOLD
    )


def index_current():
    """The newest index, shared read-only within this process (reloaded when a newer one lands)."""
    manifest = index_manifest()
    if manifest is None:
        return None
    key = (manifest["version"], manifest.get("created_at"))
    with _cache_lock:
        if _cache["version"] != key:
            _cache["index"], _cache["version"] = index_load(), key
        return _cache["index"]


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------
@contextmanager
def _writer_lock() -> Iterator[None]:
    """One index writer at a time, across processes and machines sharing the database."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
        # SQLite: transaction_mode IMMEDIATE (settings) makes this atomic block take the write lock.
        yield


def _save(index, *, count: int) -> dict[str, Any]:
    """Write ``index`` as the next version (index file first, manifest last); call under the lock."""
    versions = index_versions()
    published = artifact_latest(kind=INDEX_ARTIFACT)
    version = max([0, *versions[-1:], *([published.version] if published else [])]) + 1
    for name in (_index_name(version), _manifest_name(version)):
        if default_storage.exists(name):  # left behind by a writer that died mid-way
            default_storage.delete(name)
    default_storage.save(_index_name(version), ContentFile(index.to_bytes()))
    manifest = {
        "version": version,
        "count": count,
        "dim": index.dim,
        "embedding_model": embedding_model(),
        "file": _index_name(version),
        "created_at": timezone.now().isoformat(),
    }
    default_storage.save(_manifest_name(version), ContentFile(json.dumps(manifest).encode()))
    artifact_publish(kind=INDEX_ARTIFACT, version=version, name=_index_name(version), meta=manifest)
    artifact_forget(kind=INDEX_ARTIFACT, below=version - 1)
    for old in versions[:-1]:
        for name in (_manifest_name(old), _index_name(old)):
            try:
                default_storage.delete(name)
            except Exception:  # noqa: BLE001 - an old version left behind is harmless
                logger.warning("could not delete old index file %s", name)
    return manifest


def _embeddings(queryset) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(ids, vectors) in chunks of 5000 faces, straight from ``Face.embedding``."""
    rows = (
        queryset.filter(embedding__isnull=False, embedding_model=embedding_model())
        .order_by("id")
        .values_list("id", "embedding")
        .iterator(chunk_size=5000)
    )
    ids, vectors = [], []
    for pk, blob in rows:
        ids.append(pk)
        vectors.append(embedding_array(blob))
        if len(ids) == 5000:
            yield np.array(ids, dtype=np.int64), np.stack(vectors)
            ids, vectors = [], []
    if ids:
        yield np.array(ids, dtype=np.int64), np.stack(vectors)


def index_add_faces(*, face_ids: list[int]) -> dict[str, Any] | None:
    """Add (or refresh) these faces' embeddings in the persisted index: a new version.

    Idempotent: adding a face that is already there replaces its vector. Returns the manifest.
    """
    if not face_ids:
        return None
    with _writer_lock():
        index = index_load()
        manifest = index_manifest()
        added = 0
        for start in range(0, len(face_ids), 20_000):
            for ids, vectors in _embeddings(Face.objects.filter(pk__in=face_ids[start : start + 20_000])):
                if index is None:
                    index = new_index(vectors.shape[1])
                index.add(ids, vectors)
                added += len(ids)
        if index is None or not added:
            return manifest
        return _save(index, count=len(index))


def index_remove_faces(*, face_ids: list[int]) -> dict[str, Any] | None:
    """Drop faces (deleted, or re-embedded by another model) from the persisted index."""
    with _writer_lock():
        index = index_load()
        if index is None or not index.remove(np.asarray(face_ids, dtype=np.int64)):
            return index_manifest()
        return _save(index, count=len(index))


def index_rebuild(*, progress: Callable[[float, str], None] | None = None) -> dict[str, Any]:
    """Build the index from every stored embedding and publish it as a new version."""
    total = Face.objects.filter(embedding__isnull=False, embedding_model=embedding_model()).count()
    with _writer_lock():
        index, done = None, 0
        for ids, vectors in _embeddings(Face.objects.all()):
            if index is None:
                index = new_index(vectors.shape[1])
            index.add(ids, vectors)
            done += len(ids)
            if progress:
                progress(0.95 * done / max(total, 1), f"{done}/{total} embeddings indexed")
        if index is None:
            return {"version": None, "count": 0, "message": "no embedded faces to index"}
        manifest = _save(index, count=len(index))
    return {**manifest, "ivf": bool(index.is_ivf)}


# --------------------------------------------------------------------------------------------
# Queries: "more faces like this", neighbour labels
# --------------------------------------------------------------------------------------------
def faces_similar(*, face: Face, k: int = 20) -> list[tuple[Face, float]]:
    """The ``k`` faces most similar to ``face`` (itself left out), best first, with cosines.

    Uses the persisted index; faces it returns that no longer exist are skipped. A face without
    an embedding (or embedded by another model than the configured one) has no neighbours.
    """
    vector = face.embedding_vector
    if vector is None or face.embedding_model != embedding_model():
        return []  # no embedding, or one from another embedding space than the index's
    index = index_current()
    if index is None or len(index) == 0:
        return []
    ids, sims = index.search(vector[None, :], k + 1)
    ranked = [(int(i), float(s)) for i, s in zip(ids[0], sims[0], strict=True) if int(i) != face.pk][:k]
    faces = Face.objects.select_related("identity").defer("embedding").in_bulk([i for i, _ in ranked])
    return [(faces[i], score) for i, score in ranked if i in faces]


def face_neighbour_labels(
    *, face: Face, k: int = 10, neighbours: list[tuple[Face, float]] | None = None
) -> dict[str, Any]:
    """How the ``k`` nearest faces are labelled: a cheap "does this label look right?" check.

    Returns the identity most labelled-or-unknown neighbours carry (``majority``, None = unknown
    people), its share of the votes, and ``disagrees`` when that majority (over half the votes)
    is another identity than the face's own. Pass ``neighbours`` to reuse a search.
    """
    if neighbours is None:
        neighbours = faces_similar(face=face, k=k)
    votes: dict[int | None, int] = {}
    for other, _score in neighbours[:k]:
        if other.status in (Face.Status.NOT_A_FACE, Face.Status.EXCLUDED):
            continue
        votes[other.identity_id] = votes.get(other.identity_id, 0) + 1
    if not votes:
        return {"majority": None, "share": 0.0, "disagrees": False, "neighbours": len(neighbours[:k])}
    majority = max(votes, key=lambda key: votes[key])
    share = votes[majority] / sum(votes.values())
    return {
        "majority": majority,
        "share": round(share, 3),
        "disagrees": majority is not None and majority != face.identity_id and share > 0.5,
        "neighbours": len(neighbours[:k]),
    }
