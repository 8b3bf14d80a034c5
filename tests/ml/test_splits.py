from collections import Counter

from ml.splits import split_for_group


def test_a_group_always_gets_the_same_split():
    assert {split_for_group("video:42", seed=3) for _ in range(5)} == {split_for_group("video:42", seed=3)}


def test_splits_follow_the_requested_proportions_over_many_groups():
    counts = Counter(split_for_group(f"photo:{i}", seed=0) for i in range(20000))
    assert abs(counts["train"] / 20000 - 0.8) < 0.01
    assert abs(counts["val"] / 20000 - 0.1) < 0.01
    assert abs(counts["test"] / 20000 - 0.1) < 0.01


def test_a_different_seed_reshuffles_groups():
    same = sum(split_for_group(f"g{i}", seed=0) == split_for_group(f"g{i}", seed=1) for i in range(2000))
    assert same < 1900


def test_a_zero_share_split_gets_no_group():
    assert all(split_for_group(f"g{i}", proportions=(1, 0, 1)) != "val" for i in range(500))
