"""The user's own models, written as equations in Brian2's syntax.

:class:`NeuronModel` describes a neuron by its differential equations, a
threshold condition, reset statements and a refractory period, exactly as a
Brian2 ``NeuronGroup`` takes them. The Brian2 backend hands them to Brian2 as
written; the torch backend compiles the very update statements Brian2
generates for them into tensor operations (``backends/torch_equations.py``),
so both give the same spikes and states in float64, and the torch module is
differentiable (the threshold becomes a surrogate-gradient spike).

Parameters are plain SI floats, as everywhere in neuroai, or Brian2
quantities. The unit of a float parameter is inferred from the equations
(``tau`` in ``dv/dt = -v/tau : 1`` is in seconds); a quantity's unit is
checked against them. Brian2's parser and unit system validate the model
when it is created (imported lazily); no Brian2 object is built here.
"""
from __future__ import annotations

import ast
import copy
import keyword
from dataclasses import dataclass, field

import numpy as np

from . import validation as check

#: Names with a meaning in every model: time, step, index, size (Brian2's).
BUILTINS = frozenset({"t", "dt", "i", "N", "True", "False"})
#: Variables that Brian2's refractoriness mechanism owns.
RESERVED = frozenset({"lastspike", "not_refractory", "xi"})
_BASE = 7  # Brian2's base dimensions: metre, kilogram, second, amp, kelvin, mole, candela
_SECOND = np.eye(_BASE)[2]
#: Functions whose argument must be dimensionless and whose value is.
_PURE = frozenset({"exp", "log", "log10", "expm1", "log1p", "exprel", "sin", "cos", "tan", "sinh", "cosh", "tanh",
                   "arcsin", "arccos", "arctan"})


def _brian2():
    """Brian2's equation parser and unit system (imported only when needed)."""
    import brian2.equations.equations as equations
    import brian2.units.fundamentalunits as units

    return equations, units


def _known_names() -> set[str]:
    """Functions, constants and units every model may use (Brian2's)."""
    equations, _ = _brian2()
    return set(equations.DEFAULT_FUNCTIONS) | set(equations.DEFAULT_CONSTANTS) | set(equations.DEFAULT_UNITS)


def _parameter_values(owner: str, parameters, declared, used: set[str], per_element: str | None):
    """(SI values, dimensions of those given as quantities) of a model's
    parameters; every identifier ``used`` must be declared, a parameter or
    known to Brian2. ``per_element``: "neuron" if a parameter may be an
    array of one value per neuron, None if only scalars are allowed."""
    _, units = _brian2()
    if not isinstance(parameters, dict):
        raise TypeError(f"{owner}: 'parameters' must be a dict of name -> value, got {type(parameters).__name__}")
    known = set(declared) | BUILTINS | _known_names()
    undefined = sorted(used - known - set(parameters) - {"xi"} - {n for n in used if n.startswith("xi_")})
    if undefined:
        raise ValueError(f"{owner}: {undefined} are used but neither declared in the equations nor given "
                         f"in 'parameters'; each name must be one or the other")
    values, dims = {}, {}
    for name, value in parameters.items():
        where = f"parameters[{name!r}]"
        if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_"):
            raise ValueError(f"{owner}: parameter names must be identifiers not starting with '_', got {name!r}")
        if name in declared or name in BUILTINS or name in RESERVED:
            raise ValueError(f"{owner}: parameter {name!r} is also a variable of the model (or a name Brian2 "
                             f"reserves); a parameter must be a value the equations use")
        if name not in used:
            raise ValueError(f"{owner}: parameter {name!r} is not used by the model's equations or statements")
        if isinstance(value, units.Quantity):  # (a dimensionless quantity too: its unit is given)
            dims[name] = np.asarray(units.get_dimensions(value)._dims, dtype=np.float64)
            value = np.asarray(value)
        arr = check.as_array(owner, where, value, "a number or an array")
        if arr.ndim == 0:
            values[name] = check.real(owner, where, value.item() if isinstance(value, np.ndarray) else value)
        elif arr.ndim == 1 and arr.size and per_element:
            values[name] = check.array(owner, where, arr, arr.shape)
        else:
            expected = f"a number or an array of one value per {per_element}" if per_element else "a number"
            raise ValueError(f"{owner}: {where} must be {expected}, got shape {arr.shape}")
    return values, dims


