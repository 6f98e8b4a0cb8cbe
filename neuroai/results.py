"""SimulationResult: what a run returns, in the same shape from every backend."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, eq=False)
class Spikes:
    """Spikes of one population: ``steps[k]`` and ``indices[k]`` give the time
    step (absolute, counted from the simulator's start) and the neuron of
    spike k, sorted by step then neuron."""

    steps: np.ndarray
    indices: np.ndarray
    n: int


@dataclass(frozen=True, eq=False)
class Trace:
    """A sampled variable: ``values[k]`` (shape (n,)) at absolute step ``steps[k]``."""

    steps: np.ndarray
    values: np.ndarray


@dataclass(frozen=True, eq=False)
class SimulationResult:
    """Spikes, state traces and weights recorded during one run.

    ``start_step`` and ``n_steps`` locate the run in simulated time; times are
    ``step * dt`` seconds. ``windows`` (shape (n_samples, 2), absolute
    steps [start, stop)) marks stimulus presentations when the run came from
    :meth:`Simulator.present`.
    """

    backend: str
    dt: float
    start_step: int
    n_steps: int
    spikes: dict[str, Spikes]
    traces: dict[str, Trace] = field(default_factory=dict)
    windows: np.ndarray | None = None
    wall_time: float = float("nan")

    @property
    def duration(self) -> float:
        """Length of the run in seconds."""
        return self.n_steps * self.dt

    def _spikes(self, name: str) -> Spikes:
        if name not in self.spikes:
            raise KeyError(f"SimulationResult: no spikes recorded for {name!r}; recorded: "
                           f"{sorted(self.spikes)} (add net.monitor({name!r}))")
        return self.spikes[name]

    def spike_times(self, name: str) -> np.ndarray:
        """Spike times in seconds, shape (n_spikes,)."""
        return self._spikes(name).steps * self.dt

    def spike_indices(self, name: str) -> np.ndarray:
        """Neuron index of each spike, shape (n_spikes,)."""
        return self._spikes(name).indices

    def spike_count(self, name: str) -> int:
        """Total number of spikes of ``name`` recorded during the run (all neurons)."""
        return len(self._spikes(name).steps)

    def rates(self, name: str) -> np.ndarray:
        """Mean firing rate of each neuron over the run in Hz, shape (n,)."""
        s = self._spikes(name)
        return np.bincount(s.indices, minlength=s.n) / self.duration

    def raster(self, name: str) -> np.ndarray:
        """Boolean raster of shape (n_steps, n)."""
        s = self._spikes(name)
        out = np.zeros((self.n_steps, s.n), dtype=bool)
        out[s.steps - self.start_step, s.indices] = True
        return out

    def window_counts(self, name: str) -> np.ndarray:
        """Spike counts per presentation window, shape (n_samples, n)."""
        if self.windows is None:
            raise ValueError("SimulationResult: no presentation windows; use Simulator.present")
        s = self._spikes(name)
        k = np.searchsorted(self.windows[:, 0], s.steps, side="right") - 1
        inside = (k >= 0) & (s.steps < self.windows[np.maximum(k, 0), 1])
        out = np.zeros((len(self.windows), s.n), dtype=np.int64)
        np.add.at(out, (k[inside], s.indices[inside]), 1)
        return out

    def trace(self, key: str) -> Trace:
        """Trace recorded by a monitor, ``key`` = ``"target.variable"``."""
        if key not in self.traces:
            raise KeyError(f"SimulationResult: no trace {key!r}; recorded: {sorted(self.traces)}")
        return self.traces[key]


def spike_agreement(a: SimulationResult, b: SimulationResult, name: str) -> tuple[int, int, int]:
    """(matched, spikes in a, spikes in b): spikes of ``name`` at the same step
    by the same neuron in both results."""
    sa, sb = a._spikes(name), b._spikes(name)
    n = sa.n
    ka = sa.steps.astype(np.int64) * n + sa.indices
    kb = sb.steps.astype(np.int64) * n + sb.indices
    return len(np.intersect1d(ka, kb)), len(ka), len(kb)
