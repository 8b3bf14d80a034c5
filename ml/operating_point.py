"""The operating threshold, chosen by the false-accept rate on unknown people.

An admin says how often an unknown face may be tagged as a VIP (the false-accept rate, FAR), and
the threshold follows from the scores of validation DISTRACTOR faces: people never used in
training. VIP label errors cannot move it (VIP faces are not used to place it), and one
mislabelled distractor (a VIP's face filed as unknown) moves it by at most one order statistic, or,
when the val set is too small to hold even one false accept at the chosen rate, barely at all (see
:func:`threshold_for_far`).

Precision is not a property of the model: it depends on how many of the faces seen are unknown.
At VIP recall R (VIP faces identified right and accepted), VIP acceptance A (accepted, right or
wrong) and unknown share u::

    precision = R (1 - u) / (A (1 - u) + FAR u)

which is the familiar ``R pi / (R pi + FAR (1 - pi))`` (pi = 1 - u, the share of VIP faces) when
every accepted VIP face is given the right name. Every number carries how many val faces stand
behind it and an interval (Clopper-Pearson for the FAR, whose counts are tiny; Wilson for recall).

What val can measure (:func:`measurable_far`): n val distractor faces measure a rate down to 1/n.
Below it the threshold would lie above every distractor face val holds: val cannot tell it from
any higher threshold (each accepts none of them) and the tail fit extrapolates past the data; from
a handful of faces a rate of 0.001 lands near 1 and nothing is tagged. So a rate below 1/n is
placed at 1/n, the lowest rate val measures, and the point says so (``far_rule``, ``reason``);
above MAX_MEASURABLE_FAR (fewer than 10 faces) no rate is measurable and the caller chooses
otherwise (the webapp: its target precision).

Accept rule: a face is accepted when its confidence >= threshold (:func:`ml.metrics.is_rejected`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import beta, norm

DEFAULT_FARS = (0.001, 0.01)
DEFAULT_UNKNOWN_SHARE = 0.9  # in the videos the product tags, unknown faces are the large majority
EMPIRICAL_MIN_ACCEPTS = 10  # below this many allowed false accepts on val, the tail is extrapolated
TAIL_SIZE = 50  # distractor scores the exponential tail is fitted on
MAX_MEASURABLE_FAR = 0.1  # one unknown face in ten tagged: beyond that no false-tag rate is an operating point


def wilson_interval(successes: int, trials: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion; (0, 1) when there is no trial."""
    if trials <= 0:
        return (0.0, 1.0)
    z = float(norm.ppf(0.5 + confidence / 2))
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return (max(0.0, centre - half), min(1.0, centre + half))


