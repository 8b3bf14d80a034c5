"""An admin opens the team screen, sees a careless annotator flagged by gold faces, and undoes the
annotator's decisions of the last day in one operation; with held decisions on, reviews what a
flagged annotator decided before it counts."""

from __future__ import annotations

import pytest
from django.utils import timezone

from .data import PASSWORD, user_with_role
from .helpers import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_admin_sees_a_flagged_annotator_and_undoes_their_range(page):
    from tests.webapp.factories import FaceFactory, IdentityFactory
    from webapp.faces.models import Face
    from webapp.quality.models import GoldFace, GoldItem
    from webapp.review.models import Decision, Item, Queue
    from webapp.review.services import DecisionRequest, decisions_apply

    ada, grace = IdentityFactory(name="Ada", role="vip"), IdentityFactory(name="Grace", role="vip")
    careless = user_with_role("careless", "annotator")
    user_with_role("lead", "admin")
    queue = Queue.objects.create(kind=Queue.Kind.LABEL_ERRORS, title="errors")
    requests = []
    for n in range(20):  # 20 gold faces shown with a wrong label, all confirmed: flagged
        face = FaceFactory(identity=ada, status="verified")
        gold = GoldFace.objects.create(
            face=face, identity=ada, status="verified", face_version=face.version, source="admin", since=timezone.now()
        )
        item = Item.objects.create(
            queue=queue, face=face, identity=grace, score=1 - n / 100, leased_to=careless, served_version=face.version
        )
        GoldItem.objects.create(item=item, gold=gold, user=careless, shown_identity=grace, shown_status="unverified")
        requests.append(DecisionRequest(item_id=item.pk, action="confirm"))
    wrong = FaceFactory(identity=ada)
    item = Item.objects.create(queue=queue, face=wrong, identity=ada, score=0.5, leased_to=careless, served_version=0)
    requests.append(DecisionRequest(item_id=item.pk, action="relabel", identity_id=grace.pk))
    decisions_apply(user=careless, requests=requests)
    assert Face.objects.get(pk=wrong.pk).identity == grace

    log_in(page, "lead", PASSWORD, then="/manage/team")
    row = page.get_by_role("row").filter(has_text="careless")
    row.get_by_text("flagged").wait_for()
    assert "0% of 20" in row.inner_text()

    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Undo range").click()
    page.get_by_text("Undid 1 decision(s) of careless").wait_for()
    assert Face.objects.get(pk=wrong.pk).identity == ada
    assert Decision.objects.filter(undone=False, item__gold_serve__isnull=False).count() == 20


def test_an_annotator_sees_their_own_numbers_on_the_dashboard(page):
    from tests.webapp.factories import FaceFactory, IdentityFactory
    from webapp.review.models import Item, Queue
    from webapp.review.services import DecisionRequest, decisions_apply

    ada = IdentityFactory(name="Ada", role="vip")
    bob = user_with_role("bob", "annotator")
    queue = Queue.objects.create(kind=Queue.Kind.LABEL_ERRORS, title="errors")
    items = [
        Item.objects.create(
            queue=queue, face=FaceFactory(identity=ada), identity=ada, score=1 - n / 10, leased_to=bob, served_version=0
        )
        for n in range(3)
    ]
    decisions_apply(user=bob, requests=[DecisionRequest(item_id=i.pk, action="confirm") for i in items])

    log_in(page, "bob", PASSWORD, then="/dashboard")

    panel = page.get_by_test_id("my-quality")
    panel.wait_for()
    assert "3 decisions" in panel.inner_text()


