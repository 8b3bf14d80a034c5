"""The export formats: each writer streams a version's frozen rows into local files.

A writer gets the rows (sorted by face id, one at a time), a function that reads a crop's bytes,
and a folder to write into; it returns the files it wrote. It never holds more than one row
group / one sample in memory, so a version of any size is written in bounded memory. Outputs
are deterministic: the same version gives byte-identical files (fixed timestamps and order).

Layouts (``version.json`` describes the version, its filter, classes and content hash):

- ``imagefolder``: ``dataset.zip`` with ``<split>/<class>/<face id>.jpg`` (every class folder in
  every split, so ImageFolder(allow_empty=True) gives the same class indices for each split),
  ``manifest.jsonl`` and ``version.json`` at its root.
- ``jsonl`` / ``csv``: ``manifest.jsonl`` / ``manifest.csv``, one row per face; ``image`` is the
  path in the ImageFolder layout, ``media_path`` the crop's storage name.
- ``parquet``: ``<split>.parquet`` with the image bytes (Hugging Face ``Image`` struct
  ``{bytes, path}``, ``class_index`` as a ``ClassLabel``), written in row groups.
- ``webdataset``: ``<split>/shard-000000.tar`` ... with ``<key>.jpg`` + ``<key>.json`` per sample.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import tarfile
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ml.splits import SPLITS

from .layout import FROZEN_COLUMNS, image_path, sample_key

Progress = Callable[[float, str], None]

# A manifest row: the columns a version froze (its crop as the image file), with the class index beside
# the label and the media path last.
MANIFEST_COLUMNS = (
    "face_id",
    "image",
    "label",
    "label_key",
    "class_index",
    *(column for column in FROZEN_COLUMNS if column not in ("face_id", "label", "label_key", "crop")),
    "media_path",
)
PARQUET_ROW_GROUP = 1000
# Repetitive text columns are dictionary-encoded; never the image bytes (unique JPEGs, a dictionary only costs).
PARQUET_DICTIONARY_COLUMNS = ("label", "label_key", "identity_name", "role", "status", "split", "source")
PROGRESS_EVERY = 256


@dataclass
class OutputFile:
    name: str  # name within the build, e.g. "train/shard-000000.tar"
    path: Path
    content_type: str = "application/octet-stream"


@dataclass
class BuildContext:
    meta: dict[str, Any]  # version.json: id, name, filter, content hash, classes, counts
    classes: list[str]
    face_count: int
    out_dir: Path
    read_image: Callable[[str], bytes]
    progress: Progress | None = None
    shard_size: int = 0
    timestamp: float = 315532800.0  # 1980-01-01: archives carry no build time, so they are reproducible
    class_index: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.class_index = {name: index for index, name in enumerate(self.classes)}

    def report(self, done: int, *, force: bool = False) -> None:
        if self.progress and (force or done % PROGRESS_EVERY == 0):
            self.progress(0.95 * done / max(self.face_count, 1), f"{done}/{self.face_count} faces")


def manifest_record(row: dict[str, Any], *, class_index: int) -> dict[str, Any]:
    """One face as the manifests describe it (the same keys in every format)."""
    record = {column: row.get(column) for column in MANIFEST_COLUMNS}
    record["image"] = image_path(split=row["split"], label_key=row["label_key"], face_id=row["face_id"])
    record["class_index"] = class_index
    record["media_path"] = row["crop"]
    return record


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def _images(rows: Iterable[dict[str, Any]], ctx: BuildContext) -> Iterator[tuple[dict[str, Any], bytes, str]]:
    """Rows with their crop bytes and the bytes' SHA-256, reporting progress."""
    done = 0
    for row in rows:
        data = ctx.read_image(row["crop"])
        yield (
            manifest_record(row, class_index=ctx.class_index[row["label_key"]]),
            data,
            hashlib.sha256(data).hexdigest(),
        )
        done += 1
        ctx.report(done)
    ctx.report(done, force=True)


def _write_version_json(ctx: BuildContext, **extra: Any) -> OutputFile:
    path = ctx.out_dir / "version.json"
    path.write_text(json.dumps({**ctx.meta, **extra}, ensure_ascii=False, indent=2), encoding="utf-8")
    return OutputFile("version.json", path, "application/json")


