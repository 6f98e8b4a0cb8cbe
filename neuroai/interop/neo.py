"""Export a :class:`~neuroai.SimulationResult` to Neo, and spike trains back.

`Neo <https://neo.readthedocs.io>`_ is the common data model of
electrophysiology tools (Elephant, SpikeInterface, the NIX/NWB writers), so a
Block from :func:`to_neo` can be analysed or saved by any of them.

Layout of the Block (one run = one Segment)::

    Block  (annotations: backend, dt, start_step, n_steps, wall_time)
      segments[0]
        spiketrains      one neo.SpikeTrain per neuron of every recorded population/input
        analogsignals    one neo.AnalogSignal per recorded variable ("target.variable")
        irregularlysampledsignals   traces with fewer than 2 samples or uneven spacing
                         (traces with no sample are left out)
        epochs           "presentations": the result's windows, when it came from Simulator.present
      groups             one neo.Group per population, input or projection, holding
                         its spike trains and signals (the same objects as in the Segment)

Times are in seconds: spike ``k`` of a population is at ``steps[k] * dt``,
every train spans ``[start_step * dt, (start_step + n_steps) * dt)`` of the run
and has ``sampling_rate = 1 / dt``. Each spike train is annotated with
``population``, ``neuron`` (its index) and ``backend``; each signal with
``target``, ``variable`` and ``backend``, and its channels carry the array
annotation ``channel`` (neuron or synapse index).

Units of traces: a :class:`SimulationResult` stores plain floats and does not
know their units. Signals are dimensionless unless ``units`` says otherwise
(``{"exc.v": "V"}``, or ``{"v": "V"}`` for every target), or ``network`` is
given and the target is a population whose model declares
``units="physical"``: then ``v`` is in volts and synaptic currents in amperes.

Needs the ``neo`` extra: ``pip install "neuroai[neo]"``.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from .. import validation as check
from ..results import SimulationResult

if TYPE_CHECKING:  # pragma: no cover
    import neo

__all__ = ["to_neo", "raster_from_neo"]

_PHYSICAL_UNITS = {"v": "V"}  # any other state of a physical population is a synaptic current: "A"


def _import_neo():
    try:
        import neo
        import quantities as pq
    except ImportError as err:  # pragma: no cover - exercised only without the extra
        raise ImportError('neuroai.interop.neo needs the Neo library: pip install "neuroai[neo]"') from err
    return neo, pq


def _trace_units(key: str, units: dict | None, network) -> str:
    target, variable = key.rsplit(".", 1)
    if units:
        for k in (key, variable):
            if k in units:
                return str(units[k])
    if network is not None and target in getattr(network, "populations", {}):
        model = network.populations[target].model
        if getattr(model, "units", "dimensionless") == "physical":
            return _PHYSICAL_UNITS.get(variable, "A")
    return "dimensionless"


def to_neo(result: SimulationResult, *, units: dict[str, str] | None = None, network=None,
           name: str | None = None) -> "neo.Block":
    """The spikes and traces of ``result`` as a ``neo.Block`` (layout in the module docstring).

    - units: trace key (``"target.variable"``) or variable name -> a unit string
      Neo understands (``"V"``, ``"mV"``, ``"A"``, ``"dimensionless"``); the
      values are taken to be *in* that unit, not converted.
    - network: the Network that produced ``result``, used only to give the
      traces of physical populations their units (volts, amperes).
    - name: name of the Block (default ``"neuroai <backend> run"``).
    """
    if not isinstance(result, SimulationResult):
        raise TypeError(f"to_neo: 'result' must be a neuroai.SimulationResult, got {type(result).__name__}")
    if name is not None and not isinstance(name, str):
        raise TypeError(f"to_neo: parameter 'name' must be a str or None, got {name!r}")
    neo, pq = _import_neo()
    if units is not None:
        if not isinstance(units, Mapping):
            raise TypeError(f"to_neo: parameter 'units' must be a mapping {{trace key or variable: unit}} such as "
                            f"{{'v': 'V'}}, got {units!r}")
        for key, unit in units.items():
            try:
                ok = isinstance(key, str) and isinstance(unit, str) and pq.Quantity(1.0, unit) is not None
            except (LookupError, ValueError, TypeError, AttributeError):
                ok = False
            if not ok:
                raise ValueError(f"to_neo: parameter 'units' must map names to unit strings Neo understands "
                                 f"('V', 'mV', 'A', 'dimensionless'), got {key!r}: {unit!r}")
    dt = result.dt
    t_start = result.start_step * dt * pq.s
    t_stop = (result.start_step + result.n_steps) * dt * pq.s
    block = neo.Block(name=name or f"neuroai {result.backend} run", backend=result.backend, dt=dt,
                      start_step=int(result.start_step), n_steps=int(result.n_steps),
                      wall_time=float(result.wall_time))
    seg = neo.Segment(name="run", backend=result.backend)
    block.segments.append(seg)
    groups: dict[str, neo.Group] = {}

    def group(target: str):
        if target not in groups:
            groups[target] = neo.Group(name=target)
            block.groups.append(groups[target])
        return groups[target]

    for pop, s in result.spikes.items():
        order = np.lexsort((s.steps, s.indices))  # by neuron, then time
        steps, idx = np.asarray(s.steps)[order], np.asarray(s.indices)[order]
        bounds = np.searchsorted(idx, np.arange(s.n + 1))
        trains = [neo.SpikeTrain(steps[bounds[i]:bounds[i + 1]] * dt, units="s", t_start=t_start, t_stop=t_stop,
                                 sampling_rate=(1.0 / dt) * pq.Hz, name=f"{pop}[{i}]", population=pop,
                                 neuron=i, backend=result.backend)
                  for i in range(s.n)]
        seg.spiketrains.extend(trains)
        group(pop).add(*trains)

    for key, trace in result.traces.items():
        target, variable = key.rsplit(".", 1)
        steps = np.asarray(trace.steps)
        if len(steps) == 0 or trace.values is None:
            continue  # nothing was sampled (a run shorter than the monitor's period)
        values = np.asarray(trace.values, dtype=float).reshape(len(steps), -1)
        unit = _trace_units(key, units, network)
        common = dict(units=unit, name=key, target=target, variable=variable, backend=result.backend,
                      array_annotations={"channel": np.arange(values.shape[1])})
        gaps = np.diff(steps)
        if len(steps) >= 2 and np.all(gaps == gaps[0]) and gaps[0] > 0:
            sig = neo.AnalogSignal(values, t_start=steps[0] * dt * pq.s, sampling_period=gaps[0] * dt * pq.s,
                                   **common)
            seg.analogsignals.append(sig)
        else:
            sig = neo.IrregularlySampledSignal(steps * dt, values, time_units="s", **common)
            seg.irregularlysampledsignals.append(sig)
        group(target).add(sig)

    if result.windows is not None and len(result.windows):
        w = np.asarray(result.windows)
        seg.epochs.append(neo.Epoch(times=w[:, 0] * dt * pq.s, durations=(w[:, 1] - w[:, 0]) * dt * pq.s,
                                    labels=np.array([f"sample {k}" for k in range(len(w))]),
                                    name="presentations"))
    return block


def raster_from_neo(spiketrains, dt: float, *, t_start: float | None = None,
                    t_stop: float | None = None) -> np.ndarray:
    """Boolean raster of shape ``(steps, n)`` from ``n`` Neo spike trains, for a
    :class:`~neuroai.SpikeArray` input.

    spiketrains: a sequence of ``neo.SpikeTrain`` (neuron ``i`` = train ``i``),
        or a ``neo.Group``/``neo.Segment`` (its ``spiketrains``).
    dt: the network's time step in seconds; a spike at ``t`` lands on step
        ``round((t - t_start) / dt)``.
    t_start, t_stop: span of the raster in seconds (default: the earliest
        ``t_start`` and latest ``t_stop`` of the trains); ``steps =
        round((t_stop - t_start) / dt)``. Spikes outside it are an error, and so
        are two spikes of one train in the same step (the raster cannot hold them:
        use a smaller ``dt``).

    Spike trains exported by :func:`to_neo` come back exactly:
    ``raster_from_neo(group, result.dt)`` equals ``result.raster(group.name)``.
    """
    owner = "raster_from_neo"
    neo, pq = _import_neo()
    trains = getattr(spiketrains, "spiketrains", spiketrains)
    if isinstance(trains, (str, bytes, neo.SpikeTrain)) or not hasattr(trains, "__iter__"):
        raise TypeError(f"{owner}: parameter 'spiketrains' must be a sequence of neo.SpikeTrain (or a Group/Segment), "
                        f"got {type(spiketrains).__name__}")
    trains = list(trains)
    if not all(isinstance(st, neo.SpikeTrain) for st in trains):
        raise TypeError(f"{owner}: 'spiketrains' must be neo.SpikeTrain objects (or a Group/Segment)")
    dt = check.real(owner, "dt", dt, positive=True)
    if not trains:
        raise ValueError(f"{owner}: parameter 'spiketrains' must hold at least one neo.SpikeTrain, got none")
    t_start = (min(float(st.t_start.rescale("s").magnitude) for st in trains) if t_start is None
               else check.real(owner, "t_start", t_start))
    t_stop = (max(float(st.t_stop.rescale("s").magnitude) for st in trains) if t_stop is None
              else check.real(owner, "t_stop", t_stop))
    span = (t_stop - t_start) / dt
    if not np.isfinite(span) or span >= check.MAX_STEPS:
        raise ValueError(f"{owner}: the span [{t_start}, {t_stop}) s must be at most {check.MAX_STEPS} steps of "
                         f"dt={dt} s, got {span:g} steps")
    steps = int(round(span))
    if steps < 1:
        raise ValueError(f"{owner}: the span [{t_start}, {t_stop}) s is shorter than one step dt={dt} s; t_stop "
                         f"must exceed t_start by at least dt")
    check.memory(owner, float(steps) * len(trains), f"a raster of {steps} steps x {len(trains)} trains",
                 "give a shorter span (t_start, t_stop) or a larger dt")
    out = np.zeros((steps, len(trains)), dtype=bool)
    for i, st in enumerate(trains):
        k = np.round((st.rescale("s").magnitude - t_start) / dt).astype(np.int64)
        if len(k) and (k.min() < 0 or k.max() >= steps):
            raise ValueError(f"{owner}: train {i} ({st.name!r}) has spikes outside [{t_start}, {t_stop}) s; "
                             f"t_start and t_stop must span every spike")
        if len(np.unique(k)) != len(k):
            raise ValueError(f"{owner}: train {i} ({st.name!r}) has two spikes in one step of dt={dt} s; dt must "
                             f"be smaller")
        out[k, i] = True
    return out
