"""ml.hashing: exact and perceptual hashes, and near-duplicate search over the latter."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from ml.hashing import hamming_distance, near_duplicate_pairs, perceptual_hash, sha256_bytes, sha256_stream, to_signed64
from ml.images import encode_jpeg, load_image, thumbnail


@pytest.fixture(scope="module")
def glint_faces(shared_data: Path) -> list[np.ndarray]:
    """One face of each of the 24 glint24 identities."""
    return [load_image(sorted(folder.glob("*.jpg"))[0]) for folder in sorted((shared_data / "glint24").iterdir())]


def test_sha256_matches_the_standard_test_vector_for_bytes_and_streams():
    expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert sha256_bytes(b"abc") == expected
    assert sha256_stream(io.BytesIO(b"abc"), chunk_size=1) == expected


def test_perceptual_hash_fits_a_signed_bigint_column(glint_faces: list[np.ndarray]):
    for face in glint_faces:
        value = perceptual_hash(face)
        assert isinstance(value, int) and -(2**63) <= value < 2**63


def test_a_rescaled_and_recompressed_copy_stays_within_a_few_bits(glint_faces: list[np.ndarray]):
    for face in glint_faces:
        copy = load_image(encode_jpeg(thumbnail(face, 80), quality=50))
        assert hamming_distance(perceptual_hash(face), perceptual_hash(copy)) <= 4


def test_different_people_are_many_bits_apart(glint_faces: list[np.ndarray]):
    hashes = [perceptual_hash(face) for face in glint_faces]
    distances = [hamming_distance(a, b) for i, a in enumerate(hashes) for b in hashes[i + 1 :]]
    assert min(distances) >= 8 and np.median(distances) >= 20


def test_hamming_distance_reads_signed_and_unsigned_spellings_alike():
    unsigned = 0xFFFF_0000_0000_0001
    assert hamming_distance(to_signed64(unsigned), unsigned) == 0
    assert hamming_distance(-1, 0) == 64
    assert hamming_distance(0b1011, 0b0001) == 2


def test_near_duplicate_pairs_equals_the_brute_force_answer():
    rng = np.random.default_rng(0)
    base = rng.integers(-(2**63), 2**63 - 1, size=60, dtype=np.int64)
    flips = rng.integers(0, 64, size=(60, 3))
    near = np.array(
        [int(b) ^ sum(1 << int(f) for f in fl[: k % 4]) for k, (b, fl) in enumerate(zip(base, flips, strict=True))],
        dtype=object,
    )
    hashes = [to_signed64(int(h)) for h in np.concatenate([base.astype(object), near])]

    pairs = near_duplicate_pairs(hashes, max_distance=3, block=16)

    expected = [
        (i, j, hamming_distance(hashes[i], hashes[j]))
        for i in range(len(hashes))
        for j in range(i + 1, len(hashes))
        if hamming_distance(hashes[i], hashes[j]) <= 3
    ]
    assert [tuple(row) for row in pairs.tolist()] == expected
    assert len(expected) >= 60  # every hash and its perturbed copy


def test_near_duplicate_pairs_accepts_an_int64_array_and_handles_no_input():
    hashes = np.array([5, -1, 5, 4], dtype=np.int64)
    assert near_duplicate_pairs(hashes, max_distance=1).tolist() == [[0, 2, 0], [0, 3, 1], [2, 3, 1]]
    assert near_duplicate_pairs([], max_distance=5).shape == (0, 3)
