"""The probability that a face's label is wrong, from its nearest labelled neighbours: one merged queue.

Each labelled face is scored by the labels of its ``k`` nearest OTHER faces (leave-one-out, cosine
on the embeddings): neighbour j votes for its label with weight ``exp((s_j - 1) / T)``, and one
pseudo-neighbour at similarity ``s0`` (the *background*) votes "not a VIP": a face that looks like
nobody labelled is probably an unknown person. The posterior of label l is its share of the votes::

    p(l | x) = (sum_{j: y_j = l} w_j + [l = not a VIP] w0) / (sum_j w_j + w0)

and the probability that the face's own label y is wrong is ``1 - p(y | x)``. The queue is ordered
by the margin ``p(best other label | x) - p(y | x)`` (cleanlab's "normalized margin", here on the
kNN posterior): it ranks injected errors better than ``1 - p(y | x)`` alone (measured: AP 0.994 vs
0.980 on 100 LFW VIPs with lookalike and open-set noise), and a positive margin means "another
label is more likely than the given one". ``T`` and ``s0`` are
fitted by maximising the leave-one-out likelihood of the given labels (most labels are right, so
this is the usual self-calibration of cleanlab-style methods), averaging the two directions so
that the many distractors do not drown the VIPs.

Because both directions (a face filed under a VIP that is someone else or nobody; a face filed as
a distractor or candidate that is a VIP) get the same posterior on the same scale, ONE queue
sorted by it serves the face most likely to be wrong next, whatever its direction. Each face also
gets a hint: the most probable label other than its own (a VIP, or -1 = not a VIP).

Labels: 0..C-1 VIPs; -1 not a VIP (distractors and candidates alike). Measured on frozen SFace
embeddings (``bench/noise.py``), this leave-one-out kNN posterior is what beats cleanlab's
out-of-fold logistic regression; it needs no training, and its cost is one kNN search
(exact up to ``exact_up_to`` faces, IVF beyond).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ml.index import nearest_neighbours

NOT_VIP = -1
DEFAULT_K = 20
TEMPERATURES = (0.01, 0.02, 0.03, 0.05, 0.08, 0.12)
BACKGROUNDS = (0.2, 0.3, 0.4, 0.5, 0.6)
EXACT_UP_TO = 50_000
UNKNOWN_QUANTILE = 0.99  # share of not-VIP-labelled faces whose best VIP match sets the "unknown" level
_CHUNK = 20_000


def _weights(sims: np.ndarray, temperature: float) -> np.ndarray:
    return np.exp((sims.astype(np.float64) - 1.0) / temperature)


def own_label_probability(
    neighbour_labels: np.ndarray,
    neighbour_sims: np.ndarray,
    labels: np.ndarray,
    *,
    temperature: float,
    background: float,
) -> np.ndarray:
    """p(y_i | neighbours) for each face: the posterior of its own label (see the module docstring).

    ``neighbour_labels``/``neighbour_sims``: N x k labels (-1 = not a VIP) and cosines of each
    face's neighbours; ``labels``: the faces' own labels.
    """
    w = _weights(neighbour_sims, temperature)
    w0 = float(np.exp((background - 1.0) / temperature))
    own = (w * (neighbour_labels == labels[:, None])).sum(axis=1) + np.where(labels < 0, w0, 0.0)
    return own / (w.sum(axis=1) + w0)


def fit_posterior(
    neighbour_labels: np.ndarray,
    neighbour_sims: np.ndarray,
    labels: np.ndarray,
    *,
    temperatures: tuple[float, ...] = TEMPERATURES,
    backgrounds: tuple[float, ...] = BACKGROUNDS,
) -> tuple[float, float]:
    """The (temperature, background) of the grid with the highest leave-one-out log-likelihood of the
    given labels, the mean of the VIP-labelled and the not-VIP-labelled faces' means."""
    vip = labels >= 0
    best, best_ll = (temperatures[0], backgrounds[0]), -np.inf
    for t in temperatures:
        for s0 in backgrounds:
            p = np.log(
                np.clip(
                    own_label_probability(neighbour_labels, neighbour_sims, labels, temperature=t, background=s0),
                    1e-4,
                    1.0,
                )
            )
            ll = float(np.mean([p[side].mean() for side in (vip, ~vip) if side.any()]))
            if ll > best_ll:
                best, best_ll = (t, s0), ll
    return best


