"""Near duplicates: caught by perceptual hash or embedding, linked, kept in one group and split."""

import io
import shutil

import pytest
from PIL import Image

from webapp.faces.models import Face
from webapp.media import services

pytestmark = pytest.mark.django_db

SPADER = "James Spader"
DREW = "Drew Barrymore"


def _copy(shared_data, root, person, names):
    (root / person).mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(shared_data / "glint24" / person / name, root / person / name)


def test_a_real_near_duplicate_pair_in_glint24_is_linked_and_shares_the_group_and_split(shared_data, tmp_path):
    # Drew Barrymore 1038 and 1077: two files of one picture (other bytes, 0 bits of pHash apart, cosine 0.985).
    _copy(shared_data, tmp_path, DREW, ["1000.jpg", "1001.jpg", "1038.jpg", "1077.jpg"])
    # James Spader 3860 and 3922 are byte-identical: an exact duplicate, never imported twice.
    _copy(shared_data, tmp_path, SPADER, ["3860.jpg", "3922.jpg"])
    result = services.faces_import_folder(root=tmp_path, cropped=True)
    assert (result["imported"], result["duplicate"]) == (5, 1)
    original = Face.objects.get(source_path=f"{DREW}/1038.jpg")
    copy = Face.objects.get(source_path=f"{DREW}/1077.jpg")
    assert original.duplicate_of is None and copy.duplicate_of == original
    assert copy.group_key == original.group_key == f"crop:{original.content_sha256}"
    assert copy.split == original.split
    assert Face.objects.filter(duplicate_of__isnull=False).count() == 1  # the others stay apart


def test_a_re_encoded_copy_imported_later_is_caught_against_the_stored_faces(shared_data, tmp_path, annotator_client):
    _copy(shared_data, tmp_path / "first", SPADER, ["3854.jpg", "3855.jpg"])
    services.faces_import_folder(root=tmp_path / "first", cropped=True)
    later = tmp_path / "later" / SPADER
    later.mkdir(parents=True)
    image = Image.open(shared_data / "glint24" / SPADER / "3855.jpg")
    buffer = io.BytesIO()
    image.resize((100, 100)).resize((112, 112)).save(buffer, format="JPEG", quality=70)  # other bytes, same face
    (later / "reencoded.jpg").write_bytes(buffer.getvalue())
    result = services.faces_import_folder(root=tmp_path / "later", cropped=True)
    assert result["imported"] == 1 and result["duplicate"] == 0  # not an exact duplicate: other bytes
    original = Face.objects.get(source_path=f"{SPADER}/3855.jpg")
    copy = Face.objects.get(source_path=f"{SPADER}/reencoded.jpg")
    assert copy.duplicate_of == original and (copy.group_key, copy.split) == (original.group_key, original.split)
    listed = annotator_client.get(f"/api/v1/near-duplicates/?duplicate_of={original.pk}").data["results"]
    assert [f["id"] for f in listed] == [copy.pk] and listed[0]["duplicate_of"] == original.pk


def test_different_people_whose_crops_hash_alike_are_not_linked(shared_data, tmp_path):
    # Obama 119 and Simon Cowell 8211 are 4 bits of pHash apart, but their embeddings disagree (cosine 0.2).
    _copy(shared_data, tmp_path, "Barack Obama", ["119.jpg"])
    _copy(shared_data, tmp_path, "Simon Cowell", ["8211.jpg"])
    services.faces_import_folder(root=tmp_path, cropped=True)
    assert not Face.objects.filter(duplicate_of__isnull=False).exists()
    assert len(set(Face.objects.values_list("group_key", flat=True))) == 2
