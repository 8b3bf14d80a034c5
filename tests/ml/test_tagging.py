import numpy as np

from ml.tagging import aggregate_video_tags


def _faces(rows):
    frames, labels, conf = zip(*rows, strict=True)
    return dict(frame_indices=frames, predicted=labels, confidence=conf)


def test_an_identity_seen_in_enough_frames_is_tagged_with_its_supporting_frames():
    rows = [(0, 2, 0.95), (10, 2, 0.9), (20, 2, 0.85), (30, 1, 0.99)]
    (tag,) = aggregate_video_tags(**_faces(rows), threshold=0.8, min_frames=3)
    assert tag.label == 2 and tag.frames == [0, 10, 20] and tag.confidence == 0.85


def test_faces_below_the_threshold_are_unknown_and_do_not_count():
    rows = [(0, 2, 0.95), (10, 2, 0.9), (20, 2, 0.5)]
    assert aggregate_video_tags(**_faces(rows), threshold=0.8, min_frames=3) == []


def test_two_faces_in_one_frame_count_as_one_frame():
    rows = [(0, 2, 0.95), (0, 2, 0.9), (0, 2, 0.9), (5, 2, 0.9)]
    assert aggregate_video_tags(**_faces(rows), threshold=0.5, min_frames=3) == []


def test_two_people_in_one_video_get_two_tags_most_confident_first():
    rows = [(f, 0, 0.9) for f in range(5)] + [(f, 1, 0.99) for f in range(5)]
    tags = aggregate_video_tags(**_faces(rows), threshold=0.5, min_frames=3)
    assert [t.label for t in tags] == [1, 0]


def test_raising_the_threshold_never_adds_tags():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 300, 2000)
    labels = rng.integers(0, 20, 2000)
    conf = rng.random(2000)
    previous = None
    for threshold in np.linspace(0, 1, 41):
        tagged = {
            t.label
            for t in aggregate_video_tags(
                frame_indices=frames, predicted=labels, confidence=conf, threshold=threshold, min_frames=5
            )
        }
        if previous is not None:
            assert tagged <= previous
        previous = tagged
