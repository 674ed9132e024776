"""The one training loop: teacher training (cross-entropy), fine-tuning, and distillation against a teacher
(Hinton KD, optionally with feature matching), on one process or data-parallel under torchrun.

Teacher recipe for the bundled example_net on Fashion-MNIST (benchmarks/teacher_recipe.py): 8 epochs,
batch 128, AdamW 3e-3 one-cycle, weight decay 5e-4, label smoothing 0.1, horizontal flips -> 92.65%.

Batches come straight from the DataBundle's numpy arrays (no DataLoader workers: on a small CPU the
worker processes only compete with the training threads). Augmentation (horizontal flip, and a random
shift of up to `max_shift` px when set) is done on the whole batch at once. With flips only, KD looks the
teacher's logits up in a table filled once before the first epoch (distill/logit_cache.py) instead of running the
teacher per batch. Everything random is drawn from one seeded torch.Generator, so a run is repeatable given
the seed and the thread count; a checkpoint written at the end of each epoch holds that generator too, so a killed
run resumed from it ends with the same weights.

Schedule: one-cycle (cosine warm-up over `warmup_fraction` of the steps, then cosine decay), for AdamW or SGD.
With `val_fraction`, a fixed slice of the training split is held out: each epoch is scored on it, the best
epoch's weights are kept (and restored at the end), and `early_stopping` epochs without a better score stop.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..progress import QUIET
from . import distributed
from .checkpoint import load_checkpoint, remove_checkpoint, save_checkpoint
from .features import FeaturePair, FeatureStudent, output_channels, teacher_features
from .logit_cache import cache_teacher_logits
from .losses import feature_loss, hard_loss, kd_loss

OPTIMIZERS = ("adamw", "sgd")


@dataclass(frozen=True)
class TrainSettings:
    epochs: int
    batch_size: int = 128
    learning_rate: float = 3e-3
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    temperature: float = 4.0
    alpha: float = 0.7
    seed: int = 0
    augment: bool = True
    # Flip only by default: on Fashion-MNIST, 8 epochs with +-2 px shifts reached 91.5% against 92.65%
    # with flips alone (benchmarks/teacher_recipe.py); short schedules underfit, so less augmentation wins.
    max_shift: int = 0
    flip: bool = True
    channels_last: bool = True  # NHWC conv kernels: measured ~1.3-2x faster training on this 2-core CPU
    optimizer: str = "adamw"  # or "sgd" (momentum 0.9, Nesterov): usually wants a larger learning rate
    warmup_fraction: float = 0.25  # share of the steps spent warming the rate up
    val_fraction: float = 0.0  # held-out share of the training split for model selection (0: off)
    early_stopping: int = 0  # stop after this many epochs without a better validation score (0: off)
    feature_weight: float = 1.0  # weight of the feature-matching term (when feature pairs are given)
    # KD without feature matching and without random shifts: score each training image and its mirror with the
    # teacher once, before the first epoch, and look the logits up per batch (distill/logit_cache.py)
    teacher_cache: bool = True

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {self.alpha}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        if not 0.0 < self.warmup_fraction < 1.0:
            raise ValueError(f"warmup_fraction must be in (0, 1), got {self.warmup_fraction}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.early_stopping < 0:
            raise ValueError(f"early_stopping must be >= 0, got {self.early_stopping}")
        if self.early_stopping and not self.val_fraction:
            raise ValueError("early stopping needs a validation split (val_fraction > 0)")


def augment_batch(x: torch.Tensor, generator: torch.Generator, *, max_shift: int = 2, flip: bool = True) -> torch.Tensor:
    """Random translation by up to `max_shift` px (edge-replicate pad, then crop) and horizontal flip."""
    return augment_views(x, generator, max_shift=max_shift, flip=flip)[0]


def augment_views(x: torch.Tensor, generator: torch.Generator, *, max_shift: int = 2,
                  flip: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(augmented batch, boolean mask of the flipped rows or None without flips); see `augment_batch`."""
    n, _, h, w = x.shape
    mask = None
    if max_shift > 0:
        s = max_shift
        padded = F.pad(x, (s, s, s, s), mode="replicate")
        dy = torch.randint(0, 2 * s + 1, (n,), generator=generator)
        dx = torch.randint(0, 2 * s + 1, (n,), generator=generator)
        rows = (dy[:, None] + torch.arange(h))[:, :, None]  # (n, h, 1)
        cols = (dx[:, None] + torch.arange(w))[:, None, :]  # (n, 1, w)
        batch = torch.arange(n)[:, None, None]
        x = padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)  # (n, c, h, w)
    if flip:
        mask = torch.rand(n, generator=generator) < 0.5
        x = torch.where(mask[:, None, None, None], x.flip(3), x)
    return x.contiguous(), mask


