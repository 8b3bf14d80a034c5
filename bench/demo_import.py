"""The whole demo set imported as a new user's `make demo DEMO_PER_IDENTITY=0` does (issue 18.4).

On the embedded defaults (SQLite, a local media folder, no broker: the import runs in the command),
in a scratch folder of its own: ``manage.py migrate``, then ``manage.py import_demo --per-identity 0
--json`` in a child process, timed from outside (wall seconds, and the child's CPU seconds from
``resource.getrusage``), with the command's own summary (faces per source, seconds per step).

    python bench/demo_import.py [--data ../shared/data] [--per-identity 0] [--output-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if sys.path[0] == str(Path(__file__).resolve().parent):
    sys.path[0] = str(REPO_ROOT)  # never let bench/*.py shadow a module
elif str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench import common  # noqa: E402

GOAL_S = 600  # issue 18.4: the whole demo set in under 10 minutes on a 2-CPU machine


def run_manage(args: list[str], env: dict[str, str]) -> tuple[str, float, float]:
    """Run ``manage.py args`` to completion; its stdout, wall seconds and CPU seconds (user + system)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    clock = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, str(REPO_ROOT / "manage.py"), *args], env=env, capture_output=True, text=True
    )
    wall = time.perf_counter() - clock
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if completed.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed ({completed.returncode}):\n{completed.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return completed.stdout, wall, cpu


def measure(data: Path, per_identity: int, *, quick: bool = False) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="facecurator-demo-bench-") as scratch:
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in ("DATABASE_URL", "CELERY_BROKER_URL", "MEDIA_ROOT", "MEDIA_STORAGE")
        }
        env.update(
            DJANGO_DEBUG="1",
            DATABASE_URL=f"sqlite:///{scratch}/db.sqlite3",
            MEDIA_ROOT=f"{scratch}/media",
            FACECURATOR_DEMO_DATA=str(data),
        )
        machine = common.machine_info()
        _, migrate_s, _ = run_manage(["migrate", "--noinput", "-v0"], env)
        out, wall, cpu = run_manage(
            ["import_demo", "--per-identity", str(per_identity), "--json", *(["--quick"] if quick else [])], env
        )
        summary = json.loads(out[out.index("{") :])
        load_end = [round(x, 2) for x in os.getloadavg()]
    return {
        "machine": machine,
        "load_average_end": load_end,
        "config": {
            "data": str(data),
            "per_identity": per_identity,
            "quick": quick,
            "database": "sqlite",
            "broker": "none",
        },
        "migrate_s": round(migrate_s, 1),
        "import_wall_s": round(wall, 1),
        "import_cpu_s": round(cpu, 1),
        "goal_s": GOAL_S,
        "summary": summary,
    }


def markdown(results: dict[str, Any]) -> str:
    totals = results["summary"]["totals"]
    per = results["config"]["per_identity"]
    wall, cpu = results["import_wall_s"], results["import_cpu_s"]
    verdict = "met" if wall < results["goal_s"] else "MISSED"
    rows = [
        [name, step["state"], f"{step['faces_created']:,}", step["errors"]]
        for name, step in results["summary"]["jobs"].items()
    ]
    return "\n".join(
        [
            "# The whole demo set imported, as `make demo DEMO_PER_IDENTITY=0` runs it",
            "",
            f"Machine: {common.machine_line(results['machine'])}; load average at the end "
            f"{results['load_average_end'][0]}.",
            "SQLite and a local media folder, no broker (the import runs in the command); "
            + (f"at most {per} images per identity" if per else "every image")
            + (" (--quick: a small subset, indicative only)." if results["config"]["quick"] else "."),
            "",
            f"**{wall:.0f} s wall** ({wall / 60:.1f} min; goal under {results['goal_s'] / 60:.0f} min: {verdict}), "
            f"{cpu:.0f} CPU s; migrate {results['migrate_s']:.0f} s before it. "
            f"{totals['faces']:,} faces ({', '.join(f'{k} {v:,}' for k, v in sorted(totals['faces_by_source'].items()))}), "
            f"{totals['identities']} identities, {totals['photos']:,} photos, {totals['videos']} videos "
            f"({totals['frames']:,} frames).",
            "",
            common.md_table(["step", "job state", "faces", "per-file errors"], rows),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="the shared data folder (default ../shared/data)")
    parser.add_argument("--per-identity", type=int, default=0, help="0: every image (default)")
    parser.add_argument("--quick", action="store_true", help="import_demo --quick: a small subset (smoke runs)")
    parser.add_argument("--output-dir", type=Path, help="where demo_import.json/.md go (default bench/results/)")
    args = parser.parse_args()
    data = common.shared_data_dir(args.data)
    common.log(f"importing the demo set from {data} (per identity: {args.per_identity or 'all'})")
    results = measure(data, args.per_identity, quick=args.quick)
    text = markdown(results)
    common.write_results("demo_import", results, text, out_dir=args.output_dir)
    print(text)


if __name__ == "__main__":
    main()
