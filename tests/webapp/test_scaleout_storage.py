"""Media in an S3-compatible store (moto on loopback): stored, served and listed through Django's
storage API, and versioned artefacts (the similarity index, model files) loaded through each
host's local cache. Nothing lands in the local media folder."""

import io

import pytest
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from webapp.core import artifacts
from webapp.core.storage import MediaS3Storage, storage_listdir
from webapp.faces import index

from .factories import FaceFactory, jpeg_bytes, unit_vector
from .s3 import files_under

pytestmark = pytest.mark.django_db


def test_face_crops_go_to_the_bucket_and_reach_annotators_through_the_role_checked_view(
    s3_media, client, annotator, media_in_tmp
):
    client.force_login(annotator)
    face = FaceFactory(crop=ContentFile(jpeg_bytes(3), name="face.jpg"))
    assert isinstance(default_storage._wrapped, MediaS3Storage)
    assert face.crop.name in s3_media.keys("faces/")
    assert face.crop.url == f"/media/{face.crop.name}"  # never a direct link to the store

    response = client.get(face.crop.url)
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert b"".join(response.streaming_content) == jpeg_bytes(3)
    assert int(response["Content-Length"]) == len(jpeg_bytes(3))
    assert client.get("/media/faces/no-such-face.jpg").status_code == 404
    assert files_under(media_in_tmp) == []


def test_an_annotator_cannot_reach_model_files_by_a_path_that_only_looks_like_a_crop(
    s3_media, client, annotator, admin_user
):
    default_storage.save("models/run-1/model-abc.pt", ContentFile(b"weights"))
    client.force_login(annotator)
    assert client.get("/media/faces/../models/run-1/model-abc.pt").status_code == 403
    assert client.get("/media/models/run-1/model-abc.pt").status_code == 403
    client.force_login(admin_user)
    response = client.get("/media/faces/../models/run-1/model-abc.pt")
    assert response.status_code == 200 and b"".join(response.streaming_content) == b"weights"


def test_a_stored_file_is_read_in_byte_ranges_without_downloading_it_whole(s3_media):
    data = bytes(range(256)) * 4096  # 1 MiB
    name = default_storage.save("exports/v1/big.bin", ContentFile(data))
    with default_storage.open(name, "rb") as handle:
        assert handle.size == len(data)
        handle.seek(1000)
        assert handle.read(10) == data[1000:1010] and handle.tell() == 1010
        handle.seek(-5, io.SEEK_END)
        assert handle.read() == data[-5:]
        handle.seek(0)
        assert handle.read() == data
    with pytest.raises(FileNotFoundError):
        default_storage.open("exports/v1/missing.bin", "rb")


def test_folders_are_listed_on_an_object_store_where_exists_knows_no_folders(s3_media):
    default_storage.save("frames/7/000001.jpg", ContentFile(b"a"))
    default_storage.save("frames/7/sub/000002.jpg", ContentFile(b"b"))
    assert not default_storage.exists("frames/7")  # why storage_listdir, never exists(), asks about folders
    assert storage_listdir("frames/7") == (["sub"], ["000001.jpg"])
    assert storage_listdir("frames/8") == ([], [])


def test_the_index_is_published_by_version_in_the_database_and_loaded_through_the_local_cache(s3_media, media_in_tmp):
    faces = [FaceFactory(vector=unit_vector(i)) for i in range(6)]
    index.index_add_faces(face_ids=[f.pk for f in faces[:3]])
    first = index.index_current()
    assert len(first) == 3 and artifacts.artifact_cached_names() == ["index/faces-000001.faiss"]

    index.index_add_faces(face_ids=[f.pk for f in faces[3:]])
    assert index.index_versions() == [1, 2]  # listed on S3, where the "index" folder does not "exist"
    assert artifacts.artifact_latest(kind=index.INDEX_ARTIFACT).version == 2
    assert len(index.index_current()) == 6  # the newer version is noticed at the next use
    assert "index/faces-000002.faiss" in artifacts.artifact_cached_names()
    assert {"index/faces-000002.faiss", "index/faces-000002.json"} <= set(s3_media.keys("index/"))

    index.index_add_faces(face_ids=[faces[0].pk])
    assert index.index_versions() == [2, 3]  # older versions leave the bucket, one stays for readers mid-load
    assert [a.version for a in artifacts.Artifact.objects.filter(kind=index.INDEX_ARTIFACT)] == [3, 2]
    similar = index.faces_similar(face=faces[0], k=2)
    assert len(similar) == 2 and faces[0] not in [f for f, _ in similar]
    assert files_under(media_in_tmp) == []


def test_a_cached_artefact_is_downloaded_once_written_whole_and_the_cache_keeps_the_newest(
    s3_media, settings, django_assert_num_queries
):
    settings.FACECURATOR_ARTIFACT_CACHE_KEEP = 2
    names = [default_storage.save(f"models/run-{n}/model-{n}.pt", ContentFile(bytes([n]) * 1000)) for n in range(1, 5)]
    first = artifacts.artifact_local_path(names[0])
    assert first.read_bytes() == bytes([1]) * 1000
    s3_media.client.delete_object(Bucket=s3_media.bucket, Key=names[0])
    assert artifacts.artifact_local_path(names[0]) == first  # served from the cache: the store is not asked
    for name in names[1:]:
        artifacts.artifact_local_path(name)
    assert artifacts.artifact_cached_names() == names[2:]  # the two most recently used of the kind
    with pytest.raises(FileNotFoundError):
        artifacts.artifact_local_path("models/run-9/model-9.pt")
    assert not [p for p in artifacts.artifact_cache_dir().rglob("*") if p.name.endswith(".part")]


def test_with_local_storage_an_artefact_is_the_stored_file_itself(settings, media_in_tmp, tmp_path):
    settings.FACECURATOR_ARTIFACT_CACHE = str(tmp_path / "artifact-cache")
    name = default_storage.save("index/faces-000001.faiss", ContentFile(b"index"))
    assert artifacts.artifact_local_path(name) == media_in_tmp / name
    assert artifacts.artifact_cached_names() == []  # no second copy on the same disk
    with pytest.raises(FileNotFoundError):
        artifacts.artifact_local_path("index/faces-000002.faiss")
    with pytest.raises(SuspiciousFileOperation):
        artifacts.artifact_local_path("../outside.pt")


def test_a_video_on_the_store_is_served_in_the_byte_range_the_browser_asks_for(s3_media, client, annotator):
    data = bytes(range(256)) * 4096  # 1 MiB
    name = default_storage.save("videos/ab/" + "d" * 64 + ".mp4", ContentFile(data))
    client.force_login(annotator)
    response = client.get(f"/media/{name}", HTTP_RANGE="bytes=500000-500099")
    assert response.status_code == 206 and response["Content-Range"] == f"bytes 500000-500099/{len(data)}"
    assert b"".join(response.streaming_content) == data[500000:500100]
    assert client.get(f"/media/{name}", HTTP_RANGE=f"bytes={len(data)}-").status_code == 416
