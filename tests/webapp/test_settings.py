import os
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

# Set by this test session, not by a deployment: the browser tests' fixture sets the async-safety
# override, which `check --deploy` rightly refuses.
_TEST_SESSION_VARIABLES = ("SECRET_KEY", "DJANGO_DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE")


def _environment_without_test_overrides() -> dict:
    return {k: v for k, v in os.environ.items() if k not in _TEST_SESSION_VARIABLES}


def _run_check(env_overrides: dict) -> subprocess.CompletedProcess:
    env = _environment_without_test_overrides()
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=REPO_ROOT, env=env, capture_output=True, text=True
    )


def test_a_secret_key_is_required_outside_debug():
    result = _run_check({"DJANGO_DEBUG": "0"})
    assert result.returncode != 0 and "SECRET_KEY must be set" in result.stderr


def test_the_app_starts_with_a_secret_key_and_no_other_configuration():
    result = _run_check({"SECRET_KEY": "x" * 50})
    assert result.returncode == 0, result.stderr


def _readme_production_env() -> dict:
    """The `.env for production` block of the README's "Running it safely", as a dict."""
    import re
    import secrets

    readme = (REPO_ROOT / "README.md").read_text()
    block = re.search(r"```sh\n# \.env for production[^\n]*\n(.*?)```", readme, re.S)
    assert block, "README lost its production .env block"
    env = dict(line.split("=", 1) for line in block.group(1).splitlines() if line and not line.startswith("#"))
    env["SECRET_KEY"] = secrets.token_urlsafe(50)  # the README shows how to make one
    return env


def test_check_deploy_passes_with_the_production_settings_the_readme_documents(tmp_path):
    env = _environment_without_test_overrides()
    env.update(_readme_production_env(), FACECURATOR_VAR_DIR=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_warns_when_https_is_not_enforced(tmp_path):
    env = _environment_without_test_overrides()
    env.update(_readme_production_env(), FACECURATOR_VAR_DIR=str(tmp_path), SECURE_SSL_REDIRECT="0")
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and "security.W008" in result.stdout + result.stderr


def test_without_debug_cookies_are_secure_and_hsts_is_on_by_default(tmp_path):
    env = _environment_without_test_overrides()
    env.update(SECRET_KEY="x" * 50, FACECURATOR_VAR_DIR=str(tmp_path))
    code = (
        "from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS, s.X_FRAME_OPTIONS)"
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-v", "0", "-c", code],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.stdout.split() == ["True", "True", "31536000", "DENY"], result.stderr


_VIDEO_VARIABLES = ("FACECURATOR_VIDEOS_ON_GPU", "FACECURATOR_VIDEOS_PER_BATCH", "FACECURATOR_FACE_DEVICE")


def _setting(env_overrides: dict, expression: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in _VIDEO_VARIABLES}
    env.update({"DJANGO_DEBUG": "1", **env_overrides})
    code = f"from webapp import settings; print({expression})"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout.strip()


def _task_routes(env_overrides: dict) -> str:
    return _setting(env_overrides, "sorted(settings.CELERY_TASK_ROUTES)")


def test_video_processing_goes_to_the_gpu_queue_only_when_asked():
    assert "media.process_video" not in _task_routes({})
    assert "'media.process_video', 'media.process_videos'" in _task_routes({"FACECURATOR_VIDEOS_ON_GPU": "1"})


@pytest.mark.parametrize(
    ("env", "videos_per_job"),
    [
        ({}, "1"),
        ({"FACECURATOR_VIDEOS_ON_GPU": "1"}, "8"),
        ({"FACECURATOR_FACE_DEVICE": "cuda:1"}, "8"),
        ({"FACECURATOR_FACE_DEVICE": "cpu"}, "1"),
        ({"FACECURATOR_VIDEOS_ON_GPU": "1", "FACECURATOR_VIDEOS_PER_BATCH": "3"}, "3"),
    ],
)
def test_videos_share_a_job_where_they_go_to_a_gpu_and_one_a_job_on_cpus(env, videos_per_job):
    assert _setting(env, "settings.FACECURATOR_VIDEOS_PER_BATCH") == videos_per_job


def _second_opinion_kinds(env: dict) -> subprocess.CompletedProcess:
    environment = {**_environment_without_test_overrides(), "DJANGO_DEBUG": "1", **env}
    code = "from webapp import settings; print(','.join(settings.FACECURATOR_SECOND_OPINION))"
    return subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=environment, capture_output=True, text=True)


def test_second_opinions_are_on_for_relabels_between_two_vips_only_by_default():
    assert _second_opinion_kinds({}).stdout.strip() == "relabel_vip"


def test_second_opinions_are_chosen_per_action_and_none_turns_them_off():
    chosen = _second_opinion_kinds({"FACECURATOR_SECOND_OPINION": "unknown_vip,confirm_likely_wrong"})
    assert chosen.stdout.strip() == "unknown_vip,confirm_likely_wrong"
    assert _second_opinion_kinds({"FACECURATOR_SECOND_OPINION": "none"}).stdout.strip() == ""


def test_an_unknown_second_opinion_kind_is_refused_at_start():
    result = _second_opinion_kinds({"FACECURATOR_SECOND_OPINION": "relabel_everything"})
    assert result.returncode != 0 and "unknown kind(s) relabel_everything" in result.stderr


@pytest.mark.django_db
def test_a_postgresql_server_without_autovacuum_gets_a_database_check_warning():
    from django.core.checks import run_checks
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the check reads PostgreSQL's autovacuum setting; this run uses " + connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute("SHOW autovacuum")
        (setting,) = cursor.fetchone()

    warned = [m.id for m in run_checks(include_deployment_checks=False, databases=["default"])]

    assert ("core.W001" in warned) == (setting != "on")
