"""Spike encoders: turn stimulus values into spike rasters.

Every encoder maps values of shape ``(..., n)`` to a boolean raster of shape
``(steps, ..., n)`` (time first, as snnTorch does), drawing any randomness
from the ``numpy.random.Generator`` it is given. The simulator encodes once
and hands the very same raster to every backend.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import validation as check


def _unit_interval(owner: str, values) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{owner}: stimulus values must be a real array, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if arr.size and (not np.all(np.isfinite(arr)) or arr.min() < 0 or arr.max() > 1):
        raise ValueError(f"{owner}: stimulus values must lie in [0, 1], got values in "
                         f"[{arr.min()}, {arr.max()}]")
    return arr


@dataclass(frozen=True)
class PoissonRate:
    """Independent Bernoulli spikes per step at rate ``value * max_rate`` (Hz).

    Values lie in [0, 1]. Without values (``run`` given no stimulus for this
    input) every neuron fires at ``max_rate``: a background source.
    """

    max_rate: float = 100.0
    feature = "PoissonRate"

    def __post_init__(self):
        check.real("PoissonRate", "max_rate", self.max_rate, nonnegative=True)

    def encode(self, values, steps: int, dt: float, rng: np.random.Generator) -> np.ndarray:
        p = _unit_interval("PoissonRate", values) * (self.max_rate * dt)
        if p.max(initial=0.0) > 1.0:
            raise ValueError(f"PoissonRate: max_rate * dt = {self.max_rate * dt} exceeds 1 spike per step")
        return rng.random((steps,) + p.shape) < p


@dataclass(frozen=True)
class RegularRate:
    """Deterministic, evenly spaced spikes at rate ``value * max_rate`` (Hz).

    A phase accumulator: neuron fires on each step its accumulated phase
    ``rate * dt * (step + 1)`` passes a whole number.
    """

    max_rate: float = 100.0
    feature = "RegularRate"

    def __post_init__(self):
        check.real("RegularRate", "max_rate", self.max_rate, nonnegative=True)

    def encode(self, values, steps: int, dt: float, rng: np.random.Generator | None = None) -> np.ndarray:
        per_step = _unit_interval("RegularRate", values) * (self.max_rate * dt)
        if per_step.max(initial=0.0) > 1.0:
            raise ValueError(f"RegularRate: max_rate * dt = {self.max_rate * dt} exceeds 1 spike per step")
        k = np.arange(steps + 1).reshape((-1,) + (1,) * per_step.ndim)
        count = np.floor(per_step * k + 1e-9)
        return np.diff(count, axis=0) > 0


@dataclass(frozen=True)
class Latency:
    """Time-to-first-spike code: one spike per neuron, earlier for larger values.

    ``kind="linear"``: spike at ``(1 - value) * t_max``.
    ``kind="log"``: spike at ``tau * ln(value / (value - threshold))``, the
    first passage time of an RC circuit charged by ``value`` to ``threshold``.
    Values at or below ``threshold`` and spike times past the window stay
    silent.
    """

    t_max: float = 50e-3
    kind: str = "linear"
    tau: float = 10e-3
    threshold: float = 0.0
    feature = "Latency"

    def __post_init__(self):
        check.real("Latency", "t_max", self.t_max, positive=True)
        check.real("Latency", "tau", self.tau, positive=True)
        t = check.real("Latency", "threshold", self.threshold)
        if not 0.0 <= t < 1.0:
            raise ValueError(f"Latency: parameter 'threshold' must be in [0, 1), got {t}")
        check.choice("Latency", "kind", self.kind, ("linear", "log"))

    def spike_times(self, values) -> np.ndarray:
        """Spike time of each value in seconds (``inf`` where silent)."""
        x = _unit_interval("Latency", values)
        above = x > self.threshold
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.kind == "linear":
                t = (1.0 - x) * self.t_max
            else:
                t = self.tau * np.log(x / (x - self.threshold))
        return np.where(above, t, np.inf)

    def encode(self, values, steps: int, dt: float, rng: np.random.Generator | None = None) -> np.ndarray:
        step = np.round(self.spike_times(values) / dt)
        k = np.arange(steps).reshape((-1,) + (1,) * step.ndim)
        return k == step


@dataclass(frozen=True)
class SpikeArray:
    """Spikes given by the user: the stimulus *is* the raster, a boolean (or
    0/1) array of shape ``(steps, n)``."""

    feature = "SpikeArray"

    def encode(self, values, steps: int, dt: float, rng: np.random.Generator | None = None) -> np.ndarray:
        arr = np.asarray(values)
        if arr.dtype != bool:
            if arr.dtype.kind not in "iuf" or not np.all((arr == 0) | (arr == 1)):
                raise TypeError(f"SpikeArray: spikes must be boolean or 0/1, got dtype {arr.dtype}")
            arr = arr.astype(bool)
        if arr.ndim < 2 or arr.shape[0] != steps:
            raise ValueError(f"SpikeArray: spikes must have shape (steps={steps}, ..., n), got {arr.shape}")
        return arr
