"""Project-level promises: the production stack parses, and ml/ stays a library without Django."""
import ast
import os
import shutil
import subprocess

import pytest
import yaml

from tests.conftest import REPO_ROOT


def test_ml_never_imports_django():
    offenders = []
    for path in (REPO_ROOT / "ml").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(name == "django" or name.startswith(("django.", "webapp")) for name in names):
                offenders.append(str(path.relative_to(REPO_ROOT)))
    assert offenders == []


COMPOSE_SECRETS = {"SECRET_KEY": "compose-check", "POSTGRES_PASSWORD": "pg-check", "REDIS_PASSWORD": "redis-check",
                   "S3_SECRET_ACCESS_KEY": "minio-check"}
needs_compose = pytest.mark.skipif(shutil.which("docker-compose") is None,
                                   reason="docker-compose is not installed (make tools installs it)")


def _compose_config(env: dict) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in COMPOSE_SECRETS}
    return subprocess.run(["docker-compose", "-f", "docker-compose.yml", "config"], cwd=REPO_ROOT,
                          env={**clean, **env}, capture_output=True, text=True)


@needs_compose
def test_docker_compose_accepts_the_production_stack():
    result = _compose_config(COMPOSE_SECRETS)
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    assert {"web", "worker", "gpu-worker", "postgres", "redis"} <= set(config["services"])
    assert config["services"]["gpu-worker"]["deploy"]["resources"]["reservations"]["devices"][0]["driver"] == "nvidia"
    assert "-Q gpu" in " ".join(config["services"]["gpu-worker"]["command"]) or "gpu" in str(config["services"]["gpu-worker"]["command"])


@needs_compose
@pytest.mark.parametrize("secret", [name for name in COMPOSE_SECRETS if name != "SECRET_KEY"])
def test_docker_compose_has_no_default_password(secret):
    result = _compose_config({k: v for k, v in COMPOSE_SECRETS.items() if k != secret})
    assert result.returncode != 0 and f"set {secret}" in result.stderr


@needs_compose
def test_docker_compose_passes_the_passwords_it_is_given():
    rendered = _compose_config(COMPOSE_SECRETS).stdout
    for value in COMPOSE_SECRETS.values():
        assert value in rendered
    assert "facecurator-secret" not in rendered