# --- ImageFolder zip -----------------------------------------------------------------------
def write_imagefolder(rows: Iterable[dict[str, Any]], ctx: BuildContext) -> list[OutputFile]:
    zip_path = ctx.out_dir / "dataset.zip"
    manifest_path = ctx.out_dir / "manifest.jsonl"
    date_time = time.gmtime(ctx.timestamp)[:6]

    def info(name: str, *, directory: bool = False, compress: int = zipfile.ZIP_STORED) -> zipfile.ZipInfo:
        entry = zipfile.ZipInfo(name, date_time=date_time)
        entry.compress_type = compress
        entry.external_attr = ((0o40755 if directory else 0o100644) << 16) | (0x10 if directory else 0)
        return entry

    splits = [split for split in SPLITS if any(c.get(split) for c in ctx.meta["counts"])]
    with (
        zipfile.ZipFile(zip_path, "w", allowZip64=True) as archive,
        manifest_path.open("w", encoding="utf-8") as manifest,
    ):
        for split in splits:
            archive.writestr(info(f"{split}/", directory=True), b"")
            for class_name in ctx.classes:
                archive.writestr(info(f"{split}/{class_name}/", directory=True), b"")
        for record, data, sha in _images(rows, ctx):
            archive.writestr(info(record["image"]), data)
            manifest.write(_dumps({**record, "image_sha256": sha}) + "\n")
        manifest.close()
        with (
            manifest_path.open("rb") as source,
            archive.open(info("manifest.jsonl", compress=zipfile.ZIP_DEFLATED), "w", force_zip64=True) as target,
        ):
            for block in iter(lambda: source.read(1 << 20), b""):
                target.write(block)
        archive.writestr(
            info("version.json", compress=zipfile.ZIP_DEFLATED),
            json.dumps({**ctx.meta, "layout": "split/class/face_id.jpg"}, ensure_ascii=False, indent=2),
        )
    manifest_path.unlink()
    return [OutputFile("dataset.zip", zip_path, "application/zip")]


# --- JSONL and CSV manifests -------------------------------------------------------------
def _manifest_rows(rows: Iterable[dict[str, Any]], ctx: BuildContext) -> Iterator[dict[str, Any]]:
    done = 0
    for row in rows:
        yield manifest_record(row, class_index=ctx.class_index[row["label_key"]])
        done += 1
        ctx.report(done)
    ctx.report(done, force=True)


def write_jsonl(rows: Iterable[dict[str, Any]], ctx: BuildContext) -> list[OutputFile]:
    path = ctx.out_dir / "manifest.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for record in _manifest_rows(rows, ctx):
            out.write(_dumps(record) + "\n")
    return [OutputFile("manifest.jsonl", path, "application/x-ndjson"), _write_version_json(ctx)]


FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe_cell(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula (``=HYPERLINK(...)`` from an uploaded file's
    name) gets a leading ``'`` (OWASP "CSV injection"); numbers and other text pass unchanged.
    Every CSV the app writes goes through this."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def write_csv(rows: Iterable[dict[str, Any]], ctx: BuildContext) -> list[OutputFile]:
    """CSV: ``box`` and ``landmarks`` are JSON text, empty cells are nulls, formula-like text is
    neutralised (``csv_safe_cell``)."""
    path = ctx.out_dir / "manifest.csv"
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=MANIFEST_COLUMNS)
        writer.writeheader()
        for record in _manifest_rows(rows, ctx):
            for key in ("box", "landmarks"):
                record[key] = "" if record[key] is None else _dumps(record[key])
            writer.writerow({key: "" if value is None else csv_safe_cell(value) for key, value in record.items()})
    return [OutputFile("manifest.csv", path, "text/csv"), _write_version_json(ctx)]


# --- Parquet with image bytes --------------------------------------------------------------
def _parquet_schema(ctx: BuildContext):
    import pyarrow as pa

    text = pa.string()
    number = pa.int64()
    schema = pa.schema(
        [
            ("face_id", number),
            ("image", pa.struct([("bytes", pa.binary()), ("path", text)])),
            ("label", text),
            ("label_key", text),
            ("class_index", number),
            ("identity_id", number),
            ("identity_name", text),
            ("role", text),
            ("status", text),
            ("split", text),
            ("source", text),
            ("source_path", text),
            ("photo_id", number),
            ("frame_id", number),
            ("video_id", number),
            ("group_key", text),
            ("box", pa.list_(pa.float64())),
            ("landmarks", pa.list_(pa.list_(pa.float64()))),
            ("media_path", text),
            ("image_sha256", text),
        ]
    )
    # Read by the `datasets` library: `image` decodes to a PIL image, `class_index` names its classes.
    features = {"image": {"_type": "Image"}, "class_index": {"_type": "ClassLabel", "names": ctx.classes}}
    return schema.with_metadata(
        {
            "huggingface": json.dumps({"info": {"features": features}}),
            "facecurator": json.dumps(ctx.meta, ensure_ascii=False),
        }
    )


