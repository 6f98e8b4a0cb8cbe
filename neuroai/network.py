"""The backend-neutral description of a spiking circuit.

A :class:`Network` holds populations of neurons, inputs driven by encoders,
projections between them and monitors. Each part is a frozen dataclass,
validated when it is created; connectivity and weights are resolved to
explicit arrays at that moment, so every backend builds the same synapses.
Nothing here imports Brian2 or torch.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from . import validation as check
from .coding import DeltaEncoder, Latency, PoissonRate, PopulationCode, RegularRate, SpikeArray
from .equations import NeuronModel, SynapseModel, variable_dimensions
from .neurons import LIF, AdaptiveLIF, AdEx, HodgkinHuxley, Izhikevich
from .plasticity import RATE_RULES, RULES, SynapticNormalization
from .synapses import AllToAll, Delta, ExponentialConductance, ExponentialCurrent, resolve_values

NEURON_MODELS = (LIF, AdaptiveLIF, Izhikevich, AdEx, HodgkinHuxley, NeuronModel)
SYNAPSE_KINDS = (Delta, ExponentialCurrent, ExponentialConductance)
ENCODERS = (PoissonRate, RegularRate, Latency, SpikeArray, DeltaEncoder, PopulationCode)
SIGNS = {"excitatory": 1.0, "inhibitory": -1.0, None: 1.0}


@dataclass(frozen=True, eq=False)
class Population:
    """``n`` neurons of one model; ``v_init`` (array of shape (n,)) is the
    membrane potential at the start of the first run, and ``init`` maps other
    state variables of the model (such as an adaptive threshold ``"theta"``)
    to their starting values, shape (n,), where they differ from the model's
    defaults."""

    name: str
    n: int
    model: LIF
    v_init: np.ndarray
    init: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def variables(self) -> tuple[str, ...]:
        """The model's state variables (those a monitor can record)."""
        return self.model.state_variables

    def initial_state(self) -> dict[str, np.ndarray]:
        """Every state variable's value at the start of the first run, shape (n,) each."""
        return {**self.model.initial_state(self.v_init), **self.init}

    def __repr__(self) -> str:
        return f"Population({self.name!r}: {self.n} x {self.model!r})"


@dataclass(frozen=True)
class Input:
    """``n`` spike sources whose spikes come from ``encoder``."""

    name: str
    n: int
    encoder: PoissonRate | RegularRate | Latency | SpikeArray


@dataclass(frozen=True, eq=False)
class Projection:
    """Synapses from ``pre`` to ``post`` (names of an input or population).

    ``pre_idx``, ``post_idx`` and ``weights`` hold one entry per synapse,
    sorted by (pre, post). ``weights`` are magnitudes when ``sign`` is
    ``"excitatory"`` or ``"inhibitory"`` (the effective weight is
    ``sign * weights``) and signed values when ``sign`` is None. ``delay_steps``
    is the axonal delay in whole steps of the network's ``dt``. ``plasticity``
    is the learning rule that changes ``weights`` during a run, or None;
    ``normalization`` a :class:`SynapticNormalization` applied after it, or None.
    ``synapse`` is a :class:`SynapseModel` (bound to ``pre`` and ``post``)
    when the synapses are written as equations; ``weights`` then initialize
    its weight variable.
    """

    name: str
    pre: str
    post: str
    synapse: Delta | ExponentialCurrent | ExponentialConductance
    pre_idx: np.ndarray
    post_idx: np.ndarray
    weights: np.ndarray
    sign: str | None
    delay_steps: int
    plasticity: object | None = None
    normalization: SynapticNormalization | None = None

    @property
    def n_synapses(self) -> int:
        """The number of synapses."""
        return len(self.weights)

    @property
    def signed_weights(self) -> np.ndarray:
        """Effective weight of each synapse, shape (n_synapses,)."""
        return SIGNS[self.sign] * self.weights

    @property
    def target_variable(self) -> str:
        """The variable of the target population that the spikes change (``"v"``, a current, ...)."""
        return self.synapse.target_variable

    def __repr__(self) -> str:
        parts = [f"{self.pre} -> {self.post}", f"{self.n_synapses} synapses", type(self.synapse).__name__]
        if self.sign is not None:
            parts.append(self.sign)
        if self.delay_steps:
            parts.append(f"delay {self.delay_steps} steps")
        if self.plasticity is not None:
            parts.append(type(self.plasticity).__name__)
        if self.normalization is not None:
            parts.append("normalized")
        return f"Projection({self.name!r}: {', '.join(parts)})"


