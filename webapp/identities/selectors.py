"""Reads on identities."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from django.db.models import Count, Q, QuerySet

from .models import Identity, IdentityEvent, IdentityOperation, IdentitySuggestion

#: Face statuses whose faces do not show the identity (left out of counts and of suggestions).
NOT_SHOWING = ("not_a_face", "excluded")


def identities_with_counts() -> QuerySet[Identity]:
    """Identities with their face counts by status and split, in one query."""
    live = ~Q(faces__status__in=["not_a_face", "excluded"])
    return Identity.objects.annotate(
        face_count=Count("faces", filter=live, distinct=True),
        verified_count=Count("faces", filter=Q(faces__status="verified"), distinct=True),
        train_count=Count("faces", filter=live & Q(faces__split="train"), distinct=True),
        val_count=Count("faces", filter=live & Q(faces__split="val"), distinct=True),
        test_count=Count("faces", filter=live & Q(faces__split="test"), distinct=True),
    ).select_related("merged_into").order_by(*(Identity._meta.ordering or ()))  # aggregation queries drop Meta.ordering


def identities_active() -> QuerySet[Identity]:
    """Identities that are not merge tombstones: the ones to label with, train on and promote.

    A merged identity keeps its row (history points at it) with ``merged_into`` set; it must never
    be part of a VIP set, a distractor set or a picker again. Use this instead of
    ``Identity.objects`` wherever "the identities" means the current ones.
    """
    return Identity.objects.filter(merged_into__isnull=True)


def identity_resolve(*, identity: Identity) -> Identity:
    """The identity a tombstone redirects to (itself when it is active); follows chains of merges."""
    seen = {identity.pk}
    while identity.merged_into_id is not None:
        identity = Identity.objects.get(pk=identity.merged_into_id)
        if identity.pk in seen:  # a cycle cannot be written by the services; stop rather than loop
            break
        seen.add(identity.pk)
    return identity


def identity_events_for_listing(*, identity_id: int) -> QuerySet[IdentityEvent]:
    """An identity's edits (rename, aliases, rank, role, notes), newest first, with who made them."""
    return IdentityEvent.objects.filter(identity_id=identity_id).select_related("user")


def identity_operations_for_listing(*, identity_id: int | None = None, kind: str | None = None,
                                    undone: bool | None = None) -> QuerySet[IdentityOperation]:
    """Merges and splits, newest first; optionally those touching one identity (as source or target)."""
    queryset = IdentityOperation.objects.select_related("source", "target", "user", "undone_by")
    if identity_id is not None:
        queryset = queryset.filter(Q(source_id=identity_id) | Q(target_id=identity_id))
    if kind:
        queryset = queryset.filter(kind=kind)
    if undone is not None:
        queryset = queryset.filter(undone_at__isnull=not undone)
    return queryset


def identity_operations_blocking_undo(*, operation: IdentityOperation) -> QuerySet[IdentityOperation]:
    """Later operations, not undone, on either identity of ``operation``: they must be undone first."""
    ids = [operation.source_id, operation.target_id]
    return IdentityOperation.objects.filter(
        Q(source_id__in=ids) | Q(target_id__in=ids), undone_at__isnull=True, pk__gt=operation.pk,
    ).order_by("-pk")


def identity_suggestions_for_listing(*, kind: str | None = None, status: str | None = None,
                                     identity_id: int | None = None) -> QuerySet[IdentitySuggestion]:
    """Suggestions most likely first. Open ones about a merged (tombstone) identity are left out:
    they were overtaken by a merge and the next computation drops them."""
    queryset = IdentitySuggestion.objects.select_related("identity", "other", "decided_by")
    if identity_id is not None:
        queryset = queryset.filter(Q(identity_id=identity_id) | Q(other_id=identity_id))
    if kind:
        queryset = queryset.filter(kind=kind)
    if status:
        queryset = queryset.filter(status=status)
    if status == IdentitySuggestion.Status.OPEN:
        queryset = queryset.filter(identity__merged_into__isnull=True).exclude(other__merged_into__isnull=False)
    return queryset.order_by("-score", "id")


def suggestion_example_crops(*, suggestions: list[IdentitySuggestion]) -> dict[int, str | None]:
    """Crop URLs of every example face the suggestions show, in one query: {face id: url}."""
    from webapp.faces.models import Face

    ids = set()
    for suggestion in suggestions:
        for side in suggestion.evidence.get("sides", []):
            ids.update(side.get("examples", []))
    return {face.pk: (face.crop.url if face.crop else None) for face in Face.objects.filter(pk__in=ids).only("pk", "crop")}


@dataclass(frozen=True)
class Embeddings:
    """Face embeddings of active identities: ``vectors[i]`` is face ``face_ids[i]`` of ``identity_ids[i]``."""

    face_ids: np.ndarray
    identity_ids: np.ndarray
    vectors: np.ndarray
    model: str

    def __len__(self) -> int:
        return len(self.face_ids)


def identity_embeddings(*, max_per_identity: int | None = None, identity_ids: list[int] | None = None,
                        seed: int = 0, chunk_size: int = 5000) -> Embeddings:
    """The stored embeddings of faces that show an active identity (status not "not a face"/"excluded"),
    from the embedder the face index uses. An identity with more than ``max_per_identity`` such
    faces gives a uniform sample of that many (seeded: two computations over the same faces agree;
    uniform, not the oldest: a second person imported later must be in the sample)."""
    from webapp.faces.index import embedding_model
    from webapp.faces.models import Face, embedding_array

    model = embedding_model()
    queryset = Face.objects.filter(
        identity__isnull=False, identity__merged_into__isnull=True, embedding__isnull=False, embedding_model=model,
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
        batch = queryset.filter(pk__in=chosen[start:start + chunk_size].tolist()).order_by("pk")
        for pk, owner, blob in batch.values_list("pk", "identity_id", "embedding"):
            face_ids.append(pk)
            owners_out.append(owner)
            rows.append(embedding_array(blob))
    dim = len(rows[0]) if rows else 0
    return Embeddings(
        face_ids=np.asarray(face_ids, dtype=np.int64), identity_ids=np.asarray(owners_out, dtype=np.int64),
        vectors=np.vstack(rows).astype(np.float32) if rows else np.zeros((0, dim), dtype=np.float32), model=model,
    )


def run_confusion(*, run_id: int) -> dict[tuple[int, int], float]:
    """How often a training run's model took identity a's samples for VIP b: {(a, b): rate}, a != b.

    Read from the run's frozen samples (label at start, top predicted VIP class after training).
    Rows of a VIP identity count its samples predicted as another VIP; rows of a candidate
    identity (a distractor in that run, ``label`` -1) count its samples whose top VIP is b. Rates
    are over all of a's samples in the run; identities the run did not see are absent.
    """
    from webapp.training.models import RunSample, TrainingRun

    run = TrainingRun.objects.only("vips").get(pk=run_id)
    class_identity = {vip["index"]: vip["identity"] for vip in run.vips}
    rows = (RunSample.objects.filter(run_id=run_id, identity_id__isnull=False, predicted__isnull=False)
            .order_by().values_list("identity_id", "predicted").annotate(n=Count("id")))
    totals: dict[int, int] = {}
    counts: dict[tuple[int, int], int] = {}
    for identity_id, predicted, n in rows:
        totals[identity_id] = totals.get(identity_id, 0) + n
        target = class_identity.get(predicted)
        if target is not None and target != identity_id:
            counts[(identity_id, target)] = counts.get((identity_id, target), 0) + n
    return {pair: n / totals[pair[0]] for pair, n in counts.items()}