def _floats(value: Any, depth: int) -> Any:
    """Boxes and landmarks as float lists, or null when they do not have that shape."""
    try:
        if depth == 1:
            return [float(v) for v in value]
        return [[float(v) for v in point] for point in value]
    except (TypeError, ValueError):
        return None


def write_parquet(rows: Iterable[dict[str, Any]], ctx: BuildContext) -> list[OutputFile]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _parquet_schema(ctx)
    writers: dict[str, pq.ParquetWriter] = {}
    buffers: dict[str, list[dict[str, Any]]] = {}

    def flush(split: str) -> None:
        if buffers.get(split):
            writers[split].write_table(pa.Table.from_pylist(buffers[split], schema=schema))
            buffers[split] = []

    try:
        for record, data, sha in _images(rows, ctx):
            split = record["split"]
            if split not in writers:
                writers[split] = pq.ParquetWriter(
                    ctx.out_dir / f"{split}.parquet",
                    schema,
                    compression="zstd",
                    use_dictionary=list(PARQUET_DICTIONARY_COLUMNS),
                )
                buffers[split] = []
            record["image"] = {"bytes": data, "path": record["image"]}
            record["box"] = None if record["box"] is None else _floats(record["box"], 1)
            record["landmarks"] = None if record["landmarks"] is None else _floats(record["landmarks"], 2)
            record["image_sha256"] = sha
            buffers[split].append(record)
            if len(buffers[split]) >= PARQUET_ROW_GROUP:
                flush(split)
        for split in writers:
            flush(split)
    finally:
        for writer in writers.values():
            writer.close()
    outputs = [
        OutputFile(f"{split}.parquet", ctx.out_dir / f"{split}.parquet", "application/vnd.apache.parquet")
        for split in SPLITS
        if split in writers
    ]
    return outputs + [_write_version_json(ctx)]


# --- WebDataset tar shards ------------------------------------------------------------------
def write_webdataset(rows: Iterable[dict[str, Any]], ctx: BuildContext) -> list[OutputFile]:
    """Shards per split, ``shard_size`` samples each, in face-id order (shuffle when reading)."""
    open_shards: dict[str, tuple[tarfile.TarFile, int, int]] = {}  # split -> (tar, shard number, samples)
    outputs: list[OutputFile] = []
    shards_index: list[dict[str, Any]] = []

    def member(name: str, data: bytes) -> tuple[tarfile.TarInfo, io.BytesIO]:
        entry = tarfile.TarInfo(name)
        entry.size, entry.mtime, entry.mode = len(data), int(ctx.timestamp), 0o644
        entry.uname = entry.gname = ""
        return entry, io.BytesIO(data)

    def close(split: str) -> None:
        tar, number, samples = open_shards.pop(split)
        tar.close()
        name = f"{split}/shard-{number:06d}.tar"
        outputs.append(OutputFile(name, ctx.out_dir / name, "application/x-tar"))
        shards_index.append({"file": name, "split": split, "samples": samples})

    next_number: dict[str, int] = {}
    try:
        for record, data, sha in _images(rows, ctx):
            split = record["split"]
            if split in open_shards and open_shards[split][2] >= ctx.shard_size:
                close(split)
            if split not in open_shards:
                number = next_number.get(split, 0)
                next_number[split] = number + 1
                path = ctx.out_dir / split / f"shard-{number:06d}.tar"
                path.parent.mkdir(parents=True, exist_ok=True)
                open_shards[split] = (tarfile.open(path, "w", format=tarfile.PAX_FORMAT), number, 0)
            tar, number, samples = open_shards[split]
            key = sample_key(record["face_id"])
            tar.addfile(*member(f"{key}.jpg", data))
            tar.addfile(*member(f"{key}.json", _dumps({**record, "image_sha256": sha}).encode()))
            open_shards[split] = (tar, number, samples + 1)
        for split in list(open_shards):
            close(split)
    finally:
        for tar, _, _ in open_shards.values():
            tar.close()
    outputs.sort(key=lambda output: output.name)
    shards_index.sort(key=lambda shard: shard["file"])
    return outputs + [_write_version_json(ctx, shard_size=ctx.shard_size, shards=shards_index)]


WRITERS: dict[str, Callable[[Iterable[dict[str, Any]], BuildContext], list[OutputFile]]] = {
    "imagefolder": write_imagefolder,
    "jsonl": write_jsonl,
    "csv": write_csv,
    "parquet": write_parquet,
    "webdataset": write_webdataset,
}
