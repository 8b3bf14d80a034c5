"""Writes that curate identities through their faces: merge, split and undo (every moved face
relabelled through ``faces.services``, one operation id), and the merge and split suggestions
computed from face embeddings and a training run's confusion.

Above faces and training (identities below them holds the identity rows and their own edits).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from django.db import connection, transaction
from django.utils import timezone

from webapp.core.exceptions import Conflict, InvalidTransition, NotFound
from webapp.core.models import Job
from webapp.core.roles import Actor, recorded_user
from webapp.faces.models import Face, LabelEvent
from webapp.faces.services import LabelChange, faces_relabel, operation_undo
from webapp.identities import selectors as identity_selectors
from webapp.identities.models import Identity, IdentityOperation, IdentitySuggestion
from webapp.identities.services import identities_lock, identity_create, identity_require_active

from . import selectors

if TYPE_CHECKING:
    from . import suggestions as found_by


class OperationRefused(InvalidTransition):
    """A merge or split that cannot be done as asked (answered 400, nothing written)."""

    code = "operation_refused"


class UndoRefused(Conflict):
    """An undo that would overwrite later work (answered 409, nothing written)."""

    code = "undo_refused"


def _suggestion_take(suggestion_id: int | None, *, kind: str, identity_ids: set[int]) -> IdentitySuggestion | None:
    """Lock the suggestion an operation accepts, checking it is open and about these identities."""
    if suggestion_id is None:
        return None
    suggestion = IdentitySuggestion.objects.select_for_update().filter(pk=suggestion_id).first()
    if suggestion is None:
        raise NotFound(f"No suggestion with id {suggestion_id}.")
    if suggestion.kind != kind:
        raise OperationRefused(f"Suggestion {suggestion_id} is a {suggestion.kind} suggestion, not a {kind}.")
    if suggestion.status != IdentitySuggestion.Status.OPEN:
        raise Conflict(f"Suggestion {suggestion_id} is already {suggestion.status}.")
    if {suggestion.identity_id, suggestion.other_id} - {None} - identity_ids:
        raise OperationRefused(f"Suggestion {suggestion_id} is about other identities.")
    return suggestion


def _suggestion_decide(suggestion: IdentitySuggestion | None, *, status: str, user: Actor) -> None:
    if suggestion is None:
        return
    suggestion.status = status
    suggestion.decided_by = recorded_user(user) if status != IdentitySuggestion.Status.OPEN else None
    suggestion.decided_at = timezone.now() if status != IdentitySuggestion.Status.OPEN else None
    suggestion.save(update_fields=["status", "decided_by", "decided_at", "updated_at"])


def _why(text: str, reason: str) -> str:
    return f"{text}: {reason}" if reason else text


PROFILE_FIELDS = ("aliases", "role", "popularity_rank", "chunk")


def _profile(identity: Identity) -> dict:
    return {
        name: (list(getattr(identity, name)) if name == "aliases" else getattr(identity, name))
        for name in PROFILE_FIELDS
    }


def identity_merge(
    *, source_id: int, into_id: int, user: Actor = None, reason: str = "", suggestion_id: int | None = None
) -> IdentityOperation:
    """Merge identity ``source_id`` (A) into ``into_id`` (B), in one transaction.

    * Every face of A (whatever its status) moves to B through ``faces_relabel``: one LabelEvent
      per face, all with this operation's UUID; statuses are kept (a face verified as A is the
      same person as B).
    * A's name and aliases become aliases of B (names B already has are not repeated).
    * B inherits what made A count: if A was a VIP and B was not, B becomes a VIP of A's chunk;
      B takes A's popularity rank when it is better (lower). Otherwise B's fields stay.
    * A stays as a tombstone (``merged_into`` = B): history keeps pointing at it, it redirects,
      and it leaves every listing, picker and VIP set (``identities.selectors.identities_active``).
      Tombstones that pointed at A now point at B, so a redirect is always one hop.

    Refused (nothing written): merging into itself, from or into a tombstone, unknown ids.
    """
    if source_id == into_id:
        raise OperationRefused("An identity cannot be merged into itself.")
    with transaction.atomic():
        rows = identities_lock(ids=[source_id, into_id])
        source, target = rows[source_id], rows[into_id]
        identity_require_active(source, action="merge")
        identity_require_active(target, action="merge into")
        suggestion = _suggestion_take(
            suggestion_id, kind=IdentitySuggestion.Kind.MERGE, identity_ids={source.pk, target.pk}
        )

        face_ids = list(
            Face.objects.select_for_update().filter(identity=source).order_by("pk").values_list("pk", flat=True)
        )
        operation = uuid.uuid4()
        faces_relabel(
            changes=[LabelChange(face_id=pk, identity=target) for pk in face_ids],
            user=user,
            operation=operation,
            reason=_why(f"merge of identity {source.pk} '{source.name}' into {target.pk} '{target.name}'", reason),
        )

        before = _profile(target)
        known = {name.casefold() for name in [target.name, *target.aliases]}
        added = []
        for name in [source.name, *source.aliases]:
            if name.casefold() not in known:
                known.add(name.casefold())
                added.append(name)
        target.aliases = [*target.aliases, *added]
        if source.role == Identity.Role.VIP and target.role != Identity.Role.VIP:
            target.role, target.chunk = Identity.Role.VIP, source.chunk
        if source.popularity_rank is not None and (
            target.popularity_rank is None or source.popularity_rank < target.popularity_rank
        ):
            target.popularity_rank = source.popularity_rank
        target.save(update_fields=[*PROFILE_FIELDS, "updated_at"])

        repointed = list(Identity.objects.filter(merged_into=source).order_by("pk").values_list("pk", flat=True))
        Identity.objects.filter(pk__in=repointed).update(merged_into=target)
        source.merged_into = target
        source.save(update_fields=["merged_into", "updated_at"])

        record = IdentityOperation.objects.create(
            kind=IdentityOperation.Kind.MERGE,
            source=source,
            target=target,
            operation=operation,
            face_ids=face_ids,
            before={"target": before, "target_after": _profile(target), "added_aliases": added, "repointed": repointed},
            reason=reason[:300],
            suggestion=suggestion,
            user=recorded_user(user),
        )
        _suggestion_decide(suggestion, status=IdentitySuggestion.Status.ACCEPTED, user=user)
        return record


def _revivable(identity: Identity, *, source: Identity) -> bool:
    """A name left by an undone split of ``source`` (a faceless tombstone pointing back at it) may be reused."""
    return (
        identity.merged_into_id == source.pk
        and not identity.faces.exists()
        and IdentityOperation.objects.filter(
            kind=IdentityOperation.Kind.SPLIT,
            source=source,
            target=identity,
            target_created=True,
            undone_at__isnull=False,
        ).exists()
    )


def identity_split(
    *,
    source_id: int,
    face_ids: list[int],
    into_id: int | None = None,
    new_name: str | None = None,
    status: str | None = None,
    user: Actor = None,
    reason: str = "",
    suggestion_id: int | None = None,
) -> IdentityOperation:
    """Move the chosen faces of identity ``source_id`` (A) to an existing identity or a new one, in one transaction.

    Exactly one of ``into_id`` (an active identity other than A) and ``new_name`` (a new
    candidate identity; a name left by an undone split of A is revived) is given. Every face
    must currently be A's. Each moved face gets a LabelEvent (one operation UUID); its status is
    kept unless ``status`` is given (e.g. "unverified": nobody has yet confirmed it as the new person).
    """
    new_name = (new_name or "").strip() or None
    if (into_id is None) == (new_name is None):
        raise OperationRefused("Give either `into` (an existing identity) or `new_name` (a new one), not both.")
    if not face_ids:
        raise OperationRefused("Choose at least one face to move.")
    if len(set(face_ids)) != len(face_ids):
        raise OperationRefused("A face is listed twice.")
    if into_id == source_id:
        raise OperationRefused("Faces cannot be split into the identity they are in.")
    if status is not None and status not in Face.Status.values:
        raise OperationRefused(f"Unknown status '{status}'; expected one of {', '.join(Face.Status.values)}.")
    with transaction.atomic():
        rows = identities_lock(ids=[source_id] if into_id is None else [source_id, into_id])
        source = rows[source_id]
        identity_require_active(source, action="split")
        owners = dict(Face.objects.select_for_update().filter(pk__in=face_ids).values_list("pk", "identity_id"))
        unknown = sorted(set(face_ids) - set(owners))
        if unknown:
            raise OperationRefused(f"No face with id {', '.join(map(str, unknown))}.", extra={"faces": unknown})
        foreign = sorted(pk for pk, owner in owners.items() if owner != source.pk)
        if foreign:
            raise OperationRefused(
                f"Faces {', '.join(map(str, foreign))} are not faces of identity {source.pk} '{source.name}'; "
                f"only its own faces can be split off.",
                extra={"faces": foreign},
            )
        created = revived = False
        if into_id is not None:
            target = rows[into_id]
            identity_require_active(target, action="split into")
        else:
            existing = Identity.objects.select_for_update().filter(name=new_name).first()
            assert new_name is not None  # either into_id or new_name, checked above
            if existing is None:
                target = identity_create(name=new_name, notes=f"Split from identity {source.pk} '{source.name}'.")
                created = True
            elif _revivable(existing, source=source):
                existing.merged_into = None
                existing.save(update_fields=["merged_into", "updated_at"])
                target, created, revived = existing, True, True
            else:
                raise Conflict(
                    f"An identity named '{new_name}' already exists (id {existing.pk}); "
                    f"split into it with `into` instead.",
                    extra={"identity": existing.pk},
                )
        suggestion = _suggestion_take(suggestion_id, kind=IdentitySuggestion.Kind.SPLIT, identity_ids={source.pk})

        operation = uuid.uuid4()
        faces_relabel(
            changes=[LabelChange(face_id=pk, identity=target, status=status) for pk in sorted(face_ids)],
            user=user,
            operation=operation,
            reason=_why(
                f"split of {len(face_ids)} faces from identity {source.pk} '{source.name}' "
                f"into {target.pk} '{target.name}'",
                reason,
            ),
        )
        record = IdentityOperation.objects.create(
            kind=IdentityOperation.Kind.SPLIT,
            source=source,
            target=target,
            target_created=created,
            operation=operation,
            face_ids=sorted(face_ids),
            before={"revived": revived},
            reason=reason[:300],
            suggestion=suggestion,
            user=recorded_user(user),
        )
        _suggestion_decide(suggestion, status=IdentitySuggestion.Status.ACCEPTED, user=user)
        return record


def identity_operation_undo(*, operation_id: int, user: Actor = None) -> IdentityOperation:
    """Undo a merge or split, in one transaction, putting back exactly what it changed.

    * Faces: ``operation_undo`` writes one new LabelEvent per moved face restoring its identity
      and status (history is never rewritten). Refused (409) if a face changed since.
    * Merge: the tombstone is cleared, tombstones re-pointed to B point at A again, the aliases
      the merge gave B are removed, and B's role/rank/chunk go back where the merge changed them
      (a field somebody edited since is left as they set it).
    * Split into a new identity: that identity, now empty, becomes a tombstone redirecting to A
      (it cannot be deleted: the split's LabelEvents reference it); splitting again with the same
      name revives it. If faces were labelled with it since, it is kept as it is.
    * The suggestion the operation accepted is open again.

    Refused (409) when already undone, or when a later operation (not undone) touched either
    identity: undo that one first.
    """
    with transaction.atomic():
        record = IdentityOperation.objects.select_for_update().filter(pk=operation_id).first()
        if record is None:
            raise NotFound(f"No identity operation with id {operation_id}.")
        if record.undone_at is not None:
            raise UndoRefused(f"Identity operation {record.pk} is already undone.")
        later = identity_selectors.identity_operations_blocking_undo(operation=record).first()
        if later is not None:
            raise UndoRefused(
                f"Identity operation {later.pk} ({later.kind} {later.source_id} -> {later.target_id}) came later on "
                f"the same identities; undo it first.",
                extra={"operation": later.pk},
            )
        rows = identities_lock(ids=[record.source_id, record.target_id])
        source, target = rows[record.source_id], rows[record.target_id]

        if record.kind == IdentityOperation.Kind.MERGE:  # A is active again before its faces go back to it
            source.merged_into = None
            source.save(update_fields=["merged_into", "updated_at"])
            Identity.objects.filter(pk__in=record.before.get("repointed", []), merged_into=target).update(
                merged_into=source
            )

        if LabelEvent.objects.filter(operation=record.operation, undone_by__isnull=True).exists():
            operation_undo(operation=record.operation, user=user)

        if record.kind == IdentityOperation.Kind.MERGE:
            before, after = record.before["target"], record.before["target_after"]
            added = set(record.before.get("added_aliases", []))
            target.aliases = [name for name in target.aliases if name not in added]
            for name in ("role", "popularity_rank", "chunk"):
                if getattr(target, name) == after[name]:
                    setattr(target, name, before[name])
            target.save(update_fields=[*PROFILE_FIELDS, "updated_at"])
        elif record.target_created and not Face.objects.filter(identity=target).exists():
            target.merged_into = source
            target.save(update_fields=["merged_into", "updated_at"])

        record.undone_at, record.undone_by = timezone.now(), recorded_user(user)
        record.save(update_fields=["undone_at", "undone_by"])
        if record.suggestion_id is not None:
            suggestion = IdentitySuggestion.objects.select_for_update().get(pk=record.suggestion_id)
            if suggestion.status == IdentitySuggestion.Status.ACCEPTED:
                _suggestion_decide(suggestion, status=IdentitySuggestion.Status.OPEN, user=user)
        return record


def _keep_first(a: Identity, b: Identity, sizes: dict[int, int]) -> tuple[Identity, Identity]:
    """Which of two identities to keep in a merge suggestion: the VIP, then the more popular
    (lower rank), then the one with more faces, then the older; returns (keep, merge away)."""

    def rank(identity: Identity) -> tuple[bool, float, int, int]:
        return (
            identity.role != Identity.Role.VIP,
            identity.popularity_rank if identity.popularity_rank is not None else float("inf"),
            -sizes.get(identity.pk, 0),
            identity.pk,
        )

    return (a, b) if rank(a) <= rank(b) else (b, a)


_SUGGESTIONS_LOCK_KEY = 0x1D5_0651  # any constant unique among the app's advisory locks


def _serialise_suggestion_writers() -> None:
    """Inside a transaction: one suggestion computation stores at a time (two jobs at once would
    each insert the pairs the other has not committed yet). PostgreSQL advisory lock; SQLite
    serialises writers by itself."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_SUGGESTIONS_LOCK_KEY])


def _no_progress(fraction: float, message: str = "") -> None:
    """Progress reports nobody reads (no job)."""


def identity_suggestions_compute(
    *,
    run_id: int | None = None,
    job: Job | None = None,
    progress: Callable[[float, str], None] | None = None,
    merge_settings: found_by.MergeSettings | None = None,
    split_settings: found_by.SplitSettings | None = None,
    max_faces_per_identity: int = 300,
) -> dict:
    """Compute merge and split suggestions over every active identity's embedded faces and store them.

    Call it after a training run with that run's id to add the model's mutual confusion to the
    merge evidence (``selectors.run_confusion``). Open suggestions are replaced (found again:
    updated in place, same id; not found: deleted); a pair (merge) or identity (split) an admin
    dismissed is not suggested again, and accepted ones are left alone. At most
    ``max_faces_per_identity`` faces per identity are clustered (a seeded uniform sample), so the cost stays
    bounded; a split suggestion found on such a sample then gives every face of the identity to
    the nearer cluster, so its sides list all faces.

    Returns counts: faces and identities examined, suggestions open per kind.
    """
    # Imported here, not with the module: the web process imports this module for its URLs, and
    # the clustering (scikit-learn, SciPy, faiss) would cost every web worker ~350 MiB it never uses.
    from . import suggestions as found_by

    progress = progress or _no_progress
    merge_settings = merge_settings or found_by.MergeSettings()
    split_settings = split_settings or found_by.SplitSettings()
    progress(0.0, "reading embeddings")
    data = selectors.identity_embeddings(max_per_identity=max_faces_per_identity)
    confusion = selectors.run_confusion(run_id=run_id) if run_id is not None else None
    progress(0.1, f"merge candidates over {len(data)} faces")
    merges = found_by.merge_suggestions(
        face_ids=data.face_ids,
        identity_ids=data.identity_ids,
        vectors=data.vectors,
        confusion=confusion,
        settings=merge_settings,
    )
    progress(0.4, "split candidates")
    splits = found_by.split_suggestions(
        face_ids=data.face_ids,
        identity_ids=data.identity_ids,
        vectors=data.vectors,
        settings=split_settings,
        progress=lambda fraction: progress(0.4 + 0.5 * fraction, "split candidates"),
    )
    sizes = {int(k): int(v) for k, v in zip(*np.unique(data.identity_ids, return_counts=True), strict=True)}
    for i, item in enumerate(splits):
        if sizes[item.identity] >= max_faces_per_identity:  # clustered on a sample: give every face a side
            everything = selectors.identity_embeddings(identity_ids=[item.identity])
            sample = data.identity_ids == item.identity
            splits[i] = found_by.split_extend(
                item,
                sample_ids=data.face_ids[sample],
                sample_vectors=data.vectors[sample],
                face_ids=everything.face_ids,
                vectors=everything.vectors,
            )
    progress(0.9, "storing suggestions")
    with transaction.atomic():
        _serialise_suggestion_writers()
        identities = Identity.objects.in_bulk({f.identity for f in merges + splits} | {f.other for f in merges})
        existing = list(IdentitySuggestion.objects.select_for_update())
        decided = {
            (s.kind, frozenset({s.identity_id, s.other_id} - {None}))
            for s in existing
            if s.status != IdentitySuggestion.Status.OPEN
        }
        open_by_key = {
            (s.kind, frozenset({s.identity_id, s.other_id} - {None})): s
            for s in existing
            if s.status == IdentitySuggestion.Status.OPEN
        }
        kept, created = set(), []
        for item in merges + splits:
            key = (item.kind, frozenset({item.identity, item.other} - {None}))
            if key in decided or key in kept:
                continue
            kept.add(key)
            evidence = {**item.evidence, "run": run_id, "embedding_model": data.model}
            identity, other = identities[item.identity], identities.get(item.other)
            if item.kind == found_by.MERGE:
                assert other is not None  # a merge suggestion names two identities
                other, identity = _keep_first(identity, other, sizes)  # suggestion: merge `identity` into `other`
                evidence["sides"] = sorted(evidence["sides"], key=lambda side: side["identity"] != identity.pk)
            suggestion = open_by_key.get(key)
            if suggestion is None:
                created.append(
                    IdentitySuggestion(
                        kind=item.kind, identity=identity, other=other, score=item.score, evidence=evidence, job=job
                    )
                )
            else:
                suggestion.identity, suggestion.other, suggestion.score = identity, other, item.score
                suggestion.evidence, suggestion.job = evidence, job
                suggestion.save(update_fields=["identity", "other", "score", "evidence", "job", "updated_at"])
        IdentitySuggestion.objects.bulk_create(created)
        stale = [s.pk for key, s in open_by_key.items() if key not in kept]
        IdentitySuggestion.objects.filter(pk__in=stale).delete()
    progress(1.0, "done")
    open_now = IdentitySuggestion.objects.filter(status=IdentitySuggestion.Status.OPEN)
    return {
        "faces": len(data),
        "identities": len(sizes),
        "run": run_id,
        "embedding_model": data.model,
        "merge": open_now.filter(kind=IdentitySuggestion.Kind.MERGE).count(),
        "split": open_now.filter(kind=IdentitySuggestion.Kind.SPLIT).count(),
        "removed": len(stale),
    }


def identity_suggestion_dismiss(*, suggestion_id: int, user: Actor = None) -> IdentitySuggestion:
    """An admin decided the suggestion is wrong: it is closed and not suggested again."""
    with transaction.atomic():
        suggestion = IdentitySuggestion.objects.select_for_update().filter(pk=suggestion_id).first()
        if suggestion is None:
            raise NotFound(f"No suggestion with id {suggestion_id}.")
        if suggestion.status != IdentitySuggestion.Status.OPEN:
            raise Conflict(f"Suggestion {suggestion_id} is already {suggestion.status}.")
        _suggestion_decide(suggestion, status=IdentitySuggestion.Status.DISMISSED, user=user)
        return suggestion
