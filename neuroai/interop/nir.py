"""Export a static :class:`~neuroai.Network` to NIR, and import NIR graphs.

`NIR <https://neuroir.org>`_ (the Neuromorphic Intermediate Representation)
describes a spiking network as a graph of small nodes with continuous-time
equations: ``Input``; ``Affine`` (``y = W x + b``, ``W`` of shape
(n_out, n_in)) and ``Linear`` (no ``b``); ``LIF``
(``tau dv/dt = v_leak - v + r I``); ``CubaLIF``
(``tau_syn dI/dt = -I + w_in S``, ``tau_mem dv/dt = v_leak - v + r I``);
``IF`` (``dv/dt = r I``); ``Conv2d``, ``Flatten``, pooling; ``Output``.
A spike where ``v > v_threshold``.

:func:`to_nir` exports the static subset of a Network; :func:`from_nir`
rebuilds it, or imports a graph written by another tool (snnTorch's
``export_to_nir``, ...). :func:`nir_latency` gives the per-population lag
explained below. ``to_nir(network, target="snntorch")`` lays the graph out
for snnTorch's own importer (see "Read back by snnTorch" below).

Reading the equations in discrete time
--------------------------------------
NIR fixes no time step and no integrator, so a graph means what the
frameworks that step it compute. neuroai reads (and writes) a graph the way
snnTorch steps it, at a time step ``dt`` (seconds): with ``beta = 1 - dt/tau``
(``IF``: 1), each step ``t``::

    v[t] = beta v[t-1] + (1 - beta) v_leak + (r dt / tau) (W x[t] + b) - (v_threshold - v_reset) z[t-1]
    z[t] = v[t] > v_threshold

(reset by subtraction, applied at the next step, as snnTorch's ``Leaky`` does
by default; ``IF``: gain ``r dt``). ``CubaLIF``: ``alpha = 1 - dt/tau_syn``,
``I[t] = alpha I[t-1] + (w_in dt / tau_syn)(W x[t] + b)`` and ``I[t]``
replaces ``W x[t] + b`` above with gain ``r dt / tau_mem``.

neuroai steps on Brian2's schedule (integrate, threshold, deliver spikes,
reset), so a spike reaches its targets' threshold one step after it was
emitted, while snnTorch feeds a layer's spikes to the next layer within the
step. The imported network therefore reproduces the model above exactly,
except that a population at depth ``d`` (``nir_latency``: the number of
populations on the longest feed-forward path from an input, itself included)
fires at step ``t + d`` where the model fires at step ``t``. To get this,
:func:`from_nir` sets, per neuron node::

    LIF tau_m    = -dt / ln(beta)  (tuned to exp(-dt/tau_m) == beta in float64; IF: == 1)
    v_th         = v_threshold,  v_rest = v_init = v_leak,  R = 1, i_bias = 0
    reset        = "subtract":  v_reset = v_th - (v_threshold - v_reset) / beta
                   "value":     v_reset = v_reset  (neuroai then drops the input that
                                arrives in a spike's step; snnTorch's Leaky with
                                reset_mechanism="zero" keeps it, so that is not reproduced)
    delta weight = W r dt / (tau beta)                       (LIF; IF: W r dt)
    current      = ExponentialCurrent(tau = -dt/ln(alpha)),
                   weight W (r dt/tau_mem)(w_in dt/tau_syn) / c         (CubaLIF; c: the
                                current's one-step coefficient, LIF.propagators)

A feed-forward projection from depth ``d_pre`` to ``d_post`` gets a delay of
``d_post - d_pre - 1`` steps (skip connections), a recurrent one
``d_post - d_pre`` (self-connections: 0). Affine biases become a one-neuron
population ``"bias"`` that fires every step and projects with the same
weights as an input would, delayed by ``d - 1`` steps so that it starts when
the layer's first input could arrive. Thresholds that differ across the
neurons of a node are normalized to 1 (each neuron's voltage, and the
weights into it, are divided by its threshold). Linear chains (``Affine``, ``Linear``, ``Scale``,
``Flatten``, ``Conv2d``, ``SumPool2d``, ``AvgPool2d``, subgraph ports)
between two spiking nodes are multiplied out into one dense matrix;
convolutions become sparse projections with untied weights (memory grows as
n_in * n_out).

:func:`to_nir` writes the inverse: a LIF population becomes ``nir.LIF`` with
``tau = dt / (1 - exp(-dt/tau_m))``, ``r = tau/dt``, ``v_leak = v_rest``,
``v_threshold = v_th``, ``v_reset = v_th - beta (v_th - v_reset)`` (subtract)
or ``v_reset`` (value); a population fed by an
:class:`~neuroai.ExponentialCurrent` becomes ``nir.CubaLIF`` likewise
(``w_in = tau_syn/dt``, ``v_leak = v_rest + R i_bias``); a projection becomes
``nir.Linear`` (``nir.Affine`` for the first projection into a delta-fed
population with ``i_bias``: ``b = R i_bias (1 - beta)``) with the signed
weights times ``beta`` (delta) or ``c`` (current); monitored spikes become
``nir.Output`` nodes.

Read back by snnTorch (``target="snntorch"``)
---------------------------------------------
snnTorch's ``import_from_nir`` (snnTorch 1.0 on nirtorch 2) reads less than
the model above, and ``to_nir(network, target="snntorch")`` writes for what
it reads:

- It fixes the step at 1e-4 s (``beta = 1 - 1e-4/tau``) and records no other.
  The graph's time constants are written for that step (``tau = 1e-4 / (1 -
  beta)``, ``r = tau/1e-4``, ``w_in = tau_syn/1e-4``) whatever the network's
  ``dt``, so its per-step decays are neuroai's; ``metadata["nir_dt"] = 1e-4``
  says so (:func:`from_nir` reads time constants at ``nir_dt``, and the real
  step from ``dt``).
- It requires ``v_leak = 0`` (voltages are written from the neuron's rest,
  ``v_rest + R i_bias``) and turns every ``LIF`` and ``CubaLIF`` into a
  neuron that resets to zero within the spike's step (``reset_mechanism=
  "zero"``, ``reset_delay=False``), whatever ``v_reset`` says. For a
  ``CubaLIF`` (a population fed by one :class:`~neuroai.ExponentialCurrent`)
  that is neuroai's ``reset="value"`` to ``v_reset = v_rest + R i_bias``: the
  input of the spike's step goes into the current, which the reset leaves
  alone. A delta-fed neuron cannot be reproduced: neuroai loses the input that
  arrives in a spike's step (``"value"``) or subtracts (``"subtract"``),
  snnTorch's zero reset does neither. Such populations, other resets, and
  ``v_init`` away from rest are refused with a ValueError naming the
  population and what to use instead (``target="neuroai"`` writes them).
- nirtorch runs one ``Input`` node, and never finishes building a graph with
  two ``Output`` nodes: the graph has one ``Output`` whose vector is the
  monitored spike sources side by side, in monitor order (one-hot ``Linear``
  maps into an identity ``Linear``, where nirtorch sums them);
  ``metadata["output"]`` gives each source's ``start:stop``. Every population
  must feed another or be monitored (NIR would add an ``Output`` for it).
- snnTorch's importer rewrites a neuron node in a two-node loop with a
  ``Linear`` into a subgraph that sends the layer's feed-forward input
  through the recurrent weights; a self-projection is therefore written as
  its ``Linear`` followed by an identity ``Linear`` (``<name>_loop``), which
  nirtorch runs as plain recurrence: the layer's spikes of the previous step.
- snnTorch passes spikes through every layer within a step: projections must
  join consecutive layers (depth ``d`` to ``d + 1``) or be self-projections;
  skip connections and loops through several populations are refused.

The module snnTorch builds then fires as neuroai does, each population
``nir_latency(graph)[name]`` steps earlier (float32 in snnTorch against
float64 here, so a spike decided in the last bits could in principle differ;
none did in the tests).

Metadata (what NIR cannot hold)
-------------------------------
``graph.metadata``: ``format = "neuroai"``, ``target``, ``dt`` (seconds),
``monitors`` and ``signals`` (snnTorch layout: also ``nir_dt`` and
``output``). Each neuron node: ``dt`` and ``reset`` (``"subtract"`` or
``"value"``), and ``nir_dt`` where it differs from ``dt``, which
:func:`from_nir` reads on any graph, and ``neuroai``: the
exact LIF parameters, ``v_init``, name and order. Each projection node:
``neuroai`` with the synapse kind, sign, connectivity mask and weights. Each
input: its name and encoder (for information: inputs come back as
:class:`~neuroai.SpikeArray`). :func:`from_nir` rebuilds the network from
this metadata when the graph's NIR parameters still equal what
:func:`to_nir` writes for it, so ``from_nir(to_nir(net))`` gives the same
spikes bit for bit; a graph edited after export is imported from its NIR
parameters instead (with a warning). Metadata survives ``nir.write`` /
``nir.read``.

Limits: NIR holds no plasticity, delays, conductance synapses, refractory
periods or models other than LIF, and :func:`to_nir` refuses them (the
snnTorch layout refuses more, above). A
neuroai LIF has one value of each parameter per population, so an imported
node whose ``tau``, ``v_leak`` or ``v_reset`` (after threshold
normalization) differ across neurons is refused; it needs
``beta > exp(-1)`` (``dt < tau_m``) and, for ``CubaLIF``, ``alpha != beta``.
snnTorch's exporter records neither ``dt`` nor its reset mechanism: pass
``dt=1e-4`` (the step it assumes when it turns ``beta`` into ``tau``) and
``reset="subtract"`` (the default, snnTorch's default).

Needs the ``nir`` extra: ``pip install "neuroai[nir]"``.
"""
from __future__ import annotations

