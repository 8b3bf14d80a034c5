"""Shared helpers of the benchmarks: where things are, what machine ran it, writing results,
processes read from /proc, image folders (the embedding cache is ``bench/embedding_cache.py``).

* :func:`machine_info` / :func:`machine_line`: CPU, memory, GPU (or its absence), load, commit.
* :func:`write_results`: ``bench/results/<name>.json`` and ``.md``, each written atomically.

Benchmarks import this module as ``from bench import common`` with the repository on ``sys.path``
(each script puts it there), never Django.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
BENCH_DIR = REPO / "bench"
RESULTS_DIR = BENCH_DIR / "results"
CACHE_DIR = Path(os.environ.get("FACECURATOR_BENCH_CACHE", BENCH_DIR / ".cache"))
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}


# --------------------------------------------------------------------------------------------
# Where the data is, what machine this is
# --------------------------------------------------------------------------------------------
#: The losses the benchmarks compare, in the order their tables list them (names in ml.losses).
LOSS_ORDER = ("ce", "dce", "zlog", "me", "arcface", "tsoftmax")


def shared_data_dir(explicit: str | Path | None = None) -> Path:
    """``explicit``, else ``FACECURATOR_SHARED_DATA``, else ``../shared/data`` beside the repository."""
    if explicit:
        return Path(explicit)
    configured = os.environ.get("FACECURATOR_SHARED_DATA")
    return Path(configured) if configured else REPO.parent / "shared" / "data"


def setup_django(*, media: Path, sqlite_file: Path, database: str) -> None:
    """Django for a benchmark of its own: media in a scratch folder and a throwaway database
    (``sqlite_file`` on SQLite, ``database`` as the test-database name on PostgreSQL)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    os.environ.setdefault("DJANGO_DEBUG", "1")
    os.environ["MEDIA_ROOT"] = str(media)
    import django
    from django.conf import settings

    django.setup()
    test = settings.DATABASES["default"].setdefault("TEST", {})
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        test["NAME"] = str(sqlite_file)
    else:
        test["NAME"] = database


@contextlib.contextmanager
def scratch_django(name: str) -> Iterator[Path]:
    """Django on a throwaway database and media folder for one benchmark; both removed afterwards."""
    scratch = Path(tempfile.mkdtemp(prefix=f"facecurator-bench-{name}-"))
    setup_django(
        media=scratch / "media",
        sqlite_file=scratch / "bench.sqlite3",
        database=f"facecurator_bench_{name}_{os.getpid()}",
    )
    from django.db import connection

    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        yield scratch
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0, keepdb=False)
        shutil.rmtree(scratch, ignore_errors=True)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=10
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


_THREAD_LIMIT: list[Any] = []


def configure_threads() -> int:
    """Threads for torch and the BLAS/OpenMP pools (numpy, scikit-learn) on a CPU:
    ``FACECURATOR_BENCH_THREADS``, default 1. Returns the number set.

    Measured on this machine (2 cores shared with other work, load ~8): a head training job took
    9.5 s with torch's default 2 threads and 1.1 s with 1, and a 5-fold logistic regression 9.2 s
    with OpenBLAS's 2 threads and 0.35 s with 1: small products spend their time waiting for the
    busy second core. A GPU machine keeps torch's default.
    """
    import torch
    from threadpoolctl import threadpool_limits

    threads = max(1, int(os.environ.get("FACECURATOR_BENCH_THREADS", "1")))
    if not torch.cuda.is_available():
        torch.set_num_threads(threads)
    _THREAD_LIMIT.append(threadpool_limits(threads))  # kept alive: the limit holds for the process
    return threads


