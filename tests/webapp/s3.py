"""An S3-compatible object store for the tests: moto in server mode on loopback, one bucket per test.

``s3_media`` points the default storage of this process at a fresh bucket (the app's S3 backend,
:class:`webapp.core.storage.MediaS3Storage`, configured as ``webapp/settings.py`` does for
``MEDIA_STORAGE=s3``) and gives the environment that makes a worker process use the same bucket.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field

import pytest

ACCESS_KEY, SECRET_KEY, REGION = "facecurator-test", "facecurator-test-secret", "us-east-1"


@pytest.fixture(scope="session")
def moto_endpoint() -> str:
    """A moto S3 server on 127.0.0.1 and a free port, for the whole test session."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@dataclass
class S3Media:
    endpoint: str
    bucket: str
    client: object = field(repr=False)

    def keys(self, prefix: str = "") -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return sorted(entry["Key"] for page in pages for entry in page.get("Contents", ()))

    def read(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def storage_options(self) -> dict:
        return {
            "bucket_name": self.bucket,
            "endpoint_url": self.endpoint,
            "access_key": ACCESS_KEY,
            "secret_key": SECRET_KEY,
            "region_name": REGION,
            "file_overwrite": False,
            "querystring_auth": True,
        }

    def worker_env(self) -> dict[str, str]:
        """What a worker host sets to use this store (read by webapp/settings.py)."""
        return {
            "MEDIA_STORAGE": "s3",
            "S3_BUCKET": self.bucket,
            "S3_ENDPOINT_URL": self.endpoint,
            "S3_ACCESS_KEY_ID": ACCESS_KEY,
            "S3_SECRET_ACCESS_KEY": SECRET_KEY,
            "S3_REGION": REGION,
        }


def files_under(folder) -> list[str]:
    """Every file below a local folder (empty when the folder does not exist)."""
    return sorted(str(p) for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


@pytest.fixture
def s3_media(settings, moto_endpoint, tmp_path, media_in_tmp) -> S3Media:
    """This process's media storage is a fresh bucket on the moto server; its artefact cache a temporary folder."""
    import boto3

    bucket = f"facecurator-{uuid.uuid4().hex[:16]}"
    client = boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name=REGION,
    )
    client.create_bucket(Bucket=bucket)
    media = S3Media(endpoint=moto_endpoint, bucket=bucket, client=client)
    settings.MEDIA_STORAGE = "s3"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "webapp.core.storage.MediaS3Storage", "OPTIONS": media.storage_options()},
    }
    settings.FACECURATOR_ARTIFACT_CACHE = str(tmp_path / "artifact-cache")
    return media
