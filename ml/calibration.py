"""Temperature scaling and reliability of confidences.

What distractors mean for calibration. Temperature scaling fits one T by minimising the NLL of
each sample's target under ``softmax(logits / T)``. A VIP sample's target is its class. A
distractor's target is what the model means by "none of the VIPs":

* the reject column, for models that have one (DCE, threshold softmax; see
  ``LossSpec.calibration_targets``);
* otherwise (CE, ZLog, ME, ArcFace) the uniform distribution over the VIP columns: the maximum
  entropy prediction that ME trains distractors towards. Target index -1 means exactly this.

Leaving distractors out (VIP-only NLL) is the textbook choice, and it gives the best VIP-only
ECE when the validation VIPs are not perfectly separated. But when they are (a few VIPs with
clean faces, common early on) the VIP-only NLL keeps falling as T -> 0: every confidence
saturates at 1.0 in floating point, distractors included, and no threshold can reject anything
any more. Measured on a separable toy set (8 VIPs, unseen distractors, ME head): VIP-only T hit
0.06 and the best total accuracy fell from 0.98 to 0.93. With distractors in the fit T stays
finite; the price is that VIP confidences come out somewhat under-confident when distractors are
many. The mix of VIPs and distractors in the validation split therefore shapes T.

Reliability curves and ECE take any (confidence, correct) pairs; the training job reports them
over VIP samples (correct = right class) and over all samples (a distractor is never correct).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import ArrayLike


def fit_temperature(
    logits: ArrayLike | torch.Tensor,
    targets: ArrayLike | torch.Tensor,
    *,
    max_iter: int = 200,
    bounds: tuple[float, float] = (0.05, 20.0),
) -> float:
    """The temperature T > 0 minimising the mean NLL of ``targets`` under ``softmax(logits / T)`` (LBFGS on log T).

    ``targets`` index the true column of ``logits``; -1 means "none of the columns" and targets the
    uniform distribution (see the module docstring). T > 1 softens an over-confident model. The
    result is clipped to ``bounds``; 1.0 when there is no sample.
    """
    z = torch.as_tensor(logits).detach().to("cpu", torch.float64)
    t = torch.as_tensor(targets).detach().to("cpu", torch.int64)
    if len(t) == 0:
        return 1.0
    uniform = torch.full_like(z, 1.0 / z.shape[1])
    target = torch.where((t >= 0)[:, None], F.one_hot(t.clamp(min=0), z.shape[1]).to(z.dtype), uniform)
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.5, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = -(target * F.log_softmax(z / log_t.exp(), dim=1)).sum(dim=1).mean()
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
        return {
            key: [None if isinstance(v, float) and np.isnan(v) else v for v in np.asarray(value).tolist()]
            for key, value in asdict(self).items()
        }


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
