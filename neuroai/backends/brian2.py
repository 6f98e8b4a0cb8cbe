"""Brian2 backend: a Network becomes NeuronGroups, SpikeGeneratorGroups and
Synapses in one ``brian2.Network``, integrated by Brian2's own integrators
(``exact`` for linear models, ``euler`` for nonlinear ones) on Brian2's
default schedule (groups, thresholds, synapses, resets).
"""
from __future__ import annotations

import contextlib
import gc
import logging
import os
import re
import shutil
import sys
import tempfile

_HOOK_BEFORE_BRIAN2 = sys.excepthook  # Brian2 installs its own when imported

import brian2 as b2  # noqa: E402
import numpy as np  # noqa: E402
from brian2.core.base import BrianObjectException  # noqa: E402
from brian2.devices.device import reset_device  # noqa: E402
from brian2.utils.logger import brian_excepthook  # noqa: E402

from . import FINITE_CHECK_EVERY, BackendError, nonfinite  # noqa: E402
from ..equations import NeuronModel, SynapseModel  # noqa: E402
from ..network import SIGNS, Network  # noqa: E402
from ..neurons import LIF, AdaptiveLIF, AdEx, HodgkinHuxley, Izhikevich
from ..plasticity import BCM, CLOCK_DRIVEN_TRACE, STDP, Hebbian, Oja, RewardSTDP, TripletSTDP
from ..results import Spikes, Trace
from ..synapses import ExponentialConductance, ExponentialCurrent

CAPABILITIES = frozenset({"LIF", "AdaptiveLIF", "Izhikevich", "AdEx", "HodgkinHuxley", "NeuronModel", "SynapseModel",
                          "stochastic", "reset:subtract", "refractory", "Delta", "ExponentialCurrent",
                          "ExponentialConductance", "delay", "STDP", "TripletSTDP", "RewardSTDP", "Hebbian", "Oja", "BCM",
                          "SynapticNormalization"})
EQUATION_LANGUAGE = {  # what this backend runs of the equations of NeuronModel and SynapseModel
    "integration methods": "all of Brian2's (GSL ones: target='cython' or 'cpp_standalone')",
    "functions": "all of Brian2's",
    "noise and random numbers (xi, rand, randn, poisson)": "yes",
    "clock-driven and event-driven synaptic equations": "yes",
    "summed variables": "yes",
    "synaptic statements that read a neuron's variable changed before them": "yes",
    "synaptic '*=' and '/=' onto neurons' variables": "yes",
}

_UNITS = {  # Brian2 unit of voltages, currents, resistances and conductances, per model units
    "dimensionless": {"v": b2.Unit(1), "I": b2.Unit(1), "R": b2.Unit(1), "g": b2.Unit(1)},
    "physical": {"v": b2.volt, "I": b2.amp, "R": b2.ohm, "g": b2.siemens},
}
_UNIT_NAMES = {"dimensionless": {"v": "1", "I": "1", "g": "1"},
               "physical": {"v": "volt", "I": "amp", "g": "siemens"}}


def _built_in(m, drive: str, dt: float):
    """LIF, AdaptiveLIF, Izhikevich, AdEx: the equations the model states (``m.equations``)."""
    eqs = m.equations(dt)
    namespace = {name: value * _unit(unit) for name, (value, unit) in eqs.parameters.items()}
    units = {var: _unit(unit) for var, unit in m.variable_units.items()}
    return ([eqs.with_drive(drive)], eqs.threshold, eqs.reset, namespace, eqs.method,
            int(round(eqs.refractory / dt)), units)


def _unit(name: str):
    """Brian2's unit of that name ("1": dimensionless)."""
    return b2.Unit(1) if name == "1" else getattr(b2, name)