@dataclass(frozen=True, eq=False)
class NeuronModel:
    r"""A neuron model written as equations, in Brian2's syntax.

    .. code-block:: python

        qif = NeuronModel("dv/dt = (v**2 + I_ext) / tau : 1", threshold="v > 10",
                          reset="v = -10", refractory=2e-3, method="euler",
                          parameters={"tau": 10e-3, "I_ext": 0.5})

    - equations: differential equations (``dx/dt = ... : unit``, flags such as
      ``(unless refractory)``), subexpressions (``I = ... : amp``) and
      declared variables (``w : volt``); every differential equation's
      variable and every declared variable is a state variable of the
      population (``v`` is the one ``v_init`` sets; give the others with
      ``add_population(..., init={...})``; they start at 0 otherwise).
    - threshold: a condition (``"v > v_th"``); a spike where it is true. The
      torch backend differentiates through its comparison with a surrogate
      gradient. None: the neuron never spikes.
    - reset: statements run for the neurons that spiked (``"v = v_r\nw += b"``).
    - refractory: seconds (float or Brian2 quantity), rounded to whole steps:
      after a spike the neuron cannot spike again for that long, and
      variables flagged ``(unless refractory)`` are not integrated and
      take no synaptic input.
    - method: Brian2's integration method (``"exact"``, ``"euler"``,
      ``"exponential_euler"``, ``"rk2"``, ``"rk4"``, ``"heun"``, ...) or a
      sequence of them to try in order; None: Brian2's default choice.
    - parameters: name -> value of every other identifier the equations,
      threshold and reset use: an SI float, a Brian2 quantity, or an array
      of shape (n,) (one value per neuron; such a parameter becomes a
      constant state variable of the population).

    Synaptic input: projections onto a population of this model use
    :class:`~neuroai.Delta` synapses aimed at one of its state variables
    (``Delta("I_syn")``); currents that decay are written into the equations.
    """

    equations: str
    threshold: str | None = None
    reset: str | None = None
    refractory: float = 0.0
    method: str | tuple[str, ...] | None = None
    parameters: dict = field(default_factory=dict)
    learned_state = ()  # variables that Simulator.to_network carries over
    v_start = 0.0  # default initial value of every state variable, v included

    def __post_init__(self):
        owner = "NeuronModel"
        equations, units = _brian2()
        if not isinstance(self.equations, str):
            raise TypeError(f"{owner}: 'equations' must be a string in Brian2's syntax, got "
                            f"{type(self.equations).__name__}")
        try:
            eqs = equations.Equations(self.equations)
        except Exception as exc:  # Brian2 raises SyntaxError, EquationError, ValueError, TypeError
            raise ValueError(f"{owner}: the equations do not parse: {exc}") from exc
        if not eqs.diff_eq_names and not eqs.parameter_names:
            raise ValueError(f"{owner}: the equations must declare at least one state variable (such as "
                             f"'dv/dt = -v/tau : 1' or 'v : 1'), got none")
        for name, text in (("threshold", self.threshold), ("reset", self.reset)):
            if text is not None and (not isinstance(text, str) or not text.strip()):
                raise TypeError(f"{owner}: '{name}' must be a non-empty string or None, got {text!r}")
        if self.threshold is None and (self.reset is not None or self.refractory):
            raise ValueError(f"{owner}: a reset or a refractory period needs a threshold (a neuron that spikes)")
        object.__setattr__(self, "refractory",
                           check.real(owner, "refractory", self.refractory, nonnegative=True, unit="second"))
        self._check_method(owner)
        _check_integrable(owner, eqs, self.method)
        declared = {eq.varname: eq for eq in eqs.ordered}
        bad = sorted(set(declared) & RESERVED)
        if bad:
            raise ValueError(f"{owner}: {bad} are Brian2's own variables (refractoriness, noise); they must be renamed")
        threshold = _parse(owner, "threshold", self.threshold, "eval") if self.threshold is not None else None
        if threshold is not None and not _is_condition(threshold.body, declared):
            raise ValueError(f"{owner}: the threshold {self.threshold!r} is not a condition (a comparison such "
                             f"as 'v > v_th', or several joined by 'and'/'or')")
        reset = _reset_statements(owner, self.reset, declared) if self.reset is not None else []
        used = set(eqs.identifiers)
        for tree in [threshold] + [expr for _, _, expr in reset]:
            if tree is not None:
                used |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        values, given_dims = self._parameters(owner, declared, used, units)
        dims = {name: np.asarray(eq.dim._dims, dtype=np.float64) for name, eq in declared.items()}
        dims.update(given_dims)
        dims.update(_infer_dimensions(owner, eqs, threshold, reset, dims, given_dims, set(values) - set(given_dims)))
        object.__setattr__(self, "parameters", values)
        object.__setattr__(self, "_eqs", eqs)
        object.__setattr__(self, "dimensions", {k: tuple(float(x) for x in v) for k, v in dims.items()})
        per_neuron = tuple(name for name, value in values.items() if np.ndim(value) == 1)
        variables = tuple(eq.varname for eq in eqs.values() if eq.type != "subexpression")  # as declared
        object.__setattr__(self, "state_variables", variables + per_neuron)
        object.__setattr__(self, "input_variables",
                           tuple(eq.varname for eq in eqs.values()
                                 if eq.type != "subexpression" and "constant" not in eq.flags))
        object.__setattr__(self, "gated_variables",
                           tuple(eq.varname for eq in eqs.values() if "unless refractory" in eq.flags))
        physical = any(np.any(dims[v] != 0) for v in variables)
        object.__setattr__(self, "units", "physical" if physical else "dimensionless")
        object.__setattr__(self, "stochastic", bool(eqs.stochastic_variables or used & {"rand", "randn", "poisson"}))

    def _check_method(self, owner: str) -> None:
        from brian2.stateupdaters.base import StateUpdateMethod

        methods = (self.method,) if isinstance(self.method, str) else self.method
        if methods is None:
            return
        if not isinstance(methods, tuple) or not methods or not all(isinstance(m, str) for m in methods):
            raise TypeError(f"{owner}: 'method' must be a method name, a tuple of them or None, got {self.method!r}")
        unknown = [m for m in methods if m not in StateUpdateMethod.stateupdaters]
        if unknown:
            raise ValueError(f"{owner}: unknown integration method(s) {unknown}; Brian2 knows "
                             f"{sorted(StateUpdateMethod.stateupdaters)}")

    def _parameters(self, owner, declared, used: set[str], units):
        return _parameter_values(owner, self.parameters, declared, used, per_element="neuron")

    # --- what a Network and the backends ask of a model ----------------------

    @property
    def features(self) -> set[str]:
        """Capabilities a backend needs to run this model: ``"NeuronModel"``, plus ``"refractory"`` if
        ``refractory`` > 0 and ``"stochastic"`` if the equations use noise or random functions."""
        out = {"NeuronModel"}
        if self.refractory > 0:
            out.add("refractory")
        if self.stochastic:
            out.add("stochastic")
        return out

    def initial_state(self, v: np.ndarray) -> dict[str, np.ndarray]:
        """Every state variable's value at the start: ``v`` (if the model has
        a ``v``), 0 for the other variables, the per-neuron parameters."""
        state = {var: np.zeros_like(v) for var in self.state_variables}
        if "v" in state:
            state["v"] = v
        state.update({name: value for name, value in self.parameters.items() if np.ndim(value) == 1})
        return state

    def check_size(self, n: int, owner: str) -> None:
        """Per-neuron parameters must have one value per neuron."""
        for name, value in self.parameters.items():
            if np.ndim(value) == 1 and len(value) != n:
                raise ValueError(f"{owner}: NeuronModel parameter {name!r} has {len(value)} values, the population "
                                 f"{n} neurons: it must have one value per neuron")

    def validate_dt(self, dt: float, owner: str) -> None:
        """Accept any ``dt`` (s) in which ``refractory`` spans at most :data:`~neuroai.validation.MAX_STEPS`
        steps: the integration method written in the model is the user's choice."""
        check.whole_steps(owner, "refractory", self.refractory, dt, rounding=True)

    def validate_current(self, tau: float, owner: str) -> None:
        """Always raise ValueError (naming ``owner``): a NeuronModel takes no ExponentialCurrent input;
        synaptic currents are written into its equations and fed through :class:`~neuroai.Delta` synapses."""
        raise ValueError(f"{owner}: a NeuronModel population takes its input through Delta synapses aimed at one of "
                         f"its variables {list(self.state_variables)}; write a synaptic current into its "
                         f"equations (e.g. 'dI_syn/dt = -I_syn/tau_syn : 1') and connect with Delta('I_syn'), "
                         f"not ExponentialCurrent")

    def refractory_steps(self, dt: float) -> int:
        """``refractory`` in whole steps of ``dt`` (both in seconds)."""
        return int(round(self.refractory / dt))

    def dimension(self, variable: str) -> tuple[float, ...]:
        """The dimension of a variable or parameter: Brian2's seven exponents
        (metre, kilogram, second, amp, kelvin, mole, candela)."""
        return self.dimensions[variable]

    def __repr__(self) -> str:
        return (f"NeuronModel({self.equations!r}, threshold={self.threshold!r}, reset={self.reset!r}, "
                f"refractory={self.refractory!r}, method={self.method!r}, parameters={sorted(self.parameters)})")


