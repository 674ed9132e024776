"""The operators of an exported model file (.onnx, .tflite), in the form `torch_ops` gives for a PyTorch model.

So a latency prediction can be made for an artifact alone (a user's own .tflite, or a build folder without its
weights). The conventions are those of `edgeprune.latency.ops.torch_ops`, so that both lists line up:

- One synthetic first op ``Op("(input)", "copy", 0, n, n, 0, C, C)`` stands for copying the input into the runtime.
  In TFLite, the layout change or quantisation that the converter puts at the input (TRANSPOSE, QUANTIZE,
  DEQUANTIZE, or a rank-keeping RESHAPE, chained) IS that copy: those ops are folded into "(input)", not listed.
  In ONNX the QuantizeLinear of an int8 input is free like every Q/DQ node, and "(input)" is always added.
- Batch norm and ReLU/ReLU6/Clip are fused (not listed); reshapes are free except a flatten of a 4-D map with
  H*W > 1, which is one "copy" (channels 0, as in torch_ops).
- An op whose inputs are all constant (weight DequantizeLinear, fp16-weight DEQUANTIZE, Identity of a shared
  bias, shape arithmetic) is folded when the model loads: free, and its result counts as a weight.
- Convolutions are classified by torch_ops' rule (`ops.conv_kind`), so litert-torch's DEPTHWISE_CONV_2D for a
  1-input-channel stem conv is a "stem", as its PyTorch module is. MACs = output elements * kernel area *
  input channels per group (linear: output elements * reduced dimension), exactly as torch_ops counts them.
- An operator this module does not know is a "copy" of its tensor sizes (it moves data at least once).

Known differences from torch_ops on the same model (compute ops and their MACs always agree):
- TFLite adds explicit PAD ops (copy) before convs whose padding SAME cannot express (e.g. stride 2 on an even
  map), and in int8 a requantizing QUANTIZE / a DEQUANTIZE around float ops (copy). A flatten appears as a
  TRANSPOSE (the copy) then a free RESHAPE. The converter may fold ops away (a multiply by a constant into the
  conv before it). A conv's input is the padded map.
- ONNX and TFLite list decomposed activations piece by piece (SiLU: Sigmoid + Mul, GELU: Erf, Div, Add, Mul...),
  and a Transpose that torch ran as a free view (permute) is a copy. A channel split, one copy in torch_ops, is
  one SLICE per part in TFLite and one Split in ONNX (sized by its first output).
Names: the ONNX node name (`module_name` maps a TorchScript-exported one to its PyTorch module), or
"OPNAME#index" for TFLite, which keeps no module names. Dynamic dimensions are taken as 1 (batch 1).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

from edgeprune.errors import ConfigError, InputFileError
from edgeprune.export.localize import module_name
from edgeprune.latency.ops import Op, conv_kind

__all__ = ["SUFFIXES", "artifact_ops", "module_name"]

SUFFIXES = (".onnx", ".tflite")
Shape = tuple[int, ...]


def artifact_ops(path: Path) -> list[Op]:
    """The operators of the model file at `path` (.onnx or .tflite), in execution order, as `torch_ops` lists
    them for the PyTorch model it came from (see the module docstring for the known differences)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ConfigError(f"{path}: unknown model format {path.suffix or '(no suffix)'!r}; "
                          f"expected one of {', '.join(SUFFIXES)}")
    _require_readable(path)
    return _onnx_ops(path) if suffix == ".onnx" else _tflite_ops(path)


def _require_readable(path: Path) -> None:
    try:
        with open(path, "rb"):
            pass
    except FileNotFoundError:
        raise InputFileError(f"{path}: no such model file") from None
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read the model file: {exc.strerror or exc}") from None


def _unreadable(path: Path, what: str, exc: BaseException) -> InputFileError:
    text = (str(exc).strip().splitlines() or [""])[0]
    return InputFileError(f"{path}: cannot read it as {what}: {type(exc).__name__}: {text}")


def _numel(shape: Sequence[int]) -> int:
    return math.prod(shape)


def _data_op(name: str, kind: str, inputs: list[Shape], out: Shape, channels_last: bool) -> Op:
    """An eltwise/activation/pool/copy op: no MACs; channels as torch_ops reads them from the result."""
    if channels_last and len(out) == 4:
        channels = out[3]
    else:
        channels = out[1] if len(out) > 1 else _numel(out)
    return Op(name, kind, 0, sum(_numel(s) for s in inputs), _numel(out), 0, channels, channels)


def _flatten_copy(name: str, source: Shape, out: Shape, spatial: Shape) -> Op | None:
    """torch_ops' view rule: flattening a 4-D feature map with H*W > 1 is a copy (a transpose in NHWC)."""
    if len(source) == 4 and len(out) < 4 and _numel(spatial) > 1:
        return Op(name, "copy", 0, _numel(source), _numel(source))
    return None