@dataclass(frozen=True)
class Monitor:
    """Record ``variable`` of ``target`` every ``every`` steps.

    ``variable`` is ``"spikes"`` (all spikes, for a population or input), a
    state variable of a population (``"v"`` or a synaptic current), or ``"w"``
    for the weights of a projection (shape (n_synapses,), in the projection's
    convention: magnitudes for signed projections); for a projection with a
    :class:`SynapseModel`, any of its per-synapse variables. States are sampled at the start of the
    step, before integration, as Brian2's StateMonitor does.
    """

    target: str
    variable: str = "spikes"
    every: int = 1

    @property
    def key(self) -> str:
        """``"target.variable"``: how results name the recording."""
        return f"{self.target}.{self.variable}"


@dataclass
class Network:
    """A circuit description with a shared time step ``dt`` (seconds).

    Build it with :meth:`add_population`, :meth:`add_input`, :meth:`connect`
    and :meth:`monitor`; each call validates its part against the network so
    far and returns the frozen part.
    """

    dt: float = 1e-4
    populations: dict[str, Population] = field(default_factory=dict)
    inputs: dict[str, Input] = field(default_factory=dict)
    projections: dict[str, Projection] = field(default_factory=dict)
    monitors: list[Monitor] = field(default_factory=list)
    signals: list[str] = field(default_factory=list)

    def __post_init__(self):
        self.dt = check.real("Network", "dt", self.dt, positive=True, unit="second")

    def __repr__(self) -> str:
        """A short summary: each part on its own line, without the arrays."""
        counts = [(len(self.inputs), "input"), (len(self.populations), "population"),
                  (len(self.projections), "projection"), (len(self.monitors), "monitor")]
        head = ", ".join(f"{k} {word}{'s' if k != 1 else ''}" for k, word in counts)
        lines = [f"Network(dt={self.dt:g} s; {head})"]
        lines += [f"  input {i.name!r}: {i.n} x {type(i.encoder).__name__}" for i in self.inputs.values()]
        lines += [f"  {p!r}" for p in self.populations.values()]
        lines += [f"  {p!r}" for p in self.projections.values()]
        lines += [f"  monitor {m.key}" + (f" every {m.every} steps" if m.every > 1 else "") for m in self.monitors]
        if self.signals:
            lines.append(f"  signals: {', '.join(self.signals)}")
        return "\n".join(lines)

    # --- building -----------------------------------------------------------

    @staticmethod
    def _owner(kind: str, call: str, name) -> str:
        """Who speaks in the messages about a new part: ``kind 'name'``, or ``Network.call`` while ``name`` is not
        a valid name (it could not be told from the message around it)."""
        return f"{kind} {name!r}" if isinstance(name, str) and name.isidentifier() else f"Network.{call}"

    def _check_new_name(self, owner: str, name: str) -> str:
        check.name(owner, name)
        if name in self.populations or name in self.inputs or name in self.projections or name in self.signals:
            raise ValueError(f"{owner}: the name {name!r} is already used in this network; each population, input, "
                             f"projection and signal needs a name of its own")
        return name

    def add_population(self, name: str, n: int, model: LIF | None = None, v_init=None,
                       init: dict | None = None) -> Population:
        """Add ``n`` neurons of ``model`` (default: normalized :class:`LIF`).

        ``v_init``: a scalar, an array of shape (n,), or an initializer such as
        ``Uniform(0, 1, seed=1)``; default ``model.v_start``. ``init``: other
        state variables' starting values (variable -> scalar or array (n,)),
        e.g. ``{"theta": learned_theta}`` for :class:`AdaptiveLIF`.
        """
        owner = self._owner("Population", "add_population", name)
        self._check_new_name(owner, name)
        n = check.integer(owner, "n", n, minimum=1)
        check.memory(owner, 64.0 * n, f"{n} neurons", "use fewer neurons")  # (state, initial values, spikes)
        model = LIF() if model is None else model
        if not isinstance(model, NEURON_MODELS):
            raise TypeError(f"{owner}: 'model' must be one of {[m.__name__ for m in NEURON_MODELS]}, "
                            f"got {type(model).__name__}")
        model.validate_dt(self.dt, owner)
        if isinstance(model, NeuronModel):
            model.check_size(n, owner)
        v0 = resolve_values(owner, "v_init", model.v_start if v_init is None else v_init, None, None, (n,))
        pop = Population(name, n, model, v0, self._initial_values(owner, model, n, init))
        self.populations[name] = pop
        return pop

    @staticmethod
    def _initial_values(owner: str, model, n: int, init) -> dict[str, np.ndarray]:
        if init is not None and not isinstance(init, Mapping):
            raise TypeError(f"{owner}: parameter 'init' must be a mapping of variable -> scalar or array of shape "
                            f"({n},), e.g. {{'theta': 0.0}}, got {init!r}")
        init = dict(init or {})
        others = tuple(v for v in model.state_variables if v != "v")
        unknown = set(init) - set(others)
        if unknown:
            raise ValueError(f"{owner}: 'init' may set {list(others)} of {type(model).__name__} "
                             f"(v through 'v_init'), got {sorted(unknown, key=repr)}")
        return {var: check.array(owner, f"init[{var!r}]", values, (n,)) for var, values in init.items()}

    def add_input(self, name: str, n: int, encoder=None) -> Input:
        """Add ``n`` spike sources driven by ``encoder`` (default :class:`PoissonRate`)."""
        owner = self._owner("Input", "add_input", name)
        self._check_new_name(owner, name)
        n = check.integer(owner, "n", n, minimum=1)
        check.memory(owner, 64.0 * n, f"{n} neurons", "use fewer neurons")  # (state, initial values, spikes)
        encoder = PoissonRate() if encoder is None else encoder
        if not isinstance(encoder, ENCODERS):
            raise TypeError(f"{owner}: 'encoder' must be one of {[e.__name__ for e in ENCODERS]}, "
                            f"got {type(encoder).__name__}")
        inp = Input(name, n, encoder)
        self.inputs[name] = inp
        return inp

    def add_signal(self, name: str) -> str:
        """Add a global scalar signal (a reward, a neuromodulator) whose values
        the simulator takes at run time, one per step; rules such as
        :class:`neuroai.plasticity.RewardSTDP` read it by name."""
        self._check_new_name(self._owner("Signal", "add_signal", name), name)
        self.signals.append(name)
        return name

    def signal_values(self, signals: dict | None, steps: int, owner: str) -> dict[str, np.ndarray]:
        """Each network signal as a float64 array (steps,), from a mapping of
        signal name to a scalar (held) or one value per step; absent signals are 0."""
        if signals is not None and not isinstance(signals, Mapping):
            raise TypeError(f"{owner}: parameter 'signals' must be a mapping of signal name -> a scalar or one value "
                            f"per step, got {signals!r}")
        signals = dict(signals or {})
        unknown = set(signals) - set(self.signals)
        if unknown:
            raise ValueError(f"{owner}: 'signals' names unknown signals {sorted(unknown, key=repr)}; "
                             f"the network has {self.signals}")
        return {name: check.array(owner, f"signals[{name!r}]", signals.get(name, 0.0), (steps,))
                for name in self.signals}

    def size(self, name: str) -> int:
        """Number of neurons (or sources) of a population or input."""
        part = self.populations.get(name) or self.inputs.get(name)
        if part is None:
            raise KeyError(f"Network: no population or input named {name!r}; "
                           f"known: {sorted(self.populations) + sorted(self.inputs)}")
        return part.n

    def connect(self, pre, post, connectivity=None, weight=1.0, *, synapse=None, sign=None,
                delay: float = 0.0, round_delay: bool = False, plasticity=None, normalization=None,
                synapse_model=None, name: str | None = None) -> Projection:
        """Project ``pre`` (population or input, object or name) onto population ``post``.

        - connectivity: :class:`AllToAll` (default), :class:`OneToOne`,
          :class:`FixedProbability` or :class:`Explicit`.
        - weight: a scalar, an array of shape (n_pre, n_post) read at the
          connected positions, an array of one value per synapse, or an
          initializer. Units of the target variable (see ``synapse``).
        - synapse: :class:`Delta` (default), :class:`ExponentialCurrent` or
          :class:`ExponentialConductance` (LIF targets).
        - sign: ``"excitatory"`` or ``"inhibitory"`` to give weights as
          non-negative magnitudes with a fixed sign (Dale's law); None for
          signed weights.
        - delay: axonal delay in seconds, a whole number of steps ``dt``
          (anything else is an error naming the nearest whole-step delays,
          unless ``round_delay=True``: then it is rounded, halves up).
        - plasticity: a learning rule such as :class:`neuroai.plasticity.STDP`
          (its bounds must hold the initial weights), or None for fixed weights.
        - normalization: a :class:`neuroai.plasticity.SynapticNormalization`
          keeping each target neuron's summed weight fixed, or None.
        - synapse_model: a :class:`neuroai.SynapseModel`, the synapses written
          as equations: its statements say what a spike does (and how the
          synapse learns), so it takes the place of ``synapse``, ``sign``,
          ``plasticity`` and ``normalization``; ``weight`` sets its weight
          variable (in that variable's units).
        """
        pre = getattr(pre, "name", pre)
        post = getattr(post, "name", post)
        for side, value in (("pre", pre), ("post", post)):
            if not isinstance(value, str):
                raise TypeError(f"Network.connect: parameter '{side}' must be a population or input (or its name), "
                                f"got {value!r}")
        name = self._free_name(f"{pre}_to_{post}") if name is None else name
        owner = self._owner("Projection", "connect", name)
        self._check_new_name(owner, name)
        if pre not in self.populations and pre not in self.inputs:
            raise ValueError(f"{owner}: 'pre' must name a population or input of this network, got {pre!r}")
        if post not in self.populations:
            raise ValueError(f"{owner}: 'post' must name a population of this network, got {post!r}")
        if synapse_model is not None:
            synapse = self._bind_synapse_model(owner, pre, post, synapse_model, synapse=synapse, sign=sign,
                                               plasticity=plasticity, normalization=normalization)
        elif isinstance(synapse, SynapseModel):
            raise TypeError(f"{owner}: a SynapseModel is given as 'synapse_model', not as 'synapse'")
        synapse = Delta() if synapse is None else synapse
        if not isinstance(synapse, SYNAPSE_KINDS + (SynapseModel,)):
            raise TypeError(f"{owner}: 'synapse' must be one of {[s.__name__ for s in SYNAPSE_KINDS]}, "
                            f"got {type(synapse).__name__}")
        if isinstance(synapse, Delta):
            self._check_delta(owner, post, synapse)
        if isinstance(synapse, ExponentialCurrent):
            self._check_current(owner, post, synapse)
        if isinstance(synapse, ExponentialConductance):
            self._check_conductance(owner, post, synapse)
        check.choice(owner, "sign", sign, SIGNS)
        delay = check.real(owner, "delay", delay, nonnegative=True, unit="second")
        delay_steps = check.whole_steps(owner, "delay", delay, self.dt,
                                        rounding=check.flag(owner, "round_delay", round_delay),
                                        flag="round_delay=True")

        n_pre, n_post = self.size(pre), self.size(post)
        connectivity = AllToAll() if connectivity is None else connectivity
        if not hasattr(connectivity, "resolve"):
            raise TypeError(f"{owner}: 'connectivity' must be a connectivity pattern such as "
                            f"AllToAll() or FixedProbability(0.1), got {type(connectivity).__name__}")
        if hasattr(connectivity, "expected_synapses"):  # indices, weights and their intermediates: ~48 B each
            check.memory(owner, 48 * connectivity.expected_synapses(n_pre, n_post),
                         f"{connectivity.expected_synapses(n_pre, n_post):.3g} synapses ({n_pre} x {n_post}, "
                         f"{type(connectivity).__name__})", "use sparser connectivity (FixedProbability with a "
                         "smaller p) or fewer neurons")
        pre_idx, post_idx = connectivity.resolve(n_pre, n_post)
        weights = resolve_values(owner, "weight", weight, pre_idx, post_idx, (n_pre, n_post))
        if sign is not None and np.any(weights < 0):
            raise ValueError(f"{owner}: with sign={sign!r} weights are magnitudes and must be >= 0, "
                             f"got minimum {weights.min()}")
        if isinstance(synapse, ExponentialConductance) and (sign == "inhibitory" or np.any(weights < 0)):
            raise ValueError(f"{owner}: conductances are >= 0 (inhibition comes from the reversal potential "
                             f"E_rev); give sign=None or 'excitatory' and weights >= 0, got sign={sign!r} and "
                             f"minimum weight {weights.min() if weights.size else 0.0}")
        if plasticity is not None:
            self._check_plasticity(owner, plasticity, weights, sign, post)
        if normalization is not None and not isinstance(normalization, SynapticNormalization):
            raise TypeError(f"{owner}: 'normalization' must be a SynapticNormalization or None, "
                            f"got {type(normalization).__name__}")
        proj = Projection(name, pre, post, synapse, pre_idx.astype(np.int64), post_idx.astype(np.int64),
                          weights, sign, delay_steps, plasticity, normalization)
        self.projections[name] = proj
        return proj

    def _bind_synapse_model(self, owner: str, pre: str, post: str, model, **others) -> SynapseModel:
        """``model`` connected from ``pre`` to ``post`` (see ``SynapseModel.bound_to``); the arguments
        whose place it takes must be left out."""
        if not isinstance(model, SynapseModel):
            raise TypeError(f"{owner}: 'synapse_model' must be a SynapseModel or None, got {type(model).__name__}")
        given = sorted(name for name, value in others.items() if value is not None)
        if given:
            raise ValueError(f"{owner}: a SynapseModel says itself what a spike does and how the synapse learns; "
                             f"leave out {given} (write them into its equations and statements): they must be None")
        source = self.populations.get(pre)
        return model.bound_to(owner, None if source is None else variable_dimensions(source.model),
                              variable_dimensions(self.populations[post].model))

    def _check_plasticity(self, owner: str, rule, weights: np.ndarray, sign, post: str) -> None:
        if not isinstance(rule, RULES):
            raise TypeError(f"{owner}: 'plasticity' must be one of {[r.__name__ for r in RULES]} or None, "
                            f"got {type(rule).__name__}")
        rule.validate_dt(self.dt, owner)
        signal = getattr(rule, "signal", None)
        if signal is not None and signal not in self.signals:
            raise ValueError(f"{owner}: the rule reads signal {signal!r}, which the network lacks; "
                             f"add it with net.add_signal({signal!r}) (signals: {self.signals}): it must exist first")
        if isinstance(rule, RATE_RULES) and self.populations[post].model.units != "dimensionless":
            raise ValueError(f"{owner}: {type(rule).__name__} acts on dimensionless weights, but population "
                             f"{post!r} uses physical units; the target must be dimensionless")
        if sign is not None and rule.w_min < 0:
            raise ValueError(f"{owner}: with sign={sign!r} weights are magnitudes, so the rule's w_min must be "
                             f">= 0, got {rule.w_min}")
        if weights.size and (weights.min() < rule.w_min or weights.max() > rule.w_max):
            raise ValueError(f"{owner}: initial weights must lie within the rule's bounds "
                             f"[{rule.w_min}, {rule.w_max}], got [{weights.min()}, {weights.max()}]")

    def _free_name(self, base: str) -> str:
        name, k = base, 1
        while name in self.projections:
            k += 1
            name = f"{base}_{k}"
        return name

    def _check_current(self, owner: str, post: str, synapse: ExponentialCurrent) -> None:
        if self.dt >= synapse.tau:
            raise ValueError(f"{owner}: dt ({self.dt} s) must be smaller than the synaptic "
                             f"time constant tau ({synapse.tau} s)")
        self.populations[post].model.validate_current(synapse.tau, owner)
        self._check_synaptic_name(owner, post, synapse.current)
        if synapse.current in {c for c, _, _ in self.conductances(post)}:
            raise ValueError(f"{owner}: {synapse.current!r} is already a conductance of population {post!r}; a current "
                             f"needs a name of its own")
        for tau_current in self.currents(post):
            if tau_current[0] == synapse.current and tau_current[1] != synapse.tau:
                raise ValueError(f"{owner}: current {synapse.current!r} of population {post!r} already has "
                                 f"tau={tau_current[1]} s, got tau={synapse.tau} s; give this synapse "
                                 f"another 'current' name")

    def _check_delta(self, owner: str, post: str, synapse: Delta) -> None:
        model = self.populations[post].model
        targets = model.input_variables if isinstance(model, NeuronModel) else ("v",)
        if synapse.target not in targets:
            raise ValueError(f"{owner}: Delta target {synapse.target!r} is not a variable that synapses can change "
                             f"in population {post!r} ({type(model).__name__}: {list(targets)})")

    def _check_synaptic_name(self, owner: str, post: str, name: str) -> None:
        """A synaptic current or conductance is a variable of its target: its name must not be a state variable."""
        model = self.populations[post].model
        if name in model.state_variables:
            raise ValueError(f"{owner}: the synaptic variable {name!r} would clash with the state variable of that "
                             f"name of population {post!r} ({type(model).__name__}: {list(model.state_variables)}); "
                             f"it must have another name")

    def _check_conductance(self, owner: str, post: str, synapse: ExponentialConductance) -> None:
        if self.dt >= synapse.tau:
            raise ValueError(f"{owner}: dt ({self.dt} s) must be smaller than the synaptic "
                             f"time constant tau ({synapse.tau} s)")
        model = self.populations[post].model
        if not isinstance(model, LIF):
            raise ValueError(f"{owner}: ExponentialConductance targets LIF populations; population {post!r} "
                             f"is {type(model).__name__}, not LIF (use ExponentialCurrent)")
        self._check_synaptic_name(owner, post, synapse.conductance)
        names = {c for c, _ in self.currents(post)}
        if synapse.conductance in names:
            raise ValueError(f"{owner}: {synapse.conductance!r} is already a current of population {post!r}; a "
                             f"conductance needs a name of its own")
        for name, tau, e_rev in self.conductances(post):
            if name == synapse.conductance and (tau, e_rev) != (synapse.tau, synapse.E_rev):
                raise ValueError(f"{owner}: conductance {name!r} of population {post!r} already has tau={tau} s "
                                 f"and E_rev={e_rev}, got tau={synapse.tau} s and E_rev={synapse.E_rev}; give "
                                 f"this synapse another 'conductance' name")

    def monitor(self, target, variable: str = "spikes", every: int = 1) -> Monitor:
        """Record ``variable`` of ``target`` every ``every`` steps (see :class:`Monitor`)."""
        target = getattr(target, "name", target)
        parts = sorted(self.populations) + sorted(self.inputs) + sorted(self.projections)
        if not isinstance(target, str) or target not in parts:
            raise ValueError(f"Network.monitor: parameter 'target' must name a population, input or projection of "
                             f"this network {parts}, got {target!r}")
        owner = f"Monitor of {target!r}"
        every = check.integer(owner, "every", every, minimum=1)
        allowed = self.recordable(target)
        check.choice(owner, "variable", variable, allowed)
        mon = Monitor(target, variable, every)
        if any(m.key == mon.key for m in self.monitors):
            raise ValueError(f"{owner}: {mon.key} is already monitored; a variable must be monitored once only")
        self.monitors.append(mon)
        return mon

    # --- queries ------------------------------------------------------------

    def recordable(self, target: str) -> tuple[str, ...]:
        """The variables a monitor of ``target`` may record."""
        if target in self.populations:
            currents = tuple(c for c, _ in self.currents(target))
            conductances = tuple(g for g, _, _ in self.conductances(target))
            return ("spikes",) + self.populations[target].variables + currents + conductances
        if target in self.inputs:
            return ("spikes",)
        if target in self.projections:
            synapse = self.projections[target].synapse
            return synapse.variables if isinstance(synapse, SynapseModel) else ("w",)
        raise ValueError(f"Network: {target!r} is not a population, input or projection of this network")

    def currents(self, population: str) -> tuple[tuple[str, float], ...]:
        """(name, tau) of each synaptic current of ``population``, sorted by name."""
        out = {p.synapse.current: p.synapse.tau for p in self.projections.values()
               if p.post == population and isinstance(p.synapse, ExponentialCurrent)}
        return tuple(sorted(out.items()))

    def conductances(self, population: str) -> tuple[tuple[str, float, float], ...]:
        """(name, tau, E_rev) of each synaptic conductance of ``population``, sorted by name."""
        out = {p.synapse.conductance: (p.synapse.tau, p.synapse.E_rev) for p in self.projections.values()
               if p.post == population and isinstance(p.synapse, ExponentialConductance)}
        return tuple((name, tau, e_rev) for name, (tau, e_rev) in sorted(out.items()))

    def fan_out(self, source: str) -> np.ndarray:
        """Synapses leaving each neuron of a population or input, shape (n,)."""
        out = np.zeros(self.size(source), dtype=np.int64)
        for proj in self.projections.values():
            if proj.pre == source:
                out += np.bincount(proj.pre_idx, minlength=len(out))
        return out

    def synaptic_events(self, counts: dict[str, np.ndarray]) -> np.ndarray:
        """Synaptic events (a spike reaching one synapse) caused by spike
        ``counts``: source name -> counts of shape (..., n); shape (...).
        The neuromorphic energy proxy of "synaptic operations"."""
        return sum(np.asarray(c, dtype=np.float64) @ self.fan_out(s) for s, c in counts.items())

    def features(self) -> set[str]:
        """Everything a backend must support to run this network."""
        out: set[str] = set()
        for pop in self.populations.values():
            out |= pop.model.features
        for proj in self.projections.values():
            out.add(proj.synapse.feature)
            if isinstance(proj.synapse, SynapseModel):
                out |= proj.synapse.features
            for rule in (proj.plasticity, proj.normalization):
                if rule is not None:
                    out.add(rule.feature)
            if proj.delay_steps:
                out.add("delay")
        return out

    def with_weights(self, weights: dict[str, np.ndarray]) -> "Network":
        """A copy with new weights (one per synapse, in the projection's
        convention: magnitudes for signed projections)."""
        projections = dict(self.projections)
        for name, w in weights.items():
            proj = projections[name]
            w = check.array(f"Projection {name!r}", "weights", w, (proj.n_synapses,))
            if proj.sign is not None and np.any(w < 0):
                raise ValueError(f"Projection {name!r}: sign={proj.sign!r} needs weight magnitudes >= 0, "
                                 f"got minimum {w.min()}")
            projections[name] = dataclasses.replace(proj, weights=w)
        return Network(self.dt, dict(self.populations), dict(self.inputs), projections, list(self.monitors),
                       list(self.signals))

    def with_models(self, models: dict) -> "Network":
        """A copy whose populations run new models of their present kind (population -> model), such as the
        model with a membrane time constant learned by gradient descent."""
        populations = dict(self.populations)
        for name, model in models.items():
            if name not in populations:
                raise ValueError(f"Network.with_models: no population {name!r}; the populations are "
                                 f"{sorted(populations)}")
            if type(model) is not type(populations[name].model):
                raise TypeError(f"Network.with_models: population {name!r} runs a "
                                f"{type(populations[name].model).__name__}, so its new model must be one too, got "
                                f"{type(model).__name__}")
            populations[name] = dataclasses.replace(populations[name], model=model)
        return Network(self.dt, populations, dict(self.inputs), dict(self.projections), list(self.monitors),
                       list(self.signals))

    def without_plasticity(self) -> "Network":
        """A copy whose projections keep their present weights but neither
        learn nor normalize (for evaluating what a network has learned)."""
        projections = {name: dataclasses.replace(p, plasticity=None, normalization=None)
                       for name, p in self.projections.items()}
        return Network(self.dt, dict(self.populations), dict(self.inputs), projections, list(self.monitors),
                       list(self.signals))

    def with_initial_state(self, state: dict[str, dict[str, np.ndarray]]) -> "Network":
        """A copy whose populations start from new values: population ->
        {variable -> values of shape (n,)}; ``"v"`` sets ``v_init``."""
        populations = dict(self.populations)
        if not isinstance(state, Mapping):
            raise TypeError(f"Network.with_initial_state: parameter 'state' must be a mapping of population -> "
                            f"{{variable -> values}}, got {state!r}")
        unknown = sorted(set(state) - set(populations), key=repr)
        if unknown:
            raise ValueError(f"Network.with_initial_state: parameter 'state' names no population {unknown}; "
                             f"the populations are {sorted(populations)}")
        for name, values in state.items():
            pop = populations[name]
            owner = f"Population {name!r}"
            if not isinstance(values, Mapping):
                raise TypeError(f"{owner}: the initial state must be a mapping of variable -> values, got {values!r}")
            values = dict(values)
            v = check.array(owner, "v_init", values.pop("v"), (pop.n,)) if "v" in values else pop.v_init
            init = {**pop.init, **self._initial_values(owner, pop.model, pop.n, values)}
            populations[name] = dataclasses.replace(pop, v_init=v, init=init)
        return Network(self.dt, populations, dict(self.inputs), dict(self.projections), list(self.monitors),
                       list(self.signals))
