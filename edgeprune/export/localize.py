"""Find the layers that int8 quantisation hurts: layer-wise signal-to-quantisation-noise ratio (SQNR).

Both ONNX models are run on the same real samples with every quantised activation exposed as an output: in a
QDQ model each activation tensor T of the fp32 graph reappears as ``T_DequantizeLinear_Output``. For each such
tensor and each channel, SQNR = 10 log10(sum f^2 / sum (f - q)^2) over all samples and positions (f: fp32 value,
q: dequantised int8 value); a tensor's SQNR is the mean over its channels. Per channel, because one channel with
a huge range sets a per-tensor activation scale that crushes the others while dominating a whole-tensor ratio.

Noise accumulates along the network, so a low SQNR late in the graph may be inherited. Each layer is therefore
ranked by the SQNR it LOSES: the lowest SQNR among its quantised inputs (the model input counts as exact)
minus the SQNR of its output. Names are mapped back to PyTorch modules through the exporter's node scopes
("/features/features.3/body/body.0/Conv" -> "features.3.body.0").
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from edgeprune.errors import StageError

_DQ_SUFFIX = "_DequantizeLinear_Output"
_EXACT_DB = 200.0  # stands for "no quantisation noise yet" (the float model input)
_ACTIVATIONS = {"Relu", "Clip", "LeakyRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh"}


def module_name(node_name: str) -> str:
    """The PyTorch module path hidden in a torch.onnx node name ("" if there is none)."""
    parts: list[str] = []
    for part in node_name.strip("/").split("/")[:-1]:
        if parts and part.startswith(parts[-1] + "."):
            parts[-1] = part  # "body" then "body.0": an indexed child replaces its container
        else:
            parts.append(part)
    return ".".join(parts)


def _session_with_outputs(model: Any, names: list[str]) -> Any:
    import onnx
    import onnxruntime as ort

    known = {o.name for o in model.graph.output}
    for name in names:
        if name not in known:
            model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # keep every tensor as exported
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def _per_channel(values: np.ndarray) -> np.ndarray:
    """Sum over every axis but the channel axis (1; a 1-D tensor is one channel)."""
    if values.ndim < 2:
        return np.atleast_1d(values.sum())
    return values.sum(axis=tuple(a for a in range(values.ndim) if a != 1))


def _sqnr_db(signal: np.ndarray, noise: np.ndarray) -> float:
    """Mean over channels of each channel's SQNR in dB (channels without signal are skipped)."""
    live = signal > 0
    if not live.any():
        return _EXACT_DB
    ratio = signal[live] / np.maximum(noise[live], signal[live] * 10 ** (-_EXACT_DB / 10))
    return float(np.mean(10 * np.log10(ratio)))


def layer_sqnr(fp32_path: Path, int8_path: Path, samples: np.ndarray) -> list[dict[str, Any]]:
    """Every quantised activation's SQNR and the SQNR its layer loses, worst layer first."""
    import onnx

    fp32, int8 = onnx.load(str(fp32_path)), onnx.load(str(int8_path))
    producers = {out: node for node in fp32.graph.node for out in node.output}
    int8_tensors = {out for node in int8.graph.node for out in node.output}
    tensors = [t for t in producers if t + _DQ_SUFFIX in int8_tensors]
    if not tensors:
        raise StageError(f"{Path(int8_path).name}: no quantised activation matches a tensor of {Path(fp32_path).name}")
    reference = _session_with_outputs(fp32, tensors)
    input_name = reference.get_inputs()[0].name
    measured = tensors + ([input_name] if input_name + _DQ_SUFFIX in int8_tensors else [])  # + the quantised input
    quantised = _session_with_outputs(int8, [t + _DQ_SUFFIX for t in measured])
    signal: dict[str, Any] = dict.fromkeys(measured, 0.0)
    noise: dict[str, Any] = dict.fromkeys(measured, 0.0)
    for sample in np.asarray(samples, dtype=np.float32):
        feed = {input_name: sample[None, ...]}
        f_out = reference.run(tensors, feed) + [feed[input_name]] * (len(measured) - len(tensors))
        q_out = quantised.run([t + _DQ_SUFFIX for t in measured], feed)
        for t, f, q in zip(measured, f_out, q_out):
            signal[t] = signal[t] + _per_channel(np.square(f, dtype=np.float64))
            noise[t] = noise[t] + _per_channel(np.square(f - q, dtype=np.float64))
    sqnr = {t: _sqnr_db(signal[t], noise[t]) for t in measured}
    weights = {init.name for init in fp32.graph.initializer}

    def upstream(tensor: str, seen: frozenset = frozenset()) -> float:
        """SQNR reaching `tensor`: its own if quantised, else the worst of its producer's inputs."""
        if tensor in sqnr:
            return sqnr[tensor]
        node = producers.get(tensor)
        if node is None or tensor in seen:
            return _EXACT_DB  # a graph input: exact
        inputs = [i for i in node.input if i and i not in weights]
        return min((upstream(i, seen | {tensor}) for i in inputs), default=_EXACT_DB)

    rows = []
    for t in tensors:
        node = producers[t]
        named = node  # a fused Conv+Relu is named after its Conv
        source = producers.get(node.input[0]) if node.input else None
        if node.op_type in _ACTIVATIONS and source is not None and node.input[0] not in sqnr:
            named = source
        inputs = [i for i in node.input if i and i not in weights]
        before = min((upstream(i) for i in inputs), default=_EXACT_DB)
        # Keeping `t` in float needs its producer AND its readers unquantized: QDQ quantizes a tensor
        # whenever any node on either side of it is quantized.
        readers = [n.name for n in fp32.graph.node if t in n.input]
        rows.append({"tensor": t, "node": node.name, "nodes": list(dict.fromkeys([named.name, node.name, *readers])),
                     "op": "+".join(dict.fromkeys([named.op_type, node.op_type])),
                     "module": module_name(named.name), "sqnr_db": round(sqnr[t], 2),
                     "sqnr_lost_db": round(before - sqnr[t], 2)})
    return sorted(rows, key=lambda r: -r["sqnr_lost_db"])
