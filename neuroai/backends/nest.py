"""NEST backend: a Network run by the NEST simulator (threads here; MPI on clusters with an MPI-built NEST).

One translation table per model (PyNN's manner): :data:`MODELS` maps a
neuroai model to its NEST model and its parameters. This first version runs
networks of :class:`~neuroai.LIF` neurons (reset to a value, refractoriness)
with :class:`~neuroai.synapses.Delta` synapses and delays, driven by
neuroai's own input rasters (``spike_generator``), recording spikes; the
capability matrix says so, and anything else is refused when the Simulator
is built, naming the backends that run it.

The contract with NEST's event order (measured against the Brian2 backend:
identical spikes, same neuron and step, on feedforward and recurrent
networks, with and without refractoriness, physical and dimensionless).
NEST's update ``k`` covers ``(k dt, (k + 1) dt]``: it decays ``V``, adds the
spikes arriving in that step, tests ``V >= V_th``, and a spike is stamped
``(k + 1) dt``. neuroai (and Brian2) deliver a step's spikes after its
threshold test, so a spike delivered at step ``t`` first counts at step
``t + 1``, after one decay. Hence, with ``e_m = exp(-dt / tau_m)`` and
``r = round(t_ref / dt)``:

* each synapse's NEST delay is the neuroai delay plus one step, and its
  weight is ``w e_m`` (in mV: ``w`` in volts times 1000, or as is when
  dimensionless);
* NEST's refractory period is ``max(r, 1)`` steps, which discards exactly the
  inputs neuroai discards (those delivered from the step of a spike on,
  including the spike's own step, lost to the reset);
* NEST's reset value is ``v_inf + (v_reset - v_inf) e_m``
  (``v_inf = v_rest + R i_bias``): NEST holds it during the one refractory
  step in which neuroai already integrates once from ``v_reset``.

What cannot be made identical is refused: a reset value so adjusted at or
above the threshold (a drive that crosses the threshold within one step of a
reset; NEST refuses it too). Ties at the threshold (``v`` exactly equal to
``v_th``: NEST fires, neuroai does not) are not detected; with real-valued
parameters they do not occur in practice. Voltages agree to rounding, not
bit for bit, and the ``V_m`` NEST reports is the value before a step's
input, so this version records spikes only.

NEST keeps one network per process: building a Simulator resets NEST's
kernel, after which an earlier NEST Simulator refuses to run.
"""
from __future__ import annotations

import math
import os

import numpy as np

from .. import validation as check
from ..network import Network
from ..neurons import LIF
from ..results import Spikes

CAPABILITIES = frozenset({"LIF", "refractory", "Delta", "delay"})

EQUATION_LANGUAGE = {  # NeuronModel and SynapseModel are not translated to NEST (yet)
    "integration methods": "-",
    "functions": "-",
    "noise and random numbers (xi, rand, randn, poisson)": "-",
    "clock-driven and event-driven synaptic equations": "-",
    "summed variables": "-",
    "synaptic statements that read a neuron's variable changed before them": "-",
    "synaptic '*=' and '/=' onto neurons' variables": "-",
}

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


def _volts(model: LIF) -> float:
    """NEST's millivolts per unit of ``v``: 1000 for volts, 1 for a dimensionless model."""
    return 1e3 if model.units == "physical" else 1.0


def lif_parameters(model: LIF, dt: float) -> dict:
    """``iaf_psc_delta``'s parameters for ``model`` at step ``dt`` (seconds), per the contract above."""
    s_v, decay = _volts(model), math.exp(-dt / model.tau_m)
    physical = model.units == "physical"
    per_amp = 1e12 if physical else 1.0                           # pA (or plain numbers)
    resistance = model.R * 1e-9 if physical else model.R          # GOhm = mV / pA (or plain numbers)
    v_inf = (model.v_rest + model.R * model.i_bias) * s_v
    refractory = max(int(round(model.t_ref / dt)), 1)
    return {"tau_m": model.tau_m * 1e3, "C_m": model.tau_m * 1e3 / resistance,
            "E_L": model.v_rest * s_v, "V_th": model.v_th * s_v, "I_e": model.i_bias * per_amp,
            "V_reset": v_inf + (model.v_reset * s_v - v_inf) * decay, "t_ref": refractory * dt * 1e3,
            "refractory_input": False}


#: The translation table: neuroai model -> (NEST model, its parameters at a step dt).
MODELS = {LIF: ("iaf_psc_delta", lif_parameters)}


