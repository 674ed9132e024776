from pathlib import Path

import pytest

from edgeprune.config import BuildConfig, load_config
from edgeprune.errors import ConfigError


def test_defaults_are_the_bundled_example_for_rpi4(tmp_path):
    config = load_config(cwd=tmp_path)
    assert (config.target, config.model, config.data, config.prune_ratio) == ("rpi4", "example", "fashion-mnist", 0.5)
    assert config.build_dir() == Path("build") / "rpi4"


def test_file_then_flags_override(tmp_path):
    (tmp_path / "edgeprune.toml").write_text('target = "rpi5"\nprune-ratio = 0.3\ndistill_epochs = 1\n')
    config = load_config(overrides={"prune_ratio": 0.6, "out": None}, cwd=tmp_path)
    assert config.target == "rpi5" and config.distill_epochs == 1
    assert config.prune_ratio == 0.6  # the flag wins; None means "flag not given"


def test_pyproject_tool_table_is_read(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n[tool.edgeprune]\ntarget = "x86-64"\n')
    assert load_config(cwd=tmp_path).target == "x86-64"


def test_unknown_key_names_file_and_suggests(tmp_path):
    path = tmp_path / "edgeprune.toml"
    path.write_text("prune-ration = 0.5\n")
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    assert str(path) in str(info.value) and "prune-ration" in str(info.value)
    assert "did you mean 'prune-ratio'" in str(info.value)


@pytest.mark.parametrize("key,value,needle", [
    ("prune_ratio", 1.5, "must be in [0, 1)"),
    ("distill_epochs", "three", "must be an integer"),
    ("threads", 0, "must be positive"),
    ("input_shape", "1,x,28", "input-shape"),
    ("alpha", 2, "must be in [0, 1]"),
])
def test_bad_values_name_the_key(key, value, needle):
    with pytest.raises(ConfigError) as info:
        load_config(overrides={key: value}, cwd=Path("/nonexistent"))
    assert needle in str(info.value)


def test_input_shape_parses_and_config_is_frozen(tmp_path):
    config = load_config(overrides={"input_shape": "3,32,32"}, cwd=tmp_path)
    assert config.input_shape == (3, 32, 32)
    with pytest.raises(Exception):
        config.target = "rpi5"  # frozen: settings are never rewritten after validation
    assert isinstance(config, BuildConfig)


def test_invalid_toml_is_a_config_error(tmp_path):
    path = tmp_path / "edgeprune.toml"
    path.write_text("target = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(str(path))


@pytest.mark.parametrize("flags, needle", [
    ({"budget_ms": 5.0, "prune_ratio": 0.3}, "give either 'prune-ratio' or 'budget-ms'"),
    ({"budget_ms": 5.0, "global_pruning": True}, "'budget-ms' chooses per-layer widths itself"),
    ({"budget_ms": 5.0, "prune_steps": 2}, "'budget-ms' chooses per-layer widths itself"),
    ({"budget_ms": 0.0}, "'budget-ms' must be > 0"),
    ({"budget_ms": 5.0, "budget_percentile": "p90"}, "'budget-percentile' must be one of p95, p50"),
])
def test_budget_settings_are_checked(tmp_path, flags, needle):
    with pytest.raises(ConfigError, match=needle):
        load_config(overrides=flags, cwd=tmp_path)
    assert load_config(overrides={"budget_ms": 5.0, "budget_percentile": "p50"}, cwd=tmp_path).budget_ms == 5.0
