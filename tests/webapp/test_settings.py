import os
import subprocess
import sys

from tests.conftest import REPO_ROOT


def _run_check(env_overrides: dict) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DJANGO_DEBUG")}
    env.update(env_overrides)
    return subprocess.run([sys.executable, "manage.py", "check"], cwd=REPO_ROOT, env=env, capture_output=True, text=True)


def test_a_secret_key_is_required_outside_debug():
    result = _run_check({"DJANGO_DEBUG": "0"})
    assert result.returncode != 0 and "SECRET_KEY must be set" in result.stderr


def test_the_app_starts_with_a_secret_key_and_no_other_configuration():
    result = _run_check({"SECRET_KEY": "x" * 50})
    assert result.returncode == 0, result.stderr
