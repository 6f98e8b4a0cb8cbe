"""One open registry naming the whole optimizer suite: ``make_optimizer(name, params, **hyper)``.

Every method torch.optim has is named (never re-implemented); the others
are neuroai's own ``torch.optim.Optimizer`` subclasses. ``"gd"`` and
``"sgd"`` are the same update; the name says how it is meant to be fed
(``full_batch``: one step per pass over the whole training set).

The registry is open: :func:`make_optimizer` also takes any
``torch.optim.Optimizer`` subclass, :func:`register_optimizer` adds a
name, :data:`ALIASES` holds the other spellings (``"sgld"``,
``"newton-cg"``), and when pytorch-optimizer is installed (the
``optimizers`` extra) its methods are reached by their names too (the
suite's own entries come first where both have a name).
"""
from __future__ import annotations

import inspect
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
from .protocol import StepProtocol, step_protocol
from .sam import SAM
from .svrg import SVRG


@dataclass(frozen=True)
class OptimizerSpec:
    """One entry of the suite: the class, its defaults (which ``hyper`` may
    override), the settings that define the entry (which it may not), how
    the method is fed, whether it searches its own step length
    (``line_search``: ``lr`` is its first trial step, not a step size to
    tune) and which parameters it ``takes`` (``"any"``, ``"matrices"``: 2-D
    only, ``"sparse gradients"``)."""
    name: str
    cls: type[Optimizer]
    summary: str
    defaults: Mapping = field(default_factory=dict)
    fixed: Mapping = field(default_factory=dict)
    full_batch: bool = False
    line_search: bool = False
    takes: str = "any"

    @property
    def protocol(self) -> StepProtocol:
        """How a loop drives the entry's ``step`` (see :mod:`neuroai.optim.protocol`), as built with its
        defaults."""
        try:
            return step_protocol(_probe(self))
        except (TypeError, ValueError, RuntimeError):  # a third-party class that will not build on a probe
            return step_protocol(self.cls)

    @property
    def requires_closure(self) -> bool:
        """Whether ``step`` needs a closure that re-evaluates the loss."""
        return self.protocol.requires_closure

    @property
    def create_graph(self) -> bool:
        """Whether the closure must call ``loss.backward(create_graph=True)``."""
        return self.protocol.create_graph


def _spec(name, cls, summary, full_batch=False, fixed=None, line_search=False, takes="any",
          **defaults) -> OptimizerSpec:
    return OptimizerSpec(name, cls, summary, defaults, fixed or {}, full_batch, line_search, takes)


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
    _spec("nadam", torch.optim.NAdam, "Adam with Nesterov momentum (Dozat 2016)", lr=2e-3),
    _spec("radam", torch.optim.RAdam, "rectified Adam (Liu et al. 2020)", lr=1e-3),
    _spec("adamax", torch.optim.Adamax, "Adam in the infinity norm (Kingma & Ba 2015)", lr=2e-3),
    _spec("adafactor", torch.optim.Adafactor, "Adafactor: factored second moments (Shazeer & Stern 2018)",
          lr=1e-2),
    _spec("rprop", torch.optim.Rprop, "resilient backpropagation: sign-based steps (Riedmiller & Braun 1993); "
          "meant for full batches", full_batch=True, lr=1e-2),
    _spec("asgd", torch.optim.ASGD, "averaged SGD (Polyak & Juditsky 1992)", lr=1e-2),
    _spec("muon", torch.optim.Muon, "Muon: momentum orthogonalized by Newton-Schulz (Jordan et al. 2024); "
          "2-D weight matrices only", takes="matrices", lr=1e-3),
    _spec("sparse_adam", torch.optim.SparseAdam, "Adam for sparse gradients (nn.Embedding(sparse=True))",
          takes="sparse gradients", lr=1e-3),
    _spec("lbfgs", torch.optim.LBFGS, "limited-memory BFGS with a strong-Wolfe line search (torch: up to "
          "max_iter=20 iterations per step; for one, pass max_iter=1 and max_eval=25). A step ends early once "
          "max|grad| <= tolerance_grad or a change of the loss or of every parameter < tolerance_change: "
          "lower both (e.g. 1e-12, 1e-15 in float64) for gradients far below 1e-5", full_batch=True,
          line_search=True, lr=1.0, line_search_fn="strong_wolfe", tolerance_grad=1e-7, tolerance_change=1e-9),
    _spec("armijo", LineSearchGD, "gradient descent with Armijo backtracking", full_batch=True, line_search=True,
          fixed={"condition": "armijo"}),
    _spec("goldstein", LineSearchGD, "gradient descent with a Goldstein line search", full_batch=True,
          line_search=True, fixed={"condition": "goldstein"}),
    _spec("armijo_full_relaxation", LineSearchGD, "gradient descent from the full-relaxation (exact "
          "quadratic-model) step with Armijo backtracking on the second-order model", full_batch=True,
          line_search=True, fixed={"condition": "armijo_full_relaxation"}),
    _spec("newton", Newton, "Newton's method with the exact Hessian, saddle-free where it is indefinite",
          full_batch=True, line_search=True),
    _spec("newton_cg", NewtonCG, "Hessian-free Newton: conjugate gradients on Hessian-vector products",
          full_batch=True, line_search=True),
    _spec("bfgs", BFGS, "BFGS with a dense inverse Hessian and backtracking", full_batch=True, line_search=True),
    _spec("svrg", SVRG, "stochastic variance-reduced gradient (needs full_closure)", lr=0.05),
    _spec("langevin", Langevin, "stochastic gradient Langevin dynamics (temperature)", lr=1e-3),
    _spec("sam", SAM, "sharpness-aware minimization (Foret et al. 2021) around a base optimizer (default "
          "'momentum'; its hyper-parameters pass through)", base_optimizer="momentum", rho=0.05),
    _spec("asam", SAM, "adaptive SAM: the neighbourhood relative to the weights (Kwon et al. 2021)",
          fixed={"adaptive": True}, base_optimizer="momentum", rho=0.5, eta=0.01),
)}

