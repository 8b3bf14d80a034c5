"""Review queues built from a run: most likely wrong first, each kind holding what it promises."""

from __future__ import annotations

import numpy as np
import pytest

from webapp.faces.models import Face
from webapp.faces.services import LabelChange, face_relabel, faces_relabel
from webapp.identities.models import Identity
from webapp.review.builders import RunOutcome, queue_build_for_chunk, queues_build_for_run
from webapp.review.models import Item, Queue
from webapp.review.scoring import centroid_outlier_scores, non_face_scores
from webapp.training.selectors import run_succeeded_exists

from .factories import FaceFactory
from .test_training_fixtures import train_now

pytestmark = pytest.mark.django_db


def queue_of(run, kind) -> Queue:
    return Queue.objects.get(run=run, kind=kind)


def face_ids_in(queue) -> list[int]:
    return list(queue.items.order_by("-score", "id").values_list("face_id", flat=True))


def test_every_queue_is_sorted_most_likely_wrong_first(face_set):
    run = train_now()

    for queue in Queue.objects.filter(run=run):
        scores = list(queue.items.order_by("-score", "id").values_list("score", flat=True))
        served = [item.score for item in Item.objects.filter(queue=queue)]  # the model's default ordering
        assert scores == sorted(scores, reverse=True) == served


def test_mislabelled_vip_faces_come_first_in_the_label_error_queue(face_set):
    wrong = face_set.faces_of(face_set.vips[1], "train")[:2] + face_set.faces_of(face_set.vips[2], "val")[:1]
    faces_relabel(changes=[LabelChange(face.pk, face_set.vips[0]) for face in wrong])

    run = train_now()

    top = face_ids_in(queue_of(run, "label_errors"))[:5]
    assert {face.pk for face in wrong} <= set(top)


def test_label_error_items_offer_the_models_top_k_identities(face_set):
    wrong = face_set.faces_of(face_set.vips[1], "train")[0]
    face_relabel(face=wrong, identity=face_set.vips[0])

    run = train_now()

    item = queue_of(run, "label_errors").items.get(face=wrong)
    suggestions = item.payload["suggestions"]
    assert suggestions[0]["identity"] == face_set.vips[1].pk
    assert len(suggestions) == 3 and suggestions[0]["probability"] >= suggestions[1]["probability"]
    assert item.identity == face_set.vips[0]


def test_one_queue_serves_both_directions_most_likely_wrong_first_with_a_hint(face_set):
    swapped = face_set.faces_of(face_set.vips[1], "train")[0]
    face_relabel(face=swapped, identity=face_set.vips[0])  # VIP 1's face filed under VIP 0
    hidden = face_set.faces_of(face_set.vips[2], "train")[0]
    face_relabel(face=hidden, identity=face_set.candidates[0])  # VIP 2's face filed under a candidate

    run = train_now()

    queue = queue_of(run, "likely_wrong")
    top = face_ids_in(queue)[:2]
    assert set(top) == {swapped.pk, hidden.pk}
    first = queue.items.get(face=swapped)
    assert first.identity == face_set.vips[0] and first.payload["direction"] == "vip_mislabelled"
    assert first.payload["hint"]["identity"] == face_set.vips[1].pk
    assert first.payload["suggestions"][0]["identity"] == face_set.vips[1].pk
    second = queue.items.get(face=hidden)
    assert second.identity == face_set.vips[2] and second.payload["direction"] == "distractor_is_vip"


def test_the_merged_queue_holds_only_the_faces_worth_a_look(face_set):
    swapped = face_set.faces_of(face_set.vips[1], "train")[0]
    face_relabel(face=swapped, identity=face_set.vips[0])

    run = train_now()

    queue = queue_of(run, "likely_wrong")
    assert queue.items.filter(face=swapped).exists()
    assert queue.items.count() == queue.payload["worth_a_look"] < len(face_set.faces_of(face_set.vips[0]))
    assert max(item.payload["p_wrong"] for item in queue.items.all()) >= queue.payload["min_p_wrong"]