def _hodgkin_huxley(m, drive: str, dt: float):
    eqs = [f"dv/dt = (g_Na*m**3*h*(E_Na - v) + g_K*n**4*(E_K - v) + g_L*(E_L - v) + {drive})/C : volt",
           "dm/dt = alpha_m*(1 - m) - beta_m*m : 1",
           "dh/dt = alpha_h*(1 - h) - beta_h*h : 1",
           "dn/dt = alpha_n*(1 - n) - beta_n*n : 1",
           "alpha_m = 1/exprel(-(v + 40*mV)/(10*mV))/ms : Hz",
           "beta_m = 4*exp(-(v + 65*mV)/(18*mV))/ms : Hz",
           "alpha_h = 0.07*exp(-(v + 65*mV)/(20*mV))/ms : Hz",
           "beta_h = 1/(1 + exp(-(v + 35*mV)/(10*mV)))/ms : Hz",
           "alpha_n = 0.1/exprel(-(v + 55*mV)/(10*mV))/ms : Hz",
           "beta_n = 0.125*exp(-(v + 65*mV)/(80*mV))/ms : Hz"]
    namespace = dict(C=m.C * b2.farad, g_Na=m.g_Na * b2.siemens, g_K=m.g_K * b2.siemens, g_L=m.g_L * b2.siemens,
                     E_Na=m.E_Na * b2.volt, E_K=m.E_K * b2.volt, E_L=m.E_L * b2.volt, i_bias=m.i_bias * b2.amp,
                     v_spike=m.v_spike * b2.volt, mV=b2.mV, ms=b2.ms)
    units = {"v": b2.volt, "m": 1, "h": 1, "n": 1}
    # no reset: one spike per upward crossing (refractory while above v_spike)
    return eqs, "v > v_spike", None, namespace, "exponential_euler", "v > v_spike", units


def _quantity(value, dims):
    """``value`` (SI float or array) as a Brian2 quantity of dimension ``dims`` (seven exponents)."""
    from brian2.units.fundamentalunits import get_or_create_dimension

    return b2.Quantity(value, dim=get_or_create_dimension(dims))


def _unit_string(dims) -> str:
    """How equations write a unit of dimension ``dims``."""
    from brian2.units.fundamentalunits import get_or_create_dimension, get_unit

    return repr(get_unit(get_or_create_dimension(dims))) if any(dims) else "1"


def _equation_model(m: NeuronModel, drive: str, dt: float):
    """A NeuronModel as written; per-neuron parameters become constant variables."""
    per_neuron = [p for p, value in m.parameters.items() if np.ndim(value) == 1]
    eqs = [m.equations] + [f"{p} : {_unit_string(m.dimension(p))} (constant)" for p in per_neuron]
    namespace = {p: _quantity(value, m.dimension(p)) for p, value in m.parameters.items() if p not in per_neuron}
    units = {var: _quantity(1.0, m.dimension(var)) for var in m.state_variables}
    method = m.method if m.method is not None else ("exact", "euler", "heun")  # Brian2's default choice
    return eqs, m.threshold, m.reset, namespace, method, m.refractory_steps(dt), units


_MODELS = {LIF: _built_in, AdaptiveLIF: _built_in, Izhikevich: _built_in, AdEx: _built_in,
           HodgkinHuxley: _hodgkin_huxley, NeuronModel: _equation_model}


def _identifier(network: Network, population: str, variable: str) -> str:
    """The Brian2 name of a population's variable. Synaptic currents and
    conductances, which users name, are prefixed (``I_``, ``g_``) so that no
    name can clash with a model's constants, a Brian2 unit, function or
    reserved word, and so that Brian2 orders their terms as the torch backend
    sums them, whatever the names."""
    if any(variable == c for c, _ in network.currents(population)):
        return f"I_{variable}"
    if any(variable == g for g, _, _ in network.conductances(population)):
        return f"g_{variable}"
    return variable


def _neuron_group(network: Network, pop, dt, codeobj_class=None):
    """A NeuronGroup for one population: the model's equations plus one
    exponentially decaying variable per synaptic current and conductance.
    Conductances make a linear model's ``exact`` integration exponential Euler.
    (``codeobj_class``: Brian2's code-object class, for the torch backend,
    which reads the code Brian2 generates for the group.)"""
    m = pop.model
    currents = [(_identifier(network, pop.name, c), tau) for c, tau in network.currents(pop.name)]
    conductances = [(_identifier(network, pop.name, g), tau, e_rev) for g, tau, e_rev in network.conductances(pop.name)]
    drive = " + ".join(["i_bias"] + [c for c, _ in currents] + [f"{g}*(E_{g} - v)" for g, _, _ in conductances])
    eqs, threshold, reset, namespace, method, refractory, units = _MODELS[type(m)](m, drive, network.dt)
    if conductances and method == "exact":
        method = "exponential_euler"
    for g, tau, e_rev in conductances:
        eqs.append(f"d{g}/dt = -{g}/tau_{g} : {_UNIT_NAMES[m.units]['g']}")
        namespace.update({f"tau_{g}": tau * b2.second, f"E_{g}": e_rev * _UNITS[m.units]["v"]})
    if isinstance(refractory, int):  # whole steps (0: none); otherwise a condition such as "v > v_spike"
        refractory = refractory * dt if refractory else False
    i_unit = _UNIT_NAMES[m.units]["I"]
    for c, tau in currents:
        eqs.append(f"d{c}/dt = -{c}/tau_{c} : {i_unit}")
        namespace[f"tau_{c}"] = tau * b2.second
    group = b2.NeuronGroup(pop.n, "\n".join(eqs), threshold=threshold, reset=reset,
                           refractory=refractory,
                           method=method, namespace=namespace, dt=dt, name=f"neuroai_population_{pop.name}",
                           codeobj_class=codeobj_class)
    for var, value in pop.initial_state().items():
        setattr(group, var, value * units[var])
    return group


