import pytest
import torch

from edgeprune.errors import ConfigError, InputFileError, ModelError
from edgeprune.models import build_model, check_runs, load_weights
from tests.conftest import FIXTURES


def test_example_and_file_specs():
    assert isinstance(build_model("example", 1, 10), torch.nn.Module)
    model = build_model(f"{FIXTURES / 'user_models.py'}:small_net", 1, 7)
    check_runs(model, (1, 16, 16), 7, "small_net")


def test_module_spec():
    model = build_model("tests.fixtures.user_models:small_net", 1, 10)
    assert model.fc.out_features == 10


def test_factory_errors_are_one_line():
    with pytest.raises(ModelError, match="factory raised RuntimeError: cannot build this model"):
        build_model(f"{FIXTURES / 'user_models.py'}:broken_factory", 1, 10)
    with pytest.raises(ConfigError, match="has no factory named 'nothing'"):
        build_model(f"{FIXTURES / 'user_models.py'}:nothing", 1, 10)
    with pytest.raises(ConfigError, match="cannot import module"):
        build_model("no_such_package.models:net", 1, 10)


def test_wrong_input_shape_names_the_shape():
    model = build_model(f"{FIXTURES / 'user_models.py'}:small_net", 1, 10)
    with pytest.raises(ModelError, match="fails on input shape 3,16,16"):
        check_runs(model, (3, 16, 16), 10, "small_net")


def test_weights_safetensors_and_state_dict(tmp_path):
    from safetensors.torch import save_file

    source = build_model("example", 1, 10)
    target = build_model("example", 1, 10)
    save_file(source.state_dict(), str(tmp_path / "w.safetensors"))
    load_weights(target, str(tmp_path / "w.safetensors"))
    assert all(torch.equal(a, b) for a, b in zip(source.state_dict().values(), target.state_dict().values()))
    torch.save(source.state_dict(), tmp_path / "w.pt")
    load_weights(build_model("example", 1, 10), str(tmp_path / "w.pt"))


def test_pickled_module_is_refused(tmp_path):
    torch.save(build_model("example", 1, 10), tmp_path / "whole.pt")  # a pickled nn.Module, not a state dict
    with pytest.raises(InputFileError, match="cannot read weights"):
        load_weights(build_model("example", 1, 10), str(tmp_path / "whole.pt"))


def test_mismatched_weights_name_the_layer(tmp_path):
    from safetensors.torch import save_file

    state = build_model("example", 1, 10).state_dict()
    key = next(k for k in state if k.endswith("weight"))
    state[key] = torch.zeros(3, 3)
    save_file(state, str(tmp_path / "w.safetensors"))
    with pytest.raises(InputFileError, match=f"layer '{key}' has shape"):
        load_weights(build_model("example", 1, 10), str(tmp_path / "w.safetensors"))


def test_torchvision_spec_without_torchvision_is_clear():
    try:
        import torchvision  # noqa: F401
    except Exception:
        with pytest.raises(ConfigError, match="needs torchvision"):
            build_model("torchvision:resnet18", 3, 10)
    else:
        assert build_model("torchvision:resnet18", 3, 10).fc.out_features == 10
