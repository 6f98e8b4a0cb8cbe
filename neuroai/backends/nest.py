"""NEST backend: a Network run by the NEST simulator (threads here; MPI on clusters with an MPI-built NEST).

The translation tables live in :mod:`.nest_models` (which NEST model runs
each neuron model with its synapses, which NEST synapse each rule, every
unit conversion); this module builds and runs the NEST network. Inputs
receive neuroai's own rasters (``spike_generator``), spike monitors become
``spike_recorder`` devices, state monitors ``multimeter`` devices, and the weights
that plasticity changed are read back into :meth:`Runner.to_network`.
Anything NEST cannot run is refused when the Simulator is built, naming the
backends that run it.

Event order. NEST's update ``k`` covers ``(k dt, (k + 1) dt]`` and stamps
its spikes ``(k + 1) dt``; it is neuroai's step ``k``. The minimum delay is
one step. A spike of input neuron ``i`` at step ``k`` is a
``spike_generator`` spike at ``(k + 1) dt``. Per translation, the NEST delay
is the neuroai delay plus a fixed shift (see :mod:`.nest_models` for why,
and how each translation agrees with Brian2). Plastic projections see their
presynaptic spikes delayed by ``parrot_neuron`` nodes, with a one-step NEST
delay, so that the delay stays axonal as in neuroai; from an input, whose
spikes reach a plastic synapse through a parrot one step later, the total
NEST delay must then be two steps at least.

Threads and processes. A deterministic network gives the same spikes with
any number of threads (NEST's virtual processes). Under MPI (``mpirun -n P
python script.py`` with an MPI-built NEST and ``mpi4py``), every rank runs
the same script; each records its own neurons, and the spikes, traces and
learned weights are gathered so that every rank, rank 0 included, returns
the whole result.

NEST keeps one network per process: building a Simulator resets NEST's
kernel, after which an earlier NEST Simulator refuses to run.
"""
from __future__ import annotations

import dataclasses
import os

import numpy as np

from .. import validation as check
from ..network import Network
from ..results import Spikes, Trace
from . import nest_models

CAPABILITIES = frozenset({"LIF", "Izhikevich", "AdEx", "refractory", "Delta", "ExponentialCurrent",
                          "ExponentialConductance", "delay", "STDP", "TripletSTDP"})

EQUATION_LANGUAGE = {  # NeuronModel and SynapseModel are not translated to NEST
    "integration methods": "-",
    "functions": "-",
    "noise and random numbers (xi, rand, randn, poisson)": "-",
    "clock-driven and event-driven synaptic equations": "-",
    "summed variables": "-",
    "synaptic statements that read a neuron's variable changed before them": "-",
    "synaptic '*=' and '/=' onto neurons' variables": "-",
}

OTHERS = nest_models.OTHERS
_generation = 0   # bumped by every build: NEST's kernel holds the network of the newest Runner only


def _nest():
    """The ``nest`` module, imported quietly, or an error naming the extra to install."""
    os.environ.setdefault("PYNEST_QUIET", "1")
    try:
        import nest
    except ImportError as err:
        raise ImportError("the nest backend needs NEST: pip install 'neuroai[nest]' (nest-simulator 3.10; "
                          "on a cluster, NEST built with MPI)") from err
    return nest


