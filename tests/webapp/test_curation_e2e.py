"""The curation loop end to end on real faces (glint24 crops, SFace embeddings):

import -> promote the first chunk -> some labels are wrong -> train (head) -> the wrong faces top
the review queue -> an annotator fixes them through the API -> retrain -> the affected VIPs'
metrics improve -> the gate passes -> the next chunk is promoted.
"""

from __future__ import annotations

import pytest

from webapp.faces.models import Face
from webapp.faces.services import LabelChange, faces_relabel
from webapp.identities.models import Identity
from webapp.media.services import faces_import_folder
from webapp.review.models import Queue
from webapp.training import selectors
from webapp.training.models import Chunk, TrainingRun

from .test_training_fixtures import run_job_here

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

PEOPLE = ["Barack Obama", "Tom Hanks", "Keanu Reeves", "Jennifer Aniston", "Hugh Laurie"]
FACES_PER_PERSON = 30


def train_and_accept(admin_client) -> TrainingRun:
    started = admin_client.post("/api/v1/runs/", {"mode": "head", "loss": "me"}, format="json")
    assert started.status_code == 202, started.data
    run = run_job_here(TrainingRun.objects.get(pk=started.data["id"]))  # what the gpu worker does
    assert run.job.state == "succeeded", run.job.error
    assert admin_client.post(f"/api/v1/runs/{run.pk}/accept/").status_code == 200
    return run


def f1_of(run: TrainingRun, identity: Identity) -> float:
    row = next(row for row in run.per_class if row["identity"] == identity.pk)
    return (row["val"]["f1"] or 0.0) + (row["test"]["f1"] or 0.0)


def test_the_curation_loop_on_real_faces(shared_data, settings, admin_client_api, annotator_client):
    settings.FACECURATOR_CHUNK_SIZE = 3
    summary = faces_import_folder(
        root=shared_data / "glint24",
        cropped=True,
        identities=PEOPLE,
        limit_per_identity=FACES_PER_PERSON,
        popularity={name: rank for rank, name in enumerate(PEOPLE, start=1)},
    )
    assert summary["imported"] == len(PEOPLE) * FACES_PER_PERSON, summary

    # The first chunk needs no gate: the three most popular people become VIPs.
    first = admin_client_api.post("/api/v1/chunks/promote/", {}, format="json")
    assert first.status_code == 201
    obama, hanks, keanu = (Identity.objects.get(name=name) for name in PEOPLE[:3])
    assert set(selectors.vips_current()) == {obama, hanks, keanu}

    # Import noise: some of Keanu Reeves's faces were filed under Tom Hanks, in every split.
    keanu_faces = Face.objects.filter(identity=keanu).order_by("id")
    wrong = [
        face.pk
        for split in ("train", "val", "test")
        for face in keanu_faces.filter(split=split)[: 4 if split == "train" else 2]
    ]
    faces_relabel(changes=[LabelChange(pk, hanks) for pk in wrong], reason="import noise")

    before = train_and_accept(admin_client_api)

    # The mislabelled faces are at the top of the label-error queue, with Keanu Reeves suggested.
    queue = Queue.objects.get(run=before, kind="label_errors")
    page = annotator_client.post(
        f"/api/v1/review/queues/{queue.pk}/next/", {"limit": 2 * len(wrong)}, format="json"
    ).data
    served = [item["face"]["id"] for item in page]
    assert set(wrong) <= set(served[: len(wrong) + 2]), (wrong, served)
    for item in page:
        if item["face"]["id"] in wrong:
            assert item["payload"]["suggestions"][0]["identity"] == keanu.pk

    # The annotator fixes the page in one request: relabel as the model suggests, confirm the rest.
    decisions = [
        {"item": item["id"], "action": "relabel", "identity": item["payload"]["suggestions"][0]["identity"]}
        if item["face"]["id"] in wrong
        else {"item": item["id"], "action": "confirm"}
        for item in page
    ]
    response = annotator_client.post("/api/v1/review/decisions/", {"decisions": decisions}, format="json")
    assert response.status_code == 201, response.data
    assert set(Face.objects.filter(pk__in=wrong).values_list("identity_id", "status")) == {(keanu.pk, "verified")}

    # Retrain: the two identities the noise touched get better, and the gate lets the next chunk in.
    after = train_and_accept(admin_client_api)
    print(
        f"\nval mean F1 {before.metrics['val']['mean_f1']:.3f} -> {after.metrics['val']['mean_f1']:.3f}; "
        f"F1(val+test) Tom Hanks {f1_of(before, hanks):.3f} -> {f1_of(after, hanks):.3f}, "
        f"Keanu Reeves {f1_of(before, keanu):.3f} -> {f1_of(after, keanu):.3f}; gate {selectors.gate_status()['checks']}"
    )
    assert f1_of(after, hanks) > f1_of(before, hanks)
    assert f1_of(after, keanu) > f1_of(before, keanu)
    assert not Queue.objects.get(run=after, kind="label_errors").items.filter(face_id__in=wrong).exists()
    status = annotator_client.get("/api/v1/status/").data
    assert status["gate"]["passed"], status["gate"]

    second = admin_client_api.post("/api/v1/chunks/promote/", {}, format="json")
    assert second.status_code == 201, second.data
    assert {entry["name"] for entry in second.data["chunk"]["identities"]} == set(PEOPLE[3:])
    assert Chunk.objects.get(number=2).metrics == after.metrics
    assert selectors.vips_current().count() == 5
