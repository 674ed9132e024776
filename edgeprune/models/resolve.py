"""Build the teacher module from a spec, load its weights safely, and check it runs on the example input."""
from __future__ import annotations

import hashlib
import inspect
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError, InputFileError, ModelError
from .loading import import_from_spec

if TYPE_CHECKING:
    import torch


def _call_factory(factory, spec: str, in_channels: int, num_classes: int, width: float | None = None):
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        params = {}
    kwargs = {}
    if width is not None:
        if "width" not in params:
            raise ConfigError(f"--student-width: the factory of '{spec}' takes no width= argument; "
                              "give the student as its own model with --student SPEC")
        kwargs["width"] = width
    if "num_classes" in params:
        kwargs["num_classes"] = num_classes
    if "in_channels" in params:
        kwargs["in_channels"] = in_channels
    try:
        return factory(**kwargs)
    except Exception as exc:  # user code: report its failure in one line
        raise ModelError(f"{spec}: factory raised {type(exc).__name__}: {exc}") from None


def build_model(spec: str, in_channels: int, num_classes: int, width: float | None = None) -> "torch.nn.Module":
    """Instantiate the model a spec names (untrained unless weights are loaded afterwards); `width` scales its
    channels (the bundled example, or a factory with a `width=` argument)."""
    import torch

    if spec == "example":
        from .example import example_net

        return example_net(in_channels=in_channels, num_classes=num_classes, width=width or 1.0)
    if spec.startswith("torchvision:"):
        if width is not None:
            raise ConfigError(f"--student-width: '{spec}' has no width= argument; give the student as its own "
                              "model with --student SPEC")
        name = spec.split(":", 1)[1]
        try:
            import torchvision.models as tv_models
        except Exception as exc:  # torchvision missing or built for another torch
            raise ConfigError(
                f"'{spec}' needs torchvision, which cannot be imported here ({type(exc).__name__}); "
                "install a matching pair, e.g. pip install torch==2.14.1 torchvision==0.29.1"
            ) from None
        try:
            factory = tv_models.get_model_builder(name)
        except ValueError:
            raise ConfigError(f"'{spec}': torchvision has no model '{name}'") from None
        return _call_factory(lambda num_classes: factory(weights=None, num_classes=num_classes), spec, in_channels, num_classes)
    factory = import_from_spec(spec, what="factory")
    if not callable(factory):
        raise ConfigError(f"'{spec}' does not name a callable factory")
    model = _call_factory(factory, spec, in_channels, num_classes, width)
    if not isinstance(model, torch.nn.Module):
        raise ModelError(f"{spec}: factory returned {type(model).__name__}, not a torch.nn.Module")
    return model


def load_weights(model: "torch.nn.Module", path_text: str) -> None:
    """Load a state dict into `model` in place: .safetensors, or .pt/.pth via weights_only=True."""
    import torch

    path = Path(path_text)
    if not path.is_file():
        raise InputFileError(f"{path}: weights file not found")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        elif path.suffix in (".pt", ".pth", ".bin"):
            state = torch.load(path, map_location="cpu", weights_only=True)
        else:
            raise InputFileError(f"{path}: unknown weights format '{path.suffix}'; use .safetensors, .pt or .pth")
    except InputFileError:
        raise
    except Exception as exc:  # corrupt file, pickle refused by weights_only, ...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputFileError(f"{path}: cannot read weights ({first[:200]})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise InputFileError(f"{path}: expected a state dict of tensors (a whole pickled module is not accepted)")
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        detail = f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}"
        raise InputFileError(f"{path}: weights do not match the model ({detail})")
    for key, tensor in state.items():
        if tuple(tensor.shape) != tuple(own[key].shape):
            raise InputFileError(
                f"{path}: layer '{key}' has shape {tuple(tensor.shape)} in the file but {tuple(own[key].shape)} in the model"
            )
    model.load_state_dict(state)


def check_runs(model: "torch.nn.Module", input_shape: tuple[int, ...], num_classes: int, spec: str) -> None:
    """Run one example through the model so shape errors surface now, with the shape in the message."""
    import torch

    model.eval()
    try:
        with torch.no_grad():
            out = model(torch.zeros((1, *input_shape)))
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{spec}: fails on input shape {','.join(map(str, input_shape))} ({first[:200]})") from None
    if not isinstance(out, torch.Tensor) or out.ndim != 2 or out.shape[1] != num_classes:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ModelError(f"{spec}: must return logits of shape (batch, {num_classes}); got {got}")


def model_fingerprint(spec: str) -> str:
    """Identify the architecture for caching: the spec plus, for a file, its source hash."""
    source = spec.rpartition(":")[0]
    if source.endswith(".py") and Path(source).is_file():
        return f"{spec}@{hashlib.sha256(Path(source).read_bytes()).hexdigest()[:16]}"
    if spec == "example":
        return f"example@{hashlib.sha256(Path(__file__).with_name('example.py').read_bytes()).hexdigest()[:16]}"
    return spec


def check_traceable(model: "torch.nn.Module", input_shape: tuple[int, ...], spec: str) -> None:
    """torch.export must capture the model: the TFLite exporter and the pruner's graph both depend on it."""
    import torch

    try:
        torch.export.export(model.eval(), (torch.zeros((1, *input_shape)),), strict=False)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelError(f"{spec}: cannot be traced by torch.export, which export needs ({type(exc).__name__}: "
                         f"{first[:200]}); keep forward() in torch operations") from None
