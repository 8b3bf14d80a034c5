"""The queues of a finished training run, built from :class:`RunOutcome` (what the run says about
each face it saw). What each queue holds (C = a VIP class, t = the run's operating threshold):

* ``likely_wrong`` (the review screen's default): ONE queue for both directions, faces labelled
  a VIP that are someone else or nobody, and faces filed as distractors or candidates that are a
  VIP, merged on the calibrated probability that the label is wrong
  (:func:`ml.label_quality.score_label_errors`, leave-one-out kNN and class-centroid posteriors
  averaged over every face the run saw, scored once by the run: :attr:`RunOutcome.label_errors`). It holds the faces worth a
  look (``p_wrong >= MIN_P_WRONG``), most likely wrong first,
  each with a hint: who the face probably is (a VIP, or "not a VIP");
* ``label_errors``: VIP faces by noise score (``ml.noise``), those the model disagrees with
  (another top class, or rejected below t) and the top 10% of the noise ranking;
* ``lookalikes``: distractor faces the model accepts as a VIP at t, or in the top 10% of their
  direction's noise ranking; the item names the VIP they look like;
* ``low_precision``: for each low-precision VIP, its faces by noise score and the faces of
  others it wrongly takes for it (rework its data);
* ``low_recall``: the "needs more data" list, and faces of unknown people, candidates and video
  frames nearest to each low-recall VIP (faiss), to accept as that VIP or reject;
* ``confused_pairs``: faces of the most confused VIP pairs taken for the other one, with the
  most typical faces of both for a side-by-side look;
* ``non_faces``: low detector scores and faces far from the rest of their identity.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from webapp.faces.models import Face, embedding_array
from webapp.identities.models import Identity

from ..models import Decision, Item, Queue
from ..scoring import centroid_outlier_scores, non_face_scores
from ..selectors import faces_verified_unchanged, id_batches
from .ranking import MIN_P_WRONG, dedupe, identity_hint, max_items, served_score, top

if TYPE_CHECKING:
    from ml.label_quality import LabelErrorScores

TOP_FRACTION = 0.10  # besides the model's disagreements, the top 10% of a noise ranking is reviewed
SUGGESTIONS_PER_IDENTITY = 50  # nearest faces proposed per low-recall VIP
SUGGESTION_MIN_COSINE = 0.3  # below this an embedding neighbour is not worth an annotator's look
NON_FACE_MIN_SCORE = 0.35  # detector score <= 0.65, or cosine to the rest of the identity <= 0.3
REFERENCE_FACES = 4  # typical faces per identity shown beside a confused pair
DIAGNOSIS_LOW_PRECISION = ("low_precision", "low_precision_and_recall")
DIAGNOSIS_LOW_RECALL = ("low_recall", "low_precision_and_recall")


@dataclass
class RunOutcome:
    """What a finished run says about each face it saw: arrays aligned on its N samples.

    ``identity_ids`` uses 0 for an unknown person; ``topk_*`` are the calibrated VIP
    probabilities' best classes; ``noise`` is ``ml.noise``'s combined score (higher: likelier a
    label error, ranked within VIP faces and within distractors); ``suggested`` its likely true
    label (-1 not a VIP, -2 none). Per class: the identity, name and diagnosis.
    """

    run_id: int
    face_ids: np.ndarray
    labels: np.ndarray
    identity_ids: np.ndarray
    predicted: np.ndarray
    confidence: np.ndarray
    topk_classes: np.ndarray
    topk_probabilities: np.ndarray
    noise: np.ndarray
    suggested: np.ndarray
    embeddings: np.ndarray
    class_identity_ids: list[int]
    class_names: list[str]
    diagnosis: list[str]
    confused_pairs: list[dict] = field(default_factory=list)
    threshold: float = 0.5
    recall: list[float | None] = field(default_factory=list)
    label_errors: LabelErrorScores | None = None  # the run's scores of these samples (None: it scored none)

    def suggestions(self, row: int) -> list[dict]:
        """The model's top-k identities for one sample, as the item payload shows them."""
        return [
            {"identity": self.class_identity_ids[c], "name": self.class_names[c], "probability": round(float(p), 4)}
            for c, p in zip(self.topk_classes[row], self.topk_probabilities[row], strict=True)
            if c >= 0
        ]

    def name_of(self, label: int) -> str | None:
        return self.class_names[label] if 0 <= label < len(self.class_names) else None


def _top_fraction_mask(scores: np.ndarray, members: np.ndarray) -> np.ndarray:
    mask = np.zeros(len(scores), dtype=bool)
    if members.size:
        keep = max(1, int(np.ceil(TOP_FRACTION * members.size)))
        mask[top(members, scores, keep)] = True
    return mask