def _signal(name: str) -> str:
    """The Brian2 name of a network signal's TimedArray (prefixed, like synaptic variables)."""
    return f"signal_{name}"


def _spike_timing(rule, w_unit) -> tuple[str, str, str, dict]:
    """(model, on_pre, on_post, namespace) of STDP and triplet STDP: the equations the rule states."""
    eqs = rule.equations()
    units = {"second": b2.second, "weight": w_unit, "1": 1}
    namespace = {p: value * units[unit] for p, (value, unit) in eqs.parameters.items()
                 if p not in ("w_min", "w_max")}  # (set for every rule in _synapses)
    return eqs.model, eqs.on_pre.format(w="weight"), eqs.on_post.format(w="weight"), namespace


def _reward_stdp(rule, w_unit) -> tuple[str, str, str, dict]:
    """(model, on_pre, on_post, namespace) of reward-modulated STDP: STDP
    events change the eligibility ``elig``; the weight moves at the end of
    each step (see ``_synapses``)."""
    model = "".join(CLOCK_DRIVEN_TRACE.format(t, tau) for t, tau in
                    (("apre", "tau_pre"), ("apost", "tau_post"), ("elig", "tau_c")))
    on_pre = "\napre += 1.0\nelig = elig - a_minus * apost"
    on_post = "apost += 1.0\nelig = elig + a_plus * apre"
    namespace = dict(tau_pre=rule.tau_pre * b2.second, tau_post=rule.tau_post * b2.second,
                     tau_c=rule.tau_c * b2.second, a_plus=rule.a_plus, a_minus=rule.a_minus,
                     eta=rule.eta * w_unit * b2.Hz)
    return model, on_pre, on_post, namespace


_RATE_UPDATES = {  # weight step of each rate rule, taken at the end of every step
    Hebbian: "weight = clip(weight + eta * dt * (rpre * rpost - decay * weight), w_min, w_max)",
    Oja: "weight = clip(weight + eta * dt * rpost * (rpre - rpost * weight), w_min, w_max)",
    BCM: "weight = clip(weight + eta * dt * rpre * rpost * (rpost - bcm_theta), w_min, w_max)\n"
         "bcm_theta = bcm_theta + dt * (rpost ** 2 - bcm_theta) / tau_theta",
}


def _rate_rule(rule, w_unit) -> tuple[str, str, str, dict]:
    """(model, on_pre, on_post, namespace) of a rate rule: rate traces jump
    by 1/tau at each spike; the weight step is a ``run_regularly`` (see
    ``_synapses``)."""
    model = CLOCK_DRIVEN_TRACE.format("rpre", "tau_pre") + CLOCK_DRIVEN_TRACE.format("rpost", "tau_post")
    namespace = dict(tau_pre=rule.tau_pre * b2.second, tau_post=rule.tau_post * b2.second,
                     k_pre=1.0 / rule.tau_pre, k_post=1.0 / rule.tau_post, eta=rule.eta * b2.Hz)
    if isinstance(rule, Hebbian):
        namespace["decay"] = rule.decay
    if isinstance(rule, BCM):
        model += "\nbcm_theta : 1"  # (not theta: an adaptive LIF target has a variable of that name)
        namespace["tau_theta"] = rule.tau_theta * b2.second
    return model, "\nrpre += k_pre", "rpost += k_post", namespace


_RULES = {STDP: _spike_timing, TripletSTDP: _spike_timing, RewardSTDP: _reward_stdp,
          Hebbian: _rate_rule, Oja: _rate_rule, BCM: _rate_rule}


