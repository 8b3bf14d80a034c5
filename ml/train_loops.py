"""The training loops, as in torchvision's ``references/classification``: :func:`train_one_epoch`,
:func:`evaluate`, the learning-rate schedule, and :func:`fit`, which trains a fresh model."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn

from ml.device import autocast_context, grad_scaler
from ml.losses import LossSpec, get_loss
from ml.models import FaceClassifierNet, build_classifier
from ml.train_batches import batch_positions, inputs_subset, make_batches, train_transform
from ml.train_config import TrainConfig, TrainData


class TrainingCancelled(Exception):
    """Raised when ``should_stop()`` asked the training to stop; nothing was written."""


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


def train_one_epoch(
    model: nn.Module,
    loss: LossSettings,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    batches: Iterable[tuple[Tensor, Tensor, Tensor]],
    device: torch.device,
    *,
    scaler: torch.amp.GradScaler,
    n_samples: int,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[np.ndarray, float]:
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
            per_sample[positions.numpy()] = (
                loss.compute(outputs.detach().float(), labels, reduction="none").cpu().numpy()
            )
        total += float(batch_loss.detach())
        steps += 1
    return per_sample, total / max(steps, 1)


@torch.no_grad()
def evaluate(
    model: FaceClassifierNet, batches: Iterable[tuple[Tensor, Tensor, Tensor]], device: torch.device, n_samples: int
) -> tuple[Tensor, Tensor]:
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
        return build_classifier(
            n_outputs=n_outputs, cosine=spec.cosine, hidden=config.hidden, in_dim=np.asarray(data.inputs).shape[1]
        )
    return build_classifier(
        n_outputs=n_outputs,
        cosine=spec.cosine,
        hidden=config.hidden,
        backbone=config.backbone,
        weights_path=config.pretrained_weights,
    )


def fit(
    config: TrainConfig,
    data: TrainData,
    positions: np.ndarray,
    device: torch.device,
    *,
    seed: int,
    progress: Callable[[float, str], None],
    should_stop: Callable[[], bool] | None,
) -> tuple[FaceClassifierNet, np.ndarray, list[float]]:
    """Train a fresh model on ``positions``; returns it, the per-sample loss history (epochs x len(positions))
    and the mean loss per epoch. ``progress`` receives the fraction of epochs done."""
    assert config.epochs is not None and config.lr is not None and config.batch_size is not None
    loss = LossSettings(get_loss(config.loss), config.arcface_s, config.margin)
    model = _new_net(config, data, loss.spec, seed).to(device)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )
    steps_per_epoch = len(batch_positions(positions, config.batch_size, None))
    epochs = config.epochs
    if config.mode == "head" and config.max_steps:
        epochs = max(1, min(epochs, math.ceil(config.max_steps / steps_per_epoch)))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        warmup_then_linear_decay(min(config.warmup_epochs, epochs - 1) * steps_per_epoch, epochs * steps_per_epoch),
    )
    scaler = grad_scaler(device)
    order = torch.Generator().manual_seed(seed)
    transform = train_transform(config.image_size) if config.mode == "finetune" else None
    # positions local to this fit: the history and batches index 0..len(positions)-1
    local_inputs = inputs_subset(data.inputs, positions)
    history = np.full((epochs, len(positions)), np.nan)
    epoch_losses = []
    for epoch in range(epochs):
        batches = make_batches(
            local_inputs,
            data.labels[positions],
            batch_positions(np.arange(len(positions)), config.batch_size, order),
            mode=config.mode,
            transform=transform,
            device=device,
            num_workers=config.num_workers,
            seed=seed + epoch,
        )
        history[epoch], mean_loss = train_one_epoch(
            model,
            loss,
            optimizer,
            scheduler,
            batches,
            device,
            scaler=scaler,
            n_samples=len(positions),
            should_stop=should_stop,
        )
        epoch_losses.append(mean_loss)
        progress((epoch + 1) / epochs, f"epoch {epoch + 1}/{epochs}: loss {mean_loss:.4f}")
    return model, history, epoch_losses