def _gather(nest, arrays: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    """Each array concatenated over every MPI rank (as is with one process)."""
    if nest.NumProcesses() == 1:
        return arrays
    try:
        from mpi4py import MPI
    except ImportError as err:
        raise ImportError("the nest backend gathers results over MPI ranks with mpi4py: pip install mpi4py") from err
    parts = MPI.COMM_WORLD.allgather(arrays)
    return tuple(np.concatenate([part[k] for part in parts]) for k in range(len(arrays)))


def translation(network: Network, population: str) -> nest_models.NeuronTranslation:
    """The NEST translation of ``population`` with the synapses it receives; NotImplementedError,
    naming the backends that run it, where there is none."""
    model = network.populations[population].model
    kinds = {type(p.synapse) for p in network.projections.values() if p.post == population}
    if len(kinds) > 1:
        raise NotImplementedError(f"nest backend: population {population!r} receives synapses of several kinds "
                                  f"({sorted(k.__name__ for k in kinds)}); NEST's models take one; {OTHERS}")
    kind = kinds.pop() if kinds else nest_models.Delta
    found = nest_models.NEURONS.get((type(model), kind))
    if found is None:
        known = sorted(f"{m.__name__} with {k.__name__}" for m, k in nest_models.NEURONS)
        raise NotImplementedError(f"nest backend: population {population!r} is a {type(model).__name__} receiving "
                                  f"{kind.__name__} synapses, which NEST's models do not match; it runs {known}; "
                                  f"{OTHERS}")
    return found


class Runner:
    """Holds one NEST network and runs it segment by segment (the Simulator's backend interface).

    ``threads``: NEST's threads on this process (``local_num_threads``); a
    deterministic network gives the same spikes with any number.
    ``check_finite`` is accepted for the common interface: NEST's models
    stop a run themselves where a state diverges.
    """

    def __init__(self, network: Network, *, threads: int = 1, check_finite: bool = True):
        global _generation
        self.threads = check.integer("nest backend", "threads", threads, minimum=1)
        self.network, self.dt, self.step = network, network.dt, 0
        self.translations = {name: translation(network, name) for name in network.populations}
        self.rules = {name: self._rule(proj) for name, proj in network.projections.items()}
        self._check_monitors()
        nest = _nest()
        self._check_resolution(nest)
        nest.ResetKernel()
        nest.verbosity = nest.VerbosityLevel.ERROR
        nest.SetKernelStatus({"resolution": self.dt * 1e3, "local_num_threads": self.threads})
        _generation += 1
        self.generation = _generation
        self.nodes = {}
        for name in network.populations:
            self.nodes[name] = self._create_population(nest, name)
        for inp in network.inputs.values():
            self.nodes[inp.name] = nest.Create("spike_generator", inp.n)
        for proj in network.projections.values():
            self._connect(nest, proj)
        self.recorders, self.multimeters = {}, {}
        for mon in network.monitors:
            if mon.variable == "spikes" and mon.target in network.populations:
                self.recorders[mon.target] = nest.Create("spike_recorder")
                nest.Connect(self.nodes[mon.target], self.recorders[mon.target])
            elif mon.variable != "spikes":
                self._add_multimeter(nest, mon)
        nest.Prepare()   # NEST builds its spike-routing tables now (once), so that runs time the simulation alone
        nest.Cleanup()

    # --- build ------------------------------------------------------------------------------------

    def _rule(self, proj):
        """NEST's translation of ``proj``'s plasticity (a function of dt and the weight scale), or None."""
        if proj.normalization is not None:
            raise NotImplementedError(f"nest backend: projection {proj.name!r} normalizes its weights, which NEST's "
                                      f"synapses do not; {OTHERS}")
        if proj.plasticity is None:
            return None
        make, refusal = nest_models.RULES[type(proj.plasticity)]
        reason = refusal(proj.plasticity, self._weight_scale(proj))
        if reason:
            raise NotImplementedError(f"nest backend: projection {proj.name!r}: {reason}; {OTHERS}")
        pairs = proj.pre_idx.astype(np.int64) * self.network.size(proj.post) + proj.post_idx
        if len(np.unique(pairs)) < proj.n_synapses:
            raise NotImplementedError(f"nest backend: plastic projection {proj.name!r} has several synapses between "
                                      f"one pair of neurons, whose learned weights NEST cannot tell apart; {OTHERS}")
        return lambda dt, scale: make(proj.plasticity, dt, scale)

    def _check_monitors(self) -> None:
        for mon in self.network.monitors:
            if mon.variable == "spikes":
                continue
            if mon.target in self.network.populations:
                model = self.network.populations[mon.target].model
                tr = self.translations[mon.target]
                recordable = tr.recordable(model)
                if mon.variable in recordable:
                    continue
                why = (f"it records {sorted(recordable)}" if recordable else
                       f"NEST's {tr.nest_model} adds a step's input one step later than neuroai, so its state "
                       f"differs from neuroai's between the steps")
                raise NotImplementedError(f"nest backend: monitor {mon.key!r}: {why}; {OTHERS}")
            raise NotImplementedError(f"nest backend: monitor {mon.key!r}: NEST records projections' weights only "
                                      f"at their updates; read learned weights from Simulator.to_network(); {OTHERS}")

    def _check_resolution(self, nest) -> None:
        tics = self.dt * 1e3 * nest.GetKernelStatus("tics_per_ms")
        if abs(tics - round(tics)) > 1e-6 * max(1.0, tics):
            raise ValueError(f"nest backend: the network's dt ({self.dt} s) must be a whole number of NEST's "
                             f"tics ({1e3 / nest.GetKernelStatus('tics_per_ms')} us)")

    def _create_population(self, nest, name: str):
        pop, tr = self.network.populations[name], self.translations[name]
        params = tr.parameters(pop.model, self.dt, self.network, name)
        if "V_reset" in params and params["V_reset"] >= params.get("V_th", np.inf):
            raise ValueError(
                f"nest backend: population {name!r} is driven across its threshold within one step of a reset, so "
                f"NEST's reset value would lie above its threshold and the spikes cannot match; {OTHERS}")
        for proj in self.network.projections.values():   # the postsynaptic traces' time constants
            if proj.post == name and self.rules[proj.name] is not None:
                traces = self.rules[proj.name](self.dt, 1.0)[2]
                clash = {k: (params[k], v) for k, v in traces.items() if k in params and params[k] != v}
                if clash:
                    raise NotImplementedError(
                        f"nest backend: the plastic projections onto {name!r} differ in their postsynaptic time "
                        f"constants (NEST's {clash}, in ms), which NEST keeps per neuron; {OTHERS}")
                params.update(traces)
        nodes = nest.Create(tr.nest_model, pop.n, params=params)
        variables = tr.variables(pop.model)
        for variable, value in pop.initial_state().items():
            nest_name, scale = variables[variable]
            nodes.set({nest_name: np.asarray(value, dtype=float) * scale})
        return nodes

    def _ids(self, name: str, index) -> np.ndarray:
        """Node ids of population, input or relay ``name`` at ``index``."""
        return np.asarray(self.nodes[name].tolist())[index]

    def _connect(self, nest, proj) -> None:
        if not proj.n_synapses:
            return
        post = self.network.populations[proj.post]
        tr = self.translations[proj.post]
        delay = proj.delay_steps + tr.delay_shift
        if delay < 1:
            raise NotImplementedError(f"nest backend: projection {proj.name!r} has no delay, and NEST's "
                                      f"{tr.nest_model} needs one step at least; give it delay >= dt, or {OTHERS}")
        make = self.rules[proj.name]
        syn = {"synapse_model": self._synapse_name(proj), "weight": tr.weights(post.model, self.dt, self.network, proj)}
        if make is not None:
            base, params, _ = make(self.dt, self._weight_scale(proj))
            nest.CopyModel(base, self._synapse_name(proj), {**params, "delay": self.dt * 1e3})
            pre_ids = self._plastic_sources(proj, nest)
        elif proj.pre in self.network.inputs:   # (a generator's connections must all be of one synapse type)
            syn.update(synapse_model="static_synapse", delay=np.full(proj.n_synapses, delay * self.dt * 1e3))
            pre_ids = self._ids(proj.pre, proj.pre_idx)
        else:   # the delay in a synapse model of the projection's own: no array of delays
            nest.CopyModel("static_synapse", self._synapse_name(proj), {"delay": delay * self.dt * 1e3})
            pre_ids = self._ids(proj.pre, proj.pre_idx)
        receptor = nest_models.receptor(tr, self.network, proj)
        if receptor:
            syn["receptor_type"] = receptor
        nest.Connect(pre_ids, self._ids(proj.post, proj.post_idx), "one_to_one", syn)

    def _plastic_sources(self, proj, nest=None) -> np.ndarray:
        """Node ids of a plastic projection's sources, per synapse: the presynaptic neurons, or parrots
        re-emitting their spikes later (created on the first call, given ``nest``), so that with the plastic
        synapse's own one-step NEST delay the spikes arrive when the static mapping says and NEST pairs them
        with postsynaptic spikes at arrival (axonal delays, as neuroai). An input's spikes reach parrots one
        step after they would reach a neuron."""
        total = proj.delay_steps + self.translations[proj.post].delay_shift
        source, extra = proj.pre, total - 1
        if proj.pre in self.network.inputs:
            if total < 2:
                raise NotImplementedError(
                    f"nest backend: plastic projection {proj.name!r} from input {proj.pre!r} needs a delay of "
                    f"{2 - self.translations[proj.post].delay_shift} steps at least (NEST's plastic synapses take "
                    f"input spikes through a parrot neuron, one step later); give it delay >= "
                    f"{(2 - self.translations[proj.post].delay_shift) * self.dt:g} s, or {OTHERS}")
            source, extra = self._relay(nest, proj.pre, 1), total - 2
        ids = self._ids(source, slice(None)) if extra == 0 else self._ids(self._relay(nest, source, extra), slice(None))
        return ids[proj.pre_idx]

    def _relay(self, nest, source: str, steps: int) -> str:
        """The name of parrots re-emitting ``source``'s spikes ``steps`` steps later, created on first use."""
        name = f"{source} +{steps}"
        if name not in self.nodes:
            self.nodes[name] = nest.Create("parrot_neuron", len(self.nodes[source]))
            nest.Connect(self.nodes[source], self.nodes[name], "one_to_one", {"delay": steps * self.dt * 1e3})
        return name

    def _weight_scale(self, proj) -> float:
        """NEST's weight per unit of neuroai weight magnitude on ``proj`` (signed)."""
        post = self.network.populations[proj.post]
        unit = dataclasses.replace(proj, weights=np.ones(1), pre_idx=proj.pre_idx[:1], post_idx=proj.post_idx[:1])
        return float(self.translations[proj.post].weights(post.model, self.dt, self.network, unit)[0])

    def _synapse_name(self, proj) -> str:
        return f"neuroai_{self.generation}_{proj.name}"

    def _add_multimeter(self, nest, mon) -> None:
        """A multimeter sampling ``mon``'s variable every ``mon.every`` steps. Its sample stamped ``t dt`` is the
        state after NEST's update ``t - 1``: neuroai's value at the start of step ``t``; step 0's is the
        initial state."""
        pop = self.network.populations[mon.target]
        nest_name, _ = self.translations[mon.target].variables(pop.model)[mon.variable]
        meter = nest.Create("multimeter", params={"record_from": [nest_name], "interval": mon.every * self.dt * 1e3})
        nest.Connect(meter, self.nodes[mon.target])
        initial = pop.initial_state().get(mon.variable, np.zeros(pop.n))
        self.multimeters[mon.key] = (meter, mon, {0: np.asarray(initial, dtype=float)})

    # --- run --------------------------------------------------------------------------------------

    def run(self, input_spikes: dict[str, np.ndarray], n_steps: int, signals: dict[str, np.ndarray]):
        """Simulate ``n_steps`` steps fed ``input_spikes`` (name -> (n_steps, n) raster); returns the
        recorded (spikes, traces), steps counted from the simulator's start."""
        if self.generation != _generation:
            raise RuntimeError("nest backend: another NEST Simulator has been built since this one, and NEST holds "
                               "one network per process; build this one again to run it")
        nest = _nest()
        ms = self.dt * 1e3
        for name, raster in input_spikes.items():
            neurons, steps = np.nonzero(raster.T)                      # by neuron, then step
            times = np.round((self.step + steps + 1) * ms, 9)          # step k is NEST's update k
            per_neuron = np.split(times, np.cumsum(np.bincount(neurons, minlength=raster.shape[1]))[:-1])
            self.nodes[name].set([{"spike_times": t} for t in per_neuron])
        nest.Simulate(n_steps * ms)
        spikes = {}
        for name, rec in self.recorders.items():
            events = rec.get("events")
            rec.n_events = 0             # cleared for the next run
            times, senders = _gather(nest, (events["times"], events["senders"]))
            steps = np.round(times / ms).astype(np.int64) - 1
            idx = senders.astype(np.int64) - self.nodes[name][0].global_id
            order = np.lexsort((idx, steps))
            spikes[name] = Spikes(steps[order], idx[order], self.network.populations[name].n)
        traces = {key: self._trace(nest, *entry, n_steps) for key, entry in self.multimeters.items()}
        self.step += n_steps
        return spikes, traces

    def _trace(self, nest, meter, mon, pending: dict, n_steps: int) -> Trace:
        """A state monitor's samples of the run starting at ``self.step``, (n_samples, n) in neuroai's units;
        ``pending`` holds samples (step -> row) recorded before their run, and keeps those after this one."""
        n = self.network.populations[mon.target].n
        nest_name, scale = self.translations[mon.target].variables(self.network.populations[mon.target].model)[
            mon.variable]
        events = meter.get("events")
        meter.n_events = 0
        times, senders, values = _gather(nest, (events["times"], events["senders"], events[nest_name]))
        steps = np.round(times / (self.dt * 1e3)).astype(np.int64)
        sampled = np.unique(steps)
        table = np.empty((len(sampled), n))
        table[np.searchsorted(sampled, steps), senders.astype(np.int64) - self.nodes[mon.target][0].global_id] = \
            values / scale
        pending.update(zip(sampled.tolist(), table))
        end = self.step + n_steps
        now = sorted(step for step in pending if step < end)
        return Trace(np.array(now, dtype=np.int64), np.array([pending.pop(step) for step in now]).reshape(-1, n))

    def run_trials(self, input_spikes: dict[str, np.ndarray], n_steps: int):
        """Independent trials are not supported by this backend."""
        raise NotImplementedError("nest backend: independent trials are not supported (NEST cannot store and "
                                  f"restore a network's state); {OTHERS}")

    def to_network(self) -> Network:
        """The network with the weights its plasticity learned so far (magnitudes, as neuroai keeps them)."""
        nest = _nest()
        learned = {}
        for name, proj in self.network.projections.items():
            if self.rules[name] is None or not proj.n_synapses:
                continue
            conns = nest.GetConnections(synapse_model=self._synapse_name(proj)).get(["source", "target", "weight"])
            sources, targets, weights = _gather(nest, tuple(np.atleast_1d(np.asarray(conns[k], dtype=float))
                                                            for k in ("source", "target", "weight")))
            ours = np.lexsort((self._ids(proj.post, proj.post_idx), self._plastic_sources(proj)))
            values = np.empty(proj.n_synapses)
            values[ours] = weights[np.lexsort((targets, sources))] / self._weight_scale(proj)
            learned[name] = values
        return self.network.with_weights(learned) if learned else self.network
