"""An admin retrains through the UI and watches the job finish (a real Celery worker), accepts the
run and sets the operating point; an annotator opens the dashboard, sees the plots, and works
through a page of the review queue the run built."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.webapp.test_training_fixtures import train_now

from .data import CURATION_PEOPLE, PASSWORD, seed_curation_data, user_with_role
from .helpers import log_in, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHARTS = ["chart-per-class", "chart-sweep", "chart-calibration", "chart-history"]


def plotted(page, testid: str) -> int:
    """How many drawn marks (points, line paths, line dots) a chart panel holds."""
    panel = page.get_by_test_id(testid)
    panel.locator(".recharts-surface").first.wait_for()
    return panel.locator(".recharts-scatter-symbol, .recharts-line-curve, .recharts-line-dot").count()


def test_admin_starts_a_retrain_watches_it_finish_accepts_it_and_sets_the_operating_point(
    page, shared_data, celery_worker_process
):
    from webapp.training.models import ActiveModel, OperatingPoint, TrainingRun

    seed_curation_data(shared_data)
    user_with_role("boss", "admin")
    log_in(page, "boss", PASSWORD, then="/manage/training")

    page.get_by_label("Epochs").fill("8")
    page.get_by_label("Learning rate").fill("0.2")
    page.get_by_label("Note").fill("from the browser test")
    page.get_by_role("button", name="Start retrain").click()
    bar = page.get_by_role("progressbar", name="Retrain progress")
    bar.wait_for(timeout=90_000)  # starting a run snapshots every face first: seconds on a busy 2-core machine
    # The bar follows the job as the worker reports progress, to 100% and "succeeded".
    page.locator('.job[data-state="succeeded"]').wait_for(timeout=150_000)
    assert bar.get_attribute("aria-valuenow") == "100"
    run = TrainingRun.objects.select_related("job").get()
    assert run.job.state == "succeeded" and run.note == "from the browser test" and run.config["epochs"] == 8
    assert run.loss == "arcface"  # the default head, fused with the VIP gallery

    row = page.locator(f'[data-testid=admin-runs] tr[data-run="{run.pk}"]')
    expect(row.get_by_test_id("run-scorer")).to_contain_text("scored by the VIP gallery")
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Accept").click()
    page.get_by_text(f"Run {run.pk} is now the active model.").wait_for()
    assert ActiveModel.objects.get().run_id == run.pk

    page.get_by_label("target precision").check()
    page.get_by_label("Precision (0-1)").fill("0.8")
    page.get_by_role("button", name="Set operating point").click()
    page.get_by_text(re.compile(r"Operating point set: threshold \d")).wait_for()
    assert OperatingPoint.objects.filter(run=run, target_precision=0.8).exists()

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Dashboard").click()
    for chart in CHARTS:
        assert plotted(page, chart) > 0, chart


def test_an_empty_dashboard_says_what_to_do_next_and_links_to_the_screen(page):
    from webapp.identities.models import Identity

    Identity.objects.create(name="Ada Candidate", role=Identity.Role.CANDIDATE, popularity_rank=1)
    user_with_role("boss", "admin")
    log_in(page, "boss", PASSWORD, then="/dashboard")

    step = page.get_by_test_id("next-step")
    expect(step).to_contain_text("Next step: Promote the first chunk of VIPs")
    assert "manage.py" not in step.inner_text() and "/api/" not in step.inner_text()
    step.get_by_role("link", name="Admin › Training › Promote the next chunk").click()
    expect(page).to_have_url(re.compile(r"/manage/training$"))

    # promoting asks first and says what it changes; dismissing changes nothing
    questions = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.dismiss()))
    page.get_by_role("button", name="Promote the next chunk").click()
    expect(page.get_by_role("button", name="Promote the next chunk")).to_be_enabled()
    assert questions and "a review queue opens" in questions[0]
    assert Identity.objects.get(name="Ada Candidate").role == Identity.Role.CANDIDATE


SCREENS = (
    "/dashboard",
    "/review",
    "/tags",
    "/identities",
    "/faces",
    "/suggestions",
    "/videos",
    "/events",
    "/manage/training",
    "/manage/import",
    "/manage/exports",
    "/manage/team",
    "/manage/users",
    "/manage/jobs",
)


def test_no_screen_of_an_empty_install_tells_the_user_to_run_a_command_or_call_the_api(page):
    user_with_role("boss", "admin")
    log_in(page, "boss", PASSWORD, then="/dashboard")
    for path in SCREENS:
        page.goto(path)
        page.locator("h1").first.wait_for()
        page.wait_for_load_state("networkidle")
        said = page.locator("main").inner_text()
        assert not re.search(r"manage\.py|/api/v1|\b(?:POST|GET|PATCH) /", said), (path, said)


def test_accepting_asks_first_and_an_accepted_run_can_be_rolled_back(page, shared_data):
    from webapp.training import selectors

    seed_curation_data(shared_data)
    first = train_now(accept=True)
    second = train_now(seed=1)
    user_with_role("boss", "admin")
    log_in(page, "boss", PASSWORD, then="/manage/training")

    row = page.locator(f'[data-testid=admin-runs] tr[data-run="{second.pk}"]')
    # never a test-split number; its 10 unknown val faces cannot measure 0.001, and the label says so
    expect(row).to_contain_text("at the threshold for a false-tag rate of 0.1 (0.001 asked; val measures no lower)")
    questions = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.accept()))
    row.get_by_role("button", name="Accept").click()
    page.get_by_text(f"Run {second.pk} is now the active model.").wait_for()
    assert f"in place of run {first.pk}" in questions[0] and "roll back" in questions[0]
    assert selectors.active_run() == second
    expect(row).to_contain_text("at the operating point")

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name=f"Roll back to run {first.pk}").click()
    page.get_by_text(f"Rolled back: run {first.pk} is the active model again.").wait_for()
    assert selectors.active_run() == first


def test_a_run_that_finishes_says_so_where_the_admin_is_with_its_numbers_and_accept(page, shared_data):
    from tests.webapp.test_training_fixtures import QUICK, run_job_here
    from webapp.training import selectors, services

    seed_curation_data(shared_data)
    user_with_role("boss", "admin")
    log_in(page, "boss", PASSWORD, then="/review")
    run = services.training_run_start(options=QUICK, dispatch=False)
    page.wait_for_timeout(5000)  # the banner saw it queued

    run_job_here(run)

    banner = page.get_by_test_id("run-finished")
    expect(banner).to_contain_text(f"Run {run.pk} succeeded.", timeout=15_000)
    expect(banner).to_contain_text("Validation at the threshold for a false-tag rate of 0.1 (0.001 asked")
    expect(banner.get_by_role("link", name="Compare")).to_have_attribute("href", f"/dashboard?run={run.pk}")
    page.once("dialog", lambda dialog: dialog.accept())
    banner.get_by_role("button", name="Accept").click()
    expect(banner).to_contain_text(f"Run {run.pk} is now the active model.")
    assert selectors.active_run() == run


def test_admin_chooses_the_operating_point_by_false_tag_rate_and_sees_the_implied_precision(page, shared_data):
    from webapp.training.models import OperatingPoint

    seed_curation_data(shared_data)
    run = train_now(accept=True)
    user_with_role("boss", "admin")
    log_in(page, "boss", PASSWORD, then="/manage/training")

    # a new active model starts at the default false-tag rate, with the estimate and what stands behind it;
    # 10 unknown val faces cannot measure 1 in 1,000, so it is placed at 1 in 10 and the panel says why
    expect(page.get_by_test_id("op-current")).to_contain_text(
        "false-tag rate of 10% (1 in 10), the lowest val measures (0.1% (1 in 1,000) asked)"
    )
    expect(page.get_by_test_id("op-rule-reason")).to_contain_text("val holds 10 unknown faces, too few to measure")
    estimate = page.get_by_test_id("op-estimate")
    expect(estimate).to_contain_text("implied precision")
    expect(estimate).to_contain_text(re.compile(r"of \d+ unknown faces from \d+ people"))
    options = page.get_by_test_id("far-options")
    expect(options.locator("tbody tr")).to_have_count(7)

    # the expected share of unknown faces refuses values outside 0-1, and moves the implied precision
    share = page.get_by_label("Unknown faces expected (0-1)")
    share.fill("1.5")
    expect(page.get_by_test_id("op-problem")).to_contain_text("share of unknown faces must lie between 0 and 1")
    share.fill("0.5")
    expect(page.get_by_test_id("op-problem")).to_have_count(0)

    page.get_by_label("False-tag rate (0-1)").fill("0.01")
    page.get_by_role("button", name="Set operating point").click()
    page.get_by_text(
        re.compile(
            r"Operating point set: threshold \d\.\d+, chosen for a false-tag rate of 10% \(1 in 10\), "
            r"the lowest val measures \(1% \(1 in 100\) asked\)"
        )
    ).wait_for()
    point = OperatingPoint.objects.filter(run=run).first()
    assert point.far == 0.01 and point.unknown_share == 0.5
    expect(page.get_by_test_id("op-estimate")).to_contain_text("if 50% of faces are unknown")

    page.get_by_label("False-tag rate (0-1)").fill("2")
    page.get_by_role("button", name="Set operating point").click()
    expect(page.get_by_test_id("op-problem")).to_contain_text("strictly between 0 and 1")
    assert OperatingPoint.objects.filter(run=run).count() == 2  # the default and the one chosen


@pytest.mark.screenshots
def test_an_annotator_reads_the_dashboard_plots_opens_a_vip_and_reviews_a_queue_page(page, shared_data):
    from webapp.review.models import Decision

    seed_curation_data(shared_data)
    train_now(accept=True, epochs=3)
    run = train_now(accept=True, seed=1)  # two runs: a history to draw
    user_with_role("ann", "annotator")

    log_in(page, "ann", PASSWORD, then="/dashboard")
    assert page.get_by_role("link", name="Admin").count() == 0  # read-only for annotators
    page.get_by_text(f"Run {run.pk}", exact=True).wait_for()
    assert plotted(page, "chart-per-class") == len(CURATION_PEOPLE)  # one labelled point per VIP
    for chart in CHARTS[1:]:
        assert plotted(page, chart) > 0, chart
    scatter = page.get_by_test_id("chart-per-class")
    assert "Keanu Reeves" in scatter.text_content()
    assert "operating point" in page.get_by_test_id("chart-sweep").inner_text()
    page.get_by_test_id("gate").get_by_text(re.compile("Passed|Not met")).wait_for()
    screenshot(page, "dashboard")

    # One truth about the model: the headline and the sweep name the operating point and agree.
    headline = page.get_by_test_id("active-headline")
    expect(headline).to_contain_text("at the operating point")
    expect(page.get_by_test_id("sweep-headline")).to_contain_text("at the operating point")
    said = [headline.inner_text(), page.get_by_test_id("sweep-headline").inner_text()]
    readings = [dict(re.findall(r"(precision|recall|mean F1) ([\d.]+%|–)", text)) for text in said]
    assert readings[0] == readings[1] and len(readings[0]) == 3, said
    assert said[0].split(":")[0] == said[1].split(":")[0]  # the same threshold, named the same way
    # Each metric explains itself on hover; the axes tick at round values.
    for metric in ("precision", "recall", "mean F1", "F1 AUC"):
        assert len(headline.get_by_text(re.compile(f"^{metric} ")).get_attribute("title") or "") > 20, metric
    ticks = scatter.locator(".recharts-cartesian-axis-tick-value").all_text_contents()
    assert ticks and set(ticks) <= {"0%", "20%", "40%", "60%", "80%", "100%"}, ticks
    # A 1024-px tablet shows the dashboard, plots and all, without sideways scrolling.
    page.set_viewport_size({"width": 1024, "height": 768})
    page.wait_for_timeout(500)  # the charts redraw at the new width
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    page.set_viewport_size({"width": 1280, "height": 800})

    scatter.locator(".recharts-scatter-symbol").last.click()  # the topmost, should points overlap
    page.wait_for_url(re.compile(r"/identities/\d+$"))
    expect(page.locator("h1")).to_have_text(re.compile("^(" + "|".join(CURATION_PEOPLE) + ")$"))

    # The run's queues: "review now" leases the most urgent queue's items; Enter decides the page
    # in one request, z undoes the whole operation.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Dashboard").click()
    page.get_by_test_id("queues").get_by_role("link", name=re.compile("review now")).click()
    cells = page.locator("[data-testid=review-grid] li")
    cells.first.wait_for()
    shown = cells.count()
    assert (
        page.get_by_label("Reviewing").evaluate("select => select.value").startswith("q")
    )  # a queue, not the fallback
    page.keyboard.press("Enter")
    page.get_by_text(re.compile(r"Page confirmed")).wait_for()
    decided = Decision.objects.filter(user__username="ann", undone=False)
    assert decided.count() == shown and decided.values("operation").distinct().count() == 1
    page.keyboard.press("z")
    page.get_by_text(re.compile(r"Undid the confirmation")).wait_for()
    assert not Decision.objects.filter(user__username="ann", undone=False).exists()
    assert cells.count() == shown


def test_admin_starts_a_run_on_all_labels_and_the_runs_table_says_what_each_run_trained_on(page, shared_data):
    from webapp.training.models import TrainingRun

    seed_curation_data(shared_data)
    settled = train_now()
    user_with_role("boss", "admin")
    log_in(page, "boss", PASSWORD, then="/manage/training")
    expect(page.locator(f'[data-testid=admin-runs] tr[data-run="{settled.pk}"] [data-testid=run-labels]')).to_have_text(
        "settled only"
    )

    page.get_by_label("Train on").select_option("all")
    page.get_by_label("Epochs").fill("8")
    page.get_by_role("button", name="Start retrain").click()

    page.get_by_text(re.compile(r"Run \d+ queued")).wait_for(timeout=90_000)
    run = TrainingRun.objects.exclude(pk=settled.pk).get()
    assert run.labels == "all"
    expect(page.locator(f'[data-testid=admin-runs] tr[data-run="{run.pk}"] [data-testid=run-labels]')).to_have_text(
        "all"
    )
