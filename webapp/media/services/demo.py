"""The demo data set, imported through the same services users run, and the totals it reports."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

from webapp.core.models import Job
from webapp.core.roles import Actor
from webapp.faces.models import Face
from webapp.identities.models import Identity

from ..models import Frame, Photo, Video
from .folders import faces_import_folder
from .photos import IMAGE_SUFFIXES, photos_import_paths
from .runs import job_run_here
from .videos import VIDEO_SUFFIXES
from .videos_batched import videos_import_here


def _demo_overlap_people(data_dir: Path) -> set[str]:
    path = data_dir / "identity_overlap.csv"
    if not path.exists():
        return set()
    with open(path, newline="", encoding="utf-8") as handle:
        return {row["person"].strip() for row in csv.DictReader(handle) if row.get("person")}


def demo_import(
    *,
    data_dir: str | Path,
    quick: bool = False,
    per_identity: int | None = None,
    user: Actor = None,
    echo: Callable[[str], None] = lambda line: None,
) -> dict[str, Any]:
    """Import the demo data set through the same services users run; idempotent.

    - ``glint24/``: aligned crops of 24 identities (candidates; popularity = descending image count);
    - ``lfw/known/``: 158 people as candidates (detected, hinted by folder), ranked after glint24;
    - ``lfw/unknown/``: a few hundred photos of unknown people (no identity), leaving out everyone
      in ``identity_overlap.csv`` so nobody becomes a distractor of themselves;
    - ``photos/`` (no hint) and ``videos/``.

    ``quick``: a small subset of each (a few identities, a handful of images, one short video
    sampled at 30 frames) for tests and smoke runs. ``per_identity`` caps the images imported per
    identity (glint24 and LFW known people), so a demo is up in minutes on a CPU.
    """
    data_dir = Path(data_dir)
    summary: dict[str, Any] = {"data": str(data_dir), "quick": quick, "jobs": {}}

    def record(step: str, job: Job) -> None:
        result = job.result or {}
        summary["jobs"][step] = {
            "job": job.pk,
            "state": job.state,
            "faces_created": result.get("faces_created", 0),
            "errors": len(result.get("errors", [])),
            "message": job.message,
        }
        echo(
            f"{step}: {job.state}, {result.get('faces_created', 0)} faces, "
            f"{len(result.get('errors', []))} per-file errors (job {job.pk})"
        )

    glint = data_dir / "glint24"
    ranks: dict[str, int] = {}
    if glint.is_dir():
        counts = {d.name: sum(1 for p in d.iterdir() if p.is_file()) for d in glint.iterdir() if d.is_dir()}
        order = sorted(counts, key=lambda name: (-counts[name], name))
        ranks = {name: rank for rank, name in enumerate(order, start=1)}
        subset = sorted(counts, key=lambda name: counts[name])[:3] if quick else None
        cap = 6 if quick else per_identity
        params = {"root": str(glint), "cropped": True, "role": "candidate", "demo": True}
        echo(
            f"glint24: {sum(min(counts[n], cap or counts[n]) for n in (subset or counts))} aligned "
            f"crops of {len(subset or counts)} identities"
        )
        record(
            "glint24",
            job_run_here(
                kind="media.import_faces",
                params=params,
                user=user,
                echo=echo,
                handler=lambda job, progress: faces_import_folder(
                    root=glint,
                    cropped=True,
                    role=Identity.Role.CANDIDATE,
                    popularity=ranks,
                    identities=subset,
                    limit_per_identity=cap,
                    user=user,
                    progress=progress,
                ),
            ),
        )
    known = data_dir / "lfw" / "known"
    if known.is_dir():
        counts = {d.name: sum(1 for p in d.iterdir() if p.is_file()) for d in known.iterdir() if d.is_dir()}
        order = sorted(counts, key=lambda name: (-counts[name], name))
        lfw_ranks = {name: len(ranks) + rank for rank, name in enumerate(order, start=1) if name not in ranks}
        subset = order[-2:] if quick else None
        cap = 3 if quick else per_identity
        echo(
            f"lfw/known: {sum(min(counts[n], cap or counts[n]) for n in (subset or counts))} photos "
            f"of {len(subset or counts)} people"
        )
        record(
            "lfw_known",
            job_run_here(
                kind="media.import_faces",
                params={"root": str(known), "demo": True},
                user=user,
                echo=echo,
                handler=lambda job, progress: faces_import_folder(
                    root=known,
                    cropped=False,
                    role=Identity.Role.CANDIDATE,
                    popularity=lfw_ranks,
                    identities=subset,
                    limit_per_identity=cap,
                    user=user,
                    progress=progress,
                ),
            ),
        )
    unknown = data_dir / "lfw" / "unknown"
    if unknown.is_dir():
        overlap = _demo_overlap_people(data_dir)
        people = sorted(d.name for d in unknown.iterdir() if d.is_dir() and d.name not in overlap)
        wanted = 6 if quick else 300
        step = max(1, len(people) // wanted)
        paths = [sorted(p for p in (unknown / name).iterdir() if p.is_file())[0] for name in people[::step][:wanted]]
        echo(f"lfw/unknown: {len(paths)} photos of unknown people ({len(overlap)} overlap people left out)")
        record(
            "lfw_unknown",
            job_run_here(
                kind="media.process_photos",
                params={"root": str(unknown), "demo": True},
                user=user,
                echo=echo,
                handler=lambda job, progress: photos_import_paths(
                    paths=paths, root=data_dir, user=user, progress=progress
                ),
            ),
        )
    photos_dir = data_dir / "photos"
    if photos_dir.is_dir():
        paths = sorted(p for p in photos_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[: 2 if quick else None]
        echo(f"photos: {len(paths)}")
        record(
            "photos",
            job_run_here(
                kind="media.process_photos",
                params={"root": str(photos_dir), "demo": True},
                user=user,
                echo=echo,
                handler=lambda job, progress: photos_import_paths(
                    paths=paths, root=data_dir, user=user, progress=progress
                ),
            ),
        )
    videos_dir = data_dir / "videos"
    if videos_dir.is_dir():
        paths = sorted(p for p in videos_dir.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
        if quick:
            paths = [p for p in paths if p.name == "obama_whcd_podium_b.mp4"] or paths[:1]
        imports = videos_import_here(
            paths=paths, user=user, frames=30 if quick else None, params={"demo": True}, echo=echo
        )
        for label, job in imports:
            record(label, job)
    summary["totals"] = ingest_totals()
    return summary


def ingest_totals() -> dict[str, Any]:
    """Counts for a summary: identities, faces by source, near duplicates, photos, videos, frames."""
    from django.db.models import Count

    by_source = dict(Face.objects.order_by().values_list("source").annotate(n=Count("id")))
    return {
        "identities": Identity.objects.count(),
        "faces": sum(by_source.values()),
        "faces_by_source": by_source,
        "unknown_faces": Face.objects.filter(identity__isnull=True).count(),
        "near_duplicates": Face.objects.filter(duplicate_of__isnull=False).count(),
        "photos": Photo.objects.count(),
        "videos": Video.objects.count(),
        "frames": Frame.objects.count(),
    }
