"""A similarity index over face embeddings (faiss, inner product on unit vectors = cosine).

:class:`FaceIndex` maps int64 ids to L2-normalised float32 vectors. It starts exact (an
``IndexIDMap`` over ``IndexFlatIP``) and, once it holds more than ``ivf_threshold`` vectors, is
rebuilt as an IVF index trained on its own contents; later additions go into the trained lists.
Search runs on a GPU copy when faiss sees a GPU, on the CPU index otherwise.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import cast

import faiss
import numpy as np
from numpy.typing import ArrayLike


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see either the old file or the complete new one
    (a temporary file in the same folder, fsync, then ``os.replace``)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp", delete=False)
    try:
        with handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, target)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


def l2_normalise(vectors: ArrayLike) -> np.ndarray:
    """Rows scaled to unit length, as contiguous float32 (zero rows stay zero)."""
    x = np.asarray(vectors, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"expected a 2-D array of vectors, got shape {x.shape}")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x / np.maximum(norms, 1e-12), dtype=np.float32)


class FaceIndex:
    """Cosine-similarity search over embeddings with stable int64 ids; incremental add/remove.

    ``add`` replaces the vector of an id that is already present. Vectors are L2-normalised on
    the way in, so similarities are cosines in [-1, 1].
    """

    def __init__(self, dim: int, *, ivf_threshold: int = 50_000, nprobe: int = 16, use_gpu: bool | None = None) -> None:
        self.dim = dim
        self.ivf_threshold = ivf_threshold
        self.nprobe = nprobe
        self.use_gpu = faiss.get_num_gpus() > 0 if use_gpu is None else use_gpu
        self._index: faiss.Index = faiss.IndexIDMap(faiss.IndexFlatIP(dim))
        self._gpu_copy: faiss.Index | None = None
        self._gpu_resources: faiss.StandardGpuResources | None = None

    def __len__(self) -> int:
        return int(self._index.ntotal)

    @property
    def is_ivf(self) -> bool:
        """Whether the index has been rebuilt as an approximate IVF index."""
        return faiss.try_extract_index_ivf(self._index) is not None

    def add(self, ids: ArrayLike, vectors: ArrayLike) -> None:
        """Add (or replace) the vectors of ``ids``; switches to IVF past ``ivf_threshold`` vectors."""
        ids = np.ascontiguousarray(ids, dtype=np.int64).ravel()
        x = l2_normalise(vectors)
        if x.shape != (len(ids), self.dim):
            raise ValueError(f"expected {len(ids)} vectors of dim {self.dim}, got {x.shape}")
        if len(np.unique(ids)) != len(ids):
            raise ValueError("ids must be unique within one add")
        if len(ids) == 0:
            return
        self.remove(ids)
        self._index.add_with_ids(x, ids)
        self._gpu_copy = None
        if not self.is_ivf and len(self) > self.ivf_threshold:
            self._rebuild_as_ivf()

    def remove(self, ids: ArrayLike) -> int:
        """Remove ``ids`` (unknown ids are ignored); returns how many were removed."""
        ids = np.ascontiguousarray(ids, dtype=np.int64).ravel()
        if len(ids) == 0 or len(self) == 0:
            return 0
        removed = int(self._index.remove_ids(faiss.IDSelectorBatch(ids)))
        if removed:
            self._gpu_copy = None
        return removed

    def search(self, vectors: ArrayLike, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` most similar stored ids per query row and their cosine similarities, best first.

        Returns ``min(k, len(self))`` columns and never a -1 placeholder: IVF queries whose probed
        lists came up short are searched again over every list.
        """
        queries = l2_normalise(vectors)
        k = min(k, len(self))
        if k <= 0:
            return np.empty((len(queries), 0), dtype=np.int64), np.empty((len(queries), 0), dtype=np.float32)
        sims, ids = self._searcher().search(queries, k)
        short = np.flatnonzero((ids < 0).any(axis=1))
        if short.size:
            ivf = faiss.extract_index_ivf(self._index)
            every_list = faiss.SearchParametersIVF()
            every_list.nprobe = ivf.nlist
            sims[short], ids[short] = self._index.search(queries[short], k, params=every_list)
        return ids, sims

    def to_bytes(self) -> bytes:
        """The index serialised by faiss (for storage backends)."""
        return faiss.serialize_index(self._index).tobytes()

    @classmethod
    def from_bytes(
        cls, data: bytes, *, ivf_threshold: int = 50_000, nprobe: int = 16, use_gpu: bool | None = None
    ) -> FaceIndex:
        """An index restored from :meth:`to_bytes`."""
        restored = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
        index = cls(restored.d, ivf_threshold=ivf_threshold, nprobe=nprobe, use_gpu=use_gpu)
        index._index = restored
        return index

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the index to ``path`` atomically."""
        atomic_write_bytes(path, self.to_bytes())

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], *, ivf_threshold: int = 50_000, nprobe: int = 16, use_gpu: bool | None = None
    ) -> FaceIndex:
        """An index read from a file written by :meth:`save`."""
        return cls.from_bytes(Path(path).read_bytes(), ivf_threshold=ivf_threshold, nprobe=nprobe, use_gpu=use_gpu)

    def _contents(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids, vectors) of the exact index, for rebuilding it."""
        id_map = cast(faiss.IndexIDMap, faiss.downcast_index(self._index))  # the exact index built in __init__
        flat = faiss.downcast_index(id_map.index)
        return faiss.vector_to_array(id_map.id_map).astype(np.int64), flat.reconstruct_n(0, len(self))

    def _rebuild_as_ivf(self) -> None:
        ids, vectors = self._contents()
        ivf_index = trained_ivf(vectors, nprobe=self.nprobe)
        ivf_index.add_with_ids(vectors, ids)
        self._index = ivf_index
        self._gpu_copy = None

    def _searcher(self) -> faiss.Index:
        """The index to search: a cached GPU copy when a GPU is used, the CPU index otherwise."""
        if not self.use_gpu:
            return self._index
        if self._gpu_copy is None:
            if self._gpu_resources is None:
                self._gpu_resources = faiss.StandardGpuResources()
            self._gpu_copy = faiss.index_cpu_to_gpu(self._gpu_resources, 0, self._index)
        return self._gpu_copy


