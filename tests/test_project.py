"""Project-level promises: the production stack parses, and ml/ stays a library without Django."""
import ast
import os
import shutil
import subprocess
from pathlib import Path

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


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose is not installed (make tools installs it)")
def test_docker_compose_accepts_the_production_stack():
    result = subprocess.run(
        ["docker-compose", "-f", "docker-compose.yml", "config"], cwd=REPO_ROOT,
        env={**os.environ, "SECRET_KEY": "compose-check"}, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    assert {"web", "worker", "gpu-worker", "postgres", "redis"} <= set(config["services"])
    assert config["services"]["gpu-worker"]["deploy"]["resources"]["reservations"]["devices"][0]["driver"] == "nvidia"
    assert "-Q gpu" in " ".join(config["services"]["gpu-worker"]["command"]) or "gpu" in str(config["services"]["gpu-worker"]["command"])