#: Other spellings of the suite's names.
ALIASES: dict[str, str] = {"sgld": "langevin", "newton-cg": "newton_cg", "l-bfgs": "lbfgs"}


def _in_unit(closed: bool):
    return lambda v: 0 <= v <= 1 if closed else 0 <= v < 1


def _real(expected: str, ok) -> tuple:
    return "real", expected, ok


def _pair(expected: str, ok) -> tuple:
    return "pair", expected, ok


#: Ranges checked for torch's own optimizers (neuroai's own check their arguments themselves, third-party
#: ones are left to their classes); every number must also be finite.
RULES = {
    "lr": _real("finite and > 0", lambda v: v > 0),
    "history_size": _real("an integer >= 1", lambda v: isinstance(v, Integral) and v >= 1),
    "max_iter": _real("an integer >= 1", lambda v: isinstance(v, Integral) and v >= 1),
    "max_eval": _real("an integer >= 1 or None", lambda v: isinstance(v, Integral) and v >= 1),
    "ns_steps": _real("an integer >= 1", lambda v: isinstance(v, Integral) and v >= 1),
    "momentum": _real("in [0, 1)", _in_unit(False)),
    "dampening": _real("in [0, 1]", _in_unit(True)),
    "weight_decay": _real(">= 0 and finite", lambda v: v >= 0),
    "eps": _real("> 0 and finite", lambda v: v > 0),
    "alpha": _real("in [0, 1)", _in_unit(False)),
    "rho": _real("in [0, 1)", _in_unit(False)),
    "lr_decay": _real(">= 0 and finite", lambda v: v >= 0),
    "initial_accumulator_value": _real(">= 0 and finite", lambda v: v >= 0),
    "tolerance_grad": _real(">= 0 and finite", lambda v: v >= 0),
    "tolerance_change": _real(">= 0 and finite", lambda v: v >= 0),
    "momentum_decay": _real(">= 0 and finite", lambda v: v >= 0),
    "betas": _pair("a pair of numbers in [0, 1)", lambda a, b: 0 <= a < 1 and 0 <= b < 1),
    "etas": _pair("a pair (decrease, increase) with 0 < decrease < 1 < increase", lambda a, b: 0 < a < 1 < b),
    "step_sizes": _pair("a pair (smallest, largest) with 0 <= smallest <= largest", lambda a, b: 0 <= a <= b),
}
#: Where a torch optimizer gives an option name another meaning.
CLASS_RULES = {
    torch.optim.ASGD: {"alpha": _real(">= 0 and finite (the power of the step-size decay)", lambda v: v >= 0),
                       "lambd": _real(">= 0 and finite", lambda v: v >= 0),
                       "t0": _real(">= 0 and finite (the step averaging starts at)", lambda v: v >= 0)},
    torch.optim.Adafactor: {"eps": _pair("a pair (eps1 or None, eps2) of numbers > 0",
                                         lambda a, b: (a is None or a > 0) and b > 0),
                            "beta2_decay": _real("<= 0 and finite", lambda v: v <= 0),
                            "d": _real("> 0 and finite (the clipping threshold)", lambda v: v > 0)},
}
#: Options of the wrapped torch optimizers that are True or False (None too: torch picks).
FLAGS = ("nesterov", "maximize", "amsgrad", "centered", "capturable", "differentiable", "decoupled_weight_decay")
OPTIONAL_FLAGS = ("foreach", "fused")
#: Options that may be None (torch's default).
NONE_ALLOWED = ("max_eval",)