def test_admin_reviews_the_held_decision_of_a_flagged_annotator_from_the_team_screen(page, settings):
    from tests.webapp.factories import FaceFactory, IdentityFactory
    from webapp.faces.models import Face
    from webapp.quality.models import GoldFace, GoldItem, SecondOpinion
    from webapp.review.models import Item, Queue
    from webapp.review.services import DecisionRequest, decisions_apply

    settings.FACECURATOR_HOLD_FLAGGED = True
    ada, grace = IdentityFactory(name="Ada", role="vip"), IdentityFactory(name="Grace", role="vip")
    careless = user_with_role("careless", "annotator")
    user_with_role("lead", "admin")
    queue = Queue.objects.create(kind=Queue.Kind.LABEL_ERRORS, title="errors")
    gold_answers = []
    for n in range(20):  # 20 gold faces shown with a wrong label, all confirmed: flagged
        face = FaceFactory(identity=ada, status="verified")
        gold = GoldFace.objects.create(
            face=face, identity=ada, status="verified", face_version=face.version, source="admin", since=timezone.now()
        )
        item = Item.objects.create(
            queue=queue, face=face, identity=grace, score=1 - n / 100, leased_to=careless, served_version=face.version
        )
        GoldItem.objects.create(item=item, gold=gold, user=careless, shown_identity=grace, shown_status="unverified")
        gold_answers.append(DecisionRequest(item_id=item.pk, action="confirm"))
    decisions_apply(user=careless, requests=gold_answers)
    ada_face = FaceFactory(identity=ada)
    item = Item.objects.create(
        queue=queue, face=ada_face, identity=ada, score=0.5, leased_to=careless, served_version=0
    )
    decisions_apply(user=careless, requests=[DecisionRequest(item_id=item.pk, action="relabel", identity_id=grace.pk)])
    assert Face.objects.get(pk=ada_face.pk).identity == ada  # held: nothing changed yet

    log_in(page, "lead", PASSWORD, then="/manage/team")
    row = page.get_by_role("row").filter(has_text="careless")
    row.get_by_text("1 waiting").wait_for()
    assert "flagged" in row.inner_text()
    assert "decisions are held" in page.get_by_test_id("hold-flagged").inner_text()

    page.get_by_role("link", name="Review held decisions").click()
    page.locator(f'[data-testid=review-grid] li[data-face="{ada_face.pk}"]').wait_for()
    page.locator("[data-testid=review-grid]").focus()
    page.keyboard.press("Enter")  # the admin confirms Ada: their answer settles it
    page.get_by_text("Page confirmed").wait_for()
    face = Face.objects.get(pk=ada_face.pk)
    assert (face.identity, face.status) == (ada, "verified")
    assert SecondOpinion.objects.get().state == "overruled"


def test_an_annotator_sees_how_many_of_their_decisions_wait_for_a_second_annotator(page, settings):
    from tests.webapp.factories import FaceFactory, IdentityFactory
    from webapp.review.models import Item, Queue
    from webapp.review.services import DecisionRequest, decisions_apply

    settings.FACECURATOR_SECOND_OPINION = ["relabel_vip"]
    ada, grace = IdentityFactory(name="Ada", role="vip"), IdentityFactory(name="Grace", role="vip")
    bob = user_with_role("bob", "annotator")
    queue = Queue.objects.create(kind=Queue.Kind.LABEL_ERRORS, title="errors")
    item = Item.objects.create(
        queue=queue, face=FaceFactory(identity=ada), identity=ada, score=1.0, leased_to=bob, served_version=0
    )
    decisions_apply(user=bob, requests=[DecisionRequest(item_id=item.pk, action="relabel", identity_id=grace.pk)])

    log_in(page, "bob", PASSWORD, then="/dashboard")

    held = page.get_by_test_id("my-held")
    held.wait_for()
    assert "1 of your decisions wait for a second annotator" in held.inner_text()


def test_admin_accepts_all_held_decisions_of_an_annotator_then_undoes_it(page, settings):
    from tests.webapp.factories import FaceFactory, IdentityFactory
    from webapp.faces.models import Face
    from webapp.quality.models import SecondOpinion
    from webapp.review.models import Item, Queue
    from webapp.review.services import DecisionRequest, decisions_apply

    settings.FACECURATOR_SECOND_OPINION = ["relabel_vip"]
    ada, grace = IdentityFactory(name="Ada", role="vip"), IdentityFactory(name="Grace", role="vip")
    bob = user_with_role("bob", "annotator")
    user_with_role("lead", "admin")
    queue = Queue.objects.create(kind=Queue.Kind.LABEL_ERRORS, title="errors")
    faces = [FaceFactory(identity=ada) for _ in range(2)]
    items = [
        Item.objects.create(queue=queue, face=f, identity=ada, score=1 - n / 10, leased_to=bob, served_version=0)
        for n, f in enumerate(faces)
    ]
    decisions_apply(
        user=bob, requests=[DecisionRequest(item_id=i.pk, action="relabel", identity_id=grace.pk) for i in items]
    )
    assert SecondOpinion.objects.filter(state="pending").count() == 2

    log_in(page, "lead", PASSWORD, then="/manage/team")
    row = page.get_by_role("row").filter(has_text="bob")
    row.get_by_text("2 waiting").wait_for()
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Accept all 2").click()

    page.get_by_text("Accepted 2 held decision(s) of bob: 2 label(s) changed.").wait_for()
    assert {f.identity for f in Face.objects.filter(pk__in=[f.pk for f in faces])} == {grace}
    page.get_by_role("status").get_by_role("button", name="Undo").click()
    page.get_by_text("Undone: 2 held decision(s) wait again").wait_for()
    assert {f.identity for f in Face.objects.filter(pk__in=[f.pk for f in faces])} == {ada}
    assert SecondOpinion.objects.filter(state="pending").count() == 2
