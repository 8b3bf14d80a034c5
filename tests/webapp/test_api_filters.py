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


# --- Filters and ordering reach only what each view names -------------------------------------
def _api_view_callbacks():
    """(route, callback) for every DRF view the URL conf serves."""
    from django.urls import URLResolver, get_resolver
    from rest_framework.views import APIView

    def walk(patterns, prefix=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            else:
                cls = getattr(pattern.callback, "cls", None)
                if cls is not None and issubclass(cls, APIView):
                    yield prefix + str(pattern.pattern), pattern.callback

    return list(walk(get_resolver().url_patterns))


def _filter_and_ordering_paths(callback):
    """Every field path a client can name in a filter or ordering parameter of this view."""

    def setting(name):  # an @action's own filter/ordering settings come first
        return callback.initkwargs.get(name, getattr(callback.cls, name, None))

    ordering = setting("ordering_fields") or []
    filterset_fields = setting("filterset_fields") or []
    filterset_class = setting("filterset_class")
    paths = {"ordering": list(ordering), "filterset_fields": list(filterset_fields)}
    if filterset_class is not None:
        paths["filterset_class"] = [f.field_name for f in filterset_class.base_filters.values()]
        paths["filterset_meta"] = list(getattr(filterset_class.Meta, "fields", None) or [])
    search = setting("search_fields") or []
    paths["search_fields"] = [field.lstrip("^=@$") for field in search]
    return paths


def _reaches_into_the_user_model(model, path: str) -> bool:
    """Whether ``path`` follows a relation to the user model and then names one of its columns."""
    from django.contrib.auth import get_user_model
    from django.core.exceptions import FieldDoesNotExist

    parts = path.lstrip("-").split("__")
    current = model
    for index, part in enumerate(parts):
        if current is None:
            return False
        if current is get_user_model() and index > 0 and part not in ("id", "pk"):
            return True
        try:
            field = current._meta.get_field(part)
        except FieldDoesNotExist:
            return False  # an annotation (face_count) or a lookup (exact, in)
        current = field.related_model if field.is_relation else None
    return False


def _model_of(callback):
    cls = callback.cls
    queryset = getattr(cls, "queryset", None)
    if queryset is not None:
        return queryset.model
    serializer = getattr(cls, "serializer_class", None)
    meta = getattr(serializer, "Meta", None)
    return getattr(meta, "model", None)


def test_the_api_filters_with_the_allow_list_ordering_filter_only():
    from django.conf import settings

    assert settings.REST_FRAMEWORK["DEFAULT_FILTER_BACKENDS"] == [
        "django_filters.rest_framework.DjangoFilterBackend",
        "webapp.core.filters.AllowListOrderingFilter",
    ]
    from rest_framework.filters import OrderingFilter, SearchFilter

    from webapp.core.filters import AllowListOrderingFilter

    for route, callback in _api_view_callbacks():
        backends = callback.initkwargs.get("filter_backends", getattr(callback.cls, "filter_backends", []))
        for backend in backends:
            assert not (issubclass(backend, OrderingFilter) and not issubclass(backend, AllowListOrderingFilter)), route
            assert not issubclass(backend, SearchFilter), f"{route}: search through a filterset field instead"


def test_no_api_view_allows_all_fields_or_a_related_users_columns():
    callbacks = _api_view_callbacks()
    assert len(callbacks) > 50  # the enumeration sees the whole API
    problems = []
    for route, callback in callbacks:
        model = _model_of(callback)
        for kind, paths in _filter_and_ordering_paths(callback).items():
            for path in paths:
                if path == "__all__":
                    problems.append(f"{route} {kind}: '__all__'")
                elif model is not None and _reaches_into_the_user_model(model, path):
                    problems.append(f"{route} {kind}: {path} reaches a user's columns")
    assert problems == []


def test_the_audit_notices_a_path_into_a_users_columns():
    from webapp.faces.models import LabelEvent

    assert _reaches_into_the_user_model(LabelEvent, "user__password")
    assert _reaches_into_the_user_model(LabelEvent, "-face__identity__merged_into__name") is False
    assert not _reaches_into_the_user_model(LabelEvent, "user")