def clopper_pearson_interval(successes: int, trials: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper-Pearson) interval of a binomial proportion; (0, 1) when there is no trial."""
    if trials <= 0:
        return (0.0, 1.0)
    alpha = 1 - confidence
    low = 0.0 if successes == 0 else float(beta.ppf(alpha / 2, successes, trials - successes + 1))
    high = 1.0 if successes == trials else float(beta.ppf(1 - alpha / 2, successes + 1, trials - successes))
    return (low, high)


def implied_precision(*, recall: float, far: float, unknown_share: float, acceptance: float | None = None) -> float:
    """Share of accepted faces that are the right VIP: ``R (1-u) / (A (1-u) + FAR u)``.

    ``recall`` R: VIP faces identified right and accepted; ``acceptance`` A: VIP faces accepted,
    right or wrong (default R); ``far``: unknown faces accepted; ``unknown_share`` u: share of
    faces that are unknown. NaN when nothing would be accepted.
    """
    if not 0.0 <= unknown_share <= 1.0:
        raise ValueError("unknown_share must lie in [0, 1]")
    a = recall if acceptance is None else acceptance
    denominator = a * (1 - unknown_share) + far * unknown_share
    return float(recall * (1 - unknown_share) / denominator) if denominator > 0 else float("nan")


def measurable_far(far: float, n_distractor_faces: int) -> float | None:
    """The false-accept rate a threshold can be placed for on ``n_distractor_faces`` val distractor
    faces: ``far`` itself when ``far * n >= 1``, else ``1 / n``, the lowest rate they measure (see
    the module docstring); None when that exceeds MAX_MEASURABLE_FAR (fewer than 10 faces)."""
    if not 0.0 < far < 1.0:
        raise ValueError("far must lie strictly between 0 and 1")
    if n_distractor_faces <= 0:
        return None
    used = max(far, 1.0 / n_distractor_faces)
    return None if used > MAX_MEASURABLE_FAR + 1e-12 else used


def _just_above(score: float) -> float:
    """The next number above ``score`` in the precision it has: a float32 step for a float32 value.
    Models give float32 confidences, and NumPy compares a float32 array with a Python float in
    float32: a threshold one float64 step above a float32 score rounds back onto it there and
    accepts the face it was placed to reject."""
    if float(np.float32(score)) == float(score):
        return float(np.nextafter(np.float32(score), np.float32(np.inf)))
    return float(np.nextafter(float(score), np.inf))


def _float32_at_least(value: float) -> float:
    """The smallest float32 at or above ``value``. NumPy compares float32 confidences with a Python
    float in float32, where a fitted float64 threshold rounds to the nearest float32 and can land
    below itself, accepting a face the threshold was placed to reject."""
    rounded = np.float32(value)
    if float(rounded) < value:
        rounded = np.nextafter(rounded, np.float32(np.inf))
    return float(rounded)


def _logit(confidence: np.ndarray) -> np.ndarray:
    p = np.clip(confidence.astype(np.float64), 1e-12, 1 - 1e-12)
    return np.log(p) - np.log1p(-p)


def threshold_for_far(
    distractor_confidence: ArrayLike,
    far: float,
    *,
    tail_size: int = TAIL_SIZE,
    min_accepts: int = EMPIRICAL_MIN_ACCEPTS,
    scale: str = "logit",
) -> tuple[float, str]:
    """The threshold at which a share ``far`` of distractor faces would be accepted, and how it was found.

    * ``"empirical"`` when the val distractors allow at least ``min_accepts`` false accepts
      (``far * n >= min_accepts``): the lowest threshold that accepts at most ``floor(far * n)``
      of them. One extra high score (a VIP's face filed as unknown) shifts it by one order statistic.
    * ``"tail"`` otherwise: a peaks-over-threshold fit. Above ``u`` (the m-th highest score,
      m = ``tail_size``, or a quarter of the scores when fewer: the bulk is not exponential),
      scores are taken as exponential with scale ``beta`` (the tail of a best-match score, a
      maximum, is Gumbel-like), estimated from the normalised spacings of the top scores leaving
      out the highest one, so one outlier (a VIP's face filed as unknown) cannot move it;
      threshold = ``u + beta ln(m / (far n))``, never below ``u``, and never accepting more than
      ``floor(far * n)`` of the val faces.

    The fit runs on ``scale``: ``"logit"`` (confidences in (0, 1): the calibrated probabilities
    the models give) or ``"identity"`` (raw scores such as cosines). Raises ValueError with no
    distractor face.
    """
    if not 0.0 < far < 1.0:
        raise ValueError("far must lie strictly between 0 and 1")
    raw = np.asarray(distractor_confidence, dtype=np.float64).ravel()
    raw = raw[np.isfinite(raw)]
    n = raw.size
    if n == 0:
        raise ValueError("no distractor face to place the threshold on")
    if scale not in ("logit", "identity"):
        raise ValueError("scale must be 'logit' or 'identity'")
    allowed = math.floor(far * n)
    ordered = np.sort(raw)[::-1]
    if allowed >= min_accepts:
        return _just_above(ordered[allowed]), "empirical"
    z = np.sort(_logit(raw) if scale == "logit" else raw)[::-1]
    m = min(tail_size, max(3, n // 4))  # a tail, not the whole sample: the bulk is not exponential
    u = z[m - 1]
    # normalised spacings i (z_i - z_{i+1}) of an exponential tail are i.i.d. with mean beta; the
    # first (top score minus the next) is left out, so one outlier on top cannot move beta at all
    spacings = np.arange(1, m) * (z[: m - 1] - z[1:m])
    beta_hat = max(float(np.mean(spacings[1:] if m > 2 else spacings)), 1e-6) if m > 1 else 1.0
    t = u + beta_hat * math.log(m / (far * n)) if far * n < m else u
    threshold = _float32_at_least(float(1.0 / (1.0 + math.exp(-t))) if scale == "logit" else float(t))
    if allowed >= 1:  # the fit may smooth, never accept more val faces than the rate allows
        threshold = max(threshold, _just_above(ordered[allowed]))
    return threshold, "tail"


@dataclass(frozen=True)
class OperatingPoint:
    """A threshold chosen for a false-accept rate, with what it implies and how sure that is.

    ``far_target``: the rate asked for; ``far_used``: the rate the threshold is placed for, the
    same unless val holds too few distractor faces to measure it (``far_rule`` "requested" or
    "lowest_measurable", :func:`measurable_far`; ``reason`` says why, empty when the rate asked
    for is used). ``far_observed``: share of val distractor faces accepted at the threshold (with
    its Clopper-Pearson interval); ``recall``: val VIP faces identified right and accepted (Wilson
    interval); ``precision``: :func:`implied_precision` at ``unknown_share`` and ``far_used``,
    ``precision_low`` the same at the pessimistic ends of both intervals. ``method``: how the
    threshold was found (:func:`threshold_for_far`).
    """

    threshold: float
    far_target: float
    far_used: float
    far_rule: str
    reason: str
    method: str
    far_observed: float
    far_interval: tuple[float, float]
    n_distractor_faces: int
    n_distractor_people: int | None
    recall: float
    recall_interval: tuple[float, float]
    acceptance: float
    n_vip_faces: int
    unknown_share: float
    precision: float
    precision_low: float
    confidence_level: float

    def as_dict(self) -> dict[str, object]:
        """JSON-ready (NaN -> None, intervals as lists)."""
        out: dict[str, object] = {}
        for key, value in asdict(self).items():
            if isinstance(value, tuple):
                value = [float(v) for v in value]
            elif isinstance(value, float) and not math.isfinite(value):
                value = None
            out[key] = value
        return out

    def summary(self) -> str:
        """One sentence for an admin."""
        people = f" from {self.n_distractor_people} people" if self.n_distractor_people is not None else ""
        return (
            f"threshold {self.threshold:.3f}: {self.far_used:.2%} of unknown faces tagged "
            f"(val: {self.far_observed:.2%} of {self.n_distractor_faces} faces{people}, "
            f"{self.confidence_level:.0%} interval {self.far_interval[0]:.2%}-{self.far_interval[1]:.2%}); "
            f"VIP faces recognised {self.recall:.1%} of {self.n_vip_faces}; "
            f"precision {self.precision:.1%} (at least {self.precision_low:.1%}) "
            f"if {self.unknown_share:.0%} of faces are unknown" + (f" ({self.reason})" if self.reason else "")
        )


def operating_point_for_far(
    *,
    far: float,
    distractor_confidence: ArrayLike,
    vip_confidence: ArrayLike,
    vip_correct: ArrayLike,
    unknown_share: float = DEFAULT_UNKNOWN_SHARE,
    distractor_groups: ArrayLike | None = None,
    confidence_level: float = 0.95,
    scale: str = "logit",
) -> OperatingPoint:
    """The operating point for false-accept rate ``far`` from val scores.

    ``distractor_confidence``: the top-VIP confidence of each val distractor face (people never
    used in training); ``distractor_groups``: their person ids (only counted). ``vip_confidence``
    and ``vip_correct``: each val VIP face's top confidence and whether its top VIP is its label.
    The threshold is placed for :func:`measurable_far`; ValueError when val cannot measure any rate.
    """
    d = np.asarray(distractor_confidence, dtype=np.float64).ravel()
    v = np.asarray(vip_confidence, dtype=np.float64).ravel()
    right = np.asarray(vip_correct, dtype=bool).ravel()
    if v.shape != right.shape:
        raise ValueError("vip_confidence and vip_correct must have the same length")
    d = d[np.isfinite(d)]
    used = measurable_far(far, int(d.size))
    if used is None:
        raise ValueError(
            f"{d.size} distractor face(s) cannot measure a false-accept rate: "
            f"at least {math.ceil(1 / MAX_MEASURABLE_FAR)} are needed"
        )
    reason = (
        ""
        if used == far
        else (
            f"val holds {d.size} unknown faces, too few to measure a false-tag rate of {far:g} (that needs "
            f"{math.ceil(1 / far):,}); the threshold is set for {used:.2g}, the lowest rate they measure"
        )
    )
    threshold, method = threshold_for_far(d, used, scale=scale)
    false_accepts = int(np.sum(d >= threshold))
    accepted = v >= threshold
    hits = int(np.sum(accepted & right))
    n_vip = int(v.size)
    recall = hits / n_vip if n_vip else float("nan")
    acceptance = float(np.mean(accepted)) if n_vip else float("nan")
    far_interval = clopper_pearson_interval(false_accepts, d.size, confidence=confidence_level)
    recall_interval = wilson_interval(hits, n_vip, confidence=confidence_level)
    precision = (
        implied_precision(recall=recall, acceptance=acceptance, far=used, unknown_share=unknown_share)
        if n_vip
        else float("nan")
    )
    worst_far = max(used, far_interval[1])
    precision_low = (
        implied_precision(
            recall=recall_interval[0],
            acceptance=recall_interval[0] + (acceptance - recall),
            far=worst_far,
            unknown_share=unknown_share,
        )
        if n_vip
        else float("nan")
    )
    people = None if distractor_groups is None else int(len(np.unique(np.asarray(distractor_groups))))
    return OperatingPoint(
        threshold=threshold,
        far_target=float(far),
        far_used=float(used),
        far_rule="requested" if used == far else "lowest_measurable",
        reason=reason,
        method=method,
        far_observed=false_accepts / d.size,
        far_interval=far_interval,
        n_distractor_faces=int(d.size),
        n_distractor_people=people,
        recall=recall,
        recall_interval=recall_interval,
        acceptance=acceptance,
        n_vip_faces=n_vip,
        unknown_share=float(unknown_share),
        precision=precision,
        precision_low=precision_low,
        confidence_level=confidence_level,
    )