def test_the_merged_queue_serves_the_label_error_scores_the_run_computed(face_set):
    # one computation: the queue shows the run's scores, the same as scoring the run's faces afresh
    from ml.label_quality import score_label_errors

    swapped = face_set.faces_of(face_set.vips[1], "train")[0]
    face_relabel(face=swapped, identity=face_set.vips[0])

    run = train_now()

    faces = list(Face.objects.filter(pk__in=run.samples.values("face_id")).order_by("pk"))
    labels = dict(run.samples.values_list("face_id", "label"))
    afresh = score_label_errors(
        np.stack([f.embedding_vector for f in faces]), [labels[f.pk] for f in faces], k=2 * run.config["noise_k"]
    )
    queue = queue_of(run, "likely_wrong")
    served = {item.face_id: item.payload["p_wrong"] for item in queue.items.all()}
    expected = {faces[row].pk: round(float(afresh.p_wrong[row]), 4) for row in afresh.worth_a_look()}
    assert served == expected and swapped.pk in served
    assert queue.payload["temperature"] == afresh.temperature and queue.payload["background"] == afresh.background


def test_the_queue_builder_orders_by_the_scores_it_is_given(face_set):
    from ml.label_quality import LabelErrorScores

    outcome, faces = outcome_for(face_set, diagnosis=["ok", "ok", "ok"])
    p_wrong = np.zeros(len(faces))
    p_wrong[[3, 7]] = [0.6, 0.9]  # two faces the run found likely wrong, whatever their embeddings say
    outcome.label_errors = LabelErrorScores.from_parts(
        labels=outcome.labels,
        p_wrong=p_wrong,
        suggested_label=np.full(len(faces), -1),
        suggested_probability=p_wrong,
        temperature=0.05,
        background=0.4,
    )
    run = build_run(face_set)

    queue = {q.kind: q for q in queues_build_for_run(run=run, outcome=outcome)}["likely_wrong"]

    assert face_ids_in(queue) == [faces[7].pk, faces[3].pk]


def test_distractors_that_look_like_a_vip_are_queued_under_that_vip(face_set):
    lookalike = face_set.faces_of(face_set.vips[2], "train")[0]
    face_relabel(face=lookalike, identity=None)  # a VIP's face filed as an unknown person

    run = train_now()

    queue = queue_of(run, "lookalikes")
    assert face_ids_in(queue)[0] == lookalike.pk
    assert queue.items.get(face=lookalike).identity == face_set.vips[2]


def test_verified_faces_are_not_flagged_again(face_set):
    wrong = face_set.faces_of(face_set.vips[1], "train")[0]
    face_relabel(face=wrong, identity=face_set.vips[0], status=Face.Status.VERIFIED)

    run = train_now()

    assert not Item.objects.filter(queue__run=run, face=wrong).exists()


def test_a_verified_face_whose_label_changed_since_is_flagged_again(face_set):
    wrong = face_set.faces_of(face_set.vips[1], "train")[0]
    face_relabel(face=wrong, status=Face.Status.VERIFIED)  # verified as VIP 1 ...
    face_relabel(face=wrong, identity=face_set.vips[0])  # ... then moved, still "verified"

    run = train_now()

    assert queue_of(run, "label_errors").items.filter(face=wrong).exists()


def test_a_new_run_closes_the_queues_of_the_previous_one(face_set):
    first = train_now()

    second = train_now()

    assert not Queue.objects.filter(run=first, is_open=True).exists()
    assert Queue.objects.filter(run=second, is_open=True).count() == 7