def _synapse_model(proj, source, target, dt, name: str, codeobj_class=None):
    """A projection's SynapseModel as written: its parameters in their units,
    the pre pathway delayed, the weight variable and the others set."""
    m = proj.synapse
    namespace = {p: _quantity(value, m.dimension(p)) for p, value in m.parameters.items()}
    method = m.method if m.method is not None else ("exact", "euler", "heun")  # Brian2's default choice
    delay = {"pre": proj.delay_steps * dt} if m.on_pre is not None else None
    syn = b2.Synapses(source, target, m.model, on_pre=m.on_pre, on_post=m.on_post, delay=delay,
                      namespace=namespace, method=method, dt=dt, name=name, codeobj_class=codeobj_class)
    _connect(syn, proj)
    setattr(syn, m.weight, _quantity(proj.weights, m.dimension(m.weight)))
    for var, value in m.init.items():
        setattr(syn, var, _quantity(value, m.dimension(var)))
    return syn


def _connect(syn, proj) -> None:
    if proj.n_synapses:
        syn.connect(i=proj.pre_idx, j=proj.post_idx)
    else:  # Brian2 cannot connect empty index arrays
        syn.connect(False)


def _synapses(network: Network, proj, source, target, dt, name: str):
    """A ``Synapses`` object for one projection; ``weight`` holds the
    projection's weights (magnitudes for signed projections) and ``w_sign``
    their sign. (Not ``w``: AdEx neurons have a variable of that name.)"""
    if isinstance(proj.synapse, SynapseModel):
        return _synapse_model(proj, source, target, dt, name)
    model = network.populations[proj.post].model
    if isinstance(model, NeuronModel):  # in the units of the variable that jumps
        dims = model.dimension(proj.target_variable)
        w_unit, eqs = _quantity(1.0, dims), f"weight : {_unit_string(dims)}"
    else:
        kind = {ExponentialCurrent: "I", ExponentialConductance: "g"}.get(type(proj.synapse), "v")
        w_unit, eqs = _UNITS[model.units][kind], f"weight : {_UNIT_NAMES[model.units][kind]}"
    on_pre, on_post = f"{_identifier(network, proj.post, proj.target_variable)}_post += w_sign * weight", None
    namespace = {"w_sign": SIGNS[proj.sign]}
    rule = proj.plasticity
    if rule is not None:
        more_eqs, more_pre, on_post, more_namespace = _RULES[type(rule)](rule, w_unit)
        eqs, on_pre = eqs + more_eqs, on_pre + more_pre
        namespace.update(more_namespace, w_min=rule.w_min * w_unit, w_max=rule.w_max * w_unit)
    syn = b2.Synapses(source, target, eqs, on_pre=on_pre, on_post=on_post, delay={"pre": proj.delay_steps * dt},
                      namespace=namespace, method="exact", dt=dt, name=name)
    _connect(syn, proj)
    syn.weight = proj.weights * w_unit
    if isinstance(rule, RewardSTDP):
        syn.run_regularly(f"weight = clip(weight + eta * dt * {_signal(rule.signal)}(t) * elig, w_min, w_max)",
                          when="end")
    if type(rule) in _RATE_UPDATES:
        if isinstance(rule, BCM):
            syn.bcm_theta = rule.theta0
        syn.run_regularly(_RATE_UPDATES[type(rule)], when="end")
    return syn


def _weight_variable(proj) -> str:
    """The Brian2 name of a projection's weights."""
    return proj.synapse.weight if isinstance(proj.synapse, SynapseModel) else "weight"


def _normalizer(syn, proj, n_post: int, dt):
    """A NetworkOperation scaling each target neuron's summed weight to the
    total, at the end of every ``interval`` (after the rules' updates)."""
    norm, post = proj.normalization, proj.post_idx

    def normalize():
        w = syn.weight_[:]
        sums = np.bincount(post, weights=w, minlength=n_post)  # adds synapses in order
        factor = np.divide(norm.total, sums, out=np.ones(n_post), where=sums != 0)
        syn.weight_[:] = w * factor[post]

    return b2.NetworkOperation(normalize, dt=norm.interval_steps(dt / b2.second) * dt, when="end", order=1)


def _part_named(network: Network, brian_name: str) -> str:
    """The network part (in the user's words) that a Brian2 object or code object of this backend belongs to."""
    order = re.match(r"neuroai_(\d{5})_", brian_name)
    if order and int(order[1]) < len(network.projections):
        return f"projection {list(network.projections)[int(order[1])]!r}"
    kinds = (("population", "neuroai_population_", network.populations), ("input", "neuroai_input_", network.inputs),
             ("spike monitor of", "neuroai_spikes_", network.populations),
             ("state monitor of", "neuroai_trace_", {**network.populations, **network.projections}))
    for kind, prefix, parts in kinds:
        named = [name for name in parts if brian_name.startswith(prefix + name)]
        if named:
            return f"{kind} {max(named, key=len)!r}"
    return f"Brian2 object {brian_name!r}"