@torch.no_grad()
def predict_logits(model: nn.Module, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Logits for every row of `x` (model put in eval mode)."""
    model.eval()
    source = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    outputs = [model(source[i:i + batch_size]) for i in range(0, len(source), batch_size)]
    return torch.cat(outputs).numpy()


@torch.no_grad()
def evaluate(model: nn.Module, x: np.ndarray, y: np.ndarray, batch_size: int = 1000) -> float:
    """Top-1 accuracy as a fraction in [0, 1]."""
    if len(x) == 0:
        raise ValueError("evaluate: empty data")
    model.eval()
    source = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    labels = torch.from_numpy(np.asarray(y, dtype=np.int64))
    correct = 0
    for i in range(0, len(source), batch_size):
        correct += int((model(source[i:i + batch_size]).argmax(1) == labels[i:i + batch_size]).sum())
    return correct / len(source)


def validation_split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, validation rows): a fixed seeded slice of the training split, never the test split."""
    if fraction <= 0:
        return np.arange(n), np.arange(0)
    order = np.random.default_rng(seed).permutation(n)
    n_val = max(1, int(round(n * fraction)))
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def _optimizer(params: Any, settings: TrainSettings) -> torch.optim.Optimizer:
    if settings.optimizer == "sgd":
        return torch.optim.SGD(params, lr=settings.learning_rate, momentum=0.9, nesterov=True,
                               weight_decay=settings.weight_decay)
    return torch.optim.AdamW(params, lr=settings.learning_rate, weight_decay=settings.weight_decay)


def _scheduler(optimizer: torch.optim.Optimizer, settings: TrainSettings, total_steps: int) -> Any:
    if total_steps >= 8:
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=settings.learning_rate, total_steps=total_steps,
                                                   pct_start=settings.warmup_fraction)
    # one-cycle needs a few warm-up steps (it divides by their count); a tiny run keeps the rate flat
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)


def _digest(module: nn.Module | None) -> str:
    """sha256 of a module's state. Hashes copies: `.numpy()` on a live buffer makes its storage non-resizable,
    which breaks observers that resize theirs (QAT fake-quantizers)."""
    digest = hashlib.sha256()
    if module is not None:
        for name, tensor in module.state_dict().items():
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().reshape(-1).clone().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _run_key(settings: TrainSettings, net: nn.Module, teacher: nn.Module | None, pairs: Any, data: Any) -> str:
    """Names one training run (settings, starting weights, teacher, data): a checkpoint is resumed only by it."""
    identity = {"settings": asdict(settings), "start": _digest(net), "teacher": _digest(teacher),
                "features": [asdict(p) for p in pairs or ()], "data": getattr(data, "fingerprint", {}),
                "sizes": [len(data.x_train), len(data.x_test)]}
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()


