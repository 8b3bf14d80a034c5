"""Shared rows for the training, review and chunk tests: small synthetic face sets and quick runs.

Embeddings are clustered unit vectors (one cluster per person), so a head trains in a second and
the tests can say exactly which faces are wrong. Import the helpers by name; the ``face_set``
fixture lives in ``tests/webapp/conftest.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from webapp.faces.models import Face
from webapp.identities.models import Identity

from .factories import FaceFactory, IdentityFactory

DIM = 32
QUICK = {"epochs": 20, "noise_folds": 2, "batch_size": 32, "lr": 0.2, "seed": 0}


def person_vectors(center: np.ndarray, n: int, rng: np.random.Generator, spread: float = 0.25) -> np.ndarray:
    """``n`` unit vectors around ``center`` (one person's faces)."""
    vectors = center[None, :] + spread * rng.standard_normal((n, len(center))) / np.sqrt(len(center))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def random_centers(n: int, rng: np.random.Generator) -> np.ndarray:
    centers = rng.standard_normal((n, DIM))
    return centers / np.linalg.norm(centers, axis=1, keepdims=True)


@dataclass
class FaceSet:
    vips: list[Identity]
    candidates: list[Identity]
    faces: dict[int, list[Face]]  # identity id -> faces
    unknown: list[Face]
    centers: dict[int, np.ndarray] = field(default_factory=dict)

    def faces_of(self, identity: Identity, split: str | None = None) -> list[Face]:
        return [f for f in self.faces[identity.pk] if split is None or f.split == split]


def make_face_set(
    *,
    vips: int = 3,
    candidates: int = 2,
    per_identity: int = 16,
    unknown: int = 8,
    seed: int = 0,
    chunk: int | None = 1,
) -> FaceSet:
    """VIPs (chunk 1) and candidates with clustered faces, plus unknown people. Every split holds
    faces of every VIP: the first faces of each person are pinned to val and test."""
    rng = np.random.default_rng(seed)
    centers = random_centers(vips + candidates + unknown, rng)
    people = [
        IdentityFactory(name=f"VIP {i}", role=Identity.Role.VIP, chunk=chunk, popularity_rank=i + 1)
        for i in range(vips)
    ]
    others = [IdentityFactory(name=f"Candidate {i}", popularity_rank=vips + i + 1) for i in range(candidates)]
    faces: dict[int, list[Face]] = {}
    for index, identity in enumerate(people + others):
        vectors = person_vectors(centers[index], per_identity, rng)
        splits = ["val", "val", "val", "test", "test", "test"] + ["train"] * (per_identity - 6)
        faces[identity.pk] = [
            FaceFactory(identity=identity, vector=v, split=s) for v, s in zip(vectors, splits, strict=True)
        ]
    strangers = [
        FaceFactory(
            identity=None,
            vector=person_vectors(centers[vips + candidates + i], 1, rng)[0],
            split=["train", "val", "test"][i % 3],
        )
        for i in range(unknown)
    ]
    return FaceSet(
        vips=people,
        candidates=others,
        faces=faces,
        unknown=strangers,
        centers={identity.pk: centers[i] for i, identity in enumerate(people + others)},
    )


def run_job_here(run):
    """Execute a run's job in this process, exactly as the gpu worker would; returns the fresh run."""
    from webapp.training.models import TrainingRun
    from webapp.training.tasks import training_run

    training_run(run.job_id)
    return TrainingRun.objects.select_related("job").get(pk=run.pk)


def train_now(*, user=None, accept: bool = False, **options):
    """Start a quick head run, execute it here, optionally accept it."""
    from webapp.training import services

    run = services.training_run_start(user=user, options={**QUICK, **options}, dispatch=False)
    run = run_job_here(run)
    assert run.job.state == "succeeded", run.job.error
    if accept:
        services.training_run_accept(run=run, user=user)
    return run