@contextlib.contextmanager
def _translated_errors(network: Network, part: str | None = None):
    """Re-raise an exception from Brian2 as a :class:`BackendError` that names
    the network ``part`` being built (or, while running, the part whose Brian2
    object failed) and gives Brian2's original message."""
    try:
        yield
    except Exception as exc:
        if isinstance(exc, (BackendError, MemoryError)) or not _raised_in_brian2(exc.__traceback__):
            raise
        chain = [exc]
        while chain[-1].__cause__ is not None:
            chain.append(chain[-1].__cause__)
        wrappers = [e for e in chain if isinstance(e, BrianObjectException)]
        cause = next((e for e in chain if not isinstance(e, BrianObjectException)), exc)  # Brian2's message
        if wrappers and part is None:
            part = _part_named(network, wrappers[0]._brian_objname)
        message = cause._brian_message if isinstance(cause, BrianObjectException) else str(cause)
        raise BackendError(f"brian2 backend: {part or 'the network'} failed in Brian2 with "
                           f"{type(cause).__name__}: {message}") from exc


def _excepthook(exc_type, exc, tb):
    """Brian2's handler of uncaught exceptions (its error banner, and a debug
    log kept in the temporary folder) for Brian2's own errors only; every
    other error (neuroai's, a user's, a broken pipe) gets the handler that was
    in place before Brian2 was imported."""
    own = not issubclass(exc_type, BackendError) and _raised_in_brian2(tb)
    previous = sys.__excepthook__ if _HOOK_BEFORE_BRIAN2 is brian_excepthook else _HOOK_BEFORE_BRIAN2
    (brian_excepthook if own else previous)(exc_type, exc, tb)


def _raised_in_brian2(tb) -> bool:
    """Whether the innermost frame of traceback ``tb`` is Brian2's code."""
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and tb.tb_frame.f_code.co_filename.startswith(_BRIAN2_DIR)


_BRIAN2_DIR = os.path.dirname(b2.__file__) + os.sep
if sys.excepthook is brian_excepthook:
    sys.excepthook = _excepthook

_RUNTIME_TARGETS = ("numpy", "cython")
_STANDALONE = "cpp_standalone"
_log = logging.getLogger("neuroai")
_noticed: set[str] = set()


def _notice_compilation(target: str) -> None:
    """Say once per process that a compiled target may be silent for a while on its first run."""
    if target != "numpy" and target not in _noticed:
        _noticed.add(target)
        _log.info("brian2: generating and compiling %s code (tens of seconds for each new network part the "
                  "first time; cached for later runs)", target)


