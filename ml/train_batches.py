"""Batches of ``(inputs, labels, positions)`` for the training loops: tensor slices of embeddings
(head mode), or a DataLoader over aligned face crops with their augmentation (finetune)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torchvision.transforms import v2

from ml.device import pin_memory
from ml.images import load_image
from ml.train_config import Crop

IMAGENET_MEAN = (0.485, 0.456, 0.406)


IMAGENET_STD = (0.229, 0.224, 0.225)


def train_transform(image_size: int) -> v2.Compose:
    """Augmentation for aligned crops: 80-100% area crops, horizontal flips, TrivialAugmentWide."""
    return v2.Compose(
        [
            v2.RandomResizedCrop(image_size, scale=(0.8, 1.0), ratio=(0.9, 1.1), antialias=True),
            v2.RandomHorizontalFlip(),
            v2.TrivialAugmentWide(),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )


def eval_transform(image_size: int) -> v2.Compose:
    """Resize to the input size and normalise; no augmentation."""
    return v2.Compose(
        [
            v2.Resize((image_size, image_size), antialias=True),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )


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
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if len(batches) > 1 and len(batches[-1]) == 1:
        batches[-2:] = [np.concatenate(batches[-2:])]
    return batches


def make_batches(
    inputs: np.ndarray | Sequence[Crop],
    labels: np.ndarray,
    batches: list[np.ndarray],
    *,
    mode: str,
    transform: Callable[[Tensor], Tensor] | None,
    device: torch.device,
    num_workers: int = 0,
    seed: int = 0,
) -> Iterable[tuple[Tensor, Tensor, Tensor]]:
    """Batches of (inputs, labels, positions) in the given order: tensor slices in head mode, a
    DataLoader over :class:`CropDataset` in finetune mode."""
    if mode == "head":
        x = torch.as_tensor(np.asarray(inputs, dtype=np.float32))
        y = torch.as_tensor(labels)
        return ((x[b], y[b], b) for b in map(torch.as_tensor, batches))
    assert transform is not None
    return torch.utils.data.DataLoader(
        CropDataset(list(inputs), labels, transform),
        batch_sampler=[b.tolist() for b in batches],
        num_workers=num_workers,
        pin_memory=pin_memory(device),
        generator=torch.Generator().manual_seed(seed),
    )


def inputs_subset(inputs: np.ndarray | Sequence[Crop], positions: np.ndarray) -> np.ndarray | list[Crop]:
    if isinstance(inputs, np.ndarray):
        return inputs[positions]
    return [inputs[i] for i in positions]
