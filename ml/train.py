"""Training a VIP classifier, in the style of torchvision's ``references/classification``.

Plain functions over a :class:`TrainConfig`: :func:`train_one_epoch` and :func:`evaluate` do the
loops, :func:`train_classifier` runs a whole job (train, calibrate on val, evaluate on test, score
label noise on train, diagnose classes, save ``model.pt``) and :func:`load_classifier` gives the
:class:`Classifier` that video tagging uses.

Two modes:

* ``head``: a small head on frozen face embeddings (N x D float32); seconds on a CPU. The
  out-of-sample noise score (k-fold cross-fitting) is only computed here, where it is cheap.
* ``finetune``: a torchvision backbone trained on aligned face crops (paths or uint8 arrays) with
  horizontal flips, RandomResizedCrop over 80-100% of the area (aspect 0.9-1.1: aligned faces
  keep their geometry), TrivialAugmentWide; never a vertical flip. Mixed precision and pinned
  memory on CUDA.

Labels: 0..C-1 VIPs, -1 distractors. Same seed, same machine, CPU: same result.
"""
from __future__ import annotations

import io
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, TypedDict

import numpy as np
import torch
from torch import Tensor, nn
from torchvision.transforms import v2

from ml.calibration import expected_calibration_error, fit_temperature, reliability_curve
from ml.device import autocast_context, default_batch_size, grad_scaler, pick_device, pin_memory
from ml.diagnosis import confused_pairs, diagnose_classes
from ml.gallery import Gallery, fit_probability_map
from ml.images import load_image
from ml.index import atomic_write_bytes
from ml.label_quality import score_label_errors
from ml.losses import LossSpec, get_loss, vip_probabilities
from ml.metrics import OpenSetReport, open_set_report, threshold_for_precision
from ml.models import FaceClassifierNet, build_classifier
from ml.noise import VIP_MISLABELLED, NoiseScores, cross_fit, score_label_noise, training_loss_score
from ml.operating_point import DEFAULT_FARS, operating_point_for_far
from ml.splits import SPLITS

CHECKPOINT_FORMAT = 1
LEGACY_NOISE_LIMIT = 20_000_000  # train samples x classes up to which the older noise components are computed
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
Crop = str | Path | np.ndarray  # an aligned face crop: a file path or an H x W x 3 uint8 array


class TrainingCancelled(Exception):
    """Raised when ``should_stop()`` asked the training to stop; nothing was written."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on. ``None`` fields get a default for the mode and device
    (see :meth:`resolved`); the resolved config is what the result and ``model.pt`` record."""

    mode: Literal["head", "finetune"] = "head"
    loss: str = "me"
    # "gallery": faces are scored by their best match among each VIP's training faces (ml.gallery),
    # the default: it beats every trained head on frozen embeddings in every benchmarked regime;
    # "head": by the trained head (the thesis's losses), which is trained and stored either way
    scorer: Literal["gallery", "head"] = "gallery"
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


class RunResult(TypedDict):
    """What :func:`train_classifier` returns: plain JSON-serialisable data (None where a number is undefined)."""

    config: dict[str, Any]
    device: str
    class_names: list[str]
    counts: dict[str, dict[str, int]]
    temperature: float
    metrics: dict[str, Any]
    operating_points: dict[str, float | None]
    operating_points_by_far: dict[str, Any]
    calibration: dict[str, Any]
    diagnosis: dict[str, Any]
    samples: dict[str, dict[str, Any]]
    history: dict[str, list[float]]
    timings: dict[str, float]
    samples_per_s: float


# --------------------------------------------------------------------------------------------
# Data: batches of (inputs, labels, positions)
# --------------------------------------------------------------------------------------------
def train_transform(image_size: int) -> v2.Compose:
    """Augmentation for aligned crops: 80-100% area crops, horizontal flips, TrivialAugmentWide."""
    return v2.Compose([
        v2.RandomResizedCrop(image_size, scale=(0.8, 1.0), ratio=(0.9, 1.1), antialias=True),
        v2.RandomHorizontalFlip(),
        v2.TrivialAugmentWide(),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
    ])


