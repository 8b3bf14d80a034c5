"""Accounts: who may change whom, passwords, log-in lock-out, API tokens and request rates."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from .factories import FaceFactory, IdentityFactory, UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"  # the factories' password


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", is_staff=True, is_superuser=True)


def _client(user=None, **kwargs) -> APIClient:
    client = APIClient(**kwargs)
    if user is not None:
        client.force_authenticate(user)
    return client


# --- 1. An app admin is no superuser ---------------------------------------------------------
def test_an_app_admin_cannot_change_a_superusers_password_through_the_users_api(admin_client_api, superuser):
    response = admin_client_api.patch(f"/api/v1/users/{superuser.pk}/", {"password": "a-new-long-passphrase"})
    assert response.status_code == 403 and "superuser" in response.data["detail"]
    superuser.refresh_from_db()
    assert superuser.check_password(PASSWORD)


def test_an_app_admin_cannot_deactivate_or_demote_a_staff_account(admin_client_api):
    staff = UserFactory(username="staffer", role="admin", is_staff=True)
    assert admin_client_api.patch(f"/api/v1/users/{staff.pk}/", {"is_active": False}).status_code == 403
    assert admin_client_api.patch(f"/api/v1/users/{staff.pk}/", {"role": "none"}).status_code == 403
    staff.refresh_from_db()
    assert staff.is_active and staff.groups.filter(name="admin").exists()


def test_a_superuser_changes_a_staff_accounts_password(superuser):
    staff = UserFactory(username="staffer", is_staff=True)
    response = _client(superuser).patch(f"/api/v1/users/{staff.pk}/", {"password": "a-new-long-passphrase"})
    assert response.status_code == 200
    staff.refresh_from_db()
    assert staff.check_password("a-new-long-passphrase")


def test_the_users_api_grants_no_staff_or_superuser_flag(admin_client_api, annotator):
    admin_client_api.patch(f"/api/v1/users/{annotator.pk}/", {"is_staff": True, "is_superuser": True})
    created = admin_client_api.post(
        "/api/v1/users/",
        {"username": "eve", "password": "a-new-long-passphrase", "is_staff": True, "is_superuser": True},
    )
    assert created.status_code == 201
    for user in get_user_model().objects.filter(username__in=["eve", annotator.username]):
        assert not user.is_staff and not user.is_superuser


def test_no_model_of_the_app_is_added_changed_or_deleted_on_the_admin_site(rf, superuser):
    from django.contrib import admin

    request = rf.get("/admin/")
    request.user = superuser
    editable = [
        type(model_admin).__name__
        for model, model_admin in admin.site._registry.items()
        if model.__module__.startswith("webapp.")
        and (
            model_admin.has_add_permission(request)
            or model_admin.has_change_permission(request)
            or model_admin.has_delete_permission(request)
        )
    ]
    assert editable == []


def test_a_superuser_cannot_relabel_a_face_on_the_admin_site(client, superuser):
    face = FaceFactory(status="unverified")
    other = IdentityFactory()
    client.force_login(superuser)
    assert client.get(f"/admin/faces/face/{face.pk}/change/").status_code == 200  # shown, read-only
    response = client.post(
        f"/admin/faces/face/{face.pk}/change/", {"identity": other.pk, "status": "verified", "split": "test"}
    )
    assert response.status_code == 403
    face.refresh_from_db()
    assert (face.identity_id, face.status) != (other.pk, "verified")


def _staff_user_manager():
    from django.contrib.auth.models import Permission

    staff = UserFactory(username="staff-manager", is_staff=True)
    staff.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="auth", codename__in=["view_user", "change_user"])
    )
    return get_user_model().objects.get(pk=staff.pk)  # without the permission cache


def test_staff_without_superuser_cannot_make_themselves_superuser_on_the_admin_site(client):
    staff = _staff_user_manager()
    client.force_login(staff)
    page = client.get(f"/admin/auth/user/{staff.pk}/change/")
    assert page.status_code == 200 and 'name="is_superuser"' not in page.content.decode()
    client.post(
        f"/admin/auth/user/{staff.pk}/change/",
        {
            "username": staff.username,
            "is_active": "on",
            "is_staff": "on",
            "is_superuser": "on",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
        },
    )
    staff.refresh_from_db()
    assert not staff.is_superuser


def test_staff_without_superuser_cannot_change_a_superusers_password_on_the_admin_site(client, superuser):
    client.force_login(_staff_user_manager())
    response = client.post(
        f"/admin/auth/user/{superuser.pk}/password/",
        {"password1": "a-new-long-passphrase", "password2": "a-new-long-passphrase"},
    )
    assert response.status_code == 403
    superuser.refresh_from_db()
    assert superuser.check_password(PASSWORD)


# --- 2. Ordering reaches only the listed fields ------------------------------------------------
def test_ordering_users_by_role_is_ignored_not_a_500(admin_client_api, annotator):
    response = admin_client_api.get("/api/v1/users/?ordering=role")
    assert response.status_code == 200
    assert [row["username"] for row in response.data["results"]] == sorted(
        row["username"] for row in response.data["results"]
    )


def test_users_are_ordered_by_a_listed_field(admin_client_api):
    UserFactory(username="zed")
    UserFactory(username="amy")
    names = [row["username"] for row in admin_client_api.get("/api/v1/users/?ordering=-username").data["results"]]
    assert names == sorted(names, reverse=True)


def test_a_view_without_ordering_fields_cannot_be_ordered_by_a_related_users_password(admin_client_api):
    from webapp.training.models import Chunk

    weak = UserFactory(username="aaa")
    strong = UserFactory(username="zzz")
    weak.set_password("a" * 20)
    strong.set_password("z" * 20)
    weak.save()
    strong.save()
    Chunk.objects.create(number=1, promoted_by=strong, identities=[])
    Chunk.objects.create(number=2, promoted_by=weak, identities=[])
    default = admin_client_api.get("/api/v1/chunks/").data["results"]
    assert [row["number"] for row in default] == [2, 1]
    for ordering in ("number", "promoted_by__password", "-promoted_by__password", "promoted_by"):
        response = admin_client_api.get(f"/api/v1/chunks/?ordering={ordering}")
        assert response.status_code == 200 and response.data["results"] == default


# --- 3. Passwords ------------------------------------------------------------------------------
def test_the_settings_apply_djangos_four_password_validators_with_at_least_12_characters(settings):
    names = [v["NAME"].rsplit(".", 1)[1] for v in settings.AUTH_PASSWORD_VALIDATORS]
    assert names == [
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    ]
    assert settings.AUTH_PASSWORD_VALIDATORS[1]["OPTIONS"]["min_length"] >= 12


def test_a_weak_password_is_refused_with_the_validators_messages(admin_client_api):
    response = admin_client_api.post("/api/v1/users/", {"username": "erin", "password": "12345678"})
    assert response.status_code == 400
    messages = " ".join(response.data["password"])
    assert "too short" in messages and "too common" in messages and "entirely numeric" in messages
    assert not get_user_model().objects.filter(username="erin").exists()


def test_a_password_like_the_username_is_refused_on_update(admin_client_api, annotator):
    response = admin_client_api.patch(f"/api/v1/users/{annotator.pk}/", {"password": "bob-annotator-1"})
    assert response.status_code == 400 and "too similar" in " ".join(response.data["password"])
    annotator.refresh_from_db()
    assert annotator.check_password(PASSWORD)


def test_the_account_service_refuses_a_weak_password_whoever_calls_it():
    from django.core.exceptions import ValidationError

    from webapp.core import accounts

    with pytest.raises(ValidationError) as refused:
        accounts.user_create(username="frank", password="password123", role="annotator")
    assert "too common" in " ".join(refused.value.message_dict["password"])


# --- 4. Lock-out after failed logins -----------------------------------------------------------
@pytest.fixture
def lockout_after_3(settings):
    settings.AXES_FAILURE_LIMIT = 3
    return 3


def test_the_login_form_locks_an_account_out_after_too_many_failures(client, annotator, lockout_after_3):
    for _ in range(lockout_after_3):
        client.post("/accounts/login/", {"username": annotator.username, "password": "wrong-guess"})
    response = client.post("/accounts/login/", {"username": annotator.username, "password": PASSWORD})
    assert response.status_code == 429 and "locked" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_the_admin_sites_login_locks_out_too(client, lockout_after_3):
    staff = UserFactory(username="staffer", is_staff=True, is_superuser=True)
    for _ in range(lockout_after_3):
        client.post("/admin/login/", {"username": staff.username, "password": "wrong-guess"})
    response = client.post("/admin/login/?next=/admin/", {"username": staff.username, "password": PASSWORD})
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_the_lock_out_ends_after_the_cool_off(client, annotator, lockout_after_3, settings):
    from axes.models import AccessAttempt

    for _ in range(lockout_after_3):
        client.post("/accounts/login/", {"username": annotator.username, "password": "wrong-guess"})
    AccessAttempt.objects.update(attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=1))
    response = client.post("/accounts/login/", {"username": annotator.username, "password": PASSWORD})
    assert response.status_code == 302 and client.session["_auth_user_id"] == str(annotator.pk)


def test_the_token_endpoint_locks_an_account_out_with_a_429(annotator, lockout_after_3):
    script = _client()
    for _ in range(lockout_after_3 - 1):
        assert (
            script.post("/api/v1/auth/token/", {"username": annotator.username, "password": "wrong-guess"}).status_code
            == 401
        )
    script.post("/api/v1/auth/token/", {"username": annotator.username, "password": "wrong-guess"})
    response = script.post("/api/v1/auth/token/", {"username": annotator.username, "password": PASSWORD})
    assert response.status_code == 429 and "locked" in response.json()["detail"]
    assert not Token.objects.filter(user=annotator).exists()


def test_the_default_lock_out_is_10_failures_for_15_minutes(settings):
    assert settings.AXES_FAILURE_LIMIT == 10 and settings.AXES_COOLOFF_TIME == timedelta(minutes=15)


# --- 5. Tokens ---------------------------------------------------------------------------------
def test_a_script_gets_a_token_with_username_and_password_without_session_or_csrf(annotator):
    script = APIClient(enforce_csrf_checks=True)
    response = script.post("/api/v1/auth/token/", {"username": annotator.username, "password": PASSWORD}, format="json")
    assert response.status_code == 200 and response.data["expires"]
    script.credentials(HTTP_AUTHORIZATION=f"Token {response.data['token']}")
    assert script.get("/api/v1/me/").data["username"] == annotator.username


def test_a_wrong_password_gets_no_token(annotator):
    response = _client().post("/api/v1/auth/token/", {"username": annotator.username, "password": "nope-nope"})
    assert response.status_code == 401 and response.data["detail"] == "Wrong username or password."


def test_a_user_without_a_role_gets_no_token(no_role_user):
    response = _client().post("/api/v1/auth/token/", {"username": no_role_user.username, "password": PASSWORD})
    assert response.status_code == 403


def test_rotating_a_token_kills_the_old_key(annotator, annotator_client):
    old = annotator_client.post("/api/v1/auth/token/").data["token"]
    script = APIClient()
    script.credentials(HTTP_AUTHORIZATION=f"Token {old}")
    rotated = script.post("/api/v1/auth/token/rotate/")
    assert rotated.status_code == 200 and rotated.data["token"] != old
    assert script.get("/api/v1/me/").status_code == 401
    script.credentials(HTTP_AUTHORIZATION=f"Token {rotated.data['token']}")
    assert script.get("/api/v1/me/").status_code == 200


def test_a_user_revokes_their_own_token(annotator_client):
    key = annotator_client.post("/api/v1/auth/token/").data["token"]
    script = APIClient()
    script.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert script.delete("/api/v1/auth/token/").status_code == 204
    assert script.get("/api/v1/me/").status_code == 401


def test_an_admin_revokes_anyones_token_and_an_annotator_cannot(admin_client_api, annotator_client, other_annotator):
    key = Token.objects.create(user=other_annotator).key
    assert annotator_client.delete(f"/api/v1/users/{other_annotator.pk}/token/").status_code == 403
    assert admin_client_api.delete(f"/api/v1/users/{other_annotator.pk}/token/").status_code == 204
    script = APIClient()
    script.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert script.get("/api/v1/me/").status_code == 401


def test_an_expired_token_is_refused_with_401_and_a_new_one_is_issued(annotator, settings):
    token = Token.objects.create(user=annotator)
    Token.objects.filter(pk=token.pk).update(created=timezone.now() - settings.API_TOKEN_LIFETIME)
    script = APIClient()
    script.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    response = script.get("/api/v1/me/")
    assert response.status_code == 401 and "expired" in response.data["detail"]
    fresh = APIClient().post("/api/v1/auth/token/", {"username": annotator.username, "password": PASSWORD})
    assert fresh.status_code == 200 and fresh.data["token"] != token.key


def test_the_token_lifetime_defaults_to_30_days(settings):
    assert settings.API_TOKEN_LIFETIME == timedelta(days=30)


def test_a_new_password_revokes_the_users_token(admin_client_api, annotator):
    Token.objects.create(user=annotator)
    admin_client_api.patch(f"/api/v1/users/{annotator.pk}/", {"password": "a-new-long-passphrase"})
    assert not Token.objects.filter(user=annotator).exists()


# --- 6. Throttles ------------------------------------------------------------------------------
@pytest.fixture
def low_rates(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"anon": "3/min", "user_write": "3/min"},
    }


def test_writes_are_throttled_per_user_and_reads_are_not(annotator_client, other_annotator_client, low_rates):
    for _ in range(3):
        assert annotator_client.post("/api/v1/auth/token/rotate/").status_code == 200
    assert annotator_client.post("/api/v1/auth/token/rotate/").status_code == 429
    assert other_annotator_client.post("/api/v1/auth/token/rotate/").status_code == 200
    for _ in range(5):
        assert annotator_client.get("/api/v1/me/").status_code == 200


def test_anonymous_requests_are_throttled(annotator, low_rates):
    script = _client()
    statuses = [
        script.post("/api/v1/auth/token/", {"username": "nobody", "password": "x" * 12}).status_code for _ in range(4)
    ]
    assert statuses == [401, 401, 401, 429]


def test_the_default_rates_are_generous(settings):
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    assert rates == {"anon": "60/min", "user_write": "600/min"}
