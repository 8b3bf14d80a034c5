"""Backups that restore: the database and the media folder, written atomically, checked on restore.

A backup is a folder:

- ``database.jsonl``: every row of every table Django manages but sessions, in Django's JSON
  Lines fixture format (plain primary keys, no natural keys; timestamps to the microsecond,
  which ``dumpdata``'s encoder would cut to milliseconds), read in one transaction (on
  PostgreSQL at REPEATABLE READ: one consistent snapshot while the app keeps running), loaded
  back with ``loaddata`` one line at a time;
- ``media/``: a copy of ``MEDIA_ROOT`` (crops, photos, videos, frames, exports, model artefacts,
  the similarity index) when media are on the local disk;
- ``backup.json``: when it was made, the database vendor, the migrations it was made at, the
  rows per table, and every media file's size and SHA-256 (``media_files``).

JSON rather than ``pg_dump``: one format on SQLite and PostgreSQL, restorable from either to
either, and no client binaries of the right major version needed. It is written to a temporary
folder beside the target and renamed into place, so a backup folder that exists is complete.

Media on S3 (``MediaS3Storage``) are not copied: the backup holds the database only and says so
in ``backup.json`` (``media: "s3"``); the bucket is backed up by the object store (versioning,
``aws s3 sync s3://BUCKET DIR``) at the same time.

Restore checks everything before it changes anything (the backup's files against their
checksums, its migrations against this database's), refuses a database or media folder that
already holds data unless ``force`` is given, then replaces the database's rows in one
transaction and moves the restored media folder into place.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core import serializers
from django.core.files.storage import FileSystemStorage, default_storage
from django.core.management import call_command
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

from .exceptions import Conflict, InvalidTransition

FORMAT = 1
DATABASE_FILE = "database.jsonl"
META_FILE = "backup.json"
MEDIA_DIR = "media"
EXCLUDED = ("sessions",)  # logins do not survive a restore
# Rows that ``migrate`` itself writes: their presence does not make a database "not empty".
CREATED_BY_MIGRATE = {"contenttypes.contenttype", "auth.permission", "auth.group"}


class BackupRefused(Conflict):
    code = "backup_refused"


class BackupInvalid(InvalidTransition):
    code = "backup_invalid"


Out = Callable[[str], None]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _media_is_local() -> bool:
    return isinstance(default_storage, FileSystemStorage)


def _media_files(root: Path) -> dict[str, dict]:
    """Every file below ``root``: relative path -> size and SHA-256."""
    files = {}
    for path in sorted(root.rglob("*")) if root.is_dir() else []:
        if path.is_file() and not path.is_symlink():
            files[path.relative_to(root).as_posix()] = {"size": path.stat().st_size, "sha256": _sha256(path)}
    return files


def _applied_migrations() -> list[list[str]]:
    return sorted([app, name] for app, name in MigrationRecorder(connection).applied_migrations())


def _row_counts() -> dict[str, int]:
    return {model._meta.label_lower: model._base_manager.count() for model in _backed_up_models()}


class _ExactEncoder(DjangoJSONEncoder):
    """Django's fixture encoder, but times keep their microseconds (ordering by time survives)."""

    def default(self, o):
        if isinstance(o, (datetime.datetime, datetime.time)):
            return o.isoformat()
        return super().default(o)


def _backed_up_models() -> list:
    return [
        model
        for model in apps.get_models()
        if model._meta.app_label not in EXCLUDED and model._meta.managed and not model._meta.proxy
    ]


def _database_dump(path: Path) -> None:
    def rows():
        for model in _backed_up_models():
            yield from model._base_manager.order_by(model._meta.pk.name).iterator(chunk_size=2000)

    with path.open("w", encoding="utf-8") as handle:
        serializers.serialize("jsonl", rows(), stream=handle, cls=_ExactEncoder)


def backup_create(*, target: str | Path, out: Out = print) -> dict:
    """Write a backup of the database (and of the media folder when it is on local disk) to
    ``target``, which must not exist yet; returns what ``backup.json`` says."""
    target = Path(target).absolute()
    if target.exists():
        raise BackupRefused(f"{target} already exists; give a new folder (backups are never overwritten).")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        snapshot = connection.vendor == "postgresql" and not connection.in_atomic_block
        with transaction.atomic():
            if snapshot:
                with connection.cursor() as cursor:  # the first statement: the whole dump is one snapshot
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            _database_dump(staging / DATABASE_FILE)
            meta: dict[str, Any] = {
                "format": FORMAT,
                "created_at": timezone.now().isoformat(),
                "database": connection.vendor,
                "migrations": _applied_migrations(),
                "rows": _row_counts(),
            }
        if _media_is_local():
            media_root = Path(settings.MEDIA_ROOT)
            if media_root.is_dir():
                shutil.copytree(media_root, staging / MEDIA_DIR, symlinks=False)
            else:
                (staging / MEDIA_DIR).mkdir()
            meta["media"] = "local"
            meta["media_files"] = _media_files(staging / MEDIA_DIR)
        else:
            meta["media"] = "s3"
            meta["media_files"] = {}
            out(
                "Media are on S3 and are not in this backup: back the bucket up with the object store "
                "(bucket versioning, or `aws s3 sync s3://BUCKET DIR`) at the same time."
            )
        meta["database_sha256"] = _sha256(staging / DATABASE_FILE)
        (staging / META_FILE).write_text(json.dumps(meta, indent=1, sort_keys=True))
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    out(f"Backup written to {target}: {sum(meta['rows'].values())} rows, {len(meta['media_files'])} media files.")
    return meta


