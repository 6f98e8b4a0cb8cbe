"""PyTorch backend: a Network becomes a trainable ``nn.Module``.

Tensors are ``[time, batch, features]`` as in snnTorch. Each step follows
the order fixed in the design (and Brian2's schedule): integrate exactly,
threshold, deliver spikes whose delay has elapsed, reset. Spikes come from
a surrogate-gradient function (Heaviside forward, smooth backward), so the
same module can be trained by gradient descent; the default, from
:mod:`neuroai.backends.torch_surrogates`, is snnTorch's arctangent surrogate
written so that ``torch.func`` (``grad``, ``jvp``, ``vmap``) and the
curvature tools of :mod:`neuroai.landscape` work through the module too. In float64 its spikes match the Brian2 backend's one for one.

Plastic projections keep their weights, and their traces, in the state:
their rules change them step by step (without gradients), and the
Simulator's runner writes them back to the parameters after each run.
"""
from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .. import validation as check
from ..equations import SynapseModel
from ..network import Network, SIGNS
from ..neurons import LIF
from ..results import Spikes, Trace
from . import FINITE_CHECK_EVERY, nonfinite, torch_surrogates
from .torch_lif import LIFRun, runs_fused
from .torch_neurons import step_for
from .torch_plasticity import RULE_STEPS, normalize
from .torch_synapses import SynapseStep

CAPABILITIES = frozenset({"LIF", "AdaptiveLIF", "Izhikevich", "AdEx", "NeuronModel", "SynapseModel", "reset:subtract",
                          "refractory",
                          "Delta", "ExponentialCurrent", "ExponentialConductance", "delay", "STDP", "TripletSTDP",
                          "RewardSTDP", "Hebbian", "Oja", "BCM", "SynapticNormalization"})

EQUATION_LANGUAGE = {  # what this backend compiles of the equations of NeuronModel and SynapseModel
    "integration methods": "exact, euler, exponential_euler, rk2, rk4, heun, milstein (deterministic equations)",
    "functions": "all of Brian2's but the random ones",
    "noise and random numbers (xi, rand, randn, poisson)": "-",
    "clock-driven and event-driven synaptic equations": "yes",
    "summed variables": "yes (not reading refractoriness)",
    "synaptic statements that read a neuron's variable changed before them": "- (Brian2 loops synapse by synapse)",
    "synaptic '*=' and '/=' onto neurons' variables": "- (no exact tensor counterpart)",
}

_NEVER = -(2**40)  # "last spike" step of a neuron that has not spiked
_DTYPES = {"float32": torch.float32, "float64": torch.float64,
           torch.float32: torch.float32, torch.float64: torch.float64}


@dataclass
class TorchState:
    """The dynamic state between steps. Tensors are (batch, n).

    ``neurons[pop]`` maps each state variable of the population's model
    (``"v"``, and ``"u"``, ``"w"`` or ``"theta"`` where the model has them)
    to its values; ``currents[pop]`` maps each synaptic current likewise.

    ``history[src]`` holds the spikes of the last ``max_delay`` steps of
    source ``src``, oldest first, for delayed projections. ``plastic[proj]``
    holds a plastic projection's weight magnitudes ``"w"`` (n_pre, n_post)
    and its rule's traces (see ``torch_plasticity``). ``synapses[proj]``
    holds the per-synapse variables (batch, n_synapses) of a projection with
    a SynapseModel (see ``torch_synapses``).
    """

    step: int
    neurons: dict[str, dict[str, torch.Tensor]]
    currents: dict[str, dict[str, torch.Tensor]]
    last_spike: dict[str, torch.Tensor]
    history: dict[str, list[torch.Tensor]]
    plastic: dict[str, dict[str, torch.Tensor]]
    synapses: dict[str, dict[str, torch.Tensor]]

    def repeat(self, batch: int, shared: tuple[tuple[str, str], ...] = ()) -> "TorchState":
        """``batch`` copies of this batch-1 state, to run side by side.
        Plastic projections keep their one weight matrix ``"w"``, shared by
        the copies; their traces are repeated (see
        :meth:`TorchNetwork.forward` for the rules that accept a batch).
        ``shared`` names (population, variable) pairs that stay one (1, n)
        tensor for all copies, such as the adaptive thresholds of copies
        that learn together."""
        out = self._map(lambda x: x.expand(batch, *x.shape[1:]).clone())
        for pop, var in shared:
            out.neurons[pop][var] = self.neurons[pop][var].clone()
        return out

    def take(self, b: int) -> "TorchState":
        """The batch-1 state of copy ``b`` (plastic weights stay shared)."""
        return self._map(lambda x: x.narrow(0, b % x.shape[0], 1))

    def _map(self, f) -> "TorchState":
        """A state with ``f`` applied to every per-copy tensor (all but plastic weights)."""
        return TorchState(self.step, {p: {k: f(x) for k, x in d.items()} for p, d in self.neurons.items()},
                          {p: {k: f(x) for k, x in d.items()} for p, d in self.currents.items()},
                          {p: f(x) for p, x in self.last_spike.items()},
                          {s: [f(x) for x in h] for s, h in self.history.items()},
                          {name: {k: x if k == "w" else f(x) for k, x in st.items()}
                           for name, st in self.plastic.items()},
                          {name: {k: f(x) for k, x in st.items()} for name, st in self.synapses.items()})

    def variables(self):
        """Every real-valued state tensor, as (part, variable, tensor): e.g. ("population 'exc'", "v", ...),
        ("projection 'ee'", "w", ...). (Spike histories and last-spike steps are left out.)"""
        for kind, groups in (("population", self.neurons), ("population", self.currents),
                             ("projection", self.plastic), ("projection", self.synapses)):
            for owner, tensors in groups.items():
                for variable, x in tensors.items():
                    yield f"{kind} {owner!r}", variable, x

    def copy(self) -> "TorchState":
        """A copy safe to advance: containers are new, plastic weights and
        the variables of SynapseModel projections cloned (they are updated in place)."""
        return TorchState(self.step, {p: dict(x) for p, x in self.neurons.items()},
                          {p: dict(c) for p, c in self.currents.items()},
                          dict(self.last_spike), {s: list(h) for s, h in self.history.items()},
                          {p: {**st, "w": st["w"].clone()} for p, st in self.plastic.items()},
                          {p: {k: x.clone() for k, x in st.items()} for p, st in self.synapses.items()})


