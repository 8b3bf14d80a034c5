"""Smoke runs of the benchmarks (bench/noise.py, bench/openset.py, bench/api.py, its open loop) at a tiny size.

Each runs as its own process, exactly as ``bench/run_all.py`` runs it, and must write its JSON and
markdown with the numbers the README's tables read. Sizes are tiny (seconds); the embeddings come
from ``bench/.cache/`` when a real benchmark ran before.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow


def run_bench(script: str, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    completed = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / script), *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    return completed


def test_run_all_finds_every_benchmark_but_the_helpers():
    sys.path.insert(0, str(REPO_ROOT))
    from bench.run_all import discover

    found = discover()
    assert {"noise", "openset", "api"} <= set(found)
    assert not {"common", "run_all"} & set(found)


def test_noise_bench_ranks_injected_errors_for_both_methods(shared_data: Path, tmp_path: Path):
    run_bench(
        "noise.py",
        "--data",
        str(shared_data),
        "--per-identity",
        "12",
        "--seeds",
        "0",
        "1",
        "--kinds",
        "lookalike",
        "non_face",
        "--non-face-pool",
        "40",
        "--output-dir",
        str(tmp_path),
    )
    results = json.loads((tmp_path / "noise.json").read_text())
    assert results["machine"]["logical_cpus"] >= 1
    for kind in ("lookalike", "non_face"):
        entry = results["summary"][kind]
        assert entry["n_errors"]["mean"] > 0
        for method in ("facecurator", "cleanlab_issues", "cleanlab_self_confidence"):
            ap = entry["methods"][method]["all"]["average_precision"]
            assert ap["n"] == 2 and 0.0 <= ap["mean"] <= 1.0
        assert entry["verdict"]["all"]["average_precision"]["outcome"] in ("wins", "loses", "mixed")
    assert "FaceCurator verdict" in (tmp_path / "noise.md").read_text()


def test_openset_bench_reports_each_loss_and_the_nearest_face_baseline(shared_data: Path, tmp_path: Path):
    run_bench(
        "openset.py",
        "--data",
        str(shared_data),
        "--per-identity",
        "10",
        "--lfw-people",
        "30",
        "--seeds",
        "0",
        "--losses",
        "me",
        "tsoftmax",
        "--mode",
        "head",
        "--output-dir",
        str(tmp_path),
    )
    results = json.loads((tmp_path / "openset.json").read_text())
    assert set(results["summary"]) == {"me", "tsoftmax", "nearest_face"}
    me = results["summary"]["me"]
    assert 0.0 <= me["max_total.total"]["mean"] <= 1.0
    assert me["ece_all.after"]["mean"] is not None
    assert results["summary"]["nearest_face"]["ece_all.after"]["mean"] is None
    assert "Threshold-Softmax" in (tmp_path / "openset.md").read_text()
    # each loss is scored by its own head, not by the default scorer they would share
    assert results["summary"]["me"]["ece_all.after"] != results["summary"]["tsoftmax"]["ece_all.after"]


def test_api_bench_leases_and_decides_pages_under_concurrent_annotators(tmp_path: Path):
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        pytest.skip("bench/api.py needs PostgreSQL (DATABASE_URL=postgres://...)")
    completed = run_bench(
        "api.py",
        "--faces",
        "2000",
        "--identities",
        "100",
        "--duration",
        "3",
        "--database",
        f"facecurator_bench_smoke_{os.getpid()}",
        "--output-dir",
        str(tmp_path),
    )
    results = json.loads((tmp_path / "api.json").read_text())
    load = results["load"]
    for endpoint in ("next", "decisions"):
        assert load["endpoints"][endpoint]["requests"] > 0
        assert load["endpoints"][endpoint]["errors"] == 0
        assert load["endpoints"][endpoint]["p50_ms"] > 0
    assert results["check"]["decisions"] >= load["counters"]["items_decided"]
    assert "p99 ms" in completed.stdout


def test_annotators_bench_reviews_every_face_under_each_condition_and_states_the_goals(tmp_path: Path):
    completed = run_bench(
        "annotators.py", "--faces", "40", "--faces-own", "30", "--seeds", "0", "--output-dir", str(tmp_path)
    )
    results = json.loads((tmp_path / "annotators.json").read_text())
    conditions = results["seeds"][0]["conditions"]
    assert list(conditions) == [
        "none",
        "gold + hold",
        "agreement (default)",
        "agreement (all)",
        "agreement (all, p_wrong >= 0.5)",
        "agreement (all) + gold + hold",
        "agreement (all), no model skip",
        "agreement (all), disputes with flagged to admins",
        "agreement (all), neither rule (before)",
    ]
    assert all(entry["items_left_open"] == 0 and entry["faces"] == 40 for entry in conditions.values())
    assert conditions["none"]["second_opinion_items"] == 0 and conditions["none"]["gold_items"] == 0
    assert "## Goals (issue 16)" in completed.stdout


def test_api_bench_open_loop_reports_latency_server_cpu_and_memory_with_imports_and_training(tmp_path: Path):
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        pytest.skip("bench/api.py needs PostgreSQL (DATABASE_URL=postgres://...)")
    completed = run_bench(
        "api.py",
        "--open-loop",
        "--faces",
        "2000",
        "--identities",
        "100",
        "--annotators",
        "4",
        "--think",
        "1",
        "2",
        "--warmup",
        "2",
        "--duration",
        "8",
        "--import-every",
        "3",
        "--import-size",
        "2",
        "--database",
        f"facecurator_bench_smoke_open_{os.getpid()}",
        "--output-dir",
        str(tmp_path),
        timeout=300,
    )
    results = json.loads((tmp_path / "api_open_loop.json").read_text())
    load = results["load"]
    for endpoint, ok in (("next", "200"), ("decisions", "201"), ("import", "202")):
        assert load["endpoints"][endpoint]["requests"] > 0
        assert load["endpoints"][endpoint]["statuses"] == {ok: load["endpoints"][endpoint]["requests"]}
    server = load["server"]
    assert server["web_cpu_ms_per_request"] > 0 and server["db_cpu_ms_per_request"] >= 0
    assert server["rss_mib"]["start"] > 50 and server["rss_mib"]["end"] > 50
    training = results["check"]["background"]["training"]
    assert training["state"] in ("queued", "running", "succeeded")
    # the run snapshots its faces as its task's first step (annotators may have discarded a few by then)
    if training["samples"] is None:
        assert training["state"] in ("queued", "running")
    else:
        assert (
            1900 <= training["samples"] <= results["setup"]["faces"] + results["check"]["background"]["faces_imported"]
        )
    niceness = results["check"]["niceness"]  # the workers give way to the web server, as in production
    assert niceness["workers"] == [max(10, niceness["web"])] * 2
    assert results["check"]["scheduling"] == ["SCHED_IDLE"] * 2
    # latency over the window, span by span, beside the background work: every measured request in one span
    timeline = load["timeline"]
    assert len(timeline) == 10
    assert sum(span["decisions"]["requests"] for span in timeline) <= load["endpoints"]["decisions"]["requests"]
    assert any(span["decisions"]["requests"] for span in timeline)
    assert any(span["training"] for span in timeline)
    assert "Latency over the window" in completed.stdout
    assert "web-process CPU per request" in completed.stdout


def test_demo_import_bench_times_a_new_users_import_on_the_embedded_defaults(shared_data: Path, tmp_path: Path):
    completed = run_bench("demo_import.py", "--quick", "--data", str(shared_data), "--output-dir", str(tmp_path))
    results = json.loads((tmp_path / "demo_import.json").read_text())
    assert results["config"]["database"] == "sqlite" and results["config"]["quick"]
    assert results["summary"]["totals"]["faces"] > 0
    assert all(step["state"] == "succeeded" for step in results["summary"]["jobs"].values())
    assert 0 < results["import_wall_s"] and 0 < results["import_cpu_s"]
    assert "wall" in completed.stdout and "glint24" in completed.stdout


def test_the_far_check_pools_every_seeds_unseen_test_people_of_a_regime():
    sys.path.insert(0, str(REPO_ROOT))
    from bench.openset_regimes import far_pooled

    def run(regime: str, seed: int, far_test: float, faces: int) -> dict:
        at = {"far_0.001": {"far_test": far_test}}
        return {
            "regime": regime,
            "seed": seed,
            "counts": {"test_distractor": faces},
            "methods": {"facecurator": {"at_val_threshold": at}},
        }

    runs = [
        run("lfw158", 0, 3 / 1000, 1000),
        run("lfw158", 1, 0.0, 1000),
        run("lfw158", 2, 0.0, 1000),
        run("lfw12", 0, 0.5, 10),
    ]
    pooled = far_pooled(runs, "lfw158", 0.001)
    assert (pooled["accepted"], pooled["faces"]) == (3, 3000)  # 3x at seed 0 alone, 1x pooled
    assert pooled["within_2x"] and pooled["interval"][0] < 0.001 < pooled["interval"][1]
    assert not far_pooled([runs[0]], "lfw158", 0.001)["within_2x"]


def test_a_photo_filed_under_an_unknown_person_that_shows_a_vip_is_an_error_only_where_that_vip_is_one():
    sys.path.insert(0, str(REPO_ROOT))
    import numpy as np

    from bench.regimes import Regime, true_labels

    ruckauf = "lfw/unknown/Carlos_Ruckauf/Carlos_Ruckauf_0001.jpg"  # shows Eduardo Duhalde
    abbas = "lfw/known/Mahmoud_Abbas/Mahmoud_Abbas_0012.jpg"  # shows Hamad bin Isa Al Khalifa, not a VIP

    def regime(vips: list[str]) -> Regime:
        return Regime(
            name="lfw",
            rows=np.arange(3),
            embeddings=np.zeros((3, 2), dtype=np.float32),
            person=np.array(["Carlos_Ruckauf", "Mahmoud_Abbas", "Eduardo_Duhalde"]),
            labels=np.array(
                [-1, vips.index("Mahmoud_Abbas"), vips.index("Eduardo_Duhalde") if "Eduardo_Duhalde" in vips else -1]
            ),
            splits=np.array(["train"] * 3),
            class_names=vips,
            key=np.array([ruckauf, abbas, "lfw/known/Eduardo_Duhalde/Eduardo_Duhalde_0001.jpg"]),
        )

    with_duhalde = regime(["Mahmoud_Abbas", "Eduardo_Duhalde"])
    assert list(true_labels(with_duhalde)) == [1, -1, 1]
    assert list(true_labels(regime(["Mahmoud_Abbas"]))) == [-1, -1, -1]


def test_the_cleanlab_verdict_reads_the_seed_mean_and_says_how_far_the_worst_seed_is_behind():
    sys.path.insert(0, str(REPO_ROOT))
    from bench.common import verdict_at_least, verdict_cell

    ahead_on_the_mean = verdict_at_least([1.0, 0.997, 0.99], [0.98, 1.0, 0.97])
    assert ahead_on_the_mean["mean"] and (ahead_on_the_mean["seeds_at_or_above"], ahead_on_the_mean["seeds"]) == (2, 3)
    assert ahead_on_the_mean["worst_gap"] == pytest.approx(-0.003)
    assert verdict_cell(ahead_on_the_mean) == "yes (2/3 seeds, worst -0.003)"
    assert verdict_cell(verdict_at_least([0.95, 0.96], [0.97, 0.97])) == "NO (0/2 seeds, worst -0.020)"
    assert verdict_cell(verdict_at_least([1.0], [1.0])) == "yes (1/1 seeds)"
