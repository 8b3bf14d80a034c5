"""What a training run is given: its :class:`TrainConfig` (defaults resolved per mode and device)
and its samples (:class:`TrainData`), and :func:`json_ready`, which records them as plain JSON."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from ml.device import default_batch_size
from ml.losses import get_loss
from ml.operating_point import DEFAULT_FARS
from ml.splits import SPLITS

Crop = str | Path | np.ndarray  # an aligned face crop: a file path or an H x W x 3 uint8 array


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on. ``None`` fields get a default for the mode and device
    (see :meth:`resolved`); the resolved config is what the result and ``model.pt`` record."""

    mode: Literal["head", "finetune"] = "head"
    # the trained head's loss (the thesis's six); ArcFace by default: the only head that identifies the
    # VIPs as well as their nearest training face in every benchmarked regime (bench/openset_regimes.py;
    # the maximum-entropy head identifies 0.49 of 158 LFW VIPs' faces), which the fused scorer needs
    loss: str = "arcface"
    # "fused" (the default): the VIP gallery's best match and the trained head, where they name the same
    # VIP (ml.fusion): the gallery serves VIPs with few photos, the head, trained against distractors,
    # holds the false-accept rate on unknown lookalikes; "gallery": the best match among each VIP's
    # training faces alone (ml.gallery); "head": the trained head alone
    scorer: Literal["fused", "gallery", "head"] = "fused"
    backbone: str = "resnet18"  # finetune mode only
    hidden: int = 0  # 0: a linear head; > 0: one hidden layer of this width
    epochs: int | None = None  # head 30, finetune 10
    # head mode: at most this many optimiser steps (whole epochs, at least one), so that a run on
    # 200,000 faces costs what one on 20,000 does; finetune mode ignores it
    max_steps: int | None = 1000
    lr: float | None = None  # head 0.1, finetune 0.01 (SGD, linear warm-up then linear decay to 0)
    batch_size: int | None = None  # by device and mode (ml.device.default_batch_size)
    momentum: float = 0.9
    weight_decay: float = 5e-4
    seed: int = 0
    arcface_s: float = 30.0  # scale of cosine logits (arcface and tsoftmax)
    arcface_m: float = 0.5  # ArcFace additive angular margin, radians
    tsoftmax_m: float = 1.0  # threshold-softmax class-cone half-angle, radians: the threshold logit is s cos(m)
    pretrained_weights: str | None = None  # a local backbone state dict (finetune); never downloaded
    device: str | None = None  # None: CUDA when present
    warmup_epochs: int = 1  # LR warm-up; the training-loss noise score also skips these epochs
    image_size: int = 112  # finetune input side; aligned crops are resized to it
    num_workers: int = 0  # finetune data-loading processes
    noise_folds: int = 0  # head mode: folds of the cross-fitted loss diagnostic (< 2: off; ml.label_quality needs none)
    noise_k: int = 10  # neighbours for the neighbour-disagreement score
    precision_targets: tuple[float, ...] = (0.95, 0.99)  # operating points reported (on val)
    false_accept_rates: tuple[float, ...] = DEFAULT_FARS  # operating points by FAR on val distractors

    def resolved(self, device: torch.device) -> TrainConfig:
        """This config with every ``None`` replaced by the default for its mode and ``device``.

        ``device`` itself stays as requested (None = CUDA when present), so a stored config can be
        rerun on another machine; the result records where it actually ran.
        """
        head = self.mode == "head"
        if self.mode not in ("head", "finetune"):
            raise ValueError(f"mode must be 'head' or 'finetune', got {self.mode!r}")
        get_loss(self.loss)  # fail early on an unknown loss
        return replace(
            self,
            epochs=self.epochs if self.epochs is not None else (30 if head else 10),
            lr=self.lr if self.lr is not None else (0.1 if head else 0.01),
            batch_size=self.batch_size or default_batch_size(device, self.mode),
            precision_targets=tuple(self.precision_targets),
            false_accept_rates=tuple(self.false_accept_rates),
        )

    @property
    def margin(self) -> float:
        """The margin parameter the chosen cosine loss reads (ArcFace's margin or the threshold-softmax cone)."""
        return self.tsoftmax_m if self.loss == "tsoftmax" else self.arcface_m


@dataclass
class TrainData:
    """The samples of one run, aligned by position.

    ``inputs``: N x D float32 embeddings (head mode), or N aligned face crops as image paths or
    H x W x 3 uint8 arrays (finetune). ``labels``: 0..C-1 VIP, -1 distractor. ``splits``: "train",
    "val" or "test". ``sample_ids``: the caller's opaque int ids, used to key per-sample results.
    """

    inputs: np.ndarray | Sequence[Crop]
    labels: np.ndarray
    splits: np.ndarray
    class_names: list[str]
    sample_ids: np.ndarray

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels, dtype=np.int64)
        self.splits = np.asarray(self.splits).astype(str)
        self.sample_ids = np.asarray(self.sample_ids, dtype=np.int64)
        n = len(self.labels)
        if not (len(self.inputs) == len(self.splits) == len(self.sample_ids) == n):
            raise ValueError("inputs, labels, splits and sample_ids must have the same length")
        if n and (self.labels.min() < -1 or self.labels.max() >= len(self.class_names)):
            raise ValueError(f"labels must lie in -1..{len(self.class_names) - 1}")
        if not np.isin(self.splits, SPLITS).all():
            raise ValueError(f"splits must be one of {SPLITS}")
        if len(np.unique(self.sample_ids)) != n:
            raise ValueError("sample_ids must be unique")
        if not np.any((self.splits == "train") & (self.labels >= 0)):
            raise ValueError("the train split has no VIP sample")

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def indices(self, split: str) -> np.ndarray:
        return np.flatnonzero(self.splits == split)


def json_ready(value: Any) -> Any:
    """Numpy scalars/arrays to Python, tuples to lists, NaN/inf to None, recursively."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:  # the leaves of a run's report: first
        return value
    if kind is float:
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k) if not isinstance(k, str) else k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_ready(value.tolist())
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value