@dataclass(frozen=True)
class LabelErrorScores:
    """Per face, aligned with the input: ``p_wrong`` the probability that its label is wrong;
    ``suggested_label`` the most probable other label (0..C-1 a VIP, -1 not a VIP) and
    ``suggested_probability`` its posterior; ``margin`` = suggested_probability - (1 - p_wrong), in
    [-1, 1], positive when the suggestion is more likely than the given label; ``direction``
    "vip_mislabelled" (labelled a VIP) or "distractor_is_vip" (labelled not a VIP); ``order`` the
    face positions by descending margin (the merged queue). ``temperature``/``background``: the
    fitted posterior parameters."""

    p_wrong: np.ndarray
    margin: np.ndarray
    suggested_label: np.ndarray
    suggested_probability: np.ndarray
    direction: np.ndarray
    order: np.ndarray
    temperature: float
    background: float

    @classmethod
    def from_parts(
        cls,
        *,
        labels: ArrayLike,
        p_wrong: ArrayLike,
        suggested_label: ArrayLike,
        suggested_probability: ArrayLike,
        temperature: float,
        background: float,
    ) -> LabelErrorScores:
        """The scores of these faces from their per-face parts (as a training run stores them):
        ``margin``, ``direction`` and the queue ``order`` follow, as :func:`score_label_errors` makes them."""
        y = np.asarray(labels, dtype=np.int64).ravel()
        wrong = np.asarray(p_wrong, dtype=np.float64).ravel()
        suggested_p = np.asarray(suggested_probability, dtype=np.float64).ravel()
        if not len(y) == len(wrong) == len(suggested_p):
            raise ValueError("one label, p_wrong and suggested_probability per face")
        margin = suggested_p - (1.0 - wrong)
        order = np.lexsort((np.arange(len(y)), -wrong, -margin))
        return cls(
            p_wrong=wrong,
            margin=margin,
            suggested_label=np.asarray(suggested_label, dtype=np.int64).ravel(),
            suggested_probability=suggested_p,
            direction=_direction(y),
            order=order,
            temperature=float(temperature),
            background=float(background),
        )

    def worth_a_look(self, min_p_wrong: float = 0.5) -> np.ndarray:
        """Positions of the faces whose label is wrong with probability >= ``min_p_wrong`` or for which
        another label is more likely than the given one, in queue order (what a queue's size should count)."""
        keep = (self.p_wrong[self.order] >= min_p_wrong) | (self.margin[self.order] > 0)
        return self.order[keep]


