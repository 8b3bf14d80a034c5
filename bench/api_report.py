"""The API benchmark's report (``bench/api.py``): the markdown tables of a closed-loop run (latency per
endpoint, throughput, setup times) and of an open-loop run (latency, server CPU per request, memory over
the window, what the workers got done)."""

from __future__ import annotations

from typing import Any

from bench import common


def markdown(results: dict[str, Any]) -> str:
    cfg, setup, load = results["config"], results["setup"], results["load"]
    lines = [
        "# Review API under load",
        "",
        f"Machine: {common.machine_line(results['machine'])}. PostgreSQL {results['postgres']} on the same machine.",
        f"Database `{cfg['database']}`: {setup['faces']:,} faces, {setup['identities']:,} identities; review queue "
        f"of {setup['queue_items']:,} items (chunk of {cfg['promote']} promoted identities). Server: gunicorn, "
        f"{cfg['workers']} gthread worker process × {cfg['threads']} threads, debug off, 127.0.0.1. Load: "
        f"{load['annotators']} annotators (threads in a second process), closed loop without think time, pages of "
        f"{cfg['page']} items, {load['elapsed_s']:.1f} s measured after one warm-up page each. "
        f"{'Quick run: indicative only. ' if cfg['quick'] else ''}",
        "",
    ]
    rows = []
    names = {"next": "lease a page (`POST queues/{id}/next/`)", "decisions": "post a page of decisions"}
    for endpoint, e in load["endpoints"].items():
        rows.append(
            [
                names[endpoint],
                f"{e['requests']:,}",
                f"{e['requests_per_s']:.1f}",
                *(
                    "—" if e.get(k) is None else f"{e[k]:.0f}"
                    for k in ("p50_ms", "p95_ms", "p99_ms", "mean_ms", "max_ms")
                ),
                f"{e['errors']}",
            ]
        )
    lines.append(
        common.md_table(
            ["endpoint", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "mean ms", "max ms", "errors"], rows
        )
    )
    t = setup["timings"]
    lines += [
        "",
        f"All requests: {load['requests_per_s']:.1f} req/s; {load['items_decided_per_s']:.0f} items decided per "
        f"second ({load['counters']['items_decided']:,} in all). Setup: migrate {t['migrate_s']:.0f} s, "
        f"{setup['faces']:,} faces written in {t['insert_s']:.0f} s (COPY), chunk promotion with its queue "
        f"{t['promote_and_queue_s']:.0f} s. Checked afterwards in the database: {results['check']['decisions']:,} "
        f"decisions and {results['check']['label_events']:,} label events written.",
    ]
    return "\n".join(lines)


def training_sentence(training: dict[str, Any]) -> str:
    samples = training.get("samples")
    if samples is None:
        return f"and a training run started in setup is in a second worker (state {training['state']}, its faces not yet counted)."
    return f"and a training run on all {samples:,} faces trains in a second worker."


