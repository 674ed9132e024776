"""Metadata carried inside every exported artifact, so a device-side program can feed it correctly.

One JSON document under the key ``edgeprune`` (`METADATA_KEY`):
``{"edgeprune_version", "build_digest", "artifact", "input": {name, shape, layout, dtype, quantization},
"output": {...}, "normalization": {"mean", "std", "note"}, "labels": [...]}``.

- ONNX: a ``metadata_props`` entry (the standard place; ONNX Runtime shows it as custom metadata).
- TFLite: a ``metadata`` entry of the model flatbuffer pointing at a buffer holding the JSON, written with
  the schema that ships in ai-edge-litert (interpreters ignore metadata they do not know).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgeprune.errors import InputFileError, StageError
from edgeprune.fileio import atomic_path

METADATA_KEY = "edgeprune"


def describe(path: Path, *, version: str, build_digest: str, sample_shape: tuple[int, ...],
             normalization: dict[str, Any], labels: tuple[str, ...]) -> dict[str, Any]:
    """The metadata document for one artifact, with its real I/O read back from the file.

    ``sample_shape`` is one training sample's (C, H, W): the artifact's input layout is named by comparing.
    """
    from edgeprune.export.runtime import tensor_io_info

    io = tensor_io_info(path)
    first_input, first_output = io["inputs"][0], io["outputs"][0]
    shape = tuple(first_input.get("shape") or ())[1:]
    channels_last = tuple(sample_shape[1:]) + tuple(sample_shape[:1])
    layout = "NCHW" if shape == tuple(sample_shape) else "NHWC" if shape == channels_last else "as shape"
    return {
        "edgeprune_version": version,
        "build_digest": build_digest,
        "artifact": path.name,
        "input": {**first_input, "layout": layout},
        "output": first_output,
        "normalization": normalization,
        "labels": list(labels),
    }


def embed(path: Path, document: dict[str, Any]) -> None:
    """Write `document` into the artifact at `path` (atomically: the file is replaced whole)."""
    path = Path(path)
    text = json.dumps(document, sort_keys=True)
    if path.suffix == ".onnx":
        _embed_onnx(path, text)
    elif path.suffix == ".tflite":
        _embed_tflite(path, text.encode())
    else:
        raise StageError(f"{path.name}: cannot embed metadata in a {path.suffix or 'suffix-less'} file")


def read(path: Path) -> dict[str, Any] | None:
    """The edgeprune metadata of an artifact, or None if it has none. InputFileError for unreadable files."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: artifact not found")
    try:
        raw = _read_onnx(path) if path.suffix == ".onnx" else _read_tflite(path) if path.suffix == ".tflite" else None
    except Exception as exc:  # noqa: BLE001 - protobuf / flatbuffer decoders raise assorted errors
        raise InputFileError(f"{path}: not a readable {path.suffix} model ({exc.__class__.__name__}: {exc})") from None
    if path.suffix not in (".onnx", ".tflite"):
        raise InputFileError(f"{path}: expected a .onnx or .tflite artifact")
    return json.loads(raw) if raw else None


def _embed_onnx(path: Path, text: str) -> None:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    kept = [p for p in model.metadata_props if p.key != METADATA_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    model.metadata_props.add(key=METADATA_KEY, value=text)
    with atomic_path(path) as tmp:
        onnx.save(model, str(tmp))


def _read_onnx(path: Path) -> str | None:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return next((p.value for p in model.metadata_props if p.key == METADATA_KEY), None)


def _embed_tflite(path: Path, payload: bytes) -> None:
    import flatbuffers
    import numpy as np
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(bytearray(path.read_bytes()), 0)
    model.metadata = [m for m in (model.metadata or []) if m.name != METADATA_KEY.encode()]
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(payload, dtype=np.uint8)
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name = METADATA_KEY
    entry.buffer = len(model.buffers) - 1
    model.metadata.append(entry)
    builder = flatbuffers.Builder(len(payload) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(bytes(builder.Output()))


def _read_tflite(path: Path) -> str | None:
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(bytearray(path.read_bytes()), 0)
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        if entry.Name() == METADATA_KEY.encode():
            return model.Buffers(entry.Buffer()).DataAsNumpy().tobytes().decode()
    return None