# ----------------------------------------------------------------------------------------------------- TFLite

_TFL_FUSED = frozenset({"RELU", "RELU6", "RELU_N1_TO_1", "RELU_0_TO_1"})
_TFL_VIEWS = frozenset({"RESHAPE", "SQUEEZE", "EXPAND_DIMS"})
_TFL_AT_INPUT = frozenset({"QUANTIZE", "DEQUANTIZE", "TRANSPOSE", "RESHAPE"})
_TFL_KINDS = {
    **dict.fromkeys(("ADD", "MUL", "SUB", "DIV", "SQUARED_DIFFERENCE", "MAXIMUM", "MINIMUM", "POW", "NEG", "ABS"),
                    "eltwise"),
    **dict.fromkeys(("HARD_SWISH", "GELU", "ELU", "LEAKY_RELU", "PRELU", "EXP", "SQRT", "RSQRT"), "activation"),
    **dict.fromkeys(("LOGISTIC", "TANH"), "sigmoid"),
    **dict.fromkeys(("MEAN", "SUM", "REDUCE_MAX", "AVERAGE_POOL_2D", "MAX_POOL_2D"), "pool"),
    **dict.fromkeys(("TRANSPOSE", "CONCATENATION", "PAD", "PADV2", "SOFTMAX", "QUANTIZE", "DEQUANTIZE"), "copy"),
}