def eval_transform(image_size: int) -> v2.Compose:
    """Resize to the input size and normalise; no augmentation."""
    return v2.Compose([
        v2.Resize((image_size, image_size), antialias=True),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
    ])


class CropDataset(torch.utils.data.Dataset[tuple[Tensor, int, int]]):
    """Aligned face crops (paths or H x W x 3 uint8 arrays) -> (transformed image, label, position)."""

    def __init__(self, images: Sequence[Crop], labels: np.ndarray, transform: Callable[[Tensor], Tensor]) -> None:
        self.images = images
        self.labels = labels
        self.transform = transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, position: int) -> tuple[Tensor, int, int]:
        image = self.images[position]
        pixels = image if isinstance(image, np.ndarray) else load_image(Path(image))
        tensor = torch.from_numpy(np.array(pixels, dtype=np.uint8)).permute(2, 0, 1)  # a writable copy
        return self.transform(tensor), int(self.labels[position]), position


def batch_positions(positions: np.ndarray, batch_size: int, generator: torch.Generator | None) -> list[np.ndarray]:
    """``positions`` cut into batches, shuffled by ``generator`` when given; a trailing batch of
    one joins the previous batch (batch norm cannot train on a single sample)."""
    order = positions if generator is None else positions[torch.randperm(len(positions), generator=generator).numpy()]
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if len(batches) > 1 and len(batches[-1]) == 1:
        batches[-2:] = [np.concatenate(batches[-2:])]
    return batches


def make_batches(inputs: np.ndarray | Sequence[Crop], labels: np.ndarray, batches: list[np.ndarray], *, mode: str,
                 transform: Callable[[Tensor], Tensor] | None, device: torch.device, num_workers: int = 0,
                 seed: int = 0) -> Iterable[tuple[Tensor, Tensor, Tensor]]:
    """Batches of (inputs, labels, positions) in the given order: tensor slices in head mode, a
    DataLoader over :class:`CropDataset` in finetune mode."""
    if mode == "head":
        x = torch.as_tensor(np.asarray(inputs, dtype=np.float32))
        y = torch.as_tensor(labels)
        return ((x[b], y[b], b) for b in map(torch.as_tensor, batches))
    assert transform is not None
    return torch.utils.data.DataLoader(
        CropDataset(list(inputs), labels, transform), batch_sampler=[b.tolist() for b in batches], num_workers=num_workers,
        pin_memory=pin_memory(device), generator=torch.Generator().manual_seed(seed),
    )


# --------------------------------------------------------------------------------------------
# The loops
# --------------------------------------------------------------------------------------------
@dataclass
class LossSettings:
    """A loss with its parameters bound: ``compute(outputs, labels, reduction)``."""

    spec: LossSpec
    s: float
    m: float

    def compute(self, outputs: Tensor, labels: Tensor, reduction: Literal["mean", "none"] = "mean") -> Tensor:
        return self.spec.compute(outputs, labels, s=self.s, m=self.m, reduction=reduction)

    def logits(self, outputs: Tensor) -> Tensor:
        return self.spec.logits(outputs, s=self.s, m=self.m)


def train_one_epoch(model: nn.Module, loss: LossSettings, optimizer: torch.optim.Optimizer,
                    scheduler: torch.optim.lr_scheduler.LRScheduler, batches: Iterable[tuple[Tensor, Tensor, Tensor]],
                    device: torch.device, *, scaler: torch.amp.GradScaler, n_samples: int,
                    should_stop: Callable[[], bool] | None = None) -> tuple[np.ndarray, float]:
    """One pass over ``batches``; returns each sample's loss term this epoch (by position, NaN if
    unused or not seen) and the mean batch loss. Raises :class:`TrainingCancelled` on request."""
    model.train()
    per_sample = np.full(n_samples, np.nan)
    total, steps = 0.0, 0
    for inputs, labels, positions in batches:
        if should_stop is not None and should_stop():
            raise TrainingCancelled("training was cancelled")
        inputs = inputs.to(device, non_blocking=True)
        labels = labels.to(device, non_blocking=True)
        with autocast_context(device):
            outputs = model(inputs)
        batch_loss = loss.compute(outputs.float(), labels)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(batch_loss).backward()
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        with torch.no_grad():
            per_sample[positions.numpy()] = loss.compute(outputs.detach().float(), labels, reduction="none").cpu().numpy()
        total += float(batch_loss.detach())
        steps += 1
    return per_sample, total / max(steps, 1)


