"""The default scorer sums the gallery's best match and the trained head's evidence for that VIP, each
standardised on the val unknown faces most like a VIP (ml.fusion)."""

from __future__ import annotations

import numpy as np
import torch

from ml.fusion import MIN_UNKNOWN_FACES, HeadScores, fit_fusion, head_scores
from ml.train import TrainConfig, load_classifier, train_classifier
from tests.ml.test_train import sphere_data


def val_faces(
    seed: int = 0, n_vip: int = 200, n_unknown: int = 400
) -> tuple[np.ndarray, np.ndarray, np.ndarray, HeadScores]:
    """Val faces of 4 VIPs and of unknown people: the gallery's and the head's scores, both agreeing."""
    rng = np.random.default_rng(seed)
    labels = np.concatenate([rng.integers(0, 4, n_vip), -np.ones(n_unknown, np.int64)])
    predicted = np.where(labels >= 0, labels, rng.integers(0, 4, len(labels)))
    top = np.concatenate([rng.normal(0.75, 0.05, n_vip), rng.normal(0.3, 0.08, n_unknown)])
    log_odds = np.concatenate([rng.normal(8.0, 1.0, n_vip), rng.normal(0.0, 1.5, n_unknown)])
    return labels, predicted, top, HeadScores(top=predicted.copy(), log_odds=log_odds)


