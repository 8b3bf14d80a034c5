"""The label-noise benchmark's data: a labelled face set and its embeddings, non-face crops, and
label noise injected into the train split one kind at a time (``bench/noise.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench import common, embedding_cache

KINDS = ("lookalike", "open_set", "random", "non_face")


NON_FACE_POOL = 600  # non-face crops made once (half LFW backgrounds, half textures), drawn from per seed


@dataclass
class FaceSet:
    names: list[str]  # identity per sample
    paths: list[Path]
    embeddings: np.ndarray


def load_face_set(data: Path, per_identity: int | None) -> FaceSet:
    """The labelled set's crops (at most ``per_identity`` per identity, the first by name) and embeddings."""
    root = data / "glint24" if (data / "glint24").is_dir() else data
    folders = common.image_folder(root)
    names, paths = [], []
    for name, files in folders.items():
        chosen = files if per_identity is None else files[:per_identity]
        names += [name] * len(chosen)
        paths += chosen
    embeddings, ok = embedding_cache.embed_files(paths, root=root.parent, label=root.name)
    keep = np.flatnonzero(ok)
    return FaceSet([names[i] for i in keep], [paths[i] for i in keep], embeddings[keep])


def make_non_faces(data: Path, count: int = NON_FACE_POOL, seed: int = 0) -> list[np.ndarray]:
    """``count`` 112x112 RGB non-face crops: half LFW image corners (background, clothes, no face; LFW
    faces sit in the middle ~100 px), half synthetic textures (noise, gradients, stripes, blobs)."""
    import cv2

    from ml.images import load_image

    rng = np.random.default_rng(seed)
    crops: list[np.ndarray] = []
    lfw = data / "lfw" / "known"
    photos = sorted(lfw.glob("*/*.jpg")) if lfw.is_dir() else []
    n_backgrounds = count // 2 if photos else 0
    for _ in range(n_backgrounds):
        image = load_image(photos[int(rng.integers(len(photos)))])
        h, w = image.shape[:2]
        side = int(rng.integers(56, 72)) * h // 250
        corner = int(rng.integers(4))
        y = 0 if corner < 2 else h - side
        x = 0 if corner % 2 == 0 else w - side
        crops.append(cv2.resize(image[y : y + side, x : x + side], (112, 112), interpolation=cv2.INTER_LINEAR))
    while len(crops) < count:
        kind = len(crops) % 4
        crop: np.ndarray
        if kind == 0:  # coloured noise
            crop = rng.integers(0, 256, (112, 112, 3), dtype=np.uint8)
        elif kind == 1:  # smooth gradient
            a, b = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
            t = np.linspace(0, 1, 112)[:, None, None]
            crop = np.broadcast_to(a * (1 - t) + b * t, (112, 112, 3)).astype(np.uint8)
            crop = np.ascontiguousarray(np.rot90(crop, int(rng.integers(4))))
        elif kind == 2:  # stripes / checks
            period = int(rng.integers(4, 28))
            grid = (np.arange(112)[:, None] // period + np.arange(112)[None, :] // period * int(rng.integers(2))) % 2
            colours = rng.integers(0, 256, (2, 3))
            crop = colours[grid].astype(np.uint8)
        else:  # blurred blobs
            small = rng.integers(0, 256, (8, 8, 3)).astype(np.uint8)
            crop = cv2.GaussianBlur(cv2.resize(small, (112, 112), interpolation=cv2.INTER_CUBIC), (9, 9), 0)
        crops.append(np.ascontiguousarray(crop, dtype=np.uint8))
    return crops


@dataclass
class NoisySet:
    embeddings: np.ndarray  # all samples (train, val, test; non-faces appended)
    labels: np.ndarray  # given (possibly wrong) labels: 0..C-1 VIP, -1 distractor
    clean: np.ndarray  # the labels before injection (-2 for non-faces: no right VIP label)
    splits: np.ndarray
    class_names: list[str]

    @property
    def train(self) -> np.ndarray:
        return np.flatnonzero(self.splits == "train")


def base_labels(faces: FaceSet, seed: int, n_vips: int) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Labels (the first ``n_vips`` identities of a seeded order are VIPs), class names and splits."""
    from ml.splits import split_for_group

    identities = sorted(set(faces.names))
    vips = common.seeded_order(identities, seed)[:n_vips]
    class_of = {name: i for i, name in enumerate(vips)}
    labels = np.array([class_of.get(name, -1) for name in faces.names], dtype=np.int64)
    splits = np.array([split_for_group(f"crop:{p.parent.name}/{p.name}", seed=seed) for p in faces.paths])
    return labels, vips, splits


def inject(
    faces: FaceSet, kinds: tuple[str, ...], rates: dict[str, float], *, seed: int, n_vips: int, non_faces: np.ndarray
) -> NoisySet:
    """The clean set with each of ``kinds`` injected into the train split, on disjoint samples."""
    rng = np.random.default_rng(10_000 + seed)
    labels, class_names, splits = base_labels(faces, seed, n_vips)
    clean = labels.copy()
    noisy = labels.copy()
    n_classes = len(class_names)
    train = np.flatnonzero(splits == "train")
    train_vip = train[labels[train] >= 0]
    train_distractor = train[labels[train] < 0]
    touched = np.zeros(len(labels), dtype=bool)
    embeddings = faces.embeddings

    def draw(pool: np.ndarray, count: int) -> np.ndarray:
        pool = pool[~touched[pool]]
        chosen = rng.choice(pool, size=min(count, len(pool)), replace=False)
        touched[chosen] = True
        return chosen

    extra_embeddings: list[np.ndarray] = []
    extra_labels: list[int] = []
    for kind in kinds:
        count = int(round(rates[kind] * (len(train) if kind == "random" else len(train_vip))))
        if kind == "lookalike":
            chosen = draw(train_vip, count)
            centroids = np.stack([embeddings[train_vip[labels[train_vip] == c]].mean(axis=0) for c in range(n_classes)])
            centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
            similarity = embeddings[chosen] @ centroids.T
            similarity[np.arange(len(chosen)), labels[chosen]] = -np.inf
            noisy[chosen] = similarity.argmax(axis=1)
        elif kind == "open_set":
            chosen = draw(train_distractor, count)
            noisy[chosen] = rng.integers(0, n_classes, len(chosen))
        elif kind == "random":
            chosen = draw(train, count)
            # a uniformly drawn other label among -1..C-1
            shift = rng.integers(1, n_classes + 1, len(chosen))
            noisy[chosen] = (labels[chosen] + 1 + shift) % (n_classes + 1) - 1
        elif kind == "non_face":
            picked = rng.choice(len(non_faces), size=min(count, len(non_faces)), replace=False)
            extra_embeddings.append(non_faces[picked])
            extra_labels += rng.integers(0, n_classes, len(picked)).tolist()
        else:
            raise ValueError(f"unknown noise kind {kind!r}")
    n_extra = len(extra_labels)
    if n_extra:
        embeddings = np.concatenate([embeddings, *extra_embeddings])
        noisy = np.concatenate([noisy, np.array(extra_labels, dtype=np.int64)])
        clean = np.concatenate([clean, np.full(n_extra, -2, dtype=np.int64)])
        splits = np.concatenate([splits, np.full(n_extra, "train")])
    return NoisySet(
        embeddings=embeddings.astype(np.float32), labels=noisy, clean=clean, splits=splits, class_names=class_names
    )