import dataclasses
import keyword
import os
import re
import warnings
from typing import TYPE_CHECKING

import numpy as np

from .. import validation as check
from ..coding import SpikeArray
from ..network import Network
from ..neurons import LIF, RESET_MODES
from ..synapses import AllToAll, Delta, ExponentialConductance, ExponentialCurrent, Explicit

if TYPE_CHECKING:  # pragma: no cover
    import nir

__all__ = ["to_nir", "from_nir", "nir_latency"]

FORMAT = "neuroai"
TARGETS = ("neuroai", "snntorch")
SNNTORCH_DT = 1e-4  # the step snnTorch 1.0's import_from_nir assumes when it turns tau into beta
_IF_TAU_STEPS = 2.0**60  # tau_m = 2**60 dt: exp(-dt/tau_m) == 1.0 exactly, an IF neuron
_SUPPORTED = ("Input, Output, Affine, Linear, Scale, Flatten, Conv2d, SumPool2d, AvgPool2d, LIF, CubaLIF, IF "
              "and subgraphs of them")


def _import_nir():
    try:
        import nir
    except ImportError as err:  # pragma: no cover - exercised only without the extra
        raise ImportError('neuroai.interop.nir needs the NIR library: pip install "neuroai[nir]"') from err
    return nir


# --- export ---------------------------------------------------------------

def _exportable(network: Network) -> dict[str, float | None]:
    """Refuse what NIR cannot hold; returns each population's current tau (None: delta input)."""
    for proj in network.projections.values():
        owner = f"to_nir: projection {proj.name!r}"
        if not isinstance(proj.synapse, (Delta, ExponentialCurrent, ExponentialConductance)):
            raise ValueError(f"{owner} has synapses written as equations ({type(proj.synapse).__name__}); NIR's "
                             f"graphs hold the standard synapse kinds only: it must use Delta or ExponentialCurrent")
        rule = proj.plasticity or proj.normalization
        if rule is not None:
            raise ValueError(f"{owner} is plastic ({type(rule).__name__}); NIR holds fixed weights, not plasticity: "
                             f"export network.without_plasticity() (after a run: sim.to_network().without_plasticity())")
        if proj.delay_steps:
            raise ValueError(f"{owner} has a delay of {proj.delay_steps} steps; it must have none: NIR's Affine "
                             f"and Linear nodes have no delay")
        if isinstance(proj.synapse, ExponentialConductance):
            raise ValueError(f"{owner} is conductance-based ({proj.synapse.conductance!r}); NIR's neurons take "
                             f"currents, not conductances (use Delta or ExponentialCurrent)")
    taus = {}
    for pop in network.populations.values():
        owner = f"to_nir: population {pop.name!r}"
        if type(pop.model) is not LIF:
            raise ValueError(f"{owner} is {type(pop.model).__name__}; NIR holds LIF neurons only "
                             f"(nir.LIF, nir.CubaLIF), not {type(pop.model).__name__}")
        if pop.model.t_ref > 0:
            raise ValueError(f"{owner} has a refractory period (t_ref={pop.model.t_ref} s); NIR's LIF has none: "
                             f"t_ref must be 0")
        currents = network.currents(pop.name)
        delta = [p.name for p in network.projections.values() if p.post == pop.name and isinstance(p.synapse, Delta)]
        if len(currents) > 1:
            raise ValueError(f"{owner} has {len(currents)} synaptic currents {[c for c, _ in currents]}; "
                             f"NIR's CubaLIF has one, so it must take one")
        if currents and delta:
            raise ValueError(f"{owner} takes delta synapses {delta} and the current {currents[0][0]!r}; "
                             f"a NIR neuron node takes one kind of input, not both")
        taus[pop.name] = currents[0][1] if currents else None
    return taus