class Runner:
    """Holds one NEST network and runs it segment by segment (the Simulator's backend interface).

    ``threads``: NEST's threads on this process (``local_num_threads``); a
    deterministic network gives the same spikes with any number.
    ``check_finite`` is accepted for the common interface: the supported
    models cannot leave the finite numbers.
    """

    def __init__(self, network: Network, *, threads: int = 1, check_finite: bool = True):
        global _generation
        self.threads = check.integer("nest backend", "threads", threads, minimum=1)
        self.network, self.dt, self.step = network, network.dt, 0
        self.sizes = {name: pop.n for name, pop in network.populations.items()}
        unsupported = sorted({f"{m.target}.{m.variable}" for m in network.monitors if m.variable != "spikes"})
        if unsupported:
            raise NotImplementedError(f"nest backend: records spikes only for now, not the state monitors "
                                      f"{unsupported} (NEST's V_m is the value before a step's input); backends "
                                      f"that record them: ['brian2', 'torch']")
        nest = _nest()
        resolution = self.dt * 1e3
        tics = resolution * nest.GetKernelStatus("tics_per_ms")
        if abs(tics - round(tics)) > 1e-6 * max(1.0, tics):
            raise ValueError(f"nest backend: the network's dt ({self.dt} s) must be a whole number of NEST's "
                             f"tics ({1e3 / nest.GetKernelStatus('tics_per_ms')} us)")
        nest.ResetKernel()
        nest.verbosity = nest.VerbosityLevel.ERROR
        nest.SetKernelStatus({"resolution": resolution, "local_num_threads": self.threads})
        _generation += 1
        self.generation = _generation
        self.nodes = {}
        for pop in network.populations.values():
            name, parameters = MODELS[type(pop.model)]
            params = parameters(pop.model, self.dt)
            if params["V_reset"] >= params["V_th"]:
                raise ValueError(
                    f"nest backend: population {pop.name!r} is driven across its threshold within one step of a "
                    f"reset (v_inf = v_rest + R i_bias = {pop.model.v_rest + pop.model.R * pop.model.i_bias:g}), "
                    f"so NEST's reset value would lie above its threshold and the spikes cannot match; run it "
                    f"on brian2 or torch")
            nodes = nest.Create(name, pop.n, params=params)
            nodes.V_m = np.asarray(pop.initial_state()["v"], dtype=float) * _volts(pop.model)
            self.nodes[pop.name] = nodes
        for inp in network.inputs.values():
            self.nodes[inp.name] = nest.Create("spike_generator", inp.n)
        for proj in network.projections.values():
            self._connect(nest, proj)
        self.recorders = {}
        for mon in network.monitors:
            if mon.variable == "spikes" and mon.target in network.populations:
                self.recorders[mon.target] = nest.Create("spike_recorder")
                nest.Connect(self.nodes[mon.target], self.recorders[mon.target])

    def _connect(self, nest, proj) -> None:
        post = self.network.populations[proj.post].model
        decay = math.exp(-self.dt / post.tau_m)
        pre_ids = np.asarray(self.nodes[proj.pre].tolist())[proj.pre_idx]
        post_ids = np.asarray(self.nodes[proj.post].tolist())[proj.post_idx]
        weights = proj.signed_weights * _volts(post) * decay
        delays = np.full(proj.n_synapses, (proj.delay_steps + 1) * self.dt * 1e3)
        if proj.n_synapses:
            nest.Connect(pre_ids, post_ids, "one_to_one", {"synapse_model": "static_synapse",
                                                          "weight": weights, "delay": delays})

    def run(self, input_spikes: dict[str, np.ndarray], n_steps: int, signals: dict[str, np.ndarray]):
        """Simulate ``n_steps`` steps fed ``input_spikes`` (name -> (n_steps, n) raster); returns the
        recorded (spikes, traces), steps counted from the simulator's start."""
        if self.generation != _generation:
            raise RuntimeError("nest backend: another NEST Simulator has been built since this one, and NEST holds "
                               "one network per process; build this one again to run it")
        nest = _nest()
        for name, raster in input_spikes.items():
            neurons, steps = np.nonzero(raster.T)                  # by neuron, then step
            times = np.round((self.step + steps + 1) * self.dt * 1e3, 9)   # step k enters NEST's step k + 1
            per_neuron = np.split(times, np.cumsum(np.bincount(neurons, minlength=raster.shape[1]))[:-1])
            self.nodes[name].set([{"spike_times": t} for t in per_neuron])
        nest.Simulate(n_steps * self.dt * 1e3)
        spikes = {}
        for name, rec in self.recorders.items():
            events = rec.get("events")   # (with several threads, not in time order)
            times, senders = events["times"], events["senders"]
            rec.n_events = 0             # cleared for the next run
            steps = np.round(times / (self.dt * 1e3)).astype(np.int64) - 1
            idx = senders.astype(np.int64) - self.nodes[name][0].global_id
            order = np.lexsort((idx, steps))
            spikes[name] = Spikes(steps[order], idx[order], self.sizes[name])
        self.step += n_steps
        return spikes, {}

    def run_trials(self, input_spikes: dict[str, np.ndarray], n_steps: int):
        """Independent trials are not supported by this backend yet."""
        raise NotImplementedError("nest backend: independent trials are not supported yet (NEST cannot store and "
                                  "restore a network's state); backends that run them: ['brian2', 'torch']")

    def to_network(self) -> Network:
        """The network: its weights do not change here (no plasticity in this version)."""
        return self.network
