"""Loading shared by the stages: data, models rebuilt from build files, model statistics."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..manifest import metric

if TYPE_CHECKING:
    import torch

    from ..data import DataBundle
    from ..pipeline import BuildContext


def prepare(ctx: "BuildContext") -> None:
    """Load and check every user input before anything is written: data, model, weights, input shape."""
    from ..data import load_data
    from ..models import build_model, check_runs, check_traceable, load_weights, model_fingerprint

    cfg = ctx.config
    data = load_data(cfg.data, cfg.data_dir, seed=cfg.seed)
    if cfg.input_shape is not None and tuple(cfg.input_shape) != data.input_shape:
        raise ConfigError(
            f"--input-shape {','.join(map(str, cfg.input_shape))} does not match the data "
            f"({data.name} samples are {','.join(map(str, data.input_shape))})"
        )
    import torch

    torch.manual_seed(cfg.seed)  # the teacher's initial weights (when edgeprune trains it) follow --seed
    model = build_model(cfg.model, data.input_shape[0], data.num_classes)
    if cfg.weights:
        load_weights(model, cfg.weights)
    check_runs(model, data.input_shape, data.num_classes, cfg.model)
    check_traceable(model, data.input_shape, cfg.model)
    from ..distill.students import check_student
    from ..pruning import check_options

    check_options(model, importance=cfg.importance, ignore=cfg.ignore_layers, layer_ratios=cfg.layer_ratios)
    check_student(cfg.model, cfg.student, cfg.student_width, data.input_shape, data.num_classes)
    ctx.cache["data"] = data
    ctx.cache["fresh_model"] = model
    ctx.report["inputs"] = {
        "model": {"spec": cfg.model, "fingerprint": model_fingerprint(cfg.model)},
        "weights": {"path": cfg.weights, "sha256": _file_hash(cfg.weights)} if cfg.weights else None,
        "data": {**data.fingerprint, "train": len(data.x_train), "test": len(data.x_test),
                 "input_shape": list(data.input_shape), "classes": data.num_classes},
    }


def _file_hash(path: str) -> str:
    from ..fileio import sha256_file

    return sha256_file(path)


def data(ctx: "BuildContext") -> "DataBundle":
    return ctx.cache["data"]


def new_model(ctx: "BuildContext") -> "torch.nn.Module":
    """A fresh instance of the user's architecture (weights are loaded by the caller)."""
    import copy

    return copy.deepcopy(ctx.cache["fresh_model"])


def load_safetensors(model: "torch.nn.Module", path) -> "torch.nn.Module":
    from ..models import load_weights

    load_weights(model, str(path))
    return model.eval()


def teacher(ctx: "BuildContext") -> "torch.nn.Module":
    if "teacher" not in ctx.cache:
        ctx.cache["teacher"] = load_safetensors(new_model(ctx), ctx.path("teacher.safetensors"))
    return ctx.cache["teacher"]


def student(ctx: "BuildContext", weights: str = "student.safetensors") -> "torch.nn.Module":
    from ..distill.students import custom_student
    from ..pruning import PrunePlan, apply_plan

    key = f"student:{weights}"
    if key not in ctx.cache:
        cfg, bundle = ctx.config, data(ctx)
        model = custom_student(cfg.model, cfg.student, cfg.student_width, bundle.input_shape[0], bundle.num_classes,
                               cfg.seed) if weights == "student.safetensors" else None
        if model is None:  # the pruned teacher
            model = apply_plan(new_model(ctx), PrunePlan.load(ctx.path("plan.json")))
        ctx.cache[key] = load_safetensors(model, ctx.path(weights))
    return ctx.cache[key]


def save_weights(model: "torch.nn.Module", path) -> None:
    from safetensors.torch import save_file

    from ..fileio import atomic_path

    with atomic_path(path) as tmp:
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp))


def model_stats(model: "torch.nn.Module", input_shape: tuple[int, ...]) -> dict[str, Any]:
    """Parameters and MACs (Torch-Pruning's op counter) of a torch model."""
    import torch
    import torch_pruning as tp

    macs, params = tp.utils.count_ops_and_params(model, torch.zeros((1, *input_shape)))
    return {
        "params": metric(int(params), "count", "computed", model="torch parameter count"),
        "macs": metric(int(macs), "MAC", "computed", model="torch-pruning op counter, batch 1"),
    }


def accuracy_metric(value: float, samples: int, what: str) -> dict[str, Any]:
    return metric(round(float(value), 6), "fraction", "measured", on=f"{what}, {samples} test samples")
