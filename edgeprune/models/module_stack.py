"""Which module is running: forward hooks that keep a stack of module names during one traced forward pass."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


@contextmanager
def module_stack(model: "torch.nn.Module") -> Iterator[list[str]]:
    """Within the block, the list's last entry names the innermost module running ("" for the model itself), so a
    dispatch or function mode can name what it sees after the module doing it. The hooks are removed on exit."""
    stack = [""]

    # hooks return None on purpose: a hook that returns a value replaces the module's input or output
    def enter(name: str) -> Any:
        def hook(module: Any, inputs: Any) -> None:
            stack.append(name)
        return hook

    def leave(module: Any, inputs: Any, output: Any) -> None:
        stack.pop()

    handles = []
    for name, module in model.named_modules():
        handles += [module.register_forward_pre_hook(enter(name)), module.register_forward_hook(leave)]
    try:
        yield stack
    finally:
        for handle in handles:
            handle.remove()
