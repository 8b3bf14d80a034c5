"""The regimes the recognition and label-noise benchmarks run: who the VIPs are, who the
distractors are, how faces are split, and the label noise injected.

* ``glint24``: 12 glint24 VIPs (about 400 aligned web crops each; at most ``glint_per_identity``),
  the other 12 glint24 identities and LFW unknown people as distractors (the product's first regime).
* ``lfw<N>`` (the users' regime): N people of ``lfw/known`` as VIPs (158 = all of them; 10 to
  530 real photos each, detected and aligned by the product's YuNet + SFace), LFW unknown people
  (1 or 2 photos each) as distractors. The sweep runs N = 12, 40, 80, 158 (a seeded choice).
* ``lfw158+glint24``: the 158 plus the glint24 identities; the 5 people in both sources are ONE VIP
  each (their glint24 crops join their LFW photos), so 177 VIPs.

People listed in ``identity_overlap.csv`` are never distractors (a VIP must not be trained as a
distractor of itself). Splits: each VIP photo is its own group, split 80/10/10 by the product's rule
(:func:`ml.splits.split_for_group`); distractor PEOPLE are split 50/25/25, so val and test
distractors are people never seen in training, and enough of them (about 1,200 faces each) stand
behind a 0.1% false-accept rate.

Label noise (:func:`inject`), always into train (``splits_noisy`` adds val):

* ``lookalike``: VIP faces relabelled as the other VIP whose centroid is nearest to the face;
* ``open_set``: distractor faces labelled as the VIP whose centroid is nearest (a lookalike stranger);
* ``hidden_vip``: VIP faces filed as not-a-VIP (under a candidate's name): whole blocks of up to 10
  faces of randomly chosen VIPs;
* rates are shares of the train VIP faces.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench import common, embedding_cache
from ml.splits import SPLITS

DISTRACTOR_PROPORTIONS = (0.5, 0.25, 0.25)
SWEEP = (12, 40, 80, 158)


@dataclass
class Pool:
    """Every embedded face the regimes draw from."""

    person: np.ndarray  # canonical First_Last
    source: np.ndarray  # "glint24", "lfw_known", "lfw_unknown"
    key: np.ndarray  # relative file path (the VIP face's split group)
    embeddings: np.ndarray
    overlap: set[str] = field(default_factory=set)


def _canonical(name: str) -> str:
    return name.replace(" ", "_")


def load_pool(
    data: Path,
    *,
    glint_per_identity: int | None = 120,
    unknown_all_photos: bool = False,
    known_people: int | None = None,
) -> Pool:
    """glint24 (at most ``glint_per_identity`` crops each), lfw/known and lfw/unknown (first photo of
    each person unless ``unknown_all_photos``), embedded with the bench cache; faces without a detection dropped."""
    persons: list[str] = []
    sources: list[str] = []
    keys: list[str] = []
    chunks: list[np.ndarray] = []

    def add(paths: list[Path], names: list[str], source: str, recipe: str) -> None:
        if not paths:
            return
        emb, ok = embedding_cache.embed_files(paths, root=data, recipe=recipe, label=source)
        keep = np.flatnonzero(ok)
        persons.extend(names[i] for i in keep)
        sources.extend([source] * len(keep))
        keys.extend(str(paths[i].relative_to(data)) for i in keep)
        chunks.append(emb[keep])

    known = common.image_folder(data / "lfw" / "known")
    names = list(known)[:known_people] if known_people else list(known)
    paths = [p for n in names for p in known[n]]
    add(paths, [n for n in names for _ in known[n]], "lfw_known", "detect")
    unknown = common.image_folder(data / "lfw" / "unknown")
    paths, owners = [], []
    for name, files in unknown.items():
        for p in files if unknown_all_photos else files[:1]:
            paths.append(p)
            owners.append(name)
    add(paths, owners, "lfw_unknown", "detect")
    if (data / "glint24").is_dir() and glint_per_identity != 0:
        glint = common.image_folder(data / "glint24")
        paths, owners = [], []
        for name, files in glint.items():
            chosen = files if glint_per_identity is None else files[:glint_per_identity]
            paths += chosen
            owners += [_canonical(name)] * len(chosen)
        add(paths, owners, "glint24", "aligned")
    return Pool(
        person=np.array(persons),
        source=np.array(sources),
        key=np.array(keys),
        embeddings=np.concatenate(chunks).astype(np.float32),
        overlap=common.identity_overlap(data),
    )


@dataclass
class Regime:
    """One regime for one seed: rows of the pool used, clean labels (VIP index or -1), splits."""

    name: str
    rows: np.ndarray
    embeddings: np.ndarray
    person: np.ndarray
    labels: np.ndarray
    splits: np.ndarray
    class_names: list[str]
    key: np.ndarray | None = None  # each face's file (relative to the data folder)

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {"vips": self.n_classes}
        for split in SPLITS:
            here = self.splits == split
            out[f"{split}_vip"] = int(np.sum(here & (self.labels >= 0)))
            out[f"{split}_distractor"] = int(np.sum(here & (self.labels < 0)))
            out[f"{split}_distractor_people"] = len(set(self.person[here & (self.labels < 0)]))
        return out


def make_regime(pool: Pool, name: str, *, seed: int) -> Regime:
    """``glint24``, ``lfw<N>`` or ``lfw158+glint24`` (see the module docstring) for ``seed``."""
    from ml.splits import split_for_group

    known_people = sorted(set(pool.person[pool.source == "lfw_known"]))
    glint_people = sorted(set(pool.person[pool.source == "glint24"]))
    if name == "glint24":
        vips = common.seeded_order(glint_people, seed)[:12]
        vip_rows = np.flatnonzero((pool.source == "glint24") & np.isin(pool.person, vips))
        distractor_rows = np.flatnonzero(
            ((pool.source == "glint24") & ~np.isin(pool.person, vips))
            | ((pool.source == "lfw_unknown") & ~np.isin(pool.person, list(pool.overlap)))
        )
    elif name == "lfw158+glint24":
        vips = sorted(set(known_people) | set(glint_people))
        vip_rows = np.flatnonzero(np.isin(pool.source, ["lfw_known", "glint24"]))
        distractor_rows = np.flatnonzero(
            (pool.source == "lfw_unknown") & ~np.isin(pool.person, list(pool.overlap) + vips)
        )
    elif name.startswith("lfw"):
        n = int(name[3:])
        vips = sorted(common.seeded_order(known_people, seed)[:n])
        vip_rows = np.flatnonzero((pool.source == "lfw_known") & np.isin(pool.person, vips))
        distractor_rows = np.flatnonzero((pool.source == "lfw_unknown") & ~np.isin(pool.person, list(pool.overlap)))
    else:
        raise ValueError(f"unknown regime {name!r}")
    rows = np.concatenate([vip_rows, distractor_rows])
    class_of = {v: i for i, v in enumerate(vips)}
    labels = np.array([class_of[p] for p in pool.person[vip_rows]] + [-1] * len(distractor_rows), dtype=np.int64)
    splits = np.array(
        [split_for_group(f"face:{k}", seed=seed) for k in pool.key[vip_rows]]
        + [
            split_for_group(f"person:{p}", seed=seed, proportions=DISTRACTOR_PROPORTIONS)
            for p in pool.person[distractor_rows]
        ]
    )
    return Regime(
        name=name,
        rows=rows,
        embeddings=pool.embeddings[rows],
        person=pool.person[rows],
        labels=labels,
        splits=splits,
        class_names=list(vips),
        key=pool.key[rows],
    )


KNOWN_LABEL_ERRORS = Path(__file__).with_name("lfw_label_errors.csv")


def true_labels(regime: Regime) -> np.ndarray:
    """The regime's labels as the photos show them: ``regime.labels`` with each face of
    ``bench/lfw_label_errors.csv`` (faces the label-error queue put first, checked by eye: LFW's own
    label errors and photos where the detector's face is another person's) given the label of the
    person it shows: that person's VIP index where they are a VIP of this regime, else -1 (not a VIP).
    So a photo filed under an unknown person that shows a VIP is an error only where that VIP is one."""
    import csv

    labels = regime.labels.copy()
    if regime.key is None:
        return labels
    class_of = {name: i for i, name in enumerate(regime.class_names)}
    with KNOWN_LABEL_ERRORS.open(newline="") as handle:
        for row in csv.DictReader(handle):
            labels[regime.key == row["key"]] = class_of.get(row["shows_person"], -1)
    return labels


def _centroids(embeddings: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    from ml.index import l2_normalise

    sums = np.zeros((n_classes, embeddings.shape[1]))
    np.add.at(sums, labels[labels >= 0], embeddings[labels >= 0])
    return l2_normalise(sums)


def inject(
    regime: Regime, kinds: tuple[str, ...], rates: dict[str, float], *, seed: int, splits: tuple[str, ...] = ("train",)
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Noisy labels and, per kind, the mask of the faces whose label it changed."""
    rng = np.random.default_rng(10_000 + seed)
    labels = regime.labels.copy()
    where = np.isin(regime.splits, splits)
    centres = _centroids(regime.embeddings[where], regime.labels[where], regime.n_classes)
    vip = np.flatnonzero(where & (regime.labels >= 0))
    distractors = np.flatnonzero(where & (regime.labels < 0))
    changed: dict[str, np.ndarray] = {}
    taken = np.zeros(len(labels), dtype=bool)
    for kind in kinds:
        count = int(round(rates[kind] * len(vip)))
        mask = np.zeros(len(labels), dtype=bool)
        if kind == "lookalike":
            chosen = rng.choice(vip[~taken[vip]], count, replace=False)
            sims = regime.embeddings[chosen] @ centres.T
            sims[np.arange(len(chosen)), regime.labels[chosen]] = -np.inf
            labels[chosen] = sims.argmax(axis=1)
        elif kind == "open_set":
            chosen = rng.choice(distractors[~taken[distractors]], min(count, len(distractors)), replace=False)
            labels[chosen] = (regime.embeddings[chosen] @ centres.T).argmax(axis=1)
        elif kind == "hidden_vip":
            chosen_list: list[int] = []
            for c in rng.permutation(regime.n_classes):
                if len(chosen_list) >= count:
                    break
                own = vip[(regime.labels[vip] == c) & ~taken[vip]]
                if len(own) >= 4:  # keep the VIP itself trainable
                    chosen_list += list(rng.choice(own, min(10, len(own) - 2, count - len(chosen_list)), replace=False))
            chosen = np.array(chosen_list, dtype=np.int64)
            labels[chosen] = -1
        else:
            raise ValueError(f"unknown noise kind {kind!r}")
        mask[chosen] = True
        taken |= mask
        changed[kind] = mask
    return labels, changed


def regime_names(requested: list[str]) -> list[str]:
    """The regimes to run, in order and once each; "sweep" stands for the VIP-count sweep."""
    names = list(requested)
    if "sweep" in names:
        names = [n for n in names if n != "sweep"] + [f"lfw{n}" for n in SWEEP] + ["lfw158+glint24"]
    return list(dict.fromkeys(names))