def _view(model: LIF, dt: float, tau_syn: float | None, step: float) -> tuple[dict[str, float], float]:
    """The NIR parameters (scalars) that :func:`from_nir` reads back as
    ``model``'s per-step constants at time step ``dt``, with time constants
    written for a reader stepping at ``step`` (``beta = 1 - step/tau``), and
    the factor from a neuroai weight to the NIR weight (``beta`` for delta
    input, ``c`` for a current)."""
    _, e_m, c, e = model.propagators(dt, () if tau_syn is None else (tau_syn,))
    beta = float(e_m)
    tau = step / (1.0 - beta)
    v_reset = model.v_th - beta * (model.v_th - model.v_reset) if model.reset == "subtract" else model.v_reset
    view = dict(r=tau / step, v_threshold=model.v_th, v_reset=v_reset)
    if tau_syn is None:
        return {**view, "tau": tau, "v_leak": model.v_rest}, beta
    tau_s = step / (1.0 - float(e[0]))
    return {**view, "tau_mem": tau, "tau_syn": tau_s, "w_in": tau_s / step,
            "v_leak": model.v_rest + model.R * model.i_bias}, float(c[0])


def _snntorch_plan(network: Network, taus: dict[str, float | None]) -> list[str]:
    """Refuse what snnTorch's ``import_from_nir`` cannot run as neuroai does
    (module docstring); returns the spike sources of the graph's one Output."""
    owner = "to_nir(target='snntorch')"
    if len(network.inputs) != 1:
        raise ValueError(f"{owner}: the network has {len(network.inputs)} inputs {list(network.inputs)}; snnTorch's "
                         f"import_from_nir (nirtorch) runs graphs with exactly one Input node: they must be merged "
                         f"into one input")
    for pop in network.populations.values():
        m, who = pop.model, f"{owner}: population {pop.name!r}"
        if taus[pop.name] is None:
            raise ValueError(
                f"{who} takes delta synapses; snnTorch's import_from_nir makes every nir.LIF a Leaky that resets "
                f"to zero within the step and keeps the next step's input, while neuroai (Brian2's order) loses "
                f"the input that arrives in a spike's step (reset='value') or subtracts (reset='subtract'): no "
                f"neuroai delta LIF steps like it. It must be fed through an ExponentialCurrent (nir.CubaLIF) with "
                f"reset='value' and v_reset = v_rest + R*i_bias, or export with target='neuroai'")
        v_leak = m.v_rest + m.R * m.i_bias
        if m.reset != "value" or m.v_reset != v_leak:
            what = "resets by subtraction" if m.reset == "subtract" else f"resets to v_reset={m.v_reset}"
            raise ValueError(f"{who} {what}; snnTorch's import_from_nir resets every neuron to zero, its resting "
                             f"potential: it must use reset='value' with v_reset = v_rest + R*i_bias ({v_leak})")
        if not np.all(np.asarray(pop.v_init) == v_leak):
            raise ValueError(f"{who} does not start at rest (v_init != v_rest + R*i_bias = {v_leak}); snnTorch's "
                             f"neurons start at rest")
    incoming: dict[str, list] = {name: [] for name in network.populations}
    for proj in network.projections.values():
        if proj.pre != proj.post:
            incoming[proj.post].append(proj)
    for name, projs in incoming.items():
        if not projs:
            raise ValueError(f"{owner}: population {name!r} receives no projection from the input or another "
                             f"population; nirtorch does not run a node without input")
    depth, pending = {name: 0 for name in network.inputs}, dict(incoming)
    while pending:  # depth: 1 + the deepest source, as nir_latency counts it
        ready = [name for name, projs in pending.items() if all(p.pre in depth for p in projs)]
        if not ready:
            loop = next(p for projs in pending.values() for p in projs if p.pre in pending)
            raise ValueError(f"{owner}: projection {loop.name!r} closes a loop through several populations; "
                             f"snnTorch's layers take recurrent input only from themselves (self-projections), not "
                             f"through other layers")
        for name in ready:
            depth[name] = 1 + max(depth[p.pre] for p in pending.pop(name))
    for projs in incoming.values():
        for proj in projs:
            if depth[proj.post] != depth[proj.pre] + 1:
                raise ValueError(
                    f"{owner}: projection {proj.name!r} skips from depth {depth[proj.pre]} to {depth[proj.post]}; "
                    f"snnTorch passes spikes through every layer within one step, neuroai one layer per step, so "
                    f"its spikes would arrive {depth[proj.post] - depth[proj.pre] - 1} step(s) early in snnTorch: "
                    f"projections must connect consecutive layers only")
    sources = []
    for mon in network.monitors:
        if mon.variable == "spikes" and mon.target not in network.projections and mon.target not in sources:
            sources.append(mon.target)
    if not sources:
        raise ValueError(f"{owner}: the network monitors no spikes; the graph's one Output carries the spikes of "
                         f"the monitored populations: it must monitor at least one")
    feeding = {p.pre for p in network.projections.values() if p.pre != p.post}
    for name in network.populations:
        if name not in feeding and name not in sources:
            raise ValueError(f"{owner}: population {name!r} feeds no other population and is not monitored; NIR "
                             f"would give it an Output node of its own, and nirtorch never finishes building a "
                             f"graph with two: monitor it (its spikes join the Output) or remove it")
    return sources


def _encoder_metadata(encoder) -> dict:
    params = {f.name: getattr(encoder, f.name) for f in dataclasses.fields(encoder)}
    out = {"encoder": type(encoder).__name__}
    if params and all(isinstance(v, (bool, int, float, str)) for v in params.values()):
        out["encoder_params"] = params
    return out