TRAIN_POINTS_PER_LIST = 64  # k-means points per IVF list (faiss wants >= 39; its default 256 costs 4x)


def trained_ivf(vectors: np.ndarray, *, nprobe: int) -> faiss.Index:
    """An empty inner-product IVF index (``4 sqrt(N)`` lists, ``nprobe`` of them searched) whose
    coarse quantizer is trained on an even sample of at most ``TRAIN_POINTS_PER_LIST`` vectors per
    list: at 200,000 faces the k-means on every vector took 5-8 s of a training run, three times."""
    n, dim = vectors.shape
    nlist = max(1, min(int(4 * np.sqrt(n)), n // 39))
    index = faiss.index_factory(dim, f"IVF{nlist},Flat", faiss.METRIC_INNER_PRODUCT)
    sample = np.unique(np.linspace(0, n - 1, min(n, TRAIN_POINTS_PER_LIST * nlist)).round().astype(np.int64))
    index.train(np.ascontiguousarray(vectors[sample]))
    faiss.extract_index_ivf(index).nprobe = min(nprobe, nlist)
    return index


def nearest_neighbours(
    vectors: ArrayLike, k: int, *, use_gpu: bool | None = None, exact_up_to: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """For each row of ``vectors``: the row positions of its ``k`` most similar OTHER rows, and the cosines.

    Exact search (this is for scoring a training set, not for serving), unless there are more than
    ``exact_up_to`` rows: then an IVF index (:class:`FaceIndex`'s, ``nprobe`` 16), whose cost grows
    about as N^1.5 instead of N^2. Returns ``min(k, N - 1)`` columns. A row that the search did not
    return itself for (exact duplicates) loses its last neighbour instead, so every row keeps the
    same number of columns.
    """
    x = l2_normalise(vectors)
    n = len(x)
    limit = max(n, 1) if exact_up_to is None or n <= exact_up_to else max(exact_up_to, 1)
    index = FaceIndex(x.shape[1], ivf_threshold=limit, use_gpu=use_gpu)
    index.add(np.arange(n), x)
    ids, sims = index.search(x, k + 1)
    keep = min(k, max(n - 1, 0))
    self_last = np.argsort(ids == np.arange(n)[:, None], axis=1, kind="stable")[:, :keep]
    return np.take_along_axis(ids, self_last, axis=1), np.take_along_axis(sims, self_last, axis=1)
