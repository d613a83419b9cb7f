"""rmsprop-conformance oracle: correctly rounded RMSProp updates with error bounds.

``oracle.step(weight, grad, state, hp, dialect="mxnet2")`` returns the correctly
rounded ``(new_weight, new_state)``; ``oracle.evaluate`` also returns, per output
element, the error a faithful port may make and its class.
"""
from .dialects import DIALECTS, HP_KEYS
from .formats import FORMATS, format_of
from .kernel import Evaluation, evaluate, normalize_hp, resolve_flush, step
from .optimizer import RMSPropOracle
from . import schedulers

__version__ = "0.1.0"
__all__ = ["step", "evaluate", "resolve_flush", "Evaluation", "DIALECTS", "HP_KEYS", "FORMATS", "format_of", "normalize_hp",
           "RMSPropOracle", "schedulers"]
