"""What one lease and one page of decisions cost the web process: CPU and queries, in process.

The world of ``api.py`` (its own PostgreSQL database, faces written with COPY, a VIP chunk promoted with
its verification queue, annotator tokens), then ``--pages`` pages of 40 taken through Django's test
client as one annotator does (``POST queues/{id}/next/``, then a decision for each item with the load
generator's mix: 85% confirm, 5% relabel, 5% unknown, 5% skip), debug off, one persistent connection.
Measured per request: CPU seconds of this process (``time.process_time``: Python, Django, DRF and the
database driver; PostgreSQL's own work is in its backend, not here), wall time, and the queries of the
first pages (counted in a pass of their own: counting costs CPU too). ``--profile N`` then decides as
many pages again under cProfile and prints its top N functions for the decision posts.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/facecurator python bench/api_cost.py [--faces 1000000]
    ... --keep-db, then --reuse: measure again on the same world (each run decides new pages)
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if sys.path[0] == str(Path(__file__).resolve().parent):
    sys.path[0] = str(REPO)  # never let bench/*.py shadow a module
elif str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from bench import common  # noqa: E402
from bench.api_load import ACTIONS  # noqa: E402
from bench.api_world import DEFAULT_DATABASE_URL, bench_database_url, populate, recreate_database  # noqa: E402

COUNTED_PAGES = 3


def decisions_for(items: list[dict], *, rng: np.random.Generator, identity_ids: list[int]) -> list[dict]:
    """The load generator's mix of actions over a leased page."""
    decisions = []
    for item in items:
        action = str(rng.choice([a for a, _ in ACTIONS], p=[p for _, p in ACTIONS]))
        decision = {"item": item["id"], "action": action, "version": item["face"]["version"]}
        if action == "relabel":
            decision["identity"] = int(rng.choice([i for i in identity_ids if i != item["face"]["identity"]]))
        decisions.append(decision)
    return decisions


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=200_000)
    parser.add_argument("--identities", type=int, default=2000)
    parser.add_argument("--promote", type=int, default=354, help="VIPs in the promoted chunk (the soak's 354)")
    parser.add_argument("--pages", type=int, default=30, help="measured pages (after 3 counted and 2 warm-up)")
    parser.add_argument("--page", type=int, default=40)
    parser.add_argument("--database", default="facecurator_cost")
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--reuse", action="store_true", help="the database of an earlier --keep-db run, as it is")
    parser.add_argument("--profile", type=int, metavar="N", default=0, help="print cProfile's top N functions")
    parser.add_argument("--profile-out", type=Path, help="write the profile there too (pstats format)")
    parser.add_argument("--show-queries", action="store_true", help="print the SQL of the last counted pages")
    parser.add_argument("--data", help="shared data folder (a few glint24 crops serve as every face's file)")
    args = parser.parse_args(argv)

    url = bench_database_url(os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL, args.database)
    scratch = Path(tempfile.mkdtemp(prefix="facecurator-bench-cost-"))
    os.environ.update(
        DATABASE_URL=url,
        MEDIA_ROOT=str(scratch / "media"),
        DJANGO_SETTINGS_MODULE="webapp.settings",
        DJANGO_DEBUG="0",  # as served: no query log, no debug toolbar of DRF
        SECRET_KEY="bench-api-cost-" + "x" * 40,
        ALLOWED_HOSTS="testserver",
        DATABASE_CONN_MAX_AGE="300",
        FACECURATOR_REVIEW_MAX_ITEMS="1000000",
        LOG_LEVEL="WARNING",
    )
    import django

    if not args.reuse:
        recreate_database(url)
    django.setup()
    try:
        if args.reuse:
            from django.contrib.auth import get_user_model
            from rest_framework.authtoken.models import Token

            from webapp.identities.models import Identity
            from webapp.review.models import Queue

            queue = Queue.objects.filter(chunk__isnull=False).order_by("-id").first()
            assert queue is not None, "no promoted chunk's queue in this database: run once with --keep-db"
            user = get_user_model().objects.get(username="annotator0")
            world = {
                "queue": queue.pk,
                "tokens": [Token.objects.get(user=user).key],
                "identity_ids": list(Identity.objects.order_by("popularity_rank").values_list("pk", flat=True)[:200]),
                "timings": {},
            }
        else:
            common.log(f"creating database {args.database} with {args.faces:,} faces")
            world = populate(
                faces=args.faces,
                identities=args.identities,
                promote=args.promote,
                data=common.shared_data_dir(args.data),
                media=scratch / "media",
                seed=0,
                annotators=2,
            )
        common.log(f"queue {world['queue']}; setup {world['timings']}")
        return measure(world, args)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep_db:
            recreate_database(url, drop_only=True)
        shutil.rmtree(scratch, ignore_errors=True)


