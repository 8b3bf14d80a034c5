"""Classifier architectures: a head on frozen face embeddings, or a torchvision backbone to finetune.

Nothing here downloads: backbones are built with ``weights=None`` and initialised from a local
weights file when one is given, from scratch otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import torch
import torch.nn.functional as F
import torchvision
from torch import Tensor, nn


class CosineLinear(nn.Module):
    """Cosine similarities between the L2-normalised input and L2-normalised class weights, in [-1, 1]."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        nn.init.normal_(self.weight, std=0.01)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(F.normalize(x, dim=1), F.normalize(self.weight, dim=1))


class EmbeddingHead(nn.Module):
    """A linear layer (``hidden=0``) or a one-hidden-layer MLP over embeddings.

    ``cosine=True`` ends in :class:`CosineLinear` (for ArcFace and the threshold softmax): its
    outputs are cosines, and the loss applies the scale.
    """

    def __init__(self, in_dim: int, n_outputs: int, *, hidden: int = 0, cosine: bool = False) -> None:
        super().__init__()
        self.in_dim = in_dim
        if hidden > 0:
            self.features: nn.Module = nn.Sequential(
                nn.Linear(in_dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True)
            )
            width = hidden
        else:
            self.features = nn.Identity()
            width = in_dim
        self.out: nn.Module = CosineLinear(width, n_outputs) if cosine else nn.Linear(width, n_outputs)

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.features(x))


class FaceClassifierNet(nn.Module):
    """``backbone`` (images -> embeddings; ``nn.Identity`` in head mode) followed by an :class:`EmbeddingHead`."""

    def __init__(self, backbone: nn.Module, head: EmbeddingHead) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def embed(self, x: Tensor) -> Tensor:
        """The embedding the head sees (the input itself in head mode)."""
        return self.backbone(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.backbone(x))


def _torchvision_builder(name: str) -> Callable[[], nn.Module]:
    """A constructor for torchvision's classification model ``name``, randomly initialised."""
    if name not in torchvision.models.list_models(module=torchvision.models):
        raise ValueError(f"unknown backbone {name!r}; use a torchvision classification model name such as 'resnet18'")
    kwargs = {"aux_logits": False, "init_weights": True} if name in ("googlenet", "inception_v3") else {}
    return lambda: torchvision.models.get_model(name, weights=None, **kwargs)


# Named here: the backbones we use and test. Any other torchvision classification model name also works.
BACKBONES: dict[str, Callable[[], nn.Module]] = {
    name: _torchvision_builder(name)
    for name in ("resnet18", "resnet34", "resnet50", "mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_b0")
}


def _replace_classifier(model: nn.Module) -> int:
    """Replace the model's last ``nn.Linear`` (its ImageNet classifier) by ``nn.Identity``; returns its input width."""
    linears = [(name, module) for name, module in model.named_modules() if isinstance(module, nn.Linear)]
    if not linears:
        raise ValueError(f"{type(model).__name__} has no linear classifier to replace")
    name, last = linears[-1]
    parent_name, _, attr = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, attr, nn.Identity())
    return last.in_features


def load_backbone_weights(model: nn.Module, path: str | os.PathLike[str]) -> None:
    """Initialise ``model`` from a local state dict (a torchvision checkpoint or our own backbone).

    Keys that the model lacks or whose shapes differ (the ImageNet classifier) are skipped; a
    file that matches nothing is an error rather than a silently random backbone.
    """
    state = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not usable:
        raise ValueError(f"no tensor in {os.fspath(path)!r} matches the backbone's parameters")
    model.load_state_dict(usable, strict=False)


def build_backbone(
    name: str = "resnet18", *, weights_path: str | os.PathLike[str] | None = None
) -> tuple[nn.Module, int]:
    """A torchvision backbone without its classifier, and its embedding width.

    Initialised from ``weights_path`` when given, randomly otherwise; never downloads.
    """
    builder = BACKBONES.get(name) or _torchvision_builder(name)
    model = builder()
    width = _replace_classifier(model)
    if weights_path is not None:
        load_backbone_weights(model, weights_path)
    return model, width


def build_classifier(
    *,
    n_outputs: int,
    cosine: bool,
    hidden: int = 0,
    in_dim: int | None = None,
    backbone: str | None = None,
    weights_path: str | os.PathLike[str] | None = None,
) -> FaceClassifierNet:
    """Head mode (``backbone=None``): a head on ``in_dim``-wide embeddings. Finetune mode: the named backbone plus a head."""
    if backbone is None:
        if in_dim is None:
            raise ValueError("head mode needs in_dim, the embedding width")
        return FaceClassifierNet(nn.Identity(), EmbeddingHead(in_dim, n_outputs, hidden=hidden, cosine=cosine))
    net, width = build_backbone(backbone, weights_path=weights_path)
    return FaceClassifierNet(net, EmbeddingHead(width, n_outputs, hidden=hidden, cosine=cosine))