#: Names with a meaning in every synapse model (Brian2's).
SYNAPSE_BUILTINS = BUILTINS | {"j", "N_pre", "N_post", "N_incoming", "N_outgoing", "lastupdate"}
_SYNAPSE_FLAGS = {"clock-driven", "event-driven", "summed", "constant"}


@dataclass(frozen=True, eq=False)
class SynapseModel:
    r"""A synapse model written as equations, in Brian2's ``Synapses`` syntax.

    .. code-block:: python

        stdp = SynapseModel(
            '''w : 1
               dapre/dt = -apre/tau_pre : 1 (event-driven)
               dapost/dt = -apost/tau_post : 1 (event-driven)''',
            on_pre="v_post += w\napre += a_plus\nw = clip(w + apost, 0, w_max)",
            on_post="apost -= a_minus\nw = clip(w + apre, 0, w_max)",
            parameters=dict(tau_pre=20e-3, tau_post=20e-3, a_plus=0.01, a_minus=0.0105, w_max=1.0))
        net.connect("inp", "p", weight=0.5, synapse_model=stdp)

    - model: per-synapse variables (``w : 1``), differential equations flagged
      ``(clock-driven)`` (integrated every step) or ``(event-driven)``
      (integrated exactly from the last event when a spike arrives),
      subexpressions, and summed variables (``I_syn_post = g*s : 1
      (summed)``: the target neuron's variable ``I_syn``, declared in its
      model, is set every step to the sum over its synapses).
    - on_pre: statements run for each synapse when its presynaptic spike
      arrives (after the projection's delay): they read and change
      synaptic variables and the neurons' variables, named with a
      ``_pre`` or ``_post`` suffix (``v_post += w`` is how a spike acts
      on its target at all). None: nothing happens.
    - on_post: statements run when the postsynaptic neuron spikes. None: nothing.
    - parameters: name -> value of every other identifier (SI float or Brian2
      quantity; a float's unit is inferred from the equations once the
      model is connected and its ``_pre``/``_post`` variables are known).
    - method: Brian2's integration method of the clock-driven equations (as
      for :class:`NeuronModel`); None: Brian2's default choice.
    - weight: the per-synapse variable that ``connect``'s ``weight`` sets,
      that training changes (gradients flow into it where a statement adds
      it to a neuron's variable on a spike) and that ``to_network`` reads back.
    - init: starting value of other per-synapse variables (name -> SI float or
      quantity, one value for all synapses); the others start at 0.

    Event order is Brian2's: summed variables and clock-driven equations
    before the neurons' integration; then thresholds; then the ``on_pre``
    statements of every projection, in the network's order; then the
    ``on_post`` ones; then resets. Writes to a neuron variable flagged
    ``(unless refractory)`` are discarded while that neuron is refractory.
    """

    model: str
    on_pre: str | None = None
    on_post: str | None = None
    parameters: dict = field(default_factory=dict)
    method: str | tuple[str, ...] | None = None
    weight: str = "w"
    init: dict = field(default_factory=dict)
    feature = "SynapseModel"
    target_variable = None  # (a synapse model's statements say what it changes)

    def __post_init__(self):
        owner = "SynapseModel"
        equations, units = _brian2()
        if not isinstance(self.model, str):
            raise TypeError(f"{owner}: 'model' must be a string in Brian2's Synapses syntax, got "
                            f"{type(self.model).__name__}")
        try:
            eqs = equations.Equations(self.model)
        except Exception as exc:  # Brian2 raises SyntaxError, EquationError, ValueError, TypeError
            raise ValueError(f"{owner}: the model does not parse: {exc}") from exc
        for eq in eqs.values():
            odd = set(eq.flags) - _SYNAPSE_FLAGS
            if odd:
                raise ValueError(f"{owner}: {eq.varname!r} has flags {sorted(odd)}; a synapse model knows "
                                 f"{sorted(_SYNAPSE_FLAGS)} only, not others")
            if eq.type == "differential equation" and not {"clock-driven", "event-driven"} & set(eq.flags):
                raise ValueError(f"{owner}: the differential equation of {eq.varname!r} must be flagged "
                                 f"(clock-driven) or (event-driven)")
            if "summed" in eq.flags and not eq.varname.endswith(("_pre", "_post")):
                raise ValueError(f"{owner}: the summed variable {eq.varname!r} must name a neuron's variable "
                                 f"with a '_post' (or '_pre') suffix")
        declared = {eq.varname: eq for eq in eqs.values() if "summed" not in eq.flags}
        bad = sorted(set(declared) & (RESERVED | SYNAPSE_BUILTINS))
        if bad:
            raise ValueError(f"{owner}: {bad} are Brian2's own names; they must be renamed")
        variables = tuple(name for name, eq in declared.items() if eq.type != "subexpression")
        if not isinstance(self.weight, str) or self.weight not in variables:
            raise ValueError(f"{owner}: 'weight' must name a per-synapse variable of the model {list(variables)}, "
                             f"got {self.weight!r} (declare it, e.g. 'w : 1')")
        NeuronModel._check_method(self, owner)
        clock_driven = [eq for eq in eqs.values() if "event-driven" not in eq.flags and "summed" not in eq.flags]
        _check_integrable(owner, equations.Equations(clock_driven), self.method)
        statements = {}
        for what in ("on_pre", "on_post"):
            text = getattr(self, what)
            if text is not None and (not isinstance(text, str) or not text.strip()):
                raise TypeError(f"{owner}: {what!r} must be a non-empty string of statements or None, got {text!r}")
            statements[what] = ([] if text is None else
                                _statements(owner, what, text, lambda v: v in variables or _is_neuron_side(v),
                                            f"a variable of the synapse ({list(variables)}) or of a neuron "
                                            f"(with a '_pre' or '_post' suffix)"))
        used = set(eqs.identifiers)
        for eq in eqs.values():
            if "summed" in eq.flags:
                used.add(eq.varname)
        for lines in statements.values():
            for target, _, expr in lines:
                used |= {target} | {n.id for n in ast.walk(expr) if isinstance(n, ast.Name)}
        given = set(self.parameters) if isinstance(self.parameters, dict) else set()
        neuron_side = {n for n in used if _is_neuron_side(n) and n not in declared and n not in given}
        values, given_dims = _parameter_values(owner, self.parameters, set(declared) | neuron_side,
                                               used - {"j", "N_pre", "N_post", "N_incoming", "N_outgoing",
                                                       "lastupdate"}, per_element=None)
        object.__setattr__(self, "parameters", values)
        init = {}
        if not isinstance(self.init, dict):
            raise TypeError(f"{owner}: 'init' must be a dict of variable -> starting value, got "
                            f"{type(self.init).__name__}")
        for name, value in self.init.items():
            if name not in variables or name == self.weight:
                raise ValueError(f"{owner}: 'init' may set {[v for v in variables if v != self.weight]} (the "
                                 f"weight comes from connect's 'weight'), got {name!r}")
            unit = _unit_name(declared[name].dim)
            init[name] = check.real(owner, f"init[{name!r}]", value, unit=unit)
        object.__setattr__(self, "init", init)
        object.__setattr__(self, "_eqs", eqs)
        object.__setattr__(self, "_statements", statements)
        object.__setattr__(self, "_given_dims", given_dims)
        object.__setattr__(self, "variables", variables)
        object.__setattr__(self, "neuron_variables", {
            side: tuple(sorted(n[:-len(side) - 1] for n in neuron_side if n.endswith("_" + side)))
            for side in ("pre", "post")})
        object.__setattr__(self, "summed", tuple(sorted(eq.varname for eq in eqs.values() if "summed" in eq.flags)))
        written = {target for lines in statements.values() for target, _, _ in lines}
        written |= {eq.varname for eq in eqs.values() if eq.type == "differential equation"}
        object.__setattr__(self, "written", frozenset(written))
        object.__setattr__(self, "stochastic", bool(eqs.stochastic_variables or used & {"rand", "randn", "poisson"}))
        object.__setattr__(self, "dimensions", None)  # set by bound_to, when connected

    @property
    def features(self) -> set[str]:
        """Capabilities a backend needs to run this synapse model: ``"SynapseModel"``, plus ``"stochastic"``
        if the model uses noise or random functions."""
        return {"SynapseModel"} | ({"stochastic"} if self.stochastic else set())

    @property
    def learns(self) -> bool:
        """Whether the model changes its weight variable during a run."""
        return self.weight in self.written

    def bound_to(self, owner: str, pre: dict | None, post: dict) -> "SynapseModel":
        """This model connected from a source whose variables have dimensions
        ``pre`` (variable -> seven exponents; None for an input, which has
        none) to a target with variables ``post``: every ``_pre``/``_post``
        name must exist there, and the units of float parameters are inferred.
        Returns a copy that knows every dimension (``dimension``)."""
        sides = {"pre": pre or {}, "post": post}
        own = {name for name, eq in self._eqs.items() if "summed" not in eq.flags}
        for side, variables in sides.items():
            clash = sorted(own & set(variables))
            if clash:
                raise ValueError(f"{owner}: the synapse model's variables {clash} have the names of variables of "
                                 f"its {side}synaptic neurons, which Brian2 refuses (it could not tell 'x' from "
                                 f"'x_{side}'); rename them in the synapse model")
        known = {name: np.asarray(eq.dim._dims, dtype=np.float64) for name, eq in self._eqs.items()
                 if "summed" not in eq.flags}
        for side, names in self.neuron_variables.items():
            hidden = sorted(p for p in self.parameters if p.endswith("_" + side) and p[:-len(side) - 1] in sides[side])
            if hidden:
                raise ValueError(f"{owner}: parameters {hidden} would read the {side}synaptic neurons' variables "
                                 f"of that name in Brian2; they must be renamed")
            missing = sorted(set(names) - set(sides[side]))
            if missing:
                where = "an input, which has no variables" if side == "pre" and pre is None else \
                    f"its {side}synaptic population, whose variables are {sorted(sides[side])}"
                raise ValueError(f"{owner}: the synapse model uses {[f'{n}_{side}' for n in missing]}, but "
                                 f"{where}; it must use variables that exist there")
            known.update({f"{n}_{side}": np.asarray(sides[side][n], dtype=np.float64) for n in names})
        for name in self.summed:
            side = "pre" if name.endswith("_pre") else "post"
            var = name[:-len(side) - 1]
            if var not in sides[side]:
                raise ValueError(f"{owner}: the summed variable {name!r} needs a variable {var!r} in the "
                                 f"{side}synaptic population (declare it in its NeuronModel, e.g. '{var} : 1')")
            declared = np.asarray(self._eqs[name].dim._dims, dtype=np.float64)
            if np.any(declared != sides[side][var]):
                raise ValueError(f"{owner}: the summed variable {name!r} is declared in other units than "
                                 f"{var!r} of the {side}synaptic population; they must agree")
            known[name] = declared
        known.update(self._given_dims)
        known.update({"t": _SECOND, "dt": _SECOND, "lastupdate": _SECOND,
                      **{xi: -0.5 * _SECOND for xi in self._eqs.stochastic_variables}})
        equations, _ = _brian2()
        table = {name: np.asarray(u.dim._dims, dtype=np.float64) for name, u in equations.DEFAULT_UNITS.items()}
        floats = set(self.parameters) - set(self._given_dims)
        system = _Constraints(owner, known, floats, table)
        for eq in self._eqs.ordered + [self._eqs[name] for name in self.summed]:
            if eq.expr is None:
                continue
            where = f"the equation of {eq.varname!r} ({eq.expr.code})"
            rhs = system.of(_parse(owner, where, eq.expr.code, "eval").body, where)
            target = _Linear(known[eq.varname])
            if eq.type == "differential equation":
                target = target + _Linear(-_SECOND)
            system.equal(rhs, target, where)
        for what, lines in self._statements.items():
            for var, op, expr in lines:
                where = f"{what}: {var} {'=' if op == '=' else _OPERATORS[op]} {ast.unparse(expr)}"
                rhs = system.of(expr, where)
                system.equal(rhs, _Linear(known[var]) if op in ("=", "Add", "Sub") else _DIMENSIONLESS, where)
        dims = {**known, **system.solve()}
        bound = copy.copy(self)
        object.__setattr__(bound, "dimensions", {k: tuple(float(x) for x in v) for k, v in dims.items()})
        return bound

    def dimension(self, variable: str) -> tuple[float, ...]:
        """The dimension of a variable or parameter of a connected model (see ``bound_to``)."""
        if self.dimensions is None:
            raise RuntimeError("SynapseModel: the dimensions are known once the model is connected")
        return self.dimensions[variable]

    def __repr__(self) -> str:
        return (f"SynapseModel({self.model!r}, on_pre={self.on_pre!r}, on_post={self.on_post!r}, "
                f"parameters={sorted(self.parameters)}, weight={self.weight!r})")


