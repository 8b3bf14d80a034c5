"""Losses for recognising a closed set of VIPs among distractors.

Labels everywhere: VIP samples carry 0..C-1, distractors (everyone else) carry -1.

Each loss is one small function ``loss(outputs, labels, ..., reduction="mean")``. It computes one
term per sample and, with ``reduction="mean"``, averages the terms of the samples it uses (a loss
that ignores distractors averages over VIP samples only, so distractors weigh by their share of
the batch in the losses that use them). ``reduction="none"`` returns the per-sample terms, with NaN
for samples the loss does not use; the noise scores read these.

Notation: z = logits (N x C), p = softmax(z), H(p) = -sum_j p_j log p_j, H(p, y) = -log p_y,
x+ a VIP sample with label y+, x- a distractor; cos = cosine similarities to the C class weights.

``LOSSES`` maps a name to a :class:`LossSpec` that also says how the model's outputs become VIP
probabilities and a rejection confidence at inference (:func:`vip_probabilities`, T = the fitted
temperature; the confidence is always the largest VIP probability):

=========== ======================================= =============================================
loss        inference logits                        VIP probabilities
=========== ======================================= =============================================
ce/zlog/me  z (C)                                   softmax(z / T)
dce         z (C + 1, last = distractor)            softmax(z / T) without the last column
arcface     s cos (C; no margin at inference)       softmax(s cos / T)
tsoftmax    [s cos, s cos(m)] (C + 1)               softmax(... / T) without the threshold column
=========== ======================================= =============================================
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

Reduction = Literal["mean", "none"]


def _reduce(terms: Tensor, used: Tensor, reduction: Reduction) -> Tensor:
    """Per-sample terms -> the mean over used samples (0 with a gradient when none), or the terms with NaN for unused ones."""
    if reduction == "none":
        return torch.where(used, terms, torch.full_like(terms, float("nan")))
    if reduction != "mean":
        raise ValueError(f"unknown reduction {reduction!r}")
    if not bool(used.any()):
        return terms.sum() * 0.0
    return terms[used].mean()


def entropy(logits: Tensor) -> Tensor:
    """H(softmax(z)) per row: log C for a flat prediction, 0 for a one-hot one."""
    log_p = F.log_softmax(logits.float(), dim=-1)
    return -(log_p.exp() * log_p).sum(dim=-1)


def cross_entropy(logits: Tensor, labels: Tensor, *, reduction: Reduction = "mean") -> Tensor:
    """CE: ``L = mean over x+ of H(f(x+), y+)``; distractors are not used.

    The closed-set baseline: it never sees a distractor, so any rejection comes from the
    confidence threshold alone.
    """
    terms = F.cross_entropy(logits.float(), labels.clamp(min=0), reduction="none")
    return _reduce(terms, labels >= 0, reduction)


def distractor_class_cross_entropy(logits: Tensor, labels: Tensor, *, reduction: Reduction = "mean") -> Tensor:
    """DCE: ``L = mean over all samples of H(f(x), t)`` over C+1 outputs, t = y+ for VIPs and t = C for distractors.

    Distractors form one extra class; the model must output C+1 logits.
    """
    n_vip_classes = logits.shape[1] - 1
    targets = torch.where(labels >= 0, labels, torch.full_like(labels, n_vip_classes))
    terms = F.cross_entropy(logits.float(), targets, reduction="none")
    return _reduce(terms, torch.ones_like(labels, dtype=torch.bool), reduction)


def zero_logit(logits: Tensor, labels: Tensor, *, reduction: Reduction = "mean") -> Tensor:
    """ZLog: ``L = mean over samples of [H(f(x+), y+)  or  MSE(z(x-), 0) = (1/C) sum_j z_j(x-)^2]``.

    Distractors are pushed to all-zero logits, hence a flat prediction with small logits.
    """
    z = logits.float()
    vip = labels >= 0
    ce = F.cross_entropy(z, labels.clamp(min=0), reduction="none")
    mse = z.pow(2).mean(dim=1)
    return _reduce(torch.where(vip, ce, mse), torch.ones_like(vip), reduction)


def maximum_entropy(logits: Tensor, labels: Tensor, *, reduction: Reduction = "mean") -> Tensor:
    """ME (the default): ``L = mean over samples of [H(f(x+), y+)  or  -H(f(x-))]``.

    Distractors are pushed to maximum entropy (a flat prediction, term -log C at best), so their
    top probability is low and the confidence threshold rejects them.
    """
    z = logits.float()
    vip = labels >= 0
    ce = F.cross_entropy(z, labels.clamp(min=0), reduction="none")
    return _reduce(torch.where(vip, ce, -entropy(z)), torch.ones_like(vip), reduction)


def _cos_plus_margin(cos: Tensor, m: float) -> Tensor:
    """cos(theta + m) for cos = cos(theta), theta in [0, pi]; past theta = pi - m it continues
    linearly as cos(theta) - m sin(m) (InsightFace's rule) so the logit keeps decreasing in theta."""
    sin = torch.sqrt((1.0 - cos * cos).clamp(min=0.0))
    shifted = cos * math.cos(m) - sin * math.sin(m)
    return torch.where(cos > math.cos(math.pi - m), shifted, cos - math.sin(math.pi - m) * m)


def arcface(cosines: Tensor, labels: Tensor, *, s: float, m: float, reduction: Reduction = "mean") -> Tensor:
    """ArcFace: ``L = mean over x+ of H(softmax(s * cos'), y+)`` with cos'_j = cos(theta_j + m) for j = y+, cos_j otherwise.

    Additive angular margin on cosine logits (``cosines`` = normalised features . normalised class
    weights). Distractors are NOT used: this is the standard ArcFace; the variant that trains
    distractors towards low cosine is the threshold softmax (:func:`threshold_softmax`).
    """
    cos = cosines.float().clamp(-1.0, 1.0)
    target = F.one_hot(labels.clamp(min=0), cos.shape[1]).bool()
    margined = torch.where(target, _cos_plus_margin(cos, m), cos)
    terms = F.cross_entropy(s * margined, labels.clamp(min=0), reduction="none")
    return _reduce(terms, labels >= 0, reduction)


def threshold_logits(cosines: Tensor, s: float, m: float) -> Tensor:
    """``[s cos_1, ..., s cos_C, s cos(m)]``: the class logits plus one fixed threshold logit."""
    threshold = torch.full_like(cosines[:, :1], s * math.cos(m), dtype=torch.float32)
    return torch.cat([s * cosines.float(), threshold], dim=1)


def threshold_softmax(cosines: Tensor, labels: Tensor, *, s: float, m: float, reduction: Reduction = "mean") -> Tensor:
    """Threshold-Softmax: ``L = mean over samples of H(softmax([s cos, s cos(m)]), t)``, t = y+ or C for distractors.

    The appended fixed logit ``s cos(m)`` wins for any face outside every class cone (angle > m
    to all class weights); distractors are trained towards it, VIPs into their own cone.
    """
    n_vip_classes = cosines.shape[1]
    targets = torch.where(labels >= 0, labels, torch.full_like(labels, n_vip_classes))
    terms = F.cross_entropy(threshold_logits(cosines, s, m), targets, reduction="none")
    return _reduce(terms, torch.ones_like(labels, dtype=torch.bool), reduction)


@dataclass(frozen=True)
class LossSpec:
    """A loss plus what the model must emit for it and how its outputs are read at inference.

    ``cosine``: the model emits cosine similarities (cosine-normalised head) and the loss takes a
    scale ``s`` and margin ``m``. ``extra_outputs``: the model emits C + extra_outputs values.
    ``reject_column``: the inference logits end with a "none of the VIPs" column that competes in
    the softmax (so VIP probabilities sum to less than 1).
    """

    name: str
    loss: Callable[..., Tensor]
    inference_logits: Callable[[Tensor, float, float], Tensor]
    cosine: bool = False
    extra_outputs: int = 0
    reject_column: bool = False

    def compute(self, outputs: Tensor, labels: Tensor, *, s: float, m: float, reduction: Reduction = "mean") -> Tensor:
        """The loss of ``outputs`` against ``labels`` (``s``, ``m`` are only read by cosine losses)."""
        if self.cosine:
            return self.loss(outputs, labels, s=s, m=m, reduction=reduction)
        return self.loss(outputs, labels, reduction=reduction)

    def logits(self, outputs: Tensor, *, s: float, m: float) -> Tensor:
        """Logits (N x C, or N x C+1 with a reject column) for temperature scaling and the softmax."""
        return self.inference_logits(outputs.float(), s, m)

    def calibration_targets(self, labels: Tensor, n_classes: int) -> Tensor:
        """Targets for temperature fitting: the VIP label; for a distractor the reject column
        (index C = ``n_classes``) when there is one, else -1, which :func:`ml.calibration.fit_temperature`
        reads as the uniform distribution over the VIP columns."""
        if not self.reject_column:
            return labels
        return torch.where(labels >= 0, labels, torch.full_like(labels, n_classes))


def _raw(outputs: Tensor, s: float, m: float) -> Tensor:
    return outputs


def _scaled_cosines(cosines: Tensor, s: float, m: float) -> Tensor:
    return s * cosines


LOSSES: dict[str, LossSpec] = {
    "ce": LossSpec("ce", cross_entropy, _raw),
    "dce": LossSpec("dce", distractor_class_cross_entropy, _raw, extra_outputs=1, reject_column=True),
    "zlog": LossSpec("zlog", zero_logit, _raw),
    "me": LossSpec("me", maximum_entropy, _raw),
    "arcface": LossSpec("arcface", arcface, _scaled_cosines, cosine=True),
    "tsoftmax": LossSpec("tsoftmax", threshold_softmax, threshold_logits, cosine=True, reject_column=True),
}


def get_loss(name: str) -> LossSpec:
    """The registered loss called ``name`` (see ``LOSSES``)."""
    try:
        return LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; choose one of {sorted(LOSSES)}") from None


def vip_probabilities(logits: Tensor, temperature: float, *, reject_column: bool) -> tuple[Tensor, Tensor]:
    """Calibrated VIP probabilities (N x C) and the rejection confidence (N) from inference logits.

    ``p = softmax(logits / T)``. Without a reject column the C probabilities sum to 1. With one
    (DCE, threshold softmax) the last column is "none of the VIPs": it competes in the softmax and
    is dropped, so the VIP probabilities sum to 1 - p(reject). In both cases the confidence is the
    largest VIP probability: a face is rejected as a distractor when it is below the threshold.
    """
    probs = torch.softmax(logits.float() / temperature, dim=1)
    if reject_column:
        probs = probs[:, :-1]
    return probs, probs.max(dim=1).values
