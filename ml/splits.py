"""The split rule: one function decides which split a group of faces belongs to."""

from __future__ import annotations

import hashlib

SPLITS = ("train", "val", "test")


def split_for_group(group_key: str, *, seed: int = 0, proportions: tuple[float, float, float] = (0.8, 0.1, 0.1)) -> str:
    """Assign a group (a video, a source photo, an imported crop) to train, val or test.

    The answer depends only on the group key and the seed: stable across re-imports and machines,
    and every face of a group lands in the same split, so near-identical frames of one video can
    never straddle train and test.
    """
    if len(proportions) != 3 or any(p < 0 for p in proportions) or sum(proportions) <= 0:
        raise ValueError("proportions must be three non-negative numbers with a positive sum")
    digest = hashlib.sha256(f"{seed}:{group_key}".encode()).digest()
    position = int.from_bytes(digest[:8], "big") / 2**64 * sum(proportions)
    cumulative = 0.0
    for split, share in zip(SPLITS, proportions, strict=True):
        cumulative += share
        if position < cumulative:
            return split
    return SPLITS[-1]


def split_for_person(
    person_key: str, *, seed: int = 0, proportions: tuple[float, float, float] = (0.8, 0.1, 0.1)
) -> str:
    """The split of every face of one distractor person in a training run: a whole person in one split.

    Photos are split by group (:func:`split_for_group`), so a person with many photos lands in every
    split. For VIPs that is what training needs; for distractors it is not: the false-accept rate
    must be measured on val people never used in training, so a run puts each known distractor
    person (a candidate identity) wholly in one split, by this rule.
    """
    return split_for_group(f"person:{person_key}", seed=seed, proportions=proportions)