def test_head_log_odds_stay_apart_where_the_probability_rounds_to_one():
    logits = torch.tensor([[40.0, 0.0, 0.0], [45.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    scores = head_scores(logits, 1.0, np.array([0, 0, 1]), reject_column=False)
    assert scores.top.tolist() == [0, 0, 1]
    assert scores.log_odds[1] - scores.log_odds[0] > 4.9  # p = 1.0 in float32 for both, yet 5 apart
    assert np.isclose(scores.log_odds[2], 2.0 - np.log(2.0))  # log p - log(1 - p), p = e^2 / (e^2 + 2)


def test_the_head_is_asked_about_the_gallerys_vip_not_its_own_top():
    logits = torch.tensor([[5.0, 1.0, 0.0]])
    scores = head_scores(logits, 1.0, np.array([1]), reject_column=False)
    assert scores.top.tolist() == [0]
    assert np.isclose(scores.log_odds[0], 1.0 - np.log(np.exp(5.0) + 1.0))


def test_a_face_the_head_gives_to_another_vip_is_rejected_unless_the_gallery_is_far_surer():
    labels, predicted, top, head = val_faces()
    fusion, why_not = fit_fusion(labels, predicted, top, head)
    assert fusion is not None and why_not == ""
    unknown = labels < 0
    threshold = np.sort(fusion.confidence(fusion.scores(top, head.log_odds))[unknown])[-2]  # 1 in 400 accepted
    # a VIP-like match (0.75) that the head gives to another VIP: log-odds of the gallery's VIP -3
    confidence = fusion.confidence(fusion.scores(np.array([0.75, 0.98]), np.array([-3.0, -3.0])))
    assert confidence[0] <= threshold
    assert confidence[1] > threshold  # near-identical to a training face of the VIP: the gallery outweighs the head


def test_a_lookalike_the_head_puts_among_unknown_people_is_rejected_though_the_gallery_matches_it_well():
    labels, predicted, top, head = val_faces(seed=1)
    fusion, _ = fit_fusion(labels, predicted, top, head)
    assert fusion is not None
    unknown = labels < 0
    assert 0.62 > top[unknown].max()  # the gallery alone: a better match than any val unknown face
    fused = fusion.confidence(fusion.scores(top, head.log_odds))
    threshold = np.sort(fused[unknown])[-2]  # accepts one val unknown face in 400
    # the head gives it log-odds lower than most unknown faces get (theirs: 0 +- 1.5)
    lookalike = fusion.confidence(fusion.scores(np.array([0.62]), np.array([-1.5])))
    assert lookalike[0] <= threshold
    assert np.mean(fused[labels >= 0] > threshold) > 0.95


def test_the_fused_confidence_is_calibrated_on_val():
    labels, predicted, top, head = val_faces(seed=2, n_unknown=200)
    # overlapping VIP and unknown scores, so the fit is not capped: 1 in 4 VIP faces is as weak as an unknown one
    weak = np.arange(0, 200, 4)
    top[weak], head.log_odds[weak] = top[200 + weak], head.log_odds[200 + weak]
    fusion, _ = fit_fusion(labels, predicted, top, head)
    assert fusion is not None
    confidence = fusion.confidence(fusion.scores(top, head.log_odds)).astype(np.float64)
    right = (labels >= 0) & (predicted == labels)
    # VIP and unknown faces weigh half each: the confidence's mean is the right share on each side, balanced
    vip = labels >= 0
    balanced_mean = 0.5 * confidence[vip].mean() + 0.5 * confidence[~vip].mean()
    assert abs(balanced_mean - 0.5 * right[vip].mean()) < 0.05


def test_without_enough_unknown_val_faces_the_gallery_scores_alone_and_says_why():
    labels, predicted, top, head = val_faces(n_unknown=MIN_UNKNOWN_FACES - 1)
    fusion, why_not = fit_fusion(labels, predicted, top, head)
    assert fusion is None and "unknown people" in why_not and "gallery alone" in why_not


def test_a_head_over_a_single_vip_is_not_fused():
    labels, predicted, top, _ = val_faces()
    one_vip = head_scores(torch.zeros((len(labels), 1)), 1.0, np.zeros(len(labels), np.int64), reject_column=False)
    fusion, why_not = fit_fusion(np.minimum(labels, 0), np.zeros(len(labels), np.int64), top, one_vip)
    assert fusion is None and "one VIP" in why_not


def test_a_head_that_names_other_vips_is_not_fused():
    labels, predicted, top, head = val_faces()
    wrong = np.arange(0, 200, 5)  # the head names another VIP for a fifth of the VIP faces
    head.top[wrong] = (head.top[wrong] + 1) % 4
    fusion, why_not = fit_fusion(labels, predicted, top, head)
    assert fusion is None and "80.0%" in why_not


def test_a_default_run_fuses_the_gallery_with_an_arcface_head_and_reloads_it(tmp_path):
    torch.set_num_threads(1)
    data = sphere_data(seed=5)
    result = train_classifier(TrainConfig(mode="head", epochs=5, noise_folds=0, device="cpu"), data, out_dir=tmp_path)
    assert result["config"]["loss"] == "arcface"
    assert result["scorer"] == {"name": "fused", "reason": ""}
    classifier = load_classifier(tmp_path / "model.pt")
    assert classifier.fusion is not None
    test = np.flatnonzero(data.splits == "test")
    stored = np.array([result["samples"][str(int(data.sample_ids[i]))]["confidence"] for i in test])
    prediction = classifier.predict(data.inputs[test])
    assert np.allclose(prediction.confidence, stored, atol=1e-5)
    assert np.allclose(prediction.probs.max(axis=1), prediction.confidence, atol=1e-6)
    streamed = classifier.top_from_embeddings(np.asarray(data.inputs)[test])
    assert np.array_equal(streamed.labels, prediction.labels)
    assert np.allclose(streamed.confidence, prediction.confidence, atol=1e-6)
    vip_test = data.labels[test] >= 0
    accepted = prediction.confidence > result["operating_points"]["far_0.01"]
    assert np.mean(accepted[vip_test] & (prediction.labels[vip_test] == data.labels[test][vip_test])) > 0.8


def test_a_run_with_one_vip_is_scored_by_the_gallery_alone_and_says_why(tmp_path):
    torch.set_num_threads(1)
    data = sphere_data(seed=6, classes=1, per_class=60)
    result = train_classifier(TrainConfig(mode="head", epochs=5, noise_folds=0, device="cpu"), data, out_dir=tmp_path)
    assert result["scorer"]["name"] == "gallery" and "one VIP" in result["scorer"]["reason"]
    test = np.flatnonzero(data.splits == "test")
    confidence = np.array([result["samples"][str(int(data.sample_ids[i]))]["confidence"] for i in test])
    vip = data.labels[test] >= 0
    assert confidence[vip].mean() > confidence[~vip].mean()  # unknown faces are not all accepted
