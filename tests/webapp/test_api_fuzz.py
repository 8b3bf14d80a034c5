"""The API fuzzed from its own OpenAPI schema (Schemathesis), in-process through the WSGI app.

Every operation is called with generated parameters and bodies as an anonymous user, an annotator and
an admin, against a small world of real rows and files (identities, faces with JPEG crops, a photo, a
video with frames, a run with samples, a review queue, a tag, an identity operation and suggestion,
a built export), so that most calls reach real objects rather than 404s. No answer may be a 5xx, and
every answer must be one the schema documents: status code, content type and body.

Each call runs in a savepoint that is rolled back, so one example's writes never leak into the next.
Bounded: ``MAX_EXAMPLES`` per operation and a Hypothesis deadline per example.
"""

from __future__ import annotations

import traceback
from functools import lru_cache

import pytest

schemathesis = pytest.importorskip("schemathesis")

from django.core.signals import request_finished, request_started  # noqa: E402
from django.db import close_old_connections, transaction  # noqa: E402
from hypothesis import HealthCheck, Phase, given  # noqa: E402
from hypothesis import settings as hypothesis_settings  # noqa: E402

from .factories import FaceFactory, FrameFactory, IdentityFactory, PhotoFactory, UserFactory  # noqa: E402

pytestmark = [pytest.mark.django_db, pytest.mark.slow, pytest.mark.fuzz]

MAX_EXAMPLES = 5  # per operation; each example is sent as three users
DEADLINE_MS = 5000  # per example (three requests), generous for a loaded 2-core machine
BASE_URL = "http://testserver"
ROLES = ("anonymous", "annotator", "admin")
CHECKS = ["not_a_server_error", "status_code_conformance", "content_type_conformance", "response_schema_conformance"]


@lru_cache(maxsize=1)
def _schema_document() -> dict:
    """The schema the API serves (drf-spectacular), generated once per test session."""
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


@pytest.fixture
def api_schema():
    from schemathesis.config import SchemathesisConfig

    config = SchemathesisConfig.from_dict(
        {
            "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
            "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True},
        }
    )
    return schemathesis.openapi.from_dict(_schema_document(), config=config)


@pytest.fixture
def wsgi_app():
    """Django's WSGI app, called in this thread (so it sees the test's transaction). Like Django's test
    client, the per-request connection clean-up is off: it would close the test's connection."""
    from django.core.wsgi import get_wsgi_application

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def world():
    """Rows and files for the operations to reach; returns the ids path parameters are mapped to."""
    from rest_framework.authtoken.models import Token

    import ml.train  # noqa: F401 - imports torch now, so that the first POST /runs/ is not timed on that
    from webapp.core.models import Job
    from webapp.curation import services as identity_services
    from webapp.exports import services as export_services
    from webapp.exports import tasks as export_tasks
    from webapp.faces.models import Face
    from webapp.faces.services import face_relabel
    from webapp.identities.models import IdentitySuggestion
    from webapp.review import services as review_services
    from webapp.review.models import Item, Queue
    from webapp.tagging.models import TagEvidence, VideoTag
    from webapp.training.models import Chunk, RunSample, TrainingRun

    admin = UserFactory(username="fuzz-admin", role="admin")
    annotator = UserFactory(username="fuzz-annotator", role="annotator")
    tokens = {"admin": Token.objects.create(user=admin).key, "annotator": Token.objects.create(user=annotator).key}

    ada = IdentityFactory(name="Ada", role="vip", chunk=1)
    bob = IdentityFactory(name="Bob", role="vip", chunk=1)
    cy = IdentityFactory(name="Cy", role="candidate")
    dee = IdentityFactory(name="Dee", role="candidate")
    faces = [FaceFactory(identity=person, status=Face.Status.VERIFIED) for person in (ada, ada, ada, bob, bob, cy)]
    FaceFactory(identity=dee)
    photo = PhotoFactory()
    FaceFactory(identity=None, source=Face.Source.PHOTO, photo=photo)
    frame = FrameFactory()
    video = frame.video
    frame_face = FaceFactory(identity=ada, source=Face.Source.FRAME, video=video, frame=frame)
    event = face_relabel(face=faces[5], user=annotator, status=Face.Status.UNVERIFIED, reason="fuzz world")
    operation = identity_services.identity_merge(source_id=dee.pk, into_id=cy.pk, user=admin, reason="fuzz world")
    suggestion = IdentitySuggestion.objects.create(
        kind=IdentitySuggestion.Kind.MERGE, identity=ada, other=bob, score=0.9, evidence={"cosine": 0.8}
    )

    job = Job.objects.create(kind="training.run", state=Job.State.SUCCEEDED, progress=1.0)
    run = TrainingRun.objects.create(job=job, vips=[{"id": ada.pk, "name": ada.name}, {"id": bob.pk, "name": bob.name}])
    for face, label in ((faces[0], 0), (faces[3], 1), (faces[5], -1)):
        RunSample.objects.create(
            run=run,
            face=face,
            identity_id=face.identity_id,
            label=label,
            split=face.split,
            version=face.version,
            noise_score=0.5,
        )
    chunk = Chunk.objects.create(number=1, identities=[{"id": ada.pk, "name": ada.name, "popularity_rank": 1}])

    queue = Queue.objects.create(kind=Queue.Kind.LABEL_ERRORS, title="fuzz errors", run=run)
    items = [
        Item.objects.create(queue=queue, face=face, identity=face.identity, score=0.9 - n / 10)
        for n, face in enumerate(faces[:4])
    ]
    review_services.queue_next_items(queue=queue, user=annotator, limit=1)
    decided = review_services.decisions_apply(
        user=annotator,
        requests=[
            review_services.DecisionRequest(item_id=items[0].pk, action="confirm", identity_id=None, version=None)
        ],
    )

    tag = VideoTag.objects.create(
        video=video, identity=ada, confidence=0.8, threshold=0.5, min_frames=1, frame_count=1, run=run
    )
    TagEvidence.objects.create(tag=tag, frame=frame, face=frame_face, confidence=0.8, rank=0)

    version = export_services.version_create(filters={"distractors": True, "status": "non_excluded"}, user=admin)
    export_tasks.freeze_version(version.job_id)
    version.refresh_from_db()
    build, _ = export_services.build_request(version=version, format="csv", user=admin)
    export_tasks.build_export(build.job_id)
    build.refresh_from_db()
    export_file = build.files.first()
    assert build.state == "ready" and export_file is not None, build.error

    ids = {
        "identities": ada.pk,
        "faces": faces[0].pk,
        "label-events": event.pk,
        "photos": photo.pk,
        "videos": video.pk,
        "frames": frame.pk,
        "jobs": job.pk,
        "users": annotator.pk,
        "annotators": annotator.pk,
        "runs": run.pk,
        "chunks": chunk.pk,
        "review/queues": queue.pk,
        "tags": tag.pk,
        "exports/versions": version.pk,
        "exports/files": export_file.pk,
        "identities/operations": operation.pk,
        "identities/suggestions": suggestion.pk,
        "review/operations": str(decided.operation),
    }
    return {"ids": ids, "tokens": tokens}


