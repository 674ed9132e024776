"""Train the bundled teacher (example_net) on Fashion-MNIST with the chosen recipe, then distil a
half-width student from it (a stand-in for a 50%-channel-pruned student). Prints per-epoch accuracy and
seconds, parameters and MACs.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/teacher_recipe.py [--epochs 8] [--kd-epochs 4] [--threads 1]

On a 2-core machine shared with other torch processes, 2 busy-waiting OpenMP threads per process slowed a
training step from ~0.09 s to ~3 s; OMP_WAIT_POLICY=PASSIVE or --threads 1 avoid that.
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from edgeprune.data import load_data
from edgeprune.distill.trainer import TrainSettings, evaluate, train
from edgeprune.models.example import example_net


def count_macs(model: torch.nn.Module, input_shape: tuple[int, ...]) -> tuple[int, int]:
    """Conv2d/Linear multiply-accumulates for one sample (forward hooks) and the parameter count."""
    macs = 0

    def hook(module, inputs, output):
        nonlocal macs
        if isinstance(module, torch.nn.Conv2d):
            kh, kw = module.kernel_size
            macs += output.numel() * (module.in_channels // module.groups) * kh * kw
        elif isinstance(module, torch.nn.Linear):
            macs += output.numel() * module.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, *input_shape))
    for h in handles:
        h.remove()
    return macs, sum(p.numel() for p in model.parameters())


def show(label: str, result: dict) -> None:
    print(f"{label}: epoch  test_acc  train_loss  seconds")
    for row in result["history"]:
        print(f"{label}: {row['epoch']:5d}  {100 * row['test_accuracy']:7.2f}%  {row['train_loss']:10.4f}"
              f"  {row['seconds']:7.1f}", flush=True)
    print(f"{label}: final {100 * result['test_accuracy']:.2f}%  wall {result['wall_seconds']:.1f}s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--kd-epochs", type=int, default=4)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--kd-lr", type=float, default=3e-3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--student-width", type=float, default=0.5)
    parser.add_argument("--student", choices=("half-width", "pruned"), default="half-width",
                        help="half-width: example_net(width=0.5) from scratch; pruned: the trained teacher with 50%% "
                             "of its channels removed by L1 magnitude (torch_pruning), keeping its weights")
    parser.add_argument("--no-augment", action="store_true")
    parser.add_argument("--max-shift", type=int, default=0, help="random shift in px (0: flip only)")
    parser.add_argument("--teacher-width", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", help="write the teacher state dict here (.pt)")
    parser.add_argument("--load", help="skip teacher training: load this state dict (.pt)")
    args = parser.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}", flush=True)
    data = load_data("fashion-mnist")
    torch.manual_seed(args.seed)  # as the build does: initial weights follow the seed
    teacher = example_net(data.input_shape[0], data.num_classes, width=args.teacher_width)
    macs, params = count_macs(teacher, data.input_shape)
    print(f"teacher widths {teacher.widths}: {params} params, {macs / 1e6:.2f} M MACs", flush=True)
    if args.load:
        teacher.load_state_dict(torch.load(args.load, weights_only=True))
        print(f"teacher loaded: {100 * evaluate(teacher, data.x_test, data.y_test):.2f}%", flush=True)
    else:
        settings = TrainSettings(epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr,
                                 augment=not args.no_augment, max_shift=args.max_shift, seed=args.seed)
        print(f"teacher settings: {settings}", flush=True)
        show("teacher", train(teacher, data, settings))
        if args.save:
            torch.save(teacher.state_dict(), args.save)
    teacher_acc = evaluate(teacher, data.x_test, data.y_test)

    if args.kd_epochs > 0:
        if args.student == "pruned":
            import copy

            import torch_pruning as tp

            student = copy.deepcopy(teacher).eval()
            pruner = tp.pruner.MetaPruner(student, torch.zeros(1, *data.input_shape),
                                          importance=tp.importance.MagnitudeImportance(p=1),
                                          pruning_ratio=1.0 - args.student_width,
                                          ignored_layers=[student.classifier], round_to=8)
            pruner.step()
            student.widths = tuple(m.out_channels for m in student.modules() if isinstance(m, torch.nn.Conv2d))
            print(f"pruned student before distillation: {100 * evaluate(student, data.x_test, data.y_test):.2f}%")
        else:
            student = example_net(data.input_shape[0], data.num_classes, width=args.student_width)
        smacs, sparams = count_macs(student, data.input_shape)
        print(f"student widths {student.widths}: {sparams} params, {smacs / 1e6:.2f} M MACs", flush=True)
        settings = TrainSettings(epochs=args.kd_epochs, batch_size=args.batch_size, learning_rate=args.kd_lr,
                                 augment=not args.no_augment, max_shift=args.max_shift, seed=args.seed)
        print(f"student settings: {settings}", flush=True)
        result = train(student, data, settings, teacher=teacher)
        show("student-kd", result)
        gap = 100 * (teacher_acc - result["test_accuracy"])
        print(f"teacher {100 * teacher_acc:.2f}%  student {100 * result['test_accuracy']:.2f}%  gap {gap:.2f} points",
              flush=True)


if __name__ == "__main__":
    main()
