"""Simulator: the one entry point that runs a Network on a chosen backend."""
from __future__ import annotations

import time
from collections.abc import Mapping

import numpy as np

from . import backends
from . import validation as check
from .network import Network
from .results import SimulationResult, Spikes, Trace


class Simulator:
    """Run ``network`` on ``backend`` (``"brian2"``, ``"torch"`` or ``"nest"``).

    Encoders draw their spikes from one generator seeded by ``seed``, in
    neuroai, and the very same rasters feed whichever backend runs, so two
    simulators with the same seed see identical input. Successive calls to
    :meth:`run` and :meth:`present` continue in simulated time.

    Backend options: brian2 ``target="numpy" | "cython" | "cpp_standalone"``
    (standalone: the whole of one run compiled as a C++ program, with
    ``directory`` for the project and ``threads`` for OpenMP); torch
    ``dtype="float32" | "float64"`` (float64: bitwise with Brian2's numpy
    target), ``device`` (default CUDA when available; CPU for float64, where
    the parity holds), ``sparse`` (per-synapse weights for large sparse
    projections); nest ``threads`` (NEST's threads on this process).

    check_finite: watch the state (the variables of every population and
    projection) every ``FINITE_CHECK_EVERY`` (500) steps and at the end of
    each run, and stop with :class:`~neuroai.backends.NonFiniteState`,
    naming the variable and the time, once one is NaN or infinite (Brian2's
    standalone target checks at the end of its one run only). ``False``
    turns the watch off.
    """

    def __init__(self, network: Network, backend: str = "brian2", *, seed: int = 0, check_finite: bool = True,
                 **options):
        if not isinstance(network, Network):
            raise TypeError(f"Simulator: 'network' must be a neuroai.Network, got {type(network).__name__}")
        check.flag("Simulator", "check_finite", check_finite)
        module = backends.load(backend)
        check.keyword_options("Simulator", options, module.Runner, taker=f"backend {backend!r}",
                              skip=("network", "check_finite"))
        backends.check_supported(network, backend)
        self.network = network
        self.backend = backend
        self.rng = np.random.default_rng(check.seed("Simulator", seed))
        self.runner = module.Runner(network, check_finite=check_finite, **options)

    @property
    def t(self) -> float:
        """Current simulated time in seconds."""
        return self.runner.step * self.network.dt

    def _steps(self, name: str, duration) -> int:
        duration = check.real("Simulator", name, duration, positive=True, unit="second")
        steps = check.whole_steps("Simulator", name, duration, self.network.dt, rounding=True)
        if steps < 1:
            raise ValueError(f"Simulator: '{name}' ({duration} s) is shorter than one step dt={self.network.dt} s; "
                             f"it must span at least one step")
        net = self.network
        per_step = sum(i.n for i in net.inputs.values()) + sum(  # input rasters (1 byte), traces (8 bytes)
            8 * net.size(m.target) / m.every if m.target in net.populations and m.variable != "spikes" else
            8 * net.projections[m.target].n_synapses / m.every if m.target in net.projections else 0
            for m in net.monitors)
        check.memory("Simulator", 2 * per_step * steps, f"a run of {steps} steps ({duration:g} s)",
                     "run it in shorter pieces (each run continues the last), or record less (fewer monitors, "
                     "a larger 'every')")
        return steps

    def _encode(self, inputs: dict, steps: int) -> dict[str, np.ndarray]:
        if inputs is not None and not isinstance(inputs, Mapping):
            raise TypeError(f"Simulator: parameter 'inputs' must be a mapping of input name -> stimulus values, "
                            f"got {inputs!r}")
        inputs = dict(inputs or {})
        unknown = set(inputs) - set(self.network.inputs)
        if unknown:
            raise ValueError(f"Simulator: 'inputs' names unknown inputs {sorted(unknown, key=repr)}; "
                             f"the network has {sorted(self.network.inputs)}")
        rasters = {}
        for name, inp in self.network.inputs.items():
            values = inputs.get(name)
            if values is None:  # silent for time-series stimuli, full rate otherwise
                time_series = getattr(inp.encoder, "time_series", False)
                values = np.zeros((steps, inp.n)) if time_series else np.ones(inp.n)
            raster = inp.encoder.encode(values, steps, self.network.dt, self.rng)
            if raster.shape != (steps, inp.n):
                raise ValueError(f"Simulator: input {name!r} expects values of shape ({inp.n},) "
                                 f"(or spikes of shape ({steps}, {inp.n})), got {np.shape(values)}")
            rasters[name] = raster
        return rasters

    def _run(self, rasters: dict[str, np.ndarray], steps: int, windows=None, signals=None,
             progress: bool = False) -> SimulationResult:
        start = self.runner.step
        t0 = time.perf_counter()
        signal_values = self.network.signal_values(signals, steps, "Simulator")
        if progress and getattr(self.runner, "target", None) != "cpp_standalone":  # (standalone: one program)
            spikes, traces = self._run_in_segments(rasters, steps, signal_values)
        else:
            spikes, traces = self.runner.run(rasters, steps, signal_values)
        return self._result(start, steps, rasters, spikes, traces, windows, time.perf_counter() - t0)

    def _run_in_segments(self, rasters, steps: int, signals, segments: int = 100):
        """The run as about ``segments`` consecutive runs, with a progress bar of simulated time: the same
        numbers as one run (states carry over, and monitors sample at absolute steps)."""
        from tqdm.auto import tqdm

        size = -(-steps // segments)
        parts = []
        with tqdm(total=round(steps * self.network.dt, 6), unit="s", desc=f"{self.backend} run",
                  dynamic_ncols=True) as bar:
            for a in range(0, steps, size):
                b = min(steps, a + size)
                parts.append(self.runner.run({k: r[a:b] for k, r in rasters.items()}, b - a,
                                             {k: v[a:b] for k, v in signals.items()}))
                bar.update(round((b - a) * self.network.dt, 6))
        spikes = {name: Spikes(np.concatenate([p[0][name].steps for p in parts]),
                               np.concatenate([p[0][name].indices for p in parts]), first.n)
                  for name, first in parts[0][0].items()}
        traces = {key: Trace(np.concatenate([p[1][key].steps for p in parts]),
                             np.concatenate([p[1][key].values for p in parts]))
                  for key in parts[0][1]}
        return spikes, traces

    def _result(self, start, steps, rasters, spikes, traces, windows, wall) -> SimulationResult:
        """The run's result, with the spikes of monitored inputs taken from their rasters."""
        for mon in self.network.monitors:
            if mon.variable == "spikes" and mon.target in rasters:
                st, idx = np.nonzero(rasters[mon.target])
                spikes[mon.target] = Spikes(st + start, idx, self.network.size(mon.target))
        return SimulationResult(self.backend, self.network.dt, start, steps, spikes, traces, windows, wall)

    def run(self, duration: float, inputs: dict | None = None, signals: dict | None = None, *,
            progress: bool = False) -> SimulationResult:
        """Simulate ``duration`` seconds.

        inputs: input name -> stimulus values of shape (n,) in [0, 1] for rate
        and latency encoders (held for the whole run), or a spike raster of
        shape (steps, n) for ``SpikeArray`` (``DeltaEncoder``: the signal, one
        row per step). An input given nothing fires at its encoder's maximum
        rate (time-series encoders: it stays silent).
        signals: signal name -> a scalar held for the run or one value per
        step, shape (steps,); a signal given nothing is 0.
        progress: show a progress bar (tqdm) of the simulated time; the numbers are the same.
        """
        steps = self._steps("duration", duration)
        return self._run(self._encode(inputs, steps), steps, signals=signals, progress=check.flag("Simulator.run", "progress", progress))

    def to_network(self) -> Network:
        """The simulated Network with its weights as they are now: what
        plasticity learned, ready to run on any backend."""
        return self.runner.to_network()

    def _stimulus_shape(self, name: str, on: int) -> tuple[int, ...]:
        """The shape of one sample's stimulus for input ``name``: (n,), or (on, n) for a time series."""
        inp = self.network.inputs[name]
        return (on, inp.n) if getattr(inp.encoder, "time_series", False) else (inp.n,)

    def present(self, stimuli: dict, t_on: float, t_off: float = 0.0, *, independent: bool = False) -> SimulationResult:
        """Present a sequence of stimuli in one run: each sample for ``t_on``
        seconds, then ``t_off`` seconds of silence on every input.

        stimuli: input name -> values of shape (n_samples, n); for inputs whose
        encoder takes a time series (``SpikeArray``, ``DeltaEncoder``), one
        series per sample, shape (n_samples, t_on steps, n), such as recorded
        spikes of each trial. Inputs not named stay silent throughout. The
        result's ``windows`` marks each sample.

        independent: run every sample as a separate trial from the present
        state (for evaluating a trained network: no trial sees another's
        after-effects; the torch backend runs the trials as one batch). The
        simulator's state and time stay where they were; the result lays the
        trials out one after another from the present time and holds spikes
        only (no state traces). Needs a network without plasticity.
        """
        check.flag("Simulator", "independent", independent)
        plastic = [p.name for p in self.network.projections.values()
                   if p.plasticity is not None or p.normalization is not None]
        if independent and plastic:
            raise ValueError(f"Simulator: independent trials need fixed weights, but projections {plastic} are "
                             f"plastic (run sim.to_network().without_plasticity() in a new Simulator)")
        on = self._steps("t_on", t_on)
        off = int(round(check.real("Simulator", "t_off", t_off, nonnegative=True, unit="second") / self.network.dt))
        unknown = set(stimuli) - set(self.network.inputs)
        if unknown or not stimuli:
            raise ValueError(f"Simulator: 'stimuli' must name inputs of the network "
                             f"{sorted(self.network.inputs)}, got {sorted(stimuli)}")
        arrays = {name: np.asarray(x) for name, x in stimuli.items()}
        shapes = {name: self._stimulus_shape(name, on) for name in arrays}
        n_samples = {x.shape[0] if x.ndim == len(shapes[name]) + 1 else -1 for name, x in arrays.items()}
        if len(n_samples) != 1 or -1 in n_samples:
            raise ValueError(f"Simulator: every stimulus array must have shape (n_samples, n) ((n_samples, t_on "
                             f"steps, n) for time-series encoders) with the same n_samples, got shapes "
                             f"{({k: v.shape for k, v in arrays.items()})}")
        n_samples = n_samples.pop()
        rasters = {}
        for name, inp in self.network.inputs.items():
            full = np.zeros((n_samples, on + off, inp.n), dtype=bool)
            if name in arrays:
                if arrays[name].shape[1:] != shapes[name]:
                    raise ValueError(f"Simulator: stimuli for input {name!r} must have shape "
                                     f"(n_samples, {', '.join(map(str, shapes[name]))}), got {arrays[name].shape}")
                values = arrays[name]
                if len(shapes[name]) == 2:  # time-series encoders take time first: (t_on steps, n_samples, n)
                    values = np.moveaxis(values, 1, 0)
                full[:, :on] = np.moveaxis(inp.encoder.encode(values, on, self.network.dt, self.rng), 0, 1)
            rasters[name] = full
        start = self.runner.step
        windows = start + np.arange(n_samples)[:, None] * (on + off) + np.array([[0, on]])
        steps = n_samples * (on + off)
        flat = {name: r.reshape(steps, -1) for name, r in rasters.items()}
        if not independent:
            return self._run(flat, steps, windows)
        t0 = time.perf_counter()
        spikes = self.runner.run_trials(rasters, on + off)
        return self._result(start, steps, flat, spikes, {}, windows, time.perf_counter() - t0)
