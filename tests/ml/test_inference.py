"""ml.inference and ml.yunet: the graph rewrite, provider choice, and YuNet's decoding and NMS
on numbers worked out by hand (the comparison with OpenCV on real images is in test_faces.py)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from ml import inference, yunet
from ml.model_files import SFACE_MODEL, YUNET_MODEL, read_verified


@pytest.fixture(scope="module")
def sface_graph() -> onnx.ModelProto:
    return onnx.load_from_string(
        inference.prepare_graph(read_verified(SFACE_MODEL.path(), SFACE_MODEL.sha256), dynamic_spatial=False)
    )


def test_the_prepared_graph_holds_float_weights_and_no_dequantize_node(sface_graph: onnx.ModelProto):
    ops = {node.op_type for node in sface_graph.graph.node}
    assert "DequantizeLinear" not in ops and "Conv" in ops
    assert all(init.data_type != onnx.TensorProto.INT8 for init in sface_graph.graph.initializer)


def test_the_prepared_graph_takes_any_batch_and_lists_only_the_image_as_input(sface_graph: onnx.ModelProto):
    (image,) = sface_graph.graph.input
    dims = image.type.tensor_type.shape.dim
    assert image.name == "data" and dims[0].dim_param == "batch" and [d.dim_value for d in dims[1:]] == [3, 112, 112]


def test_yunet_graph_takes_any_batch_and_size_and_copies_the_batch_into_its_reshapes():
    model = onnx.load_from_string(
        inference.prepare_graph(read_verified(YUNET_MODEL.path(), YUNET_MODEL.sha256), dynamic_spatial=True)
    )
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param for d in dims] == ["batch", "", "height", "width"]
    targets = {node.input[1] for node in model.graph.node if node.op_type == "Reshape"}
    shapes = [onnx.numpy_helper.to_array(init) for init in model.graph.initializer if init.name in targets]
    assert shapes and all(shape[0] == 0 for shape in shapes)


@pytest.mark.parametrize(
    "slopes",
    [
        [-0.5, 0.25, 1.5],  # one slope above 1: Relu, then the product
        [-0.5, 0.25, 1.0],  # none above 1: the product, then Relu (which ONNX Runtime fuses into it)
    ],
)
def test_prelu_becomes_relu_and_per_channel_products_with_the_same_numbers_for_any_slope(slopes: list[float]):
    # Slopes below 0, between 0 and 1, and at or above 1 (SFace has all of them); one channel each.
    slope = np.array(slopes, dtype=np.float32).reshape(3, 1, 1)
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("PRelu", ["x", "a"], ["y"])],
        "prelu",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 3, 2, 2])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 3, 2, 2])],
        [onnx.numpy_helper.from_array(slope, "a")],
    )
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)], ir_version=8)
    prepared = inference.prepare_graph(model.SerializeToString(), dynamic_spatial=True)
    assert "PRelu" not in {node.op_type for node in onnx.load_from_string(prepared).graph.node}
    x = np.array([-2.0, -1.0, 0.0, 3.0] * 3, dtype=np.float32).reshape(1, 3, 2, 2)
    (y,) = inference.create_session(prepared, device="cpu", threads=1).run(None, {"x": x})
    # PRelu: x where x > 0, slope * x elsewhere
    expected = [[[-2.0 * a, -1.0 * a], [0.0, 3.0]] for a in slopes]
    np.testing.assert_allclose(y[0], expected, rtol=1e-6)


def test_the_prepared_sface_graph_has_no_prelu_left(sface_graph: onnx.ModelProto):
    assert "PRelu" not in {node.op_type for node in sface_graph.graph.node}


def test_block_dequantisation_repeats_each_scale_over_its_block():
    quantized = np.array([[1, 2, 3, 4, 5]], dtype=np.int8)
    scales = np.array([[0.5, 2.0]], dtype=np.float32)  # blocks of 3: columns 0-2, then 3-4
    zero_points = np.array([[1, 0]], dtype=np.int8)
    out = inference._dequantize(quantized, scales, zero_points, axis=1, block_size=3)
    np.testing.assert_allclose(out, [[0.0, 0.5, 1.0, 8.0, 10.0]])


def test_the_cpu_is_chosen_when_no_gpu_provider_is_installed_and_cuda_is_refused():
    if "cuda" in inference.available_devices():
        pytest.skip("this onnxruntime has a CUDA provider")
    assert inference.providers_for(None) == ["CPUExecutionProvider"]
    with pytest.raises(inference.InferenceUnavailable, match="onnxruntime-gpu"):
        inference.providers_for("cuda")
    with pytest.raises(ValueError, match="unknown device"):
        inference.providers_for("tpu")


def test_a_gpu_is_preferred_with_the_cpu_as_fallback_when_onnxruntime_has_cuda():
    if "cuda" not in inference.available_devices():
        pytest.skip("no CUDA provider in this onnxruntime (CPU build, or no GPU)")
    assert inference.providers_for(None) == ["CUDAExecutionProvider", "CPUExecutionProvider"]


def test_run_batched_gives_the_same_rows_in_chunks_as_in_one_pass():
    prepared = inference.prepare_graph(read_verified(SFACE_MODEL.path(), SFACE_MODEL.sha256), dynamic_spatial=False)
    session = inference.create_session(prepared, device="cpu", threads=1)
    batch = np.random.default_rng(0).uniform(0, 255, (5, 3, 112, 112)).astype(np.float32)
    whole = inference.run_batched(session, batch, max_batch=5)[0]
    chunked = inference.run_batched(session, batch, max_batch=2)[0]
    assert whole.shape == (5, 128) and inference.session_device(session) == "cpu"
    np.testing.assert_allclose(chunked, whole, rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------------------------------------
# YuNet decoding
# ---------------------------------------------------------------------------------------------


def _outputs(
    padded_height: int, padded_width: int, cells: dict[tuple[int, int], dict[str, list[float]]]
) -> dict[str, np.ndarray]:
    """All-zero head outputs for one image, with the given (stride, cell) entries set."""
    out: dict[str, np.ndarray] = {}
    for stride in yunet.STRIDES:
        n = (padded_height // stride) * (padded_width // stride)
        for head, k in (("cls", 1), ("obj", 1), ("bbox", 4), ("kps", 10)):
            out[f"{head}_{stride}"] = np.zeros((1, n, k), np.float32)
    for (stride, cell), values in cells.items():
        for head, value in values.items():
            out[f"{head}_{stride}"][0, cell] = value
    return out


def test_padded_size_rounds_both_sides_up_to_a_multiple_of_32():
    assert yunet.padded_size(720, 1280) == (736, 1280)
    assert yunet.padded_size(540, 960) == (544, 960)
    assert yunet.padded_size(32, 33) == (32, 64)


def test_a_cell_decodes_to_opencvs_box_landmarks_and_geometric_mean_score():
    # 64 x 64 input: stride 16 has 4 x 4 cells; cell 6 is row 1, column 2.
    outputs = _outputs(
        64,
        64,
        {
            (16, 6): {
                "cls": [0.81],
                "obj": [1.5],
                "bbox": [0.5, 0.25, np.log(2.0), 0.0],
                "kps": [0, 0, 1, 0, 0.5, 0.5, 0, 1, 1, 1],
            }
        },
    )
    (faces,) = yunet.decode(outputs, 64, 64, score_threshold=0.6)
    (face,) = faces
    # centre ((2 + 0.5) * 16, (1 + 0.25) * 16) = (40, 20); w = 2 * 16, h = 1 * 16; obj clipped to 1
    np.testing.assert_allclose(face[:4], [40 - 16, 20 - 8, 32, 16], atol=1e-5)
    np.testing.assert_allclose(face[4:14], [32, 16, 48, 16, 40, 24, 32, 32, 48, 32], atol=1e-5)
    assert face[14] == pytest.approx(0.9)


def test_cells_below_the_score_threshold_are_not_candidates():
    outputs = _outputs(64, 64, {(8, 0): {"cls": [0.35], "obj": [1.0]}})  # sqrt(0.35) = 0.59
    assert yunet.decode(outputs, 64, 64, score_threshold=0.6)[0].shape == (0, 15)


def _face(x: float, y: float, w: float, h: float, score: float) -> np.ndarray:
    return np.array([x, y, w, h] + [0.0] * 10 + [score], np.float32)


def test_nms_drops_a_weaker_box_overlapping_a_kept_one_by_more_than_the_threshold():
    strong, weak_overlapping, weak_apart = (
        _face(0, 0, 10, 10, 0.9),
        _face(2, 0, 10, 10, 0.8),
        _face(50, 50, 10, 10, 0.7),
    )
    kept = yunet.nms(np.stack([weak_overlapping, weak_apart, strong]), 0.6, 0.3, 5000)
    # IoU(strong, weak_overlapping) = 80 / 120 = 0.67 > 0.3: dropped; best score first
    np.testing.assert_array_equal(kept[:, 14], np.float32([0.9, 0.7]))


def test_nms_measures_overlap_on_boxes_truncated_to_integers_as_opencv_does():
    # As floats the IoU is 39 / (200 - 39) = 0.242, under 0.245; on integer boxes x0 = 6.1
    # becomes 6 and the IoU 40 / (200 - 40) = 0.25, over it: dropped.
    faces = np.stack([_face(0, 0, 10, 10, 0.9), _face(6.1, 0, 10, 10, 0.8)])
    assert len(yunet.nms(faces, 0.6, 0.245, 5000)) == 1
    assert len(yunet.nms(faces, 0.6, 0.25, 5000)) == 2  # IoU 0.25 is not above 0.25: kept