_OPERATORS = {"Add": "+=", "Sub": "-=", "Mult": "*=", "Div": "/="}


def _check_integrable(owner: str, eqs, method) -> None:
    """Raise ValueError (naming ``owner``) if Brian2's integration ``method`` (a name or a tuple of them to try;
    None: Brian2 chooses, always something) cannot integrate the differential equations of ``eqs``, as Brian2
    would find when the model is built. Tried symbolically, without the model's variables: where that is
    inconclusive, the backend's build decides."""
    from brian2.stateupdaters.base import StateUpdateMethod, UnsupportedEquationsException

    if method is None or not eqs.diff_eq_names:
        return
    try:
        StateUpdateMethod.apply_stateupdater(eqs, {}, method)
    except UnsupportedEquationsException as exc:
        raise ValueError(f"{owner}: 'method' must be able to integrate the equations, but Brian2's {method!r} "
                         f"cannot: {exc}") from exc
    except Exception:  # noqa: BLE001 -- inconclusive without the model's variables: the build decides
        return


def _is_neuron_side(name: str) -> bool:
    """Whether ``name`` reads a neuron's variable through a synapse (``v_post``, ``x_pre``)."""
    base, _, side = name.rpartition("_")
    return side in ("pre", "post") and base.isidentifier()


def _unit_name(dim) -> str:
    """A Brian2 dimension as the unit name ``validation.real`` checks against."""
    from brian2.units.fundamentalunits import get_unit

    return "1" if dim.is_dimensionless else repr(get_unit(dim))