class Runner:
    """Holds one ``brian2.Network`` and runs it segment by segment.

    target: Brian2's code-generation target, ``"numpy"`` (no compilation),
    ``"cython"`` (compiled once, faster for long runs) or ``"cpp_standalone"``
    (Brian2's C++ standalone device: the whole run is generated as one C++
    program, compiled and executed at once; for large networks and long runs).

    Standalone only: ``directory``, where the C++ project is written (kept
    afterwards; running the same network again there recompiles only what
    changed), by default a fresh temporary directory removed after the run;
    ``threads``, the number of OpenMP threads (default: none, one thread).
    ``check_finite``: a ``NetworkOperation`` checks the state every
    ``FINITE_CHECK_EVERY`` steps and stops the run at the first NaN or
    infinite value; every run ends with a check (standalone: only that one).
    A standalone Runner builds its Brian2 objects inside :meth:`run`, supports
    exactly one run, no independent trials and no synaptic normalization (a
    Python ``NetworkOperation``, which standalone code cannot call).
    """

    def __init__(self, network: Network, *, target: str = "numpy", directory=None, threads: int | None = None,
                 check_finite: bool = True):
        if target not in (*_RUNTIME_TARGETS, _STANDALONE):
            raise ValueError(f"brian2 backend: 'target' must be 'numpy', 'cython' or {_STANDALONE!r} (the whole "
                             f"run compiled as one C++ program), got {target!r}")
        if target != _STANDALONE and (directory is not None or threads is not None):
            raise ValueError(f"brian2 backend: 'directory' and 'threads' apply to target={_STANDALONE!r} only, "
                             f"got target={target!r}")
        if directory is not None and not isinstance(directory, (str, os.PathLike)):
            raise TypeError(f"brian2 backend: 'directory' must be a path, got {type(directory).__name__}")
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            raise ValueError(f"brian2 backend: 'threads' must be an integer >= 1, got {threads!r}")
        self.target, self.directory, self.threads = target, directory, threads
        self.check_finite = check_finite
        self.network = network
        self.dt = network.dt
        self.sizes = {name: pop.n for name, pop in network.populations.items()}
        self.step = 0
        if target == _STANDALONE:
            normalized = [p.name for p in network.projections.values() if p.normalization is not None]
            if normalized:
                raise NotImplementedError(
                    f"brian2 backend: target={_STANDALONE!r} cannot run synaptic normalization (projections "
                    f"{normalized}): it is a Python NetworkOperation, which C++ standalone code cannot call; "
                    f"use target='cython' or 'numpy'")
            self.started = False  # whether the one run has begun
            self.final_state = None  # (weights, learned state) read back after the run
        else:
            with _translated_errors(network):
                self._build()

    def _build(self):
        """Create the Brian2 objects of the network on the current device."""
        network, dt = self.network, self.network.dt * b2.second
        self.net = b2.Network()
        self.groups, self.generators, self.synapses, self.normalizers = {}, {}, {}, []
        self.spike_monitors, self.state_monitors = {}, {}
        # Every object gets a fixed name: Brian2 writes names into the generated
        # code, and its default names (numbered by the objects alive) would make
        # a second Simulator of the same network compile its code anew.
        for pop in network.populations.values():
            with _translated_errors(network, f"population {pop.name!r}"):
                self.groups[pop.name] = self._own(_neuron_group(network, pop, dt))
        for inp in network.inputs.values():
            self.generators[inp.name] = self._own(b2.SpikeGeneratorGroup(inp.n, [], [] * b2.second, dt=dt,
                                                                         name=f"neuroai_input_{inp.name}"))
        sources = {**self.groups, **self.generators}
        # Brian2 runs synaptic pathways in the order of their names; zero-padded
        # names keep the network's projection order, which fixes the order in
        # which contributions are summed.
        for order, proj in enumerate(network.projections.values()):
            with _translated_errors(network, f"projection {proj.name!r}"):
                self.synapses[proj.name] = self._own(_synapses(network, proj, sources[proj.pre],
                                                               self.groups[proj.post], dt,
                                                               f"neuroai_{order:05d}_{proj.name}"))
                if proj.normalization is not None:
                    self.normalizers.append(self._own(_normalizer(self.synapses[proj.name], proj,
                                                                  network.size(proj.post), dt)))
        for mon in network.monitors:
            if mon.variable == "spikes":
                if mon.target in self.groups:
                    self.spike_monitors[mon.target] = self._own(b2.SpikeMonitor(
                        self.groups[mon.target], name=f"neuroai_spikes_{mon.target}"))
            else:
                owner = self.synapses[mon.target] if mon.target in self.synapses else self.groups[mon.target]
                if mon.target in self.synapses:
                    model = network.projections[mon.target].synapse
                    variable = mon.variable if isinstance(model, SynapseModel) else "weight"
                else:
                    variable = _identifier(network, mon.target, mon.variable)
                self.state_monitors[mon.key] = self._own(b2.StateMonitor(
                    owner, variable, record=True, dt=mon.every * dt, name=f"neuroai_trace_{mon.target}_{mon.variable}"))
        if self.check_finite and self.target != _STANDALONE:
            self._own(b2.NetworkOperation(self._watch, dt=FINITE_CHECK_EVERY * dt, when="start",
                                          name="neuroai_finite_watch"))

    def _variables(self):
        """Every stored variable of the populations' and projections' equations (their differential
        equations and parameters), as (part, neuroai's name, Brian2 object, Brian2's name)."""
        for name, group in self.groups.items():
            users = {_identifier(self.network, name, v): v
                     for v in [c for c, _ in self.network.currents(name)] +
                     [g for g, _, _ in self.network.conductances(name)]}
            for var in sorted(group.equations.diff_eq_names | group.equations.parameter_names):
                yield f"population {name!r}", users.get(var, var), group, var
        for name, syn in self.synapses.items():
            for var in sorted(syn.equations.diff_eq_names | syn.equations.parameter_names):
                yield f"projection {name!r}", var, syn, var

    def _nonfinite(self) -> tuple[str, str] | None:
        """(part, variable) of the first variable holding NaN or inf, or None."""
        for part, variable, obj, var in self._variables():
            if not np.isfinite(getattr(obj, var + "_")[:]).all():
                return part, variable
        return None

    def _watch(self, t):
        """The NetworkOperation of ``check_finite``: stop the run at the first non-finite state."""
        found = self._nonfinite()
        step = int(round(float(t / b2.second) / self.dt))  # (the state after ``step`` steps)
        if found is None:
            self.finite_step = step
        else:
            self.nonfinite_found = (*found, step)
            self.net.stop()

    def _raise_if_nonfinite(self) -> None:
        """After a run: the error for non-finite state found during it, or by a last check now."""
        if self.check_finite and self.nonfinite_found is None:
            found = self._nonfinite()
            self.nonfinite_found = None if found is None else (*found, self.step)
        if self.nonfinite_found is not None:
            part, variable, step = self.nonfinite_found
            raise nonfinite("brian2", part, variable, step, self.finite_step, self.dt)

    def _own(self, obj):
        """Add a new Brian2 object to this runner's network and return it. It
        is marked as the network's at once (Brian2 marks objects when they first
        run), so a runner dropped before running, or whose build failed half
        way, does not make Brian2 warn about objects never included in a network."""
        self.net.add(obj)
        obj._network = self.net.id
        return obj

    @contextlib.contextmanager
    def _preferences(self):
        """Brian2's process-wide preferences this runner needs, restored afterwards."""
        if self.target == _STANDALONE:
            # no fused multiply-adds: a*b + c rounded once differs from numpy's (and torch's) two roundings
            gcc = [a for a in b2.prefs["codegen.cpp.extra_compile_args_gcc"] if not a.startswith("-ffp-contract")]
            wanted = {"devices.cpp_standalone.openmp_threads": self.threads or 0,
                      "codegen.cpp.extra_compile_args_gcc": gcc + ["-ffp-contract=off"]}
        else:
            wanted = {"codegen.target": self.target}
        previous = {name: b2.prefs[name] for name in wanted}
        try:
            for name, value in wanted.items():
                b2.prefs[name] = value
            yield
        finally:
            for name, value in previous.items():
                b2.prefs[name] = value

    def run(self, input_spikes: dict[str, np.ndarray], n_steps: int, signals: dict[str, np.ndarray]):
        """Advance ``n_steps`` steps; ``input_spikes`` maps each input to a
        boolean raster (n_steps, n), ``signals`` each signal to its values
        (n_steps,). Returns (spikes, traces) of the segment."""
        self.finite_step, self.nonfinite_found = self.step, None  # (the state a run starts from was checked)
        with _translated_errors(self.network):
            if self.target == _STANDALONE:
                return self._run_standalone(input_spikes, n_steps, signals)
            seen_spikes = {k: m.num_spikes for k, m in self.spike_monitors.items()}
            seen_samples = {k: len(m.t) for k, m in self.state_monitors.items()}
            self._advance(input_spikes, n_steps, signals)
            self._raise_if_nonfinite()
            return self._recorded(seen_spikes, seen_samples)

    def _advance(self, input_spikes, n_steps: int, signals):
        """Hand the segment's input spikes and signals to Brian2 and run it
        (on the standalone device: add it to the program)."""
        for name, gen in self.generators.items():
            steps, idx = np.nonzero(input_spikes[name])
            gen.set_spikes(idx, (steps + self.step) * self.dt * b2.second)
        frozen = False
        with self._preferences():
            try:
                # signals are TimedArrays over absolute time, zero before this segment
                namespace = {_signal(name): b2.TimedArray(np.concatenate([np.zeros(self.step), values]),
                                                 dt=self.dt * b2.second)
                             for name, values in signals.items()}
                # Brian2 starts every run with a full gc.collect(), which with torch loaded costs ~0.2 s, as long
                # as a short run; objects alive now are frozen out of it (O(1)) and handed back afterwards
                frozen = not gc.get_freeze_count()
                if frozen:
                    gc.freeze()
                _notice_compilation(self.target)
                self.net.run(n_steps * self.dt * b2.second, namespace=namespace)
            finally:
                if frozen:
                    gc.unfreeze()
        self.step += n_steps if self.target == _STANDALONE else int(round(float(self.net.t / b2.second) / self.dt)) - self.step

    def _run_standalone(self, input_spikes, n_steps: int, signals):
        """The one run of a standalone runner: build the objects on Brian2's
        C++ standalone device, generate, compile and execute the program, read
        the monitors and the final state back, then return to the device that
        was active before (also on errors), so runtime networks keep working."""
        if self.started:
            raise RuntimeError(
                f"brian2 backend: target={_STANDALONE!r} compiles the whole simulation as one C++ program and "
                f"runs once per Simulator (one run or present call, no independent trials); this one has "
                f"already run{'' if self.final_state else ' (and failed)'}. Use target='cython' for "
                f"segment-by-segment runs, or a new Simulator (e.g. of sim.to_network()) to go on")
        self.started = True
        directory = self.directory if self.directory is not None else tempfile.mkdtemp(prefix="neuroai_brian2_")
        b2.set_device(_STANDALONE, build_on_run=False)
        device = b2.get_device()
        try:
            self._build()
            self._advance(input_spikes, n_steps, signals)
            with self._preferences():
                device.build(directory=os.fspath(directory), compile=True, run=True, with_output=False)
            self.program_seconds = float(device._last_run_time)  # the C++ simulation alone, no compilation
            recorded = self._recorded(dict.fromkeys(self.spike_monitors, 0), dict.fromkeys(self.state_monitors, 0))
            self.final_state = self._state()
            self._raise_if_nonfinite()
        finally:
            # the objects' values live in the device's result files: drop them with the device's state
            self.net, self.groups, self.generators, self.synapses, self.normalizers = None, {}, {}, {}, []
            self.spike_monitors, self.state_monitors = {}, {}
            device.reinit()
            reset_device()
            if self.directory is None:
                shutil.rmtree(directory, ignore_errors=True)
        return recorded

    def _recorded(self, seen_spikes: dict[str, int], seen_samples: dict[str, int]):
        """(spikes, traces) recorded after the first ``seen_*`` entries of each monitor."""
        spikes = {}
        for name, mon in self.spike_monitors.items():
            k = seen_spikes[name]
            steps = np.round(mon.t_[k:] / self.dt).astype(np.int64)
            idx = np.asarray(mon.i[k:], dtype=np.int64)
            order = np.lexsort((idx, steps))
            spikes[name] = Spikes(steps[order], idx[order], self.sizes[name])
        traces = {}
        for key, mon in self.state_monitors.items():
            k = seen_samples[key]
            values = np.asarray(getattr(mon, mon.record_variables[0] + "_"))[:, k:].T
            traces[key] = Trace(np.round(mon.t_[k:] / self.dt).astype(np.int64), values.copy())
        return spikes, traces

    def run_trials(self, input_spikes: dict[str, np.ndarray], n_steps: int):
        """Run each trial (``input_spikes[name][k]``, shape (n_steps, n))
        from the present state, which is restored afterwards. Returns the
        spikes laid out as if trial k ran at steps ``k * n_steps`` onwards."""
        if self.target == _STANDALONE:
            raise NotImplementedError(
                f"brian2 backend: target={_STANDALONE!r} cannot run independent trials: it compiles the whole "
                f"simulation as one C++ program run once, and cannot store and restore the state between "
                f"trials. Use target='cython' for segment-by-segment runs and independent trials")
        start = self.step
        self.net.store("neuroai_trials")
        found = {name: [] for name in self.spike_monitors}
        silent = {name: np.zeros(n_steps) for name in self.network.signals}
        try:
            for k in range(len(next(iter(input_spikes.values())))):
                self.net.restore("neuroai_trials")
                self.step = start
                spikes, _ = self.run({name: r[k] for name, r in input_spikes.items()}, n_steps, silent)
                for name, s in spikes.items():
                    found[name].append((s.steps + k * n_steps, s.indices))
        finally:
            self.net.restore("neuroai_trials")
            self.step = start
        return {name: Spikes(np.concatenate([s for s, _ in parts] or [np.zeros(0, np.int64)]),
                             np.concatenate([i for _, i in parts] or [np.zeros(0, np.int64)]), self.sizes[name])
                for name, parts in found.items()}

    def _state(self):
        """(weights, learned state) as they are now in the Brian2 objects."""
        learned = {name: {var: np.asarray(getattr(self.groups[name], var + "_")[:], dtype=np.float64)
                          for var in pop.model.learned_state}
                   for name, pop in self.network.populations.items() if pop.model.learned_state}
        weights = {name: np.asarray(getattr(syn, _weight_variable(self.network.projections[name]) + "_")[:],
                                    dtype=np.float64) for name, syn in self.synapses.items()}
        return weights, learned

    def to_network(self) -> Network:
        """The Network with the weights as they are now (after plasticity)
        and the populations' learned state (see ``learned_state`` of the models)."""
        if self.target != _STANDALONE:
            weights, learned = self._state()
        elif self.final_state is not None:
            weights, learned = self.final_state
        else:  # a standalone runner that has not run yet: the network's own starting state
            weights = {name: proj.weights for name, proj in self.network.projections.items()}
            learned = {name: {var: pop.initial_state()[var] for var in pop.model.learned_state}
                       for name, pop in self.network.populations.items() if pop.model.learned_state}
        return self.network.with_weights(weights).with_initial_state(learned)
