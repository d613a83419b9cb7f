"""The built-in ``torch`` port (``torch.optim.RMSprop(foreach=True)``, CPU); ``tox -e torch``."""
import pytest

from tests.adapter_checks import (caught_against, fingerprint_is, keeps_bfloat16, one_step, passes_in_bfloat16,
                                  passes_its_dialect)

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


def test_torch_passes_in_bfloat16(torch_step, tmp_path):
    passes_in_bfloat16("torch", "torch", tmp_path)


def test_torch_keeps_bfloat16(torch_step):
    """torch.from_numpy knows no ml_dtypes: the port goes through the bit pattern both ways."""
    import torch

    w, st = keeps_bfloat16(torch_step, centered=True, momentum=0.9, wd=0.1)
    p = torch.tensor([0.5, -1.0, 2.0], dtype=torch.bfloat16)  # the same update on torch tensors
    p.grad = torch.tensor([0.25, 1.0, -3.0], dtype=torch.bfloat16)
    opt = torch.optim.RMSprop([p], lr=0.01, alpha=0.9, eps=1e-3, weight_decay=0.1, momentum=0.9, centered=True)
    opt.state[p].update(step=torch.tensor(0.0), square_avg=torch.tensor([1.0, 0.5, 0.0], dtype=torch.bfloat16),
                        grad_avg=torch.tensor([0.1, -0.1, 0.0], dtype=torch.bfloat16),
                        momentum_buffer=torch.tensor([0.01, 0.0, -0.02], dtype=torch.bfloat16))
    with torch.no_grad():
        opt.step()
    assert w.view("uint16").tolist() == p.view(torch.int16).numpy().view("uint16").tolist()
