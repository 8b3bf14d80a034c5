"""Run every benchmark (``bench/*.py``), each in its own process, and collect their results.

``make bench`` runs ``python bench/run_all.py``, ``make bench-quick`` adds ``--quick``, which is
passed on to every benchmark. A benchmark listed in ``VARIANTS`` runs again with other options
(``api.py --open-loop``), as an entry of its own. Each script writes its own ``bench/results/<name>.json`` (and
usually ``<name>.md``); this one writes ``bench/results/summary.md`` and ``summary.json``: the
machine, each benchmark's status and wall time, and its markdown table (a flat listing of its
JSON numbers when it writes no table). Its output goes to ``bench/.cache/logs/<name>.log`` and
the terminal. A failed benchmark does not stop the others; the exit status says whether all passed.

    python bench/run_all.py [--quick] [--only noise api] [--skip video] [--timeout 1800]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if sys.path[0] == str(Path(__file__).resolve().parent):
    sys.path[0] = str(REPO)  # never let bench/*.py shadow a module
elif str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import common, embedding_cache  # noqa: E402

NOT_BENCHMARKS = {
    "common",
    "run_all",
    "__init__",
    "conftest",
    "regimes",
    "noise_injection",
    "noise_metrics",
    "noise_regimes",
    "openset_regimes",
    "api_world",
    "api_server",
    "api_load",
    "api_report",
    "annotators_team",
    "annotators_gold",
    "annotators_agreement",
    "annotators_report",
    "video_report",
    "video_tracking",
    "embedding_cache",
}
# Benchmarks run a second time in another mode: (results name, extra options). Each run is an entry
# of its own in the summary, with its own log and results files.
VARIANTS = {"api": [("api_open_loop", ["--open-loop"])]}
# Full runs that need more than the default timeout: the open loop seeds 1M faces and snapshots them
# for a training run (7.5 min at load 10 here) before its 6 minutes of load.
MIN_TIMEOUT_S = {"api_open_loop": 2400.0}


def discover() -> list[str]:
    """The benchmark scripts: every ``bench/*.py`` but the helpers, in name order."""
    return [
        p.stem
        for p in sorted(common.BENCH_DIR.glob("*.py"))
        if p.stem not in NOT_BENCHMARKS and not p.stem.startswith("_")
    ]


def runs(names: list[str]) -> list[tuple[str, str, list[str]]]:
    """(results name, script, extra options) for each run: every benchmark, then its variants."""
    return [(name, name, []) for name in names] + [
        (variant, name, options) for name in names for variant, options in VARIANTS.get(name, [])
    ]


def run_one(
    name: str,
    *,
    quick: bool,
    timeout: float,
    log_dir: Path,
    script: str | None = None,
    options: list[str] | None = None,
) -> dict[str, Any]:
    script = script or name
    command = [
        sys.executable,
        str(common.BENCH_DIR / f"{script}.py"),
        *(options or []),
        *(["--quick"] if quick else []),
    ]
    log_path = log_dir / f"{name}.log"
    common.log(f"--- {name}: {' '.join(command[1:])}")
    started_at = time.time()
    clock = time.perf_counter()
    timed_out = threading.Event()
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            start_new_session=True,
        )

        def stop() -> None:  # the benchmark's own process group: it and whatever it started
            timed_out.set()
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(process.pid, sig)
                except ProcessLookupError:
                    return
                time.sleep(10)

        watchdog = threading.Timer(timeout, stop)
        watchdog.daemon = True
        watchdog.start()
        assert process.stdout is not None
        try:
            for line in process.stdout:
                sys.stderr.write(f"  {name} | {line}")
                log.write(line)
        finally:
            process.wait()
            watchdog.cancel()
    wall = time.perf_counter() - clock
    others = {variant for entries in VARIANTS.values() for variant, _ in entries} - {name}
    files = sorted(
        p.name
        for p in common.RESULTS_DIR.glob(f"{name}*")
        if p.suffix in (".json", ".md") and p.stat().st_mtime >= started_at - 1 and p.stem not in others
    )
    status = (
        f"timeout after {timeout:.0f} s"
        if timed_out.is_set()
        else "ok"
        if process.returncode == 0
        else f"failed (exit {process.returncode})"
    )
    if status == "ok" and not files:
        status = "ok, but wrote no results"
    common.log(f"--- {name}: {status} in {wall:.0f} s")
    return {
        "name": name,
        "status": status,
        "returncode": process.returncode,
        "wall_s": wall,
        "files": files,
        "log": str(log_path.relative_to(REPO)) if log_path.is_relative_to(REPO) else str(log_path),
    }


def _flat_numbers(value: Any, prefix: str = "", limit: int = 40) -> list[tuple[str, Any]]:
    """(path, number) pairs of a JSON document, depth first, at most ``limit``."""
    out: list[tuple[str, Any]] = []

    def walk(node: Any, path: str) -> None:
        if len(out) >= limit:
            return
        if isinstance(node, dict):
            for key, child in node.items():
                walk(child, f"{path}.{key}" if path else str(key))
        elif isinstance(node, list):
            if len(node) <= 8:
                for i, child in enumerate(node):
                    walk(child, f"{path}[{i}]")
        elif isinstance(node, (int, float)) and not isinstance(node, bool):
            out.append((path, node))

    walk(value, prefix)
    return out


def section(entry: dict[str, Any]) -> str:
    """A benchmark's part of the summary: its markdown (headings one level down), or its JSON numbers."""
    name = entry["name"]
    lines = [f"## {name}", ""]
    tables = [common.RESULTS_DIR / f for f in entry["files"] if f.endswith(".md")]
    if tables:
        for path in tables:
            text = path.read_text().strip()
            lines.append(re.sub(r"^(#+) ", lambda m: "#" + m.group(1) + " ", text, flags=re.MULTILINE))
            lines.append("")
    else:
        documents = [common.RESULTS_DIR / f for f in entry["files"] if f.endswith(".json")]
        for path in documents:
            try:
                numbers = _flat_numbers(json.loads(path.read_text()))
            except (OSError, ValueError):
                numbers = []
            lines += [f"No markdown table; numbers from `{path.name}` (first {len(numbers)}):", ""]
            lines.append(common.md_table(["key", "value"], [[f"`{k}`", v] for k, v in numbers], align="lr"))
            lines.append("")
        if not documents:
            lines += [f"No results written ({entry['status']}); see `{entry['log']}`.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="pass --quick to every benchmark")
    parser.add_argument("--only", nargs="+", help="run only these (names without .py)")
    parser.add_argument("--skip", nargs="+", default=[], help="do not run these")
    parser.add_argument("--timeout", type=float, help="seconds per benchmark (default 1200, quick 300)")
    args = parser.parse_args(argv)
    names = [n for n in discover() if (not args.only or n in args.only) and n not in args.skip]
    unknown = sorted(set(args.only or []) - set(discover()))
    if unknown:
        raise SystemExit(f"no such benchmark: {', '.join(unknown)} (have {', '.join(discover())})")
    timeout = args.timeout or (300.0 if args.quick else 1200.0)
    machine = common.machine_info()
    log_dir = common.CACHE_DIR / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    embedding_cache.ensure_cache_dir()
    common.log(f"{'quick' if args.quick else 'full'} benchmarks: {', '.join(names)}; {common.machine_line(machine)}")
    clock = time.perf_counter()
    entries = [
        run_one(
            name,
            quick=args.quick,
            log_dir=log_dir,
            script=script,
            options=options,
            timeout=timeout if args.quick or args.timeout else max(timeout, MIN_TIMEOUT_S.get(name, 0.0)),
        )
        for name, script, options in runs(names)
    ]
    total = time.perf_counter() - clock

    mode = "quick (`make bench-quick`)" if args.quick else "full (`make bench`)"
    lines = [
        f"# Benchmark summary: {mode}",
        "",
        f"Machine: {common.machine_line(machine)}.",
        f"Started {machine['started_at']}; total wall time "
        f"{total / 60:.1f} min. Each benchmark ran in its own process{' with --quick' if args.quick else ''}.",
        "",
        common.md_table(
            ["benchmark", "status", "wall s", "results"],
            [
                [e["name"], e["status"], f"{e['wall_s']:.0f}", ", ".join(f"`{f}`" for f in e["files"]) or "—"]
                for e in entries
            ],
            align="llrl",
        ),
        "",
    ]
    lines += [section(e) for e in entries]
    summary = {
        "mode": "quick" if args.quick else "full",
        "machine": machine,
        "total_wall_s": total,
        "benchmarks": entries,
    }
    common.write_results("summary", summary, "\n".join(lines))
    print("\n".join(lines[: 8 + len(entries)]))
    failed = [e["name"] for e in entries if not e["status"].startswith("ok")]
    if failed:
        common.log(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