def measure(world: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {world['tokens'][0]}")
    rng = np.random.default_rng(7 + os.getpid())  # each run its own mix, over new items
    profiler = cProfile.Profile(time.process_time) if args.profile else None  # CPU, not waits on PostgreSQL
    costs: dict[str, list[tuple[float, float]]] = {"next": [], "decisions": []}  # (cpu s, wall s)
    queries: dict[str, list[int]] = {"next": [], "decisions": []}
    profiled = False

    def call(endpoint: str, path: str, body: dict, *, count: bool, measured: bool) -> Any:
        cpu, wall = time.process_time(), time.perf_counter()
        if count:
            with CaptureQueriesContext(connection) as captured:
                response = client.post(path, body, format="json")
            queries[endpoint].append(len(captured))
            if args.show_queries and len(queries[endpoint]) == COUNTED_PAGES:
                print(f"--- {endpoint}: {len(captured)} queries")
                for query in captured.captured_queries:
                    print(f"{query['time']:>6} {query['sql'][:300]}")
        elif profiled and endpoint == "decisions":
            assert profiler is not None
            profiler.enable()
            response = client.post(path, body, format="json")
            profiler.disable()
        else:
            response = client.post(path, body, format="json")
        if measured and not count:
            costs[endpoint].append((time.process_time() - cpu, time.perf_counter() - wall))
        assert response.status_code in (200, 201), (path, response.status_code, response.content[:500])
        return response.json()

    timed = COUNTED_PAGES + 2 + args.pages
    for n in range(timed + (args.pages if profiler is not None else 0)):
        count, measured = n < COUNTED_PAGES, COUNTED_PAGES + 2 <= n < timed
        if n == timed:  # then as many pages again under the profiler (it slows what it watches)
            profiled = True
        items = call(
            "next",
            f"/api/v1/review/queues/{world['queue']}/next/",
            {"limit": args.page},
            count=count,
            measured=measured,
        )
        assert items, "the queue is empty"
        page = decisions_for(items, rng=rng, identity_ids=world["identity_ids"])
        call("decisions", "/api/v1/review/decisions/", {"decisions": page}, count=count, measured=measured)

    result: dict[str, Any] = {"pages": args.pages, "page": args.page}
    for endpoint, rows in costs.items():
        cpu_ms = [1000 * c for c, _ in rows]
        wall_ms = [1000 * w for _, w in rows]
        result[endpoint] = {
            "cpu_ms_median": statistics.median(cpu_ms),
            "cpu_ms_mean": statistics.fmean(cpu_ms),
            "wall_ms_median": statistics.median(wall_ms),
            "queries": queries[endpoint],
        }
        print(
            f"{endpoint:>9}: CPU {statistics.median(cpu_ms):5.1f} ms median, {statistics.fmean(cpu_ms):5.1f} mean; "
            f"wall {statistics.median(wall_ms):5.1f} ms median; queries {queries[endpoint]} "
            f"(load average {os.getloadavg()[0]:.1f})"
        )
    if profiler is not None:
        if args.profile_out:
            profiler.dump_stats(str(args.profile_out))
        for order in ("tottime", "cumulative"):
            text = io.StringIO()
            pstats.Stats(profiler, stream=text).sort_stats(order).print_stats(args.profile)
            print(text.getvalue())
    return result


if __name__ == "__main__":
    main()