@dataclass
class TorchOutput:
    """What :meth:`TorchNetwork.forward` returns.

    spikes: population name -> (T, batch, n) spike tensor (differentiable).
    traces: monitor key -> ((T_k,) absolute steps, (T_k, batch, n) values).
    state: the state after the last step, to continue from.
    """

    spikes: dict[str, torch.Tensor]
    traces: dict[str, tuple[np.ndarray, torch.Tensor]]
    state: TorchState


class TorchNetwork(nn.Module):
    """A :class:`neuroai.Network` as an ``nn.Module``.

    Each projection's weights are one dense (n_pre, n_post) parameter in
    ``self.weights[name]``, masked to the network's synapses; for signed
    projections the parameter holds magnitudes and the effective weight is
    ``sign * weight``.

    dtype: ``"float32"`` (default, speed) or ``"float64"`` (bitwise parity
    with Brian2). device: default CUDA when available. surrogate_fn: the
    spike function, tensor -> 0/1 spikes of its shape with a surrogate
    gradient; default :func:`neuroai.backends.torch_surrogates.atan` (the same
    spikes and first derivative as ``snntorch.surrogate.atan()``, and
    differentiable by ``torch.func`` as well, which the landscape tools need).
    snnTorch's surrogates (``snntorch.surrogate.fast_sigmoid()``, ...) train
    as well, but ``torch.func`` cannot differentiate them: for Hessians use
    those of :mod:`~neuroai.backends.torch_surrogates`.

    sparse: which projections without plasticity keep one weight per synapse
    instead of a dense matrix: ``self.weights[name]`` is then (n_synapses,),
    in the projection's (pre, post) order, and each step delivers only the
    synapses of the neurons that fired (event-driven, as Brian2 does), so
    memory and time grow with the synapses, not with n_pre * n_post. None
    (default): those whose dense matrix would hold more than 2**24 entries
    and be under a quarter full; True: all; False: none. Plastic projections
    are always dense (their rules update whole matrices).

    layerwise: run a network without cycles between populations, plasticity
    or SynapseModels layer by layer (default True): each population takes
    all its steps before the next, and in float32 each projection's input
    for all steps is one matrix product over (steps x batch), with no host
    synchronization inside the time loop. The spikes are those of the
    step-by-step order (bitwise in float64); False runs step by step, as
    recurrent networks always do.

    learn_tau_m: populations whose membrane time constant trains with the
    weights (LIF neurons without synaptic currents or conductances): each
    gets a parameter ``self.log_tau_m[name]`` (the log of tau_m in seconds),
    and :meth:`to_network` writes the learned value back into the model.
    """

    def __init__(self, network: Network, *, dtype="float32", device=None, surrogate_fn=None,
                 sparse: bool | None = None, layerwise: bool = True, learn_tau_m=()):
        super().__init__()
        if not isinstance(network, Network):
            raise TypeError(f"TorchNetwork: 'network' must be a neuroai.Network, got {type(network).__name__}")
        if not isinstance(dtype, (str, torch.dtype)) or dtype not in _DTYPES:
            raise ValueError(f"TorchNetwork: 'dtype' must be 'float32' or 'float64', got {dtype!r}")
        dtype = _DTYPES[dtype]
        device = check.torch_device("TorchNetwork", device)
        if sparse is not None and not isinstance(sparse, (bool, np.bool_)):
            raise ValueError(f"TorchNetwork: 'sparse' must be None (automatic), True or False, got {sparse!r}")
        self.network = network
        self.spike_fn = (torch_surrogates.atan() if surrogate_fn is None
                         else _checked_surrogate(surrogate_fn, dtype, device))
        self.register_buffer("_anchor", torch.zeros((), dtype=dtype, device=device))  # follows .to()
        self.weights = nn.ParameterDict()
        self._models = {}
        for pop in network.populations.values():
            self._models[pop.name] = step_for(network, pop)
            for var, value in pop.initial_state().items():
                self.register_buffer(f"init__{pop.name}__{var}", torch.as_tensor(value, dtype=dtype, device=device))
        self._synapse_models = {p.name: SynapseStep(network, p) for p in network.projections.values()
                                if isinstance(p.synapse, SynapseModel)}
        self.sparse = frozenset(p.name for p in network.projections.values()
                                if p.plasticity is None and p.normalization is None and p.name not in self._synapse_models
                                and (sparse or (sparse is None and _better_sparse(p, network))))
        for proj in network.projections.values():
            n_pre, n_post = network.size(proj.pre), network.size(proj.post)
            if proj.name in self._synapse_models:  # the model's weight variable, one value per synapse
                self.weights[proj.name] = nn.Parameter(torch.as_tensor(proj.weights, dtype=dtype, device=device))
                continue
            if proj.name in self.sparse:
                self._add_sparse(proj, n_pre, dtype, device)
                continue
            dense = torch.zeros(n_pre, n_post, dtype=dtype, device=device)
            sign_mask = torch.zeros(n_pre, n_post, dtype=dtype, device=device)
            pre, post = torch.as_tensor(proj.pre_idx), torch.as_tensor(proj.post_idx)
            dense[pre, post] = torch.as_tensor(proj.weights, dtype=dtype, device=device)
            sign_mask[pre, post] = SIGNS[proj.sign]
            self.weights[proj.name] = nn.Parameter(dense)
            self.register_buffer(f"sign_mask__{proj.name}", sign_mask)
            self.register_buffer(f"mask__{proj.name}", sign_mask.abs(), persistent=False)  # derived
        self._unsigned_all_to_all = frozenset(
            p.name for p in network.projections.values() if p.sign is None and p.name not in self.sparse
            and p.name not in self._synapse_models and p.n_synapses == network.size(p.pre) * network.size(p.post))
        self.max_delay = {}
        for proj in network.projections.values():
            self.max_delay[proj.pre] = max(self.max_delay.get(proj.pre, 0), proj.delay_steps)
        # projections whose weights change during a run keep them in the state
        self._rules = {p.name: RULE_STEPS[type(p.plasticity)](p.plasticity, network.dt)
                       for p in network.projections.values()
                       if p.plasticity is not None or p.normalization is not None}
        self._normalizations = {p.name: (p.normalization.interval_steps(network.dt), p.normalization.total)
                                for p in network.projections.values() if p.normalization is not None}
        self._incoming = {p: [proj for proj in network.projections.values() if proj.post == p]
                          for p in network.populations}
        self._layers = self._layer_order() if check.flag("TorchNetwork", "layerwise", layerwise) else None
        self.log_tau_m = nn.ParameterDict()
        for p in self._population_names("learn_tau_m", learn_tau_m):
            model = network.populations[p].model
            if not isinstance(model, LIF) or network.currents(p) or network.conductances(p):
                raise ValueError(f"TorchNetwork: 'learn_tau_m' names population {p!r}, a {type(model).__name__}"
                                 f"{' with synaptic currents' if isinstance(model, LIF) else ''}; it takes LIF "
                                 f"populations that receive delta synapses only")
            self.log_tau_m[p] = nn.Parameter(torch.tensor(np.log(model.tau_m), dtype=dtype, device=device))

    def _layer_order(self) -> tuple[str, ...] | None:
        """The populations in an order where every projection's source comes before its target, if the
        network can run layer by layer (no cycle between populations, no plasticity or SynapseModel, no
        weight monitors); else None (it runs step by step)."""
        net = self.network
        if self._rules or self._synapse_models or any(m.target in net.projections for m in net.monitors):
            return None
        order, placed = [], set(net.inputs)
        while len(order) < len(net.populations):
            ready = [p for p in net.populations if p not in placed
                     and all(proj.pre in placed for proj in self._incoming[p])]
            if not ready:
                return None   # a cycle: recurrent populations need every step's spikes before the next step
            order += ready
            placed.update(ready)
        return tuple(order)

    def _add_sparse(self, proj, n_pre: int, dtype, device) -> None:
        """Per-synapse weights, signs and the synapses of each presynaptic
        neuron (CSR: those of neuron i are ``indptr[i]:indptr[i + 1]``)."""
        self.weights[proj.name] = nn.Parameter(torch.as_tensor(proj.weights, dtype=dtype, device=device).clone())
        self.register_buffer(f"sign__{proj.name}", torch.full((proj.n_synapses,), SIGNS[proj.sign], dtype=dtype,
                                                              device=device))
        indptr = np.concatenate([[0], np.cumsum(np.bincount(proj.pre_idx, minlength=n_pre))])
        self.register_buffer(f"indptr__{proj.name}", torch.as_tensor(indptr, dtype=torch.int64, device=device),
                             persistent=False)
        self.register_buffer(f"post__{proj.name}", torch.as_tensor(proj.post_idx, dtype=torch.int64, device=device),
                             persistent=False)

    @property
    def dtype(self) -> torch.dtype:
        """The module's floating dtype (``torch.float32`` or ``torch.float64``); follows ``.to()``."""
        return self._anchor.dtype

    @property
    def device(self) -> torch.device:
        """The device the module's parameters and buffers live on; follows ``.to()``."""
        return self._anchor.device

    def effective_weight(self, name: str) -> torch.Tensor:
        """Signed, masked (n_pre, n_post) weight matrix of projection
        ``name``; for a sparse projection its signed weights (n_synapses,);
        for a SynapseModel its weight variable (n_synapses,)."""
        if name in self._synapse_models:
            return self.weights[name]
        if name in self.sparse:
            return self.weights[name] * getattr(self, f"sign__{name}")
        if name in self._unsigned_all_to_all:   # (its mask is all ones: the product would change nothing)
            return self.weights[name]
        return self.weights[name] * getattr(self, f"sign_mask__{name}")

    def initial_state(self, batch_size: int = 1) -> TorchState:
        """The state at step 0: ``v = v_init`` (other variables from the
        model's ``initial_state``), currents zero, no spikes yet."""
        batch_size = check.integer("TorchNetwork.initial_state", "batch_size", batch_size, minimum=1)
        kw = dict(dtype=self.dtype, device=self.device)
        net = self.network
        per_copy = sum(pop.n * (len(pop.model.state_variables) + len(net.currents(p)) + len(net.conductances(p)) + 1)
                       for p, pop in net.populations.items()) + sum(net.size(s) * d for s, d in self.max_delay.items())
        check.memory("TorchNetwork.initial_state", 8.0 * batch_size * per_copy, f"the state of {batch_size} copies",
                     "use a smaller batch")
        neurons = {p: {var: getattr(self, f"init__{p}__{var}").expand(batch_size, -1).clone()
                       for var in pop.model.state_variables} for p, pop in net.populations.items()}
        currents = {p: {c: torch.zeros(batch_size, pop.n, **kw)
                        for c in [c for c, _ in net.currents(p)] + [g for g, _, _ in net.conductances(p)]}
                    for p, pop in net.populations.items()}
        last = {p: torch.full((batch_size, pop.n), _NEVER, dtype=torch.int64, device=self.device)
                for p, pop in net.populations.items()}
        history = {src: [torch.zeros(batch_size, net.size(src), **kw)] * d
                   for src, d in self.max_delay.items() if d > 0}
        plastic = {name: rule.init_state(self.weights[name].detach().clone(), batch_size,
                                         net.size(net.projections[name].pre), net.size(net.projections[name].post))
                   for name, rule in self._rules.items()}
        synapses = {name: step.init_state(self.weights[name], batch_size) for name, step in self._synapse_models.items()}
        return TorchState(0, neurons, currents, last, history, plastic, synapses)

    def _check_inputs(self, inputs, steps, values: bool = True):
        if inputs is not None and not isinstance(inputs, Mapping):
            raise TypeError(f"TorchNetwork: 'inputs' must be a mapping of input name -> spike tensor (time, batch, n) "
                            f"for the inputs {sorted(self.network.inputs)}, got {type(inputs).__name__}")
        inputs = dict(inputs or {})
        unknown = set(inputs) - set(self.network.inputs)
        missing = set(self.network.inputs) - set(inputs)
        if unknown or missing:
            raise ValueError(f"TorchNetwork: 'inputs' must give a spike tensor for exactly the inputs "
                             f"{sorted(self.network.inputs)}; missing {sorted(missing)}, unknown "
                             f"{sorted(unknown, key=repr)}")
        shapes = set()
        for name, x in inputs.items():
            n = self.network.inputs[name].n
            if not isinstance(x, torch.Tensor) or x.ndim != 3 or x.shape[2] != n:
                got = tuple(x.shape) if hasattr(x, "shape") else type(x).__name__
                raise ValueError(f"TorchNetwork: input {name!r} must be a tensor of shape "
                                 f"(time, batch, {n}), got {got}")
            if x.is_complex() or not (x.is_floating_point() or x.dtype in _COUNTS):
                raise TypeError(f"TorchNetwork: input {name!r} must hold real spikes (a float, integer or bool "
                                f"tensor), got dtype {x.dtype}")
            if values and x.dtype != torch.bool and x.numel():   # one pass and one host synchronization per input
                low, high = torch.aminmax(x)               # (NaN propagates into both)
                if not bool((low >= 0) & (high < float("inf"))):
                    if x.is_floating_point() and not bool(torch.isfinite(x).all()):
                        raise ValueError(f"TorchNetwork: input {name!r} must be finite, got NaN or inf")
                    raise ValueError(f"TorchNetwork: input {name!r} must be >= 0 (spikes, or counts of them), got "
                                     f"minimum {low.item()}")
            shapes.add(tuple(x.shape[:2]))
            inputs[name] = x.to(dtype=self.dtype, device=self.device)
        if len(shapes) > 1:
            raise ValueError(f"TorchNetwork: all inputs must share (time, batch), got {sorted(shapes)}")
        if shapes:
            t, b = shapes.pop()
            if steps is not None and steps != t:
                raise ValueError(f"TorchNetwork: 'steps' ({steps}) disagrees with the inputs' time length ({t}); "
                                 f"it must be None or equal to it")
            return inputs, t, b
        if steps is None:
            raise ValueError("TorchNetwork: a network without inputs needs 'steps'")
        return inputs, steps, None

    def forward(self, inputs=None, *, steps: int | None = None, state: TorchState | None = None,
                record: tuple[str, ...] | None = None, signals=None, exclusive: tuple[str, ...] = (),
                weights=None, check_values: bool = True) -> TorchOutput:
        """Simulate ``steps`` steps (default: the inputs' length).

        inputs: input name -> spike tensor (T, batch, n), real, finite and
        >= 0: 1 is a spike; other values are graded input that delivers that
        multiple of the weight (learning rules and SynapseModels count any
        positive value as one spike). state: continue
        from here (default :meth:`initial_state`). record: populations whose
        spikes to return (default all). signals: signal name -> values, one
        per step (T,), for rules that read them (default 0).

        exclusive: populations whose neurons may fire in one copy of the
        batch only during this call. A neuron's first spike claims it for
        that copy (the lowest copy index among copies firing at the same
        step); in the other copies it stays silent. Copies that learn
        together through shared weights and thresholds then compete for
        neurons as one image after another would: each neuron learns from
        one copy, and every copy finds its own winners.

        weights: projection name -> signed (n_pre, n_post) weight tensor to
        use instead of :meth:`effective_weight` (a parametrization of one's
        own, such as a convolution's shared kernel; dense projections without
        plasticity).

        check_values: False skips reading every input value to check that it is
        finite and >= 0 (one pass over the inputs and a host synchronization),
        for spikes one's own encoder made; shapes and dtypes are checked always.
        """
        if state is not None and not isinstance(state, TorchState):
            raise TypeError(f"TorchNetwork: 'state' must be a TorchState (from initial_state or a previous "
                            f"output) or None, got {type(state).__name__}")
        if record is not None:
            record = self._population_names("record", record)
        exclusive = self._population_names("exclusive", exclusive)
        if steps is not None:
            steps = check.integer("TorchNetwork", "steps", steps, minimum=0)
        inputs, steps, batch = self._check_inputs(inputs, steps, check.flag("TorchNetwork", "check_values",
                                                                            check_values))
        self._check_memory(steps, batch or 1, record)
        if state is not None:
            self._check_state(state)
        signals = {name: values.tolist()
                   for name, values in self.network.signal_values(signals, steps, "TorchNetwork").items()}
        state = self.initial_state(batch or 1) if state is None else state
        batch_size = next(iter(state.last_spike.values())).shape[0] if state.last_spike else 1
        if batch is not None and batch_size != batch:
            raise ValueError(f"TorchNetwork: 'state' has batch size {batch_size}, the inputs {batch}: they must "
                             f"agree")
        single = sorted(name for name in state.plastic if not self._rules[name].batched)
        if single and batch_size != 1:
            raise ValueError(f"TorchNetwork: the rules of plastic projections {single} learn from one copy of "
                             f"the network at a time, so they need batch size 1, got {batch_size} (STDP learns "
                             f"from batches)")
        net = self.network
        owners = {p: torch.full((net.size(p),), -1, dtype=torch.long, device=self.device) for p in exclusive}
        record = tuple(net.populations) if record is None else tuple(record)
        W = {name: self.effective_weight(name) for name in net.projections if name not in self._rules}
        W.update(self._weight_overrides(weights))
        for p, log_tau in self.log_tau_m.items():
            self._models[p].learn_decay(torch.exp(-net.dt / torch.exp(log_tau)))
        trace_mons = [m for m in net.monitors if m.variable != "spikes"]
        out_spikes = {p: [] for p in record}
        out_traces = {m.key: ([], []) for m in trace_mons}
        work = state.copy()
        if self._layers is not None and not exclusive:
            trains = self._run_layers(work, inputs, W, steps, batch_size, out_traces, trace_mons)
            out_spikes = {p: trains[p] for p in record}
        for t in range(steps if self._layers is None or exclusive else 0):
            for m in trace_mons:
                if work.step % m.every == 0:
                    out_traces[m.key][0].append(work.step)
                    out_traces[m.key][1].append(self._sample(m, work))
            spk = self._step(work, {name: x[t] for name, x in inputs.items()}, W,
                             {name: values[t] for name, values in signals.items()}, owners)
            for p in record:
                out_spikes[p].append(spk[p])
        spikes = {p: s if isinstance(s, torch.Tensor) else torch.stack(s) if s else torch.zeros(0, 1, net.size(p))
                  for p, s in out_spikes.items()}
        traces = {m.key: (np.asarray(out_traces[m.key][0], dtype=np.int64),
                          torch.stack(out_traces[m.key][1]) if out_traces[m.key][1]
                          else self._sample(m, work).unsqueeze(0)[:0])
                  for m in trace_mons}
        return TorchOutput(spikes, traces, work)

    def _weight_overrides(self, weights) -> dict[str, torch.Tensor]:
        """``forward``'s ``weights``, checked."""
        if weights is None:
            return {}
        if not isinstance(weights, Mapping):
            raise TypeError(f"TorchNetwork: 'weights' must be a mapping of projection name -> (n_pre, n_post) "
                            f"tensor, got {type(weights).__name__}")
        for name, w in weights.items():
            dense = [n for n in self.network.projections
                     if n not in self._rules and n not in self.sparse and n not in self._synapse_models]
            if name not in dense:
                raise ValueError(f"TorchNetwork: 'weights' names {name!r}; it takes dense projections without "
                                 f"plasticity: {dense}")
            proj = self.network.projections[name]
            shape = (self.network.size(proj.pre), self.network.size(proj.post))
            if not isinstance(w, torch.Tensor) or tuple(w.shape) != shape:
                got = tuple(w.shape) if hasattr(w, "shape") else type(w).__name__
                raise ValueError(f"TorchNetwork: 'weights'[{name!r}] must be a tensor of shape {shape}, got {got}")
        return {name: w.to(dtype=self.dtype, device=self.device) for name, w in weights.items()}

    def _check_memory(self, steps: int, batch: int, record) -> None:
        """Fail at once if the spikes and traces that ``steps`` steps would record cannot fit in memory."""
        net = self.network
        per_step = sum(net.size(p) for p in (net.populations if record is None else record))
        for m in net.monitors:
            if m.variable != "spikes":
                per_step += (net.projections[m.target].n_synapses if m.target in net.projections
                             else net.size(m.target)) / m.every
        check.memory("TorchNetwork", 2.0 * self._anchor.element_size() * batch * per_step * steps,
                     f"{steps} steps", "run fewer steps at a time (pass the returned state on), or record less")

    def _check_state(self, state: TorchState) -> None:
        """``state`` must have been made by this network (its populations, plastic projections, synapse models
        and delay histories)."""
        parts = (set(state.neurons), set(state.plastic), set(state.synapses), set(state.history))
        ours = (set(self.network.populations), set(self._rules), set(self._synapse_models),
                {s for s, d in self.max_delay.items() if d > 0})
        if parts != ours:
            raise ValueError(f"TorchNetwork: 'state' must be a state of this network (from its initial_state or "
                             f"a previous output), got one of populations {sorted(state.neurons)}")

    def _population_names(self, name: str, value) -> tuple[str, ...]:
        """``value`` (a tuple or list of population names, for parameter ``name``) as a tuple, checked."""
        if not isinstance(value, (tuple, list)) or not all(isinstance(r, str) for r in value):
            raise TypeError(f"TorchNetwork: '{name}' must be a tuple of population names, got {value!r}")
        unknown = sorted(set(value) - set(self.network.populations))
        if unknown:
            raise ValueError(f"TorchNetwork: '{name}' names unknown populations {unknown}; the network has "
                             f"{sorted(self.network.populations)}")
        return tuple(value)

    def _step(self, state: TorchState, input_spikes, W, signals, owners) -> dict[str, torch.Tensor]:
        """Advance ``state`` by one step (in place); returns every source's
        spikes. ``owners[p]`` (n,): the copy that has claimed each neuron of
        an exclusive population p, -1 while none has (updated in place)."""
        x, cur, last, history, step = state.neurons, state.currents, state.last_spike, state.history, state.step
        spk, is_open = dict(input_spikes), {}
        net = self.network
        synapse_models = [(net.projections[name], m, state.synapses[name]) for name, m in self._synapse_models.items()]
        for proj, model, syn in synapse_models:  # (Brian2 updates summed variables first, then synapses' equations)
            model.summed(syn, W[proj.name], x.get(proj.pre, {}), x[proj.post], step)
        for proj, model, syn in synapse_models:
            model.integrate(syn, W[proj.name], x.get(proj.pre, {}), x[proj.post], step)
        for p, model in self._models.items():
            x[p], cur[p], spk[p], is_open[p] = model.integrate(x[p], cur[p], last[p], step, self.spike_fn)
        for p, owner in owners.items():
            spk[p] = spk[p] * _claim(owner, spk[p])
        for name, st in state.plastic.items():
            self._rules[name].decay(st)
        for proj in self.network.projections.values():
            d = proj.delay_steps
            src = spk[proj.pre] if d == 0 else history[proj.pre][-d]
            if proj.name in self._synapse_models:
                self._synapse_models[proj.name].on_pre(state.synapses[proj.name], W[proj.name], x.get(proj.pre, {}),
                                                       x[proj.post], step, src,
                                                       (is_open.get(proj.pre), is_open[proj.post]))
                continue
            st = state.plastic.get(proj.name)
            weight, scale = (W[proj.name], None) if st is None else (st["w"], self._sign_mask(proj.name))
            deliver = self._deliver_function(proj)
            var, target = proj.target_variable, x[proj.post]
            if var in target:
                gate = is_open[proj.post] if var in self._models[proj.post].gated else None
                target[var] = deliver(target[var], src, weight, gate, scale)
            else:
                c = cur[proj.post]
                c[proj.target_variable] = deliver(c[proj.target_variable], src, weight, None, scale)
            if st is not None:
                self._rules[proj.name].on_pre(st, src, self._mask(proj.name))
        for proj in self.network.projections.values():
            if proj.name in state.plastic:
                self._rules[proj.name].on_post(state.plastic[proj.name], spk[proj.post], self._mask(proj.name))
            elif proj.name in self._synapse_models:
                self._synapse_models[proj.name].on_post(state.synapses[proj.name], W[proj.name], x.get(proj.pre, {}),
                                                        x[proj.post], step, spk[proj.post],
                                                        (is_open.get(proj.pre), is_open[proj.post]))
        for p, model in self._models.items():
            x[p] = model.reset(x[p], spk[p])
            if model.ref_steps:
                last[p] = torch.where(spk[p].bool(), step, last[p])  # (0 or 1: a cast is cheaper than > 0)
        for name, st in state.plastic.items():
            self._rules[name].on_end(st, signals, self._mask(name))
        for name, (every, total) in self._normalizations.items():
            if step % every == 0:
                normalize(state.plastic[name], total)
        for src, h in history.items():
            h.append(spk[src])
            del h[0]
        state.step += 1
        return spk

    def _run_layers(self, state: TorchState, inputs, W, steps: int, batch: int, out_traces, trace_mons):
        """Advance ``state`` by ``steps`` steps layer by layer (in place): each population in topological
        order runs all its steps before the next, fed by its sources' whole spike trains. The order of the
        arithmetic within a step is the step-wise one, so the spikes are the same (bitwise in float64, where
        each step delivers as :meth:`_step` does; in float32 each projection's input for all steps is one
        matrix product, equal to rounding). Returns every source's spikes (steps, batch, n)."""
        net = self.network
        trains = dict(inputs)
        for p in self._layers:
            model = self._models[p]
            monitors = [m for m in trace_mons if m.target == p]
            sources = [(proj, self._delayed(state, trains[proj.pre], proj)) for proj in self._incoming[p]]
            if not monitors and runs_fused(model, self.spike_fn, self.dtype):
                drive = None
                for proj, spikes in sources:
                    current = self._input_of_all_steps(proj, spikes, W[proj.name])
                    drive = current if drive is None else drive + current
                if drive is None:
                    drive = torch.zeros(steps, batch, net.size(p), dtype=self.dtype, device=self.device)
                trains[p], v = LIFRun.apply(drive, state.neurons[p]["v"], model.e_m, model, self.spike_fn)
                state.neurons[p] = {**state.neurons[p], "v": v}
                continue
            feeds = [(proj, self._feed(proj, spikes, W[proj.name])) for proj, spikes in sources]
            x, cur, last = state.neurons[p], state.currents[p], state.last_spike[p]
            out = []
            for t in range(steps):
                step = state.step + t
                for m in monitors:
                    if step % m.every == 0:
                        state.neurons[p], state.currents[p] = x, cur
                        out_traces[m.key][0].append(step)
                        out_traces[m.key][1].append(self._sample(m, state))
                x, cur, spikes, is_open = model.integrate(x, cur, last, step, self.spike_fn)
                for proj, feed in feeds:
                    var = proj.target_variable
                    target = x if var in x else cur
                    gate = is_open if target is x and var in model.gated else None
                    target[var] = feed(target[var], t, gate)
                x = model.reset(x, spikes)
                if model.ref_steps:
                    last = torch.where(spikes.bool(), step, last)
                out.append(spikes)
            state.neurons[p], state.currents[p], state.last_spike[p] = x, cur, last
            trains[p] = torch.stack(out) if out else torch.zeros(0, batch, net.size(p), dtype=self.dtype,
                                                                device=self.device)
        for src, history in state.history.items():
            state.history[src] = list(torch.cat([torch.stack(history), trains[src]])[-len(history):].unbind(0))
        state.step += steps
        return trains

    def _delayed(self, state: TorchState, train: torch.Tensor, proj) -> torch.Tensor:
        """The spikes ``proj`` delivers at each step of this call, (steps, batch, n_pre): its source's,
        ``delay`` steps earlier (from the state's history before the call's first steps)."""
        d = proj.delay_steps
        if d == 0:
            return train
        history = state.history[proj.pre]
        return torch.cat([torch.stack(history[len(history) - d:]), train])[:len(train)]

    def _feed(self, proj, spikes: torch.Tensor, weight: torch.Tensor):
        """``feed(target, t, gate)``: ``target`` plus what ``proj`` delivers at step ``t`` of the call. In
        float64 the step's delivery is :meth:`_step`'s, spike by spike; otherwise every step's input is
        computed at once (:meth:`_input_of_all_steps`) and added per step without host synchronization."""
        if self.dtype == torch.float64:
            deliver = self._deliver_function(proj)
            per_step = spikes.unbind(0)   # (views whose backward is one stack, where indexing would fill T zeros)
            return lambda target, t, gate: deliver(target, per_step[t], weight, gate)
        current = self._input_of_all_steps(proj, spikes, weight).unbind(0)   # (see above)
        return lambda target, t, gate: target + (current[t] if gate is None else current[t] * gate)

    def _input_of_all_steps(self, proj, spikes: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """What ``proj`` delivers at each step, (steps, batch, n_post): one product over steps x batch."""
        steps, batch, n_pre = spikes.shape
        n_post = self.network.size(proj.post)
        flat = spikes.reshape(steps * batch, n_pre)
        if proj.name in self.sparse:
            flat_in = self._deliver_function(proj)(flat.new_zeros(steps * batch, n_post), flat, weight, None)
        else:
            flat_in = flat @ weight
        return flat_in.reshape(steps, batch, n_post)

    def _deliver_function(self, proj):
        """The delivery of ``proj``: per synapse for a sparse projection, else through its dense matrix."""
        if proj.name in self.sparse:
            return functools.partial(_deliver_sparse, indptr=getattr(self, f"indptr__{proj.name}"),
                                     post=getattr(self, f"post__{proj.name}"))
        return _deliver

    def _sign_mask(self, name: str) -> torch.Tensor:
        return getattr(self, f"sign_mask__{name}")

    def _mask(self, name: str) -> torch.Tensor:
        """1 where projection ``name`` has a synapse, else 0."""
        return getattr(self, f"mask__{name}")

    def _sample(self, monitor, state: TorchState) -> torch.Tensor:
        """The monitored variable now: (batch, n), or (1, n_synapses) for weights."""
        if monitor.target in self._synapse_models:
            st, var = state.synapses[monitor.target], monitor.variable  # (a copy: updated in place later)
            return (st[var] if var in st else self.weights[monitor.target].unsqueeze(0)).detach().clone()
        if monitor.target in self.network.projections:
            proj = self.network.projections[monitor.target]
            st = state.plastic.get(proj.name)
            w = st["w"] if st is not None else self.weights[proj.name]
            if proj.name in self.sparse:
                return w.detach().unsqueeze(0)
            return w.detach()[torch.as_tensor(proj.pre_idx), torch.as_tensor(proj.post_idx)].unsqueeze(0)
        x = state.neurons[monitor.target]
        value = x[monitor.variable] if monitor.variable in x else state.currents[monitor.target][monitor.variable]
        return value.detach()

    def to_network(self, state: TorchState | None = None) -> Network:
        """The Network with this module's current weights and, given a batch-1
        ``state``, the populations' learned state from it (see ``learned_state``
        of the models)."""
        weights = {}
        for name, proj in self.network.projections.items():
            w = self.weights[name].detach()
            if name not in self.sparse and name not in self._synapse_models:
                w = w[torch.as_tensor(proj.pre_idx), torch.as_tensor(proj.post_idx)]
            weights[name] = w.cpu().double().numpy()
        learned = {} if state is None else {
            name: {var: state.neurons[name][var][0].detach().cpu().double().numpy() for var in pop.model.learned_state}
            for name, pop in self.network.populations.items() if pop.model.learned_state}
        models = {p: dataclasses.replace(self.network.populations[p].model, tau_m=float(torch.exp(log_tau.detach())))
                  for p, log_tau in self.log_tau_m.items()}
        return self.network.with_weights(weights).with_initial_state(learned).with_models(models)


def _checked_surrogate(fn, dtype, device):
    """``fn``, a surrogate spike function, if it maps a tensor to spikes of the same shape (tried once)."""
    expected = ("a surrogate spike function such as neuroai.backends.torch_surrogates.atan() or "
                "snntorch.surrogate.atan() (tensor -> spikes of its shape), or None")
    if not callable(fn):
        raise TypeError(f"TorchNetwork: 'surrogate_fn' must be {expected}, got {fn!r}")
    probe = torch.zeros(2, dtype=dtype, device=device)
    try:
        out = fn(probe)
    except Exception as err:  # noqa: BLE001 -- whatever it raises, it is not a spike function
        raise TypeError(f"TorchNetwork: 'surrogate_fn' must be {expected}; calling it on a tensor raised "
                        f"{type(err).__name__}: {err}") from err
    if not isinstance(out, torch.Tensor) or out.shape != probe.shape:
        raise TypeError(f"TorchNetwork: 'surrogate_fn' must be {expected}; it returned {type(out).__name__}")
    return fn


_COUNTS = (torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)


def _claim(owner: torch.Tensor, spikes: torch.Tensor) -> torch.Tensor:
    """Give each unclaimed neuron that fires now to the first copy firing it
    (``owner`` (n,) updated in place); returns (batch, n), 1 where a copy
    owns the neuron, so may keep its spikes."""
    fired = spikes > 0
    first = fired.to(torch.uint8).argmax(0)  # the lowest copy index among those firing
    owner.copy_(torch.where((owner < 0) & fired.any(0), first, owner))
    return (torch.arange(len(spikes), device=owner.device).unsqueeze(1) == owner).to(spikes.dtype)


SPARSE_ABOVE = 2 ** 24  # dense entries beyond which a sparse projection is stored per synapse


def _better_sparse(proj, network: Network) -> bool:
    """Whether projection ``proj`` is big and empty enough to store per synapse."""
    entries = network.size(proj.pre) * network.size(proj.post)
    return entries > SPARSE_ABOVE and proj.n_synapses * 4 < entries


def _deliver_sparse(target: torch.Tensor, spikes: torch.Tensor, weight: torch.Tensor, gate, scale=None, *,
                    indptr: torch.Tensor, post: torch.Tensor) -> torch.Tensor:
    """``target`` plus the signed per-synapse ``weight`` (n_synapses,) of the
    synapses of every presynaptic neuron that fired (``spikes`` (batch,
    n_pre)), added at their targets (gated per target neuron). On the CPU,
    or in float64, only the synapses of the neurons that fired are visited
    (event-driven, as Brian2 does); elsewhere every synapse is, so that
    nothing waits for the host (a spike count) inside the time loop."""
    if target.dtype != torch.float64 and not spikes.is_cpu:
        pre = torch.repeat_interleave(torch.arange(len(indptr) - 1, device=spikes.device), indptr.diff(),
                                      output_size=len(post))
        values = spikes[:, pre] * weight
        out = target.new_zeros(target.shape).index_add(1, post, values)
        return target + (out if gate is None else out * gate)
    b, i = spikes.nonzero(as_tuple=True)
    if len(b) == 0:
        return target
    starts, counts = indptr[i], indptr[i + 1] - indptr[i]
    event = torch.repeat_interleave(torch.arange(len(i), device=spikes.device), counts)  # each synapse's spike
    first = torch.cumsum(counts, 0) - counts
    synapse = starts[event] + torch.arange(len(event), device=spikes.device) - first[event]
    values = weight[synapse] * spikes[b, i][event]  # the spike factor (1.0) carries gradients
    rows, cols = b[event], post[synapse]
    if gate is not None:
        values = values * gate[rows, cols]
    return target.index_put((rows, cols), values, accumulate=True)


def _deliver(target: torch.Tensor, spikes: torch.Tensor, weight: torch.Tensor, gate, scale=None) -> torch.Tensor:
    """``target + spikes @ (weight * scale)`` (gated per target neuron).

    In float64 (the parity mode) contributions are added spike by spike in
    presynaptic order, as Brian2 adds them, so results agree bit for bit. In
    float32 a dense matmul takes over when more than 1/8 of sources spike,
    and always off the CPU (no spike count waits for the host).
    """
    if target.dtype != torch.float64 and not spikes.is_cpu:
        out = spikes @ (weight if scale is None else weight * scale)
        return target + (out if gate is None else out * gate)
    b, i = spikes.nonzero(as_tuple=True)
    if target.dtype != torch.float64 and len(b) * 8 > spikes.numel():
        out = spikes @ (weight if scale is None else weight * scale)
        return target + (out if gate is None else out * gate)
    if len(b) == 0:
        return target
    rows = weight[i] if scale is None else weight[i] * scale[i]
    rows = rows * spikes[b, i].unsqueeze(1)  # the spike factor (1.0) carries gradients
    if gate is not None:
        rows = rows * gate[b]
    if target.shape[0] == 1:
        # A running sum adds the rows one by one, in order. Unlike index_add
        # it starts no worker threads, which stall on a busy CPU.
        return torch.cat([target, rows]).cumsum(0)[-1:]
    return target.index_add(0, b, rows)


class Runner:
    """Drives a :class:`TorchNetwork` for the :class:`neuroai.Simulator` (batch 1, no grad).

    device: default CUDA when available, except in float64, the parity mode,
    which runs on the CPU unless told otherwise: its bitwise agreement with
    Brian2 is the CPU's (on CUDA, ``exp`` and scatter-adds round and order
    differently).
    """

    def __init__(self, network: Network, *, dtype="float32", device=None, sparse: bool | None = None,
                 check_finite: bool = True):
        if device is None and dtype in ("float64", torch.float64):
            device = "cpu"
        self.module = TorchNetwork(network, dtype=dtype, device=device, sparse=sparse)
        self.network = network
        self.check_finite = check_finite
        self.state = self.module.initial_state(1)
        self.spike_record = tuple(m.target for m in network.monitors
                                  if m.variable == "spikes" and m.target in network.populations)

    @property
    def step(self) -> int:
        """Steps simulated so far: the absolute step the next :meth:`run` starts at."""
        return self.state.step

    def run(self, input_spikes: dict[str, np.ndarray], n_steps: int, signals: dict[str, np.ndarray]):
        """Advance ``n_steps`` steps from the present state, without gradients; ``input_spikes`` maps
        each input to a raster (n_steps, n), ``signals`` each signal to its values (n_steps,). The weights
        that plasticity (or a SynapseModel) changed are written back to the module's parameters. Returns
        (spikes, traces) of the segment: population name -> :class:`~neuroai.results.Spikes` for the
        spike-monitored populations, monitor key -> :class:`~neuroai.results.Trace`, at absolute steps.
        With ``check_finite``, the state is checked every ``FINITE_CHECK_EVERY`` steps and at the end
        (:class:`~neuroai.backends.NonFiniteState` if a variable is NaN or infinite)."""
        module = self.module
        inputs = {name: torch.as_tensor(r, dtype=module.dtype, device=module.device).unsqueeze(1)
                  for name, r in input_spikes.items()}
        start = self.state.step
        every = FINITE_CHECK_EVERY if self.check_finite else n_steps
        parts = []
        with torch.no_grad():
            for a in range(0, n_steps, every):
                b = min(n_steps, a + every)
                finite_step = self.state.step
                out = module({name: x[a:b] for name, x in inputs.items()}, steps=b - a, state=self.state,
                             record=self.spike_record, signals={name: v[a:b] for name, v in signals.items()})
                self.state = out.state
                parts.append(out)
                if self.check_finite:
                    self._check_finite(self.state, finite_step)
            for name, st in self.state.plastic.items():
                module.weights[name].copy_(st["w"])
            for name, model in module._synapse_models.items():
                learned = model.learned_weight(self.state.synapses[name])
                if learned is not None:
                    module.weights[name].copy_(learned)
        spikes = {}
        for p in self.spike_record:
            t, _, idx = torch.nonzero(torch.cat([out.spikes[p] for out in parts]) > 0, as_tuple=True)
            spikes[p] = Spikes(t.cpu().numpy() + start, idx.cpu().numpy(), self.network.size(p))
        traces = {key: Trace(np.concatenate([out.traces[key][0] for out in parts]),
                             torch.cat([out.traces[key][1] for out in parts])[:, 0, :].cpu().double().numpy())
                  for key in parts[0].traces}
        return spikes, traces

    def _check_finite(self, state: TorchState, finite_step: int) -> None:
        """Raise :class:`~neuroai.backends.NonFiniteState` for the first variable of ``state`` that is NaN
        or infinite (one device synchronization when every variable is finite)."""
        named = list(state.variables())
        if not named or bool(torch.stack([torch.isfinite(x).all() for _, _, x in named]).all()):
            return
        part, variable, _ = next(v for v in named if not bool(torch.isfinite(v[2]).all()))
        raise nonfinite("torch", part, variable, state.step, finite_step, self.network.dt)

    def run_trials(self, input_spikes: dict[str, np.ndarray], n_steps: int, batch_size: int = 256):
        """Run each trial (``input_spikes[name][k]``, shape (n_steps, n)) from
        the present state, ``batch_size`` trials at a time as one batch; the
        state is left as it was. Returns the spikes laid out as if trial k ran
        at steps ``k * n_steps`` onwards."""
        module, start = self.module, self.state.step
        n_trials = len(next(iter(input_spikes.values())))
        found = {p: [] for p in self.spike_record}
        with torch.no_grad():
            for first in range(0, n_trials, batch_size):
                inputs = {name: torch.as_tensor(r[first:first + batch_size], dtype=module.dtype,
                                                device=module.device).transpose(0, 1)
                          for name, r in input_spikes.items()}
                batch = next(iter(inputs.values())).shape[1]
                out = module(inputs, steps=n_steps, state=self.state.repeat(batch), record=self.spike_record)
                if self.check_finite:
                    self._check_finite(out.state, start)
                for p, s in out.spikes.items():
                    t, b, idx = (x.cpu().numpy() for x in torch.nonzero(s > 0, as_tuple=True))
                    found[p].append(((first + b) * n_steps + t + start, idx))
        spikes = {}
        for p, parts in found.items():
            steps = np.concatenate([s for s, _ in parts]) if parts else np.zeros(0, np.int64)
            idx = np.concatenate([i for _, i in parts]) if parts else np.zeros(0, np.int64)
            order = np.lexsort((idx, steps))
            spikes[p] = Spikes(steps[order], idx[order], self.network.size(p))
        return spikes

    def to_network(self) -> Network:
        """The Network with the weights as they are now (after plasticity)
        and the populations' learned state."""
        return self.module.to_network(self.state)
