"""Reads on dataset versions: which faces a filter selects, frozen rows, comparisons, files."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from webapp.core.exceptions import Conflict
from webapp.faces.models import Face
from webapp.identities.models import Identity

from .filters import ExportFilter
from .layout import FROZEN_COLUMNS
from .models import DatasetVersion, ExportBuild, ExportFile, VersionFace

ROW_CHUNK = 2000  # rows fetched per round trip when streaming a version


def faces_matching(*, export_filter: ExportFilter) -> QuerySet[Face]:
    """The faces a filter selects, right now: never not_a_face or excluded, never merged identities."""
    live = Q(identity__merged_into__isnull=True)
    vips = Q(identity__role=Identity.Role.VIP) & live
    if export_filter.chunks:
        vips &= Q(identity__chunk__in=export_filter.chunks)
    wanted = vips
    if export_filter.distractors:
        wanted |= (Q(identity__role=Identity.Role.CANDIDATE) & live) | Q(identity__isnull=True)
    faces = Face.objects.filter(wanted, status__in=export_filter.statuses)
    if export_filter.splits:
        faces = faces.filter(split__in=export_filter.splits)
    if export_filter.sources:
        faces = faces.filter(source__in=export_filter.sources)
    return faces


def versions_for_listing() -> QuerySet[DatasetVersion]:
    return DatasetVersion.objects.select_related("created_by", "job")


def version_rows(*, version: DatasetVersion, chunk_size: int = ROW_CHUNK) -> Iterator[dict[str, Any]]:
    """The frozen rows of a version, sorted by face id, streamed (bounded memory at any size)."""
    return (
        VersionFace.objects.filter(version=version)
        .order_by("face_id")
        .values(*FROZEN_COLUMNS)
        .iterator(chunk_size=chunk_size)
    )


def version_face_count(*, version: DatasetVersion) -> int:
    return VersionFace.objects.filter(version=version).count()


def version_compare(*, base: DatasetVersion, other: DatasetVersion, sample: int = 100) -> dict[str, Any]:
    """What changed from ``base`` to ``other``: faces added, removed, relabelled, moved to another split.

    Counts are computed in the database (no version is loaded into memory); up to ``sample``
    examples of each change are listed.
    """
    for version in (base, other):
        if version.state != DatasetVersion.State.READY:
            raise Conflict(f"Dataset version {version.pk} is {version.state}; only frozen versions can be compared.")
    in_base = VersionFace.objects.filter(version=base, face_id=OuterRef("face_id"))
    in_other = VersionFace.objects.filter(version=other, face_id=OuterRef("face_id"))
    added = VersionFace.objects.filter(version=other).filter(~Exists(in_base)).order_by("face_id")
    removed = VersionFace.objects.filter(version=base).filter(~Exists(in_other)).order_by("face_id")
    relabelled = (
        VersionFace.objects.filter(version=other)
        .filter(Exists(in_base))
        .annotate(
            before_label=Subquery(in_base.values("label")[:1]),
            before_identity=Coalesce(Subquery(in_base.values("identity_id")[:1]), Value(0)),
            after_identity=Coalesce("identity_id", Value(0)),
        )
        .filter(~Q(label=F("before_label")) | ~Q(after_identity=F("before_identity")))
        .order_by("face_id")
    )
    moved = (
        VersionFace.objects.filter(version=other)
        .annotate(before_split=Subquery(in_base.values("split")[:1]))
        .filter(Exists(in_base))
        .exclude(split=F("before_split"))
        .order_by("face_id")
    )
    return {
        "base": base.pk,
        "other": other.pk,
        "per_identity": _changes_per_label(added=added, removed=removed, relabelled=relabelled),
        "identical": bool(base.content_hash) and base.content_hash == other.content_hash,
        "added": added.count(),
        "removed": removed.count(),
        "relabelled": relabelled.count(),
        "moved_split": moved.count(),
        "examples": {
            "added": [{"face_id": r.face_id, "label": r.label, "split": r.split} for r in added[:sample]],
            "removed": [{"face_id": r.face_id, "label": r.label, "split": r.split} for r in removed[:sample]],
            "relabelled": [
                {
                    "face_id": r.face_id,
                    "from_label": r.before_label,
                    "to_label": r.label,
                    "from_identity": r.before_identity or None,
                    "to_identity": r.identity_id,
                }
                for r in relabelled[:sample]
            ],
            "moved_split": [
                {"face_id": r.face_id, "from_split": r.before_split, "to_split": r.split} for r in moved[:sample]
            ],
        },
    }


def _changes_per_label(*, added: QuerySet, removed: QuerySet, relabelled: QuerySet) -> list[dict[str, Any]]:
    """Per label (identity name or the distractor label): faces added, removed, relabelled to it
    (``relabelled_in``) and away from it (``relabelled_out``); four grouped queries, labels sorted."""
    rows: dict[str, dict[str, Any]] = {}

    def tally(queryset: QuerySet, label_field: str, key: str) -> None:
        for row in queryset.order_by().values(label_field).annotate(n=Count("id")):
            label = row[label_field]
            entry = rows.setdefault(
                label, {"label": label, "added": 0, "removed": 0, "relabelled_in": 0, "relabelled_out": 0}
            )
            entry[key] = row["n"]

    tally(added, "label", "added")
    tally(removed, "label", "removed")
    tally(relabelled, "label", "relabelled_in")
    tally(relabelled, "before_label", "relabelled_out")
    return [rows[label] for label in sorted(rows)]


def builds_for_version(*, version: DatasetVersion) -> QuerySet[ExportBuild]:
    return ExportBuild.objects.filter(version=version).select_related("job").prefetch_related("files")


def files_for_listing() -> QuerySet[ExportFile]:
    return ExportFile.objects.filter(build__state=ExportBuild.State.READY).select_related("build")


def version_files(*, version: DatasetVersion, format: str | None = None) -> QuerySet[ExportFile]:
    files = files_for_listing().filter(build__version=version)
    if format:
        files = files.filter(build__format=format)
    return files.order_by("build__format", "build__shard_size", "name")
