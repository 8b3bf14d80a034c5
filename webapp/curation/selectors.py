"""Reads for curating identities through their faces: the embeddings suggestions are computed
from, a training run's confusion between identities, the example crops a suggestion shows, and
the faces list with the active model's confidence."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from django.db.models import Count, QuerySet

from webapp.faces import selectors as face_selectors
from webapp.faces.index import embedding_model
from webapp.faces.models import Face, embedding_array
from webapp.identities.models import IdentitySuggestion
from webapp.identities.selectors import NOT_SHOWING
from webapp.training import selectors as training_selectors
from webapp.training.models import RunSample, TrainingRun


def suggestion_example_crops(*, suggestions: list[IdentitySuggestion]) -> dict[int, str | None]:
    """Crop URLs of every example face the suggestions show, in one query: {face id: url}."""
    ids = set()
    for suggestion in suggestions:
        for side in suggestion.evidence.get("sides", []):
            ids.update(side.get("examples", []))
    return {
        face.pk: (face.crop.url if face.crop else None) for face in Face.objects.filter(pk__in=ids).only("pk", "crop")
    }


@dataclass(frozen=True)
class Embeddings:
    """Face embeddings of active identities: ``vectors[i]`` is face ``face_ids[i]`` of ``identity_ids[i]``."""

    face_ids: np.ndarray
    identity_ids: np.ndarray
    vectors: np.ndarray
    model: str

    def __len__(self) -> int:
        return len(self.face_ids)


def identity_embeddings(
    *, max_per_identity: int | None = None, identity_ids: list[int] | None = None, seed: int = 0, chunk_size: int = 5000
) -> Embeddings:
    """The stored embeddings of faces that show an active identity (status not "not a face"/"excluded"),
    from the embedder the face index uses. An identity with more than ``max_per_identity`` such
    faces gives a uniform sample of that many (seeded: two computations over the same faces agree;
    uniform, not the oldest: a second person imported later must be in the sample)."""
    model = embedding_model()
    queryset = Face.objects.filter(
        identity__isnull=False,
        identity__merged_into__isnull=True,
        embedding__isnull=False,
        embedding_model=model,
    ).exclude(status__in=NOT_SHOWING)
    if identity_ids is not None:
        queryset = queryset.filter(identity_id__in=identity_ids)
    pairs = np.asarray(list(queryset.order_by("pk").values_list("pk", "identity_id")), dtype=np.int64).reshape(-1, 2)
    chosen = pairs[:, 0]
    if max_per_identity is not None and len(pairs):
        rng = np.random.default_rng(seed)
        owners, counts = np.unique(pairs[:, 1], return_counts=True)
        keep = np.ones(len(pairs), dtype=bool)
        for owner in owners[counts > max_per_identity]:
            members = np.flatnonzero(pairs[:, 1] == owner)
            keep[members] = False
            keep[rng.choice(members, max_per_identity, replace=False)] = True
        chosen = pairs[keep, 0]
    face_ids, owners_out, rows = [], [], []
    for start in range(0, len(chosen), chunk_size):
        batch = queryset.filter(pk__in=chosen[start : start + chunk_size].tolist()).order_by("pk")
        for pk, owner, blob in batch.values_list("pk", "identity_id", "embedding"):
            face_ids.append(pk)
            owners_out.append(owner)
            rows.append(embedding_array(blob))
    dim = len(rows[0]) if rows else 0
    return Embeddings(
        face_ids=np.asarray(face_ids, dtype=np.int64),
        identity_ids=np.asarray(owners_out, dtype=np.int64),
        vectors=np.vstack(rows).astype(np.float32) if rows else np.zeros((0, dim), dtype=np.float32),
        model=model,
    )


def run_confusion(*, run_id: int) -> dict[tuple[int, int], float]:
    """How often a training run's model took identity a's samples for VIP b: {(a, b): rate}, a != b.

    Read from the run's frozen samples (label at start, top predicted VIP class after training).
    Rows of a VIP identity count its samples predicted as another VIP; rows of a candidate
    identity (a distractor in that run, ``label`` -1) count its samples whose top VIP is b. Rates
    are over all of a's samples in the run; identities the run did not see are absent.
    """
    run = TrainingRun.objects.only("vips").get(pk=run_id)
    class_identity = {vip["index"]: vip["identity"] for vip in run.vips}
    rows = (
        RunSample.objects.filter(run_id=run_id, identity_id__isnull=False, predicted__isnull=False)
        .order_by()
        .values_list("identity_id", "predicted")
        .annotate(n=Count("id"))
    )
    totals: dict[int, int] = {}
    counts: dict[tuple[int, int], int] = {}
    for identity_id, predicted, n in rows:
        totals[identity_id] = totals.get(identity_id, 0) + n
        target = class_identity.get(predicted)
        if target is not None and target != identity_id:
            counts[(identity_id, target)] = counts.get((identity_id, target), 0) + n
    return {pair: n / totals[pair[0]] for pair, n in counts.items()}


def faces_for_listing() -> QuerySet[Face]:
    """Faces with their identity and the active model's confidence (``model_confidence``), one query a page."""
    return face_selectors.faces_for_listing().annotate(model_confidence=training_selectors.active_model_confidence())
