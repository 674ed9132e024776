"""The latency model: operator extraction, the fit, uncalibrated estimates, and the budget search."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from edgeprune.errors import BudgetError
from edgeprune.latency import calibration
from edgeprune.latency.calibration import cases, grid
from edgeprune.latency.budget import _Group, search, shaped, width_step
from edgeprune.latency.costmodel import CACHE_RAMPS, COLUMNS, LatencyModel, _Design, fit, footprint_mb, \
    model_features, op_features, uncached_share, uncalibrated
from edgeprune.latency.ops import COMPUTE_KINDS, Op, torch_ops
from edgeprune.latency.predict import layer_latency_table, predict_model
from edgeprune.models.example import example_net
from edgeprune.targets import load_target


BIG_NETWORKS = ("net-modern-001", "net-modern-003", "net-modern-009", "net-modern-013")


@pytest.fixture(autouse=True)
def _threads(one_torch_thread: None) -> None:
    pass


def test_torch_ops_names_kinds_and_macs_of_the_example() -> None:
    model = example_net().eval()
    ops = torch_ops(model, (1, 28, 28))
    by_name = {op.name: op for op in ops}
    assert ops[0] == Op("(input)", "copy", 0, 784, 784, 0, 1, 1)
    assert by_name["features.0"].kind == "stem" and by_name["features.0"].out_channels == 32
    assert by_name["features.3.body.0"].kind == "depthwise"
    assert by_name["features.3.body.3"].kind == "pointwise"
    assert by_name["features.3"].kind == "eltwise"  # the residual add, named after the block that does it
    assert by_name["classifier"].kind == "linear" and by_name["classifier"].macs == 96 * 10
    assert by_name["pool"].kind == "pool"
    assert not any(name.endswith((".1", ".2")) and op.kind != "eltwise" for name, op in by_name.items()
                   if name.startswith("features.") and name.count(".") == 1)  # BN / ReLU modules: folded away
    # conv/linear multiply-accumulates agree with torch's own flop counter (2 FLOPs per MAC)
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 1, 28, 28))
    assert sum(op.macs for op in ops) * 2 == counter.get_total_flops()


def test_a_conv_with_one_output_pixel_is_a_matrix_vector_product() -> None:
    model = torch.nn.Sequential(torch.nn.Conv2d(64, 64, 3, padding=1), torch.nn.Conv2d(64, 128, 3, 2, 1),
                                torch.nn.Conv2d(128, 32, 1), torch.nn.Conv2d(32, 32, 3, padding=1, groups=32)).eval()
    ops = torch_ops(model, (64, 2, 2))
    assert [op.kind for op in ops[1:]] == ["conv", "linear", "linear", "depthwise"]
    assert ops[2].macs == 128 * 64 * 9 and ops[2].kernel == 9 and ops[3].kernel == 1


def test_tiled_macs_round_pixels_channels_and_depth_up_to_the_micro_kernel() -> None:
    conv = Op("x", "conv", macs=9 * 20 * 100 * 9, out_elements=9 * 20, in_channels=100, out_channels=20, kernel=9)
    assert conv.tiled_macs() == conv.macs
    assert conv.tiled_macs(channels=8) == pytest.approx(conv.macs * 24 / 20)
    assert conv.tiled_macs(rows=4) == pytest.approx(conv.macs * 12 / 9)  # 3x3 output pixels: 3 rows of 4
    assert conv.tiled_macs(depth=8) == pytest.approx(conv.macs * 104 / 100)  # per tap, not per 900 inputs
    assert conv.tiled_macs(7, 16, 8) == pytest.approx(conv.macs * 14 / 9 * 32 / 20 * 104 / 100)
    matvec = Op("fc", "linear", macs=100 * 10, out_elements=10, in_channels=100, out_channels=10)
    assert matvec.tiled_macs(rows=7) == matvec.macs  # one output row runs a one-row kernel
    depthwise = Op("dw", "depthwise", macs=49 * 20 * 9, out_elements=49 * 20, in_channels=20, out_channels=20, kernel=9)
    assert depthwise.tiled_macs(7, 16, 8) == pytest.approx(depthwise.macs * 32 / 20)
    assert depthwise.tiled_macs(7, 64, 8, depthwise=8) == pytest.approx(depthwise.macs * 24 / 20)  # its own tile
    # RegNet's groups of 8 channels: each group is its own GEMM, its 8 outputs padded to a 16-wide tile
    grouped = Op("g", "grouped", macs=49 * 64 * 8 * 9, out_elements=49 * 64, in_channels=64, out_channels=64,
                 kernel=9, groups=8)
    assert grouped.tiled_macs(channels=16) == pytest.approx(grouped.macs * 2)
    assert grouped.tiled_macs(channels=8, depth=16) == pytest.approx(grouped.macs * 2)


def test_grouped_convs_sigmoids_and_channel_splits_are_their_own_operators() -> None:
    class Block(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.grouped = torch.nn.Conv2d(32, 32, 3, padding=1, groups=4)
            self.act = torch.nn.SiLU()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            kept, rest = x.chunk(2, dim=1)
            return torch.cat([kept, torch.sigmoid(rest)], 1) + self.act(self.grouped(x))

    ops = torch_ops(Block().eval(), (32, 8, 8))
    assert [(op.name, op.kind) for op in ops[1:]] == [("", "copy"), ("", "sigmoid"), ("", "copy"),
                                                       ("grouped", "grouped"), ("act", "sigmoid"), ("", "eltwise")]
    split, grouped = ops[1], ops[4]
    assert split.in_elements == split.out_elements == 32 * 64  # the split copies every element once
    assert grouped.groups == 4 and grouped.macs == 64 * 32 * 8 * 9


def test_a_channel_shuffle_is_three_copies_and_a_plain_copy_one() -> None:
    class Shuffle(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            n, c, h, w = x.shape
            shuffled = x.view(n, 2, c // 2, h, w).transpose(1, 2).contiguous().view(n, c, h, w)
            return shuffled + x.clone()

    ops = torch_ops(Shuffle().eval(), (8, 4, 4))
    assert [op.kind for op in ops[1:]] == ["copy"] * 4 + ["eltwise"]
    assert all(op.in_elements == op.out_elements == 8 * 16 for op in ops[1:5])


def test_the_grid_has_grouped_convs_of_two_to_sixteen_channels_per_group() -> None:
    grouped = [case for case in grid() if case.kind == "grouped"]
    widths, pruned_like = set(), 0
    for case in grouped:
        convs = [op for op in torch_ops(case.build(), case.input_shape) if op.macs]
        assert len(convs) == case.depth
        assert all(op.kind == "grouped" and op.groups == case.in_channels // case.group_width for op in convs)
        assert f"-g{convs[0].groups}" in case.name
        widths.add(case.group_width)
        # what pruning leaves of RegNet and ResNeXt: many groups of a few channels on small maps
        pruned_like += convs[0].groups >= 16 and case.group_width <= 8 and case.size <= 8
    assert widths == {2, 3, 4, 6, 8, 16}
    assert pruned_like >= 6


def test_the_grid_has_stems_of_three_five_and_seven_pixel_kernels() -> None:
    kernels = set()
    for case in (case for case in grid() if case.kind == "conv" and case.depth == 1):
        (conv,) = [op for op in torch_ops(case.build(), case.input_shape) if op.macs]
        if conv.kind == "stem":
            assert conv.kernel == case.kernel ** 2 and (f"-k{case.kernel}" in case.name) == (case.kernel != 3)
            assert conv.out_elements == case.out_channels * ((case.size - 1) // case.stride + 1) ** 2
            kernels.add(case.kernel)
    assert kernels == {3, 5, 7}
    assert len({case.name for case in grid()}) == len(grid())


def test_a_batch_norm_is_free_after_a_conv_and_a_multiply_after_a_concatenation() -> None:
    class DenseLayer(torch.nn.Module):  # DenseNet's pre-activation order: concat, norm, relu, conv, norm, relu
        def __init__(self) -> None:
            super().__init__()
            self.pre = torch.nn.BatchNorm2d(16)
            self.conv = torch.nn.Conv2d(16, 8, 1)
            self.post = torch.nn.BatchNorm2d(8)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.relu(self.post(self.conv(torch.relu(self.pre(torch.cat([x, x], 1))))))

    ops = torch_ops(DenseLayer().eval(), (8, 6, 6))
    assert [(op.name, op.kind) for op in ops[1:]] == [("", "copy"), ("pre", "eltwise"), ("conv", "pointwise")]
    assert ops[2].in_elements == ops[2].out_elements == 16 * 36


def test_convs_on_maps_of_fewer_pixels_than_the_kernels_rows_pay_a_cost_of_their_own() -> None:
    model = torch.nn.Sequential(torch.nn.Conv2d(96, 96, 3, padding=1), torch.nn.Conv2d(96, 96, 3, 2, 1),
                                torch.nn.Conv2d(96, 96, 3, padding=1, groups=96), torch.nn.Conv2d(96, 96, 3, 2, 1),
                                torch.nn.Conv2d(96, 96, 3, padding=1)).eval()
    ops = torch_ops(model, (96, 8, 8))[1:]  # the input layout copy aside: 8x8, 4x4, 4x4 depthwise, 2x2, 2x2
    assert [op.kind for op in ops] == ["conv", "conv", "depthwise", "conv", "conv"]
    small = COLUMNS.index(("per_mmac_small_map", ""))
    tile = (16, 64, 64, 16)
    rows = [op_features(op, tile, "int8") for op in ops]
    # 64 and 16 pixels fill 16-row kernels, depthwise kernels tile channels only: only the 2x2 maps pay
    assert [row[small] for row in rows] == [0.0, 0.0, 0.0, pytest.approx(ops[3].tiled_macs(*tile) / 1e6),
                                            pytest.approx(ops[4].tiled_macs(*tile) / 1e6)]
    assert op_features(ops[3], (4, 64, 64, 16), "int8")[small] == 0.0  # 4 pixels fill a 4-row kernel
    # the fit's vectorised design matrix prices them alike
    design = _Design([ops], "int8").matrix(tile, (0.0, 0.0))[0]
    assert design == pytest.approx(model_features(ops, tile, "int8"))


def test_fit_recovers_known_coefficients_tiles_and_cache_ramp() -> None:
    truth = np.zeros(len(COLUMNS))
    truth[0] = 7.0
    for i, (group, kind) in enumerate(COLUMNS[1:], 1):
        truth[i] = {"per_op": 0.8, "per_mmac": 40.0, "per_mb_weights_uncached": 60.0}.get(group, 3.0) * (1 + 0.1 * (i % 3))
    true_model = LatencyModel("tflite", "fp32", 1, 8, tuple(truth), "synthetic", rows=4, depth=1, cache_mb=(8.0, 24.0),
                              depthwise_block=16)
    # the calibration's micro-benchmarks, and networks whose weights span the cache ramp (18-39 MB)
    measured = [*grid(), *[c for c in cases() if c.name in BIG_NETWORKS]]
    models = [torch_ops(case.build(), case.input_shape) for case in measured]
    samples = [(ops, true_model.predict_us(ops)) for ops in models]
    # per-kind weight costs and a cache ramp: what an int8 fit uses (fp32 ties the weight costs by default)
    fitted = fit(samples, runtime="tflite", dtype="fp32", threads=1, basis="test", cache_ramps=CACHE_RAMPS, tied=())
    assert fitted.tile == (4, 8, 1, 16) and fitted.cache_mb == (8.0, 24.0)
    assert fitted.calibrated and fitted.fit["rms_relative_error"] < 1e-3
    for ops, us in samples:
        assert fitted.predict_us(ops) == pytest.approx(us, rel=1e-3)
    assert LatencyModel.from_json(fitted.to_json()) == fitted


def test_an_int8_fit_finds_amx_sized_tiles() -> None:
    # XNNPACK's int8 kernels for AMX: 16 pixels x 64 channels per call, 64 input channels per tap and step
    truth = np.zeros(len(COLUMNS))
    for i, (group, _) in enumerate(COLUMNS):
        truth[i] = {"per_model": 7.0, "per_op": 0.8, "per_mmac": 10.0}.get(group, 0.0)
    true_model = LatencyModel("tflite", "int8", 1, 64, tuple(truth), "synthetic", rows=16, depth=64)
    models = [torch_ops(case.build(), case.input_shape) for case in grid()]
    fitted = fit([(ops, true_model.predict_us(ops)) for ops in models], runtime="tflite", dtype="int8", threads=1,
                 basis="test")
    assert fitted.tile == (16, 64, 64, 64) and fitted.fit["rms_relative_error"] < 1e-3
    # int8 fits leave the depthwise weights term out (DROPPED)
    assert fitted.coefficients[COLUMNS.index(("per_mb_weights", "depthwise"))] == 0.0


def test_fp32_fits_share_one_cost_per_mb_of_weights_and_keep_the_uncached_term() -> None:
    # timings made with a different weight cost per kind and an uncached term: an fp32 fit ties the first only
    truth = np.zeros(len(COLUMNS))
    for i, (group, _) in enumerate(COLUMNS):
        truth[i] = {"per_model": 7.0, "per_op": 0.8, "per_mmac": 40.0, "per_mb_weights": 10.0 * i,
                    "per_mb_weights_uncached": 60.0}.get(group, 0.0)
    true_model = LatencyModel("tflite", "fp32", 1, 8, tuple(truth), "synthetic", rows=4, cache_mb=(8.0, 24.0))
    measured = [*grid(), *[c for c in cases() if c.name in BIG_NETWORKS]]
    models = [torch_ops(case.build(), case.input_shape) for case in measured]
    samples = [(ops, true_model.predict_us(ops)) for ops in models]
    options = dict(runtime="tflite", threads=1, basis="test", depths=(1,))
    tied = dict(zip(COLUMNS, fit(samples, dtype="fp32", **options).coefficients))
    assert len({round(tied["per_mb_weights", kind], 6) for kind in COMPUTE_KINDS}) == 1
    assert tied["per_mb_weights_uncached", ""] > 0.0
    free = dict(zip(COLUMNS, fit(samples, dtype="fp32", tied=(), **options).coefficients))
    assert len({round(free["per_mb_weights", kind], 6) for kind in COMPUTE_KINDS}) > 1


def test_a_sample_weight_counts_like_repeating_the_sample() -> None:
    case = grid(quick=True)[0]
    ops = torch_ops(case.build(), case.input_shape)
    samples = [(ops, 10.0), (ops, 20.0)]  # one model measured twice, at odds: the fit settles between the two
    options = dict(runtime="tflite", dtype="fp32", threads=1, basis="test", blocks=(1,), rows=(1,), depths=(1,))
    plain = fit(samples, **options).predict_us(ops)
    weighted = fit(samples, weights=[1.0, 3.0], **options).predict_us(ops)
    assert weighted == pytest.approx(fit(samples + [samples[1]] * 2, **options).predict_us(ops), rel=1e-6)
    assert 10.0 < plain < weighted < 20.0


def test_activations_count_towards_the_footprint_that_evicts_weights() -> None:
    small_weights = [Op("conv", "conv", 10**6, 10**6, 10**6, 10**5, 64, 64, 9)]
    big_activations = small_weights + [Op("add", "eltwise", 0, 4 * 10**6, 2 * 10**6, 0, 64, 64)]
    assert footprint_mb(small_weights, "fp32") == pytest.approx(4.4)
    assert footprint_mb(big_activations, "fp32") == pytest.approx(12.4)
    ramp = (6.0, 16.0)
    assert uncached_share(footprint_mb(small_weights, "fp32"), ramp) == 0.0
    assert uncached_share(footprint_mb(big_activations, "fp32"), ramp) == pytest.approx(0.64)
    theta = np.zeros(len(COLUMNS))
    theta[COLUMNS.index(("per_mb_weights_uncached", ""))] = 100.0
    model = LatencyModel("tflite", "fp32", 1, 1, tuple(theta), "test", cache_mb=ramp)
    # the conv's 0.4 MB of weights miss the cache only in the model that also writes 8 MB of activations
    assert model.op_costs(small_weights) == [0.0]
    assert model.op_costs(big_activations)[0] == pytest.approx(0.4 * 0.64 * 100)


def test_uncalibrated_estimates_follow_the_profiles_facts() -> None:
    rpi4, rpi5 = load_target("rpi4"), load_target("rpi5")
    model = example_net().eval()
    slow = predict_model(model, (1, 28, 28), uncalibrated(rpi4, "tflite", "fp32", 4))
    fast = predict_model(model, (1, 28, 28), uncalibrated(rpi5, "tflite", "fp32", 4))
    one_thread = predict_model(model, (1, 28, 28), uncalibrated(rpi4, "tflite", "fp32", 1))
    int8 = predict_model(model, (1, 28, 28), uncalibrated(rpi4, "tflite", "int8", 4))
    assert fast.total_ms < slow.total_ms < one_thread.total_ms
    assert int8.total_ms < slow.total_ms
    assert not slow.model.calibrated and "uncalibrated estimate from the rpi4 profile" in slow.model.basis
    assert slow.metric()["source"] == "estimated"
    assert sum(slow.by_layer().values()) + slow.overhead_ms == pytest.approx(slow.total_ms)
    narrow = predict_model(example_net(width=0.5).eval(), (1, 28, 28), uncalibrated(rpi4, "tflite", "fp32", 4))
    assert narrow.total_ms < slow.total_ms


def test_layer_latency_table_maps_costs_to_module_names() -> None:
    latency = uncalibrated(load_target("rpi4"), "tflite", "int8", 4)
    table = layer_latency_table(example_net().eval(), example_net(width=0.5).eval(), (1, 28, 28), latency)
    rows = {row["name"]: row for row in table["rows"]}
    assert rows["features.7.body.0"]["student_ms"] < rows["features.7.body.0"]["teacher_ms"]
    assert table["student_ms"] < table["teacher_ms"] and table["source"] == "estimated"


def test_width_step_snaps_to_the_tile_only_when_it_is_a_multiple() -> None:
    assert width_step(8, 16) == 16
    assert width_step(8, 12) == 8
    assert width_step(8, 4) == 8
    assert width_step(1, 1) == 1


def test_group_widths_step_by_the_tile_above_one_tile_and_by_the_multiple_below() -> None:
    assert _Group("layer", 200, 16, np.ones(200)).widths(64, 16) == [200, 192, 128, 64, 48, 32, 16]
    assert _Group("layer", 48, 16, np.ones(48)).widths(64, 16) == [48, 32, 16]
    assert _Group("layer", 96, 32, np.ones(96)).widths(64, 16) == [96, 64, 48, 32]  # the floor holds
    assert _Group("layer", 24, 8, np.ones(24)).widths(8, 8) == [24, 16, 8]


def test_budget_search_meets_the_predicted_budget_with_allowed_widths() -> None:
    latency = uncalibrated(load_target("rpi4"), "tflite", "int8", 4)
    model, example = example_net().eval(), torch.zeros(1, 1, 28, 28)
    full = predict_model(model, (1, 28, 28), latency).total_ms
    result = search(model, example, latency, 0.7 * full, round_to=8)
    assert result.predicted_ms <= 0.7 * full < result.unpruned_ms
    assert result.trace and all(kept % 8 == 0 and 8 <= kept <= before for before, kept in result.widths.values())
    narrowed = shaped(model, example, result.widths_kept())
    assert predict_model(narrowed, (1, 28, 28), latency).total_ms == pytest.approx(result.predicted_ms)
    assert narrowed(example).shape == (1, 10)
    # the classifier's output width is never touched, and ratios are what prune() takes
    assert all(0 < r < 1 for r in result.layer_ratios().values())


def test_budget_search_refuses_an_unreachable_budget_with_the_best_latency() -> None:
    latency = uncalibrated(load_target("rpi4"), "tflite", "int8", 4)
    with pytest.raises(BudgetError, match=r"cannot be met: the best achievable is \d+\.\d+ ms") as info:
        search(example_net().eval(), torch.zeros(1, 1, 28, 28), latency, 1e-6, round_to=8, max_layer_ratio=0.5)
    narrowest = info.value.result
    assert all(kept == before // 2 for before, kept in narrowest.widths.values())  # max-layer-ratio 0.5 floors


def test_group_cost_grows_as_the_group_narrows() -> None:
    group = _Group("layer", 48, 8, np.ones(48))
    # equal importance per channel: the cost is the log of the width ratio, so 16 -> 8 costs what 48 -> 24 does
    assert group.cost(16, 8) == pytest.approx(np.log(2)) == pytest.approx(group.cost(48, 24))
    assert group.cost(48, 40) < group.cost(16, 8)
    ranked = _Group("layer", 4, 1, np.array([0.1, 0.3, 1.0, 2.6]))  # ascending: the weakest channel goes first
    assert ranked.cost(4, 3) == pytest.approx(np.log(4.0 / 3.9))


def test_measured_damage_steers_the_search_and_scores_what_pruning_breaks() -> None:
    from edgeprune.latency.budget import sensitivity_table
    from edgeprune.pruning.sensitivity import divergence_scorer

    latency = uncalibrated(load_target("rpi4"), "tflite", "int8", 4)
    model, example = example_net().eval(), torch.zeros(1, 1, 28, 28)
    images = torch.randn(256, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    damage = sensitivity_table(model, example, divergence_scorer(model, images), 8, round_to=8)
    for root, by_width in damage.items():
        widths = sorted(by_width)
        assert by_width[widths[-1]] == pytest.approx(0.0, abs=1e-6)  # the unpruned model against itself
        assert by_width[widths[0]] > 0  # the narrowest width changes the outputs
    # a group made very costly is left whole; with importance alone the search narrows it
    full = predict_model(model, (1, 28, 28), latency).total_ms
    plain = search(model, example, latency, 0.7 * full, round_to=8)
    costly = next(root for root, (before, kept) in plain.widths.items() if kept < before)
    steered = {root: {w: (1e3 * (max(t) - w) if root == costly else 0.0) for w in t} for root, t in damage.items()}
    result = search(model, example, latency, 0.7 * full, round_to=8, damage=steered)
    assert result.widths[costly][1] == result.widths[costly][0] and result.predicted_ms <= 0.7 * full


def test_calibration_networks_are_fixed_by_their_seed_and_cover_every_kind() -> None:
    networks = [c for c in cases() if c.name.startswith("net-") and c.family == "small"]
    assert len(networks) == 40 and len({c.name for c in networks}) == 40
    large = [c for c in cases() if c.name.startswith("net-large-")]
    assert len(large) == 16 and not [c for c in cases(quick=True) if c.name.startswith("net-large-")]
    again = networks[3].build()
    first = torch_ops(networks[3].build(), networks[3].input_shape)
    assert torch_ops(again, networks[3].input_shape) == first
    kinds = {op.kind for c in networks[:12] for op in torch_ops(c.build(), c.input_shape)}
    assert kinds == {"conv", "stem", "pointwise", "depthwise", "linear", "eltwise", "activation", "pool", "copy"}
    macs = [sum(op.macs for op in torch_ops(c.build(), c.input_shape)) for c in networks[:12]]
    assert min(macs) < 1e6 < 1e7 < max(macs)  # small and large, like the models it predicts
    assert len(cases(quick=True)) == len(grid(quick=True)) + 2
    modern = [c for c in cases() if c.name.startswith("net-modern-")]
    assert len(modern) == calibration.MODERN_NETWORKS == 40
    kinds = {op.kind for c in modern[:6] for op in torch_ops(c.build(), c.input_shape)}
    assert {"grouped", "sigmoid", "depthwise", "pointwise"} <= kinds and "activation" not in kinds
    pyramid = [c for c in cases() if c.name.startswith("net-pyramid-")]
    assert len(pyramid) == calibration.PYRAMID_NETWORKS == 24
    one_pixel = [op for c in pyramid[:4] for op in torch_ops(c.build(), c.input_shape) if op.out_elements == op.out_channels]
    assert sum(op.weight_elements for op in one_pixel if op.kind == "linear") > 4e6  # matrix-vector products of MBs


def test_next_goal_scales_then_follows_the_measured_line() -> None:
    from edgeprune.stages.budget import next_goal

    # one attempt: predicted 1.0 measured 2.0 for an aim of 1.0 -> aim at half the prediction
    assert next_goal([(1.0, 2.0)], aim=1.0) == pytest.approx(0.5)
    # the same widths measured twice (nothing was pruned): scale the prediction, not the old goal
    assert next_goal([(0.07, 0.22), (0.07, 0.21)], aim=0.17) == pytest.approx(0.07 * 0.17 / 0.21)
    # measured = 0.5 + predicted (a fixed cost the model lacks): the secant lands on predicted 0.5
    assert next_goal([(1.0, 1.5), (0.8, 1.3)], aim=1.0) == pytest.approx(0.5)
    # a line that does not rise (noise) falls back to scaling
    assert next_goal([(1.0, 1.5), (0.8, 1.6)], aim=1.0) == pytest.approx(0.5)


def test_a_users_architecture_is_measured_at_each_ratio_with_the_builds_widths() -> None:
    models = calibration.model_cases(["example"], (1, 28, 28), [0.0, 0.5], round_to=8)
    assert [m.name for m in models] == ["model-example-1x28x28-r0", "model-example-1x28x28-r0.5"]
    assert cases(quick=True, models=models)[-2:] == models  # measured and fitted with the grid and the networks
    widths = [[op.out_channels for op in torch_ops(m.build(), m.input_shape) if op.kind in ("conv", "stem")]
              for m in models]
    full = [op.out_channels for op in torch_ops(example_net().eval(), (1, 28, 28)) if op.kind in ("conv", "stem")]
    assert widths[0] == full
    assert all(w % 8 == 0 and w < f for w, f in zip(widths[1], full))  # pruned to multiples of the target's 8
    assert torch_ops(models[1].build(), (1, 28, 28)) == torch_ops(models[1].build(), (1, 28, 28))  # fixed by seed
