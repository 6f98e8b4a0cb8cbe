"""One registry naming the whole optimizer suite: ``make_optimizer(name, params, **hyper)``.

Methods torch.optim already has are wrapped (never re-implemented); the
others are neuroai's own ``torch.optim.Optimizer`` subclasses. ``"gd"`` and
``"sgd"`` are the same update; the name says how it is meant to be fed
(``full_batch``: one step per pass over the whole training set).
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from numbers import Integral, Real

import torch
from torch.optim import Optimizer

from .. import validation as check
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


#: Ranges checked for the wrapped torch optimizers (neuroai's own check their arguments themselves); every
#: number must also be finite.
RULES = {
    "lr": ("finite and > 0", lambda v: v > 0),
    "history_size": ("an integer >= 1", lambda v: isinstance(v, Integral) and v >= 1),
    "max_iter": ("an integer >= 1", lambda v: isinstance(v, Integral) and v >= 1),
    "max_eval": ("an integer >= 1 or None", lambda v: isinstance(v, Integral) and v >= 1),
    "momentum": ("in [0, 1)", _in_unit(False)),
    "dampening": ("in [0, 1]", _in_unit(True)),
    "weight_decay": (">= 0 and finite", lambda v: v >= 0),
    "eps": ("> 0 and finite", lambda v: v > 0),
    "alpha": ("in [0, 1)", _in_unit(False)),
    "rho": ("in [0, 1)", _in_unit(False)),
    "lr_decay": (">= 0 and finite", lambda v: v >= 0),
    "initial_accumulator_value": (">= 0 and finite", lambda v: v >= 0),
    "tolerance_grad": (">= 0 and finite", lambda v: v >= 0),
    "tolerance_change": (">= 0 and finite", lambda v: v >= 0),
}
#: Options of the wrapped torch optimizers that are True or False (None too: torch picks).
FLAGS = ("nesterov", "maximize", "amsgrad", "centered", "capturable", "differentiable", "decoupled_weight_decay")
OPTIONAL_FLAGS = ("foreach", "fused")
#: Options that may be None (torch's default).
NONE_ALLOWED = ("max_eval",)


#: Options that are integers; the other numbers of RULES are passed on as floats (torch takes a Python int
#: ``lr`` as an int64 ``alpha``, which overflows beyond 2**63).
INTEGERS = ("history_size", "max_iter", "max_eval")


def _check(owner: str, key: str, value):
    """Check the torch optimizer option ``key`` (also a param group's ``"params[k]['key']"``); returns it,
    a real number as a float."""
    option = key.split("[")[-1].strip("']")
    if option == "betas":
        if (not isinstance(value, (tuple, list)) or len(value) != 2
                or not all(not isinstance(b, bool) and isinstance(b, Real) and 0 <= b < 1 for b in value)):
            raise ValueError(f"{owner}: parameter '{key}' must be a pair of numbers in [0, 1), got {value!r}")
        value = (float(value[0]), float(value[1]))
    elif option in RULES:
        expected, ok = RULES[option]
        if value is None and option in NONE_ALLOWED:
            return value
        if (isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value)
                or not ok(value)):
            raise ValueError(f"{owner}: parameter '{key}' must be {expected}, got {value!r}")
        return int(value) if option in INTEGERS else float(value)
    elif option in FLAGS or option in OPTIONAL_FLAGS:
        if not (value is None and option in OPTIONAL_FLAGS):
            value = check.flag(owner, key, value)
    elif option == "line_search_fn":
        if value is not None and value != "strong_wolfe":
            raise ValueError(f"{owner}: parameter '{key}' must be 'strong_wolfe' or None (torch's LBFGS has no "
                             f"other line search), got {value!r}")
    return value


def _check_combination(owner: str, spec: OptimizerSpec, options: dict, params: list) -> None:
    """Combinations of torch options that torch itself would refuse (at creation or at the first step)."""
    if options.get("nesterov") and (not options.get("momentum", 0) > 0 or options.get("dampening", 0) != 0):
        raise ValueError(f"{owner}: Nesterov momentum needs parameter 'momentum' > 0 and 'dampening' 0, got "
                         f"momentum={options.get('momentum', 0)!r} and dampening={options.get('dampening', 0)!r}")
    if options.get("differentiable"):
        raise ValueError(f"{owner}: parameter 'differentiable' must be False: the suite steps leaf parameters in "
                         f"place, which autograd cannot differentiate through (use torch.func for that)")
    if options.get("fused") and options.get("foreach"):
        raise ValueError(f"{owner}: parameters 'fused' and 'foreach' must not both be True")
    if options.get("capturable"):
        devices = {t.device.type for t in _tensors(params)}
        if devices - {"cuda", "xpu", "hpu"}:
            raise ValueError(f"{owner}: parameter 'capturable' must be False for parameters on {sorted(devices)} "
                             f"(CUDA-graph capture needs them on a GPU)")
    if spec.cls is torch.optim.LBFGS and sum(isinstance(p, dict) for p in params) > 1:
        raise ValueError(f"{owner}: torch's LBFGS takes one parameter group, got {len(params)} groups")


def _tensors(params: list) -> list:
    return [t for p in params for t in (p["params"] if isinstance(p, dict) else [p])]


def make_optimizer(name: str, params, **hyper) -> Optimizer:
    """Build the suite's optimizer ``name`` over ``params`` with hyper-parameters ``hyper``.

    ``hyper`` overrides the entry's defaults (see :data:`OPTIMIZERS`);
    unknown names, unknown hyper-parameters, settings that define the entry
    (``nesterov`` of ``"nesterov"``) and values out of range raise errors
    that say which and why. Param-group dicts may set any of the entry's
    hyper-parameters (but ``params``), checked in the same way.
    """
    if not isinstance(name, str) or name not in OPTIMIZERS:
        raise ValueError(f"make_optimizer: unknown optimizer {name!r}; the suite has {sorted(OPTIMIZERS)}")
    spec = OPTIMIZERS[name]
    owner = f"make_optimizer({name!r})"
    fixed = sorted(set(hyper) & set(spec.fixed))
    if fixed:
        raise ValueError(f"{owner}: {fixed} define this entry ({dict(spec.fixed)}) and must not be given")
    accepted = check.keyword_options(owner, hyper, spec.cls, taker=spec.cls.__name__, what="hyper-parameters",
                                     skip=("params", *spec.fixed))
    own = issubclass(spec.cls, (BFGS, Langevin, LineSearchGD, Newton, NewtonCG, SVRG))
    for key, value in hyper.items():
        if not own or key == "lr":  # (neuroai's own optimizers check the rest themselves)
            hyper[key] = _check(owner, key, value)
    params = _parameters(owner, params, spec, accepted, own, {**spec.defaults, **hyper})
    _check_lr_fits(owner, params, hyper.get("lr", spec.defaults.get("lr")))
    options = {**spec.defaults, **hyper, **spec.fixed}
    if not own:
        _check_combination(owner, spec, options, params)
    return spec.cls(params, **options)


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


def _parameters(owner: str, params, spec: OptimizerSpec, accepted: list, own: bool, hyper: dict) -> list:
    """``params`` as a non-empty list of tensors or of param-group dicts (each option of a group checked)."""
    if isinstance(params, (torch.Tensor, dict, str, bytes)) or not hasattr(params, "__iter__"):
        raise TypeError(f"{owner}: parameter 'params' must be an iterable of tensors or of param-group dicts "
                        f"(e.g. model.parameters()), got {type(params).__name__}")
    params = list(params)
    if not params:
        raise ValueError(f"{owner}: parameter 'params' is empty: there is nothing to optimize; it must hold at "
                         f"least one tensor or param-group dict")
    for k, item in enumerate(params):
        if isinstance(item, dict):
            params[k] = _group(owner, k, item, spec, accepted, own, hyper)
        elif not isinstance(item, torch.Tensor):
            raise TypeError(f"{owner}: parameter 'params' must hold tensors or param-group dicts, got "
                            f"{type(item).__name__} at position {k}")
        else:
            _leaf(owner, f"params[{k}]", item)
    if len({isinstance(item, dict) for item in params}) > 1:
        raise TypeError(f"{owner}: parameter 'params' must hold tensors or param-group dicts, not both")
    seen: set[int] = set()
    for t in _tensors(params):
        if id(t) in seen:
            raise ValueError(f"{owner}: parameter 'params' must name each tensor once, got one tensor of shape "
                             f"{tuple(t.shape)} twice")
        seen.add(id(t))
    return params


def _leaf(owner: str, where: str, tensor: torch.Tensor) -> None:
    if not tensor.is_leaf:
        raise ValueError(f"{owner}: parameter '{where}' must be a leaf tensor (a parameter, not the result of "
                         f"a computation), got one computed by {type(tensor.grad_fn).__name__}")
    if not (tensor.is_floating_point() or tensor.is_complex()):
        raise TypeError(f"{owner}: parameter '{where}' must be a floating-point tensor, got dtype {tensor.dtype}")


def _group(owner: str, k: int, item: dict, spec: OptimizerSpec, accepted: list, own: bool, hyper: dict) -> dict:
    """A param-group dict with its ``params`` as a list of tensors and each option checked."""
    if "params" not in item:
        raise ValueError(f"{owner}: param group {k} must have a 'params' entry (its tensors), got keys "
                         f"{sorted(map(str, item))}")
    group = item["params"]
    if isinstance(group, torch.Tensor):
        group = [group]
    elif isinstance(group, (dict, set, str, bytes)) or not hasattr(group, "__iter__"):
        raise TypeError(f"{owner}: parameter 'params[{k}]['params']' must be a tensor or a list of tensors, got "
                        f"{type(group).__name__}")
    group = list(group)
    for j, t in enumerate(group):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{owner}: parameter 'params[{k}]['params']' must hold tensors, got "
                            f"{type(t).__name__} at position {j}")
        _leaf(owner, f"params[{k}]['params'][{j}]", t)
    options = {key: value for key, value in item.items() if key not in ("params", "initial_lr")}
    per_group = [key for key in accepted if key in _group_options(spec)]
    unknown = sorted(map(str, set(options) - set(per_group)))  # ("initial_lr": a scheduler's record)
    if unknown:
        raise TypeError(f"{owner}: param group {k} sets unknown hyper-parameters {unknown}; a group of "
                        f"{spec.cls.__name__} takes {per_group}")
    options = {key: _check(owner, f"params[{k}]['{key}']", value) for key, value in options.items()}
    if own and options:  # neuroai's own optimizers check a group's options as they check their arguments
        spec.cls([torch.zeros(1, requires_grad=True)], **{**hyper, **options, **spec.fixed})
    elif options:
        _check_combination(owner, spec, {**hyper, **options, **spec.fixed}, [{"params": group}])
    return {**item, **options, "params": group}


def _group_options(spec: OptimizerSpec) -> set:
    """The hyper-parameters ``spec``'s optimizer keeps per param group (its ``defaults``)."""
    extra = {"full_closure": lambda: None} if spec.cls is SVRG else {}
    return set(spec.cls([torch.zeros(1, requires_grad=True)], **{**spec.defaults, **spec.fixed, **extra}).defaults)