def variable_dimensions(model) -> dict[str, tuple[float, ...]]:
    """Each state variable of a neuron model (built-in or written) -> its
    dimension (Brian2's seven exponents)."""
    if isinstance(model, NeuronModel):
        return {var: model.dimension(var) for var in model.state_variables}
    import brian2

    return {var: tuple(float(x) for x in (np.zeros(_BASE) if unit == "1" else getattr(brian2, unit).dim._dims))
            for var, unit in model.variable_units.items()}


def _parse(owner: str, what: str, text: str, mode: str) -> ast.AST:
    try:
        return ast.parse(text.strip(), mode=mode)
    except SyntaxError as exc:
        raise ValueError(f"{owner}: the {what} {text!r} does not parse: {exc.msg}") from exc


def _is_condition(node: ast.AST, declared) -> bool:
    if isinstance(node, ast.Compare):
        return True
    if isinstance(node, ast.BoolOp):
        return all(_is_condition(v, declared) for v in node.values)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return _is_condition(node.operand, declared)
    if isinstance(node, ast.Constant):
        return isinstance(node.value, bool)
    return isinstance(node, ast.Name) and node.id in declared and declared[node.id].var_type == "boolean"


def _reset_statements(owner: str, text: str, declared) -> list[tuple[str, str, ast.AST]]:
    """(variable, operator, expression tree) of each reset statement."""
    return _statements(owner, "reset", text, lambda v: v in declared, f"one variable of the model "
                                                                       f"({sorted(declared)})")


