"""The OpenAPI file the front end is typed from (frontend/openapi.yaml, turned into src/api/schema.d.ts by
`npm run gen:api`) is the schema the server generates: a changed API without a regenerated file fails here.
Regenerate with `python manage.py spectacular --file frontend/openapi.yaml` and `npm run gen:api`."""

import re

import pytest
from django.core.management import call_command
from django.db import connection

from tests.conftest import REPO_ROOT

COMMITTED = REPO_ROOT / "frontend" / "openapi.yaml"


def test_the_front_ends_openapi_file_is_the_generated_schema(tmp_path):
    if connection.vendor != "postgresql":
        # Integer bounds of model fields (popularity_rank) follow the database backend; the committed
        # file is generated on PostgreSQL, as production runs. TODO: bound those fields explicitly.
        pytest.skip("frontend/openapi.yaml is generated on PostgreSQL; integer bounds differ on " + connection.vendor)
    generated = tmp_path / "openapi.yaml"
    call_command("spectacular", "--file", str(generated))
    assert generated.read_text() == COMMITTED.read_text(), (
        "frontend/openapi.yaml is stale: regenerate it with `python manage.py spectacular --file "
        "frontend/openapi.yaml` and `npm run gen:api` in frontend/"
    )


def test_enum_names_are_stable_not_hashed():
    # drf-spectacular names a clashing enum with 3 hex digits of a hash, capitalised: KindF8dEnum.
    hashed = re.findall(r"^    (\w+[0-9A-F][0-9a-f]{2}Enum):", COMMITTED.read_text(), re.M)
    assert hashed == [], f"give these enums a name in SPECTACULAR_SETTINGS['ENUM_NAME_OVERRIDES']: {hashed}"


JOB_STARTING_OPERATIONS = [  # every operation whose view calls job_require_sent
    ("post", "/api/v1/photos/upload/"),
    ("post", "/api/v1/videos/upload/"),
    ("post", "/api/v1/imports/faces/"),
    ("post", "/api/v1/jobs/reassign-splits/"),
    ("post", "/api/v1/runs/"),
    ("post", "/api/v1/runs/{id}/restart/"),
    ("post", "/api/v1/exports/versions/"),
    ("post", "/api/v1/exports/versions/{id}/build/"),
    ("post", "/api/v1/tags/start/"),
    ("post", "/api/v1/videos/{id}/tags/"),
    ("post", "/api/v1/identities/suggestions/compute/"),
    ("post", "/api/v1/index/rebuild/"),
]


def test_operations_that_start_a_job_document_the_retryable_503_of_an_unreachable_task_queue():
    import yaml

    schema = yaml.safe_load(COMMITTED.read_text())
    for method, path in JOB_STARTING_OPERATIONS:
        answer = schema["paths"][path][method]["responses"]["503"]
        reference = answer["content"]["application/json"]["schema"]["$ref"]
        assert reference.endswith("QueueUnavailable"), (method, path, reference)
        assert "the work is saved" in answer["description"] and "sent again automatically" in answer["description"]
    queue = schema["components"]["schemas"]["QueueUnavailable"]
    assert set(queue["required"]) == {"detail", "code", "retryable"} and "jobs" in queue["properties"]
    upload = schema["components"]["schemas"]["UploadQueueUnavailable"]
    assert {"jobs", "files", "job"} <= set(upload["properties"])
    # Operations that start no job answer 503 only for the database.
    assert schema["paths"]["/api/v1/status/"]["get"]["responses"]["503"] == {"$ref": "#/components/responses/Error503"}
