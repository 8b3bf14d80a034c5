"""The demo import: the same services users run, on a small subset; idempotent; friendly without data."""

import pytest
from django.core.management import call_command

from webapp.core.models import Job
from webapp.faces.models import Face
from webapp.identities.models import Identity
from webapp.media import services

pytestmark = pytest.mark.django_db


def test_the_quick_demo_import_brings_every_kind_of_source_in_and_a_rerun_adds_nothing(shared_data, capsys):
    call_command("import_demo", "--data", str(shared_data), "--quick")
    out = capsys.readouterr().out
    assert "Demo data imported" in out
    totals = services.ingest_totals()
    assert set(totals["faces_by_source"]) == {"crop", "photo", "frame"}
    assert totals["videos"] == 1 and totals["photos"] >= 8 and totals["unknown_faces"] > 0
    glint = Identity.objects.filter(faces__source="crop").distinct()
    assert glint.count() == 3 and set(glint.values_list("role", flat=True)) == {"candidate"}
    # popularity = descending image count over all 24: the three smallest folders rank last
    assert dict(glint.values_list("name", "popularity_rank")) == {
        "Will Smith": 22,
        "Jessica Alba": 23,
        "Lindsay Lohan": 24,
    }
    overlap = {"Drew_Barrymore", "Jessica_Alba", "Donald_Trump", "Bob_Menendez"}
    assert not Face.objects.filter(photo__original_name__regex=r"^lfw/unknown/(" + "|".join(overlap) + ")/").exists()
    assert all(job.state == "succeeded" for job in Job.objects.all())
    before = Face.objects.count()
    call_command("import_demo", "--data", str(shared_data), "--quick")
    assert Face.objects.count() == before


def test_the_demo_import_without_data_explains_how_to_import_a_folder(tmp_path, capsys):
    call_command("import_demo", "--data", str(tmp_path / "missing"))
    assert "manage.py import_faces /path/to/root --cropped" in capsys.readouterr().out
    assert not Face.objects.exists()
