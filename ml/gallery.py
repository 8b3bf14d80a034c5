"""The VIP gallery: each VIP's training faces kept as embeddings, a face scored by its best match.

On frozen face embeddings (SFace), a face recogniser was trained for exactly this: the cosine of
a face to the most similar training face of a VIP is the best evidence of who it is. A trained
head compresses each VIP to one weight vector and loses the 10-photo VIPs among the 500-photo ones
(measured in ``bench/openset.py``); the gallery keeps every face and needs no training.

Scores, for a face x and VIP c with gallery faces G_c::

    s_c(x) = max_{g in G_c} cos(x, g)

Probabilities put the VIPs against a "none of them" column at a fitted similarity ``b``::

    p_c(x) = exp(a s_c) / (sum_c' exp(a s_c') + exp(a b))

with ``a`` (sharpness) and ``b`` (the similarity at which "someone unknown" is as likely as the
VIP) fitted on val by the likelihood of the right class for VIP faces and of "none" for distractor
faces. The confidence of a face is its top VIP against "none" alone, ``sigmoid(a (s_top - b))``
(:meth:`Gallery.predict`); rejection by a threshold on it is the same rule as for every head
(:func:`ml.metrics.is_rejected`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import ArrayLike

from ml.calibration import FIT_ROWS
from ml.index import l2_normalise, trained_ivf
from ml.sampling import even_sample

_SIMILARITY_BUDGET = 50_000_000  # floats of one query-chunk x gallery block (200 MB)
EXACT_UP_TO = 50_000  # gallery faces searched exactly; beyond, an IVF index returns each query's best matches
_SEARCH_K = 64
SAME_FACE = 0.99999  # cosine at which a gallery face is the query itself
# The sharpness a of the probability map, at most. A val split whose VIP faces all match better than
# every unknown face (common: 10 of 10 seeds of every regime fitted a of 30 to 500) leaves the
# likelihood unbounded in a. At a = 500 an unknown face 0.04 above b had confidence 1.0 in float32:
# unknown faces tied with the VIP faces at the top, a threshold could no longer separate them
# (glint24 seed 8: no VIP face accepted at a 0.1% false-accept rate) and the false-accept tail was
# fitted on clipped logits (unseen people's FAR at the val 0.1% threshold: 0.0021 -> 0.0016 capped).
# At 50 the confidence stays below float32's 1.0 up to 0.33 above b, beyond every unknown face seen.
MAX_SCALE = 50.0
BELOW_ONE = np.nextafter(np.float32(1.0), np.float32(0.0))


@dataclass
class Gallery:
    """Each VIP's training embeddings (unit rows, grouped by class) and the fitted probability map."""

    embeddings: np.ndarray  # M x D float32, unit rows, sorted by class
    labels: np.ndarray  # M class indices, non-decreasing
    n_classes: int
    scale: float = 20.0  # a
    bias: float = 0.5  # b: the similarity of "none of the VIPs"
    _index: object = field(default=None, repr=False, compare=False)  # the IVF index of a large gallery, built once

    @classmethod
    def from_faces(cls, embeddings: ArrayLike, labels: ArrayLike, n_classes: int) -> Gallery:
        """A gallery of the VIP faces among ``embeddings`` (labels -1 are left out)."""
        y = np.asarray(labels, dtype=np.int64)
        keep = np.flatnonzero(y >= 0)
        order = keep[np.argsort(y[keep], kind="stable")]
        return cls(
            embeddings=l2_normalise(np.asarray(embeddings, dtype=np.float32)[order])
            if order.size
            else np.zeros((0, np.asarray(embeddings).shape[1]), np.float32),
            labels=y[order],
            n_classes=n_classes,
        )

    def similarities(self, queries: ArrayLike) -> np.ndarray:
        """N x C: each query's cosine to its best match among each VIP's faces (-1 for a VIP without any).

        A gallery face identical to the query (cosine >= ``SAME_FACE``) is left out: a face never
        vouches for itself, so a training face is scored by the other faces, as a new face would be."""
        x = l2_normalise(queries)
        out = np.full((len(x), self.n_classes), -1.0, dtype=np.float32)
        if not len(self.labels) or not len(x):
            return out
        if len(self.labels) > EXACT_UP_TO:
            return self._approximate_similarities(x, out)
        present, starts = np.unique(self.labels, return_index=True)
        chunk = max(16, min(4096, _SIMILARITY_BUDGET // len(self.labels)))
        for start in range(0, len(x), chunk):
            sims = x[start : start + chunk] @ self.embeddings.T
            sims[sims >= SAME_FACE] = -1.0
            out[start : start + chunk, present] = np.maximum.reduceat(sims, starts, axis=1)
        return out

    def _approximate_similarities(self, x: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Large galleries: each query's ``_SEARCH_K`` best matches from an IVF index (nprobe 16), the best
        per VIP among them; VIPs not among them keep -1 (their probability is negligible anyway)."""
        if self._index is None:
            index = trained_ivf(self.embeddings, nprobe=16)
            index.add(self.embeddings)
            self._index = index
        sims, ids = self._index.search(x, _SEARCH_K)  # type: ignore[attr-defined]
        rows = np.repeat(np.arange(len(x)), ids.shape[1])
        found = (ids.ravel() >= 0) & (sims.ravel() < SAME_FACE)
        np.maximum.at(out, (rows[found], self.labels[ids.ravel()[found]]), sims.ravel()[found])
        return out

    def best_matches(
        self, queries: ArrayLike, *, keep: ArrayLike | None = None, rows_per_chunk: int | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each query's best VIP (``argmax`` of :meth:`similarities`) and its similarity, streamed in
        chunks so that no N x C matrix is held, plus the full similarity rows of the queries at the
        positions ``keep`` (e.g. the val faces the probability map is fitted on). Returns
        ``(best, top, kept)``: N labels (-1 without any VIP), N similarities, len(keep) x C."""
        x = np.asarray(queries, dtype=np.float32)
        wanted = np.zeros(len(x), dtype=bool)
        positions = np.asarray(keep if keep is not None else [], dtype=np.int64)
        wanted[positions] = True
        best = np.full(len(x), -1, dtype=np.int64)
        top = np.full(len(x), -1.0, dtype=np.float32)
        kept = np.full((len(positions), self.n_classes), -1.0, dtype=np.float32)
        slot = np.full(len(x), -1, dtype=np.int64)
        slot[positions] = np.arange(len(positions))
        step = rows_per_chunk or max(256, _SIMILARITY_BUDGET // max(self.n_classes, 1) // 4)
        for start in range(0, len(x), step):
            sims = self.similarities(x[start : start + step])
            if self.n_classes:
                best[start : start + len(sims)] = sims.argmax(axis=1)
                top[start : start + len(sims)] = sims.max(axis=1)
            inside = np.flatnonzero(wanted[start : start + len(sims)])
            kept[slot[start + inside]] = sims[inside]
        return best, top, kept

    def confidence(self, top_similarity: ArrayLike) -> np.ndarray:
        """A face's confidence from its best match: ``sigmoid(a (s_top - b))``, never exactly 1 (the
        threshold 1.0 rejects everything); see :meth:`predict`."""
        top = np.asarray(top_similarity, dtype=np.float64)
        confidence = (1.0 / (1.0 + np.exp(-self.scale * (top - self.bias)))).astype(np.float32)
        return np.minimum(confidence, BELOW_ONE)

    def probabilities(self, similarities: ArrayLike) -> np.ndarray:
        """N x C VIP probabilities from :meth:`similarities` (they sum to 1 - p(none))."""
        s = np.asarray(similarities, dtype=np.float32)
        out = np.empty_like(s)
        for start in range(0, len(s), 8192):  # chunks, in place: N x C is the big array here
            z = self.scale * (s[start : start + 8192] - self.bias)  # logits relative to "none of the VIPs"
            top = np.maximum(z.max(axis=1, initial=0.0), 0.0)[:, None]
            e = np.exp(z - top)
            out[start : start + 8192] = e / (e.sum(axis=1, keepdims=True) + np.exp(-top))
        return out

    def predict(self, similarities: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """(N x C probabilities, N confidences). The confidence is the top VIP against "none of the
        VIPs" alone, ``sigmoid(a (s_top - b))``: a monotone function of the best match, so rejecting
        by it ranks faces exactly as the nearest training face does (measured: the VIPs' competition
        in the full softmax cost up to 0.7 points of recognition at a 0.1% false-accept rate). The
        probabilities are :meth:`probabilities` rescaled so that the top one equals the confidence."""
        s = np.asarray(similarities, dtype=np.float32)
        probs = self.probabilities(s)
        top = s.max(axis=1, initial=-1.0) if s.shape[1] else np.full(len(s), -1.0, np.float32)
        confidence = self.confidence(top)
        peak = probs.max(axis=1, initial=0.0)
        probs *= np.where(peak > 0, confidence / np.maximum(peak, 1e-30), 0.0)[:, None].astype(np.float32)
        return probs, confidence

    def state(self) -> dict[str, object]:
        """What a checkpoint stores (tensors and numbers only)."""
        return {
            "embeddings": torch.from_numpy(np.ascontiguousarray(self.embeddings)),
            "labels": torch.from_numpy(np.ascontiguousarray(self.labels)),
            "n_classes": int(self.n_classes),
            "scale": float(self.scale),
            "bias": float(self.bias),
        }

    @classmethod
    def from_state(cls, state: dict[str, object]) -> Gallery:
        emb, lab = state["embeddings"], state["labels"]
        assert isinstance(emb, torch.Tensor) and isinstance(lab, torch.Tensor)
        return cls(
            embeddings=emb.numpy().astype(np.float32),
            labels=lab.numpy().astype(np.int64),
            n_classes=int(state["n_classes"]),  # type: ignore[call-overload]
            scale=float(state["scale"]),  # type: ignore[arg-type]
            bias=float(state["bias"]),  # type: ignore[arg-type]
        )


def vip_proxy_rows(similarities: ArrayLike, labels: ArrayLike) -> np.ndarray:
    """VIP faces' similarity rows with their own VIP's column set to -1: each face as someone none
    of the other VIPs is, the stand-in for unknown people when val holds none (rows labelled -1
    are left out)."""
    sims = np.array(similarities, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    vip = np.flatnonzero(y >= 0)
    rows = sims[vip]
    rows[np.arange(len(vip)), y[vip]] = -1.0
    return rows


def fit_probability_map(
    similarities: ArrayLike, labels: ArrayLike, *, max_iter: int = 200, max_rows: int = FIT_ROWS
) -> tuple[float, float]:
    """``(a, b)`` maximising the val likelihood of the right VIP (labels >= 0) and of "none of the
    VIPs" (labels -1) under the gallery's softmax (see the module docstring). (20, 0.5) without samples.
    ``a`` is at most MAX_SCALE; where the likelihood wants more (a val split that separates VIP faces
    from unknown ones), ``b`` is fitted again at that sharpness.

    Without any distractor face the VIP faces alone leave ``b`` unbounded: their likelihood grows
    as ``b`` falls below every similarity and ``a`` grows, until every confidence is 1.0 in float32
    and every unknown face would be accepted. So then each val VIP face also stands in for an
    unknown person, scored against the other VIPs only (its own column at -1): "none of the VIPs"
    is fitted on how well a face matches VIPs who are not its person (:func:`vip_proxy_rows`).

    Two parameters need no more than ``max_rows`` rows, half from each side (:func:`even_sample`):
    2,000 VIPs' val split would otherwise cost a second per step."""
    ys = np.asarray(labels, dtype=np.int64)
    sides = [np.flatnonzero(ys >= 0), np.flatnonzero(ys < 0)]
    rows = np.sort(np.concatenate([side[even_sample(len(side), max_rows // 2)] for side in sides]))
    sims, ys = np.asarray(similarities, dtype=np.float64)[rows], ys[rows]
    if sims.ndim == 2 and sims.shape[1] >= 2 and len(ys) and bool(np.all(ys >= 0)):
        proxy = vip_proxy_rows(sims, ys)
        sims, ys = np.concatenate([sims, proxy]), np.concatenate([ys, np.full(len(proxy), -1)])
    s = torch.as_tensor(sims)
    y = torch.as_tensor(ys)
    if len(y) == 0 or s.shape[1] == 0:
        return 20.0, 0.5
    target = torch.where(y >= 0, y, torch.full_like(y, s.shape[1]))
    vip = y >= 0
    # each side weighs half: a val split with many distractors must not drown the VIPs (and vice versa)
    weights = torch.where(vip, 0.5 / max(int(vip.sum()), 1), 0.5 / max(int((~vip).sum()), 1)).to(torch.float64)
    if not vip.any() or vip.all():
        weights = torch.full_like(weights, 1.0 / len(y))
    log_a = torch.tensor([np.log(20.0)], dtype=torch.float64, requires_grad=True)
    b = torch.tensor([0.5], dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_a, b], lr=0.5, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        a = log_a.exp()
        logits = torch.cat([a * s, (a * b).expand(len(s), 1)], dim=1)
        loss = (F.cross_entropy(logits, target, reduction="none") * weights).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    if float(log_a.detach().exp()) > MAX_SCALE:  # separable val: b is refitted at the capped sharpness
        log_a = torch.tensor([np.log(MAX_SCALE)], dtype=torch.float64)
        optimizer = torch.optim.LBFGS([b], lr=0.5, max_iter=max_iter, line_search_fn="strong_wolfe")
        optimizer.step(closure)
    a, bias = float(log_a.detach().exp()), float(b.detach())
    if not (np.isfinite(a) and np.isfinite(bias)):
        return 20.0, 0.5
    return float(np.clip(a, 1.0, MAX_SCALE)), float(np.clip(bias, -1.0, 1.0))
