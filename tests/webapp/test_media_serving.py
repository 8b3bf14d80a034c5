"""The media view: only images and videos are shown inline, everything in a sandbox, byte ranges
for seeking, nothing cached once shown, and odd names are simply not found."""

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from .factories import jpeg_bytes

pytestmark = pytest.mark.django_db

SANDBOX = "sandbox; default-src 'none'"


@pytest.fixture
def annotator_browser(client, annotator):
    client.force_login(annotator)
    return client


def _body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


@pytest.mark.parametrize("name", ["evil.html", "evil.svg", "evil.xhtml", "evil.htm", "evil.xml", "noext"])
def test_a_stored_file_that_is_not_an_allowed_image_or_video_is_a_sandboxed_download(annotator_browser, name):
    # Files stored before names were derived from the content keep the uploader's name: they must
    # never render as a page on the app's origin.
    stored = default_storage.save(f"photos/ab/{name}", ContentFile(b"<html><script>alert(1)</script></html>"))
    response = annotator_browser.get(f"/media/{stored}")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["Content-Security-Policy"] == SANDBOX
    assert response["X-Content-Type-Options"] == "nosniff"


def test_an_image_is_shown_inline_with_its_type_in_a_sandbox_and_never_cached(annotator_browser):
    stored = default_storage.save("faces/photo/ab/face.jpg", ContentFile(jpeg_bytes(4)))
    response = annotator_browser.get(f"/media/{stored}")
    assert response.status_code == 200 and _body(response) == jpeg_bytes(4)
    assert response["Content-Type"] == "image/jpeg"
    assert not response.get("Content-Disposition", "inline").startswith("attachment")
    assert response["Content-Security-Policy"] == SANDBOX
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cache-Control"] == "private, no-store"
    assert response["Accept-Ranges"] == "bytes"


@pytest.mark.parametrize("path", ["faces/a%00b.jpg", "faces/a%0Ab.jpg", "faces/a%5C..%5Cb.jpg"])
def test_a_name_with_a_control_character_or_backslash_is_not_found(annotator_browser, path):
    assert annotator_browser.get(f"/media/{path}").status_code == 404


@pytest.fixture
def video_bytes() -> bytes:
    return bytes(range(256)) * 40  # 10,240 bytes


@pytest.fixture
def stored_video(video_bytes) -> str:
    return default_storage.save("videos/ab/" + "c" * 64 + ".mp4", ContentFile(video_bytes))


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=100-199", 100, 199),
        ("bytes=10000-", 10000, 10239),
        ("bytes=-40", 10200, 10239),
        ("bytes=10200-99999", 10200, 10239),
    ],
)
def test_a_single_byte_range_answers_206_with_exactly_those_bytes(
    annotator_browser, stored_video, video_bytes, header, first, last
):
    response = annotator_browser.get(f"/media/{stored_video}", HTTP_RANGE=header)
    assert response.status_code == 206
    assert _body(response) == video_bytes[first : last + 1]
    assert response["Content-Range"] == f"bytes {first}-{last}/10240"
    assert response["Content-Length"] == str(last - first + 1)
    assert response["Content-Type"] == "video/mp4" and response["Content-Security-Policy"] == SANDBOX


@pytest.mark.parametrize("header", ["bytes=10240-", "bytes=20000-20100", "bytes=-0"])
def test_a_range_past_the_end_answers_416_with_the_size(annotator_browser, stored_video, header):
    response = annotator_browser.get(f"/media/{stored_video}", HTTP_RANGE=header)
    assert response.status_code == 416
    assert response["Content-Range"] == "bytes */10240"


@pytest.mark.parametrize("header", ["bytes=0-1,5-6", "items=0-10", "bytes=abc", "bytes=50-10"])
def test_several_ranges_or_another_unit_get_the_whole_file(annotator_browser, stored_video, video_bytes, header):
    response = annotator_browser.get(f"/media/{stored_video}", HTTP_RANGE=header)
    assert response.status_code == 200 and _body(response) == video_bytes
