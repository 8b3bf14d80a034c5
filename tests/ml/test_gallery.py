"""The gallery scores a face by its best match among each VIP's training faces, maps that to
calibrated probabilities against "none of them"; the default scorer fuses it with the head (ml.fusion)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ml.gallery import MAX_SCALE, Gallery, fit_probability_map
from ml.index import l2_normalise
from ml.train import TrainConfig, load_classifier, save_classifier, train_classifier
from tests.ml.test_train import sphere_data


def test_similarities_are_the_best_match_per_vip():
    rng = np.random.default_rng(0)
    faces = l2_normalise(rng.normal(size=(12, 8)))
    labels = np.array([2, 0, 0, -1, 2, 1, 1, 0, -1, 2, 1, 0])
    gallery = Gallery.from_faces(faces, labels, n_classes=4)  # VIP 3 has no face
    queries = l2_normalise(rng.normal(size=(5, 8)))
    sims = gallery.similarities(queries)
    cos = queries @ faces.T
    for c in range(3):
        assert np.allclose(sims[:, c], cos[:, labels == c].max(axis=1), atol=1e-6)
    assert np.all(sims[:, 3] == -1)


def test_a_ten_photo_vip_is_recognised_beside_five_hundred_photo_vips():
    rng = np.random.default_rng(1)
    centres = l2_normalise(rng.normal(size=(3, 32)))
    sizes = [500, 500, 10]
    labels = np.repeat(np.arange(3), sizes)
    faces = l2_normalise(centres[labels] + rng.normal(size=(len(labels), 32)) / np.sqrt(32))
    gallery = Gallery.from_faces(faces, labels, n_classes=3)
    new_faces = l2_normalise(centres[2] + rng.normal(size=(50, 32)) / np.sqrt(32))
    assert np.mean(gallery.similarities(new_faces).argmax(axis=1) == 2) > 0.95


def test_fitted_probabilities_put_unknown_faces_below_vip_faces():
    rng = np.random.default_rng(2)
    vip_sims = np.clip(rng.normal(0.75, 0.08, size=(200, 1)), -1, 1)
    unknown_sims = np.clip(rng.normal(0.25, 0.08, size=(200, 1)), -1, 1)
    sims = np.vstack([vip_sims, unknown_sims])
    labels = np.concatenate([np.zeros(200, np.int64), -np.ones(200, np.int64)])
    scale, bias = fit_probability_map(sims, labels)
    assert 0.25 < bias < 0.75
    gallery = Gallery(
        embeddings=np.zeros((0, 2), np.float32), labels=np.zeros(0, np.int64), n_classes=1, scale=scale, bias=bias
    )
    probs = gallery.probabilities(sims)[:, 0]
    assert probs[:200].mean() > 0.9 and probs[200:].mean() < 0.1


def test_a_val_split_that_separates_vips_from_unknown_faces_keeps_unknown_confidences_apart():
    rng = np.random.default_rng(3)
    vip_sims = rng.uniform(0.7, 0.9, size=(100, 1))
    unknown_sims = rng.uniform(0.1, 0.45, size=(300, 1))  # every VIP face matches better than every unknown one
    labels = np.concatenate([np.zeros(100, np.int64), -np.ones(300, np.int64)])
    scale, bias = fit_probability_map(np.vstack([vip_sims, unknown_sims]), labels)
    assert scale == pytest.approx(MAX_SCALE) and 0.45 < bias < 0.7
    gallery = Gallery(
        embeddings=np.zeros((0, 2), np.float32), labels=np.zeros(0, np.int64), n_classes=1, scale=scale, bias=bias
    )
    new_unknown_people = np.array([0.72, 0.74, 0.76])  # lookalikes above every val face, below float32's 1.0
    confidence = gallery.confidence(new_unknown_people)
    assert np.all(np.diff(confidence) > 0) and confidence.max() < np.float32(1.0)


def test_a_gallery_run_scores_with_the_gallery_and_reloads_it(tmp_path):
    torch.set_num_threads(1)
    data = sphere_data()
    config = TrainConfig(mode="head", epochs=5, noise_folds=0, device="cpu", scorer="gallery")
    result = train_classifier(config, data, out_dir=tmp_path)
    assert result["scorer"] == {"name": "gallery", "reason": ""}
    classifier = load_classifier(tmp_path / "model.pt")
    assert classifier.gallery is not None
    assert len(classifier.gallery.labels) == int(np.sum((data.splits == "train") & (data.labels >= 0)))
    prediction = classifier.predict(data.inputs)
    test = np.flatnonzero(data.splits == "test")
    stored = np.array([result["samples"][str(int(data.sample_ids[i]))]["confidence"] for i in test])
    assert np.allclose(prediction.confidence[test], stored, atol=1e-5)
    vip_test = test[data.labels[test] >= 0]
    assert np.mean(prediction.labels[vip_test] == data.labels[vip_test]) > 0.9


def test_a_run_reports_far_operating_points_and_a_label_error_probability_for_every_labelled_face(tmp_path):
    torch.set_num_threads(1)
    data = sphere_data(seed=3)
    result = train_classifier(TrainConfig(mode="head", epochs=5, noise_folds=0, device="cpu"), data, out_dir=tmp_path)
    points = result["operating_points_by_far"]
    assert set(points) == {"0.001", "0.01"}
    assert points["0.01"]["threshold"] == result["operating_points"]["far_0.01"]
    assert points["0.001"]["threshold"] >= points["0.01"]["threshold"]
    for sample in result["samples"].values():
        assert 0.0 <= sample["label_error"]["p_wrong"] <= 1.0


def test_a_checkpoint_without_a_gallery_still_scores_with_its_head(tmp_path):
    torch.set_num_threads(1)
    data = sphere_data(seed=4)
    train_classifier(TrainConfig(mode="head", epochs=5, noise_folds=0, device="cpu"), data, out_dir=tmp_path)
    classifier = load_classifier(tmp_path / "model.pt")
    classifier.gallery = None
    save_classifier(classifier, tmp_path / "head.pt")
    reloaded = load_classifier(tmp_path / "head.pt")
    assert reloaded.gallery is None
    expected = classifier.from_logits(classifier.logits(data.inputs))
    assert np.allclose(reloaded.predict(data.inputs).probs, expected.probs, atol=1e-6)


def test_gallery_confidence_ranks_faces_exactly_as_their_best_match():
    rng = np.random.default_rng(5)
    sims = rng.uniform(-0.2, 0.9, size=(300, 6)).astype(np.float32)
    gallery = Gallery(
        embeddings=np.zeros((0, 2), np.float32), labels=np.zeros(0, np.int64), n_classes=6, scale=25.0, bias=0.45
    )
    probs, confidence = gallery.predict(sims)
    order = np.argsort(sims.max(axis=1))
    assert np.all(np.diff(confidence[order]) >= 0)
    assert np.allclose(probs.max(axis=1), confidence, atol=1e-6)
    assert np.array_equal(probs.argmax(axis=1), sims.argmax(axis=1))


def test_a_training_face_is_scored_by_the_other_faces_not_by_itself():
    faces = l2_normalise(np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]], dtype=np.float32))
    gallery = Gallery.from_faces(faces, np.array([0, 0, 1]), n_classes=2)
    sims = gallery.similarities(faces[:1])
    assert sims[0, 0] == np.float32(0.8)  # its class-mate, not its own cosine of 1
    assert sims[0, 1] == np.float32(0.0)


def test_best_matches_stream_the_top_vip_and_keep_the_rows_asked_for():
    rng = np.random.default_rng(7)
    faces = l2_normalise(rng.normal(size=(60, 16)).astype(np.float32))
    gallery = Gallery.from_faces(faces[:40], rng.integers(-1, 5, 40), 5)
    queries = l2_normalise(rng.normal(size=(25, 16)).astype(np.float32))
    dense = gallery.similarities(queries)

    best, top, kept = gallery.best_matches(queries, keep=[3, 17, 24], rows_per_chunk=4)  # seven chunks

    # the same numbers up to float32 rounding (a matrix product chunked otherwise)
    assert np.array_equal(best, dense.argmax(axis=1)) and np.allclose(top, dense.max(axis=1), atol=1e-6)
    assert np.allclose(kept, dense[[3, 17, 24]], atol=1e-6)
    _, confidence = gallery.predict(dense)
    assert np.allclose(gallery.confidence(top), confidence, atol=1e-5)


def test_predicting_in_chunks_gives_the_whole_prediction_a_chunk_at_a_time(tmp_path):
    torch.set_num_threads(1)
    data = sphere_data()
    train_classifier(TrainConfig(mode="head", epochs=5, noise_folds=0, device="cpu"), data, out_dir=tmp_path)
    classifier = load_classifier(tmp_path / "model.pt")
    whole = classifier.predict(data.inputs)

    chunks = list(classifier.predict_chunks(data.inputs, rows=37))

    assert [rows.start for rows, _ in chunks] == list(range(0, len(data.inputs), 37))
    assert np.allclose(np.concatenate([part.probs for _, part in chunks]), whole.probs, atol=1e-6)
    assert np.array_equal(np.concatenate([part.labels for _, part in chunks]), whole.labels)