def _batch_loss(runner: nn.Module, teacher: nn.Module | None, features: Sequence[FeaturePair] | None,
                xb: torch.Tensor, yb: torch.Tensor, settings: TrainSettings,
                cached: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, student logits) for one batch: hard labels without a teacher, else KD (against the `cached`
    teacher logits when given), plus features if given."""
    if features:
        logits, student_features = runner(xb)
        teacher_logits, targets = teacher_features(teacher, xb, features, student_features)
    else:
        logits = runner(xb)
        if teacher is None:
            return hard_loss(logits, yb, label_smoothing=settings.label_smoothing), logits
        if cached is not None:
            teacher_logits = cached
        else:
            with torch.no_grad():
                teacher_logits = teacher(xb)
    loss = kd_loss(logits, teacher_logits, yb, temperature=settings.temperature, alpha=settings.alpha,
                   label_smoothing=settings.label_smoothing)
    if features:
        loss = loss + settings.feature_weight * feature_loss(student_features, targets)
    return loss, logits


def _clone_state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone().contiguous() for k, v in module.state_dict().items()}


def train(model: nn.Module, data: Any, settings: TrainSettings, *, teacher: nn.Module | None = None,
          progress: Any = None, after_backward: Callable[[nn.Module], None] | None = None,
          features: Sequence[FeaturePair] | None = None, checkpoint: Path | None = None) -> dict:
    """Train `model` in place on `data` (a DataBundle); with `teacher`, distil from it (KD loss), and with
    `features` (needs `teacher`) also match those layers' outputs (see distill/features.py).

    `after_backward(model)` runs between backward and the optimizer step: sparsity training uses it to add its
    regulariser's gradient (e.g. L1 on BatchNorm scales before structured pruning).

    `checkpoint`: a file rewritten (atomically, by rank 0) at the end of every epoch; when it holds this same
    run, training resumes from it. It is removed when training finishes.

    Under torchrun (distill/distributed.py) every rank calls this with the same arguments; each trains on its
    slice of every batch and all end with rank 0's weights.

    Returns {"history": [{"epoch", "train_loss", "test_accuracy", "seconds"} (+ "val_accuracy")],
    "test_accuracy", "wall_seconds"} (+ "best_epoch", "stopped_epoch" with a validation split).
    """
    start = time.perf_counter()
    progress = progress if progress is not None else QUIET
    if features and teacher is None:
        raise ValueError("feature distillation needs a teacher")
    torch.manual_seed(settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)
    train_rows, val_rows = validation_split(len(data.x_train), settings.val_fraction, settings.seed)
    x_train = torch.from_numpy(np.ascontiguousarray(data.x_train[train_rows], dtype=np.float32))
    y_train = torch.from_numpy(np.asarray(data.y_train[train_rows], dtype=np.int64))
    x_val, y_val = data.x_train[val_rows], data.y_train[val_rows]
    n = len(x_train)
    if n == 0:
        raise ValueError("train: the training split is empty")
    batch_size = min(settings.batch_size, n)
    if batch_size < distributed.world_size():
        raise ValueError(f"train: batch size {batch_size} is smaller than the {distributed.world_size()} ranks")
    steps = n // batch_size  # drop the ragged last batch: BN statistics on a tiny batch are noisy
    augment = settings.augment and bool(getattr(data, "augment", True))
    mine = distributed.local_slice(batch_size)

    memory_format = torch.channels_last if settings.channels_last else torch.contiguous_format
    net: nn.Module = model
    if features:
        input_shape = tuple(data.x_train.shape[1:])
        teacher_channels = output_channels(teacher, [p.teacher for p in features], input_shape)
        net = FeatureStudent(model, features, input_shape, teacher_channels)
    optimizer = _optimizer(net.parameters(), settings)
    scheduler = _scheduler(optimizer, settings, settings.epochs * steps)
    net.to(memory_format=memory_format)
    if teacher is not None:
        teacher.eval()
        teacher.to(memory_format=memory_format)
    logit_cache = None
    if teacher is not None and not features and settings.teacher_cache and not (augment and settings.max_shift > 0):
        logit_cache = cache_teacher_logits(teacher, x_train, flip=augment and settings.flip,
                                           memory_format=memory_format)

    key = _run_key(settings, net, teacher, features, data)
    saved = distributed.broadcast_object(load_checkpoint(checkpoint, key) if distributed.is_main() else None)
    history: list[dict] = []
    best: dict[str, Any] = {"accuracy": -1.0, "epoch": 0, "state": None, "bad_epochs": 0}
    first_epoch = 1
    if saved is not None:
        net.load_state_dict(saved["net"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        generator.set_state(saved["generator"])
        torch.set_rng_state(saved["torch_rng"])
        history, best, first_epoch = saved["history"], saved["best"], saved["epoch"] + 1
        progress.log(f"[train] resuming from {checkpoint} after epoch {saved['epoch']}")
        if saved["stopped"]:
            first_epoch = settings.epochs + 1
    runner = distributed.wrap(net)

    try:
        for epoch in range(first_epoch, settings.epochs + 1):
            epoch_start = time.perf_counter()
            runner.train()
            order = torch.randperm(n, generator=generator)
            total_loss, correct, seen = 0.0, 0, 0
            with progress.task(f"train epoch {epoch}/{settings.epochs}", total=steps) as task:
                for step in range(steps):
                    index = order[step * batch_size:(step + 1) * batch_size]
                    xb, yb = x_train[index], y_train[index]
                    flips = None
                    if augment:
                        xb, flips = augment_views(xb, generator, max_shift=settings.max_shift, flip=settings.flip)
                    cached = logit_cache.lookup(index, flips) if logit_cache is not None else None
                    if distributed.world_size() > 1:  # every rank drew the same batch; each keeps its slice
                        xb, yb = xb[mine], yb[mine]
                        cached = cached[mine] if cached is not None else None
                    xb = xb.contiguous(memory_format=memory_format)
                    loss, logits = _batch_loss(runner, teacher, features, xb, yb, settings, cached)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    if after_backward is not None:
                        after_backward(model)
                    optimizer.step()
                    scheduler.step()
                    value = float(loss.detach())
                    total_loss += value
                    correct += int((logits.detach().argmax(1) == yb).sum())
                    seen += len(yb)
                    task.advance(1, loss=value, acc=correct / seen)
            distributed.sync_buffers(model)
            row = {"epoch": epoch, "train_loss": total_loss / steps,
                   "test_accuracy": evaluate(model, data.x_test, data.y_test)}
            line = (f"loss {row['train_loss']:.4f}, train {100 * correct / seen:.2f} %, "
                    f"test {100 * row['test_accuracy']:.2f} %")
            stop = False
            if len(x_val):
                row["val_accuracy"] = evaluate(model, x_val, y_val)
                line += f", validation {100 * row['val_accuracy']:.2f} %"
                if row["val_accuracy"] > best["accuracy"]:
                    best = {"accuracy": row["val_accuracy"], "epoch": epoch, "state": _clone_state(net),
                            "bad_epochs": 0}
                else:
                    best["bad_epochs"] += 1
                stop = bool(settings.early_stopping) and best["bad_epochs"] >= settings.early_stopping
            row["seconds"] = time.perf_counter() - epoch_start
            history.append(row)
            if distributed.is_main():
                progress.log(f"[train] epoch {epoch}/{settings.epochs}: {line}"
                             + (" - early stop" if stop else ""))
                if checkpoint is not None:
                    save_checkpoint(checkpoint, {
                        "key": key, "epoch": epoch, "stopped": stop, "net": net.state_dict(),
                        "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                        "generator": generator.get_state(), "torch_rng": torch.get_rng_state(),
                        "history": history, "best": best})
            if stop:
                break
        if best["state"] is not None:
            net.load_state_dict(best["state"])
    finally:
        # back to the default layout: safetensors and the exporters expect contiguous weights
        model.to(memory_format=torch.contiguous_format)
        if teacher is not None:
            teacher.to(memory_format=torch.contiguous_format)
    model.eval()
    result: dict[str, Any] = {"history": history, "wall_seconds": time.perf_counter() - start}
    if len(x_val):
        chosen = next(row for row in history if row["epoch"] == best["epoch"])
        result.update(test_accuracy=chosen["test_accuracy"], best_epoch=best["epoch"],
                      val_accuracy=best["accuracy"], stopped_epoch=history[-1]["epoch"])
    else:
        result["test_accuracy"] = history[-1]["test_accuracy"]
    if distributed.is_main():
        remove_checkpoint(checkpoint)
    return result
