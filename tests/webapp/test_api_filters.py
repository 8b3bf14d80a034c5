import pytest

from .factories import FaceFactory, IdentityFactory

pytestmark = pytest.mark.django_db


def ids(response):
    return {row["id"] for row in response.data["results"]}


def test_faces_filter_by_identity_status_split_and_source(annotator_client):
    ada = IdentityFactory(name="Ada", role="vip")
    a1 = FaceFactory(identity=ada, status="verified", split="train")
    a2 = FaceFactory(identity=ada, status="unverified", split="test")
    other = FaceFactory(status="verified", split="train", source="photo")
    unknown = FaceFactory(identity=None)
    assert ids(annotator_client.get(f"/api/v1/faces/?identity={ada.pk}")) == {a1.pk, a2.pk}
    assert ids(annotator_client.get("/api/v1/faces/?status=verified")) == {a1.pk, other.pk}
    assert ids(annotator_client.get(f"/api/v1/faces/?identity={ada.pk}&split=test")) == {a2.pk}
    assert ids(annotator_client.get("/api/v1/faces/?source=photo")) == {other.pk}
    assert ids(annotator_client.get("/api/v1/faces/?unknown=true")) == {unknown.pk}
    assert ids(annotator_client.get("/api/v1/faces/?role=vip")) == {a1.pk, a2.pk}


def test_an_invalid_filter_value_is_a_clear_400(annotator_client):
    response = annotator_client.get("/api/v1/faces/?status=famous")
    assert response.status_code == 400 and "status" in response.data


def test_identities_list_counts_faces_per_split_in_one_query(annotator_client, django_assert_max_num_queries):
    ada = IdentityFactory(name="Ada")
    FaceFactory.create_batch(3, identity=ada, split="train")
    FaceFactory(identity=ada, split="val", status="excluded")
    FaceFactory.create_batch(2, identity=IdentityFactory())
    with django_assert_max_num_queries(5):
        response = annotator_client.get("/api/v1/identities/?search=ad")
    (row,) = response.data["results"]
    assert (row["face_count"], row["train_count"], row["val_count"]) == (3, 3, 0)


def test_identities_are_listed_in_popularity_order(annotator_client):
    IdentityFactory(name="B", popularity_rank=2)
    IdentityFactory(name="A", popularity_rank=1)
    IdentityFactory(name="C", popularity_rank=None)
    names = [row["name"] for row in annotator_client.get("/api/v1/identities/").data["results"]]
    assert names == ["A", "B", "C"]


def test_pages_have_a_requested_size(annotator_client):
    FaceFactory.create_batch(7)
    response = annotator_client.get("/api/v1/faces/?page_size=3&page=2")
    assert len(response.data["results"]) == 3 and response.data["count"] == 7


def test_an_identity_name_must_be_unique(admin_client_api):
    admin_client_api.post("/api/v1/identities/", {"name": "Ada"})
    response = admin_client_api.post("/api/v1/identities/", {"name": "Ada"})
    assert response.status_code == 400 and "already exists" in str(response.data)


def test_the_openapi_schema_and_docs_are_served(annotator_client, admin_user, client):
    schema = annotator_client.get("/api/schema/?format=json")
    assert schema.status_code == 200 and "/api/v1/faces/{id}/label/" in schema.json()["paths"]
    client.force_login(admin_user)
    assert client.get("/api/docs/").status_code == 200