#: Options that are integers; the other numbers of RULES are passed on as floats (torch takes a Python int
#: ``lr`` as an int64 ``alpha``, which overflows beyond 2**63).
INTEGERS = ("history_size", "max_iter", "max_eval", "ns_steps")


def _number(v) -> bool:
    return not isinstance(v, bool) and isinstance(v, Real) and math.isfinite(v)


def _check(owner: str, cls: type, key: str, value):
    """Check the torch optimizer option ``key`` of ``cls`` (also a param group's ``"params[k]['key']"``);
    returns it, real numbers as floats."""
    option = key.split("[")[-1].strip("']")
    rule = {**RULES, **CLASS_RULES.get(cls, {})}.get(option)
    if rule is not None and rule[0] == "pair":
        _, expected, ok = rule
        try:
            valid = (isinstance(value, (tuple, list)) and len(value) == 2
                     and all(v is None or _number(v) for v in value) and ok(*value))
        except TypeError:   # None where the rule needs a number
            valid = False
        if not valid:
            raise ValueError(f"{owner}: parameter '{key}' must be {expected}, got {value!r}")
        return tuple(None if v is None else float(v) for v in value)
    if rule is not None:
        _, expected, ok = rule
        if value is None and option in NONE_ALLOWED:
            return value
        if not _number(value) or not ok(value):
            raise ValueError(f"{owner}: parameter '{key}' must be {expected}, got {value!r}")
        return int(value) if option in INTEGERS else float(value)
    if option in FLAGS or option in OPTIONAL_FLAGS:
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


def _kind(cls: type) -> str:
    """``"own"`` (neuroai's: they check their arguments), ``"torch"`` (checked here) or ``"foreign"``."""
    module = cls.__module__
    return "own" if module.startswith("neuroai.") else "torch" if module.startswith("torch.optim") else "foreign"


def _pytorch_optimizer(name: str):
    """pytorch-optimizer's class of that name, or None (not installed, or no such name)."""
    try:
        import pytorch_optimizer
    except ImportError:
        return None
    return (pytorch_optimizer.load_optimizer(name) if name in pytorch_optimizer.get_supported_optimizers()
            else None)


def resolve(name) -> OptimizerSpec:
    """The entry ``name`` names: a name of :data:`OPTIMIZERS` or :data:`ALIASES`, a name of
    pytorch-optimizer's (when installed), or an ``Optimizer`` subclass itself."""
    if isinstance(name, type) and issubclass(name, Optimizer) and name is not Optimizer:
        summary = (name.__doc__ or "").strip().split("\n")[0]
        return OptimizerSpec(name.__name__, name, summary)
    if isinstance(name, str):
        name = ALIASES.get(name, name)
        if name in OPTIMIZERS:
            return OPTIMIZERS[name]
        cls = _pytorch_optimizer(name)
        if cls is not None:
            return OptimizerSpec(name, cls, f"pytorch-optimizer's {cls.__name__}")
    raise ValueError(f"make_optimizer: unknown optimizer {name!r}; the suite has {sorted(OPTIMIZERS)} and the "
                     f"aliases {sorted(ALIASES)}; a name of pytorch-optimizer's (when it is installed: pip install "
                     f"'neuroai[optimizers]') or any torch.optim.Optimizer subclass is taken too")


