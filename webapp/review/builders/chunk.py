"""The queue that verifies the faces of a chunk's newly promoted VIPs."""

from __future__ import annotations

import numpy as np

from webapp.faces.models import Face, embedding_array
from webapp.identities.models import Identity
from webapp.identities.selectors import vips_current

from ..models import Item, Queue
from ..scoring import centroid_outlier_scores
from ..selectors import faces_verified_unchanged
from .ranking import MIN_P_WRONG, identity_hint, label_error_scores, max_items, served_score


def queue_build_for_chunk(*, chunk, after_a_run: bool) -> Queue:
    """A queue to verify the faces of a chunk's new VIPs.

    Once a run exists (``after_a_run``: a training run succeeded, which the caller, training's
    ``chunk_promote``, knows), the faces are ordered and hinted by the same label-error probability as
    the run's ``likely_wrong`` queue, scored over every usable face with today's VIP set (the new
    VIPs included: the score needs no trained model); the payload's ``worth_a_look`` counts those
    at least MIN_P_WRONG likely wrong. Before any run, furthest from the rest of their identity first.
    """
    identity_ids = [entry["id"] for entry in chunk.identities]
    names = dict(Identity.objects.filter(pk__in=identity_ids).values_list("pk", "name"))
    queue = Queue.objects.create(
        kind=Queue.Kind.CHUNK_VERIFICATION,
        chunk=chunk,
        title=f"Chunk {chunk.number}: verify the faces of {len(identity_ids)} new VIPs",
        payload={"identities": chunk.identities},
    )
    if after_a_run:
        items, worth = _chunk_items_by_label_errors(identity_ids=identity_ids, names=names)
        if items is not None:
            queue.payload = {**queue.payload, "min_p_wrong": MIN_P_WRONG, "worth_a_look": worth, "order": "p_wrong"}
            queue.save(update_fields=["payload"])
            for item in items:
                item.queue = queue
            Item.objects.bulk_create(items[: max_items()], batch_size=1000)
            return queue
    rows = list(
        Face.objects.filter(identity_id__in=identity_ids, embedding__isnull=False)
        .exclude(status__in=[Face.Status.NOT_A_FACE, Face.Status.EXCLUDED])
        .values_list("id", "identity_id", "embedding")
    )
    settled = faces_verified_unchanged(face_ids=[r[0] for r in rows])
    rows = [r for r in rows if r[0] not in settled]
    if rows:
        vectors = np.stack([embedding_array(r[2]) for r in rows])
        scores = centroid_outlier_scores(vectors, np.array([r[1] for r in rows]))
        order = np.argsort(-scores, kind="stable")[: max_items()]
        Item.objects.bulk_create(
            [
                Item(
                    queue=queue,
                    face_id=rows[i][0],
                    identity_id=rows[i][1],
                    score=float(scores[i]),
                    payload={
                        "reason": f"new VIP {names.get(rows[i][1])}: is this them?",
                        "outlier_score": round(float(scores[i]), 4),
                        "suggestions": [],
                    },
                )
                for i in order
            ],
            batch_size=1000,
        )
    return queue


def _chunk_items_by_label_errors(*, identity_ids: list[int], names: dict) -> tuple[list[Item] | None, int]:
    """The new VIPs' faces scored by :func:`label_error_scores` over every usable face, most likely
    wrong first, with the hint; (None, 0) when there are too few faces to score."""
    vips = list(vips_current().values_list("id", "name"))
    class_of = {pk: index for index, (pk, _) in enumerate(vips)}
    rows = list(
        Face.objects.filter(embedding__isnull=False)
        .exclude(status__in=[Face.Status.NOT_A_FACE, Face.Status.EXCLUDED])
        .order_by("id")
        .values_list("id", "identity_id", "embedding")
    )
    if len(rows) < 2:
        return None, 0
    labels = np.array([class_of.get(r[1], -1) for r in rows], dtype=np.int64)
    scores = label_error_scores(embeddings=np.stack([embedding_array(r[2]) for r in rows]), labels=labels)
    new = set(identity_ids)
    served = served_score(scores)
    mine = [int(i) for i in scores.order if rows[i][1] in new]
    settled = faces_verified_unchanged(face_ids=[rows[i][0] for i in mine])
    mine = [i for i in mine if rows[i][0] not in settled]
    class_ids, class_names = [pk for pk, _ in vips], [name for _, name in vips]
    items = []
    for i in mine:
        p_wrong = float(scores.p_wrong[i])
        hint = identity_hint(
            label=int(scores.suggested_label[i]),
            probability=float(scores.suggested_probability[i]),
            class_identity_ids=class_ids,
            class_names=class_names,
        )
        name = names.get(rows[i][1])
        reason = (
            f"new VIP {name}: {p_wrong:.0%} likely not them, probably {hint['name']}"
            if p_wrong >= MIN_P_WRONG
            else f"new VIP {name}: is this them?"
        )
        items.append(
            Item(
                face_id=rows[i][0],
                identity_id=rows[i][1],
                score=float(served[i]),
                payload={
                    "reason": reason,
                    "p_wrong": round(p_wrong, 4),
                    "hint": hint,
                    "suggestions": [hint] if hint["identity"] is not None else [],
                },
            )
        )
    worth = set(int(i) for i in scores.worth_a_look(MIN_P_WRONG))
    return items, sum(1 for i in mine if i in worth)
