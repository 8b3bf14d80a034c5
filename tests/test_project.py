"""Project-level promises: the production stack parses, and ml/ stays a library without Django."""

import ast
import os
import shutil
import subprocess

import pytest
import yaml

from tests.conftest import REPO_ROOT


def _imported_modules(path):
    """Every module ``path`` imports, at the top or inside a function, class or ``if TYPE_CHECKING``
    block: each Import and ImportFrom node, relative imports resolved against the file's package."""
    package = path.relative_to(REPO_ROOT).with_suffix("").parts[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from ((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = list(package[: len(package) - node.level + 1]) if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            if node.module:
                yield module, node.lineno
            else:  # from . import selectors, services
                yield from ((f"{module}.{alias.name}", node.lineno) for alias in node.names)


def test_ml_never_imports_django():
    offenders = []
    for path in (REPO_ROOT / "ml").rglob("*.py"):
        for name, _ in _imported_modules(path):
            if name == "django" or name.startswith(("django.", "webapp")):
                offenders.append(str(path.relative_to(REPO_ROOT)))
    assert offenders == []


def test_ml_and_webapp_never_import_bench():
    offenders = [
        f"{path.relative_to(REPO_ROOT)}:{line}"
        for top in ("ml", "webapp")
        for path in (REPO_ROOT / top).rglob("*.py")
        for name, line in _imported_modules(path)
        if name == "bench" or name.startswith("bench.")
    ]
    assert offenders == []


#: The apps of webapp/, lowest first: an app imports only apps before it, never one after it nor one
#: beside it (no two apps share a layer, so no two can import each other). urls.py, settings.py and
#: celery.py wire every app together and are not checked.
APP_LAYERS = (
    "core",
    "identities",
    "faces",
    "media",
    "review",
    "quality",
    "training",
    "tagging",
    "exports",
    "curation",
)
#: Imports that still run against the order, each with why; remove a line when its import goes.
#: (Quality control takes part in review's leases and decisions through webapp.review.checks, which
#: the setting FACECURATOR_REVIEW_CHECKS points at webapp.quality: review imports nothing above it.)
KNOWN_UPWARD_IMPORTS = {
    # the FAR operating point's default share of unknown faces is what tagged videos show
    ("webapp/training/selectors/operating_point.py", "webapp.tagging.models"),
}


def _app_rank() -> dict[str, int]:
    return {app: rank for rank, app in enumerate(APP_LAYERS)}


def test_every_webapp_app_has_its_place_in_the_order():
    apps = {path.parent.name for path in (REPO_ROOT / "webapp").glob("*/apps.py")}
    assert apps == set(_app_rank())


def test_webapp_apps_import_only_the_apps_below_them():
    """Imports inside functions count as much as those at the top: an import that has to hide in a
    function to avoid a circular import is the circle this test keeps out."""
    rank = _app_rank()
    upward, stale = [], set(KNOWN_UPWARD_IMPORTS)
    for app in rank:
        for path in sorted((REPO_ROOT / "webapp" / app).rglob("*.py")):
            where = str(path.relative_to(REPO_ROOT))
            for name, line in _imported_modules(path):
                parts = name.split(".")
                if parts[0] != "webapp" or len(parts) < 2 or parts[1] not in rank or rank[parts[1]] <= rank[app]:
                    continue
                module = ".".join(parts[:3])
                if (where, module) in KNOWN_UPWARD_IMPORTS:
                    stale.discard((where, module))
                else:
                    upward.append(f"{where}:{line} imports {name} ({app} is below {parts[1]})")
    assert upward == []
    assert stale == set(), "these upward imports are gone: remove them from KNOWN_UPWARD_IMPORTS"


COMPOSE_SECRETS = {
    "SECRET_KEY": "compose-check",
    "POSTGRES_PASSWORD": "pg-check",
    "REDIS_PASSWORD": "redis-check",
    "S3_SECRET_ACCESS_KEY": "minio-check",
}
needs_compose = pytest.mark.skipif(
    shutil.which("docker-compose") is None, reason="docker-compose is not installed (make tools installs it)"
)


def _compose_config(env: dict) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in COMPOSE_SECRETS}
    return subprocess.run(
        ["docker-compose", "-f", "docker-compose.yml", "config"],
        cwd=REPO_ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
    )


@needs_compose
def test_docker_compose_accepts_the_production_stack():
    result = _compose_config(COMPOSE_SECRETS)
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    assert {"web", "worker", "gpu-worker", "postgres", "redis"} <= set(config["services"])
    assert config["services"]["gpu-worker"]["deploy"]["resources"]["reservations"]["devices"][0]["driver"] == "nvidia"
    assert "-Q gpu" in " ".join(config["services"]["gpu-worker"]["command"]) or "gpu" in str(
        config["services"]["gpu-worker"]["command"]
    )


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