@torch.no_grad()
def evaluate(model: FaceClassifierNet, batches: Iterable[tuple[Tensor, Tensor, Tensor]], device: torch.device,
             n_samples: int) -> tuple[Tensor, Tensor]:
    """Raw model outputs and embeddings (CPU float32, by position) over ``batches``, in eval mode."""
    model.eval()
    outputs: Tensor | None = None
    embeddings: Tensor | None = None
    for inputs, _, positions in batches:
        with autocast_context(device):
            features = model.embed(inputs.to(device, non_blocking=True))
            out = model.head(features)
        if outputs is None or embeddings is None:
            outputs = torch.zeros(n_samples, out.shape[1])
            embeddings = torch.zeros(n_samples, features.shape[1])
        outputs[positions] = out.float().cpu()
        embeddings[positions] = features.float().cpu()
    if outputs is None or embeddings is None:
        raise ValueError("nothing to evaluate")
    return outputs, embeddings


def warmup_then_linear_decay(warmup_steps: int, total_steps: int) -> Callable[[int], float]:
    """LR factor: linear warm-up over ``warmup_steps``, then linear decay to 0 at ``total_steps``."""
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return max(0.0, (total_steps - step) / max(total_steps - warmup_steps, 1))
    return factor


def _new_net(config: TrainConfig, data: TrainData, spec: LossSpec, seed: int) -> FaceClassifierNet:
    torch.manual_seed(seed)
    n_outputs = data.n_classes + spec.extra_outputs
    if config.mode == "head":
        return build_classifier(n_outputs=n_outputs, cosine=spec.cosine, hidden=config.hidden,
                                in_dim=np.asarray(data.inputs).shape[1])
    return build_classifier(n_outputs=n_outputs, cosine=spec.cosine, hidden=config.hidden, backbone=config.backbone,
                            weights_path=config.pretrained_weights)


def fit(config: TrainConfig, data: TrainData, positions: np.ndarray, device: torch.device, *, seed: int,
        progress: Callable[[float, str], None], should_stop: Callable[[], bool] | None) -> tuple[FaceClassifierNet, np.ndarray, list[float]]:
    """Train a fresh model on ``positions``; returns it, the per-sample loss history (epochs x len(positions))
    and the mean loss per epoch. ``progress`` receives the fraction of epochs done."""
    assert config.epochs is not None and config.lr is not None and config.batch_size is not None
    loss = LossSettings(get_loss(config.loss), config.arcface_s, config.margin)
    model = _new_net(config, data, loss.spec, seed).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    steps_per_epoch = len(batch_positions(positions, config.batch_size, None))
    epochs = config.epochs
    if config.mode == "head" and config.max_steps:
        epochs = max(1, min(epochs, math.ceil(config.max_steps / steps_per_epoch)))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, warmup_then_linear_decay(min(config.warmup_epochs, epochs - 1) * steps_per_epoch,
                                            epochs * steps_per_epoch))
    scaler = grad_scaler(device)
    order = torch.Generator().manual_seed(seed)
    transform = train_transform(config.image_size) if config.mode == "finetune" else None
    # positions local to this fit: the history and batches index 0..len(positions)-1
    local_inputs = _subset(data.inputs, positions)
    history = np.full((epochs, len(positions)), np.nan)
    epoch_losses = []
    for epoch in range(epochs):
        batches = make_batches(local_inputs, data.labels[positions],
                               batch_positions(np.arange(len(positions)), config.batch_size, order),
                               mode=config.mode, transform=transform, device=device, num_workers=config.num_workers,
                               seed=seed + epoch)
        history[epoch], mean_loss = train_one_epoch(model, loss, optimizer, scheduler, batches, device, scaler=scaler,
                                                    n_samples=len(positions), should_stop=should_stop)
        epoch_losses.append(mean_loss)
        progress((epoch + 1) / epochs, f"epoch {epoch + 1}/{epochs}: loss {mean_loss:.4f}")
    return model, history, epoch_losses