def make_optimizer(name, params, **hyper) -> Optimizer:
    """Build optimizer ``name`` over ``params`` with hyper-parameters ``hyper``.

    ``name``: a name of :data:`OPTIMIZERS` (or :data:`ALIASES`), a name of
    pytorch-optimizer's when it is installed, or any ``torch.optim.Optimizer``
    subclass. ``hyper`` overrides the entry's defaults; unknown names,
    unknown hyper-parameters, settings that define the entry (``nesterov``
    of ``"nesterov"``) and values out of range raise errors that say which
    and why. Param-group dicts may set any of the entry's hyper-parameters
    (but ``params``), checked in the same way.
    """
    spec = resolve(name)
    owner = f"make_optimizer({name!r})" if isinstance(name, str) else f"make_optimizer({spec.name})"
    fixed = sorted(set(hyper) & set(spec.fixed))
    if fixed:
        raise ValueError(f"{owner}: {fixed} define this entry ({dict(spec.fixed)}) and must not be given")
    check.keyword_options(owner, hyper, spec.cls, taker=spec.cls.__name__, what="hyper-parameters",
                          skip=("params", *spec.fixed))
    kind = _kind(spec.cls)
    for key, value in hyper.items():
        if kind == "torch" or key == "lr" and kind == "own":  # (neuroai's own check the rest themselves)
            hyper[key] = _check(owner, spec.cls, key, value)
    params = _parameters(owner, params, spec, kind, {**spec.defaults, **hyper})
    options = {**spec.defaults, **hyper, **spec.fixed}
    numbers = ([k for k, rule in {**RULES, **CLASS_RULES.get(spec.cls, {})}.items() if rule[0] == "real"]
               if kind == "torch" else ["lr"])
    _check_fits(owner, params, options, numbers)
    if kind == "torch":
        _check_combination(owner, spec, options, params)
    if kind == "own":
        return spec.cls(params, **options)
    try:
        optimizer = spec.cls(params, **options)
    except Exception as err:  # noqa: BLE001 -- the class's own checks (Muon's 2-D parameters, third-party ranges)
        error = TypeError if isinstance(err, TypeError) else ValueError
        raise error(f"{owner}: {spec.cls.__name__} refused its arguments (they must be as it documents): "
                    f"{check._reason(err)}") from err
    if spec.cls in SCALAR_STATE:
        optimizer.register_load_state_dict_post_hook(_restore_scalar_state)
    return optimizer


#: State entries torch keeps in its scalar dtype whatever the parameters' dtype, but which its
#: ``load_state_dict`` casts to the parameters' (so a float64 run would not resume bit for bit).
SCALAR_STATE = {torch.optim.NAdam: ("mu_product",)}


def _restore_scalar_state(optimizer: Optimizer) -> None:
    keys = SCALAR_STATE[type(optimizer)]
    for state in optimizer.state.values():
        for key in keys:
            if key in state:
                state[key] = state[key].to(torch.get_default_dtype())


def register_optimizer(name: str, cls: type[Optimizer], *, summary: str = "", full_batch: bool = False,
                       line_search: bool = False, fixed: Mapping | None = None, **defaults) -> OptimizerSpec:
    """Name ``cls`` in the suite: ``make_optimizer(name, params, **hyper)`` then builds it with ``defaults``
    (which ``hyper`` overrides) and ``fixed`` (which it may not), and the studies that race the suite see it.

    ``full_batch``: meant for one step per pass over the whole training set; ``line_search``: ``lr`` is
    the first trial step of a search, not a step size to tune. Returns the new entry. A name already
    taken (by an entry or an alias) is an error: pick another.
    """
    owner = "register_optimizer"
    if not isinstance(name, str) or not name.strip() or name != name.strip():
        raise ValueError(f"{owner}: parameter 'name' must be a non-empty string without surrounding spaces, "
                         f"got {name!r}")
    if name in OPTIMIZERS or name in ALIASES:
        raise ValueError(f"{owner}: parameter 'name' must be new, got {name!r}, which already names "
                         f"{OPTIMIZERS[ALIASES.get(name, name)].cls.__name__}")
    if not (isinstance(cls, type) and issubclass(cls, Optimizer)) or cls is Optimizer:
        raise TypeError(f"{owner}: parameter 'cls' must be a torch.optim.Optimizer subclass, got {cls!r}")
    if not isinstance(summary, str):
        raise TypeError(f"{owner}: parameter 'summary' must be a string, got {type(summary).__name__}")
    fixed = dict(fixed or {})
    check.keyword_options(owner, {**defaults, **fixed}, cls, taker=cls.__name__, what="hyper-parameters",
                          skip=("params",))
    spec = _spec(name, cls, summary or resolve(cls).summary, full_batch=check.flag(owner, "full_batch", full_batch),
                 fixed=fixed, line_search=check.flag(owner, "line_search", line_search), **defaults)
    OPTIMIZERS[name] = spec
    return spec


