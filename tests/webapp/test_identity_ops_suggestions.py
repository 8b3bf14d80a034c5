"""Merge and split suggestions on real glint24 faces (SFace embeddings), then acting on them and undoing.

255 crops are embedded once per module: Tom Hanks (60, filed under two names), Kate Winslet (45)
and Mark Ruffalo (30) filed under one name, and four other people (30 each) as the crowd.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.management import call_command

from webapp.core.models import Job
from webapp.curation import services
from webapp.faces.models import Face
from webapp.identities.models import Identity, IdentitySuggestion

from .factories import FaceFactory, IdentityFactory

TOM, KATE, MARK = "Tom Hanks", "Kate Winslet", "Mark Ruffalo"
CROWD = ["Halle Berry", "Simon Cowell", "Keanu Reeves", "Hugh Laurie"]
COUNTS = {TOM: 60, KATE: 45, MARK: 30, **{name: 30 for name in CROWD}}


@dataclass
class Crop:
    person: str
    path: str
    jpeg: bytes
    vector: np.ndarray


@pytest.fixture(scope="module")
def crops(shared_data) -> list[Crop]:
    """The first crops of each person, embedded once for the whole module."""
    from ml.embedders import SFaceEmbedder
    from ml.images import load_image

    embedder = SFaceEmbedder()
    found = []
    for person, count in COUNTS.items():
        files = sorted((shared_data / "glint24" / person).glob("*.jpg"), key=lambda p: int(p.stem))[:count]
        data = [path.read_bytes() for path in files]
        vectors = embedder.embed_aligned([load_image(jpeg) for jpeg in data])
        found += [
            Crop(person, f"{person}/{path.name}", jpeg, vector)
            for path, jpeg, vector in zip(files, data, vectors, strict=True)
        ]
    return found


@dataclass
class Library:
    tom_a: Identity  # Tom Hanks's first 30 faces
    tom_b: Identity  # his next 30, under another name
    kate: Identity  # Kate Winslet's 45 faces and Mark Ruffalo's 30
    person_of: dict[int, str]  # face id -> who is really in it
    faces: list[Face]


@pytest.fixture
def library(db, crops) -> Library:
    tom_a = IdentityFactory(name=TOM, role="vip", popularity_rank=1)
    tom_b = IdentityFactory(name="Hanks, Tom", popularity_rank=40)
    kate = IdentityFactory(name=KATE, role="vip", popularity_rank=2)
    crowd = {name: IdentityFactory(name=name, popularity_rank=3 + i) for i, name in enumerate(CROWD)}
    person_of, faces, toms = {}, [], 0
    for crop in crops:
        if crop.person == TOM:
            identity, toms = (tom_a if toms < 30 else tom_b), toms + 1
        elif crop.person in (KATE, MARK):
            identity = kate
        else:
            identity = crowd[crop.person]
        face = FaceFactory(
            identity=identity,
            vector=crop.vector,
            source_path=crop.path,
            status="verified" if len(faces) % 3 == 0 else "unverified",
            crop=ContentFile(crop.jpeg, name="face.jpg"),
        )
        person_of[face.pk] = crop.person
        faces.append(face)
    return Library(tom_a=tom_a, tom_b=tom_b, kate=kate, person_of=person_of, faces=faces)


def compute_through_the_api(client, body=None) -> Job:
    """POST compute, then run the queued job here exactly as a worker would."""
    from webapp.curation.tasks import compute_suggestions

    response = client.post("/api/v1/identities/suggestions/compute/", body or {})
    assert response.status_code == 202, response.data
    assert response.data["kind"] == "identities.compute_suggestions" and response.data["state"] == "queued"
    compute_suggestions(response.data["id"])
    job = Job.objects.get(pk=response.data["id"])
    assert job.state == "succeeded", job.error
    return job


def purity(clusters: list[list[int]], person_of: dict[int, str]) -> float:
    """Share of faces that are of their cluster's majority person."""
    majority = sum(max(np.unique([person_of[pk] for pk in cluster], return_counts=True)[1]) for cluster in clusters)
    return majority / sum(len(cluster) for cluster in clusters)


