"""An identity's page as an annotator meets it: the VIP's reference faces before reviewing, and
photos of the person added by drag and drop with a result per file."""

from __future__ import annotations

import base64
import re

import pytest
from playwright.sync_api import expect

from .data import PASSWORD, REVIEWED, seed_review_data, user_with_role
from .helpers import LOADED_WIDTH, log_in
from .test_import import DROP

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_annotator_sees_reference_faces_and_adds_photos_with_a_result_per_file(page, shared_data):
    from webapp.media.models import Photo

    data = seed_review_data(shared_data, unverified=2, verified=6, intruders=0)
    obama = data["identities"][REVIEWED]
    user_with_role("ann", "annotator")
    log_in(page, "ann", PASSWORD, then=f"/identities/{obama.pk}")

    references = page.get_by_test_id("identity-references").get_by_role("img")
    expect(references).to_have_count(6)
    verified_ids = {face.pk for face in data["faces"]["verified"] if face.identity_id == obama.pk}
    shown = {int(alt.split()[2]) for alt in references.evaluate_all("imgs => imgs.map(i => i.alt)")}
    assert shown == verified_ids

    photo = shared_data / "photos" / "obama-480p.jpg"
    files = [
        ["obama-480p.jpg", "image/jpeg", base64.b64encode(photo.read_bytes()).decode()],
        ["broken.jpg", "image/jpeg", base64.b64encode(b"these bytes are not a JPEG").decode()],
        ["notes.txt", "text/plain", base64.b64encode(b"hello").decode()],
    ]
    page.evaluate(DROP, [files, "[data-testid=identity-dropzone]"])
    results = page.get_by_test_id("identity-upload-results").locator("li")
    expect(results).to_have_count(3)
    by_name = {line.split(":")[0]: line for line in results.all_inner_texts()}
    assert by_name["obama-480p.jpg"] == "obama-480p.jpg: uploaded: finding faces…"
    assert by_name["notes.txt"] == "notes.txt: not a photo: not uploaded"
    broken = by_name["broken.jpg"]
    assert broken.count("broken.jpg") == 1, broken  # the file's name is not repeated in its own error
    page.get_by_role("progressbar", name="Finding faces progress").wait_for()
    uploaded = Photo.objects.get()
    assert (uploaded.original_name, uploaded.identity_hint_id) == ("obama-480p.jpg", obama.pk)


def test_an_annotator_adds_a_missing_person_from_the_relabel_dialog(page, shared_data):
    from webapp.faces.models import Face
    from webapp.identities.models import Identity

    seed_review_data(shared_data, unverified=3, verified=2, intruders=1)
    user_with_role("ann", "annotator")
    log_in(page, "ann", PASSWORD, then="/review")
    cell = page.locator("[data-testid=review-grid] li").first
    cell.wait_for()
    face_id = int(page.locator('[data-testid=review-grid] [aria-current="true"]').get_attribute("data-face"))
    page.keyboard.press("r")
    dialog = page.get_by_role("dialog", name="Relabel")
    page.keyboard.type("Zed Newperson")
    dialog.get_by_role("option", name="Add “Zed Newperson” as a new identity").wait_for()
    page.keyboard.press("Enter")
    page.locator(f'li[data-face="{face_id}"][data-verdict="relabel"]').wait_for()
    added = Identity.objects.get(name="Zed Newperson")
    assert added.role == "candidate"
    assert Face.objects.get(pk=face_id).identity_id == added.pk


def test_an_admin_renames_an_identity_and_reads_its_edits(page, shared_data):
    data = seed_review_data(shared_data, unverified=1, verified=1, intruders=0)
    tom = data["identities"]["Tom Hanks"]
    user_with_role("boss", "admin")
    log_in(page, "boss", PASSWORD, then=f"/identities/{tom.pk}")
    page.get_by_label("Name", exact=True).fill("Thomas J. Hanks")
    page.get_by_role("button", name="Rename").click()
    expect(page.locator("h1")).to_have_text("Thomas J. Hanks")
    edits = page.get_by_test_id("identity-edits").locator("li")
    expect(edits).to_have_count(1)
    expect(edits.first).to_contain_text("boss")
    expect(edits.first).to_contain_text("name “Tom Hanks” → “Thomas J. Hanks”")
    tom.refresh_from_db()
    assert tom.name == "Thomas J. Hanks"


