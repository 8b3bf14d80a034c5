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
from numpy.typing import ArrayLike

from ml.sampling import even_sample

FIT_ROWS = 8_000  # val rows a calibration map's one or two parameters are fitted on


def fit_temperature(
    logits: ArrayLike | torch.Tensor,
    targets: ArrayLike | torch.Tensor,
    *,
    max_iter: int = 200,
    bounds: tuple[float, float] = (0.05, 20.0),
    max_rows: int = FIT_ROWS,
) -> float:
    """The temperature T > 0 minimising the mean NLL of ``targets`` under ``softmax(logits / T)``.

    ``targets`` index the true column of ``logits``; -1 means "none of the columns" and targets the
    uniform distribution (see the module docstring). T > 1 softens an over-confident model. The
    result is clipped to ``bounds``; 1.0 when there is no sample. One parameter needs no more than
    ``max_rows`` rows (:func:`even_sample`): 2,000 VIPs' val split would otherwise cost seconds per step.

    The NLL is convex in 1/T, so a bounded scalar search on log T finds its minimum (Brent, at most
    ``max_iter`` evaluations). Each evaluation is one log-sum-exp over the rows, in row chunks:
    no one-hot N x C targets and no gradients (2,000 VIPs x 20,000 val faces in seconds).
    """
    from scipy.optimize import minimize_scalar

    z = torch.as_tensor(logits).detach().to("cpu", torch.float32)
    t = torch.as_tensor(targets).detach().to("cpu", torch.int64)
    if len(t) == 0:
        return 1.0
    rows = torch.as_tensor(even_sample(len(t), max_rows))
    z, t = z[rows], t[rows]
    vip = t >= 0
    own = torch.where(vip, z.gather(1, t.clamp(min=0)[:, None])[:, 0], z.mean(dim=1)).double()
    step = max(1, 4_000_000 // max(z.shape[1], 1))

    def nll(log_t: float) -> float:
        inverse = float(np.exp(-log_t))
        lse = torch.cat([torch.logsumexp(z[i : i + step].double() * inverse, dim=1) for i in range(0, len(z), step)])
        return float((lse - own * inverse).mean())

    low, high = np.log(bounds[0]) - 1.0, np.log(bounds[1]) + 1.0
    found = minimize_scalar(nll, bounds=(low, high), method="bounded", options={"maxiter": max_iter, "xatol": 1e-6})
    temperature = float(np.exp(found.x))
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
