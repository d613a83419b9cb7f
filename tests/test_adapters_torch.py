"""The built-in ``torch`` port (``torch.optim.RMSprop(foreach=True)``, CPU); ``tox -e torch``."""
import pytest

from tests.adapter_checks import caught_against, fingerprint_is, one_step, passes_its_dialect

pytestmark = pytest.mark.torch


@pytest.fixture
def torch_step():
    pytest.importorskip("torch", reason="torch is not installed (tox -e torch)")
    from conformance.adapters import torch_step

    return torch_step


def test_torch_passes_its_dialect(torch_step, tmp_path):
    passes_its_dialect("torch", "torch", tmp_path)


def test_torch_fingerprint_is_torch(torch_step, tmp_path):
    fingerprint_is("torch", "torch", tmp_path, flushes=False)


def test_torch_is_caught_against_another_dialect(torch_step, tmp_path, capsys):
    caught_against("torch", "epsilon/optax/float32/plain/eps0.001", "epsilon", tmp_path, capsys)


@pytest.mark.parametrize("name,value", [("rescale_grad", 0.5), ("clip_gradient", 0.0), ("clip_weights", 1.0)])
def test_torch_refuses_what_torch_rmsprop_cannot_express(torch_step, name, value):
    with pytest.raises(ValueError, match=f"torch.optim.RMSprop has no '{name}'"):
        one_step(torch_step, **{name: value})