def _reviewable(outcome: RunOutcome) -> np.ndarray:
    """Samples whose face may be flagged: not verified-and-unchanged, and still usable."""
    ids = [int(i) for i in outcome.face_ids]
    settled = faces_verified_unchanged(face_ids=ids)
    gone = {
        pk
        for batch in id_batches(ids)
        for pk in Face.objects.filter(
            pk__in=batch, status__in=[Face.Status.NOT_A_FACE, Face.Status.EXCLUDED]
        ).values_list("pk", flat=True)
    }
    blocked = settled | gone
    return np.array([int(i) not in blocked for i in outcome.face_ids], dtype=bool)


def _sample_payload(outcome: RunOutcome, row: int, reason: str, **extra) -> dict:
    label = int(outcome.labels[row])
    return {
        "reason": reason,
        "label": outcome.name_of(label) if label >= 0 else None,
        "predicted": outcome.name_of(int(outcome.predicted[row])),
        "confidence": round(float(outcome.confidence[row]), 4),
        "noise_score": round(float(outcome.noise[row]), 4),
        "suggestions": outcome.suggestions(row),
        "noise_suggestion": outcome.name_of(int(outcome.suggested[row])),
        **extra,
    }


def queues_build_for_run(*, run, outcome: RunOutcome) -> list[Queue]:
    """Create the run's six queues and close the queues of earlier runs (their items are superseded)."""
    reviewable = _reviewable(outcome)
    builders = [_likely_wrong, _label_errors, _lookalikes, _low_precision, _low_recall, _confused_pairs, _non_faces]
    with transaction.atomic():
        Queue.objects.filter(run__isnull=False, is_open=True).exclude(run=run).update(
            is_open=False, closed_at=timezone.now()
        )
        Queue.objects.filter(run=run).delete()  # a rerun of the task rebuilds them
        queues = []
        for build in builders:
            kind, payload, items = build(outcome, reviewable)
            queue = Queue.objects.create(
                kind=kind, title=f"Run {run.pk}: {Queue.Kind(kind).label}", run=run, payload=payload
            )
            for item in items:
                item.queue = queue
            Item.objects.bulk_create(items[: max_items()], batch_size=1000)
            queues.append(queue)
    return queues


def _item(outcome: RunOutcome, row: int, score: float, identity_id: int | None, payload: dict) -> Item:
    return Item(face_id=int(outcome.face_ids[row]), identity_id=identity_id, score=float(score), payload=payload)


def _likely_wrong(outcome: RunOutcome, reviewable: np.ndarray):
    scores = outcome.label_errors  # scored once, by the run (ml.train); never recomputed here
    if scores is None:
        return Queue.Kind.LIKELY_WRONG, {"min_p_wrong": MIN_P_WRONG, "worth_a_look": 0}, []
    worth = [int(row) for row in scores.worth_a_look(MIN_P_WRONG) if reviewable[row]]
    served = served_score(scores)
    items = []
    for row in worth[: max_items()]:
        label, hinted = int(outcome.labels[row]), int(scores.suggested_label[row])
        hint = identity_hint(
            label=hinted,
            probability=float(scores.suggested_probability[row]),
            class_identity_ids=outcome.class_identity_ids,
            class_names=outcome.class_names,
        )
        p_wrong = float(scores.p_wrong[row])
        if label >= 0:
            # the claim under review is the face's own label: confirm it, or say who it is
            identity_id = outcome.class_identity_ids[label]
            reason = f"labelled {outcome.name_of(label)}: {p_wrong:.0%} likely wrong, probably {hint['name']}"
        else:
            # a distractor or candidate face that looks like a VIP: the claim is that VIP
            identity_id = hint["identity"]
            reason = f"not labelled a VIP: {p_wrong:.0%} likely to be {hint['name']}"
        model = [s for s in outcome.suggestions(row) if s["identity"] != hint["identity"]]
        payload = _sample_payload(
            outcome, row, reason, p_wrong=round(p_wrong, 4), direction=str(scores.direction[row]), hint=hint
        )
        payload["suggestions"] = ([hint] if hint["identity"] is not None else []) + model
        items.append(_item(outcome, row, served[row], identity_id, payload))
    payload = {
        "min_p_wrong": MIN_P_WRONG,
        "worth_a_look": len(worth),
        "temperature": scores.temperature,
        "background": scores.background,
    }
    return Queue.Kind.LIKELY_WRONG, payload, items


