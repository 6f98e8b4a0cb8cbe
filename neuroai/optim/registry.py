"""One registry naming the whole optimizer suite: ``make_optimizer(name, params, **hyper)``.

Methods torch.optim already has are wrapped (never re-implemented); the
others are neuroai's own ``torch.optim.Optimizer`` subclasses. ``"gd"`` and
``"sgd"`` are the same update; the name says how it is meant to be fed
(``full_batch``: one step per pass over the whole training set).
"""
from __future__ import annotations

import inspect
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from numbers import Integral, Real

import torch
from torch.optim import Optimizer

from .bfgs import BFGS
from .langevin import Langevin
from .line_search import LineSearchGD
from .newton import Newton, NewtonCG
from .svrg import SVRG


@dataclass(frozen=True)
class OptimizerSpec:
    """One entry of the suite: the class, its defaults (which ``hyper`` may
    override), the settings that define the entry (which it may not), and
    how the method is fed."""
    name: str
    cls: type[Optimizer]
    summary: str
    defaults: Mapping = field(default_factory=dict)
    fixed: Mapping = field(default_factory=dict)
    full_batch: bool = False

    @property
    def requires_closure(self) -> bool:
        """Whether ``step`` needs a closure that re-evaluates the loss."""
        return self.cls is torch.optim.LBFGS or bool(getattr(self.cls, "requires_closure", False))

    @property
    def create_graph(self) -> bool:
        """Whether the closure must call ``loss.backward(create_graph=True)``."""
        return bool(getattr(self.cls, "create_graph", False))


def _spec(name, cls, summary, full_batch=False, fixed=None, **defaults) -> OptimizerSpec:
    return OptimizerSpec(name, cls, summary, defaults, fixed or {}, full_batch)


OPTIMIZERS: dict[str, OptimizerSpec] = {s.name: s for s in (
    _spec("gd", torch.optim.SGD, "gradient descent on the full training set", full_batch=True, lr=0.1),
    _spec("sgd", torch.optim.SGD, "mini-batch stochastic gradient descent", lr=0.05),
    _spec("momentum", torch.optim.SGD, "SGD with heavy-ball momentum (Polyak)", lr=0.01, momentum=0.9),
    _spec("nesterov", torch.optim.SGD, "SGD with Nesterov momentum", fixed={"nesterov": True}, lr=0.01,
          momentum=0.9),
    _spec("adagrad", torch.optim.Adagrad, "AdaGrad (Duchi et al. 2011)", lr=0.01),
    _spec("rmsprop", torch.optim.RMSprop, "RMSProp (Tieleman & Hinton 2012)", lr=1e-3),
    _spec("adadelta", torch.optim.Adadelta, "AdaDelta (Zeiler 2012)", lr=1.0),
    _spec("adam", torch.optim.Adam, "Adam (Kingma & Ba 2015)", lr=1e-3),
    _spec("adamw", torch.optim.AdamW, "Adam with decoupled weight decay (Loshchilov & Hutter 2019)", lr=1e-3,
          weight_decay=1e-2),
    _spec("lbfgs", torch.optim.LBFGS, "limited-memory BFGS with a strong-Wolfe line search (torch: up to "
          "max_iter=20 iterations per step; for one, pass max_iter=1 and max_eval=25)", full_batch=True,
          lr=1.0, line_search_fn="strong_wolfe"),
    _spec("armijo", LineSearchGD, "gradient descent with Armijo backtracking", full_batch=True,
          fixed={"condition": "armijo"}),
    _spec("goldstein", LineSearchGD, "gradient descent with a Goldstein line search", full_batch=True,
          fixed={"condition": "goldstein"}),
    _spec("newton", Newton, "Newton's method with the exact Hessian, saddle-free where it is indefinite",
          full_batch=True),
    _spec("newton_cg", NewtonCG, "Hessian-free Newton: conjugate gradients on Hessian-vector products",
          full_batch=True),
    _spec("bfgs", BFGS, "BFGS with a dense inverse Hessian and backtracking", full_batch=True),
    _spec("svrg", SVRG, "stochastic variance-reduced gradient (needs full_closure)", lr=0.05),
    _spec("langevin", Langevin, "stochastic gradient Langevin dynamics (temperature)", lr=1e-3),
)}


def _in_unit(closed: bool):
    return lambda v: 0 <= v <= 1 if closed else 0 <= v < 1


