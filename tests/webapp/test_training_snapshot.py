"""A run's snapshot holds exactly the faces and labels the rule says, however it is written.

The rule, stated here face by face in Python: every face with an embedding that is neither
excluded nor marked "not a face" (and, for a run on settled labels, whose label is settled) gives
one sample; a VIP's face is labelled with the VIP's class index and keeps its own split; an
unknown face is a distractor in its own split; every face of a known distractor person (a
candidate) is a distractor in that person's split (``ml.splits.split_for_person``)."""

from __future__ import annotations

import numpy as np
import pytest

from ml.splits import split_for_person
from webapp.core.exceptions import InvalidTransition
from webapp.faces.models import Face
from webapp.faces.services import face_relabel
from webapp.quality.models import SecondOpinion
from webapp.quality.selectors import faces_unsettled
from webapp.review.models import Item, Queue
from webapp.review.services import DecisionRequest, decisions_apply
from webapp.training import services
from webapp.training.models import TrainingRun

from .factories import FaceFactory, IdentityFactory
from .test_training_fixtures import QUICK, make_face_set, person_vectors, random_centers

pytestmark = pytest.mark.django_db


def snapshot_by_the_rule(run, settings) -> tuple[set[tuple], dict]:
    """The samples and counts a run must hold, computed one face at a time."""
    class_of = {vip["identity"]: vip["index"] for vip in run.vips}
    unsettled = set(Face.objects.filter(faces_unsettled()).values_list("pk", flat=True))
    rows, counts = set(), {"total": 0, "vip": 0, "distractor": 0, "train": 0, "val": 0, "test": 0, "vip_train": 0}
    left_out = 0
    for face in Face.objects.all():
        if face.embedding is None or face.status in (Face.Status.EXCLUDED, Face.Status.NOT_A_FACE):
            continue
        if run.labels == "settled" and face.pk in unsettled:
            left_out += 1
            continue
        label = class_of.get(face.identity_id, -1)
        split = face.split
        if label < 0 and face.identity_id is not None:
            split = split_for_person(
                str(face.identity_id),
                seed=settings.FACECURATOR_SPLIT_SEED,
                proportions=settings.FACECURATOR_SPLIT_PROPORTIONS,
            )
        rows.add((face.pk, face.identity_id, label, split, face.version))
        counts["total"] += 1
        counts["vip" if label >= 0 else "distractor"] += 1
        counts[split] += 1
        counts["vip_train"] += int(label >= 0 and split == "train")
    counts["unsettled_left_out"] = left_out
    return rows, counts


@pytest.fixture
def mixed_world(annotator, settings):
    """VIPs, candidates, unknown faces and many distractor people (every split holds some), plus a
    face excluded, one not a face, one never embedded, one relabelled (version 1) and one whose
    relabel waits for a second opinion."""
    world = make_face_set(vips=3, candidates=2, per_identity=8, unknown=6)
    rng = np.random.default_rng(1)
    for index, center in enumerate(random_centers(24, rng)):
        person = IdentityFactory(name=f"Distractor {index}")
        for vector in person_vectors(center, 1 + index % 3, rng):
            FaceFactory(identity=person, vector=vector)
    FaceFactory(identity=world.vips[0], vector=None)
    face_relabel(face=world.faces_of(world.vips[1])[1], status=Face.Status.EXCLUDED)
    face_relabel(face=world.faces_of(world.candidates[0])[1], status=Face.Status.NOT_A_FACE)
    face_relabel(face=world.unknown[0], identity=world.candidates[1])
    face_relabel(face=world.faces_of(world.candidates[1])[2], identity=None)

    settings.FACECURATOR_SECOND_OPINION = ["relabel_vip"]
    held = world.faces_of(world.vips[0], "train")[0]
    queue = Queue.objects.create(kind=Queue.Kind.LABEL_ERRORS, title="errors")
    item = Item.objects.create(
        queue=queue, face=held, identity=world.vips[0], score=1.0, leased_to=annotator, served_version=held.version
    )
    decisions_apply(user=annotator, requests=[DecisionRequest(item.pk, "relabel", world.vips[1].pk)])
    assert SecondOpinion.objects.get().state == "pending"
    return world