def _load_tflite(path: Path) -> Any:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    try:  # no default delegate: the op table must be the model's own, not XNNPACK's partition of it
        return Interpreter(model_path=str(path),
                           experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    except Exception as exc:  # noqa: BLE001 - the runtime raises plain ValueError/RuntimeError
        raise _unreadable(path, "a TFLite model", exc) from exc


def _tflite_ops(path: Path) -> list[Op]:
    interpreter = _load_tflite(path)
    shapes = {int(t["index"]): tuple(int(v) for v in t["shape"]) for t in interpreter.get_tensor_details()}
    details = interpreter._get_ops_details()
    producer = {int(o): d["op_name"] for d in details for o in d["outputs"]}
    graph_inputs = [int(d["index"]) for d in interpreter.get_input_details()]
    constant = {i for i in shapes if i not in producer and i not in graph_inputs}
    entry, absorbed = _tflite_input_chain(details, shapes, constant, graph_inputs)
    ops = [_input_op([shapes[i] for i in graph_inputs], shapes[entry], channels_last=True)]
    for detail in details:
        inputs = [int(i) for i in detail["inputs"] if i >= 0]
        if inputs and all(i in constant for i in inputs):
            constant.update(int(o) for o in detail["outputs"])  # weight preprocessing, done at load
            continue
        if detail["index"] in absorbed:
            continue
        op = _tflite_op(detail, inputs, shapes, constant, producer)
        if op is not None:
            ops.append(op)
    return ops


def _tflite_input_chain(details: list[dict], shapes: dict[int, Shape], constant: set[int],
                        graph_inputs: list[int]) -> tuple[int, set[int]]:
    """The ops that only bring the input into the runtime's layout/dtype (they are the "(input)" copy), and the
    tensor where that chain ends. A RESHAPE counts only when it keeps the rank (NCHW -> NHWC with one channel):
    flattening the input is real work in torch_ops too."""
    reached, entry, absorbed = set(graph_inputs), graph_inputs[0] if graph_inputs else -1, set()
    for detail in details:
        inputs = [int(i) for i in detail["inputs"] if i >= 0 and int(i) not in constant]
        outputs = [int(o) for o in detail["outputs"]]
        if detail["op_name"] not in _TFL_AT_INPUT or not inputs or not set(inputs) <= reached or len(outputs) != 1:
            continue
        if detail["op_name"] == "RESHAPE" and len(shapes[inputs[0]]) != len(shapes[outputs[0]]):
            continue
        absorbed.add(detail["index"])
        reached.add(outputs[0])
        entry = outputs[0]
    return entry, absorbed


def _tflite_op(detail: dict, inputs: list[int], shapes: dict[int, Shape], constant: set[int],
               producer: dict[int, str]) -> Op | None:
    kind_name, name = detail["op_name"], f"{detail['op_name']}#{detail['index']}"
    out = shapes[int(detail["outputs"][0])]
    if kind_name in _TFL_FUSED:
        return None
    if kind_name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        return _tflite_conv(name, kind_name, shapes[inputs[0]], shapes[inputs[1]], out)
    if kind_name == "FULLY_CONNECTED":
        x, w = shapes[inputs[0]], shapes[inputs[1]]
        return Op(name, "linear", _numel(out) * w[1], _numel(x), _numel(out), _numel(w), w[1], w[0])
    if kind_name == "BATCH_MATMUL":
        return _matmul(name, shapes[inputs[0]], shapes[inputs[1]], out)
    activations = [shapes[i] for i in inputs if i not in constant]
    if kind_name in _TFL_VIEWS:
        source = activations[0] if activations else out
        if producer.get(inputs[0]) == "TRANSPOSE":
            return None  # a flatten the converter wrote as TRANSPOSE + RESHAPE: the TRANSPOSE is its copy
        return _flatten_copy(name, source, out, source[1:3])
    return _data_op(name, _TFL_KINDS.get(kind_name, "copy"), activations, out, channels_last=True)


def _tflite_conv(name: str, kind_name: str, x: Shape, w: Shape, out: Shape) -> Op:
    """CONV_2D weights are [O, kh, kw, I/groups]; DEPTHWISE_CONV_2D weights are [1, kh, kw, C*multiplier]."""
    in_channels, kernel = x[3], w[1] * w[2]
    in_per_group = 1 if kind_name == "DEPTHWISE_CONV_2D" else w[3]
    groups = in_channels // in_per_group
    kind = conv_kind(groups, in_channels, in_per_group, kernel, out[1] * out[2])
    return Op(name, kind, _numel(out) * kernel * in_per_group, _numel(x), _numel(out), _numel(w), in_channels,
              out[3], kernel, groups)


def _matmul(name: str, a: Shape, b: Shape, out: Shape) -> Op:
    """A batched matmul whose transposition flags are not read: the reduced dimension of `a` is the one that is
    not the output's row count (if both are, they are equal)."""
    reduced = a[-1] if len(a) < 2 or len(out) < 2 or a[-2] == out[-2] else a[-2]
    return Op(name, "linear", _numel(out) * reduced, _numel(a), _numel(out), _numel(b), reduced, out[-1])


def _input_op(inputs: list[Shape], entry: Shape, channels_last: bool) -> Op:
    """torch_ops' synthetic "(input)" op: the model input copied into the runtime."""
    size = sum(_numel(s) for s in inputs)
    if len(entry) == 4 and channels_last:
        channels = entry[3]
    else:
        channels = entry[1] if len(entry) > 1 else size
    return Op("(input)", "copy", 0, size, size, 0, channels, channels)


# ------------------------------------------------------------------------------------------------------- ONNX

_ONNX_FREE = frozenset({"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "Identity", "Dropout",
                        "Squeeze", "Unsqueeze", "Constant", "Shape", "Size"})
_ONNX_FUSED = frozenset({"BatchNormalization", "Relu", "Clip"})
_ONNX_CONV = {"Conv": 1, "ConvInteger": 1, "QLinearConv": 3}  # op -> index of its weight input
_ONNX_LINEAR = {"Gemm": 1, "MatMul": 1, "MatMulInteger": 1, "QLinearMatMul": 3, "QGemm": 3}
_ONNX_KINDS = {
    **dict.fromkeys(("Add", "Mul", "Sub", "Div", "Max", "Min", "Pow", "Neg", "Abs", "QLinearAdd", "QLinearMul"),
                    "eltwise"),
    **dict.fromkeys(("HardSwish", "HardSigmoid", "LeakyRelu", "PRelu", "Elu", "Gelu", "Erf", "Sqrt", "Exp",
                     "QLinearLeakyRelu"), "activation"),
    **dict.fromkeys(("Sigmoid", "Tanh", "QLinearSigmoid"), "sigmoid"),
    **dict.fromkeys(("GlobalAveragePool", "AveragePool", "MaxPool", "GlobalMaxPool", "ReduceMean", "ReduceMax",
                     "ReduceSum", "QLinearGlobalAveragePool", "QLinearAveragePool"), "pool"),
    **dict.fromkeys(("Concat", "Pad", "Transpose", "Softmax", "QLinearConcat", "QLinearSoftmax"), "copy"),
}


def _onnx_ops(path: Path) -> list[Op]:
    model = _load_onnx(path)
    graph = model.graph
    shapes = _onnx_shapes(model)
    constant = {t.name for t in graph.initializer}
    inputs = [v.name for v in graph.input if v.name not in constant]
    entry = [_known(path, shapes, name, "the graph input") for name in inputs]
    ops = [_input_op(entry, entry[0] if entry else (), channels_last=False)]
    for index, node in enumerate(graph.node):
        given = [i for i in node.input if i]
        if node.op_type in ("Constant", "Shape", "Size") or (given and all(i in constant for i in given)):
            constant.update(node.output)  # folded when the model loads (static shapes: shapes are constants)
            continue
        op = _onnx_op(path, node, node.name or f"{node.op_type}#{index}", shapes, constant)
        if op is not None:
            ops.append(op)
    return ops


def _load_onnx(path: Path) -> Any:
    import onnx

    try:
        return onnx.load(str(path))
    except Exception as exc:  # noqa: BLE001 - protobuf raises DecodeError and friends
        raise _unreadable(path, "an ONNX model", exc) from exc


def _onnx_shapes(model: Any) -> dict[str, Shape]:
    """Static shapes of every tensor: ONNX shape inference with the inputs pinned to batch 1, then ONNX
    Runtime's own inference for what ONNX cannot type (com.microsoft ops such as QLinearAdd or QGemm)."""
    from onnx import shape_inference

    for value in model.graph.input:
        for dim in value.type.tensor_type.shape.dim:
            if not dim.HasField("dim_value"):
                dim.dim_value = 1  # a dynamic (batch) axis: the latency model is for batch 1
    try:
        inferred = shape_inference.infer_shapes(model, data_prop=True)
    except Exception:  # noqa: BLE001 - inference is partial by nature; ONNX Runtime fills the gaps below
        inferred = model
    graph = inferred.graph
    shapes = {t.name: tuple(int(d) for d in t.dims) for t in graph.initializer}
    for value in (*graph.input, *graph.value_info, *graph.output):
        dims = value.type.tensor_type.shape.dim
        if value.type.tensor_type.HasField("shape") and all(d.HasField("dim_value") for d in dims):
            shapes[value.name] = tuple(int(d.dim_value) for d in dims)
    missing = [o for node in graph.node for o in node.output if o and o not in shapes]
    if missing:
        shapes.update(_runtime_shapes(inferred, missing))
    return shapes


def _runtime_shapes(model: Any, names: list[str]) -> dict[str, Shape]:
    """Shapes ONNX Runtime infers when it loads the model with `names` exposed as outputs (nothing is run)."""
    import onnx
    import onnxruntime as ort

    outputs = {o.name for o in model.graph.output}
    model.graph.output.extend(onnx.ValueInfoProto(name=n) for n in dict.fromkeys(names) if n not in outputs)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # keep every node as stored
    try:
        session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    except Exception:  # noqa: BLE001 - an op ORT lacks: its shapes stay unknown, reported where they are needed
        return {}
    return {o.name: tuple(o.shape) for o in session.get_outputs()
            if o.shape is not None and all(isinstance(d, int) for d in o.shape)}


def _known(path: Path, shapes: dict[str, Shape], tensor: str, what: str) -> Shape:
    if tensor not in shapes:
        raise InputFileError(f"{path}: the shape of {what} (tensor {tensor!r}) cannot be inferred; "
                             "export the model with static shapes")
    return shapes[tensor]


def _onnx_op(path: Path, node: Any, name: str, shapes: dict[str, Shape], constant: set[str]) -> Op | None:
    op_type = node.op_type
    if op_type in _ONNX_FREE or op_type in _ONNX_FUSED or not node.output:
        return None

    def shape(tensor: str) -> Shape:
        return _known(path, shapes, tensor, f"node {name!r}")

    out = shape(node.output[0])
    if op_type in _ONNX_CONV:
        return _onnx_conv(node, name, shape(node.input[0]), shape(node.input[_ONNX_CONV[op_type]]), out)
    if op_type in _ONNX_LINEAR:
        return _onnx_linear(node, name, shape(node.input[0]), shape(node.input[_ONNX_LINEAR[op_type]]), out)
    activations = [shape(i) for i in node.input if i and i not in constant]
    if op_type in ("Flatten", "Reshape"):
        source = activations[0] if activations else out
        return _flatten_copy(name, source, out, source[2:4])
    return _data_op(name, _ONNX_KINDS.get(op_type, "copy"), activations, out, channels_last=False)


def _attribute(node: Any, key: str, default: int) -> int:
    return next((int(a.i) for a in node.attribute if a.name == key), default)


def _onnx_conv(node: Any, name: str, x: Shape, w: Shape, out: Shape) -> Op:
    """Weights are [O, I/groups, k...] (NCHW)."""
    groups, in_per_group, kernel = _attribute(node, "group", 1), w[1], _numel(w[2:])
    kind = conv_kind(groups, x[1], in_per_group, kernel, _numel(out[2:]))
    return Op(name, kind, _numel(out) * in_per_group * kernel, _numel(x), _numel(out), _numel(w), x[1], w[0],
              kernel, groups)


def _onnx_linear(node: Any, name: str, a: Shape, b: Shape, out: Shape) -> Op:
    if node.op_type in ("Gemm", "QGemm"):
        reduced = a[0] if _attribute(node, "transA", 0) else a[-1]
    else:
        reduced = a[-1]
    return Op(name, "linear", _numel(out) * reduced, _numel(a), _numel(out), _numel(b), reduced, out[-1])
