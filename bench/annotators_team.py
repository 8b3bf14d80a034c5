"""The annotators benchmark's team and world (``bench/annotators.py``): who the simulated annotators are
and how each answers, the scratch database's VIPs, admin and gold faces with the truth of every face
made, a synthetic noisy set scored by the product's ``p_wrong``, and one page served and decided
through the API."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # Django is set up at run time, after the command line is read
    from django.contrib.auth.models import User
    from rest_framework.test import APIClient

    from webapp.faces.models import Face

PROFILES: dict[str, float | None] = {"careful": 0.02, "careless": 0.25, "spammer": None}  # error rates
NOISE = 0.10
PAGE = 20


def answer(rng: random.Random, profile: str, shown: int | None, truth: int, vips: list[int]) -> dict:
    right: dict[str, Any] = {"action": "confirm"} if shown == truth else {"action": "relabel", "identity": truth}
    error_rate = PROFILES[profile]
    if error_rate is None:  # the spammer
        return {"action": "confirm"}
    if rng.random() >= error_rate:
        return right
    if profile == "careless" and right["action"] != "confirm":
        return {"action": "confirm"}
    return {"action": "relabel", "identity": rng.choice([v for v in vips if v not in (truth, shown)])}


def right_answer(shown: int | None, truth: int) -> dict:
    return {"action": "confirm"} if shown == truth else {"action": "relabel", "identity": truth}


def noisy_set(n: int, n_vips: int, spread: float, seed: int) -> dict:
    """Truth and shown labels (class indices, NOISE of them wrong) and the scorer's p_wrong on synthetic embeddings."""
    from ml.label_quality import score_label_errors

    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_vips, 64))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    truth = np.arange(n) % n_vips
    x = centres[truth] + spread * rng.standard_normal((n, 64)) / np.sqrt(64)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    shown = truth.copy()
    wrong = rng.random(n) < NOISE
    shown[wrong] = (truth[wrong] + rng.integers(1, n_vips, wrong.sum())) % n_vips
    scores = score_label_errors(x.astype(np.float32), shown, k=min(20, n - 1))
    p_wrong = scores.p_wrong
    high = p_wrong >= 0.9
    hinted = scores.suggested_probability >= 0.9  # the hint a relabel needs for "the model agrees" (0.9)
    return {
        "truth": truth.tolist(),
        "shown": shown.tolist(),
        "p_wrong": p_wrong.tolist(),
        "suggested": scores.suggested_label.tolist(),  # the scorer's likely true class (-1: not a VIP)
        "suggested_probability": scores.suggested_probability.tolist(),
        "order": rng.random(n).tolist(),
        "wrong": int(wrong.sum()),
        "recall_at_0_9": float((high & wrong).sum() / max(1, wrong.sum())),
        "right_at_0_9": float((high & ~wrong).sum() / max(1, (~wrong).sum())),
        "hint_at_0_9": int(hinted.sum()),
        "hint_at_0_9_true": int((hinted & (scores.suggested_label == truth)).sum()),
    }


class World:
    """The scratch database's VIPs, admin, gold faces and the ground truth of every face made."""

    def __init__(self) -> None:
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Group
        from rest_framework.test import APIClient

        from webapp.faces.models import Face, LabelEvent
        from webapp.identities.models import Identity
        from webapp.quality.gold import gold_faces_refresh

        self.vips = [Identity.objects.create(name=f"VIP {n}", role="vip", popularity_rank=n + 1).pk for n in range(10)]
        self.users = get_user_model()
        self.admin = self.users.objects.create_user("admin", password="x")
        self.admin.groups.add(Group.objects.get_or_create(name="admin")[0])
        self.admin_client = APIClient()
        self.admin_client.force_authenticate(self.admin)
        self.truth: dict[int, int] = {}
        for n in range(200):  # gold: verified by an admin
            t = self.vips[n % len(self.vips)]
            f = self.face(t, "verified")
            LabelEvent.objects.create(
                face=f,
                user=self.admin,
                from_identity_id=t,
                to_identity_id=t,
                from_status="unverified",
                to_status="verified",
                reason="bench: admin verified",
            )
            Face.objects.filter(pk=f.pk).update(version=1)
        self.gold_faces = gold_faces_refresh()

    def face(self, identity: int, status: str = "unverified", truth: int | None = None) -> Face:
        from webapp.faces.models import Face

        f = Face.objects.create(
            source="crop",
            crop="faces/bench.jpg",
            identity_id=identity,
            status=status,
            split="train",
            group_key=f"bench:{len(self.truth)}",
        )
        self.truth[f.pk] = identity if truth is None else truth
        return f

    def annotator(self, name: str) -> tuple[User, APIClient]:
        from django.contrib.auth.models import Group
        from rest_framework.test import APIClient

        user = self.users.objects.create_user(name, password="x")
        user.groups.add(Group.objects.get_or_create(name="annotator")[0])
        client = APIClient()
        client.force_authenticate(user)
        return user, client


def serve(client: APIClient, queue_id: int) -> list[dict]:
    response = client.post(f"/api/v1/review/queues/{queue_id}/next/", {"limit": PAGE}, format="json")
    assert response.status_code == 200, response.data
    return response.data


def decide(client: APIClient, decisions: list[dict]) -> None:
    response = client.post("/api/v1/review/decisions/", {"decisions": decisions}, format="json")
    assert response.status_code == 201, response.data