def to_nir(network: Network, *, target: str = "neuroai") -> "nir.NIRGraph":
    """The static subset of ``network`` as a ``nir.NIRGraph`` (mapping and
    metadata in the module docstring).

    Inputs become ``nir.Input`` of shape (n,); LIF populations ``nir.LIF``
    (delta synapses) or ``nir.CubaLIF`` (one exponential current), every
    parameter an array of shape (n,); projections ``nir.Linear`` or
    ``nir.Affine`` of weight shape (n_post, n_pre), zero where there is no
    synapse; spike monitors ``nir.Output``. Raises ValueError, naming the
    part, for plasticity, delays, conductance synapses, refractory periods
    and models other than LIF.

    target: the reader the graph is laid out for. ``"neuroai"`` (the
        default): time constants in seconds for the network's ``dt``, one
        ``Output`` node per monitored spike source (nirtorch 2.6, under
        snnTorch's importer, never finishes building a graph with two: give
        snnTorch the ``"snntorch"`` layout). ``"snntorch"``: what
        snnTorch's ``import_from_nir`` (snnTorch 1.0, nirtorch 2) runs with
        neuroai's spikes: time constants written for its fixed step of
        1e-4 s, one ``Output`` node, self-projections through an identity
        ``Linear``; raises ValueError, naming the part and what to use
        instead, for a network it cannot reproduce (module docstring).
        :func:`from_nir` reads both exactly.
    """
    nir = _import_nir()
    if not isinstance(network, Network):
        raise TypeError(f"to_nir: 'network' must be a neuroai.Network, got {type(network).__name__}")
    if not isinstance(target, str) or target not in TARGETS:
        raise ValueError(f"to_nir: 'target' must be one of {list(TARGETS)}, got {target!r}")
    taus = _exportable(network)
    snntorch = target == "snntorch"
    sources = _snntorch_plan(network, taus) if snntorch else None
    dt = float(network.dt)
    step = SNNTORCH_DT if snntorch else dt
    nodes, edges, gains, bias_into = {}, [], {}, {}
    for k, inp in enumerate(network.inputs.values()):
        meta = {"kind": "input", "index": k, "name": inp.name, "n": inp.n, **_encoder_metadata(inp.encoder)}
        nodes[inp.name] = nir.Input(input_type=np.array([inp.n]), metadata={"neuroai": meta})
    for k, pop in enumerate(network.populations.values()):
        m, tau_syn = pop.model, taus[pop.name]
        view, gains[pop.name] = _view(m, dt, tau_syn, step)
        incoming = [p.name for p in network.projections.values() if p.post == pop.name]
        if m.i_bias != 0 and tau_syn is None:  # as an Affine bias (snnTorch's nn.Linear bias), else in v_leak
            if incoming:
                bias_into[incoming[0]] = m.R * m.i_bias * (1.0 - gains[pop.name])
            else:
                view["v_leak"] = m.v_rest + m.R * m.i_bias
        if snntorch:  # voltages from rest (snnTorch: v_leak = 0, reset to 0)
            view.update(v_threshold=view["v_threshold"] - view["v_leak"], v_reset=0.0, v_leak=0.0)
        params = {f.name: getattr(m, f.name) for f in dataclasses.fields(m) if f.init}
        meta = {"dt": dt, "reset": m.reset,
                "neuroai": {"kind": "population", "index": k, "name": pop.name, "n": pop.n, "model": params,
                            "v_init": np.asarray(pop.v_init, dtype=np.float64)}}
        if step != dt:
            meta["nir_dt"] = step
        arrays = {key: np.full(pop.n, value, dtype=np.float64) for key, value in view.items()}
        nodes[pop.name] = (nir.LIF if tau_syn is None else nir.CubaLIF)(**arrays, metadata=meta)
    for k, proj in enumerate(network.projections.values()):
        n_pre, n_post = network.size(proj.pre), network.size(proj.post)
        weight = np.zeros((n_post, n_pre))
        weight[proj.post_idx, proj.pre_idx] = proj.signed_weights * gains[proj.post]
        mask = np.zeros((n_pre, n_post), dtype=bool)
        mask[proj.pre_idx, proj.post_idx] = True
        magnitudes = np.zeros((n_pre, n_post))
        magnitudes[proj.pre_idx, proj.post_idx] = proj.weights
        meta = {"kind": "projection", "index": k, "name": proj.name, "pre": proj.pre, "post": proj.post,
                "sign": proj.sign or "none", "synapse": type(proj.synapse).__name__, "mask": mask,
                "weights": magnitudes}
        if isinstance(proj.synapse, ExponentialCurrent):
            meta.update(tau=proj.synapse.tau, current=proj.synapse.current)
        if proj.name in bias_into:
            nodes[proj.name] = nir.Affine(weight=weight, bias=np.full(n_post, bias_into[proj.name]),
                                          metadata={"neuroai": meta})
        else:
            nodes[proj.name] = nir.Linear(weight=weight, metadata={"neuroai": meta})
        if snntorch and proj.pre == proj.post:
            # a loop of two nodes would be rewritten by snnTorch's importer, which then routes the layer's
            # feed-forward input through the recurrent weights; one more (identity) node keeps nirtorch's
            # plain recurrence: the layer's own spikes of the previous step
            loop = _free_key(f"{proj.name}_loop", nodes)
            nodes[loop] = nir.Linear(weight=np.eye(n_post))
            edges += [(proj.pre, proj.name), (proj.name, loop), (loop, proj.post)]
        else:
            edges += [(proj.pre, proj.name), (proj.name, proj.post)]
    metadata = {"format": FORMAT, "target": target, "dt": dt,
                "monitors": {str(k): {"target": m.target, "variable": m.variable, "every": m.every}
                             for k, m in enumerate(network.monitors)},
                "signals": {str(k): s for k, s in enumerate(network.signals)}}
    if snntorch:
        metadata["nir_dt"] = step
        metadata["output"] = _one_output(network, sources, nodes, edges, nir)
    else:
        for mon in network.monitors:
            if mon.variable == "spikes" and mon.target not in network.projections:
                key = _free_key(f"output_{mon.target}", nodes)
                nodes[key] = nir.Output(output_type=np.array([network.size(mon.target)]))
                edges.append((mon.target, key))
    graph = nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata)
    if snntorch:
        ends = [[k for k, n in graph.nodes.items() if isinstance(n, kind)] for kind in (nir.Input, nir.Output)]
        if [len(e) for e in ends] != [1, 1]:  # nirtorch hangs on two Output nodes (and fails on two Inputs)
            raise RuntimeError(f"to_nir(target='snntorch') built Input nodes {ends[0]} and Output nodes {ends[1]}; "
                               f"expected one of each")
    return graph


def _one_output(network: Network, sources: list[str], nodes: dict, edges: list, nir) -> dict:
    """Add the one ``Output`` node of the snnTorch layout: the spikes of
    ``sources`` side by side (through one-hot ``Linear`` maps into an
    identity ``Linear``, where nirtorch sums them); returns where each
    source's spikes lie in it."""
    sizes = [network.size(src) for src in sources]
    total, out = int(sum(sizes)), _free_key("output", nodes)
    nodes[out] = nir.Output(output_type=np.array([total]))
    if len(sources) == 1:
        edges.append((sources[0], out))
        return {"0": {"source": sources[0], "start": 0, "stop": total}}
    readout = _free_key("readout", nodes)
    nodes[readout] = nir.Linear(weight=np.eye(total))
    slices, start = {}, 0
    for k, (src, n) in enumerate(zip(sources, sizes)):
        key = _free_key(f"readout_{src}", nodes)
        embed = np.zeros((total, n))
        embed[start + np.arange(n), np.arange(n)] = 1.0
        nodes[key] = nir.Linear(weight=embed)
        edges += [(src, key), (key, readout)]
        slices[str(k)] = {"source": src, "start": start, "stop": start + n}
        start += n
    edges.append((readout, out))
    return slices


def _free_key(base: str, taken) -> str:
    key, k = base, 1
    while key in taken:
        k += 1
        key = f"{base}_{k}"
    return key


# --- import: neuroai's own graphs ----------------------------------------

def _plain(value):
    """A metadata value as a plain Python object (HDF5 gives numpy scalars)."""
    return value.item() if isinstance(value, np.generic) else value


