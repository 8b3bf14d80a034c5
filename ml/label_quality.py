"""The probability that a face's label is wrong, from its nearest labelled neighbours and its
labels' centroids: one merged queue.

Two leave-one-out posteriors over the labels (0..C-1 VIPs, -1 not a VIP) are averaged:

* **kNN**: each labelled face is scored by the labels of its ``k`` nearest OTHER faces (cosine on
  the embeddings): neighbour j votes for its label with weight ``exp((s_j - 1) / T)``, and one
  pseudo-neighbour at similarity ``s0`` (the *background*) votes "not a VIP": a face that looks
  like nobody labelled is probably an unknown person::

      p_knn(l | x) = (sum_{j: y_j = l} w_j + [l = not a VIP] w0) / (sum_j w_j + w0)

* **centroid**: a softmax over the face's cosine to each VIP's centroid (the mean of the VIP's
  L2-normalised faces, the face itself left out) and, for "not a VIP", its cosine to the mean of
  the not-VIP-labelled faces (itself left out) plus a bias ``b``, at temperature ``T_c``:
  ``p_cent(l | x) ∝ exp(cos(x, mu_l) / T_c)``, ``exp((b + cos(x, mu_other)) / T_c)`` for not a VIP.
  It is a linear probe with nothing to train (the class means are its weights), and it sees the
  whole of a VIP's faces where the kNN sees ``k`` of them: a face filed under the VIP it most
  resembles (a lookalike) still sits closer to its own person's centroid. "Not a VIP" is many
  people, but their faces still share a direction (the sources, poses and image quality of the
  photos that are not of VIPs): an unknown person's face filed under a VIP (open-set noise) leans
  towards it, where a constant ``b`` saw only that it is far from every VIP (issue 14: open-set AP
  lfw158 0.958 -> 0.983, lfw40 0.937 -> 0.983 at seed 0; it is what cleanlab's logistic
  regression, with "not a VIP" as one more class, had over the constant). That column also holds a
  floor: a face that matches its VIP's centroid no better than the median unknown face matches any
  VIP's (:func:`unknown_floor`) is "not a VIP" as well. Non-faces from the detector need it: they
  look like each other more than like any person, so their neighbours are other non-faces filed
  under other VIPs, no single other label wins, and the margin put them behind hard photos of the
  right people (``bench/noise.py``, 5% non-faces on glint24: AP 0.930 -> 0.964, 0.841 -> 0.916 on
  the worst seed, where cleanlab's best reaches 0.892; every regime cell as before). It is not
  fitted: the likelihood of labels that hold the errors it is for argues it away.

``p(l | x) = (1 - w) p_knn + w p_cent`` with ``w = centroid_weight`` (0.5; 0 gives the kNN alone),
and the probability that the face's own label y is wrong is ``1 - p(y | x)``. The queue is ordered
by the margin ``p(best other label | x) - p(y | x)`` (cleanlab's "normalized margin", here on this
posterior): a positive margin means "another label is more likely than the given one". ``T``,
``s0``, ``T_c`` and ``b`` are fitted by maximising the leave-one-out likelihood of the given labels
(most labels are right, so this is the usual self-calibration of cleanlab-style methods), averaging
the two directions so that the many distractors do not drown the VIPs.

Measured on frozen SFace embeddings (``bench/noise.py --regimes``: lookalike, open-set and mixed
noise in six regimes of 12 to 177 VIPs, 18 cells per seed) against cleanlab's best ranking on 5-fold
out-of-fold logistic regression: the kNN alone was at or above it in 5 of 18 cells (seed 0; 6 at
seed 1), the average with a constant "not a VIP" in 13 (12), with the not-VIP mean in 18 (14), e.g.
lfw158 lookalike AP 0.906 -> 0.969 -> 0.989 vs 0.957. Over seeds 0-4, with LFW's own label
errors (``bench/lfw_label_errors.csv``: faces it puts first, checked by eye) counted as the errors
they are, it is at or above cleanlab on the seed mean in 18 of 18 cells and in 85 of 90 single
seeds (the worst 0.003 AP behind); on LFW's labels as given, which count those faces as clean, in 15
of 18 and 75 of 90. Neither part needs training: the cost is one kNN
search (exact up to ``exact_up_to`` faces, IVF beyond) and one N x C x D product with the centroids
in row chunks; 100k faces and 1,000 VIPs took 30 s wall / 45 s CPU and 0.75 GB on a 2-core machine
(the kNN alone 18 s / 33 s / 0.64 GB).

Because both directions (a face filed under a VIP that is someone else or nobody; a face filed as
a distractor or candidate that is a VIP) get the same posterior on the same scale, ONE queue
sorted by it serves the face most likely to be wrong next, whatever its direction. Each face also
gets a hint: the most probable label other than its own (a VIP, or -1 = not a VIP).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ml.index import l2_normalise, nearest_neighbours
from ml.sampling import even_sample

NOT_VIP = -1
DEFAULT_K = 20
TEMPERATURES = (0.01, 0.02, 0.03, 0.05, 0.08, 0.12)
BACKGROUNDS = (0.2, 0.3, 0.4, 0.5, 0.6)
# the centroid posterior's bias b for "not a VIP", added to the face's cosine to the not-VIP mean
CENTROID_BACKGROUNDS = (-0.3, -0.2, -0.1, 0.0, 0.1, 0.2, 0.3, 0.4)
# the share of not-VIP-labelled faces whose best VIP-centroid cosine sets the floor of "not a VIP"
# (:func:`unknown_floor`): the median unknown face; negative: no floor
FLOOR_QUANTILE = 0.5
EXACT_UP_TO = 50_000
UNKNOWN_QUANTILE = 0.99  # share of not-VIP-labelled faces whose best VIP match sets the "unknown" level
_CELLS = 4_000_000  # posterior cells (faces x labels) held at once
CENTROID_WEIGHT = 0.5  # the centroid posterior's share of the average (0: the kNN posterior alone)
FIT_SAMPLE = 10_000  # faces the centroid posterior's temperature and background are fitted on


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
    kNN posterior's fitted parameters; ``centroid_temperature``/``centroid_background``: the
    centroid posterior's, ``centroid_weight`` its share (None: not known, e.g. rebuilt from parts
    stored without them)."""

    p_wrong: np.ndarray
    margin: np.ndarray
    suggested_label: np.ndarray
    suggested_probability: np.ndarray
    direction: np.ndarray
    order: np.ndarray
    temperature: float
    background: float
    centroid_temperature: float | None = None
    centroid_background: float | None = None
    centroid_weight: float | None = None
    centroid_floor: float | None = None

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
        centroid_temperature: float | None = None,
        centroid_background: float | None = None,
        centroid_weight: float | None = None,
        centroid_floor: float | None = None,
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
            centroid_temperature=None if centroid_temperature is None else float(centroid_temperature),
            centroid_background=None if centroid_background is None else float(centroid_background),
            centroid_weight=None if centroid_weight is None else float(centroid_weight),
            centroid_floor=None if centroid_floor is None else float(centroid_floor),
        )

    def worth_a_look(self, min_p_wrong: float = 0.5) -> np.ndarray:
        """Positions of the faces whose label is wrong with probability >= ``min_p_wrong`` or for which
        another label is more likely than the given one, in queue order (what a queue's size should count)."""
        keep = (self.p_wrong[self.order] >= min_p_wrong) | (self.margin[self.order] > 0)
        return self.order[keep]


