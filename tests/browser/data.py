"""Rows for the browser tests (and a local demo of the UI): users, identities and faces made from
real glint24 crops, with a few wrong labels mixed in, as an annotator meets them."""

from __future__ import annotations

from pathlib import Path

from django.core.files.base import ContentFile

PASSWORD = "correct-horse-battery"
REVIEWED = "Barack Obama"
OTHERS = ("Tom Hanks", "Miley Cyrus", "Lindsay Lohan")


def _crops(shared_data: Path, name: str, start: int, count: int) -> list[Path]:
    files = sorted((shared_data / "glint24" / name).glob("*.jpg"), key=lambda p: int(p.stem) if p.stem.isdigit() else 0)
    return files[start : start + count]


def _face(identity, path: Path, *, status: str, split_seed: str):
    from ml.splits import split_for_group
    from webapp.faces.models import Face

    group_key = f"crop:{path.parent.name}/{path.name}"
    face = Face(
        source=Face.Source.CROP,
        identity=identity,
        status=status,
        source_path=f"{path.parent.name}/{path.name}",
        group_key=group_key,
        split=split_for_group(group_key),
        quality=0.9,
    )
    face.crop.save(f"{split_seed}-{path.stem}.jpg", ContentFile(path.read_bytes()), save=False)
    face.save()
    return face


def user_with_role(username: str, role: str):
    from django.contrib.auth import get_user_model

    from webapp.core import accounts

    existing = get_user_model().objects.filter(username=username).first()
    if existing:
        return existing
    return accounts.user_create(username=username, password=PASSWORD, role=role)


def seed_review_data(shared_data: Path, *, unverified: int = 30, verified: int = 8, intruders: int = 4) -> dict:
    """Identities with verified reference faces and unverified faces to review; the reviewed
    identity's unverified faces include ``intruders`` crops of other people (label errors)."""
    from webapp.identities.models import Identity

    people = {
        name: Identity.objects.get_or_create(name=name, defaults={"role": "vip", "popularity_rank": rank + 1})[0]
        for rank, name in enumerate((REVIEWED, *OTHERS))
    }
    faces: dict[str, list] = {"verified": [], "unverified": [], "intruders": []}
    for name, identity in people.items():
        for path in _crops(shared_data, name, 0, verified):
            faces["verified"].append(_face(identity, path, status="verified", split_seed=name))
        count = unverified if name == REVIEWED else 6
        for path in _crops(shared_data, name, verified, count):
            faces["unverified"].append(_face(identity, path, status="unverified", split_seed=name))
    # Label errors: other people's faces claimed to be the reviewed identity.
    for index in range(intruders):
        other = OTHERS[index % len(OTHERS)]
        for path in _crops(shared_data, other, 14 + index, 1):
            faces["intruders"].append(_face(people[REVIEWED], path, status="unverified", split_seed=f"x{index}"))
    return {"identities": people, "faces": faces}


CURATION_PEOPLE = ("Barack Obama", "Tom Hanks", "Miley Cyrus", "Hugh Jackman", "Hugh Laurie", "Keanu Reeves")


def seed_curation_data(shared_data: Path, *, per_identity: int = 30, unknown: int = 30, seed: int = 0) -> dict:
    """VIPs with real glint24 crops and clustered synthetic embeddings, made hard enough that a
    quick head run lands at different precision/recall per VIP: two VIPs share most of a
    direction (they get confused), one has a wide spread, and unknown people sit near a third
    (its precision drops). A head trains on these in seconds."""
    import numpy as np

    from tests.webapp.factories import FaceFactory
    from webapp.identities.models import Identity

    dim = 32
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((len(CURATION_PEOPLE) + 1, dim))
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    centers[1] = centers[0] + 0.6 * centers[1]  # Tom Hanks looks like Barack Obama here
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    spreads = [0.9, 0.9, 1.3, 0.8, 0.6, 0.5]

    def around(center, spread, n):
        vectors = center[None, :] + spread * rng.standard_normal((n, dim)) / np.sqrt(dim)
        return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)

    vips, faces = [], []
    for index, name in enumerate(CURATION_PEOPLE):
        identity, _ = Identity.objects.update_or_create(
            name=name, defaults={"role": Identity.Role.VIP, "chunk": 1, "popularity_rank": index + 1}
        )
        vips.append(identity)
        splits = ["val"] * 6 + ["test"] * 6 + ["train"] * (per_identity - 12)
        vectors = around(centers[index], spreads[index], per_identity)
        for n, (path, vector, split) in enumerate(
            zip(_crops(shared_data, name, 0, per_identity), vectors, splits, strict=True)
        ):
            # A third of each VIP's faces verified (references); the rest wait in the review queues.
            faces.append(
                _crop_face(FaceFactory, identity, path, vector, split, "verified" if n % 3 == 0 else "unverified")
            )
    strangers = [p for p in sorted((shared_data / "glint24" / "Kate Winslet").glob("*.jpg"))[:unknown]]
    lookalike = centers[3] * 0.7 + centers[-1] * 0.3
    for i, (path, vector) in enumerate(
        zip(strangers, around(lookalike / np.linalg.norm(lookalike), 0.7, unknown), strict=True)
    ):
        faces.append(_crop_face(FaceFactory, None, path, vector, ["train", "val", "test"][i % 3], "unverified"))
    return {"vips": vips, "faces": faces}


def _crop_face(factory, identity, path: Path, vector, split: str, status: str):
    return factory(
        identity=identity,
        vector=vector,
        split=split,
        status=status,
        crop=ContentFile(path.read_bytes(), name=path.name),
        source_path=f"{path.parent.name}/{path.name}",
    )
