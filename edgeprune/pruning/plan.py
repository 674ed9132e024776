"""plan.json: what was removed, as Torch-Pruning's history of (root module, out/in, channel indices).

Rebuilding a student = original architecture + plan + safetensors weights: no pickle anywhere.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ..errors import InputFileError, ModelError
from ..fileio import write_json_atomic

if TYPE_CHECKING:
    import torch

PLAN_SCHEMA = 1


@dataclass(frozen=True)
class PrunePlan:
    input_shape: tuple[int, ...]
    ratio: float
    round_to: int
    importance: str
    history: tuple[tuple[str, bool, tuple[int, ...]], ...]
    widths_before: dict[str, int] = field(default_factory=dict)
    widths_after: dict[str, int] = field(default_factory=dict)
    ignored: tuple[str, ...] = ()
    architecture: str = ""  # architecture_digest() of the unpruned model: a replay on another one fails clearly
    steps: int = 1
    mode: str = "structured"  # "unstructured": no channels removed, zeros live in the weights

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["history"] = [[name, out, list(idx)] for name, out, idx in self.history]
        return {"schema": PLAN_SCHEMA, **data}

    def save(self, path: Path) -> None:
        write_json_atomic(path, self.to_json())

    @classmethod
    def load(cls, path: Path) -> "PrunePlan":
        try:
            data = json.loads(Path(path).read_text())
            if data.pop("schema", None) != PLAN_SCHEMA:
                raise ValueError(f"schema is not {PLAN_SCHEMA}")
            data["input_shape"] = tuple(data["input_shape"])
            data["ignored"] = tuple(data.get("ignored", ()))
            data["history"] = tuple((str(n), bool(o), tuple(int(i) for i in idx)) for n, o, idx in data["history"])
            return cls(**data)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputFileError(f"{path}: not a valid edgeprune plan ({exc})") from None


def architecture_digest(model: "torch.nn.Module") -> str:
    """sha256 of the model's layer names, types and parameter / buffer shapes (not their values)."""
    import hashlib

    parts = [f"{name}:{type(module).__name__}" for name, module in model.named_modules()]
    parts += [f"{name}:{tuple(tensor.shape)}" for name, tensor in model.state_dict().items()]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def apply_plan(model: "torch.nn.Module", plan: PrunePlan) -> "torch.nn.Module":
    """Replay the plan's channel removals on a freshly built model of the original architecture (in place)."""
    import torch
    import torch_pruning as tp

    if plan.architecture and architecture_digest(model) != plan.architecture:
        raise ModelError(f"plan.json was made for another architecture (digest {plan.architecture[:12]}, this model "
                         f"{architecture_digest(model)[:12]}): replay it on the model it was made from")
    model.eval()
    graph = tp.DependencyGraph().build_dependency(model, example_inputs=torch.zeros((1, *plan.input_shape)))
    graph.load_pruning_history([[name, out, list(idx)] for name, out, idx in plan.history])
    return model


def load_pruned(factory: Callable[[], "torch.nn.Module"], plan: str | Path, weights: str | Path) -> "torch.nn.Module":
    """Python API: rebuild a pruned student from its factory, plan.json and student.safetensors."""
    from ..models import load_weights

    model = apply_plan(factory(), PrunePlan.load(Path(plan)))
    load_weights(model, str(weights))
    return model.eval()