def outcome_for(face_set, *, diagnosis, predicted=None, confidence=None, confused_pairs=()):
    """A hand-written run outcome over the VIP faces of ``face_set`` (labels as they are)."""
    faces = [f for vip in face_set.vips for f in face_set.faces_of(vip)]
    labels = np.array([[v.pk for v in face_set.vips].index(f.identity_id) for f in faces])
    n, c = len(faces), len(face_set.vips)
    probs = np.full((n, c), 0.01)
    probs[np.arange(n), labels if predicted is None else predicted] = 0.98
    return RunOutcome(
        run_id=0,
        face_ids=np.array([f.pk for f in faces]),
        labels=labels,
        identity_ids=np.array([f.identity_id for f in faces]),
        predicted=labels.copy() if predicted is None else np.asarray(predicted),
        confidence=np.full(n, 0.98) if confidence is None else np.asarray(confidence),
        topk_classes=np.argsort(-probs, axis=1)[:, :2],
        topk_probabilities=-np.sort(-probs, axis=1)[:, :2],
        noise=np.linspace(0, 1, n),
        suggested=np.full(n, -2),
        embeddings=np.stack([f.embedding_vector for f in faces]),
        class_identity_ids=[v.pk for v in face_set.vips],
        class_names=[v.name for v in face_set.vips],
        diagnosis=diagnosis,
        confused_pairs=list(confused_pairs),
        threshold=0.5,
        recall=[0.9, 0.4, 0.9],
    ), faces


def build_run(face_set):
    from webapp.core.models import Job
    from webapp.training.models import TrainingRun

    return TrainingRun.objects.create(
        job=Job.objects.create(kind="training.run"),
        vips=[{"index": i, "identity": v.pk, "name": v.name} for i, v in enumerate(face_set.vips)],
    )


def build(face_set, **kwargs):
    outcome, faces = outcome_for(face_set, **kwargs)
    queues = {q.kind: q for q in queues_build_for_run(run=build_run(face_set), outcome=outcome)}
    return queues, faces


def test_a_low_precision_vip_gets_its_faces_and_the_faces_mistaken_for_it(face_set):
    vip0_faces = face_set.faces_of(face_set.vips[0])
    intruder = face_set.faces_of(face_set.vips[1])[0]
    _, faces = outcome_for(face_set, diagnosis=["low_precision", "ok", "ok"])
    predicted = np.array([[v.pk for v in face_set.vips].index(f.identity_id) for f in faces])
    predicted[[f.pk for f in faces].index(intruder.pk)] = 0

    queues, _ = build(face_set, diagnosis=["low_precision", "ok", "ok"], predicted=predicted)

    items = queues["low_precision"].items.all()
    assert {item.face_id for item in items} == {f.pk for f in vip0_faces} | {intruder.pk}
    assert {item.identity_id for item in items} == {face_set.vips[0].pk}
    assert "predicted as VIP 0" in items.get(face=intruder).payload["reason"]
    assert queues["low_precision"].payload["identities"][0]["mistaken_for_it"] == 1


def test_a_low_recall_vip_is_listed_as_needing_data_with_nearest_unlabelled_faces_suggested(face_set):
    rng = np.random.default_rng(5)
    center = face_set.centers[face_set.vips[1].pk]
    near = FaceFactory(identity=None, vector=(center + 0.05 * rng.standard_normal(len(center))).astype(np.float32))
    candidate_near = FaceFactory(
        identity=face_set.candidates[0], vector=(center + 0.05 * rng.standard_normal(len(center))).astype(np.float32)
    )

    queues, _ = build(face_set, diagnosis=["ok", "low_recall", "ok"])

    queue = queues["low_recall"]
    assert queue.payload["needs_more_data"] == [
        {"identity": face_set.vips[1].pk, "name": "VIP 1", "recall": 0.4, "faces": 16}
    ]
    assert set(face_ids_in(queue)[:2]) == {near.pk, candidate_near.pk}
    assert queue.items.get(face=near).identity == face_set.vips[1]