def _statements(owner: str, what: str, text: str, assignable, expected: str) -> list[tuple[str, str, ast.AST]]:
    """(variable, operator, expression tree) of each line of ``text``, an
    assignment (``=``, ``+=``, ``-=``, ``*=``, ``/=``) to a variable for which
    ``assignable`` is true."""
    statements = []
    for k, line in enumerate(l.strip() for l in text.strip().splitlines()):
        if not line or line.startswith("#"):
            continue
        tree = _parse(owner, f"{what} line {k + 1}", line, "exec").body
        if (len(tree) != 1 or not isinstance(tree[0], (ast.Assign, ast.AugAssign))
                or isinstance(tree[0], ast.AugAssign) and type(tree[0].op).__name__ not in _OPERATORS):
            raise ValueError(f"{owner}: {what} line {k + 1} {line!r} must be an assignment such as 'v = v_r' or "
                             f"'w += b'")
        stmt = tree[0]
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        if len(targets) != 1 or not isinstance(targets[0], ast.Name) or not assignable(targets[0].id):
            raise ValueError(f"{owner}: {what} line {k + 1} {line!r} must assign {expected}")
        op = "=" if isinstance(stmt, ast.Assign) else type(stmt.op).__name__
        _check_defined(owner, f"{what} line {k + 1} {line!r}", stmt.value)
        statements.append((targets[0].id, op, stmt.value))
    return statements