def _label_errors(outcome: RunOutcome, reviewable: np.ndarray):
    vip = np.flatnonzero((outcome.labels >= 0) & reviewable)
    disagrees = (outcome.predicted != outcome.labels) | (outcome.confidence < outcome.threshold)
    chosen = vip[(disagrees | _top_fraction_mask(outcome.noise, vip))[vip]]
    items = []
    for row in top(chosen, outcome.noise):
        label = int(outcome.labels[row])
        reason = (
            f"labelled {outcome.name_of(label)}, the model says {outcome.name_of(int(outcome.predicted[row]))}"
            if outcome.predicted[row] != label
            else f"labelled {outcome.name_of(label)}, but the model is unsure"
            if outcome.confidence[row] < outcome.threshold
            else f"labelled {outcome.name_of(label)}, unusual among its faces"
        )
        items.append(
            _item(
                outcome,
                row,
                outcome.noise[row],
                outcome.class_identity_ids[label],
                _sample_payload(outcome, row, reason),
            )
        )
    return Queue.Kind.LABEL_ERRORS, {"threshold": outcome.threshold}, items


def _lookalikes(outcome: RunOutcome, reviewable: np.ndarray):
    distractors = np.flatnonzero((outcome.labels < 0) & reviewable)
    accepted = outcome.confidence >= outcome.threshold
    chosen = distractors[(accepted | _top_fraction_mask(outcome.noise, distractors))[distractors]]
    items = []
    for row in top(chosen, outcome.noise):
        like = (
            int(outcome.suggested[row])
            if outcome.suggested[row] >= 0 and not accepted[row]
            else int(outcome.predicted[row])
        )
        reason = f"a distractor that looks like {outcome.name_of(like)}"
        items.append(
            _item(
                outcome,
                row,
                outcome.noise[row],
                outcome.class_identity_ids[like],
                _sample_payload(outcome, row, reason, looks_like=outcome.name_of(like)),
            )
        )
    return Queue.Kind.LOOKALIKES, {"threshold": outcome.threshold}, items


def _low_precision(outcome: RunOutcome, reviewable: np.ndarray):
    classes = [c for c, status in enumerate(outcome.diagnosis) if status in DIAGNOSIS_LOW_PRECISION]
    items, listed = [], []
    accepted = outcome.confidence >= outcome.threshold
    for c in classes:
        own = np.flatnonzero((outcome.labels == c) & reviewable)
        intruders = np.flatnonzero((outcome.labels != c) & (outcome.predicted == c) & accepted & reviewable)
        name = outcome.class_names[c]
        listed.append(
            {
                "identity": outcome.class_identity_ids[c],
                "name": name,
                "faces": int(own.size),
                "mistaken_for_it": int(intruders.size),
            }
        )
        for row in own:
            items.append(
                _item(
                    outcome,
                    row,
                    outcome.noise[row],
                    outcome.class_identity_ids[c],
                    _sample_payload(outcome, row, f"a face of low-precision {name}"),
                )
            )
        for row in intruders:
            other = outcome.name_of(int(outcome.labels[row])) or "a distractor"
            items.append(
                _item(
                    outcome,
                    row,
                    max(outcome.noise[row], outcome.confidence[row]),
                    outcome.class_identity_ids[c],
                    _sample_payload(outcome, row, f"labelled {other}, predicted as {name}"),
                )
            )
    items.sort(key=lambda item: -item.score)
    return Queue.Kind.LOW_PRECISION, {"identities": listed}, dedupe(items)


def _low_recall(outcome: RunOutcome, reviewable: np.ndarray):
    classes = [c for c, status in enumerate(outcome.diagnosis) if status in DIAGNOSIS_LOW_RECALL]
    needs = [
        {
            "identity": outcome.class_identity_ids[c],
            "name": outcome.class_names[c],
            "recall": outcome.recall[c] if c < len(outcome.recall) else None,
            "faces": int((outcome.labels == c).sum()),
        }
        for c in classes
    ]
    items = []
    if classes:
        items = _suggest_faces(outcome, classes)
    return Queue.Kind.LOW_RECALL, {"needs_more_data": needs}, items


