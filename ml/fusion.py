"""The default scorer: the VIP gallery and the trained head, their evidence for the same VIP summed.

The gallery (:mod:`ml.gallery`) keeps every training face of every VIP and needs no training, so it
serves the 10-photo VIPs as well as the 500-photo ones; but it has never seen a distractor. An
unknown person who looks like a VIP matches that VIP's faces as well as the VIP's own new photos
do, and the threshold chosen on val's unknown people cannot foresee a lookalike val never held
(glint24, 15 seeds: 0.1% chosen, 0.39% measured on unseen test people). A head trained with the
train distractors as negatives learnt what tells each VIP from people like them (the ArcFace head:
0.12% there), but a head loses VIPs with few photos in other regimes. Together, measured in
``bench/openset_regimes.py``: the false-accept rate on unseen people within 2x of the rate chosen
in every regime, and recognition at or above the nearest face's.

For a face whose best gallery match is VIP ``c``, with ``s`` that match's cosine and ``h`` the
head's log-odds of ``c`` (``log p_c - log(1 - p_c)`` at the run's temperature)::

    f = (s - mu_s) / sd_s + (h - mu_h) / sd_h

A face the head gives to another VIP has a low ``h`` and is rejected unless the gallery's match is
far stronger than any unknown face's (rejecting every such face outright cost one VIP face in 450
on 4 of 15 lfw158 seeds).

``mu`` and ``sd`` are the mean and spread of each score over the ``TAIL`` highest-scoring val
distractor faces: each score counts in units of how far a face stands above the unknown people most
like a VIP, so neither scale (cosines, logits) outweighs the other. The confidence is
``sigmoid(a (f - b))``, with ``a`` and ``b`` fitted on val by the likelihood of "right VIP" (as the
gallery's probability map is) and ``a`` capped (:data:`SATURATION_LOGIT`).

The head is fused only when it can be: val must hold unknown faces to standardise on
(:data:`MIN_UNKNOWN_FACES`), and the head must agree with the gallery on the val VIP faces the
gallery gets right (:data:`MIN_AGREEMENT`): a head that names someone else for many VIPs (the
maximum-entropy head identifies half of 158 LFW VIPs) would pull their faces down to the unknown
ones. Otherwise the gallery scores alone, and the run says why.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import ArrayLike

from ml.gallery import BELOW_ONE

TAIL = 50  # highest val distractor scores each score is standardised on
MIN_UNKNOWN_FACES = 20  # val distractor faces needed to standardise on
# Share of the val VIP faces the gallery identifies that the head must also name. The ArcFace head
# agrees on 0.996-1.000 of them in every benchmarked regime; the ME head on lfw158 on 0.49.
MIN_AGREEMENT = 0.97
# The sharpness a, at most, is set so that the best val face stays below float32's 1.0: fused scores
# are sums of two standardised scores whose unit is the spread of val's top unknown faces, so a VIP
# face stands 20 to 60 units above them. A val split whose VIP faces all score above every unknown
# face leaves the likelihood unbounded in a (as for the gallery's map), and an uncapped a put the
# unknown lookalikes of unseen test people at a float32 confidence of 1.0, tied with the VIP faces
# (glint24 seed 0: no VIP face accepted at a 0.1% false-accept rate). sigmoid(15) is 1 - 3e-7, the
# largest round logit float32 tells from 1.0.
SATURATION_LOGIT = 15.0
_CHUNK_ROWS = 8192


@dataclass(frozen=True)
class HeadScores:
    """Each face's top VIP under the head, and the head's log-odds of the VIP asked about (float64)."""

    top: np.ndarray
    log_odds: np.ndarray

    def subset(self, rows: np.ndarray) -> HeadScores:
        return HeadScores(top=self.top[rows], log_odds=self.log_odds[rows])


def head_scores(logits: torch.Tensor, temperature: float, labels: ArrayLike, *, reject_column: bool) -> HeadScores:
    """The head's top VIP, and ``log p_c - log(1 - p_c)`` of each row's VIP ``c`` (``labels``) under
    ``softmax(logits / T)``: that logit against the log-sum-exp of every other column (the reject
    column included), so that a confident face does not round to p = 1 and tie with every other."""
    z = torch.as_tensor(logits).detach().to("cpu", torch.float64) / temperature
    asked = torch.as_tensor(np.asarray(labels, dtype=np.int64))
    n_vips = z.shape[1] - (1 if reject_column else 0)
    top = np.zeros(len(z), dtype=np.int64)
    log_odds = np.full(len(z), -np.inf, dtype=np.float64)
    if not len(z) or n_vips < 1:
        return HeadScores(top, log_odds)
    for start in range(0, len(z), _CHUNK_ROWS):
        block, column = z[start : start + _CHUNK_ROWS], asked[start : start + _CHUNK_ROWS, None]
        others = block.scatter(1, column, float("-inf")).logsumexp(dim=1)
        top[start : start + len(block)] = block[:, :n_vips].argmax(dim=1).numpy()
        log_odds[start : start + len(block)] = (block.gather(1, column)[:, 0] - others).numpy()
    return HeadScores(top, log_odds)


@dataclass(frozen=True)
class Fusion:
    """The fitted standardisations and confidence map (see the module docstring)."""

    gallery_centre: float
    gallery_spread: float
    head_centre: float
    head_spread: float
    scale: float = 1.0  # a
    bias: float = 0.0  # b: the fused score at confidence 0.5

    def scores(self, gallery_top: ArrayLike, head_log_odds: ArrayLike) -> np.ndarray:
        """The fused score ``f`` of each face, from the gallery's best match and the head's log-odds of
        that match's VIP."""
        s = np.asarray(gallery_top, dtype=np.float64)
        h = np.asarray(head_log_odds, dtype=np.float64)
        return (s - self.gallery_centre) / self.gallery_spread + (h - self.head_centre) / self.head_spread

    def confidence(self, scores: ArrayLike) -> np.ndarray:
        """``sigmoid(a (f - b))`` as float32, never exactly 1 (the threshold 1.0 rejects everything)."""
        z = np.clip(self.scale * (np.asarray(scores, dtype=np.float64) - self.bias), -700.0, 700.0)
        return np.minimum((1.0 / (1.0 + np.exp(-z))).astype(np.float32), BELOW_ONE)

    def state(self) -> dict[str, float]:
        """What a checkpoint stores."""
        return {
            "gallery_centre": self.gallery_centre,
            "gallery_spread": self.gallery_spread,
            "head_centre": self.head_centre,
            "head_spread": self.head_spread,
            "scale": self.scale,
            "bias": self.bias,
        }

    @classmethod
    def from_state(cls, state: dict[str, float]) -> Fusion:
        return cls(**{name: float(value) for name, value in state.items()})


