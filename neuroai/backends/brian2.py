"""Brian2 backend: a Network becomes NeuronGroups, SpikeGeneratorGroups and
Synapses in one ``brian2.Network``, integrated by Brian2's ``exact`` method
on Brian2's default schedule (groups, thresholds, synapses, resets).
"""
from __future__ import annotations

import brian2 as b2
import numpy as np

from ..network import Network
from ..results import Spikes, Trace
from ..synapses import ExponentialCurrent

CAPABILITIES = frozenset({"LIF", "reset:subtract", "refractory", "Delta", "ExponentialCurrent", "delay"})

_UNITS = {  # (voltage, current, resistance) per LIF.units
    "dimensionless": (b2.Unit(1), b2.Unit(1), b2.Unit(1)),
    "physical": (b2.volt, b2.amp, b2.ohm),
}
_UNIT_NAMES = {"dimensionless": ("1", "1"), "physical": ("volt", "amp")}


def _neuron_group(network: Network, pop, dt):
    m = pop.model
    volt, amp, ohm = _UNITS[m.units]
    v_unit, i_unit = _UNIT_NAMES[m.units]
    currents = network.currents(pop.name)
    ref_steps = m.refractory_steps(network.dt)
    drive = " + ".join(["i_bias"] + [c for c, _ in currents])
    lines = [f"dv/dt = (v_rest - v + R*({drive}))/tau_m : {v_unit}" + (" (unless refractory)" if ref_steps else "")]
    namespace = dict(v_rest=m.v_rest * volt, R=m.R * ohm, i_bias=m.i_bias * amp, tau_m=m.tau_m * b2.second,
                     v_th=m.v_th * volt, v_reset=m.v_reset * volt, v_jump=(m.v_th - m.v_reset) * volt)
    for c, tau in currents:
        lines.append(f"d{c}/dt = -{c}/tau_{c} : {i_unit}")
        namespace[f"tau_{c}"] = tau * b2.second
    group = b2.NeuronGroup(pop.n, "\n".join(lines), threshold="v > v_th",
                           reset="v = v_reset" if m.reset == "value" else "v -= v_jump",
                           refractory=ref_steps * dt if ref_steps else False,
                           method="exact", namespace=namespace, dt=dt)
    group.v = pop.v_init * volt
    return group


class Runner:
    """Holds one ``brian2.Network`` and runs it segment by segment.

    target: Brian2's code-generation target, ``"numpy"`` (no compilation) or
    ``"cython"`` (compiled once, faster for long runs).
    """

    def __init__(self, network: Network, *, target: str = "numpy"):
        if target not in ("numpy", "cython"):
            raise ValueError(f"brian2 backend: 'target' must be 'numpy' or 'cython', got {target!r}")
        self.target = target
        self.dt = network.dt
        dt = network.dt * b2.second
        self.net = b2.Network()
        self.groups, self.generators, self.synapses = {}, {}, {}
        for pop in network.populations.values():
            self.groups[pop.name] = _neuron_group(network, pop, dt)
        for inp in network.inputs.values():
            self.generators[inp.name] = b2.SpikeGeneratorGroup(inp.n, [], [] * b2.second, dt=dt)
        sources = {**self.groups, **self.generators}
        # Brian2 runs synaptic pathways in the order of their names; zero-padded
        # names keep the network's projection order, which fixes the order in
        # which contributions are summed.
        for order, proj in enumerate(network.projections.values()):
            model = network.populations[proj.post].model
            volt, amp, _ = _UNITS[model.units]
            unit_name = _UNIT_NAMES[model.units][isinstance(proj.synapse, ExponentialCurrent)]
            syn = b2.Synapses(sources[proj.pre], self.groups[proj.post], f"w : {unit_name}",
                              on_pre=f"{proj.target_variable} += w", delay=proj.delay_steps * dt,
                              dt=dt, name=f"neuroai_{order:05d}_{proj.name}")
            syn.connect(i=proj.pre_idx, j=proj.post_idx)
            syn.w = proj.signed_weights * (amp if isinstance(proj.synapse, ExponentialCurrent) else volt)
            self.synapses[proj.name] = syn
        self.spike_monitors, self.state_monitors = {}, {}
        for mon in network.monitors:
            if mon.variable == "spikes":
                if mon.target in self.groups:
                    self.spike_monitors[mon.target] = b2.SpikeMonitor(self.groups[mon.target])
            else:
                owner = self.synapses.get(mon.target) or self.groups[mon.target]
                self.state_monitors[mon.key] = b2.StateMonitor(owner, mon.variable, record=True,
                                                               dt=mon.every * dt)
        self.sizes = {name: g.N for name, g in self.groups.items()}
        self.net.add(*self.groups.values(), *self.generators.values(), *self.synapses.values(),
                     *self.spike_monitors.values(), *self.state_monitors.values())
        self.step = 0

    def run(self, input_spikes: dict[str, np.ndarray], n_steps: int):
        """Advance ``n_steps`` steps; ``input_spikes`` maps each input to a
        boolean raster (n_steps, n). Returns (spikes, traces) of the segment."""
        for name, gen in self.generators.items():
            steps, idx = np.nonzero(input_spikes[name])
            gen.set_spikes(idx, (steps + self.step) * self.dt * b2.second)
        seen_spikes = {k: m.num_spikes for k, m in self.spike_monitors.items()}
        seen_samples = {k: len(m.t) for k, m in self.state_monitors.items()}
        previous = b2.prefs.codegen.target  # a process-wide preference: restore it
        b2.prefs.codegen.target = self.target
        try:
            self.net.run(n_steps * self.dt * b2.second)
        finally:
            b2.prefs.codegen.target = previous
        self.step += n_steps
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