def _check_defined(owner: str, where: str, expression: ast.AST) -> None:
    """Raise ValueError if Brian2, which simplifies statements with sympy before it generates code, would
    find ``expression`` undefined or infinite (``w / 0`` is sympy's complex infinity, which no code can
    hold). Where sympy cannot read it, the build decides."""
    import sympy
    from brian2.parsing.sympytools import str_to_sympy

    try:
        value = str_to_sympy(ast.unparse(expression))
    except Exception:  # noqa: BLE001 -- not sympy's to judge: Brian2's build reports it
        return
    if value.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
        raise ValueError(f"{owner}: {where} must be finite, but it simplifies to {value} (a division by zero or "
                         f"an infinite constant)")


# --- units: the dimension of float parameters, from the equations ----------

class _Linear:
    """A dimension as a linear form: a known part (7 exponents) plus a
    combination of the unknown dimensions of float parameters."""

    def __init__(self, known=None, unknown=None):
        self.known = np.zeros(_BASE) if known is None else np.asarray(known, dtype=np.float64)
        self.unknown = dict(unknown or {})

    def __add__(self, other):
        terms = dict(self.unknown)
        for k, a in other.unknown.items():
            terms[k] = terms.get(k, 0.0) + a
        return _Linear(self.known + other.known, terms)

    def scale(self, factor: float) -> "_Linear":
        return _Linear(self.known * factor, {k: a * factor for k, a in self.unknown.items()})


_DIMENSIONLESS = _Linear()