def _standardiser(values: np.ndarray) -> tuple[float, float]:
    tail = np.sort(values[np.isfinite(values)])[-TAIL:]
    centre = float(tail.mean()) if len(tail) else 0.0
    return centre, max(float(tail.std()), 1e-6 * max(abs(centre), 1.0))


def fit_fusion(
    labels: ArrayLike, gallery_labels: ArrayLike, gallery_top: ArrayLike, head: HeadScores, *, max_iter: int = 200
) -> tuple[Fusion | None, str]:
    """The :class:`Fusion` fitted on val faces (``labels``: VIP index or -1; the gallery's top VIP and
    best match; the head's top VIP and log-odds of the gallery's), or ``(None, why)`` when the head
    cannot be fused (see the module docstring) and the gallery should score alone."""
    y = np.asarray(labels, dtype=np.int64)
    predicted = np.asarray(gallery_labels, dtype=np.int64)
    s = np.asarray(gallery_top, dtype=np.float64)
    unknown = y < 0
    if int(unknown.sum()) < MIN_UNKNOWN_FACES:
        return None, (
            f"val holds {int(unknown.sum())} faces of unknown people (the head is fused with the gallery "
            f"from {MIN_UNKNOWN_FACES}): scored by the gallery alone"
        )
    if not np.all(np.isfinite(head.log_odds)):
        return None, (
            "the trained head's probability of a VIP is 1 for every face (one VIP and no reject column: "
            "the softmax has nothing to weigh it against): scored by the gallery alone"
        )
    right = (y >= 0) & (predicted == y)
    agreement = float(np.mean(head.top[right] == y[right])) if right.any() else 0.0
    if agreement < MIN_AGREEMENT:
        return None, (
            f"the trained head names the gallery's VIP for {agreement:.1%} of the val VIP faces the gallery "
            f"identifies (fused from {MIN_AGREEMENT:.0%}): scored by the gallery alone"
        )
    gallery_centre, gallery_spread = _standardiser(s[unknown])
    head_centre, head_spread = _standardiser(head.log_odds[unknown])
    fusion = Fusion(gallery_centre, gallery_spread, head_centre, head_spread)
    f = fusion.scores(s, head.log_odds)
    scale, bias = _fit_confidence_map(f, right, vip=y >= 0, max_iter=max_iter)
    return Fusion(gallery_centre, gallery_spread, head_centre, head_spread, scale, bias), ""


def _fit_confidence_map(
    scores: np.ndarray, right: np.ndarray, *, vip: np.ndarray, max_iter: int
) -> tuple[float, float]:
    """``(a, b)`` maximising the likelihood of "right VIP" under ``sigmoid(a (f - b))``, VIP and unknown
    faces weighing half each; ``a`` at most what keeps the best val
    face below float32's 1.0 (:data:`SATURATION_LOGIT`), and where the likelihood wants more, ``b``
    fitted again at that sharpness."""
    scored = np.isfinite(scores)
    f = torch.as_tensor(scores[scored])
    target = torch.as_tensor(right[scored].astype(np.float64))
    side = torch.as_tensor(vip[scored])
    if not len(f) or bool(side.all()) or not bool(side.any()):
        return 1.0, 0.0
    weights = torch.where(side, 0.5 / int(side.sum()), 0.5 / int((~side).sum())).to(torch.float64)
    log_a = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    b = torch.tensor([float(f[~side].max())], dtype=torch.float64, requires_grad=True)
    best = float(f.max())

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        logits = log_a.exp() * (f - b)
        loss = (torch.nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none") * weights).sum()
        loss.backward()
        return loss

    def limit() -> float:
        return SATURATION_LOGIT / max(best - float(b.detach()), 1e-6)

    optimizer = torch.optim.LBFGS([log_a, b], lr=0.5, max_iter=max_iter, line_search_fn="strong_wolfe")
    optimizer.step(closure)
    if float(log_a.detach().exp()) > limit():
        log_a = torch.tensor([np.log(limit())], dtype=torch.float64)
        optimizer = torch.optim.LBFGS([b], lr=0.5, max_iter=max_iter, line_search_fn="strong_wolfe")
        optimizer.step(closure)
    a, bias = float(log_a.detach().exp()), float(b.detach())
    if not (np.isfinite(a) and np.isfinite(bias)):
        return 1.0, 0.0
    return min(a, limit()), bias
