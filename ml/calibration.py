"""Temperature scaling and reliability of confidences.

What distractors mean for calibration: a calibrated confidence should read as "the probability
that this VIP prediction is right". Temperature scaling fits one T by minimising the NLL of the
true class, so it can only use samples whose true class is a column of the logits:

* VIP samples always are (their label).
* Distractors are only when the model has a "none of the VIPs" column (DCE, threshold softmax):
  then they are ordinary samples of that class and take part.
* Otherwise (CE, ZLog, ME, ArcFace) a distractor has no true column and is left out. Fitting it
  to a uniform target instead would push T up until VIP predictions look under-confident, and
  rejecting distractors is the threshold's job, chosen on the threshold sweep, not T's.

The same rule applies to reliability curves: they are drawn over VIP samples (confidence = top VIP
probability, correct = the top VIP is the true one).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import ArrayLike


def fit_temperature(logits: ArrayLike | torch.Tensor, targets: ArrayLike | torch.Tensor, *, max_iter: int = 200,
                    bounds: tuple[float, float] = (0.05, 20.0)) -> float:
    """The temperature T > 0 minimising the NLL of ``softmax(logits / T)`` on ``targets`` (LBFGS on log T).

    ``targets`` index a column of ``logits``; samples with target -1 have no true column and are
    ignored (see the module docstring). Returns 1.0 when no sample is usable. T > 1 softens an
    over-confident model. The result is clipped to ``bounds``.
    """
    z = torch.as_tensor(logits).detach().to("cpu", torch.float64)
    t = torch.as_tensor(targets).detach().to("cpu", torch.int64)
    used = t >= 0
    if not bool(used.any()):
        return 1.0
    z, t = z[used], t[used]
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.5, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(z / log_t.exp(), t)
        loss.backward()
        return loss

    optimizer.step(closure)
    temperature = float(log_t.detach().exp())
    if not np.isfinite(temperature):
        return 1.0
    return float(np.clip(temperature, *bounds))


@dataclass(frozen=True)
class ReliabilityCurve:
    """Equal-width confidence bins over [0, 1]: per bin the mean confidence, accuracy and count
    (NaN confidence/accuracy for empty bins)."""

    bin_edges: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray
    count: np.ndarray

    def as_dict(self) -> dict[str, list[float | int | None]]:
        """JSON-ready lists (None for empty bins)."""
        return {key: [None if isinstance(v, float) and np.isnan(v) else v for v in np.asarray(value).tolist()]
                for key, value in asdict(self).items()}


def reliability_curve(confidences: ArrayLike, correct: ArrayLike, n_bins: int = 15) -> ReliabilityCurve:
    """Bin ``confidences`` into ``n_bins`` equal-width bins (last bin closed at 1.0) and compare
    each bin's mean confidence with the share of ``correct`` predictions in it."""
    conf = np.asarray(confidences, dtype=np.float64).ravel()
    hit = np.asarray(correct, dtype=np.float64).ravel()
    if conf.shape != hit.shape:
        raise ValueError("confidences and correct must have the same length")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.clip(np.searchsorted(edges, conf, side="right") - 1, 0, n_bins - 1)
    count = np.bincount(bins, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(bins, weights=conf, minlength=n_bins) / count
        accuracy = np.bincount(bins, weights=hit, minlength=n_bins) / count
    return ReliabilityCurve(bin_edges=edges, confidence=mean_conf, accuracy=accuracy, count=count)


def expected_calibration_error(confidences: ArrayLike, correct: ArrayLike, n_bins: int = 15) -> float:
    """ECE = sum over bins of (n_b / N) |accuracy_b - confidence_b| on the :func:`reliability_curve` bins (0 when empty)."""
    curve = reliability_curve(confidences, correct, n_bins)
    total = curve.count.sum()
    if total == 0:
        return 0.0
    filled = curve.count > 0
    gaps = np.abs(curve.accuracy[filled] - curve.confidence[filled])
    return float(np.sum(curve.count[filled] / total * gaps))
