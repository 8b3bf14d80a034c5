"""The benchmarks' embedding cache: SFace embeddings of image files, computed once and cached in
``bench/.cache/`` (ignored by git), keyed by a hash of the file list; embeddings already cached
under another list are reused, so a ``--quick`` subset costs nothing after a full run (and the
reverse).

Three recipes: ``aligned`` (112x112 ArcFace crops such as glint24: embed as they are), ``detect``
(loose photos such as LFW: YuNet, the most prominent face, ArcFace alignment; the aligned crop is
kept as a JPEG for finetune mode) and arrays (:func:`embed_arrays`, non-face crops made on the fly).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from bench import common

_WORKER: dict[str, Any] = {}


def _worker_init() -> None:
    import cv2

    cv2.setNumThreads(1)
    from ml.embedders import SFaceEmbedder

    _WORKER["embedder"] = SFaceEmbedder(threads=1)  # one thread per pool process


def _detector() -> Any:
    if "detector" not in _WORKER:
        from ml.detectors import YuNetDetector

        _WORKER["detector"] = YuNetDetector(threads=1)
    return _WORKER["detector"]


def _embed_aligned_file(path: str) -> np.ndarray | None:
    from ml.images import load_image

    try:
        crop = load_image(Path(path))
    except Exception:  # noqa: BLE001 - an unreadable file is reported as missing, not fatal
        return None
    return _WORKER["embedder"].embed_aligned([crop])[0]


def _embed_detected_file(job: tuple[str, str]) -> np.ndarray | None:
    """Detect the most prominent face of a loose photo, align it, keep the crop, embed it."""
    from ml.alignment import align_face
    from ml.hints import most_prominent_face
    from ml.images import encode_jpeg, load_image

    path, crop_path = job
    try:
        image = load_image(Path(path))
    except Exception:  # noqa: BLE001 - an unreadable image has no face, as one without a detection
        return None
    found = _detector().detect(image)
    if not found:
        return None
    best = found[most_prominent_face(np.array([d.box for d in found]), image.shape)]
    crop = align_face(image, best.landmarks, 112)
    target = Path(crop_path)
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        target.write_bytes(encode_jpeg(crop, quality=95))
    return _WORKER["embedder"].embed_aligned([crop])[0]


def _embed_array(crop: np.ndarray) -> np.ndarray:
    return _WORKER["embedder"].embed_aligned([crop])[0]


def _map(function: Callable[[Any], Any], jobs: list[Any], workers: int, label: str) -> list[Any]:
    """``function`` over ``jobs`` in ``workers`` processes (in order), with progress on stderr."""
    if not jobs:
        return []
    started = time.perf_counter()
    out: list[Any] = []
    if workers <= 1:
        _worker_init()
        iterator: Iterable[Any] = map(function, jobs)
        pool = None
    else:
        # spawn, not fork: a fork of a process whose torch/BLAS thread pools are running can deadlock
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"), initializer=_worker_init)
        iterator = pool.map(function, jobs, chunksize=16)
    try:
        for i, value in enumerate(iterator, 1):
            out.append(value)
            if i % 500 == 0 or i == len(jobs):
                rate = i / max(time.perf_counter() - started, 1e-9)
                common.log(f"{label}: {i}/{len(jobs)} embedded ({rate:.1f}/s)")
    finally:
        if pool is not None:
            pool.shutdown()
    return out


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, int(os.environ.get("FACECURATOR_BENCH_WORKERS", os.cpu_count() or 1))))


def _file_key(paths: Sequence[Path], root: Path, recipe: str) -> str:
    digest = hashlib.sha256(f"{recipe}\n".encode())
    for path in paths:
        stat = path.stat()
        digest.update(f"{path.relative_to(root)}\t{stat.st_size}\n".encode())
    return digest.hexdigest()[:16]


def _cached_vectors(prefix: str) -> dict[str, np.ndarray | None]:
    """Every embedding cached under ``prefix-*.npz``: {relative path: vector, or None when no face}."""
    known: dict[str, np.ndarray | None] = {}
    for cache in sorted(common.CACHE_DIR.glob(f"{prefix}-*.npz")):
        try:
            with np.load(cache, allow_pickle=False) as stored:
                for rel, vector, ok in zip(stored["paths"], stored["embeddings"], stored["ok"], strict=True):
                    known[str(rel)] = vector.copy() if ok else None
        except (OSError, ValueError, KeyError):
            continue
    return known


def ensure_cache_dir() -> None:
    common.CACHE_DIR.mkdir(parents=True, exist_ok=True)
    ignore = common.CACHE_DIR / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# benchmark embedding cache: never committed\n*\n")


def embed_files(
    paths: Sequence[Path], *, root: Path, recipe: str = "aligned", workers: int | None = None, label: str = "embedding"
) -> tuple[np.ndarray, np.ndarray]:
    """SFace embeddings (N x 128 float32, unit rows) of image files below ``root`` and a mask of those
    that gave a face (``detect`` may find none; ``aligned`` fails only on unreadable files).

    Cached in ``bench/.cache/<recipe>-<model>-<hash of the relative paths and sizes>.npz``; vectors
    already cached under another file list of the same recipe are reused, only the rest is computed.
    ``detect`` also keeps each aligned crop under ``bench/.cache/aligned/<relative path>.jpg``
    (see :func:`aligned_crop_path`).
    """
    from ml.embedders import SFaceEmbedder

    paths = [Path(p) for p in paths]
    prefix = f"{recipe}-{SFaceEmbedder.name}"
    key = _file_key(paths, root, recipe)
    cache = common.CACHE_DIR / f"{prefix}-{key}.npz"
    rels = [str(p.relative_to(root)) for p in paths]
    if cache.exists():
        with np.load(cache, allow_pickle=False) as stored:
            if list(map(str, stored["paths"])) == rels:
                return stored["embeddings"].astype(np.float32), stored["ok"].astype(bool)
    known = _cached_vectors(prefix)
    missing = [i for i, rel in enumerate(rels) if rel not in known]
    if missing:
        common.log(
            f"{label}: {len(paths) - len(missing)} of {len(paths)} cached, embedding {len(missing)} "
            f"with {workers or default_workers()} processes"
        )
        if recipe == "aligned":
            vectors = _map(_embed_aligned_file, [str(paths[i]) for i in missing], workers or default_workers(), label)
        elif recipe == "detect":
            jobs = [(str(paths[i]), str(aligned_crop_path(rels[i]))) for i in missing]
            vectors = _map(_embed_detected_file, jobs, workers or default_workers(), label)
        else:
            raise ValueError(f"unknown recipe {recipe!r}")
        for i, vector in zip(missing, vectors, strict=True):
            known[rels[i]] = vector
    embeddings = np.zeros((len(paths), SFaceEmbedder.embedding_dim), dtype=np.float32)
    ok = np.zeros(len(paths), dtype=bool)
    for i, rel in enumerate(rels):
        vector = known[rel]
        if vector is not None:
            embeddings[i], ok[i] = vector, True
    ensure_cache_dir()
    partial = cache.with_name(cache.name + ".tmp.npz")
    np.savez(partial, paths=np.array(rels), embeddings=embeddings, ok=ok)
    os.replace(partial, cache)
    return embeddings, ok


def aligned_crop_path(relative: str) -> Path:
    """Where :func:`embed_files` (``detect``) keeps the aligned crop of a loose photo."""
    return common.CACHE_DIR / "aligned" / f"{relative}.jpg"


def embed_arrays(crops: Sequence[np.ndarray], *, cache_name: str, workers: int | None = None) -> np.ndarray:
    """SFace embeddings of in-memory RGB crops, cached in ``bench/.cache/arrays-<cache_name>.npz``
    (the name must say everything the crops depend on, e.g. their recipe, count and seed)."""
    cache = common.CACHE_DIR / f"arrays-{cache_name}.npz"
    if cache.exists():
        with np.load(cache, allow_pickle=False) as stored:
            if len(stored["embeddings"]) == len(crops):
                return stored["embeddings"].astype(np.float32)
    vectors = np.stack(_map(_embed_array, list(crops), workers or default_workers(), cache_name)).astype(np.float32)
    ensure_cache_dir()
    partial = cache.with_name(cache.name + ".tmp.npz")
    np.savez(partial, embeddings=vectors)
    os.replace(partial, cache)
    return vectors