class _Constraints:
    """Collects "these two dimensions are equal" while walking expressions."""

    def __init__(self, owner, known, unknown, units_table):
        self.owner, self.known, self.unknown, self.units = owner, known, unknown, units_table
        self.rows: list[tuple[_Linear, str]] = []  # (difference that must vanish, where)

    def equal(self, a: _Linear, b: _Linear, where: str) -> None:
        self.rows.append((a + b.scale(-1.0), where))

    def of(self, node: ast.AST, where: str) -> _Linear:
        """The dimension of expression ``node``."""
        if isinstance(node, ast.Constant):
            return _Linear()
        if isinstance(node, ast.Name):
            if node.id in self.known:
                return _Linear(self.known[node.id])
            if node.id in self.unknown:
                return _Linear(unknown={node.id: 1.0})
            if node.id in self.units:
                return _Linear(self.units[node.id])
            return _Linear()  # i, N, pi, e, inf, True, ...
        if isinstance(node, ast.UnaryOp):
            return self.of(node.operand, where) if not isinstance(node.op, ast.Not) else _Linear()
        if isinstance(node, ast.BinOp):
            left, right = self.of(node.left, where), self.of(node.right, where)
            if isinstance(node.op, (ast.Add, ast.Sub, ast.Mod)):
                return self._same(node.left, left, node.right, right, where)
            if isinstance(node.op, ast.Mult):
                return left + right
            if isinstance(node.op, (ast.Div, ast.FloorDiv)):
                return left + right.scale(-1.0)
            if isinstance(node.op, ast.Pow):
                exponent = _number(node.right)
                if exponent is None:
                    self.equal(left, _DIMENSIONLESS, where)
                    self.equal(right, _DIMENSIONLESS, where)
                    return _Linear()
                return left.scale(exponent)
        if isinstance(node, ast.Compare):
            dims = [self.of(node.left, where)] + [self.of(c, where) for c in node.comparators]
            nodes = [node.left] + list(node.comparators)
            for a, b, na, nb in zip(dims, dims[1:], nodes, nodes[1:]):
                self._same(na, a, nb, b, where)
            return _Linear()
        if isinstance(node, ast.BoolOp):
            for v in node.values:
                self.of(v, where)
            return _Linear()
        if isinstance(node, ast.IfExp):
            self.of(node.test, where)
            return self._same(node.body, self.of(node.body, where), node.orelse, self.of(node.orelse, where), where)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            return self._call(node, where)
        raise ValueError(f"{self.owner}: {where}: cannot read {ast.unparse(node)!r} (unsupported construct "
                         f"{type(node).__name__}, not one of Brian2's expressions)")

    def _same(self, na, a, nb, b, where):
        """The dimension of ``a + b``: they must agree (as Brian2 checks them, a literal 0 included)."""
        self.equal(a, b, where)
        return a

    def _call(self, node, where):
        name, args = node.func.id, [self.of(a, where) for a in node.args]
        if name in _PURE or name in ("int", "sign", "rand", "randn", "poisson"):
            for a in args:
                self.equal(a, _DIMENSIONLESS, where)
            return _Linear()
        if name == "sqrt" and len(args) == 1:
            return args[0].scale(0.5)
        if name in ("abs", "floor", "ceil") and len(args) == 1:
            return args[0]
        if name == "clip" and len(args) == 3:
            for na, a in zip(node.args[1:], args[1:]):
                self._same(node.args[0], args[0], na, a, where)
            return args[0]
        if name == "timestep" and len(args) == 2:
            return _Linear()
        raise ValueError(f"{self.owner}: {where}: unknown function {name!r} (Brian2's functions: exp, log, sqrt, "
                         f"sin, cos, tanh, abs, clip, floor, ceil, exprel, ...)")

    def solve(self) -> dict[str, np.ndarray]:
        """The unknown dimensions; an error names the line where they clash."""
        names = sorted(self.unknown)
        col = {name: k for k, name in enumerate(names)}
        A = np.zeros((len(self.rows), len(names)))
        b = np.zeros((len(self.rows), _BASE))
        for r, (diff, _) in enumerate(self.rows):
            for name, a in diff.unknown.items():
                A[r, col[name]] += a
            b[r] = -diff.known
        solution = np.zeros((len(names), _BASE))
        if names and len(self.rows):
            solution = np.linalg.lstsq(A, b, rcond=None)[0]
            free = _null_space(A)
            ambiguous = [names[k] for k in range(len(names)) if np.any(np.abs(free[k]) > 1e-9) and A[:, k].any()]
            if ambiguous:
                raise ValueError(f"{self.owner}: the units of parameters {ambiguous} cannot be told apart from the "
                                 f"equations; they must be given as Brian2 quantities (e.g. 10*ms, 2*nS)")
            solution = np.round(solution * 2) / 2  # dimensions are whole or half exponents
        for diff, where in self.rows:
            residual = diff.known + sum((a * solution[col[n]] for n, a in diff.unknown.items()), np.zeros(_BASE))
            if np.any(np.abs(residual) > 1e-9):
                involved = f" (parameters involved: {sorted(diff.unknown)})" if diff.unknown else ""
                raise ValueError(f"{self.owner}: inconsistent units in {where}{involved}; the terms must have the same "
                                 f"units")
        return {name: solution[col[name]] for name in names}


def _null_space(A: np.ndarray) -> np.ndarray:
    """Columns spanning the null space of A (shape (n_unknown, k))."""
    if A.size == 0:
        return np.eye(A.shape[1])
    _, s, vt = np.linalg.svd(A)
    rank = int(np.sum(s > 1e-9))
    return vt[rank:].T


def _number(node) -> float | None:
    """The value of a numeric literal (possibly negated), else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _number(node.operand)
        return None if inner is None else -inner
    return None


def _infer_dimensions(owner, eqs, threshold, reset, declared_dims, given_dims, floats: set[str]):
    """Dimensions of every parameter: those given as quantities, checked; the
    ``floats``, inferred from the equations, threshold and reset."""
    equations, _ = _brian2()
    table = {name: np.asarray(u.dim._dims, dtype=np.float64) for name, u in equations.DEFAULT_UNITS.items()}
    known = {**declared_dims, **given_dims, "t": _SECOND, "dt": _SECOND,
             **{xi: -0.5 * _SECOND for xi in eqs.stochastic_variables}}
    system = _Constraints(owner, known, floats, table)
    for eq in eqs.ordered:
        if eq.expr is None:
            continue
        where = f"the equation of {eq.varname!r} ({eq.expr.code})"
        rhs = system.of(_parse(owner, where, eq.expr.code, "eval").body, where)
        target = _Linear(declared_dims[eq.varname])
        if eq.type == "differential equation":
            target = target + _Linear(-_SECOND)
        system.equal(rhs, target, where)
    if threshold is not None:
        system.of(threshold.body, f"the threshold ({ast.unparse(threshold)})")
    for var, _, expr in reset:
        where = f"the reset of {var!r} ({ast.unparse(expr)})"
        system.equal(system.of(expr, where), _Linear(declared_dims[var]), where)
    return system.solve()