def open_markdown(results: dict[str, Any]) -> str:
    cfg, setup, load, check = results["config"], results["setup"], results["load"], results["check"]
    server, rss = load["server"], load["server"]["rss_mib"]
    background = check["background"]
    training = background.get("training")
    minutes = cfg["duration_s"] / 60
    lines = [
        "# Review API held under load: open loop with think time",
        "",
        f"Machine: {common.machine_line(results['machine'])}. PostgreSQL {results['postgres']} on the same machine"
        + (
            f"; its autovacuum is off, so the bench vacuumed the tables the load writes every 60 s in its place "
            f"({len(results['vacuum_stand_in_s'])} passes, {sum(results['vacuum_stand_in_s']):.0f} s in all)."
            if results.get("vacuum_stand_in_s") is not None
            else "."
        ),
        f"Database `{cfg['database']}`: {setup['faces']:,} faces, {setup['identities']:,} identities; review queue "
        f"of {setup['queue_items']:,} items (chunk of {cfg['promote']} promoted identities). Server: gunicorn, "
        f"{cfg['workers']} gthread worker process × {cfg['threads']} threads, debug off, production write throttle. "
        f"Load: {cfg['annotators']} annotators, each posting the decisions on its page and leasing the next page of "
        f"{cfg['page']} every {cfg['think_s'][0]:.0f}-{cfg['think_s'][1]:.0f} s (uniform; arrivals drawn in advance, "
        f"open loop), {minutes:.1f} min measured after a {cfg['warmup_s']:.0f} s warm-up. Meanwhile "
        + (
            f"an admin imports {cfg['import_size']} glint24 crops every {cfg['import_every_s']:.0f} s (SFace in a "
            f"Celery worker) "
            if cfg["import_every_s"]
            else "no imports "
        )
        + (training_sentence(training) if training else "and no training run.")
        + (" Quick run: indicative only." if cfg["quick"] else ""),
        "",
    ]
    rows = []
    names = {
        "next": "lease a page (`POST queues/{id}/next/`)",
        "decisions": "post a page of decisions",
        "import": "start an import (admin)",
    }
    for endpoint, e in load["endpoints"].items():
        if not e["requests"]:
            continue
        rows.append(
            [
                names[endpoint],
                f"{e['requests']:,}",
                f"{e['requests_per_s']:.2f}",
                *("—" if e.get(k) is None else f"{e[k]:.0f}" for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms")),
                f"{e['errors']}",
            ]
        )
    lines.append(
        common.md_table(["endpoint", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "errors"], rows)
    )
    load_avg = server["load_average"]
    lines += [
        "",
        f"Server cost: **{server['web_cpu_ms_per_request']:.1f} ms of web-process CPU per request** and "
        f"{server['db_cpu_ms_per_request']:.1f} ms of PostgreSQL CPU (the backends of the server's connections), "
        f"over the {server['requests_in_window']:,} requests of the measured window; the web process used "
        f"{server['web_cpu_share']:.0%} of one core, the Celery workers {server['workers_cpu_share']:.0%}.",
        f"Web process memory (RSS): {rss['start']:.0f} MiB at the start of the window, {rss['end']:.0f} MiB at the "
        f"end (min {rss['min']:.0f}, max {rss['max']:.0f}; trend {rss['slope_mib_per_min']:+.2f} MiB/min over the "
        f"window"
        + (
            f", {rss['second_half_slope_mib_per_min']:+.2f} MiB/min over its second half"
            if rss.get("second_half_slope_mib_per_min") is not None
            else ""
        )
        + ").",
        f"Machine load meanwhile: all CPUs {server['machine_busy_share']:.0%} busy, load average "
        f"{load_avg['mean']:.1f} (min {load_avg['min']:.1f}, max {load_avg['max']:.1f}) on {results['machine'].get('logical_cpus')} "
        f"logical CPUs shared with other work. Annotator arrivals that started more than 1 s after their planned "
        f"time (the server kept them waiting past it): {load['late_starts']['over_1s']} (latest "
        f"{load['late_starts']['max_s']:.1f} s).",
        f"Background work done: import jobs {background['import_jobs'] or 'none'}, {background['faces_imported']:,} "
        f"faces imported"
        + (
            f"; training run {training['state']} at {training['progress']:.0%} ({training['message'] or 'no message'})"
            + (f", error: {training['error']}" if training["error"] else "")
            if training
            else ""
        )
        + "."
        + (
            f" Workers at niceness {', '.join(map(str, check['niceness']['workers'])) or '—'}, the web server at "
            f"{check['niceness']['web']} (as in production: `FACECURATOR_WORKER_NICENESS`)"
            + (
                f"; workers' scheduling class {', '.join(check['scheduling'])} (`FACECURATOR_WORKER_IDLE_CLASS`)."
                if "scheduling" in check
                else "."
            )
            if "niceness" in check
            else ""
        ),
        f"Decided {load['counters']['items_decided']:,} items in {load['counters']['pages']:,} pages "
        f"({load['counters']['empty_pages']} empty pages). Setup: {setup['faces']:,} faces written in "
        f"{setup['timings']['insert_s']:.0f} s (COPY), chunk promotion with its queue "
        f"{setup['timings']['promote_and_queue_s']:.0f} s"
        + (
            f", training run start (its snapshot of every face) {setup['timings']['training_run_start_s']:.0f} s"
            if "training_run_start_s" in setup["timings"]
            else ""
        )
        + f". Checked afterwards in the database: {check['decisions']:,} decisions and {check['label_events']:,} label "
        f"events written.",
    ]
    timeline = server["rss_timeline"]
    if len(timeline) > 2:
        step = max(1, len(timeline) // 10)
        picked = timeline[::step] + ([timeline[-1]] if (len(timeline) - 1) % step else [])
        lines += [
            "",
            "RSS of the web process over the window:",
            "",
            common.md_table(["minute", *(f"{m:.1f}" for m, _ in picked)], [["MiB", *(f"{r:.0f}" for _, r in picked)]]),
        ]
    if load.get("timeline"):
        lines += ["", "Latency over the window, beside what else used the cores:", "", timeline_table(load["timeline"])]
    return "\n".join(lines)


def timeline_table(timeline: list[dict[str, Any]]) -> str:
    def latency(entry: dict[str, Any]) -> str:
        return f"{entry['p50_ms']:.0f} / {entry['p95_ms']:.0f}" if entry.get("requests") else "—"

    def share(row: dict[str, Any], key: str) -> str:
        return f"{row[key]:.0%}" if key in row else "—"

    rows = [
        [
            f"{row['from_min']:.1f}-{row['to_min']:.1f}",
            latency(row["next"]),
            latency(row["decisions"]),
            share(row, "workers_cpu_share"),
            share(row, "other_postgres_cpu_share"),
            share(row, "machine_busy_share"),
            ", ".join(row["autovacuum"]) or "—",
            f"{row['training'][0]:.0%} {row['training'][1]}" if row.get("training") else "—",
        ]
        for row in timeline
    ]
    return common.md_table(
        [
            "minutes",
            "lease p50 / p95 ms",
            "decide p50 / p95 ms",
            "workers CPU",
            "other PostgreSQL CPU",
            "all CPUs busy",
            "autovacuum",
            "training run",
        ],
        rows,
        align="lrrrrrll",
    )