def _rebuild(graph) -> Network:
    """The Network that ``graph``'s neuroai metadata describes."""
    parts = {"input": [], "population": [], "projection": []}
    for node in graph.nodes.values():
        info = (node.metadata or {}).get("neuroai")
        if isinstance(info, dict):
            parts[str(info["kind"])].append(info)
    order = {kind: sorted(infos, key=lambda i: int(i["index"])) for kind, infos in parts.items()}
    net = Network(dt=float(graph.metadata["dt"]))
    for info in order["input"]:
        net.add_input(str(info["name"]), int(info["n"]), SpikeArray())
    for info in order["population"]:
        model = LIF(**{k: _plain(v) for k, v in info["model"].items()})
        net.add_population(str(info["name"]), int(info["n"]), model, v_init=np.asarray(info["v_init"]))
    for info in order["projection"]:
        synapse = (ExponentialCurrent(float(info["tau"]), str(info["current"]))
                   if str(info["synapse"]) == "ExponentialCurrent" else Delta())
        sign = None if str(info["sign"]) == "none" else str(info["sign"])
        net.connect(str(info["pre"]), str(info["post"]), Explicit(np.asarray(info["mask"], dtype=bool)),
                    weight=np.asarray(info["weights"], dtype=np.float64), synapse=synapse, sign=sign,
                    name=str(info["name"]))
    meta = graph.metadata
    for k in sorted(meta.get("signals", {}), key=int):
        net.add_signal(str(meta["signals"][k]))
    for k in sorted(meta.get("monitors", {}), key=int):
        m = meta["monitors"][k]
        net.monitor(str(m["target"]), str(m["variable"]), int(m["every"]))
    return net


def _same_parameters(expected, graph) -> bool:
    """Whether ``graph`` holds the NIR parameters and edges of ``expected``'s neuroai nodes."""
    for key, node in expected.nodes.items():
        if "neuroai" not in node.metadata:
            continue
        other = graph.nodes.get(key)
        if type(other) is not type(node):
            return False
        for f in dataclasses.fields(node):
            if f.name not in ("metadata", "input_type", "output_type") and not np.array_equal(
                    np.asarray(getattr(node, f.name)), np.asarray(getattr(other, f.name))):
                return False
    return {tuple(e) for e in expected.edges} <= {(str(a), str(b)) for a, b in graph.edges}


# --- import: any graph ----------------------------------------------------

def _flatten_graph(graph, nir, prefix: str = ""):
    """Nodes and edges with nested NIRGraphs inlined; a subgraph's Input and
    Output nodes become pass-through nodes (None)."""
    nodes, edges, ports = {}, [], {}
    for key, node in graph.nodes.items():
        name = prefix + str(key)
        if isinstance(node, nir.NIRGraph):
            inner, inner_edges = _flatten_graph(node, nir, name + ".")
            ins = [k for k, n in node.nodes.items() if isinstance(n, nir.Input)]
            outs = [k for k, n in node.nodes.items() if isinstance(n, nir.Output)]
            if len(ins) != 1 or len(outs) != 1:
                raise ValueError(f"from_nir: subgraph {name!r} must have one Input and one Output node, "
                                 f"got {len(ins)} and {len(outs)}")
            ports[name] = (f"{name}.{ins[0]}", f"{name}.{outs[0]}")
            inner.update({port: None for port in ports[name]})
            nodes.update(inner)
            edges += inner_edges
        else:
            nodes[name] = node
    for a, b in graph.edges:
        a, b = prefix + str(a), prefix + str(b)
        edges.append((ports[a][1] if a in ports else a, ports[b][0] if b in ports else b))
    return nodes, edges


def _kind(key: str, node, nir) -> str:
    if node is None or isinstance(node, nir.Flatten):
        return "pass"
    if isinstance(node, nir.Input):
        return "input"
    if isinstance(node, nir.Output):
        return "output"
    if isinstance(node, (nir.LIF, nir.CubaLIF, nir.IF)):
        return "neuron"
    if isinstance(node, (nir.Affine, nir.Linear, nir.Scale, nir.Conv2d, nir.SumPool2d, nir.AvgPool2d)):
        return "linear"
    hint = " (Conv1d: neuroai has no 1-d layout; reshape to Conv2d)" if isinstance(node, nir.Conv1d) else ""
    raise ValueError(f"from_nir: node {key!r} is a nir.{type(node).__name__}, which neuroai cannot represent{hint}; "
                     f"supported: {_SUPPORTED}")


def _placed(a) -> int | None:
    """Where a source's block starts in an output that reads it through
    ``a`` (None: the identity), or None unless ``a`` copies each of the
    source's spikes, in order, to consecutive entries."""
    if a is None:
        return 0
    n_out, n = a.shape
    start = int(np.argmax(a[:, 0])) if n else 0
    if n == 0 or start + n > n_out:
        return None
    expected = np.zeros_like(a)
    expected[start + np.arange(n), np.arange(n)] = 1.0
    return start if np.array_equal(a, expected) else None


def _pair(value) -> tuple[int, int]:
    arr = np.ravel(np.asarray(value, dtype=np.int64))
    return (int(arr[0]), int(arr[-1]))


