"""The production optimizer against the optimizer-level oracle, over hypothesis sequences.

Every sequence mixes multipliers (index, name, param_dict), schedulers with
begin_num_update, partial index lists, step vs fused_step and multi_precision; the
driver is the one ``rmsprop-conformance check`` uses (re-synchronized each step,
judged by the oracle's bound and classes only).
"""
import pytest
from hypothesis import given

import rmsprop
from conformance.check import run_optimizer_case
from conformance.corpus import golden
from tests import rmsprop_strategies as rs
from tests.rmsprop_engines import engine  # noqa: F401 - fixture

pytestmark = pytest.mark.usefixtures("engine")


@given(spec=rs.optimizer_specs())
def test_production_optimizer_is_faithful(spec):
    case = golden(spec)
    verdicts = run_optimizer_case(rmsprop.RMSProp, case, timeout=None)
    assert verdicts  # every step was judged
    for verdict in verdicts:
        assert not verdict.failed, (verdict.name, verdict.first_failure)


def test_a_wrong_multiplier_rule_is_caught():
    """Negative control: a port whose name multipliers shadow index multipliers fails."""
    class NameFirst(rmsprop.RMSProp):
        def set_lr_mult(self, args):
            super().set_lr_mult({k: v for k, v in args.items() if isinstance(k, str)})

    spec = dict(id="x", families=["optimizer"], level="optimizer", dtype="float32", mp=False,
                optimizer=dict(learning_rate=0.1, param_idx2name={0: "a"}), lr_mult=[[0, 4.0], ["a", 0.5]],
                wd_mult=[], params=[dict(index=0, dtype="float32", shape=[2],
                                         weight=__import__("numpy").array([1.0, -1.0], "float32"))],
                steps=[dict(indices=[0], grads=[__import__("numpy").array([0.5, 2.0], "float32")])])
    verdicts = run_optimizer_case(NameFirst, golden(spec), timeout=None)
    assert any(v.failed for v in verdicts)
