"""The API benchmark's load generator (a second process: ``python bench/api.py --load-generator
CONFIG.json``): annotators leasing and deciding pages, closed or open loop, and the latency
summaries of what it measured."""

from __future__ import annotations

import http.client
import json
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench import common
from bench.api_server import KEEP_ALIVE_S

ACTIONS = (("confirm", 0.85), ("relabel", 0.05), ("unknown", 0.05), ("skip", 0.05))


def generate_load(config: dict[str, Any]) -> dict[str, Any]:
    """Run the annotators' closed loops; return raw latencies per endpoint and counters."""
    port, queue, page = config["port"], config["queue"], config["page"]
    deadline_s, max_requests = config["duration_s"], config["max_requests"]
    identity_ids = config["identity_ids"]
    lock = threading.Lock()
    budget = [max_requests]
    records: list[tuple[str, float, float, int]] = []  # endpoint, start (s since the clock), latency s, status
    counters = {"items_decided": 0, "pages": 0, "empty_pages": 0, "failed_pages": 0}
    start = [0.0]
    # the clock starts when every annotator has done its warm-up page (set before anyone is released)
    warm = threading.Barrier(len(config["tokens"]) + 1, action=lambda: start.__setitem__(0, time.perf_counter()))

    def call(conn: http.client.HTTPConnection, token: str, path: str, body: dict) -> tuple[int, Any, float]:
        """One request; status 0 when the connection failed (the connection is then reopened)."""
        payload = json.dumps(body).encode()
        began = time.perf_counter()
        try:
            conn.request(
                "POST",
                path,
                body=payload,
                headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
            )
            response = conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            conn.close()  # http.client reconnects on the next request
            return 0, None, time.perf_counter() - began
        elapsed = time.perf_counter() - began
        return response.status, (json.loads(data) if data else None), elapsed

    def one_page(conn: http.client.HTTPConnection, token: str, rng: np.random.Generator, measured: bool) -> bool:
        status, items, latency = call(conn, token, f"/api/v1/review/queues/{queue}/next/", {"limit": page})
        now = time.perf_counter() - start[0]
        with lock:
            if measured:
                records.append(("next", now - latency, latency, status))
        if status != 200 or not items:
            with lock:
                counters["empty_pages" if status == 200 else "failed_pages"] += 1
            return status != 200 and measured  # an empty queue ends the run; a failed request is retried
        decisions = []
        for item in items:
            action = rng.choice([a for a, _ in ACTIONS], p=[p for _, p in ACTIONS])
            decision = {"item": item["id"], "action": str(action), "version": item["face"]["version"]}
            if action == "relabel":
                choices = [i for i in identity_ids if i != item["face"]["identity"]]
                decision["identity"] = int(rng.choice(choices))
            decisions.append(decision)
        status, _, latency = call(conn, token, "/api/v1/review/decisions/", {"decisions": decisions})
        now = time.perf_counter() - start[0]
        with lock:
            if measured:
                records.append(("decisions", now - latency, latency, status))
                counters["pages"] += 1
                if status == 201:
                    counters["items_decided"] += sum(d["action"] != "skip" for d in decisions)
        return True

    def annotator(index: int, token: str) -> None:
        rng = np.random.default_rng(1000 + index)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            one_page(conn, token, rng, measured=False)
        finally:
            warm.wait(timeout=600)
        while time.perf_counter() - start[0] < deadline_s:
            with lock:
                if budget[0] < 2:
                    break
                budget[0] -= 2
            if not one_page(conn, token, rng, measured=True):
                break
        conn.close()

    threads = [
        threading.Thread(target=annotator, args=(i, token), daemon=True) for i, token in enumerate(config["tokens"])
    ]
    for thread in threads:
        thread.start()
    warm.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start[0]
    return {"elapsed_s": elapsed, "records": records, "counters": counters, "annotators": len(threads)}