class _Graph:
    """A NIR graph parsed for import: node kinds and shapes, the linear drive
    of each spiking node and output, and depths (no ``dt`` needed)."""

    def __init__(self, graph, nir):
        self.nir = nir
        self.nodes, edges = _flatten_graph(graph, nir)
        self.kinds = {key: _kind(key, node, nir) for key, node in self.nodes.items()}
        self.preds = {key: [] for key in self.nodes}
        for a, b in edges:
            if a not in self.nodes or b not in self.nodes:
                raise ValueError(f"from_nir: edge ({a!r}, {b!r}) names a node the graph lacks")
            if a not in self.preds[b]:
                self.preds[b].append(a)
        self._shapes, self._sizing, self._busy = {}, set(), set()
        self.inputs = [k for k, kind in self.kinds.items() if kind == "input"]
        self.neurons = [k for k, kind in self.kinds.items() if kind == "neuron"]
        self.drives = {k: self._sum(k, self.preds[k]) for k in self.neurons}
        self.monitored = []
        for key in (k for k, kind in self.kinds.items() if kind == "output"):
            terms, bias = self._sum(key, self.preds[key])
            first = {src: _placed(a) for src, a in terms.items()}  # where each source's spikes start
            rows = np.concatenate([np.flatnonzero(a.any(axis=1)) for a in terms.values() if a is not None] + [[]])
            if bias is not None or None in first.values() or len(np.unique(rows)) != len(rows):
                raise ValueError(f"from_nir: output {key!r} reads a linear map of spikes; neuroai records the "
                                 f"spikes of inputs and populations only (several side by side)")
            self.monitored += [s for s in sorted(terms, key=first.get) if s not in self.monitored]
        self.depth, self.back = self._depths()

    # shapes
    def size(self, key: str) -> int:
        return int(np.prod(self.shape(key)))

    def shape(self, key: str) -> tuple[int, ...]:
        if key not in self._shapes:
            if key in self._sizing:  # a loop through a neuron: its other inputs tell
                return None
            self._sizing.add(key)
            self._shapes[key] = self._shape(key)
            self._sizing.discard(key)
        return self._shapes[key]

    def _in_shape(self, key: str):
        shapes = [s for s in (self.shape(p) for p in self.preds[key]) if s is not None]
        if len({int(np.prod(s)) for s in shapes}) > 1:
            raise ValueError(f"from_nir: the inputs of node {key!r} differ in size: {shapes}")
        return shapes[0] if shapes else None

    def _shape(self, key: str) -> tuple[int, ...]:
        node, kind, nir = self.nodes[key], self.kinds[key], self.nir
        if kind == "input":
            return tuple(int(x) for x in np.ravel(node.input_type["input"]))
        if isinstance(node, (nir.Affine, nir.Linear)):
            return (int(np.shape(node.weight)[0]),)
        if kind == "neuron":
            sizes = [np.size(v) for v in vars(node).values() if isinstance(v, np.ndarray) and np.ndim(v) > 0]
            shape = self._in_shape(key) or ((max(sizes),) if sizes else None)
            if shape is None:
                raise ValueError(f"from_nir: cannot tell the size of neuron node {key!r}: no input and scalar "
                                 f"parameters")
            return shape
        shape = self._in_shape(key)
        if shape is None:
            raise ValueError(f"from_nir: node {key!r} ({type(node).__name__}) has no input to take its shape from")
        if isinstance(node, nir.Flatten):
            start, end = int(node.start_dim) % len(shape), int(node.end_dim) % len(shape)
            return shape[:start] + (int(np.prod(shape[start:end + 1])),) + shape[end + 1:]
        if isinstance(node, (nir.Conv2d, nir.SumPool2d, nir.AvgPool2d)):
            return self._conv(key, shape)[1]
        return shape

    # linear maps
    def _conv(self, key: str, shape):
        """(A (n_out, n_in), output shape) of a Conv2d or pooling node on input ``shape``."""
        node, nir = self.nodes[key], self.nir
        shape = tuple(shape)
        while len(shape) > 3 and shape[0] == 1:  # a leading batch dimension
            shape = shape[1:]
        if len(shape) != 3 and isinstance(node, nir.Conv2d) and node.input_shape is not None:
            shape = (int(np.shape(node.weight)[1]) * int(node.groups), *_pair(node.input_shape))
        if len(shape) != 3:
            raise ValueError(f"from_nir: node {key!r} needs a (channels, height, width) input, got shape {shape}")
        c_in, h, w = shape
        if isinstance(node, nir.Conv2d):
            weight, groups = np.asarray(node.weight, dtype=np.float64), int(node.groups)
            stride, dilation, padding = _pair(node.stride), _pair(node.dilation), node.padding
        else:  # pooling: a depthwise convolution with a constant kernel
            kh, kw = _pair(node.kernel_size)
            value = 1.0 if isinstance(node, nir.SumPool2d) else 1.0 / (kh * kw)
            weight, groups = np.full((c_in, 1, kh, kw), value), c_in
            stride, dilation, padding = _pair(node.stride), (1, 1), node.padding
        c_out, c_group, kh, kw = weight.shape
        if c_group * groups != c_in:
            raise ValueError(f"from_nir: node {key!r} expects {c_group * groups} input channels, got {c_in}")
        if isinstance(padding, str):
            if padding == "same" and stride != (1, 1):
                raise ValueError(f"from_nir: node {key!r}: padding='same' needs stride 1, got {stride}")
            pad = (0, 0) if padding == "valid" else (dilation[0] * (kh - 1) // 2, dilation[1] * (kw - 1) // 2)
        else:
            pad = _pair(padding)
        if padding == "same":
            h_out, w_out = h, w
        else:
            h_out = (h + 2 * pad[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
            w_out = (w + 2 * pad[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
        co, oy, ox, ci, ky, kx = (g.ravel() for g in np.meshgrid(
            np.arange(c_out), np.arange(h_out), np.arange(w_out), np.arange(c_group), np.arange(kh), np.arange(kw),
            indexing="ij"))
        iy, ix = oy * stride[0] - pad[0] + ky * dilation[0], ox * stride[1] - pad[1] + kx * dilation[1]
        ok = (iy >= 0) & (iy < h) & (ix >= 0) & (ix < w)
        channel = (co // (c_out // groups)) * c_group + ci
        a = np.zeros((c_out * h_out * w_out, c_in * h * w))
        rows, cols = ((co * h_out + oy) * w_out + ox)[ok], ((channel * h + iy) * w + ix)[ok]
        np.add.at(a, (rows, cols), weight[co, ci, ky, kx][ok])
        return a, (c_out, h_out, w_out)

    def _matrix(self, key: str):
        """(A (n_out, n_in), bias (n_out,) or None) of a linear node."""
        node, nir = self.nodes[key], self.nir
        n_in = self.size(self.preds[key][0]) if self.preds[key] else None
        if isinstance(node, (nir.Affine, nir.Linear)):
            a = np.asarray(node.weight, dtype=np.float64)
            if a.ndim != 2 or (n_in is not None and a.shape[1] != n_in):
                raise ValueError(f"from_nir: node {key!r} has weight shape {a.shape}; expected (n_out, {n_in})")
            bias = np.broadcast_to(np.asarray(node.bias, dtype=np.float64), (a.shape[0],)) \
                if isinstance(node, nir.Affine) else None
            return a, bias
        if isinstance(node, nir.Scale):
            return np.diag(np.broadcast_to(np.asarray(node.scale, dtype=np.float64), (n_in,)).copy()), None
        a, (c_out, h_out, w_out) = self._conv(key, self._in_shape(key))
        bias = getattr(node, "bias", None)
        if bias is not None:
            bias = np.repeat(np.broadcast_to(np.asarray(bias, dtype=np.float64), (c_out,)), h_out * w_out)
        return a, bias

    def _sum(self, key: str, preds):
        """The summed linear drive of ``preds``: ({source: A (n, n_source) or
        None for the identity}, bias (n,) or None)."""
        terms, bias = {}, None
        for p in preds:
            t, b = self._drive(p)
            for src, a in t.items():
                if src in terms:
                    n = self.size(src)
                    terms[src] = (np.eye(n) if terms[src] is None else terms[src]) + (np.eye(n) if a is None else a)
                else:
                    terms[src] = a
            bias = b if bias is None else (bias if b is None else bias + b)
        return terms, bias

    def _drive(self, key: str):
        kind = self.kinds[key]
        if kind in ("input", "neuron"):
            return {key: None}, None
        if kind == "output":
            raise ValueError(f"from_nir: output node {key!r} feeds other nodes")
        if key in self._busy:
            raise ValueError(f"from_nir: the linear nodes around {key!r} form a loop without a spiking node")
        self._busy.add(key)
        terms, bias = self._sum(key, self.preds[key])
        self._busy.discard(key)
        if kind == "pass":
            return terms, bias
        a, c = self._matrix(key)
        terms = {src: a if m is None else a @ m for src, m in terms.items()}
        bias = c if bias is None else (a @ bias if c is None else a @ bias + c)
        return terms, bias

    # depths
    def _depths(self):
        """Depth of each input (0) and neuron node (1 + the deepest
        feed-forward source), and the set of recurrent (back) edges."""
        succ = {}
        for t in self.neurons:
            for s in self.drives[t][0]:
                succ.setdefault(s, []).append(t)
        state, back, order = {}, set(), []

        def visit(u):
            state[u] = 1
            for v in succ.get(u, []):
                if state.get(v) == 1:
                    back.add((u, v))
                elif v not in state:
                    visit(v)
            state[u] = 2
            order.append(u)

        for u in self.inputs + self.neurons:
            if u not in state:
                visit(u)
        depth = {}
        for u in reversed(order):
            forward = [depth[s] for s in self.drives[u][0] if (s, u) not in back] if u in self.drives else []
            depth[u] = 0 if self.kinds[u] == "input" else 1 + max(forward, default=0)
        return depth, back

    def names(self) -> dict[str, str]:
        """A unique neuroai name (a Python identifier) for each input and neuron node."""
        out, taken = {}, {"bias"}
        for key in self.inputs + self.neurons:
            name = re.sub(r"\W", "_", key)
            if not name.isidentifier() or keyword.iskeyword(name):
                name = f"{type(self.nodes[key]).__name__.lower()}_{name}"
            out[key] = _free_key(name, taken)
            taken.add(out[key])
        return out


def _uniform(owner: str, what: str, values: np.ndarray) -> float:
    if not np.all(values == values.flat[0]):
        raise ValueError(f"from_nir: {owner}: {what} differs across its neurons ({len(np.unique(values))} distinct "
                         f"values); a neuroai LIF takes one value per population")
    return float(values.flat[0])


def _tau(factor: float, dt: float) -> float:
    """The time constant whose one-step decay ``exp(-dt/tau)``, computed as
    the backends compute it, is ``factor`` exactly in float64 (or as near as
    a float tau gets: one ulp off for some factors below 0.53)."""
    dt = np.float64(dt)
    tau = float(-dt / np.log(factor))
    lo, hi = tau * (1 - 1e-6), tau * (1 + 1e-6)
    decay = lambda t: np.exp(-dt / np.float64(t))  # noqa: E731 - increases with t
    if not decay(lo) <= factor <= decay(hi):
        return tau
    for _ in range(200):  # bisection to the float where decay crosses factor
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        lo, hi = (mid, hi) if decay(mid) < factor else (lo, mid)
    return min((hi, lo, tau), key=lambda t: abs(decay(t) - factor))


def _neuron(key: str, node, n: int, dt: float, step: float, reset: str, nir):
    """(LIF, v_init, synapse, factor (n,)) of a neuron node: the model that
    steps like it at ``dt`` (module docstring; its time constants read at
    ``step``, its ``nir_dt``), its starting potential, its synapse, and the
    factor from a NIR weight into each neuron to a neuroai weight."""
    owner = f"node {key!r} (nir.{type(node).__name__})"

    def param(name):
        value = np.asarray(getattr(node, name), dtype=np.float64)
        if value.size == n:
            return value.reshape(n)
        if value.size == 1:
            return np.full(n, value.flat[0])
        raise ValueError(f"from_nir: {owner}: parameter {name!r} has shape {value.shape}; the node has {n} neurons")

    th, vr = param("v_threshold"), param("v_reset")
    if isinstance(node, nir.IF):
        beta, v_leak, gain = np.ones(n), np.zeros(n), param("r") * step
    else:
        tau = param("tau" if isinstance(node, nir.LIF) else "tau_mem")
        beta, v_leak, gain = 1.0 - step / tau, param("v_leak"), param("r") * step / tau
    if isinstance(node, nir.CubaLIF):
        tau_syn = param("tau_syn")
        alpha = _uniform(owner, "alpha = 1 - dt/tau_syn", 1.0 - step / tau_syn)
        gain = gain * param("w_in") * step / tau_syn
    scale = np.ones(n)
    if not np.all(th == th[0]):  # normalize each neuron's voltage by its threshold
        if np.any(th <= 0):
            raise ValueError(f"from_nir: {owner}: thresholds differ across neurons and are not all > 0")
        scale = th
    th, vr, v_leak = th / scale, vr / scale, v_leak / scale
    beta = _uniform(owner, "beta = 1 - dt/tau", beta)
    th, vr = _uniform(owner, "v_threshold", th), _uniform(owner, "v_reset", vr)
    v_leak = _uniform(owner, "v_leak", v_leak)
    if not np.exp(-1.0) < beta <= 1.0:
        raise ValueError(f"from_nir: {owner}: beta = 1 - dt/tau = {beta:.6g} with dt = {dt} s; neuroai's LIF needs "
                         f"exp(-1) < beta <= 1 (dt < tau_m). Check dt: snnTorch's exporter assumes dt = 1e-4 s")
    if th <= vr:
        raise ValueError(f"from_nir: {owner}: v_threshold ({th}) must exceed v_reset ({vr})")
    tau_m = dt * _IF_TAU_STEPS if beta == 1.0 else _tau(beta, dt)
    v_reset = th - (th - vr) / beta if reset == "subtract" else vr
    model = LIF(tau_m=tau_m, v_rest=v_leak, v_reset=v_reset, v_th=th, R=1.0, reset=reset)
    if not isinstance(node, nir.CubaLIF):
        return model, v_leak, Delta(), gain / (beta * scale)
    if not np.exp(-1.0) < alpha < 1.0:
        raise ValueError(f"from_nir: {owner}: alpha = 1 - dt/tau_syn = {alpha:.6g}; neuroai needs exp(-1) < alpha < 1 "
                         f"(dt < tau_syn)")
    if alpha == beta:
        raise ValueError(f"from_nir: {owner}: alpha == beta ({alpha}); neuroai's exact LIF integration needs the "
                         f"synaptic and membrane time constants to differ")
    tau_s = _tau(alpha, dt)
    c = float(model.propagators(dt, (tau_s,))[2][0])
    return model, v_leak, ExponentialCurrent(tau_s, "I_syn"), gain / (c * scale)


def _time_step(graph, nodes, dt) -> float:
    recorded = {float(v) for v in [graph.metadata.get("dt")] + [getattr(n, "metadata", {}).get("dt")
                                                                for n in nodes.values() if n is not None]
                if v is not None}
    if len(recorded) > 1:
        raise ValueError(f"from_nir: the graph's metadata records several time steps {sorted(recorded)}")
    if recorded:
        if dt is not None and float(dt) != next(iter(recorded)):
            raise ValueError(f"from_nir: 'dt' ({dt} s) disagrees with the dt the graph records "
                             f"({next(iter(recorded))} s); leave dt out")
        return next(iter(recorded))
    if dt is None:
        raise ValueError("from_nir: the graph records no time step (snnTorch's exporter records none); pass "
                         "dt= in seconds, the step the graph's time constants were computed for (snnTorch: 1e-4)")
    if not float(dt) > 0:
        raise ValueError(f"from_nir: 'dt' must be > 0 (seconds), got {dt!r}")
    return float(dt)


def _import_any(graph, nir, dt, reset) -> Network:
    parsed = _Graph(graph, nir)
    dt = _time_step(graph, parsed.nodes, dt)
    names = parsed.names()
    net = Network(dt=dt)
    for key in parsed.inputs:
        net.add_input(names[key], parsed.size(key), SpikeArray())
    neurons = {}
    for key in parsed.neurons:
        node_reset = str(_plain(parsed.nodes[key].metadata.get("reset", reset)))
        if node_reset not in RESET_MODES:
            raise ValueError(f"from_nir: node {key!r} records reset={node_reset!r}; expected one of "
                             f"{list(RESET_MODES)}")
        step = float(_plain(parsed.nodes[key].metadata.get("nir_dt", (graph.metadata or {}).get("nir_dt", dt))))
        neurons[key] = _neuron(key, parsed.nodes[key], parsed.size(key), dt, step, node_reset, nir)
        net.add_population(names[key], parsed.size(key), neurons[key][0], v_init=neurons[key][1])
    biased = [k for k in parsed.neurons if parsed.drives[k][1] is not None and np.any(parsed.drives[k][1] != 0)]
    if biased:  # one neuron firing every step: tau_m = 2 dt, i_bias = 4 drives v to 1.57 > v_th each step
        net.add_population("bias", 1, LIF(tau_m=2 * dt, v_rest=0.0, v_reset=0.0, v_th=1.0, i_bias=4.0))
    for post in parsed.neurons:
        _, _, synapse, factor = neurons[post]
        terms, bias = parsed.drives[post]
        for pre, a in terms.items():
            steps = parsed.depth[post] - parsed.depth[pre] - (0 if (pre, post) in parsed.back else 1)
            if steps < 0:
                raise ValueError(f"from_nir: the recurrent edge {pre!r} -> {post!r} reaches back over {-steps} "
                                 f"layer(s); neuroai delivers a spike one step after it is emitted and cannot "
                                 f"reproduce it")
            weight = (np.eye(len(factor)) if a is None else a).T * factor
            _connect(net, names[pre], names[post], weight, synapse, steps * dt)
        if post in biased:
            _connect(net, "bias", names[post], (bias * factor)[None, :], synapse, (parsed.depth[post] - 1) * dt)
    for key in parsed.monitored:
        net.monitor(names[key])
    return net


def _connect(net: Network, pre: str, post: str, weight: np.ndarray, synapse, delay: float) -> None:
    mask = weight != 0
    if mask.any():
        net.connect(pre, post, AllToAll() if mask.all() else Explicit(mask), weight=weight, synapse=synapse,
                    delay=delay)


#: What :func:`from_nir` and :func:`nir_latency` read from a path, as their errors name it.
NIR_FILE = "a NIR graph (an HDF5 file written by nir.write)"


def _read(owner: str, graph, nir):
    """``graph`` itself, or the graph read from it if it is a path (see :func:`from_nir` for the errors)."""
    if not isinstance(graph, (str, os.PathLike)):
        return graph
    # h5py and nir.read fail on other files with many exception types (OSError, KeyError, AssertionError, ...)
    return check.read_file(owner, "graph", graph, NIR_FILE, nir.read, errors=(Exception,))


def _graph(owner: str, graph, nir):
    """``graph`` (or the graph read from the path it is), which must be a ``nir.NIRGraph``."""
    graph = _read(owner, graph, nir)
    if not isinstance(graph, nir.NIRGraph):
        raise TypeError(f"{owner}: 'graph' must be a nir.NIRGraph or a file path, got {type(graph).__name__}")
    return graph


def from_nir(graph, *, dt: float | None = None, reset: str = "subtract") -> Network:
    """A :class:`~neuroai.Network` from a NIR graph (a ``nir.NIRGraph`` or the
    path of a file written by ``nir.write``).

    A graph written by :func:`to_nir` comes back exactly from its metadata
    (inputs as :class:`~neuroai.SpikeArray`). Any other graph is imported as
    the module docstring describes: stepped like snnTorch, each population
    ``nir_latency(graph)[name]`` steps later; inputs become SpikeArray inputs
    of n = prod(shape) sources (C-order), spiking nodes feeding an ``Output``
    are monitored (also through one-hot ``Linear`` maps that set several
    sources side by side in one ``Output``, in their order there).

    dt: the time step in seconds; taken from the graph's metadata when it
        records one (then ``dt`` must be None or equal), required otherwise.
        Time constants are read at the graph's (or node's) ``nir_dt`` where
        it records one (``to_nir(..., target="snntorch")``), else at ``dt``.
    reset: ``"subtract"`` (snnTorch's default) or ``"value"``, for neuron
        nodes whose metadata records no ``reset``.

    A path that names no file is a ``FileNotFoundError``; a folder, or a file
    that ``nir.read`` cannot read as a NIR graph (not HDF5, truncated, an
    HDF5 file of something else) a ``ValueError`` naming it (the original
    exception chained).
    """
    nir = _import_nir()
    if not isinstance(reset, str) or reset not in RESET_MODES:
        raise ValueError(f"from_nir: 'reset' must be one of {list(RESET_MODES)}, got {reset!r}")
    if dt is not None:
        dt = check.real("from_nir", "dt", dt, positive=True)
    graph = _graph("from_nir", graph, nir)
    if (graph.metadata or {}).get("format") == FORMAT:
        try:
            net = _rebuild(graph)
            same = _same_parameters(to_nir(net, target=str(_plain(graph.metadata.get("target", "neuroai")))), graph)
            problem = None if same else "its NIR parameters differ from its neuroai metadata (edited after export?)"
        except (KeyError, TypeError, ValueError) as err:
            net, problem = None, f"its neuroai metadata does not rebuild a network ({err})"
        if problem is None:
            if dt is not None and float(dt) != net.dt:
                raise ValueError(f"from_nir: 'dt' ({dt} s) disagrees with the dt the graph records ({net.dt} s); "
                                 f"leave dt out")
            return net
        warnings.warn(f"from_nir: {problem}; importing it from its NIR parameters", stacklevel=2)
    return _import_any(graph, nir, dt, reset)


def nir_latency(graph) -> dict[str, int]:
    """Population name -> the steps by which the network :func:`from_nir`
    imports fires after the graph's model stepped like snnTorch: its depth,
    the number of populations on the longest feed-forward path from an
    input, itself included (1 for the first layer). ``graph``: a
    ``nir.NIRGraph`` or a file path (errors as in :func:`from_nir`)."""
    nir = _import_nir()
    parsed = _Graph(_graph("nir_latency", graph, nir), nir)
    names = parsed.names()
    return {names[k]: parsed.depth[k] for k in parsed.neurons}
