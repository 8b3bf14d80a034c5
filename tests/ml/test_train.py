"""Training jobs on synthetic embeddings (head mode) and tiny crops (finetune mode), on CPU.

Synthetic identities are Gaussian clusters on the unit sphere (each face at cosine about 0.7 to
its identity's centre). Distractor identities are split by identity, so test distractors are
people the model never saw.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from ml.device import autocast_context, default_batch_size, pick_device
from ml.index import l2_normalise
from ml.metrics import threshold_sweep
from ml.models import build_backbone
from ml.train import TrainConfig, TrainData, TrainingCancelled, load_classifier, train_classifier
from ml.train_batches import batch_positions

LOSS_NAMES = ["ce", "dce", "zlog", "me", "arcface", "tsoftmax"]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models train faster on one thread than on two contending ones."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def split_by_identity(identity: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """VIP faces split per face; distractors per identity (test distractors are unseen people)."""
    per_face = rng.random(len(identity))
    per_identity = rng.random(identity.max() + 1)[identity]
    draw = np.where(labels >= 0, per_face, per_identity)
    return np.where(draw < 0.5, "train", np.where(draw < 0.7, "val", "test"))


def sphere_data(
    *,
    seed: int = 0,
    classes: int = 8,
    per_class: int = 40,
    distractor_ids: int = 60,
    dim: int = 32,
    spread: float = 1.0,
) -> TrainData:
    """VIP and distractor identities as Gaussian clusters on the unit sphere."""
    rng = np.random.default_rng(seed)
    centres = l2_normalise(rng.normal(size=(classes + distractor_ids, dim)))
    identity = np.concatenate(
        [np.repeat(np.arange(classes), per_class), np.repeat(np.arange(classes, classes + distractor_ids), 4)]
    )
    x = l2_normalise(centres[identity] + spread * rng.normal(size=(len(identity), dim)) / np.sqrt(dim))
    labels = np.where(identity < classes, identity, -1)
    return TrainData(
        inputs=x,
        labels=labels,
        splits=split_by_identity(identity, labels, rng),
        class_names=[f"VIP {i}" for i in range(classes)],
        sample_ids=1000 + 7 * np.arange(len(labels)),
    )


def beyond_data(seed: int = 0) -> TrainData:
    """A separable set where cross-entropy is confidently wrong: 4 tight VIP clusters, and each
    distractor identity lies beyond one VIP as seen from another (normalise(2 c_a - c_b)), where a
    softmax extrapolates to VIP a with high confidence."""
    rng = np.random.default_rng(seed)
    vip_centres = l2_normalise(rng.normal(size=(4, 8)))
    a, b = rng.integers(0, 4, 60), rng.integers(0, 4, 60)
    b = np.where(a == b, (b + 1) % 4, b)
    distractor_centres = l2_normalise(2 * vip_centres[a] - vip_centres[b] + 0.3 * rng.normal(size=(60, 8)))
    centres = np.concatenate([vip_centres, distractor_centres])
    identity = np.concatenate([np.repeat(np.arange(4), 40), np.repeat(np.arange(4, 64), 4)])
    x = l2_normalise(centres[identity] + 0.3 * rng.normal(size=(len(identity), 8)) / np.sqrt(8))
    labels = np.where(identity < 4, identity, -1)
    return TrainData(
        inputs=x,
        labels=labels,
        splits=split_by_identity(identity, labels, rng),
        class_names=list("ABCD"),
        sample_ids=np.arange(len(labels)),
    )


def head_config(**overrides) -> TrainConfig:
    return TrainConfig(
        **{"mode": "head", "scorer": "head", "epochs": 30, "noise_folds": 0, "device": "cpu", **overrides}
    )


def test_every_loss_trains_a_head_that_beats_chance_by_a_wide_margin(tmp_path):
    data = sphere_data()
    test_vip = (data.splits == "test") & (data.labels >= 0)
    chance = 1 / data.n_classes
    for loss in LOSS_NAMES:
        result = train_classifier(head_config(loss=loss), data, out_dir=tmp_path / loss)
        prediction = load_classifier(tmp_path / loss / "model.pt").predict(data.inputs[test_vip])
        accuracy = np.mean(prediction.labels == data.labels[test_vip])
        assert accuracy > 0.8 > 5 * chance, loss
        assert result["metrics"]["test"]["at_max_total_accuracy"]["total_accuracy"] > 0.75, loss


def distractor_accuracy_at_identification(result: dict, data: TrainData, minimum: float) -> float:
    """Best distractor accuracy among thresholds that keep identification accuracy >= minimum."""
    test = data.splits == "test"
    samples = [result["samples"][str(i)] for i in data.sample_ids[test]]
    sweep = threshold_sweep(
        data.labels[test], [s["predicted"] for s in samples], [s["confidence"] for s in samples], data.n_classes
    )
    return float(sweep.distractor_accuracy[sweep.identification_accuracy >= minimum].max())


def test_me_rejects_unseen_distractors_better_than_ce_at_equal_identification_accuracy(tmp_path):
    # A hidden layer: with a linear head on fixed embeddings logit differences are linear in the
    # input, so no loss can flatten distractors that sit beyond a VIP (measured: ME = CE there).
    gaps = []
    for seed in range(4):
        data = beyond_data(seed)
        rejected = {
            loss: distractor_accuracy_at_identification(
                train_classifier(head_config(loss=loss, hidden=64), data, out_dir=tmp_path / f"{loss}{seed}"),
                data,
                minimum=0.9,
            )
            for loss in ("ce", "me")
        }
        assert rejected["me"] > rejected["ce"] + 0.1, (seed, rejected)
        gaps.append(rejected["me"] - rejected["ce"])
    assert np.mean(gaps) > 0.2, gaps


def test_same_seed_gives_the_same_result_and_another_seed_does_not(tmp_path):
    data = sphere_data(classes=4, per_class=25, distractor_ids=20)
    config = head_config(epochs=5, noise_folds=2)
    first, second = (train_classifier(config, data, out_dir=tmp_path / name) for name in ("a", "b"))
    other = train_classifier(head_config(epochs=5, noise_folds=2, seed=1), data, out_dir=tmp_path / "c")
    for result in (first, second, other):
        result.pop("timings"), result.pop("samples_per_s")
    assert first == second
    assert other["samples"] != first["samples"]
    weights = [torch.load(tmp_path / name / "model.pt", weights_only=True)["state_dict"] for name in ("a", "b")]
    assert all(torch.equal(weights[0][key], weights[1][key]) for key in weights[0])


def test_result_is_json_and_reports_every_part_of_the_run(tmp_path):
    data = sphere_data(classes=4, per_class=25, distractor_ids=20)
    result = train_classifier(head_config(epochs=5, noise_folds=2), data, out_dir=tmp_path)
    assert json.loads(json.dumps(result, allow_nan=False)) == result
    assert result["device"] == "cpu" and result["config"]["batch_size"] == default_batch_size(
        torch.device("cpu"), "head"
    )
    assert set(result["samples"]) == {str(i) for i in data.sample_ids}
    train_sample = result["samples"][str(data.sample_ids[data.splits == "train"][0])]
    assert {
        "direction",
        "score",
        "rank",
        "suggested_label",
        "training_loss",
        "out_of_sample_loss",
        "neighbour_disagreement",
        "prototype_distance",
    } <= set(train_sample["noise"])
    test_metrics = result["metrics"]["test"]
    assert test_metrics["at_max_mean_f1"]["confusion"]["labels"][-1] == "Distractor"
    assert {"0.95", "0.99"} == set(test_metrics["at_vip_acceptance"])
    assert len(test_metrics["sweep"]["thresholds"]) > 10
    assert set(result["calibration"]["test"]) == {"before", "after"}
    assert set(result["calibration"]["test"]["after"]) == {"vip", "all"}
    assert [d["name"] for d in result["diagnosis"]["classes"]] == data.class_names
    assert set(result["operating_points"]) == {
        "max_mean_f1",
        "max_total_accuracy",
        "precision_0.95",
        "precision_0.99",
        "far_0.001",
        "far_0.01",
    }
    assert result["samples_per_s"] > 0 and result["timings"]["total_s"] > 0


def test_injected_label_flips_rank_at_the_top_of_the_noise_scores(tmp_path):
    data = sphere_data(seed=3)
    rng = np.random.default_rng(0)
    train_vip = np.flatnonzero((data.splits == "train") & (data.labels >= 0))
    flipped = rng.choice(train_vip, 8, replace=False)
    data.labels[flipped] = (data.labels[flipped] + rng.integers(1, data.n_classes, 8)) % data.n_classes
    result = train_classifier(head_config(noise_folds=3), data, out_dir=tmp_path)
    vip_noise = {int(i): result["samples"][str(i)]["noise"] for i in data.sample_ids[train_vip]}
    top = sorted(vip_noise, key=lambda i: vip_noise[i]["rank"])[:8]
    base_rate = 8 / len(train_vip)
    assert base_rate < 0.07
    assert len(set(top) & set(data.sample_ids[flipped].tolist())) >= 6
    for component in ("training_loss", "out_of_sample_loss"):
        ranked = sorted(vip_noise, key=lambda i: -vip_noise[i][component])[:8]
        assert len(set(ranked) & set(data.sample_ids[flipped].tolist())) >= 5, component


def test_saved_model_reloads_and_predicts_what_the_run_reported(tmp_path):
    data = sphere_data(classes=4, per_class=25, distractor_ids=20)
    result = train_classifier(head_config(epochs=5, loss="dce"), data, out_dir=tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]  # written atomically, no temporary file left
    classifier = load_classifier(tmp_path / "model.pt")
    prediction = classifier.predict(data.inputs)
    assert classifier.class_names == data.class_names and classifier.temperature == result["temperature"]
    assert prediction.probs.shape == (len(data.labels), 4)
    assert (prediction.probs.sum(axis=1) < 1 + 1e-5).all()  # DCE: the distractor column took its share
    reported = np.array([result["samples"][str(i)]["predicted"] for i in data.sample_ids])
    np.testing.assert_array_equal(prediction.labels, reported)
    np.testing.assert_allclose(
        prediction.confidence, [result["samples"][str(i)]["confidence"] for i in data.sample_ids], rtol=1e-5
    )
    labels, probs = classifier.topk(data.inputs[:5], 2)
    assert (
        labels.shape == (5, 2) and (labels[:, 0] == prediction.labels[:5]).all() and (probs[:, 0] >= probs[:, 1]).all()
    )
    assert classifier.thresholds == result["operating_points"]


def test_should_stop_cancels_cleanly_and_writes_nothing(tmp_path):
    data = sphere_data(classes=4, per_class=25, distractor_ids=20)
    calls = []

    def stop_after_a_few_batches() -> bool:
        calls.append(1)
        return len(calls) > 3

    with pytest.raises(TrainingCancelled):
        train_classifier(head_config(), data, out_dir=tmp_path, should_stop=stop_after_a_few_batches)
    assert list(tmp_path.iterdir()) == []


def test_progress_is_reported_in_order_up_to_done(tmp_path):
    data = sphere_data(classes=4, per_class=25, distractor_ids=20)
    seen: list[tuple[float, str]] = []
    train_classifier(
        head_config(epochs=3, noise_folds=2), data, out_dir=tmp_path, progress=lambda f, m: seen.append((f, m))
    )
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and 0 < fractions[0] < 0.5
    assert any("noise fold" in m for _, m in seen)


def test_invalid_data_is_refused_before_training():
    x = np.zeros((3, 4), dtype=np.float32)
    with pytest.raises(ValueError):
        TrainData(
            inputs=x,
            labels=np.array([0, 5, -1]),
            splits=np.array(["train"] * 3),
            class_names=["a"],
            sample_ids=np.arange(3),
        )
    with pytest.raises(ValueError):
        TrainData(
            inputs=x,
            labels=np.array([0, 0, -1]),
            splits=np.array(["train", "dev", "test"]),
            class_names=["a"],
            sample_ids=np.arange(3),
        )
    with pytest.raises(ValueError):
        TrainData(
            inputs=x,
            labels=np.array([0, 0, -1]),
            splits=np.array(["train"] * 3),
            class_names=["a"],
            sample_ids=np.array([1, 1, 2]),
        )
    with pytest.raises(ValueError):
        train_classifier(
            TrainConfig(loss="nope"),
            sphere_data(classes=2, per_class=5, distractor_ids=2),
            out_dir=Path("/nonexistent"),
        )


def test_a_trailing_batch_of_one_joins_the_previous_batch():
    batches = batch_positions(np.arange(9), 4, None)
    assert [len(b) for b in batches] == [4, 5]
    shuffled = batch_positions(np.arange(9), 4, torch.Generator().manual_seed(0))
    assert sorted(np.concatenate(shuffled).tolist()) == list(range(9))


def test_finetune_smoke_on_tiny_crops_runs_on_cpu_in_seconds(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    crops = list(rng.integers(0, 256, size=(20, 32, 32, 3), dtype=np.uint8))
    for i in (0, 1):  # aligned crops may come as files too
        Image.fromarray(crops[i]).save(tmp_path / f"crop{i}.png")
        crops[i] = str(tmp_path / f"crop{i}.png")
    data = TrainData(
        inputs=crops,
        labels=np.array([0, 1, 2, -1] * 5),
        splits=np.array(["train"] * 12 + ["val"] * 4 + ["test"] * 4),
        class_names=["a", "b", "c"],
        sample_ids=np.arange(20),
    )
    started = time.perf_counter()
    result = train_classifier(
        TrainConfig(
            mode="finetune", backbone="mobilenet_v3_small", epochs=2, batch_size=8, image_size=32, device="cpu"
        ),
        data,
        out_dir=tmp_path / "run",
    )
    assert time.perf_counter() - started < 20
    assert math.isfinite(result["history"]["loss"][-1]) and result["config"]["mode"] == "finetune"
    classifier = load_classifier(tmp_path / "run" / "model.pt")
    prediction = classifier.predict([np.asarray(Image.open(tmp_path / "crop0.png"))])
    assert prediction.probs.shape == (1, 3)


def test_backbones_come_from_torchvision_by_name_and_load_local_weights_only(tmp_path):
    net, width = build_backbone("mobilenet_v3_small")
    assert width == 1024 and net(torch.zeros(2, 3, 32, 32)).shape == (2, 1024)
    torch.save({"state_dict": net.state_dict()}, tmp_path / "weights.pt")
    loaded, _ = build_backbone("mobilenet_v3_small", weights_path=tmp_path / "weights.pt")
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), loaded.state_dict().values(), strict=True))
    torch.save({"unrelated.weight": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(ValueError):
        build_backbone("mobilenet_v3_small", weights_path=tmp_path / "other.pt")
    with pytest.raises(ValueError):
        build_backbone("not_a_model")


def test_device_is_cpu_here_and_mixed_precision_is_off_on_cpu():
    assert pick_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        assert pick_device().type == "cpu"
        with pytest.raises(RuntimeError):
            pick_device("cuda")
    with autocast_context(torch.device("cpu")):
        assert torch.ones(2, 2).matmul(torch.ones(2, 2)).dtype == torch.float32