def _suggest_faces(outcome: RunOutcome, classes: list[int]) -> list[Item]:
    """Unknown, candidate and video-frame faces nearest to each low-recall VIP's faces (faiss)."""
    from ml.index import FaceIndex

    pool = (
        Face.objects.filter(embedding__isnull=False)
        .filter(Q(identity__isnull=True) | Q(identity__role=Identity.Role.CANDIDATE))
        .exclude(status__in=[Face.Status.NOT_A_FACE, Face.Status.EXCLUDED])
    )
    ids, vectors = [], []
    for pk, blob in pool.order_by("id").values_list("id", "embedding").iterator(chunk_size=5000):
        ids.append(pk)
        vectors.append(embedding_array(blob))
    if not ids:
        return []
    settled = faces_verified_unchanged(face_ids=ids)
    index = FaceIndex(len(vectors[0]), ivf_threshold=settings.FACECURATOR_INDEX_IVF_THRESHOLD)
    index.add(np.array(ids, dtype=np.int64), np.stack(vectors))
    rejected = set(
        Decision.objects.filter(
            action=Decision.Action.REJECT,
            undone=False,
            identity_id__in=[outcome.class_identity_ids[c] for c in classes],
        ).values_list("face_id", "identity_id")
    )
    items = []
    k = min(len(ids), SUGGESTIONS_PER_IDENTITY)
    for c in classes:
        identity_id, name = outcome.class_identity_ids[c], outcome.class_names[c]
        own = np.flatnonzero(outcome.labels == c)
        if not own.size:
            continue
        queries = outcome.embeddings[top(own, outcome.confidence, 64)]
        found, sims = index.search(queries, k)
        best: dict[int, float] = {}
        for face_id, sim in zip(found.ravel(), sims.ravel(), strict=True):
            face_id = int(face_id)
            if face_id < 0 or sim < SUGGESTION_MIN_COSINE or face_id in settled or (face_id, identity_id) in rejected:
                continue
            best[face_id] = max(best.get(face_id, -1.0), float(sim))
        for face_id, sim in sorted(best.items(), key=lambda kv: -kv[1])[:SUGGESTIONS_PER_IDENTITY]:
            items.append(
                Item(
                    face_id=face_id,
                    identity_id=identity_id,
                    score=sim,
                    payload={
                        "reason": f"looks like {name} (cosine {sim:.2f}), who needs more faces",
                        "similarity": round(sim, 4),
                        "suggestions": [{"identity": identity_id, "name": name, "probability": None}],
                    },
                )
            )
    items.sort(key=lambda item: -item.score)
    return dedupe(items)


def _confused_pairs(outcome: RunOutcome, reviewable: np.ndarray):
    items, pairs = [], []
    for pair in outcome.confused_pairs:
        a, b = int(pair["a"]), int(pair["b"])
        references = {}
        for c in (a, b):
            right = np.flatnonzero((outcome.labels == c) & (outcome.predicted == c))
            references[str(outcome.class_identity_ids[c])] = [
                int(outcome.face_ids[r]) for r in top(right, outcome.confidence, REFERENCE_FACES)
            ]
        info = {
            "a": outcome.class_identity_ids[a],
            "b": outcome.class_identity_ids[b],
            "name_a": outcome.class_names[a],
            "name_b": outcome.class_names[b],
            "a_as_b": pair.get("a_as_b"),
            "b_as_a": pair.get("b_as_a"),
            "rate": pair.get("rate"),
            "reference_faces": references,
        }
        pairs.append(info)
        for true, other in ((a, b), (b, a)):
            rows = np.flatnonzero((outcome.labels == true) & (outcome.predicted == other) & reviewable)
            for row in rows:
                items.append(
                    _item(
                        outcome,
                        row,
                        outcome.noise[row],
                        outcome.class_identity_ids[true],
                        _sample_payload(
                            outcome,
                            row,
                            f"labelled {outcome.class_names[true]}, taken for {outcome.class_names[other]}",
                            pair=info,
                        ),
                    )
                )
    items.sort(key=lambda item: -item.score)
    return Queue.Kind.CONFUSED_PAIRS, {"pairs": pairs}, dedupe(items)


def _non_faces(outcome: RunOutcome, reviewable: np.ndarray):
    detector = {
        pk: score
        for batch in id_batches(outcome.face_ids)
        for pk, score in Face.objects.filter(pk__in=batch).values_list("pk", "detector_score")
    }
    detector_scores = np.array(
        [np.nan if detector.get(int(i)) is None else detector[int(i)] for i in outcome.face_ids], dtype=np.float64
    )
    # unknown people are each their own group: "far from the rest" needs an identity
    groups = np.where(outcome.identity_ids > 0, outcome.identity_ids, -np.arange(1, len(outcome.face_ids) + 1))
    outlier = centroid_outlier_scores(outcome.embeddings, groups)
    scores = non_face_scores(detector_scores, outlier)
    rows = np.flatnonzero(reviewable & (scores >= NON_FACE_MIN_SCORE))
    items = []
    for row in top(rows, scores):
        detected = None if np.isnan(detector_scores[row]) else round(float(detector_scores[row]), 3)
        identity_id = int(outcome.identity_ids[row]) or None
        items.append(
            Item(
                face_id=int(outcome.face_ids[row]),
                identity_id=identity_id,
                score=float(scores[row]),
                payload={
                    "reason": "low detector score"
                    if detected is not None and 1 - detected >= outlier[row] / 2
                    else "far from the other faces of its identity",
                    "detector_score": detected,
                    "outlier_score": round(float(outlier[row]), 4),
                    "suggestions": outcome.suggestions(row),
                },
            )
        )
    return Queue.Kind.NON_FACES, {"min_score": NON_FACE_MIN_SCORE}, items