def _suggestions(
    neighbour_labels: np.ndarray,
    neighbour_sims: np.ndarray,
    labels: np.ndarray,
    *,
    temperature: float,
    background: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Per face the label other than its own with the most posterior mass, and that mass."""
    n, k = neighbour_labels.shape
    label_out = np.full(n, NOT_VIP, dtype=np.int64)
    prob_out = np.zeros(n)
    w0 = float(np.exp((background - 1.0) / temperature))
    for start in range(0, n, _CHUNK):
        rows = slice(start, min(start + _CHUNK, n))
        lab, w = neighbour_labels[rows], _weights(neighbour_sims[rows], temperature)
        total = w.sum(axis=1) + w0
        same = lab[:, :, None] == lab[:, None, :]
        mass = (same * w[:, None, :]).sum(axis=2) + np.where(lab < 0, w0, 0.0)  # mass of neighbour j's label
        mass = np.where(lab == labels[rows, None], -1.0, mass)  # never suggest its own label
        best = mass.argmax(axis=1) if k else np.zeros(len(lab), dtype=np.int64)
        best_mass = mass[np.arange(len(lab)), best] if k else np.full(len(lab), -1.0)
        own_vip = labels[rows] >= 0
        background_only = np.where(own_vip, w0, 0.0)  # "not a VIP" with no distractor neighbour
        use_background = own_vip & (best_mass < background_only)
        label_out[rows] = np.where(use_background | (best_mass < 0), NOT_VIP, lab[np.arange(len(lab)), best])
        prob_out[rows] = np.where(use_background, background_only, np.maximum(best_mass, 0.0)) / total
    return label_out, prob_out


def score_label_errors(
    embeddings: ArrayLike,
    labels: ArrayLike,
    *,
    k: int = DEFAULT_K,
    temperature: float | None = None,
    background: float | None = None,
    exact_up_to: int = EXACT_UP_TO,
) -> LabelErrorScores:
    """Probability that each face's label is wrong, with a hint, and the merged queue.

    ``embeddings``: N x D face embeddings (any scale; cosine is used); ``labels``: N labels,
    0..C-1 VIPs and -1 not a VIP. ``temperature``/``background`` default to the values fitted on
    these labels (:func:`fit_posterior`). Seconds for 200k faces (IVF kNN beyond ``exact_up_to``).
    """
    y = np.asarray(labels, dtype=np.int64).ravel()
    x = np.asarray(embeddings, dtype=np.float32)
    if x.ndim != 2 or len(x) != len(y):
        raise ValueError("embeddings must be N x D with one label per row")
    if y.size and y.min() < NOT_VIP:
        raise ValueError("labels must be -1 (not a VIP) or a VIP index >= 0")
    if len(y) < 2:
        p = np.zeros(len(y))
        return LabelErrorScores(
            p,
            p - 1.0,
            np.full(len(y), NOT_VIP),
            p.copy(),
            _direction(y),
            np.arange(len(y)),
            temperature or TEMPERATURES[0],
            background or BACKGROUNDS[0],
        )
    idx, sims = nearest_neighbours(x, k, exact_up_to=exact_up_to)
    neighbour_labels = y[idx]
    if temperature is None or background is None:
        fitted_t, fitted_b = fit_posterior(neighbour_labels, sims, y)
        temperature = fitted_t if temperature is None else temperature
        background = fitted_b if background is None else background
    own = own_label_probability(neighbour_labels, sims, y, temperature=temperature, background=background)
    suggested, suggested_p = _suggestions(neighbour_labels, sims, y, temperature=temperature, background=background)
    own, suggested, suggested_p = _vip_evidence(
        x, y, own, suggested, suggested_p, temperature=temperature, exact_up_to=exact_up_to
    )
    return LabelErrorScores.from_parts(
        labels=y,
        p_wrong=1.0 - own,
        suggested_label=suggested,
        suggested_probability=suggested_p,
        temperature=temperature,
        background=background,
    )


def _vip_evidence(
    x: np.ndarray,
    y: np.ndarray,
    own: np.ndarray,
    suggested: np.ndarray,
    suggested_p: np.ndarray,
    *,
    temperature: float,
    exact_up_to: int,
    quantile: float = UNKNOWN_QUANTILE,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A VIP's faces filed as not-a-VIP (under a candidate's name) come in blocks that vote for each
    other; what gives them away is how close they are to the VIP's own faces. For each face labelled
    -1: its best match s among VIP-labelled faces, and ``q = sigmoid((s - s_u) / T)``, where ``s_u``
    is the level only a share ``1 - quantile`` of the not-VIP-labelled faces reach (most are right).
    Its own-label probability becomes ``min(p(-1 | x), 1 - q)`` and q competes for the suggestion."""
    not_vip = np.flatnonzero(y < 0)
    vip = np.flatnonzero(y >= 0)
    if not_vip.size < 2 or vip.size == 0 or quantile >= 1.0:
        return own, suggested, suggested_p
    from ml.index import FaceIndex

    index = FaceIndex(x.shape[1], ivf_threshold=max(exact_up_to, 1))
    index.add(vip, x[vip])
    ids, best = index.search(x[not_vip], 1)
    best_sim = best[:, 0].astype(np.float64)
    level = float(np.quantile(best_sim, quantile))
    q = 1.0 / (1.0 + np.exp(-(best_sim - level) / temperature))
    own, suggested, suggested_p = own.copy(), suggested.copy(), suggested_p.copy()
    own[not_vip] = np.minimum(own[not_vip], 1.0 - q)
    stronger = q > suggested_p[not_vip]
    suggested[not_vip[stronger]] = y[ids[stronger, 0]]
    suggested_p[not_vip[stronger]] = q[stronger]
    return own, suggested, suggested_p


def _direction(labels: np.ndarray) -> np.ndarray:
    return np.where(labels >= 0, "vip_mislabelled", "distractor_is_vip")