def add_distractor_people_until_every_split_has_one(settings) -> None:
    """A person's split hangs on its key, which the database picks: with a 10% test share, the world's 26
    distractor people hold no test person in a few percent of databases. One-face people are added until
    people of this test cover every split (at most a few dozen)."""
    rng = np.random.default_rng(2)
    covered: set[str] = set()
    while covered != {"train", "val", "test"}:
        person = IdentityFactory(name=f"Extra distractor {len(covered)}-{rng.integers(1 << 30)}")
        FaceFactory(identity=person, vector=person_vectors(random_centers(1, rng)[0], 1, rng)[0])
        covered.add(
            split_for_person(
                str(person.pk), seed=settings.FACECURATOR_SPLIT_SEED, proportions=settings.FACECURATOR_SPLIT_PROPORTIONS
            )
        )


@pytest.mark.parametrize("labels", ["settled", "all"])
@pytest.mark.parametrize("seed", [0, 7])
def test_the_snapshot_holds_every_usable_face_with_its_label_and_split_by_the_rule(
    mixed_world, admin_user, settings, labels, seed
):
    settings.FACECURATOR_SPLIT_SEED = seed
    add_distractor_people_until_every_split_has_one(settings)

    run = services.training_run_start(user=admin_user, options=QUICK, labels=labels, dispatch=False)
    services.training_run_snapshot(run=run)
    run.refresh_from_db()

    expected_rows, expected_counts = snapshot_by_the_rule(run, settings)
    stored = set(run.samples.values_list("face_id", "identity_id", "label", "split", "version"))
    assert stored == expected_rows
    assert run.counts == expected_counts
    assert {split for _, identity, label, split, _ in stored if label < 0 and identity} == {"train", "val", "test"}
    assert expected_counts["unsettled_left_out"] == (1 if labels == "settled" else 0)


def test_starting_a_run_answers_before_the_snapshot_which_is_the_tasks_first_step(mixed_world, admin_user):
    run = services.training_run_start(user=admin_user, options=QUICK, dispatch=False)

    assert run.counts == {} and not run.samples.exists()
    assert run.job.state == "queued" and run.job.message.startswith("snapshotting")

    counts = services.training_run_snapshot(run=run)

    assert run.samples.count() == counts["total"] > 0
    assert services.training_run_snapshot(run=run) == counts  # a second delivery keeps the snapshot
    assert run.samples.count() == counts["total"]


def test_a_run_whose_vips_lost_their_train_faces_before_the_snapshot_fails_with_the_reason(mixed_world, admin_user):
    run = services.training_run_start(user=admin_user, options=QUICK, dispatch=False)
    Face.objects.filter(identity__in=mixed_world.vips, split="train").update(status=Face.Status.EXCLUDED)

    with pytest.raises(InvalidTransition, match="None of the VIPs has a face in the train split"):
        services.training_run_snapshot(run=run)

    assert not run.samples.exists()


def test_a_start_is_refused_when_no_vip_face_is_usable_or_none_is_in_train(mixed_world, admin_client_api):
    Face.objects.filter(identity__in=mixed_world.vips, split="train").update(status=Face.Status.EXCLUDED)

    answer = admin_client_api.post("/api/v1/runs/", {"options": QUICK}, format="json")

    assert answer.status_code == 400 and "train split" in answer.data["detail"]
    Face.objects.filter(identity__in=mixed_world.vips).update(embedding=None)

    answer = admin_client_api.post("/api/v1/runs/", {"options": QUICK}, format="json")

    assert answer.status_code == 400 and "usable face" in answer.data["detail"]
    assert not TrainingRun.objects.exists()
