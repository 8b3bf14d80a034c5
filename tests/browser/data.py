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
    return files[start:start + count]


def _face(identity, path: Path, *, status: str, split_seed: str):
    from ml.splits import split_for_group
    from webapp.faces.models import Face

    group_key = f"crop:{path.parent.name}/{path.name}"
    face = Face(source=Face.Source.CROP, identity=identity, status=status, source_path=f"{path.parent.name}/{path.name}",
                group_key=group_key, split=split_for_group(group_key), quality=0.9)
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

    people = {name: Identity.objects.get_or_create(name=name, defaults={"role": "vip", "popularity_rank": rank + 1})[0]
              for rank, name in enumerate((REVIEWED, *OTHERS))}
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