def generate_open_load(config: dict[str, Any]) -> dict[str, Any]:
    """Open loop with think time: each annotator posts the decisions of its page and leases the next
    one at times drawn in advance (every ``think`` seconds, uniform), whatever the answers took,
    so a slow server meets the same arrivals (a request that starts late is counted as late).
    An admin starts a face import of a new folder every ``import_every_s`` seconds.

    Records carry wall-clock start times; those before ``warmup_s`` are not measured."""
    port, queue, page = config["port"], config["queue"], config["page"]
    think_min, think_max = config["think_s"]
    identity_ids = config["identity_ids"]
    began = time.time()
    measure_from = began + config["warmup_s"]
    end = measure_from + config["duration_s"]
    lock = threading.Lock()
    records: list[tuple[str, float, float, int, float]] = []  # endpoint, start (epoch s), latency s, status, late s
    counters = {"items_decided": 0, "pages": 0, "empty_pages": 0, "failed_leases": 0, "imports_started": 0}

    idle_since: dict[int, float] = {}

    def call(conn: http.client.HTTPConnection, token: str, path: str, body: dict) -> tuple[int, Any, float, float]:
        # Like a browser, never reuse a connection the server may have closed meanwhile (gunicorn
        # drops one idle for --keep-alive 30 s; think times reach 40 s): open a new one instead.
        if time.monotonic() - idle_since.get(id(conn), time.monotonic()) > KEEP_ALIVE_S - 5:
            conn.close()
        payload = json.dumps(body).encode()
        started, clock = time.time(), time.perf_counter()
        try:
            conn.request(
                "POST",
                path,
                body=payload,
                headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
            )
            response = conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            conn.close()
            return 0, None, started, time.perf_counter() - clock
        latency = time.perf_counter() - clock
        idle_since[id(conn)] = time.monotonic()
        try:
            parsed = json.loads(data) if data else None
        except ValueError:
            parsed = None
        return response.status, parsed, started, latency

    def record(endpoint: str, status: int, started: float, latency: float, due: float) -> None:
        with lock:
            records.append((endpoint, started, latency, status, max(0.0, started - due)))

    def annotator(index: int, token: str) -> None:
        rng = np.random.default_rng(1000 + index)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        due = began + rng.uniform(0, think_max)  # arrivals spread over the first think time
        items: list[dict] = []
        while True:
            wait = min(due, end) - time.time()
            if wait > 0:
                time.sleep(wait)
            if time.time() >= end:
                break
            arrival_due = due  # how late an arrival starts: its first request only (the lease follows the post)
            if items:
                decisions = []
                for item in items:
                    action = str(rng.choice([a for a, _ in ACTIONS], p=[p for _, p in ACTIONS]))
                    decision = {"item": item["id"], "action": action, "version": item["face"]["version"]}
                    if action == "relabel":
                        decision["identity"] = int(
                            rng.choice([i for i in identity_ids if i != item["face"]["identity"]])
                        )
                    decisions.append(decision)
                status, _, started, latency = call(conn, token, "/api/v1/review/decisions/", {"decisions": decisions})
                record("decisions", status, started, latency, arrival_due)
                arrival_due = time.time()
                with lock:
                    counters["pages"] += 1
                    if status == 201:
                        counters["items_decided"] += sum(d["action"] != "skip" for d in decisions)
            status, body, started, latency = call(conn, token, f"/api/v1/review/queues/{queue}/next/", {"limit": page})
            record("next", status, started, latency, arrival_due)
            items = body if status == 200 and isinstance(body, list) else []
            if not items:
                with lock:
                    counters["empty_pages" if status == 200 else "failed_leases"] += 1
            due += rng.uniform(think_min, think_max)
        conn.close()

    def importer() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        due = began + config["import_every_s"] / 2
        for n, batch in enumerate(config["import_batches"]):
            wait = min(due, end) - time.time()
            if wait > 0:
                time.sleep(wait)
            if time.time() >= end:
                break
            folder = Path(config["import_root"]) / f"batch-{n:03d}"
            for identity, source in batch:
                target = folder / identity / Path(source).name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
            status, _, started, latency = call(
                conn, config["admin_token"], "/api/v1/imports/faces/", {"path": str(folder), "cropped": True}
            )
            record("import", status, started, latency, due)
            with lock:
                counters["imports_started"] += int(status == 202)
            due += config["import_every_s"]
        conn.close()

    threads = [
        threading.Thread(target=annotator, args=(i, token), daemon=True) for i, token in enumerate(config["tokens"])
    ]
    if config["import_batches"]:
        threads.append(threading.Thread(target=importer, daemon=True))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {
        "began": began,
        "measure_from": measure_from,
        "end": time.time(),
        "records": records,
        "counters": counters,
        "annotators": len(config["tokens"]),
    }


