"""FaceIndex: exact and IVF cosine search with stable ids, incremental updates and atomic persistence."""

from __future__ import annotations

import numpy as np
import pytest

from ml.index import FaceIndex, l2_normalise, nearest_neighbours


def unit_vectors(n: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    return l2_normalise(np.random.default_rng(seed).normal(size=(n, dim)))


def test_search_returns_the_stored_id_of_each_vector_first_with_cosine_one():
    x = unit_vectors(50)
    index = FaceIndex(16)
    index.add(np.arange(1000, 1050), x)
    ids, sims = index.search(x, 3)
    assert ids[:, 0].tolist() == list(range(1000, 1050))
    np.testing.assert_allclose(sims[:, 0], 1.0, atol=1e-5)
    assert (np.diff(sims, axis=1) <= 1e-6).all()


def test_vectors_are_normalised_so_similarities_are_cosines():
    index = FaceIndex(2)
    index.add([7, 8], [[3.0, 0.0], [1.0, 1.0]])
    ids, sims = index.search([[10.0, 0.0]], 2)
    assert ids.tolist() == [[7, 8]]
    np.testing.assert_allclose(sims, [[1.0, np.sqrt(0.5)]], atol=1e-6)


def test_asking_for_more_neighbours_than_stored_returns_no_minus_one_placeholders():
    index = FaceIndex(16)
    index.add([1, 2, 3], unit_vectors(3))
    ids, sims = index.search(unit_vectors(4, seed=1), 10)
    assert ids.shape == (4, 3) and (ids >= 0).all()
    assert FaceIndex(16).search(unit_vectors(2), 5)[0].shape == (2, 0)


def test_removed_ids_are_never_returned_and_adding_an_existing_id_replaces_its_vector():
    x = unit_vectors(20)
    index = FaceIndex(16)
    index.add(np.arange(20), x)
    assert index.remove([3, 4, 999]) == 2
    assert len(index) == 18
    ids, _ = index.search(x, 18)
    assert not np.isin(ids, [3, 4]).any()
    index.add([5], x[[0]])  # id 5 now holds the vector of id 0
    assert len(index) == 18
    ids, sims = index.search(x[[0]], 2)
    assert sorted(ids[0].tolist()) == [0, 5]
    np.testing.assert_allclose(sims[0], 1.0, atol=1e-5)


def test_index_switches_to_ivf_past_the_threshold_and_still_finds_exact_duplicates():
    x = unit_vectors(2000, dim=32)
    index = FaceIndex(32, ivf_threshold=1000, nprobe=4)
    index.add(np.arange(900), x[:900])
    assert not index.is_ivf
    index.add(np.arange(900, 1500), x[900:1500])
    assert index.is_ivf and len(index) == 1500
    index.add(np.arange(1500, 2000), x[1500:])  # incremental add into the trained lists
    index.remove([0])
    ids, sims = index.search(x[1:200], 5)
    assert (ids[:, 0] == np.arange(1, 200)).mean() > 0.95
    assert (ids >= 0).all()
    ids, _ = index.search(x[:3], 300)  # more than the probed lists hold: searched again over all lists
    assert ids.shape == (3, 300) and (ids >= 0).all()


def test_save_and_load_round_trip_through_a_file_and_through_bytes(tmp_path):
    x = unit_vectors(30)
    index = FaceIndex(16)
    index.add(np.arange(30) * 10, x)
    path = tmp_path / "faces.faiss"
    index.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["faces.faiss"]  # no temporary file left behind
    for restored in (FaceIndex.load(path), FaceIndex.from_bytes(index.to_bytes())):
        ids, _ = restored.search(x[:5], 1)
        assert ids[:, 0].tolist() == [0, 10, 20, 30, 40]
        restored.add([999], x[[0]])  # still updatable after loading
        assert len(restored) == 31


def test_nearest_neighbours_excludes_each_row_itself():
    x = unit_vectors(10)
    neighbours, sims = nearest_neighbours(x, 3)
    assert neighbours.shape == (10, 3)
    assert not (neighbours == np.arange(10)[:, None]).any()
    expected = np.argsort(-(x @ x.T - 2 * np.eye(10)), axis=1)[:, :3]
    assert (neighbours == expected).all()
    assert nearest_neighbours(x[:2], 5)[0].tolist() == [[1], [0]]


def test_adding_mismatched_shapes_is_refused():
    with pytest.raises(ValueError):
        FaceIndex(16).add([1, 2], unit_vectors(3))