def _resource(path: str) -> str:
    """'/api/v1/exports/versions/{id}/build/' -> 'exports/versions'."""
    parts = path.removeprefix("/api/v1/").split("/")
    return "/".join(parts[: next(i for i, part in enumerate(parts) if part.startswith("{"))])


def _cases(operation, ids: dict):
    """Generated cases: valid and invalid data, and (most of the time) the world's object in the path."""
    from hypothesis import strategies as st
    from schemathesis.generation import GenerationMode

    strategies = [operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)]
    names = [parameter.name for parameter in operation.path_parameters]
    real = ids.get(_resource(operation.path)) if names else None  # a resource the world lacks: generated ids only
    if real is not None:
        strategies += [
            operation.as_strategy(GenerationMode.POSITIVE, path_parameters={name: real for name in names})
        ] * 2
    return st.one_of(strategies)


def _send_as_every_role(case, world: dict, wsgi_app) -> bool:
    """True when some user got a 2xx answer (the operation reached a real object or did its work)."""
    succeeded = False
    for role in ROLES:
        headers = {} if role == "anonymous" else {"Authorization": f"Token {world['tokens'][role]}"}
        with transaction.atomic():
            try:
                response = case.call_and_validate(base_url=BASE_URL, app=wsgi_app, headers=headers)
                succeeded = succeeded or 200 <= response.status_code < 300
            except Exception as exc:
                exc.add_note(f"As the {role} user.")
                raise
            finally:
                transaction.set_rollback(True)
    return succeeded


def _fuzz(operation, world: dict, wsgi_app) -> bool:
    """Fuzz one operation (raises on the first failure, shrunk); True when some example got a 2xx."""
    reached = []

    @hypothesis_settings(
        max_examples=MAX_EXAMPLES,
        deadline=DEADLINE_MS,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=_cases(operation, world["ids"]))
    def fuzz(case):
        if _send_as_every_role(case, world, wsgi_app):
            reached.append(True)

    fuzz()
    return bool(reached)


def test_no_operation_answers_a_5xx_or_off_schema(api_schema, world, wsgi_app):
    failures, operations, reached = [], 0, 0
    for result in api_schema.get_all_operations():
        operation = result.ok()
        operations += 1
        try:
            reached += _fuzz(operation, world, wsgi_app)
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - all operations run; failures reported together
            report = "".join(traceback.format_exception(exc, limit=0))
            failures.append(f"{operation.label}: {report[-4000:]}")
    assert operations > 80, f"only {operations} operations in the schema"
    assert not failures, f"{len(failures)} of {operations} operations failed:\n\n" + "\n\n".join(failures)
    assert reached >= 0.75 * operations, f"only {reached} of {operations} operations ever answered 2xx"