def _check_fits(owner: str, params: list, options: dict, keys) -> None:
    """Every number among ``keys`` of ``options`` (the learning rate, torch's weight decay, ...) and of each
    param group must be representable in its parameters' dtype (float32: at most about 3.4e38): a larger
    one cannot even be applied to them."""
    groups = [(f"params[{k}]", p, p["params"]) if isinstance(p, dict) else ("", {}, [p]) for k, p in enumerate(params)]
    for where, group, tensors in groups:
        floats = [t.dtype for t in tensors if isinstance(t, torch.Tensor) and t.is_floating_point()]
        if not floats:
            continue
        dtype = min(floats, key=lambda d: torch.finfo(d).max)
        largest = torch.finfo(dtype).max
        for key in keys:
            value = group.get(key, options.get(key))
            if _number(value) and abs(value) > largest:
                name = f"{where}['{key}']" if key in group else key
                raise ValueError(f"{owner}: parameter '{name}' must be at most {largest:.3g} in magnitude, the "
                                 f"largest number the parameters' dtype ({dtype}) holds, got {value!r}")


def _parameters(owner: str, params, spec: OptimizerSpec, kind: str, hyper: dict) -> list:
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
            params[k] = _group(owner, k, item, spec, kind, hyper)
        elif not isinstance(item, torch.Tensor):
            raise TypeError(f"{owner}: parameter 'params' must hold tensors or param-group dicts, got "
                            f"{type(item).__name__} at position {k}")
        else:
            _leaf(owner, f"params[{k}]", item)
    if len({isinstance(item, dict) for item in params}) > 1:
        raise TypeError(f"{owner}: parameter 'params' must hold tensors or param-group dicts, not both")
    seen: set[int] = set()
    for t in _tensors(params):
        if spec.takes == "matrices" and t.dim() != 2:
            raise ValueError(f"{owner}: parameter 'params' must hold 2-D weight matrices only ({spec.cls.__name__} "
                             f"orthogonalizes matrices; give the other parameters to another optimizer), got one "
                             f"of shape {tuple(t.shape)}")
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


def _group(owner: str, k: int, item: dict, spec: OptimizerSpec, kind: str, hyper: dict) -> dict:
    """A param-group dict with its ``params`` as a list of tensors and each option checked (a foreign
    class's options are left to it)."""
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
    if kind == "foreign" or not options:
        return {**item, "params": group}
    per_group = sorted(_group_options(spec))
    unknown = sorted(map(str, set(options) - set(per_group)))  # ("initial_lr": a scheduler's record)
    if unknown:
        raise TypeError(f"{owner}: param group {k} sets unknown hyper-parameters {unknown}; a group of "
                        f"{spec.cls.__name__} takes {per_group}")
    options = {key: _check(owner, spec.cls, f"params[{k}]['{key}']", value) for key, value in options.items()}
    if kind == "own":  # neuroai's own optimizers check a group's options as they check their arguments
        _probe(spec, **{**hyper, **options})
    else:
        _check_combination(owner, spec, {**hyper, **options, **spec.fixed}, [{"params": group}])
    return {**item, **options, "params": group}


def _group_options(spec: OptimizerSpec) -> set:
    """The options a param group of ``spec`` may set: those its optimizer keeps per group (its
    ``defaults``) and takes as arguments (not Newton's fixed line-search condition; any of SAM's, which
    takes its base optimizer's as ``**kwargs``), less those that define the entry."""
    options = set(_probe(spec).defaults) - set(spec.fixed)
    parameters = inspect.signature(spec.cls).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return options
    return options & set(parameters)


def _probe(spec: OptimizerSpec, **hyper) -> Optimizer:
    """``spec``'s optimizer built with its defaults (and ``hyper``) over one stand-in parameter: its
    ``defaults`` are the options it keeps per param group, its attributes its step protocol."""
    extra = {"full_closure": lambda: None} if spec.cls is SVRG else {}
    stand_in = torch.zeros((1, 1) if spec.takes == "matrices" else 1, requires_grad=True)
    return spec.cls([stand_in], **{**spec.defaults, **hyper, **spec.fixed, **extra})