def test_look_closer_zooms_a_face_and_draws_its_box_on_the_source_photo_and_the_dialog_keeps_focus(page, shared_data):
    from django.core.files.base import ContentFile

    from tests.webapp.factories import FaceFactory, PhotoFactory
    from webapp.faces.models import Face

    data = seed_review_data(shared_data, unverified=1, verified=1, intruders=0)
    obama = data["identities"][REVIEWED]
    original = shared_data / "photos" / "obama-480p.jpg"
    photo = PhotoFactory(
        original_name="obama-480p.jpg",
        width=854,
        height=480,
        image=ContentFile(original.read_bytes(), name="obama.jpg"),
    )
    crop = next((shared_data / "glint24" / REVIEWED).glob("*.jpg")).read_bytes()
    face = FaceFactory(
        source=Face.Source.PHOTO,
        photo=photo,
        identity=obama,
        box=[427, 120, 120, 150],
        crop=ContentFile(crop, name="face.jpg"),
    )
    user_with_role("ann", "annotator")
    log_in(page, "ann", PASSWORD, then=f"/faces?identity={obama.pk}")

    opener = page.locator(f'li[data-face="{face.pk}"]').get_by_role("button", name="Look closer")
    opener.click()
    dialog = page.get_by_role("dialog", name=f"Face {face.pk}: {REVIEWED}")
    expect(dialog.get_by_test_id("zoomed-face")).to_have_attribute("width", "336")
    source = dialog.get_by_role("img", name=f"source photo of face {face.pk}")
    expect(source).to_be_visible()
    assert source.evaluate(LOADED_WIDTH) > 0
    box = dialog.get_by_test_id("face-box")
    style = box.get_attribute("style")
    assert "left: 50%" in style and "top: 25%" in style, style
    dialog.get_by_role("slider", name="Zoom").fill("2")
    expect(dialog.get_by_test_id("zoomed-face")).to_have_attribute("width", "224")

    # Tab stays inside the dialog; Escape closes it and gives focus back to the button that opened it.
    for _ in range(6):
        page.keyboard.press("Tab")
        assert page.evaluate("document.querySelector('[role=dialog]').contains(document.activeElement)")
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    assert opener.evaluate("button => document.activeElement === button")


def test_an_annotator_adds_a_missing_person_as_a_candidate_and_an_admin_approves_them_as_a_vip(page, shared_data):
    from webapp.identities.models import Identity

    user_with_role("ann", "annotator")
    user_with_role("boss", "admin")
    log_in(page, "ann", PASSWORD, then="/identities")
    form = page.get_by_role("form", name="New identity")
    expect(form).to_contain_text("added as a candidate")
    form.get_by_label("New identity").fill("Zoe Missing")
    form.get_by_role("button", name="Add").click()
    expect(page.locator("h1")).to_have_text("Zoe Missing")
    zoe = Identity.objects.get(name="Zoe Missing")
    assert zoe.role == "candidate"
    assert page.get_by_role("button", name="Make a VIP").count() == 0  # annotators propose, admins approve

    page.context.clear_cookies()
    log_in(page, "boss", PASSWORD, then=f"/identities/{zoe.pk}")
    questions = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.accept()))
    page.get_by_role("button", name="Make a VIP").click()
    expect(page.locator(".identity-head .badge").first).to_have_text("vip")
    assert "next training run learns to recognise" in questions[0]
    zoe.refresh_from_db()
    assert zoe.role == "vip"
    expect(page.get_by_test_id("identity-edits").locator("li").first).to_contain_text("role “candidate” → “vip”")


def test_faces_found_like_an_identitys_are_chosen_as_a_range_and_added(page, shared_data):
    from webapp.faces import index
    from webapp.faces.models import Face

    from .data import seed_curation_data

    data = seed_curation_data(shared_data, per_identity=15, unknown=6)
    index.index_rebuild()
    keanu = next(vip for vip in data["vips"] if vip.name == "Keanu Reeves")
    user_with_role("ann", "annotator")
    log_in(page, "ann", PASSWORD, then=f"/identities/{keanu.pk}")
    page.get_by_role("button", name="Find more faces").click()
    boxes = page.get_by_role("checkbox", name=re.compile(r"^choose face \d+$"))
    boxes.nth(3).wait_for()
    found = [
        int(name.split()[-1]) for name in boxes.evaluate_all("boxes => boxes.map(b => b.getAttribute('aria-label'))")
    ]

    boxes.nth(0).click()
    boxes.nth(2).click(modifiers=["Shift"])  # the first three, as on the faces screen
    page.keyboard.press("ArrowRight")  # the arrows move from box to box
    expect(boxes.nth(3)).to_be_focused()
    page.get_by_role("button", name="Add 3 to Keanu Reeves").click()
    page.get_by_text("3 faces added to Keanu Reeves.").wait_for()
    assert set(Face.objects.filter(pk__in=found[:3]).values_list("identity_id", "status")) == {(keanu.pk, "verified")}