def machine_info() -> dict[str, Any]:
    """The machine and device a result was measured on (the GPU is named, or its absence said)."""
    info: dict[str, Any] = {
        "host": socket.gethostname(),
        "cpu": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "commit": _git_commit(),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    try:
        import torch

        info["torch"] = torch.__version__
        cuda = torch.cuda.is_available()
        info["gpu"] = torch.cuda.get_device_name(0) if cuda else None
        info["device"] = "cuda" if cuda else "cpu"
        if _THREAD_LIMIT:  # set by configure_threads()
            info["torch_threads"] = torch.get_num_threads()
            info["blas_threads_limit"] = int(os.environ.get("FACECURATOR_BENCH_THREADS", "1"))
    except ImportError:  # pragma: no cover - torch is a runtime dependency
        info.update(gpu=None, device="cpu")
    return info


def regimes_heading(title: str, results: dict[str, Any]) -> list[str]:
    """A regimes table's opening lines: title, machine, seeds, quick or not, wall time."""
    cfg = results["config"]
    return [
        f"# {title}",
        "",
        f"Machine: {machine_line(results['machine'])}. Seeds {cfg['seeds']}; mean ± std. "
        f"{'Quick run: indicative only. ' if cfg['quick'] else ''}Wall time {results['wall_s']:.0f} s.",
        "",
    ]


def machine_line(info: dict[str, Any]) -> str:
    """One line for a results header: CPU, cores, memory, GPU or "no GPU", load when it started."""
    gpu = f"GPU {info['gpu']}" if info.get("gpu") else "no GPU (CPU only)"
    load = info.get("load_average") or ["?"]
    threads = f", {info['torch_threads']} compute thread(s) per process" if info.get("torch_threads") else ""
    return (
        f"{info.get('cpu')}, {info.get('logical_cpus')} logical CPUs{threads}, {info.get('memory_gib')} GiB RAM, {gpu}; "
        f"load average {load[0]} at start (shared machine); commit {info.get('commit')}"
    )


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------
def json_ready(value: Any) -> Any:
    """Numpy to Python, tuples to lists, NaN/inf to None, recursively."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_ready(value.tolist())
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    return value


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(text)
    os.replace(partial, path)


def write_results(
    name: str, results: dict[str, Any], markdown: str, *, out_dir: Path | None = None
) -> tuple[Path, Path]:
    """Write ``<out_dir>/<name>.json`` and ``<name>.md`` (default ``bench/results/``); returns both paths."""
    folder = Path(out_dir) if out_dir else RESULTS_DIR
    json_path, md_path = folder / f"{name}.json", folder / f"{name}.md"
    _atomic_write(json_path, json.dumps(json_ready(results), indent=1, allow_nan=False) + "\n")
    _atomic_write(md_path, markdown.rstrip() + "\n")
    return json_path, md_path


def md_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, align: str | None = None) -> str:
    """A GitHub markdown table; ``align`` is one letter per column (l or r, default: l then r)."""
    align = align or "l" + "r" * (len(headers) - 1)
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def dig(entry: dict[str, Any] | None, *path: str) -> Any:
    """``entry[path[0]][path[1]]...``, or None where a level is missing."""
    for key in path:
        if entry is None:
            return None
        entry = entry.get(key)
    return entry


def spread(values: Iterable[float | None]) -> dict[str, Any]:
    """Mean, standard deviation (sample; 0 for one value), min, max and the values, ignoring None/NaN."""
    kept = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not kept:
        return {"mean": None, "std": None, "min": None, "max": None, "n": 0, "values": []}
    return {
        "mean": statistics.fmean(kept),
        "std": statistics.stdev(kept) if len(kept) > 1 else 0.0,
        "min": min(kept),
        "max": max(kept),
        "n": len(kept),
        "values": kept,
    }


def fmt(summary: dict[str, Any] | float | None, digits: int = 3) -> str:
    """``mean ± std`` of a :func:`spread` (or one number); an em dash when undefined."""
    if summary is None:
        return "—"
    if isinstance(summary, dict):
        if summary.get("mean") is None:
            return "—"
        if summary.get("n", 1) > 1:
            return f"{summary['mean']:.{digits}f} ± {summary['std']:.{digits}f}"
        return f"{summary['mean']:.{digits}f}"
    return f"{summary:.{digits}f}" if math.isfinite(summary) else "—"


class Stopwatch:
    """Wall and process CPU seconds of a ``with`` block."""

    def __enter__(self) -> Stopwatch:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu


def verdict_at_least(ours: Sequence[float | None], baseline: Sequence[float | None]) -> dict[str, Any]:
    """Is a number at least the baseline's, over the seeds: on the mean over seeds (the committed
    table's number), in how many seeds, and by how much it is behind in its worst seed (negative:
    behind). Issue 14's 2(a) (recognition against the nearest face) and 2(b) (AP against cleanlab)."""
    mine = np.array([a or 0.0 for a in ours])
    theirs = np.array([a or 0.0 for a in baseline])
    gaps = mine - theirs
    return {
        "mean": bool(mine.mean() >= theirs.mean() - 1e-9),
        "seeds_at_or_above": int(np.sum(gaps >= -1e-9)),
        "seeds": len(gaps),
        "worst_gap": float(gaps.min()),
    }


def verdict_cell(v: dict[str, Any] | None, digits: int = 3) -> str:
    """A :func:`verdict_at_least` as a table cell: "yes (5/5 seeds)", or with the worst seed's gap where
    one is behind: "yes (4/5 seeds, worst -0.002)"."""
    if not v:
        return "—"
    seeds = f"{v['seeds_at_or_above']}/{v['seeds']} seeds"
    if v["seeds_at_or_above"] < v["seeds"]:
        seeds += f", worst {v['worst_gap']:+.{digits}f}"
    return f"{'yes' if v['mean'] else 'NO'} ({seeds})"


def log(message: str) -> None:
    """Progress on stderr (stdout carries the results table)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Processes, read from /proc (Linux): what a server costs while a benchmark loads it
# --------------------------------------------------------------------------------------------
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def proc_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds a process has used so far (None when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS  # utime, stime (fields 14, 15 of stat)


def proc_rss_mib(pid: int) -> float | None:
    """Resident memory of a process in MiB (None when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def proc_children(pid: int) -> list[int]:
    """Direct children of a process (e.g. a gunicorn arbiter's workers)."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            children.append(int(entry.name))
    return sorted(children)


def machine_cpu_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat: the machine's load in a window."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return sum(values) - idle, sum(values)


# --------------------------------------------------------------------------------------------
# Image folders
# --------------------------------------------------------------------------------------------
def image_folder(root: Path) -> dict[str, list[Path]]:
    """``root/<identity>/<image>`` as {identity: sorted image paths}, identities sorted."""
    if not root.is_dir():
        raise FileNotFoundError(f"no image folder at {root}")
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    return {
        folder.name: sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) for folder in folders
    }


def seeded_order(names: Sequence[str], seed: int) -> list[str]:
    """``names`` in a seeded random order (the same for the same names and seed on every machine)."""
    ordered = sorted(names)
    return [ordered[i] for i in np.random.default_rng(seed).permutation(len(ordered))]


def identity_overlap(data: Path) -> set[str]:
    """People (``First_Last``) that appear in more than one source (``identity_overlap.csv``)."""
    path = data / "identity_overlap.csv"
    if not path.exists():
        return set()
    import csv

    with path.open(newline="") as handle:
        return {row["person"].strip() for row in csv.DictReader(handle) if row.get("person")}