def _subset(inputs: np.ndarray | Sequence[Crop], positions: np.ndarray) -> np.ndarray | list[Crop]:
    if isinstance(inputs, np.ndarray):
        return inputs[positions]
    return [inputs[i] for i in positions]


# --------------------------------------------------------------------------------------------
# Inference
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Prediction:
    """Calibrated VIP probabilities (N x C; with a reject column they sum to less than 1), the top VIP
    label per row (no rejection applied: use :func:`ml.metrics.apply_threshold`) and its confidence."""

    probs: np.ndarray
    labels: np.ndarray
    confidence: np.ndarray


@dataclass
class Classifier:
    """A trained model ready for inference: embeddings (head mode) or aligned crops (finetune) in,
    calibrated :class:`Prediction` out."""

    net: FaceClassifierNet
    loss: LossSettings
    config: TrainConfig
    class_names: list[str]
    temperature: float = 1.0
    thresholds: dict[str, float | None] = field(default_factory=dict)
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    gallery: Gallery | None = None  # set: predictions come from the gallery (TrainConfig.scorer)

    def _batches(self, inputs: np.ndarray | Sequence[Crop]) -> Iterable[tuple[Tensor, Tensor, Tensor]]:
        assert self.config.batch_size is not None
        n = len(inputs)
        transform = eval_transform(self.config.image_size) if self.config.mode == "finetune" else None
        return make_batches(inputs, np.full(n, -1), batch_positions(np.arange(n), self.config.batch_size, None),
                            mode=self.config.mode, transform=transform, device=self.device,
                            num_workers=self.config.num_workers)

    def outputs(self, inputs: np.ndarray | Sequence[Crop]) -> tuple[Tensor, Tensor]:
        """Raw model outputs and embeddings."""
        return evaluate(self.net, self._batches(inputs), self.device, len(inputs))

    def embed(self, inputs: np.ndarray | Sequence[Crop]) -> np.ndarray:
        """The embeddings the head sees (the inputs themselves in head mode)."""
        return self.outputs(inputs)[1].numpy()

    def logits(self, inputs: np.ndarray | Sequence[Crop]) -> Tensor:
        """Inference logits before temperature scaling (with the reject column when the loss has one)."""
        return self.loss.logits(self.outputs(inputs)[0])

    def from_logits(self, logits: Tensor, *, temperature: float | None = None) -> Prediction:
        """Temperature-scaled VIP probabilities, top label and confidence from inference logits
        (at this classifier's temperature unless another is given)."""
        t = self.temperature if temperature is None else temperature
        probs, confidence = vip_probabilities(logits, t, reject_column=self.loss.spec.reject_column)
        return Prediction(probs=probs.numpy(), labels=probs.argmax(dim=1).numpy(), confidence=confidence.numpy())

    def predict(self, inputs: np.ndarray | Sequence[Crop]) -> Prediction:
        """Calibrated predictions for embeddings (head mode) or aligned crops (finetune)."""
        if len(inputs) == 0:
            c = len(self.class_names)
            return Prediction(np.zeros((0, c), np.float32), np.zeros(0, np.int64), np.zeros(0, np.float32))
        if self.gallery is not None:
            return self.from_embeddings(self.embed(inputs))
        return self.from_logits(self.logits(inputs))

    def from_embeddings(self, embeddings: np.ndarray) -> Prediction:
        """Gallery predictions (:mod:`ml.gallery`) from the embeddings the head sees."""
        assert self.gallery is not None
        probs, confidence = self.gallery.predict(self.gallery.similarities(embeddings))
        return Prediction(probs=probs, labels=probs.argmax(axis=1), confidence=confidence)

    def topk(self, inputs: np.ndarray | Sequence[Crop], k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` most probable VIP labels per row and their calibrated probabilities, best first."""
        probs = self.predict(inputs).probs
        k = min(k, probs.shape[1])
        top = np.argsort(-probs, axis=1, kind="stable")[:, :k]
        return top, np.take_along_axis(probs, top, axis=1)


def save_classifier(classifier: Classifier, path: Path) -> None:
    """Write weights, temperature, class names, thresholds and config to ``path`` atomically."""
    buffer = io.BytesIO()
    torch.save({
        "format": CHECKPOINT_FORMAT,
        "config": _json_ready(asdict(classifier.config)),
        "class_names": list(classifier.class_names),
        "temperature": float(classifier.temperature),
        "thresholds": dict(classifier.thresholds),
        "in_dim": classifier.net.head.in_dim,
        "gallery": None if classifier.gallery is None else classifier.gallery.state(),
        "state_dict": {k: v.detach().cpu() for k, v in classifier.net.state_dict().items()},
    }, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_classifier(path: str | Path, *, device: str | None = None) -> Classifier:
    """The :class:`Classifier` saved by :func:`train_classifier` at ``path`` (``out_dir / "model.pt"``)."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    if checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a FaceCurator classifier checkpoint (format {checkpoint.get('format')!r})")
    stored = dict(checkpoint["config"])
    stored.setdefault("scorer", "head")  # checkpoints from before the gallery scored with their head
    stored["false_accept_rates"] = tuple(stored.get("false_accept_rates", DEFAULT_FARS))
    config = TrainConfig(**{**stored, "precision_targets": tuple(stored["precision_targets"])})
    target = pick_device(device)
    spec = get_loss(config.loss)
    n_outputs = len(checkpoint["class_names"]) + spec.extra_outputs
    if config.mode == "head":
        net = build_classifier(n_outputs=n_outputs, cosine=spec.cosine, hidden=config.hidden, in_dim=checkpoint["in_dim"])
    else:
        net = build_classifier(n_outputs=n_outputs, cosine=spec.cosine, hidden=config.hidden, backbone=config.backbone)
    net.load_state_dict(checkpoint["state_dict"])
    return Classifier(net=net.to(target).eval(), loss=LossSettings(spec, config.arcface_s, config.margin), config=config,
                      class_names=list(checkpoint["class_names"]), temperature=float(checkpoint["temperature"]),
                      thresholds=dict(checkpoint["thresholds"]), device=target,
                      gallery=Gallery.from_state(checkpoint["gallery"]) if checkpoint.get("gallery") else None)


# --------------------------------------------------------------------------------------------
# The whole job
# --------------------------------------------------------------------------------------------
def train_classifier(config: TrainConfig, data: TrainData, *, out_dir: Path,
                     progress: Callable[[float, str], None] | None = None,
                     should_stop: Callable[[], bool] | None = None) -> RunResult:
    """Train, calibrate on val, evaluate on test, score label noise on train, diagnose, save.

    Writes ``out_dir / "model.pt"`` (atomically) and returns a JSON-serialisable :class:`RunResult`.
    ``progress(fraction, message)`` is called as work advances; when ``should_stop()`` turns true,
    :class:`TrainingCancelled` is raised and nothing is written. Torch's random state is seeded from
    ``config.seed`` for the run and restored afterwards.
    """
    device = pick_device(config.device)
    with torch.random.fork_rng(devices=[torch.cuda.current_device()] if device.type == "cuda" else []):
        return _train_classifier(config, data, device, out_dir=Path(out_dir), progress=progress, should_stop=should_stop)


def _train_classifier(config: TrainConfig, data: TrainData, device: torch.device, *, out_dir: Path,
                      progress: Callable[[float, str], None] | None,
                      should_stop: Callable[[], bool] | None) -> RunResult:
    started = time.perf_counter()
    config = config.resolved(device)
    assert config.epochs is not None  # resolved() fills it in
    if config.mode == "head":
        embeddings_in = np.asarray(data.inputs, dtype=np.float32)
        if embeddings_in.ndim != 2:
            raise ValueError(f"head mode trains on N x D embeddings, got inputs of shape {embeddings_in.shape}")
        data = replace(data, inputs=embeddings_in)
    report = progress or (lambda fraction, message: None)
    cross_fitting = config.mode == "head" and config.noise_folds >= 2
    train_share = 0.45 if cross_fitting else 0.85
    train_idx, val_idx, test_idx = (data.indices(s) for s in SPLITS)

    def check() -> None:
        if should_stop is not None and should_stop():
            raise TrainingCancelled("training was cancelled")

    timings: dict[str, float] = {}
    clock = time.perf_counter()
    net, history, epoch_losses = fit(config, data, train_idx, device, seed=config.seed,
                                     progress=lambda f, m: report(train_share * f, m), should_stop=should_stop)
    timings["train_s"] = time.perf_counter() - clock

    clock = time.perf_counter()
    out_of_sample = None
    if cross_fitting:
        out_of_sample = _cross_fitted_loss(config, data, train_idx, device, should_stop=should_stop,
                                           progress=lambda f, m: report(train_share + (0.85 - train_share) * f, m))
    timings["cross_fit_s"] = time.perf_counter() - clock

    check()
    report(0.87, "calibrating and evaluating")
    clock = time.perf_counter()
    classifier = Classifier(net=net.eval(), loss=LossSettings(get_loss(config.loss), config.arcface_s, config.margin),
                            config=config, class_names=list(data.class_names), device=device)
    outputs, embeddings = classifier.outputs(data.inputs)
    logits = classifier.loss.logits(outputs)
    targets = classifier.loss.spec.calibration_targets(torch.as_tensor(data.labels), data.n_classes)
    classifier.temperature = fit_temperature(logits[val_idx], targets[val_idx])
    uncalibrated = classifier.from_logits(logits, temperature=1.0)
    prediction = classifier.from_logits(logits)
    if config.scorer == "gallery":
        classifier.gallery = Gallery.from_faces(embeddings[train_idx].numpy(), data.labels[train_idx], data.n_classes)
        uncalibrated = classifier.from_embeddings(embeddings.numpy())
        classifier.gallery.scale, classifier.gallery.bias = fit_probability_map(
            classifier.gallery.similarities(embeddings[val_idx].numpy()), data.labels[val_idx])
        prediction = classifier.from_embeddings(embeddings.numpy())
    metrics = {split: _split_report(data, idx, prediction) for split, idx in (("val", val_idx), ("test", test_idx))}
    classifier.thresholds = _operating_points(metrics["val"], config.precision_targets)
    by_far = _far_operating_points(data, val_idx, prediction, config.false_accept_rates)
    classifier.thresholds.update({f"far_{far:g}": point["threshold"] for far, point in by_far.items()})
    timings["evaluate_s"] = time.perf_counter() - clock

    check()
    report(0.92, "scoring label noise")
    clock = time.perf_counter()
    labelled = np.concatenate([train_idx, val_idx, test_idx])
    label_errors = score_label_errors(embeddings[labelled].numpy(), data.labels[labelled], k=2 * config.noise_k)
    # the older per-direction components stay as diagnostics while they are affordable (their
    # prototype cosines are train x classes dense); the noise score itself is the label-error probability
    legacy = len(train_idx) * max(data.n_classes, 1) <= LEGACY_NOISE_LIMIT
    noise = score_label_noise(
        data.labels[train_idx], data.n_classes, embeddings=embeddings[train_idx].numpy() if legacy else None,
        training_loss=training_loss_score(history, warmup_epochs=config.warmup_epochs),
        out_of_sample_loss=out_of_sample, k=config.noise_k,
    )
    noise = _with_label_error_ranking(noise, label_errors, len(train_idx))
    timings["noise_s"] = time.perf_counter() - clock

    check()
    report(0.97, "saving the model")
    save_classifier(classifier, out_dir / "model.pt")
    timings["total_s"] = time.perf_counter() - started
    result: RunResult = {
        "config": _json_ready(asdict(config)),
        "device": str(device),
        "class_names": list(data.class_names),
        "counts": {split: {"vip": int(np.sum(data.labels[idx] >= 0)), "distractor": int(np.sum(data.labels[idx] < 0))}
                   for split, idx in zip(SPLITS, (train_idx, val_idx, test_idx), strict=True)},
        "temperature": classifier.temperature,
        "metrics": {split: None if r is None else r.as_dict(data.class_names) for split, r in metrics.items()},
        "operating_points": classifier.thresholds,
        "operating_points_by_far": {f"{far:g}": point for far, point in by_far.items()},
        "calibration": {split: _calibration(data, idx, uncalibrated, prediction)
                        for split, idx in (("val", val_idx), ("test", test_idx))},
        "diagnosis": _diagnosis(metrics["test"] or metrics["val"], data.class_names),
        "samples": _per_sample(data, prediction, train_idx, noise, labelled, label_errors),
        "history": {"loss": epoch_losses},
        "timings": timings,
        "samples_per_s": len(train_idx) * len(history) / max(timings["train_s"], 1e-9),
    }
    report(1.0, "done")
    return _json_ready(result)


def _cross_fitted_loss(config: TrainConfig, data: TrainData, train_idx: np.ndarray, device: torch.device, *,
                       should_stop: Callable[[], bool] | None, progress: Callable[[float, str], None]) -> np.ndarray:
    """Each train sample's loss under a head trained on the other folds (:func:`ml.noise.cross_fit`)."""
    loss = LossSettings(get_loss(config.loss), config.arcface_s, config.margin)
    done = [0]

    def fit_and_score(fit_positions: np.ndarray, held_out: np.ndarray) -> np.ndarray:
        fold = done[0]
        model, _, _ = fit(config, data, train_idx[fit_positions], device, seed=config.seed + 1 + fold,
                          progress=lambda f, m: progress((fold + f) / config.noise_folds, f"noise fold {fold + 1}: {m}"),
                          should_stop=should_stop)
        batches = make_batches(_subset(data.inputs, train_idx[held_out]), data.labels[train_idx[held_out]],
                               batch_positions(np.arange(len(held_out)), config.batch_size or 256, None),
                               mode="head", transform=None, device=device)
        outputs, _ = evaluate(model, batches, device, len(held_out))
        done[0] += 1
        return loss.compute(outputs, torch.as_tensor(data.labels[train_idx[held_out]]), reduction="none").numpy()

    return cross_fit(data.labels[train_idx], fit_and_score, folds=config.noise_folds, seed=config.seed)


def _split_report(data: TrainData, idx: np.ndarray, prediction: Prediction) -> OpenSetReport | None:
    if idx.size == 0:
        return None
    return open_set_report(data.labels[idx], prediction.labels[idx], prediction.confidence[idx], data.n_classes)


def _operating_points(val: OpenSetReport | None, precision_targets: tuple[float, ...]) -> dict[str, float | None]:
    """Thresholds chosen on val: max mean F1, max total accuracy, and the lowest reaching each precision target."""
    if val is None:
        return {}
    points: dict[str, float | None] = {
        "max_mean_f1": val.at_max_mean_f1.threshold,
        "max_total_accuracy": val.at_max_total_accuracy.threshold,
    }
    for target in precision_targets:
        points[f"precision_{target:g}"] = threshold_for_precision(val.sweep, target)
    return points


def _calibration(data: TrainData, idx: np.ndarray, before: Prediction, after: Prediction) -> dict[str, Any] | None:
    """Reliability curves and ECE before and after temperature scaling, over the split's VIP samples
    (correct = right class) and over all its samples (a distractor is never correct)."""
    if idx.size == 0:
        return None
    groups = {"vip": idx[data.labels[idx] >= 0], "all": idx}
    result: dict[str, Any] = {}
    for name, prediction in (("before", before), ("after", after)):
        correct = prediction.labels == data.labels
        result[name] = {group: {"ece": expected_calibration_error(prediction.confidence[rows], correct[rows]),
                                "curve": reliability_curve(prediction.confidence[rows], correct[rows]).as_dict()}
                        for group, rows in groups.items() if rows.size}
    return result


def _diagnosis(report: OpenSetReport | None, class_names: list[str]) -> dict[str, Any]:
    """Per-class statuses and confused pairs at the threshold of max mean F1."""
    if report is None:
        return {"threshold": None, "classes": [], "confused_pairs": []}
    confusion = report.at_max_mean_f1.confusion
    return {
        "threshold": report.at_max_mean_f1.threshold,
        "classes": [d.as_dict() for d in diagnose_classes(confusion, class_names)],
        "confused_pairs": [p.as_dict() for p in confused_pairs(confusion, class_names)],
    }


def _with_label_error_ranking(noise: NoiseScores, label_errors: Any, n_train: int) -> NoiseScores:
    """The train samples' noise report with the label-error margin (:mod:`ml.label_quality`) as
    its score, rank (within the direction) and suggestion; the older components are kept as they are.
    ``label_errors`` covers the train samples first."""
    margin = label_errors.margin[:n_train]
    rank = np.zeros(n_train, dtype=np.int64)
    for members in (np.flatnonzero(noise.direction == VIP_MISLABELLED), np.flatnonzero(noise.direction != VIP_MISLABELLED)):
        rank[members[np.argsort(-margin[members], kind="stable")]] = np.arange(1, members.size + 1)
    return replace(noise, combined=margin, rank=rank, suggested_label=label_errors.suggested_label[:n_train])


def _far_operating_points(data: TrainData, val_idx: np.ndarray, prediction: Prediction,
                          rates: tuple[float, ...]) -> dict[float, dict[str, Any]]:
    """The operating point for each false-accept rate on the val distractors (:mod:`ml.operating_point`)."""
    distractors = val_idx[data.labels[val_idx] < 0]
    vips = val_idx[data.labels[val_idx] >= 0]
    if distractors.size == 0:
        return {}
    return {far: operating_point_for_far(far=far, distractor_confidence=prediction.confidence[distractors],
                                         vip_confidence=prediction.confidence[vips],
                                         vip_correct=prediction.labels[vips] == data.labels[vips]).as_dict()
            for far in rates}


def _per_sample(data: TrainData, prediction: Prediction, train_idx: np.ndarray, noise: NoiseScores,
                labelled: np.ndarray, label_errors: Any) -> dict[str, dict[str, Any]]:
    """Per-sample predictions for every sample, the label-error probability and hint of every
    labelled sample (:mod:`ml.label_quality`, one queue over all splits) and the older noise scores
    for train samples, keyed by str(sample_id)."""
    samples: dict[str, dict[str, Any]] = {}
    for i in range(len(data.labels)):
        samples[str(int(data.sample_ids[i]))] = {
            "split": str(data.splits[i]), "label": int(data.labels[i]),
            "predicted": int(prediction.labels[i]), "confidence": float(prediction.confidence[i]),
        }
    for position, i in enumerate(labelled):
        samples[str(int(data.sample_ids[i]))]["label_error"] = {
            "p_wrong": float(label_errors.p_wrong[position]),
            "margin": float(label_errors.margin[position]),
            "suggested_label": int(label_errors.suggested_label[position]),
            "suggested_probability": float(label_errors.suggested_probability[position]),
        }
    for position, i in enumerate(train_idx):
        samples[str(int(data.sample_ids[i]))]["noise"] = {
            "direction": str(noise.direction[position]),
            "score": float(noise.combined[position]),
            "rank": int(noise.rank[position]),
            "suggested_label": int(noise.suggested_label[position]),
            **{name: float(values[position]) for name, values in noise.components.items()},
        }
    return samples


def _json_ready(value: Any) -> Any:
    """Numpy scalars/arrays to Python, tuples to lists, NaN/inf to None, recursively."""
    if isinstance(value, dict):
        return {str(k) if not isinstance(k, str) else k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.ndarray):
        return _json_ready(value.tolist())
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value