def test_confused_pairs_list_the_faces_taken_for_the_other_with_reference_faces(face_set):
    _, faces = outcome_for(face_set, diagnosis=["ok"] * 3)
    predicted = np.array([[v.pk for v in face_set.vips].index(f.identity_id) for f in faces])
    swapped = face_set.faces_of(face_set.vips[2])[0]
    predicted[[f.pk for f in faces].index(swapped.pk)] = 0
    pair = {"a": 0, "b": 2, "name_a": "VIP 0", "name_b": "VIP 2", "a_as_b": 0, "b_as_a": 1, "rate": 0.02}

    queues, _ = build(face_set, diagnosis=["ok"] * 3, predicted=predicted, confused_pairs=[pair])

    queue = queues["confused_pairs"]
    assert face_ids_in(queue) == [swapped.pk]
    shown = queue.payload["pairs"][0]["reference_faces"]
    assert len(shown[str(face_set.vips[0].pk)]) == 4 and len(shown[str(face_set.vips[2].pk)]) == 4


def test_crops_with_low_detector_scores_or_far_from_their_identity_are_probable_non_faces(face_set):
    blurry = face_set.faces_of(face_set.vips[0])[3]
    Face.objects.filter(pk=blurry.pk).update(detector_score=0.2)
    odd = face_set.faces_of(face_set.vips[1])[4]
    Face.objects.filter(pk=odd.pk).update(
        embedding=(-face_set.centers[face_set.vips[1].pk]).astype(np.float32).tobytes()
    )
    odd.refresh_from_db()

    queues, _ = build(face_set, diagnosis=["ok"] * 3)

    assert face_ids_in(queues["non_faces"])[:2] == [odd.pk, blurry.pk]


def test_a_chunk_queue_shows_the_new_vips_faces_furthest_from_their_identity_first(face_set):
    from webapp.training.models import Chunk

    candidate = face_set.candidates[0]
    odd = face_set.faces_of(candidate)[5]
    Face.objects.filter(pk=odd.pk).update(embedding=(-face_set.centers[candidate.pk]).astype(np.float32).tobytes())
    chunk = Chunk.objects.create(number=2, identities=[{"id": candidate.pk, "name": candidate.name}])

    queue = queue_build_for_chunk(chunk=chunk, after_a_run=run_succeeded_exists())

    assert queue.kind == "chunk_verification" and queue.items.count() == 16
    assert face_ids_in(queue)[0] == odd.pk


def test_once_a_run_exists_a_chunk_queue_is_ordered_and_hinted_by_the_label_error_probability(face_set):
    from webapp.training.models import Chunk

    train_now()
    candidate = face_set.candidates[0]
    stray = face_set.faces_of(face_set.vips[1], "train")[0]
    face_relabel(face=stray, identity=candidate)  # VIP 1's face filed under the candidate being promoted
    Identity.objects.filter(pk=candidate.pk).update(role=Identity.Role.VIP, chunk=2)
    chunk = Chunk.objects.create(number=2, identities=[{"id": candidate.pk, "name": candidate.name}])

    queue = queue_build_for_chunk(chunk=chunk, after_a_run=run_succeeded_exists())

    assert queue.items.count() == 17 and queue.payload["order"] == "p_wrong"
    assert face_ids_in(queue)[0] == stray.pk
    item = queue.items.get(face=stray)
    assert item.payload["hint"]["identity"] == face_set.vips[1].pk and item.payload["p_wrong"] >= 0.5
    assert queue.payload["worth_a_look"] >= 1


def test_outlier_scores_leave_the_face_out_of_its_own_centroid():
    vectors = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])

    scores = centroid_outlier_scores(vectors, np.array([7, 7, 7]))

    # the rest of face 0 is (1,0)+(0,1) -> cos 1/sqrt2; face 2 sees only (1,0) twice -> cos 0
    assert scores == pytest.approx([1 - 2**-0.5, 1 - 2**-0.5, 1.0])
    assert centroid_outlier_scores(vectors[:1], np.array([1])) == pytest.approx([0.0])


def test_non_face_score_is_the_stronger_of_a_low_detector_score_and_half_the_outlier_score():
    assert non_face_scores([0.9, np.nan, 0.3], [0.1, 1.2, 0.2]) == pytest.approx([0.1, 0.6, 0.7])
