"""Merging rows that break a uniqueness rule, before a constraint starts enforcing the rule.

The data migrations that add the constraints ``unique_imported_crop`` (faces) and
``one_open_item_per_face_and_queue`` (review) call these first: a database written before them
may hold duplicates (two imports of one crop at once, an item built twice). Each function reports
what it found (counts and ids, through ``out``), keeps the oldest row of each group, points every
reference at it, and deletes the others. They take an ``apps`` registry, so the migrations run them
on the historical models and tests on the current ones.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import IntegrityError, transaction
from django.db.models import Count, Q


def _repoint(*, model, keep_id: int, drop_ids: list[int]) -> dict[str, int]:
    """Point every row that references ``drop_ids`` (rows of ``model``) at ``keep_id``.

    A referencing row that cannot move because the kept row already has its equivalent (a unique
    constraint such as one sample per run and face) is deleted: the kept row's one stands for both.
    Returns {"<app.Model.field>": rows moved} for the log.
    """
    moved: dict[str, int] = {}
    for relation in model._meta.related_objects:
        if not (relation.one_to_many or relation.one_to_one):
            continue
        related, column = relation.related_model, relation.field.attname
        label = f"{related._meta.label}.{relation.field.name}"
        for pk in list(related._base_manager.filter(**{f"{column}__in": drop_ids}).values_list("pk", flat=True)):
            try:
                with transaction.atomic():
                    related._base_manager.filter(pk=pk).update(**{column: keep_id})
                moved[label] = moved.get(label, 0) + 1
            except IntegrityError:
                related._base_manager.filter(pk=pk).delete()
                moved[f"{label} (dropped, the kept row has one)"] = (
                    moved.get(f"{label} (dropped, the kept row has one)", 0) + 1
                )
    return moved


def crop_duplicates_merge(*, apps, out: Callable[[str], None] = print) -> int:
    """Merge imported crops stored twice (same ``content_sha256``): keep the oldest face.

    Label events, review items and decisions, predictions, tag evidence, run samples and near
    duplicates of the others move to it; so do the dataset versions' frozen rows (``face_id``, a
    plain number) unless the version already has the kept face. The kept face's label stays as it
    is (when the copies were labelled differently, the log says so). Crop files are left on disk:
    frozen versions may still name them. Returns how many faces were deleted.
    """
    Face = apps.get_model("faces", "Face")
    VersionFace = apps.get_model("exports", "VersionFace")
    groups = list(
        Face.objects.filter(source="crop")
        .exclude(content_sha256="")
        .values("content_sha256")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .order_by("content_sha256")
        .values_list("content_sha256", flat=True)
    )
    out(f"faces: {len(groups)} imported crop(s) stored more than once")
    deleted = 0
    for sha in groups:
        rows = list(
            Face.objects.filter(source="crop", content_sha256=sha)
            .order_by("created_at", "id")
            .values_list("id", "identity_id", "status")
        )
        (keep, *_), drop = rows[0], [row[0] for row in rows[1:]]
        labels = {(identity, status) for _, identity, status in rows}
        moved = _repoint(model=Face, keep_id=keep, drop_ids=drop)
        Face.objects.filter(pk=keep, duplicate_of_id=keep).update(duplicate_of=None)
        for version_id in list(VersionFace.objects.filter(face_id__in=drop).values_list("version_id", flat=True)):
            if not VersionFace.objects.filter(version_id=version_id, face_id=keep).exists():
                first = VersionFace.objects.filter(version_id=version_id, face_id__in=drop).order_by("face_id").first()
                VersionFace.objects.filter(pk=first.pk).update(face_id=keep)
                moved["exports.VersionFace.face_id"] = moved.get("exports.VersionFace.face_id", 0) + 1
        Face.objects.filter(pk__in=drop).delete()
        deleted += len(drop)
        out(
            f"  crop {sha[:16]}: kept face {keep}, deleted face(s) {', '.join(map(str, drop))}; moved "
            f"{', '.join(f'{n} {label}' for label, n in sorted(moved.items())) or 'nothing'}"
            + (f"; the copies had other labels {sorted(labels, key=str)}, kept the oldest's" if len(labels) > 1 else "")
        )
    return deleted


def open_item_duplicates_merge(*, apps, out: Callable[[str], None] = print) -> int:
    """Merge open review items of one face in one queue: keep the oldest, move decisions to it.
    Returns how many items were deleted."""
    Item = apps.get_model("review", "Item")
    Decision = apps.get_model("review", "Decision")
    groups = list(
        Item.objects.filter(state="open")
        .values("queue_id", "face_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .order_by("queue_id", "face_id")
        .values_list("queue_id", "face_id")
    )
    out(f"review: {len(groups)} face(s) with more than one open item in a queue")
    deleted = 0
    for queue_id, face_id in groups:
        ids = list(
            Item.objects.filter(Q(state="open"), queue_id=queue_id, face_id=face_id)
            .order_by("created_at", "id")
            .values_list("id", flat=True)
        )
        keep, drop = ids[0], ids[1:]
        decisions = Decision.objects.filter(item_id__in=drop).update(item_id=keep)
        Item.objects.filter(pk__in=drop).delete()
        deleted += len(drop)
        out(
            f"  queue {queue_id} face {face_id}: kept item {keep}, deleted item(s) {', '.join(map(str, drop))}; "
            f"moved {decisions} decision(s)"
        )
    return deleted