#: Ranges checked for the wrapped torch optimizers (neuroai's own check their arguments themselves).
RULES = {
    "lr": ("finite and > 0", lambda v: math.isfinite(v) and v > 0),
    "history_size": ("an integer >= 1", lambda v: isinstance(v, Integral) and v >= 1),
    "momentum": ("in [0, 1)", _in_unit(False)),
    "dampening": ("in [0, 1]", _in_unit(True)),
    "weight_decay": (">= 0", lambda v: v >= 0),
    "eps": ("> 0", lambda v: v > 0),
    "alpha": ("in [0, 1)", _in_unit(False)),
    "rho": ("in [0, 1)", _in_unit(False)),
    "lr_decay": (">= 0", lambda v: v >= 0),
    "initial_accumulator_value": (">= 0", lambda v: v >= 0),
}


def _check(owner: str, key: str, value) -> None:
    if key == "betas":
        if (not isinstance(value, (tuple, list)) or len(value) != 2
                or not all(isinstance(b, Real) and 0 <= b < 1 for b in value)):
            raise ValueError(f"{owner}: parameter 'betas' must be a pair of numbers in [0, 1), got {value!r}")
    elif key.split("[")[-1].strip("']") in RULES:  # (also a param group's "params[k]['lr']")
        expected, ok = RULES[key.split("[")[-1].strip("']")]
        if isinstance(value, bool) or not isinstance(value, Real) or not ok(value):
            raise ValueError(f"{owner}: parameter '{key}' must be {expected}, got {value!r}")


def make_optimizer(name: str, params, **hyper) -> Optimizer:
    """Build the suite's optimizer ``name`` over ``params`` with hyper-parameters ``hyper``.

    ``hyper`` overrides the entry's defaults (see :data:`OPTIMIZERS`);
    unknown names, unknown hyper-parameters, settings that define the entry
    (``nesterov`` of ``"nesterov"``) and values out of range raise errors
    that say which and why.
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"make_optimizer: unknown optimizer {name!r}; the suite has {sorted(OPTIMIZERS)}")
    spec = OPTIMIZERS[name]
    owner = f"make_optimizer({name!r})"
    fixed = sorted(set(hyper) & set(spec.fixed))
    if fixed:
        raise ValueError(f"{owner}: {fixed} define this entry ({dict(spec.fixed)}) and cannot be changed")
    accepted = [p for p in inspect.signature(spec.cls).parameters if p not in ("params", "self", *spec.fixed)]
    unknown = sorted(set(hyper) - set(accepted))
    if unknown:
        raise TypeError(f"{owner}: unknown hyper-parameters {unknown}; {spec.cls.__name__} accepts {accepted}")
    own = issubclass(spec.cls, (BFGS, Langevin, LineSearchGD, Newton, NewtonCG, SVRG))
    for key, value in hyper.items():
        if not own or key == "lr":  # (neuroai's own optimizers check the rest themselves)
            _check(owner, key, value)
    params = _parameters(owner, params)
    _check_lr_fits(owner, params, hyper.get("lr", spec.defaults.get("lr")))
    return spec.cls(params, **{**spec.defaults, **hyper, **spec.fixed})


def _check_lr_fits(owner: str, params: list, lr) -> None:
    """Every learning rate must be representable in its parameters' dtype (float32: at most about 3.4e38):
    a larger one cannot even be applied to them."""
    groups = [(f"params[{k}]['lr']", p.get("lr", lr), p["params"]) if isinstance(p, dict) else ("lr", lr, [p])
              for k, p in enumerate(params)]
    for key, rate, tensors in groups:
        floats = [t.dtype for t in tensors if isinstance(t, torch.Tensor) and t.is_floating_point()]
        if rate is not None and floats:
            largest = min(torch.finfo(d).max for d in floats)
            if rate > largest:
                raise ValueError(f"{owner}: parameter '{key}' must be at most {largest:.3g}, the largest number "
                                 f"the parameters' dtype ({min(floats, key=lambda d: torch.finfo(d).max)}) holds, "
                                 f"got {rate!r}")


def _parameters(owner: str, params) -> list:
    """``params`` as a non-empty list of tensors or of param-group dicts (each ``lr`` checked)."""
    if isinstance(params, torch.Tensor) or isinstance(params, dict) or not hasattr(params, "__iter__"):
        raise TypeError(f"{owner}: parameter 'params' must be an iterable of tensors or of param-group dicts "
                        f"(e.g. model.parameters()), got {type(params).__name__}")
    params = list(params)
    if not params:
        raise ValueError(f"{owner}: parameter 'params' is empty: there is nothing to optimize")
    for k, item in enumerate(params):
        if isinstance(item, dict):
            if "lr" in item:
                _check(owner, f"params[{k}]['lr']", item["lr"])
            group = item["params"] if "params" in item else ()
            params[k] = {**item, "params": [group] if isinstance(group, torch.Tensor) else list(group)}
        elif not isinstance(item, torch.Tensor):
            raise TypeError(f"{owner}: parameter 'params' must hold tensors or param-group dicts, got "
                            f"{type(item).__name__} at position {k}")
    return params
