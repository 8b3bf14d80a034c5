"""Near-duplicate faces: which earlier face a new one nearly duplicates (perceptual hash or
embedding), so that it points at it and shares its group, hence its split."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from django.conf import settings

from webapp.faces.models import Face

if TYPE_CHECKING:
    from .face_rows import FaceDraft


class NearDuplicates:
    """Links each new face to an earlier face it nearly duplicates, and makes it adopt that group.

    A new face nearly duplicates an earlier one (already stored, or written earlier in this job,
    or earlier in the same batch) when either

    - their embeddings' cosine is at least ``FACECURATOR_NEAR_DUPLICATE_COSINE`` (searched in the
      similarity index), or
    - their perceptual hashes differ in at most ``FACECURATOR_NEAR_DUPLICATE_PHASH_BITS`` bits
      *and*, when both have embeddings, the embeddings agree it is the same person (cosine at
      least the embedder's match threshold). On aligned crops pHash alone is not enough: among
      2,668 glint24 crops, 2 of the 90 pairs within 4 bits were different people (Obama and
      Simon Cowell, cosine 0.17 and 0.20), while every pair at cosine >= 0.9 was the same person.

    A match points at the root of its chain (a face that duplicates nothing): chains stay one
    link long, and the whole family shares the root's group, hence its split.
    """

    MAX_HASH_CANDIDATES = 5

    def __init__(self, *, phash_bits: int | None = None, cosine: float | None = None, same_person: float | None = None):
        from webapp.faces.index import embedding_match_threshold, index_load

        self.phash_bits = settings.FACECURATOR_NEAR_DUPLICATE_PHASH_BITS if phash_bits is None else phash_bits
        self.cosine = settings.FACECURATOR_NEAR_DUPLICATE_COSINE if cosine is None else cosine
        self.same_person = embedding_match_threshold() if same_person is None else same_person
        pairs = list(Face.objects.exclude(phash=None).values_list("id", "phash").iterator(chunk_size=10_000))
        self._hash_ids = np.array([pk for pk, _ in pairs], dtype=np.int64)
        self._hashes = np.array([h for _, h in pairs], dtype=np.int64).view(np.uint64)
        self._index = index_load()  # a private copy: faces of this job are added as they are written
        self._vectors: dict[int, np.ndarray | None] = {}
        self._root_group: dict[int, tuple[int, str]] = {}

    # -- matching ---------------------------------------------------------------------------
    def link(self, drafts: list[FaceDraft]) -> int:
        """Set ``duplicate_of`` (or ``duplicate_of_draft``) and the adopted ``group_key`` on each
        draft that nearly duplicates an earlier face; returns how many do."""
        if not drafts:
            return 0
        stored: list[list[int]] = [[] for _ in drafts]  # candidate stored face ids, best first
        earlier: list[list[int]] = [[] for _ in drafts]  # candidate earlier drafts of this batch
        hashes = np.array([d.phash if d.phash is not None else 0 for d in drafts], dtype=np.int64).view(np.uint64)
        hashed = [i for i, d in enumerate(drafts) if d.phash is not None]
        if self.phash_bits >= 0:
            for i in hashed:
                if self._hashes.size:
                    distances = np.bitwise_count(self._hashes ^ hashes[i])
                    close = np.flatnonzero(distances <= self.phash_bits)
                    close = close[np.argsort(distances[close], kind="stable")][: self.MAX_HASH_CANDIDATES]
                    stored[i] += [int(pk) for pk in self._hash_ids[close]]
                before = [j for j in hashed if j < i]
                if before:
                    distances = np.bitwise_count(hashes[before] ^ hashes[i])
                    earlier[i] += [
                        before[k] for k in np.argsort(distances, kind="stable") if distances[k] <= self.phash_bits
                    ][: self.MAX_HASH_CANDIDATES]
        self._load_vectors({pk for ids in stored for pk in ids})
        matched_stored: list[int | None] = [None] * len(drafts)
        matched_earlier: list[int | None] = [None] * len(drafts)
        for i, draft in enumerate(drafts):
            matched_stored[i] = next(
                (pk for pk in stored[i] if self._same_person(draft.embedding, self._vectors.get(pk))), None
            )
            if matched_stored[i] is None:
                matched_earlier[i] = next(
                    (j for j in earlier[i] if self._same_person(draft.embedding, drafts[j].embedding)), None
                )
        embedded = {i: d.embedding for i, d in enumerate(drafts) if d.embedding is not None}
        with_vectors = list(embedded)
        if with_vectors and self.cosine <= 1.0:
            vectors = np.stack(list(embedded.values())).astype(np.float32)
            if self._index is not None and len(self._index):
                ids, sims = self._index.search(vectors, 1)
                for row, i in enumerate(with_vectors):
                    if (
                        matched_stored[i] is None
                        and matched_earlier[i] is None
                        and sims.shape[1]
                        and sims[row, 0] >= self.cosine
                    ):
                        matched_stored[i] = int(ids[row, 0])
            similarity = vectors @ vectors.T
            for row, i in enumerate(with_vectors):
                if matched_stored[i] is None and matched_earlier[i] is None and row:
                    best = int(np.argmax(similarity[row, :row]))
                    if similarity[row, best] >= self.cosine:
                        matched_earlier[i] = with_vectors[best]
        roots = self._roots({pk for pk in matched_stored if pk is not None})
        linked = 0
        for i, draft in enumerate(drafts):
            stored_pk, earlier_draft = matched_stored[i], matched_earlier[i]
            if stored_pk is not None and stored_pk in roots:
                draft.duplicate_of_id, draft.group_key = roots[stored_pk]
                linked += 1
            elif earlier_draft is not None:
                first = drafts[earlier_draft]
                if first.duplicate_of_id is not None:
                    draft.duplicate_of_id = first.duplicate_of_id
                else:
                    draft.duplicate_of_draft = (
                        first.duplicate_of_draft if first.duplicate_of_draft is not None else earlier_draft
                    )
                draft.group_key = first.group_key
                linked += 1
        return linked

    def _same_person(self, a: np.ndarray | None, b: np.ndarray | None) -> bool:
        return a is None or b is None or float(np.dot(a, b)) >= self.same_person

    def _load_vectors(self, face_ids: set[int]) -> None:
        missing = [pk for pk in face_ids if pk not in self._vectors]
        if missing:
            rows = dict(Face.objects.filter(pk__in=missing).values_list("id", "embedding"))
            for pk in missing:
                blob = rows.get(pk)
                self._vectors[pk] = None if blob is None else np.frombuffer(bytes(blob), dtype=np.float32)

    def _roots(self, face_ids: set[int]) -> dict[int, tuple[int, str]]:
        """For each matched face: the root of its duplicate chain and that root's group (one query)."""
        missing = face_ids - set(self._root_group)
        if missing:
            rows = Face.objects.filter(pk__in=missing).values_list(
                "id", "group_key", "duplicate_of_id", "duplicate_of__group_key"
            )
            for pk, group_key, root_id, root_group in rows:
                self._root_group[pk] = (root_id, root_group) if root_id else (pk, group_key)
        return {pk: self._root_group[pk] for pk in face_ids if pk in self._root_group}

    # -- memory of what this job wrote --------------------------------------------------------
    def remember(self, faces: list[Face], drafts: list[FaceDraft]) -> None:
        """Make faces just written matchable by the rest of this job."""
        hashed = [(f.pk, d.phash) for f, d in zip(faces, drafts, strict=True) if d.phash is not None]
        if hashed:
            self._hash_ids = np.concatenate([self._hash_ids, np.array([p for p, _ in hashed], dtype=np.int64)])
            self._hashes = np.concatenate(
                [self._hashes, np.array([h for _, h in hashed], dtype=np.int64).view(np.uint64)]
            )
        vectors = [(f.pk, d.embedding) for f, d in zip(faces, drafts, strict=True) if d.embedding is not None]
        if vectors:
            if self._index is None:
                from webapp.faces.index import new_index

                self._index = new_index(len(vectors[0][1]))
            self._index.add(
                np.array([p for p, _ in vectors], dtype=np.int64), np.stack([v for _, v in vectors]).astype(np.float32)
            )
        for face, draft in zip(faces, drafts, strict=True):
            self._vectors[face.pk] = draft.embedding
            self._root_group[face.pk] = (
                (face.duplicate_of_id, face.group_key) if face.duplicate_of_id else (face.pk, face.group_key)
            )
