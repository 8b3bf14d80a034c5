"""A trained classifier for inference (:class:`Classifier`: embeddings or crops in, calibrated
:class:`Prediction` out), and its checkpoint file (:func:`save_classifier`, :func:`load_classifier`)."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ml.device import pick_device
from ml.fusion import Fusion, HeadScores, head_scores
from ml.gallery import Gallery
from ml.index import atomic_write_bytes
from ml.losses import get_loss, vip_probabilities
from ml.models import FaceClassifierNet, build_classifier
from ml.operating_point import DEFAULT_FARS
from ml.train_batches import batch_positions, eval_transform, make_batches
from ml.train_config import Crop, TrainConfig, json_ready
from ml.train_loops import LossSettings, evaluate

CHECKPOINT_FORMAT = 1
PREDICT_BLOCK = 4_000_000  # probabilities :meth:`Classifier.predict_chunks` holds at once (16 MB of float32)


@dataclass(frozen=True)
class Prediction:
    """Calibrated VIP probabilities (N x C; with a reject column they sum to less than 1), the top VIP
    label per row (no rejection applied: use :func:`ml.metrics.apply_threshold`) and its confidence."""

    probs: np.ndarray
    labels: np.ndarray
    confidence: np.ndarray


@dataclass(frozen=True)
class TopPrediction:
    """The top VIP label per row and its confidence, without the N x C probabilities: all that
    evaluation reads (:class:`Prediction` has the same two fields)."""

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
    fusion: Fusion | None = None  # set too: from the gallery and the head where they agree (ml.fusion)

    def _batches(self, inputs: np.ndarray | Sequence[Crop]) -> Iterable[tuple[Tensor, Tensor, Tensor]]:
        assert self.config.batch_size is not None
        n = len(inputs)
        transform = eval_transform(self.config.image_size) if self.config.mode == "finetune" else None
        return make_batches(
            inputs,
            np.full(n, -1),
            batch_positions(np.arange(n), self.config.batch_size, None),
            mode=self.config.mode,
            transform=transform,
            device=self.device,
            num_workers=self.config.num_workers,
        )

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
        """Gallery (:mod:`ml.gallery`) or fused (:mod:`ml.fusion`) predictions from the embeddings the
        head sees. Fused, the gallery's probabilities are rescaled so that the top one is the fused
        confidence."""
        assert self.gallery is not None
        similarities = self.gallery.similarities(embeddings)
        probs, confidence = self.gallery.predict(similarities)
        # the top VIP is the best match (the probabilities rise with it): as top_from_embeddings says
        labels = similarities.argmax(axis=1) if similarities.shape[1] else np.zeros(len(probs), np.int64)
        if self.fusion is not None and len(probs):
            top = similarities.max(axis=1)
            head = self.head_scores(embeddings, labels)
            fused = self.fusion.confidence(self.fusion.scores(top, head.log_odds))
            probs *= (fused / np.maximum(confidence, 1e-30))[:, None].astype(np.float32)
            confidence = fused
        return Prediction(probs=probs, labels=labels, confidence=confidence)

    def head_scores(self, embeddings: np.ndarray, labels: np.ndarray) -> HeadScores:
        """The trained head's top VIP and its log-odds of each face's VIP in ``labels``
        (:func:`ml.fusion.head_scores`) for many faces' embeddings, a chunk of rows at a time (no N x C
        logits held)."""
        step = max(1, PREDICT_BLOCK // max(len(self.class_names), 1))
        top, log_odds = [], []
        with torch.inference_mode():
            for start in range(0, len(embeddings), step):
                x = torch.as_tensor(np.asarray(embeddings[start : start + step], dtype=np.float32), device=self.device)
                logits = self.loss.logits(self.net.head(x).float()).cpu()
                scores = head_scores(
                    logits, self.temperature, labels[start : start + step], reject_column=self.loss.spec.reject_column
                )
                top.append(scores.top)
                log_odds.append(scores.log_odds)
        if not top:
            return HeadScores(np.zeros(0, np.int64), np.zeros(0, np.float64))
        return HeadScores(np.concatenate(top), np.concatenate(log_odds))

    def predict_chunks(
        self, inputs: np.ndarray | Sequence[Crop], *, rows: int | None = None
    ) -> Iterator[tuple[slice, Prediction]]:
        """:meth:`predict` a chunk of rows at a time (about PREDICT_BLOCK probabilities each), for
        reading many faces' probabilities without holding the N x C matrix."""
        step = rows or max(1, PREDICT_BLOCK // max(len(self.class_names), 1))
        for start in range(0, len(inputs), step):
            chunk = slice(start, min(start + step, len(inputs)))
            yield chunk, self.predict(inputs[chunk])

    def top_from_embeddings(self, embeddings: np.ndarray) -> TopPrediction:
        """Gallery or fused top labels and confidences of many faces, streamed (:meth:`Gallery.best_matches`,
        :meth:`head_scores`): the same labels and confidences as :meth:`from_embeddings`, without its N x C
        matrices."""
        assert self.gallery is not None
        best, top, _ = self.gallery.best_matches(embeddings)
        labels = np.maximum(best, 0)
        if self.fusion is not None:
            fused = self.fusion.scores(top, self.head_scores(embeddings, labels).log_odds)
            return TopPrediction(labels=labels, confidence=self.fusion.confidence(fused))
        return TopPrediction(labels=labels, confidence=self.gallery.confidence(top))

    def topk(self, inputs: np.ndarray | Sequence[Crop], k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` most probable VIP labels per row and their calibrated probabilities, best first."""
        probs = self.predict(inputs).probs
        k = min(k, probs.shape[1])
        top = np.argsort(-probs, axis=1, kind="stable")[:, :k]
        return top, np.take_along_axis(probs, top, axis=1)


def save_classifier(classifier: Classifier, path: Path) -> None:
    """Write weights, temperature, class names, thresholds and config to ``path`` atomically."""
    buffer = io.BytesIO()
    torch.save(
        {
            "format": CHECKPOINT_FORMAT,
            "config": json_ready(asdict(classifier.config)),
            "class_names": list(classifier.class_names),
            "temperature": float(classifier.temperature),
            "thresholds": dict(classifier.thresholds),
            "in_dim": classifier.net.head.in_dim,
            "gallery": None if classifier.gallery is None else classifier.gallery.state(),
            "fusion": None if classifier.fusion is None else classifier.fusion.state(),
            "state_dict": {k: v.detach().cpu() for k, v in classifier.net.state_dict().items()},
        },
        buffer,
    )
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
        net = build_classifier(
            n_outputs=n_outputs, cosine=spec.cosine, hidden=config.hidden, in_dim=checkpoint["in_dim"]
        )
    else:
        net = build_classifier(n_outputs=n_outputs, cosine=spec.cosine, hidden=config.hidden, backbone=config.backbone)
    net.load_state_dict(checkpoint["state_dict"])
    return Classifier(
        net=net.to(target).eval(),
        loss=LossSettings(spec, config.arcface_s, config.margin),
        config=config,
        class_names=list(checkpoint["class_names"]),
        temperature=float(checkpoint["temperature"]),
        thresholds=dict(checkpoint["thresholds"]),
        device=target,
        gallery=Gallery.from_state(checkpoint["gallery"]) if checkpoint.get("gallery") else None,
        fusion=Fusion.from_state(checkpoint["fusion"]) if checkpoint.get("fusion") else None,
    )