def test_one_person_under_two_names_is_the_top_merge_suggestion(admin_client_api, library):
    job = compute_through_the_api(admin_client_api)
    assert job.result["faces"] == 255 and job.result["identities"] == 7
    listed = admin_client_api.get("/api/v1/identities/suggestions/?kind=merge&status=open").data["results"]
    top = listed[0]
    # the less popular name is merged into the VIP
    assert (top["identity"]["id"], top["other"]["id"]) == (library.tom_b.pk, library.tom_a.pk)
    evidence = top["evidence"]
    print(
        f"\nmerge: score {top['score']}, centroid cosine {evidence['centroid_cosine']}, "
        f"neighbour mixing {evidence['neighbour_mixing']}; next {[row['score'] for row in listed[1:]]}"
    )
    assert top["score"] > 0.65 and evidence["centroid_cosine"] > 0.8 and evidence["neighbour_mixing"] > 0.4
    assert all(row["score"] < top["score"] - 0.2 for row in listed[1:])
    # side by side: the identity to merge away, then the one to keep, each with real crops
    assert [side["identity"] for side in top["sides"]] == [library.tom_b.pk, library.tom_a.pk]
    assert [side["name"] for side in top["sides"]] == ["Hanks, Tom", TOM]
    for side in top["sides"]:
        assert side["faces"] == 30 and len(side["examples"]) == 6
        assert all(example["crop_url"].startswith("/media/") for example in side["examples"])


def test_two_people_under_one_name_are_the_top_split_suggestion_with_pure_clusters(admin_client_api, library):
    compute_through_the_api(admin_client_api)
    listed = admin_client_api.get("/api/v1/identities/suggestions/?kind=split").data["results"]
    top = listed[0]
    assert top["identity"]["id"] == library.kate.pk and top["other"] is None
    stays, moves = top["sides"]
    clusters = [stays["face_ids"], moves["face_ids"]]
    score = purity(clusters, library.person_of)
    print(
        f"\nsplit: score (silhouette) {top['score']}, centroid cosine {top['evidence']['centroid_cosine']}, "
        f"between/within {top['evidence']['between_within_ratio']}, sizes {stays['faces']}+{moves['faces']}, "
        f"purity {score:.3f}; other split suggestions {[(row['identity']['name'], row['score']) for row in listed[1:]]}"
    )
    assert score >= 0.95
    assert {library.person_of[pk] for pk in moves["face_ids"]} == {MARK}  # the smaller cluster is the other person
    assert sorted(stays["face_ids"] + moves["face_ids"]) == sorted(library.kate.faces.values_list("pk", flat=True))
    assert all(library.person_of[example["id"]] == MARK for example in moves["examples"])
    # nobody else looks like two people
    assert all(row["identity"]["id"] == library.kate.pk for row in listed)


def test_acting_on_both_suggestions_then_undoing_restores_every_label(admin_client_api, library):
    compute_through_the_api(admin_client_api)
    before = {face.pk: (face.identity_id, face.status) for face in Face.objects.all()}
    names_before = {
        i.pk: (i.name, list(i.aliases), i.role, i.popularity_rank, i.merged_into_id) for i in Identity.objects.all()
    }
    merge = admin_client_api.get("/api/v1/identities/suggestions/?kind=merge").data["results"][0]
    split = admin_client_api.get("/api/v1/identities/suggestions/?kind=split").data["results"][0]

    merged = admin_client_api.post(
        f"/api/v1/identities/{merge['identity']['id']}/merge/",
        {"into": merge["other"]["id"], "suggestion": merge["id"]},
    )
    assert merged.status_code == 201 and merged.data["face_count"] == 30
    moved = split["sides"][1]["face_ids"]
    splitted = admin_client_api.post(
        f"/api/v1/identities/{library.kate.pk}/split/", {"faces": moved, "new_name": MARK, "suggestion": split["id"]}
    )
    assert splitted.status_code == 201
    mark = Identity.objects.get(name=MARK)
    assert {library.person_of[pk] for pk in mark.faces.values_list("pk", flat=True)} == {MARK}
    assert library.tom_a.faces.count() == 60 and not library.tom_b.faces.exists()
    assert admin_client_api.get("/api/v1/identities/suggestions/").data["count"] == 0  # both accepted

    for record in (splitted.data, merged.data):
        assert admin_client_api.post(f"/api/v1/identities/operations/{record['id']}/undo/").status_code == 200
    assert {face.pk: (face.identity_id, face.status) for face in Face.objects.all()} == before
    after = {
        i.pk: (i.name, list(i.aliases), i.role, i.popularity_rank, i.merged_into_id)
        for i in Identity.objects.exclude(pk=mark.pk)
    }
    assert after == names_before
    assert Identity.objects.get(pk=mark.pk).merged_into_id == library.kate.pk  # the split's new name, retired
    assert admin_client_api.get("/api/v1/identities/suggestions/").data["count"] == 2  # open again


