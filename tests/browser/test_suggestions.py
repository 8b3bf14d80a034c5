"""An admin works the merge/split suggestions screen: merges as the suggestion orders the sides,
undoes it, splits with a name prompt, and dismisses; an annotator only reads."""

from __future__ import annotations

import pytest

from .data import PASSWORD, REVIEWED, seed_review_data, user_with_role
from .helpers import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _side(identity, faces, *, face_ids=None):
    side = {"identity": identity.pk, "faces": len(faces), "cohesion": 0.8, "examples": [face.pk for face in faces[:3]]}
    if face_ids is not None:
        side["face_ids"] = face_ids
    return side


def test_admin_merges_undoes_splits_and_dismisses_suggestions(page, shared_data):
    from webapp.faces.models import Face
    from webapp.identities.models import Identity, IdentityOperation, IdentitySuggestion

    user_with_role("boss", "admin")
    data = seed_review_data(shared_data, unverified=6, verified=4, intruders=0)
    people = data["identities"]
    miley, lindsay, obama = people["Miley Cyrus"], people["Lindsay Lohan"], people[REVIEWED]
    faces = {name: list(Face.objects.filter(identity=identity).order_by("pk")) for name, identity in people.items()}
    merge = IdentitySuggestion.objects.create(
        kind="merge",
        identity=lindsay,
        other=miley,
        score=0.93,
        evidence={
            "centroid_cosine": 0.81,
            "neighbour_mixing": 0.4,
            "neighbours_k": 10,
            "sides": [_side(lindsay, faces["Lindsay Lohan"]), _side(miley, faces["Miley Cyrus"])],
        },
    )
    moving = [face.pk for face in faces[REVIEWED][-3:]]
    split = IdentitySuggestion.objects.create(
        kind="split",
        identity=obama,
        score=0.5,
        evidence={
            "silhouette": 0.42,
            "between_within_ratio": 1.7,
            "sides": [
                _side(obama, faces[REVIEWED][:-3], face_ids=[face.pk for face in faces[REVIEWED][:-3]]),
                _side(obama, faces[REVIEWED][-3:], face_ids=moving),
            ],
        },
    )
    dismissed = IdentitySuggestion.objects.create(
        kind="merge",
        identity=people["Tom Hanks"],
        other=obama,
        score=0.2,
        evidence={"sides": [_side(people["Tom Hanks"], faces["Tom Hanks"]), _side(obama, faces[REVIEWED])]},
    )

    log_in(page, "boss", PASSWORD, then="/suggestions")
    cards = page.locator("[data-testid=suggestion]")
    cards.nth(2).wait_for()
    assert [int(card.get_attribute("data-suggestion")) for card in cards.all()] == [merge.pk, split.pk, dismissed.pk]
    first = cards.nth(0)
    assert first.locator("[data-testid=suggestion-side]").count() == 2
    assert first.locator("[data-testid=suggestion-side] img").count() == 6
    assert "Neighbour mixing (k=10)" in first.inner_text()

    # Merge: the first side (Lindsay) goes into the second (Miley), then undo.
    first.get_by_role("button", name="Merge Lindsay Lohan into Miley Cyrus").click()
    notice = page.locator("[data-testid=suggestion-notice]")
    notice.get_by_text("Merged Lindsay Lohan into Miley Cyrus").wait_for()
    lindsay.refresh_from_db()
    assert lindsay.merged_into_id == miley.pk
    merge.refresh_from_db()
    assert merge.status == "accepted"
    notice.get_by_role("button", name="Undo").click()
    notice.get_by_text("Undid the merge").wait_for()
    lindsay.refresh_from_db()
    assert lindsay.merged_into_id is None
    assert IdentityOperation.objects.get(suggestion=merge).undone_at is not None

    # Split: name the new identity in the prompt.
    card = page.locator(f'[data-suggestion="{split.pk}"]')
    card.get_by_role("button", name="Split…").click()
    card.get_by_role("textbox").fill("Barack Obama look-alike")
    card.get_by_role("button", name="Split", exact=True).click()
    notice.get_by_text("Split 3 faces of Barack Obama into Barack Obama look-alike").wait_for()
    new = Identity.objects.get(name="Barack Obama look-alike")
    assert sorted(Face.objects.filter(identity=new).values_list("pk", flat=True)) == sorted(moving)

    # Dismiss the last one: it leaves the open list.
    page.locator(f'[data-suggestion="{dismissed.pk}"]').get_by_role("button", name="Dismiss").click()
    notice.get_by_text("Dismissed the merge suggestion").wait_for()
    page.locator(f'[data-suggestion="{dismissed.pk}"]').wait_for(state="detached")
    dismissed.refresh_from_db()
    assert dismissed.status == "dismissed"


def test_an_annotator_reads_suggestions_without_the_admin_actions(page, shared_data):
    from webapp.identities.models import IdentitySuggestion

    user_with_role("ann", "annotator")
    data = seed_review_data(shared_data, unverified=4, verified=3, intruders=0)
    people = data["identities"]
    IdentitySuggestion.objects.create(
        kind="merge", identity=people["Tom Hanks"], other=people["Miley Cyrus"], score=0.7, evidence={}
    )

    log_in(page, "ann", PASSWORD, then="/suggestions")
    page.locator("[data-testid=suggestion]").wait_for()
    assert page.get_by_role("button", name="Dismiss").count() == 0
    assert page.get_by_role("button", name="Compute suggestions").count() == 0