def _latency_summary(rows: list, ok: int, window: float) -> dict[str, Any]:
    latencies = np.array([r[2] for r in rows]) * 1000
    statuses: dict[str, int] = {}
    for r in rows:
        statuses[str(r[3])] = statuses.get(str(r[3]), 0) + 1
    return {
        "requests": len(rows),
        "errors": len(rows) - statuses.get(str(ok), 0),
        "statuses": statuses,
        "requests_per_s": len(rows) / window if window else None,
        **({f"p{q}_ms": float(np.percentile(latencies, q)) for q in (50, 95, 99)} if len(rows) else {}),
        "mean_ms": float(latencies.mean()) if len(rows) else None,
        "max_ms": float(latencies.max()) if len(rows) else None,
    }


def summarise_open_load(raw: dict[str, Any], samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Latencies per endpoint in the measured window; the server's CPU per request and RSS over the
    same window (from the samples inside it); the machine's busy share and load meanwhile."""
    start, end = raw["measure_from"], raw["end"]
    inside = [s for s in samples if start <= s["t"] <= end]
    if len(inside) < 2:
        raise RuntimeError(f"only {len(inside)} resource samples inside the measured window")
    first, last = inside[0], inside[-1]
    window = last["t"] - first["t"]
    measured = [r for r in raw["records"] if start <= r[1] <= end]
    out: dict[str, Any] = {"elapsed_s": end - start, "annotators": raw["annotators"], "endpoints": {}}
    for endpoint, ok in (("next", 200), ("decisions", 201), ("import", 202)):
        out["endpoints"][endpoint] = _latency_summary([r for r in measured if r[0] == endpoint], ok, end - start)
    lateness = np.array([r[4] for r in measured if r[0] != "import"])
    out["late_starts"] = {"over_1s": int((lateness > 1).sum()), "max_s": float(lateness.max()) if len(lateness) else 0}
    # CPU per request: the requests that started between the first and the last sample in the window
    served = sum(1 for r in measured if first["t"] <= r[1] <= last["t"])
    db_cpu = _cpu_delta(inside, "db_backends")
    rss = np.array([s["web_rss_mib"] for s in inside])
    minutes = np.array([(s["t"] - first["t"]) / 60 for s in inside])
    slope = float(np.polyfit(minutes, rss, 1)[0]) if len(inside) >= 3 else None
    half = len(inside) // 2
    out["server"] = {
        "window_s": window,
        "requests_in_window": served,
        "web_cpu_ms_per_request": 1000 * (last["web_cpu_s"] - first["web_cpu_s"]) / served if served else None,
        "db_cpu_ms_per_request": 1000 * db_cpu / served if served else None,
        "web_cpu_share": (last["web_cpu_s"] - first["web_cpu_s"]) / window,
        "workers_cpu_share": (last["workers_cpu_s"] - first["workers_cpu_s"]) / window,
        "machine_busy_share": (
            (last["machine_busy_jiffies"] - first["machine_busy_jiffies"])
            / max(1, last["machine_total_jiffies"] - first["machine_total_jiffies"])
        ),
        "load_average": common.spread([s["load_average"] for s in inside]),
        "rss_mib": {
            "start": float(rss[0]),
            "end": float(rss[-1]),
            "min": float(rss.min()),
            "max": float(rss.max()),
            "slope_mib_per_min": slope,
            "second_half_slope_mib_per_min": (
                float(np.polyfit(minutes[half:], rss[half:], 1)[0]) if len(inside) - half >= 3 else None
            ),
        },
        "rss_timeline": [[round(float(m), 2), round(float(r), 1)] for m, r in zip(minutes, rss, strict=True)],
        "web_processes": sorted({pid for s in inside for pid in s["web_pids"]}),
    }
    out["timeline"] = latency_timeline(measured, inside)
    out["counters"] = raw["counters"]
    out["items_decided_per_s"] = raw["counters"]["items_decided"] / (raw["end"] - raw["began"])
    return out


def _cpu_delta(samples: list[dict[str, Any]], key: str) -> float:
    """CPU seconds the processes under ``samples[i][key]`` (pid: seconds) used between the first and last
    sample; a process seen first inside counts from its first sample."""
    total = 0.0
    for pid, cpu in samples[-1].get(key, {}).items():
        seen = [s[key][pid] for s in samples if pid in s.get(key, {})]
        total += cpu - seen[0]
    return total


def latency_timeline(measured: list, samples: list[dict[str, Any]], segments: int = 10) -> list[dict[str, Any]]:
    """The window cut into ``segments`` equal spans: per span, the latency of leases and decision posts
    beside what else used the cores (the workers, PostgreSQL's other processes: the workers' connections,
    autovacuum, checkpoints), what autovacuum worked on and where the training run was. It shows whether a
    tail comes with one phase of the background work or grows with the run."""
    start, end = samples[0]["t"], samples[-1]["t"]
    span = (end - start) / segments
    rows = []
    for i in range(segments):
        lo, hi = start + i * span, start + (i + 1) * span
        inside = [s for s in samples if lo <= s["t"] <= hi]
        row: dict[str, Any] = {"from_min": (lo - start) / 60, "to_min": (hi - start) / 60}
        for endpoint in ("next", "decisions"):
            ms = np.array([r[2] for r in measured if r[0] == endpoint and lo <= r[1] < hi]) * 1000
            row[endpoint] = (
                {"requests": len(ms), "p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95))}
                if len(ms)
                else {"requests": 0}
            )
        if len(inside) >= 2:
            seconds = inside[-1]["t"] - inside[0]["t"]
            row["workers_cpu_share"] = (inside[-1]["workers_cpu_s"] - inside[0]["workers_cpu_s"]) / seconds
            row["other_postgres_cpu_share"] = _cpu_delta(inside, "other_postgres") / seconds
            row["machine_busy_share"] = (inside[-1]["machine_busy_jiffies"] - inside[0]["machine_busy_jiffies"]) / max(
                1, inside[-1]["machine_total_jiffies"] - inside[0]["machine_total_jiffies"]
            )
        row["autovacuum"] = sorted({v for s in inside for v in s.get("autovacuum", [])})
        training = [s["training"] for s in inside if s.get("training")]
        row["training"] = training[-1] if training else None
        rows.append(row)
    return rows


def summarise_load(raw: dict[str, Any]) -> dict[str, Any]:
    elapsed = raw["elapsed_s"]
    out: dict[str, Any] = {"elapsed_s": elapsed, "annotators": raw["annotators"], "endpoints": {}}
    for endpoint in ("next", "decisions"):
        rows = [r for r in raw["records"] if r[0] == endpoint]
        ok = {"next": 200, "decisions": 201}[endpoint]
        out["endpoints"][endpoint] = _latency_summary(rows, ok, elapsed)
    total = sum(e["requests"] for e in out["endpoints"].values())
    out["requests_per_s"] = total / elapsed if elapsed else None
    out["items_decided_per_s"] = raw["counters"]["items_decided"] / elapsed if elapsed else None
    out["counters"] = raw["counters"]
    return out