def backup_check(*, source: str | Path) -> dict:
    """Read a backup's ``backup.json`` and check its files against it (sizes and SHA-256);
    raises ``BackupInvalid`` naming the first problem."""
    source = Path(source)
    try:
        meta = json.loads((source / META_FILE).read_text())
    except (OSError, ValueError) as exc:
        raise BackupInvalid(f"{source} is not a FaceCurator backup: {META_FILE} unreadable ({exc}).") from exc
    if meta.get("format") != FORMAT:
        raise BackupInvalid(f"{source}: backup format {meta.get('format')!r}, this version reads {FORMAT}.")
    database = source / DATABASE_FILE
    if not database.is_file() or _sha256(database) != meta.get("database_sha256"):
        raise BackupInvalid(f"{source}: {DATABASE_FILE} is missing or does not match its checksum.")
    found = _media_files(source / MEDIA_DIR)
    expected = meta.get("media_files", {})
    for name, info in expected.items():
        if found.get(name) != info:
            raise BackupInvalid(f"{source}: media file {name} is missing or does not match its checksum.")
    extra = sorted(set(found) - set(expected))
    if extra:
        raise BackupInvalid(f"{source}: media file {extra[0]} is not listed in {META_FILE}.")
    return meta


def _constraints(when: str) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SET CONSTRAINTS ALL {when}")


def _database_holds_data() -> list[str]:
    return [f"{label} ({n})" for label, n in _row_counts().items() if n and label not in CREATED_BY_MIGRATE]


def backup_restore(*, source: str | Path, force: bool = False, out: Out = print) -> dict:
    """Restore a backup made by ``backup_create`` into this (migrated) database and media folder.

    Refused, with nothing changed: a backup that fails ``backup_check``; a backup made at other
    migrations than this database is at (restore with the code that made it, then migrate); a
    database or media folder that already holds data, unless ``force`` (which replaces them).
    """
    source = Path(source).absolute()
    meta = backup_check(source=source)
    here = _applied_migrations()
    if meta["migrations"] != here:
        theirs, ours = {tuple(m) for m in meta["migrations"]}, {tuple(m) for m in here}
        differ = sorted(theirs ^ ours)[:5]
        raise BackupRefused(
            f"The backup was made at other migrations than this database is at (e.g. {differ}): restore it with the "
            f"code version that made it into a database migrated by that version, then upgrade."
        )
    media_root = Path(settings.MEDIA_ROOT)
    restore_media = meta["media"] == "local" and _media_is_local()
    if not force:
        held = _database_holds_data()
        if held:
            raise BackupRefused(
                f"The database is not empty ({', '.join(held[:5])}); restore with --force to replace everything in it."
            )
        if restore_media and media_root.is_dir() and any(media_root.iterdir()):
            raise BackupRefused(f"The media folder {media_root} is not empty; restore with --force to replace it.")
    if meta["media"] == "s3" or not _media_is_local():
        out(
            "Media are not restored by this command (the backup or this server keeps media on S3): restore the "
            "bucket from the object store's copy made at the same time."
        )

    staged = None
    if restore_media:  # copy first (slow, may fail), swap in only once the database is restored
        media_root.parent.mkdir(parents=True, exist_ok=True)
        staged = Path(tempfile.mkdtemp(prefix=f".{media_root.name}.restore.", dir=media_root.parent))
        shutil.copytree(source / MEDIA_DIR, staged, dirs_exist_ok=True)
    try:
        with transaction.atomic():
            _constraints("IMMEDIATE")  # PostgreSQL cannot truncate tables with foreign key checks pending
            call_command("flush", interactive=False, inhibit_post_migrate=True, verbosity=0)
            _constraints("DEFERRED")  # rows load in table order: references are checked at commit
            call_command("loaddata", str(source / DATABASE_FILE), verbosity=0)
    except BaseException:
        ContentType.objects.clear_cache()
        if staged is not None:
            shutil.rmtree(staged, ignore_errors=True)
        raise
    ContentType.objects.clear_cache()  # content type ids are the backup's now
    if staged is not None:
        old = None
        if media_root.exists():
            old = media_root.with_name(f".{media_root.name}.replaced-{timezone.now():%Y%m%d%H%M%S}")
            os.replace(media_root, old)
        os.replace(staged, media_root)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    out(f"Restored {sum(meta['rows'].values())} rows and {len(meta['media_files'])} media files from {source}.")
    return meta