def test_a_training_runs_confusion_adds_to_the_merge_evidence(library):
    from webapp.training.models import RunSample, TrainingRun

    run = TrainingRun.objects.create(
        job=Job.objects.create(kind="training.run"),
        vips=[
            {"index": 0, "identity": library.tom_a.pk, "name": TOM, "chunk": 1},
            {"index": 1, "identity": library.kate.pk, "name": KATE, "chunk": 1},
        ],
    )
    # the model took 24 of the other name's 30 faces (a distractor in that run) for Tom Hanks
    for i, face in enumerate(library.tom_b.faces.order_by("pk")):
        RunSample.objects.create(
            run=run,
            face=face,
            identity_id=library.tom_b.pk,
            label=-1,
            split="train",
            version=0,
            predicted=0 if i < 24 else 1,
            confidence=0.9,
        )
    result = services.identity_suggestions_compute(run_id=run.pk)
    assert result["run"] == run.pk
    top = IdentitySuggestion.objects.filter(kind="merge").order_by("-score").first()
    assert top.evidence["confusion"] == {"a_as_b": 0.8, "b_as_a": 0.0, "mutual": 0.4} or top.evidence["confusion"] == {
        "a_as_b": 0.0,
        "b_as_a": 0.8,
        "mutual": 0.4,
    }
    assert top.evidence["run"] == run.pk and {top.identity_id, top.other_id} == {library.tom_a.pk, library.tom_b.pk}


def test_recomputing_keeps_open_suggestions_and_never_brings_back_a_dismissed_one(admin_client_api, library):
    compute_through_the_api(admin_client_api)
    merge = IdentitySuggestion.objects.get(kind="merge")
    split = IdentitySuggestion.objects.get(kind="split")
    admin_client_api.post(f"/api/v1/identities/suggestions/{merge.pk}/dismiss/")
    job = compute_through_the_api(admin_client_api)
    assert (job.result["merge"], job.result["split"]) == (0, 1)
    assert list(IdentitySuggestion.objects.filter(status="open").values_list("pk", flat=True)) == [split.pk]
    assert IdentitySuggestion.objects.get(pk=merge.pk).status == "dismissed"


def test_the_suggestions_command_computes_and_lists(library, capsys):
    call_command("identity_suggestions", "--compute")
    out = capsys.readouterr().out
    assert "examined 255 faces of 7 identities: 1 merge and 1 split suggestions open" in out
    assert f"merge {library.tom_b.pk} 'Hanks, Tom' into {library.tom_a.pk} 'Tom Hanks'" in out
    assert f"split {library.kate.pk} 'Kate Winslet' into 45 + 30 faces" in out


def test_a_split_found_on_a_sample_of_a_big_identity_still_lists_all_its_faces(library):
    services.identity_suggestions_compute(max_faces_per_identity=40)
    split = IdentitySuggestion.objects.get(kind="split")
    sides = split.evidence["sides"]
    assert split.identity_id == library.kate.pk and split.evidence["examined"] == 40
    assert sorted(sides[0]["face_ids"] + sides[1]["face_ids"]) == sorted(
        library.kate.faces.values_list("pk", flat=True)
    )
    assert purity([side["face_ids"] for side in sides], library.person_of) >= 0.95