def centroid_sums(x_unit: np.ndarray, labels: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Per VIP the sum of its L2-normalised faces (C x D, float64) and its face count."""
    vip = labels >= 0
    sums = np.zeros((n_classes, x_unit.shape[1]))
    np.add.at(sums, labels[vip], x_unit[vip].astype(np.float64))
    return sums, np.bincount(labels[vip], minlength=n_classes)


def centroid_similarities(x_unit: np.ndarray, labels: np.ndarray, sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Rows x C cosines of these unit faces to each VIP's centroid, the face itself left out of its
    own VIP's (-inf where a VIP has no other face). ``sums``/``counts``: :func:`centroid_sums` of
    the set these faces belong to."""
    norms = np.linalg.norm(sums, axis=1)
    # float32: the rows x C product is most of the cost; the own column, which subtracts the face
    # itself from a sum of up to hundreds, is recomputed in float64
    sims = (x_unit.astype(np.float32) @ sums.T.astype(np.float32)) / np.maximum(norms, 1e-12).astype(np.float32)
    rows = np.flatnonzero(labels >= 0)
    own = labels[rows]
    g_own = np.einsum("ij,ij->i", x_unit[rows].astype(np.float64), sums[own])
    rest = np.sqrt(np.maximum(norms[own] ** 2 - 2.0 * g_own + 1.0, 1e-12))  # |sum - x| for a unit x
    sims[rows, own] = np.where(counts[own] > 1, (g_own - 1.0) / rest, -np.inf)
    sims[:, counts == 0] = -np.inf
    return sims


def not_vip_similarities(x_unit: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per face, its cosine to the mean of the not-VIP-labelled unit faces, itself left out (0 where
    no other not-VIP face exists)."""
    other = labels < 0
    total = x_unit[other].astype(np.float64).sum(axis=0)
    g = x_unit.astype(np.float64) @ total
    loo = np.where(other, g - 1.0, g)  # a unit face's dot product with itself is 1
    norms = np.where(
        other, np.sqrt(np.maximum(total @ total - 2.0 * g + 1.0, 0.0)), np.full(len(labels), np.linalg.norm(total))
    )
    others = np.where(other, other.sum() - 1, other.sum())  # not-VIP faces in each face's mean
    return np.where((others > 0) & (norms > 1e-6), loo / np.maximum(norms, 1e-12), 0.0)


def unknown_floor(sims: np.ndarray, labels: np.ndarray, quantile: float = FLOOR_QUANTILE) -> float:
    """The cosine to a VIP's centroid that a typical unknown face reaches: the ``quantile`` of the
    not-VIP-labelled faces' best VIP-centroid cosine (``sims``: rows x C, :func:`centroid_similarities`).
    -inf without such faces or with a negative quantile (no floor)."""
    unknown = np.flatnonzero(labels < 0)
    if quantile < 0 or not unknown.size or not sims.shape[1]:
        return -np.inf
    best = sims[unknown].max(axis=1)
    best = best[np.isfinite(best)]
    return float(np.quantile(best, quantile)) if best.size else -np.inf


def centroid_posterior(
    sims: np.ndarray,
    *,
    temperature: float,
    background: float,
    not_vip_sims: np.ndarray | None = None,
    floor: float = -np.inf,
) -> np.ndarray:
    """Rows x (C + 1): softmax of ``sims / temperature`` with one more column, "not a VIP", at
    ``background`` plus each row's ``not_vip_sims`` (:func:`not_vip_similarities`; none: 0), that
    column and ``floor`` (a face that matches no VIP better than a typical unknown face) summed in
    probability (:func:`unknown_floor`)."""
    column = np.full(len(sims), float(background)) if not_vip_sims is None else background + not_vip_sims
    column = temperature * np.logaddexp(column / temperature, floor / temperature)
    z = np.concatenate([sims, column[:, None]], axis=1) / temperature
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)


def fit_centroid_posterior(
    sims: np.ndarray,
    labels: np.ndarray,
    *,
    not_vip_sims: np.ndarray | None = None,
    temperatures: tuple[float, ...] = TEMPERATURES,
    backgrounds: tuple[float, ...] = CENTROID_BACKGROUNDS,
) -> tuple[float, float]:
    """The (temperature, background) of the centroid posterior with the highest leave-one-out
    log-likelihood of the given labels, the mean of the two directions' means (as :func:`fit_posterior`).

    The VIP columns' log-sum-exp does not depend on the background, so each temperature costs one
    pass over the rows x C similarities and each background one pass over the rows."""
    n, n_vips = sims.shape
    extra = np.zeros(n) if not_vip_sims is None else not_vip_sims.astype(np.float64)
    vip = labels >= 0
    rows_here = np.arange(n)
    own_sim = np.where(vip, sims[rows_here, np.maximum(labels, 0)] if n_vips else 0.0, 0.0)
    step = max(1, _CELLS // max(n_vips, 1))
    best, best_ll = (temperatures[0], backgrounds[0]), -np.inf
    for t in temperatures:
        lse = np.full(n, -np.inf)
        for start in range(0, n, step):  # row chunks: a few cells at a time
            rows = slice(start, start + step)
            if n_vips:
                z = sims[rows] / t
                top = z.max(axis=1)
                finite = np.isfinite(top)
                lse[rows] = np.where(
                    finite, top + np.log(np.exp(z - np.where(finite, top, 0.0)[:, None]).sum(axis=1)), -np.inf
                )
        for s0 in backgrounds:
            other = (s0 + extra) / t
            log_norm = np.logaddexp(lse, other)
            log_p = np.where(vip, own_sim / t, other) - log_norm
            log_p = np.maximum(log_p, np.log(1e-4))
            ll = float(np.mean([log_p[side].mean() for side in (vip, ~vip) if side.any()]))
            if ll > best_ll:
                best, best_ll = (t, s0), ll
    return best


def _knn_posterior(
    neighbour_labels: np.ndarray,
    neighbour_sims: np.ndarray,
    n_classes: int,
    *,
    temperature: float,
    background: float,
) -> np.ndarray:
    """Rows x (C + 1) kNN posterior (the last column "not a VIP"), dense."""
    n, k = neighbour_labels.shape
    w = _weights(neighbour_sims, temperature)
    p = np.zeros((n, n_classes + 1))
    columns = np.where(neighbour_labels >= 0, neighbour_labels, n_classes)
    np.add.at(p, (np.repeat(np.arange(n), k), columns.ravel()), w.ravel())
    p[:, n_classes] += float(np.exp((background - 1.0) / temperature))
    return p / p.sum(axis=1, keepdims=True)


def score_label_errors(
    embeddings: ArrayLike,
    labels: ArrayLike,
    *,
    k: int = DEFAULT_K,
    temperature: float | None = None,
    background: float | None = None,
    centroid_weight: float = CENTROID_WEIGHT,
    exact_up_to: int = EXACT_UP_TO,
) -> LabelErrorScores:
    """Probability that each face's label is wrong, with a hint, and the merged queue.

    ``embeddings``: N x D face embeddings (any scale; cosine is used); ``labels``: N labels,
    0..C-1 VIPs and -1 not a VIP. ``temperature``/``background`` (the kNN posterior's) default to
    the values fitted on these labels (:func:`fit_posterior`), as do the centroid posterior's
    (:func:`fit_centroid_posterior`, on at most ``FIT_SAMPLE`` faces, an even stride);
    ``centroid_weight`` is its share of the average (0: the kNN posterior alone). Deterministic.
    Cost: one kNN search (IVF beyond ``exact_up_to``) and N x C x D for the centroids, in chunks
    (measured: see the module docstring).
    """
    y = np.asarray(labels, dtype=np.int64).ravel()
    x = np.asarray(embeddings, dtype=np.float32)
    if x.ndim != 2 or len(x) != len(y):
        raise ValueError("embeddings must be N x D with one label per row")
    if y.size and y.min() < NOT_VIP:
        raise ValueError("labels must be -1 (not a VIP) or a VIP index >= 0")
    if not 0.0 <= centroid_weight <= 1.0:
        raise ValueError("centroid_weight must be in [0, 1]")
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
    n_classes = int(y.max()) + 1 if (y >= 0).any() else 0
    idx, sims = nearest_neighbours(x, k, exact_up_to=exact_up_to)
    neighbour_labels = y[idx]
    if temperature is None or background is None:
        fitted_t, fitted_b = fit_posterior(neighbour_labels, sims, y)
        temperature = fitted_t if temperature is None else temperature
        background = fitted_b if background is None else background
    evidence = _vip_evidence(x, y, temperature=temperature, exact_up_to=exact_up_to)
    x_unit = l2_normalise(x)
    sums, counts = centroid_sums(x_unit, y, n_classes)
    not_vip_sims = not_vip_similarities(x_unit, y)
    centroid_t, centroid_b, centroid_floor = TEMPERATURES[0], CENTROID_BACKGROUNDS[0], -np.inf
    if centroid_weight > 0:
        sample = even_sample(len(y), FIT_SAMPLE)
        sample_sims = centroid_similarities(x_unit[sample], y[sample], sums, counts)
        centroid_t, centroid_b = fit_centroid_posterior(sample_sims, y[sample], not_vip_sims=not_vip_sims[sample])
        # not fitted: the likelihood of labels that hold the errors it is for argues it away
        centroid_floor = unknown_floor(sample_sims, y[sample])
    own = np.zeros(len(y))
    suggested = np.full(len(y), NOT_VIP, dtype=np.int64)
    suggested_p = np.zeros(len(y))
    step = max(1, _CELLS // (n_classes + 1))
    for start in range(0, len(y), step):
        rows = np.arange(start, min(start + step, len(y)))
        p = _knn_posterior(
            neighbour_labels[rows], sims[rows], n_classes, temperature=temperature, background=background
        )
        if evidence is not None:  # a not-VIP-labelled face close to a VIP's faces: that VIP competes
            at, vip_of, q = evidence[0][rows], evidence[1][rows], evidence[2][rows]
            hit = np.flatnonzero(at)
            p[hit, n_classes] = np.minimum(p[hit, n_classes], 1.0 - q[hit])
            p[hit, vip_of[hit]] = np.maximum(p[hit, vip_of[hit]], q[hit])
        if centroid_weight > 0:
            p_cent = centroid_posterior(
                centroid_similarities(x_unit[rows], y[rows], sums, counts),
                temperature=centroid_t,
                background=centroid_b,
                not_vip_sims=not_vip_sims[rows],
                floor=centroid_floor,
            )
            p = (1.0 - centroid_weight) * p + centroid_weight * p_cent
        own_col = np.where(y[rows] >= 0, y[rows], n_classes)
        here = np.arange(len(rows))
        own[rows] = p[here, own_col]
        p[here, own_col] = -1.0  # never suggest its own label
        best = p.argmax(axis=1)
        suggested_p[rows] = np.maximum(p[here, best], 0.0)
        suggested[rows] = np.where((best == n_classes) | (p[here, best] < 0), NOT_VIP, best)
    return LabelErrorScores.from_parts(
        labels=y,
        p_wrong=1.0 - np.clip(own, 0.0, 1.0),
        suggested_label=suggested,
        suggested_probability=suggested_p,
        temperature=temperature,
        background=background,
        centroid_temperature=centroid_t,
        centroid_background=centroid_b,
        centroid_weight=centroid_weight,
        centroid_floor=centroid_floor,
    )


def _vip_evidence(
    x: np.ndarray,
    y: np.ndarray,
    *,
    temperature: float,
    exact_up_to: int,
    quantile: float = UNKNOWN_QUANTILE,
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """A VIP's faces filed as not-a-VIP (under a candidate's name) come in blocks that vote for each
    other; what gives them away is how close they are to the VIP's own faces. For each face labelled
    -1: its best match s among VIP-labelled faces, and ``q = sigmoid((s - s_u) / T)``, where ``s_u``
    is the level only a share ``1 - quantile`` of the not-VIP-labelled faces reach (most are right).
    Its kNN own-label probability becomes ``min(p(-1 | x), 1 - q)`` and the matched VIP's at least q.
    Returns per face (aligned with ``y``): whether it applies, the matched VIP, q; None when nothing does."""
    not_vip = np.flatnonzero(y < 0)
    vip = np.flatnonzero(y >= 0)
    if not_vip.size < 2 or vip.size == 0 or quantile >= 1.0:
        return None
    from ml.index import FaceIndex

    index = FaceIndex(x.shape[1], ivf_threshold=max(exact_up_to, 1))
    index.add(vip, x[vip])
    ids, best = index.search(x[not_vip], 1)
    best_sim = best[:, 0].astype(np.float64)
    level = float(np.quantile(best_sim, quantile))
    at = np.zeros(len(y), dtype=bool)
    vip_of = np.zeros(len(y), dtype=np.int64)
    q = np.zeros(len(y))
    at[not_vip] = True
    vip_of[not_vip] = y[ids[:, 0]]
    q[not_vip] = 1.0 / (1.0 + np.exp(-(best_sim - level) / temperature))
    return at, vip_of, q


def _direction(labels: np.ndarray) -> np.ndarray:
    return np.where(labels >= 0, "vip_mislabelled", "distractor_is_vip")
